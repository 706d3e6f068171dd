"""Compare U-Net recipes for notebook 06 on the validation split (never the test set).

    COURSE_DATA_DIR=... python benchmarks/unet_recipes.py [--epochs 30] [--variants A B]

Each variant trains ``UNet(3, 1, base_channels=16, batch_norm=True)`` on the Pets training split
with BCE + Dice and reports the best validation pet IoU (border pixels ignored) and the time.
"""

from __future__ import annotations

import argparse
import time

import torch

import course_utils as cu

VARIANTS = {
    "A flips, lr 3e-3": dict(augment=cu.Augment(crop_padding=0, flip=True), lr=3e-3, batch_size=16),
    "B flips+crop+rotate, lr 3e-3": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10), lr=3e-3, batch_size=16
    ),
    "C flips+crop+rotate, lr 1e-2": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10), lr=1e-2, batch_size=16
    ),
    "D flips+crop+rotate, lr 3e-3, batch 8": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10), lr=3e-3, batch_size=8
    ),
    "E flips+crop, lr 3e-3, batch 8": dict(
        augment=cu.Augment(crop_padding=8, flip=True), lr=3e-3, batch_size=8
    ),
    "F flips+crop+rotate, lr 1e-2, batch 8": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10), lr=1e-2, batch_size=8
    ),
    "G flips+crop+rotate, lr 1e-3": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10), lr=1e-3, batch_size=16
    ),
    "H flips+crop+rotate+zoom 0.25, lr 1e-3": dict(
        augment=cu.Augment(crop_padding=8, flip=True, rotate=10, zoom=0.25), lr=1e-3, batch_size=16
    ),
    "I flips+rotate+zoom 0.25, lr 2e-3": dict(
        augment=cu.Augment(crop_padding=0, flip=True, rotate=10, zoom=0.25), lr=2e-3, batch_size=16
    ),
}


def train_variant(pets, augment, lr, batch_size, epochs, device, seed=0):
    cu.seed_everything(seed)
    loaders = cu.make_loaders(pets, batch_size, eval_batch_size=50, augment=augment, device=device, seed=seed)
    model = cu.UNet(3, 1, base_channels=16, batch_norm=True).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = cu.one_cycle(optimizer, lr, epochs, len(loaders["train"]))
    return cu.train_val_model(
        model,
        cu.BCEDiceLoss(),
        optimizer,
        loaders,
        epochs,
        scheduler,
        metric=cu.BinaryIoU(),
        log_interval=0,
        progress=False,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--variants", nargs="*", default=None, help="variant letters (default: all)")
    p.add_argument("--seeds", type=int, default=1)
    args = p.parse_args(argv)
    device = cu.get_device()
    pets = cu.pets_binary(cu.load_pets())
    print(f"{pets} | device {device} | {args.epochs} epochs")
    for name, kwargs in VARIANTS.items():
        if args.variants and name[0] not in args.variants:
            continue
        for seed in range(args.seeds):
            tic = time.perf_counter()
            result = train_variant(pets, epochs=args.epochs, device=device, seed=seed, **kwargs)
            h = result.history
            print(
                f"{name:42s} seed {seed}: best val IoU {h.best_val:.4f} (epoch {h.best_epoch}) "
                f"{time.perf_counter() - tic:6.1f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
