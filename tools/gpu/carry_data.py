"""Carry a dataset archive to a machine that accepts at most ~64 MiB per transfer, in parts.

    python tools/gpu/carry_data.py split ../shared/data/cifar10.npz --max-mib 60 --xz --into .carry
    python tools/gpu/carry_data.py join .carry/cifar10.npz --to /tmp/data   # on the other machine

``split`` writes ``NAME.part0..N-1`` of at most ``--max-mib`` each and ``NAME.sha256``. With ``--xz``
the archive's arrays are stored uncompressed (``np.savez``) and the bytes LZMA-compressed, which packs
pixels tighter than the archive's zip deflate (CIFAR-10: 162 -> ~134 MiB, room for another file in
the last call); ``NAME.xz`` marks it, and the joined file is that uncompressed archive: the same
arrays, other bytes. ``join`` concatenates the parts (found next to the given name), decompresses
when marked, and refuses a result whose SHA-256 differs from the one recorded at ``split``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
import sys
from pathlib import Path

import numpy as np


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def split(archive: Path, max_mib: float, into: Path, xz: bool = False) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    data = archive.read_bytes()
    if xz and archive.suffix == ".npz":  # undo the zip deflate: LZMA does better on raw pixels
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            buffer = io.BytesIO()
            np.savez(buffer, **{k: arrays[k] for k in arrays.files})
        data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()  # of what join must give back
    if xz:
        data = lzma.compress(data, preset=6)
    marker = into / f"{archive.name}.xz"
    marker.unlink(missing_ok=True)
    if xz:
        marker.touch()
    for old in into.glob(f"{archive.name}.part*"):
        old.unlink()
    size = int(max_mib * 2**20)
    paths = []
    for i, start in enumerate(range(0, len(data), size)):
        path = into / f"{archive.name}.part{i}"
        path.write_bytes(data[start : start + size])
        paths.append(path)
    (into / f"{archive.name}.sha256").write_text(digest + "\n")
    return paths


def join(stem: Path, to: Path) -> Path:
    parts = sorted(stem.parent.glob(f"{stem.name}.part*"), key=lambda p: int(p.suffix[5:]))
    expected = (stem.parent / f"{stem.name}.sha256").read_text().strip()
    to.mkdir(parents=True, exist_ok=True)
    out = to / stem.name
    data = b"".join(part.read_bytes() for part in parts)
    if (stem.parent / f"{stem.name}.xz").exists():
        try:
            data = lzma.decompress(data)
        except lzma.LZMAError as error:
            sys.exit(
                f"joined {len(parts)} parts of {stem.name}, but they do not decompress ({error}): "
                "a part is missing or damaged, so the checksum cannot match"
            )
    out.write_bytes(data)
    if sha256(out) != expected:
        out.unlink()
        sys.exit(f"joined {len(parts)} parts of {stem.name}, but the checksum differs: a part is missing")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("archive", type=Path)
    s.add_argument("--max-mib", type=float, default=60.0, help="largest part, in MiB")
    s.add_argument("--xz", action="store_true", help="LZMA-compress before splitting")
    s.add_argument("--into", type=Path, default=Path(".carry"))
    j = sub.add_parser("join")
    j.add_argument("stem", type=Path, help="path of the archive name beside its parts")
    j.add_argument("--to", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "split":
        for path in split(args.archive, args.max_mib, args.into, args.xz):
            print(f"{path} {path.stat().st_size / 2**20:.1f} MiB")
    else:
        print(f"joined {join(args.stem, args.to)} (checksum ok)")


if __name__ == "__main__":
    main()
