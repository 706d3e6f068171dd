"""Carry a dataset archive to a machine that accepts at most ~64 MiB per transfer, in parts.

    python benchmarks/carry_data.py split ../shared/data/cifar10.npz --parts 3 --into .carry
    python benchmarks/carry_data.py join .carry/cifar10.npz --to /tmp/data   # on the other machine

``split`` writes ``NAME.part0..N-1`` and ``NAME.sha256``; ``join`` concatenates the parts (found
next to the given name) and refuses a result whose SHA-256 differs from the original's.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def split(archive: Path, parts: int, into: Path) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    data = archive.read_bytes()
    size = -(-len(data) // parts)
    paths = []
    for i in range(parts):
        path = into / f"{archive.name}.part{i}"
        path.write_bytes(data[i * size : (i + 1) * size])
        paths.append(path)
    (into / f"{archive.name}.sha256").write_text(sha256(archive) + "\n")
    return paths


def join(stem: Path, to: Path) -> Path:
    parts = sorted(stem.parent.glob(f"{stem.name}.part*"), key=lambda p: int(p.suffix[5:]))
    expected = (stem.parent / f"{stem.name}.sha256").read_text().strip()
    to.mkdir(parents=True, exist_ok=True)
    out = to / stem.name
    with open(out, "wb") as f:
        for part in parts:
            f.write(part.read_bytes())
    if sha256(out) != expected:
        out.unlink()
        sys.exit(f"joined {len(parts)} parts of {stem.name}, but the checksum differs: a part is missing")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("archive", type=Path)
    s.add_argument("--parts", type=int, default=3)
    s.add_argument("--into", type=Path, default=Path(".carry"))
    j = sub.add_parser("join")
    j.add_argument("stem", type=Path, help="path of the archive name beside its parts")
    j.add_argument("--to", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "split":
        for path in split(args.archive, args.parts, args.into):
            print(f"{path} {path.stat().st_size / 2**20:.1f} MiB")
    else:
        print(f"joined {join(args.stem, args.to)} (checksum ok)")


if __name__ == "__main__":
    main()
