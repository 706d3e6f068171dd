#!/usr/bin/env bash
# What the next lent GPU session runs, in one call: the A/B that decides issue 6's H100 target
# (ResNet9 to 94 % in under 15 s). Session 2's script (ResNet9 eager/compile + the U-Net recipe
# search, logs in results/) is in git history, commit a3a0981.
#
# Before: CIFAR-10 travels in parts (at most ~64 MiB per call), built once here with
#   python benchmarks/carry_data.py split ../shared/data/cifar10.npz --max-mib 60 --xz --into .carry
# Calls 1 and 2 carry .carry/cifar10.npz.part0 (then part1) with the .sha256 and .xz files and run
#   mkdir -p /tmp/parts && cp .carry/cifar10.npz.* /tmp/parts/
# Call 3 carries part2 and runs, from the repository root:  bash benchmarks/gpu_session.sh
# (name kind nvidia-h100-x1: the target is an H100). About 5 minutes.
#
# Each line: 3 seeds, 24 epochs on 45,000 images, torch.compile, an untimed warm-up run first.
#   1. the committed layout (the reference, 16.1 s median on an H100 in session 2);
#   2. --pool-first (max-pool before batch-norm and ReLU: less memory traffic, 1.06x on the CPU);
#   3. --pool-first with compile mode reduce-overhead (CUDA graphs: no per-kernel launch cost).
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 COURSE_PROGRESS=0 COURSE_DATA_DIR=${COURSE_DATA_DIR:-/tmp/data}
PARTS=${PARTS:-/tmp/parts}
LOGS=${OUT:-/tmp/out}
mkdir -p "$LOGS" "$PARTS" "$COURSE_DATA_DIR"

cp -n .carry/cifar10.npz.* "$PARTS"/ 2>/dev/null
python benchmarks/carry_data.py join "$PARTS/cifar10.npz" --to "$COURSE_DATA_DIR" || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python -c "import torch; print('torch', torch.__version__)"

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -cs 'A-Za-z0-9' '_' | tr 'A-Z' 'a-z')
run() {  # run NAME ARGS...: one line of the A/B, logged as results/gpu_resnet9_<gpu>_NAME.log
    local name=$1
    shift
    timeout 200 python benchmarks/gpu_resnet9.py --seeds 3 --compile "$@" 2>&1 |
        tee "$LOGS/gpu_resnet9_${gpu}_${name}.log"
}
run 24ep_compile_v3
run 24ep_compile_poolfirst --pool-first
run 24ep_reduce_overhead_poolfirst --pool-first --compile-mode reduce-overhead
grep -H "median train time" "$LOGS"/gpu_resnet9_*.log
