"""Compare U-Net recipes for notebook 06 on the validation split (never the test set).

    COURSE_DATA_DIR=... python benchmarks/unet_recipes.py [--epochs 30] [--variants A B] [--seeds 2]

Each variant trains ``UNet(3, 1, base_channels=16, batch_norm=True)`` on the Pets training split
with BCE + Dice (unless it says otherwise) and reports the best validation pet IoU (border pixels
ignored) and the time. Variants J onwards train in channels_last with bf16 autocast, which is what
makes 90 epochs fit the `cpu` profile on a CPU with bf16 instructions.

Variants K (weight EMA), M (BCE + Lovasz hinge) and O (colour + EMA) were measured in session 2
(``results/gpu_unet_recipes_h200_90ep.log``) and did not beat J; their code left the package
afterwards (it is in the history at commit 25cc692).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import course_utils as cu
from course_utils.runtime import Runtime

ROTATE = cu.Augment(crop_padding=8, flip=True, rotate=10)
ROTATE_COLOUR = dataclasses.replace(ROTATE, color=0.2)
FAST = dict(augment=ROTATE, lr=1e-3, batch_size=16, precision="bf16", channels_last=True)

# Each variant: changes to the unet_pets recipe (16 channels), and the runtime it trained in.
VARIANTS = {
    "A flips, lr 3e-3": dict(augment=cu.Augment(crop_padding=0, flip=True), lr=3e-3, batch_size=16),
    "B flips+crop+rotate, lr 3e-3": dict(augment=ROTATE, lr=3e-3, batch_size=16),
    "C flips+crop+rotate, lr 1e-2": dict(augment=ROTATE, lr=1e-2, batch_size=16),
    "D flips+crop+rotate, lr 3e-3, batch 8": dict(augment=ROTATE, lr=3e-3, batch_size=8),
    "E flips+crop, lr 3e-3, batch 8": dict(
        augment=cu.Augment(crop_padding=8, flip=True), lr=3e-3, batch_size=8
    ),
    "F flips+crop+rotate, lr 1e-2, batch 8": dict(augment=ROTATE, lr=1e-2, batch_size=8),
    "G flips+crop+rotate, lr 1e-3": dict(augment=ROTATE, lr=1e-3, batch_size=16),
    "H flips+crop+rotate+zoom 0.25, lr 1e-3": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10, zoom=0.25), lr=1e-3, batch_size=16
    ),
    "I flips+rotate+zoom 0.25, lr 2e-3": dict(
        augment=cu.Augment(crop_padding=0, flip=True, rotate=10, zoom=0.25), lr=2e-3, batch_size=16
    ),
    "J G in channels_last + bf16": FAST,
    "L J + colour 0.2": FAST | dict(augment=ROTATE_COLOUR),
    "N J, weight decay 0.05": FAST | dict(weight_decay=0.05),
    "P J, lr 2e-3": FAST | dict(lr=2e-3),
    "Q J, base 24": FAST | dict(model_args={"base_channels": 24, "batch_norm": True}),
    # issue 31: the packaged recipe (G, float32 on a CPU) with zoom and colour, 90 epochs
    "R G + zoom 0.15 + colour 0.1": dict(
        augment=dataclasses.replace(ROTATE, zoom=0.15, color=0.1), lr=1e-3, batch_size=16
    ),
}


def train_variant(pets, epochs: int, device, seed: int = 0, precision="fp32", channels_last=False, **changes):
    """The unet_pets recipe with ``changes`` (every value stated: lr and batch size together) for
    ``epochs``, through ``cu.fit``."""
    recipe = cu.RECIPES["unet_pets"].replace(epochs=epochs, eval_batch_size=50, **changes)
    runtime = Runtime(device, precision, channels_last)
    return cu.fit(recipe, pets, runtime, seed=seed, progress=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--variants", nargs="*", default=None, help="variant letters (default: all)")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--first-seed", type=int, default=0)
    args = p.parse_args(argv)
    device = cu.config.get_device()
    pets = cu.pets_binary(cu.load_pets())
    print(f"{pets} | device {device} | {args.epochs} epochs")
    for name, kwargs in VARIANTS.items():
        if args.variants and name[0] not in args.variants:
            continue
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            tic = time.perf_counter()
            result = train_variant(pets, epochs=args.epochs, device=device, seed=seed, **kwargs)
            h = result.history
            print(
                f"{name:42s} {args.epochs:3d} ep seed {seed}: best val IoU {h.best_val:.4f} "
                f"(epoch {h.best_epoch + 1}) {time.perf_counter() - tic:6.1f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
