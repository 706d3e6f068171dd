"""Authoring tools for the GPU sessions (tools/gpu/): carrying archives in parts, the session script."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools" / "gpu"))
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.slow  # four benchmark runs, each in a fresh interpreter: the whole suite's, not the edit loop's
def test_gpu_session_script_runs_end_to_end_on_cpu(tiny_data_dir, tmp_path):
    # The one call a lent GPU gets: join the carried parts, then every A/B line. Here on the CPU, with
    # tiny data, a stand-in nvidia-smi and --quick runs instead of the 3-seed compiled ones.
    import carry_data

    parts = tmp_path / "parts"
    carry_data.split(tiny_data_dir / "cifar10.npz", 0.05, parts, xz=True)
    stand_in = tmp_path / "bin" / "nvidia-smi"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\necho 'Stand-in GPU'\n")
    stand_in.chmod(0o755)
    out = tmp_path / "out"
    env = os.environ | {
        "PATH": f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}",
        "PARTS": str(parts),
        "CARRY": str(tmp_path / "no_carry"),
        "COURSE_DATA_DIR": str(tmp_path / "joined"),
        "OUT": str(out),
        "BENCH_ARGS": "--quick --device cpu --val-size 50",
    }
    script = ROOT / "tools" / "gpu" / "gpu_session.sh"
    done = subprocess.run(["bash", str(script)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    logs = {p.name: p.read_text() for p in out.glob("gpu_resnet9_stand_in_gpu_*.log")}
    assert len(logs) == 3 and all("median train time" in text for text in logs.values()), done.stdout[-2000:]
    assert "pool_first=True" in logs["gpu_resnet9_stand_in_gpu_24ep_compile_poolfirst.log"]
    assert "pool_first=False" in logs["gpu_resnet9_stand_in_gpu_24ep_compile_v3.log"]


@pytest.mark.parametrize("xz", [False, True])
def test_carry_data_round_trip(tmp_path, xz):
    import carry_data

    archive = tmp_path / "data.npz"
    # 400,000 pixels of 2 bits each: compressible, but not to nothing
    pixels = np.random.default_rng(0).integers(0, 4, 400_000, dtype=np.uint8)
    np.savez_compressed(archive, x_train=pixels, y_train=pixels[:10])
    max_mib = 0.03
    parts = carry_data.split(archive, max_mib, tmp_path / "carry", xz=xz)
    assert len(parts) >= 2 and all(p.stat().st_size <= max_mib * 2**20 for p in parts)
    joined = carry_data.join(tmp_path / "carry" / "data.npz", tmp_path / "out")
    if xz:  # the same arrays, stored uncompressed after the trip
        assert sum(p.stat().st_size for p in parts) < archive.stat().st_size
        with np.load(joined) as arrays:
            assert sorted(arrays.files) == ["x_train", "y_train"]
            assert np.array_equal(arrays["x_train"], pixels)
    else:
        assert joined.read_bytes() == archive.read_bytes()
    parts[1].unlink()  # a lost part must not pass as the archive
    with pytest.raises(SystemExit, match="checksum"):
        carry_data.join(tmp_path / "carry" / "data.npz", tmp_path / "out2")
