#!/usr/bin/env bash
# Everything one lent GPU session runs, in one call (the logs it wrote are in results/).
#
# Before: CIFAR-10 and the Pets archive travel in parts (at most ~64 MiB per call), e.g.
#   python benchmarks/carry_data.py split ../shared/data/cifar10.npz --max-mib 60 --xz --into .carry
# and each earlier call copies its part to $PARTS (default /tmp/parts) on the GPU machine.
# Then, from the repository root on the GPU machine:  bash benchmarks/gpu_session.sh
#
# 1. ResNet9 to 94 %: eager, then torch.compile (3 seeds each, 24 epochs, 45,000 images), then the
#    faster of the two on all 50,000 training images for 20 epochs.
# 2. U-Net recipes for notebook 06, validation IoU only, two seeds each, run side by side (each run
#    is too small to fill the GPU alone).
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 COURSE_PROGRESS=0 COURSE_DATA_DIR=${COURSE_DATA_DIR:-/tmp/data}
PARTS=${PARTS:-/tmp/parts}
LOGS=${OUT:-/tmp/out}
mkdir -p "$LOGS" "$PARTS" "$COURSE_DATA_DIR/pets"

cp -n .carry/cifar10.npz.* "$PARTS"/ 2>/dev/null
python benchmarks/carry_data.py join "$PARTS/cifar10.npz" --to "$COURSE_DATA_DIR" || exit 1
cp "${PETS:-.carry/pets/pets_seg.npz}" "$COURSE_DATA_DIR/pets/" || exit 1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python -c "import torch; print('torch', torch.__version__)"

median() { grep -oP 'median train time \K[0-9.]+' "$1" || echo 999; }
timeout 150 python benchmarks/gpu_resnet9.py --seeds 3 --profile 2>&1 | tee "$LOGS/resnet9_eager.log"
timeout 200 python benchmarks/gpu_resnet9.py --seeds 3 --compile 2>&1 | tee "$LOGS/resnet9_compile.log"
faster=""
if python -c "import sys; sys.exit(not $(median "$LOGS/resnet9_compile.log") < $(median "$LOGS/resnet9_eager.log"))"; then
    faster="--compile"
fi
timeout 200 python benchmarks/gpu_resnet9.py --seeds 3 --all-train --epochs 20 $faster 2>&1 |
    tee "$LOGS/resnet9_alltrain_20ep.log"

export OMP_NUM_THREADS=1
{
    for seed in 0 1; do
        for v in G J K L M N O P Q; do
            timeout 240 python benchmarks/unet_recipes.py --epochs 90 --variants $v --first-seed $seed &
        done
        timeout 240 python benchmarks/unet_recipes.py --epochs 45 --variants J --first-seed $seed &
    done
    wait
} 2>&1 | grep -v '^Dataset' | sort | tee "$LOGS/unet_recipes.log"
