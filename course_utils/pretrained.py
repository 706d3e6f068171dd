"""Trained models that ship inside the package, loaded by name and verified.

    model, meta = cu.load_pretrained("resnet14_cifar10")

Each file's SHA-256 is recorded here, so a truncated or altered file is refused with a message that
names it; the weights are read with ``torch.load(weights_only=True)``. The files travel with the
package (its package data), so they load the same way from a clone, a pip install or Colab.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn as nn

from .train.checkpoint import CheckpointError, load_checkpoint

__all__ = ["PRETRAINED", "load_pretrained"]

FOLDER = Path(__file__).resolve().parent / "checkpoints"

CIFAR10_STATS = ((0.491451, 0.482067, 0.446407), (0.24691, 0.243455, 0.261448))  # the 45,000-image split
PETS_STATS = ((0.47912, 0.438796, 0.381499), (0.255305, 0.25093, 0.258381))  # load_pets(): 250 train images

# name -> its files with their SHA-256 (the checkpoint, and the training report: history, device, time)
# and the per-channel (mean, std) its inputs were normalised with, which new data must use too.
PRETRAINED: dict[str, dict] = {
    "resnet14_cifar10": {
        "files": {
            "resnet14_cifar10.pt": "5a7619de83cc00e4bec3cd6ee5adc019eb0ab288e045f00df8e5513a9ed8c625",
            "resnet14_cifar10.json": "7ffcc74a9a9e1eaa673d6b21449d47d222cdc959311985564a46a55d5a0cd8fb",
        },
        "normalization": CIFAR10_STATS,
    },
    # Notebook 06's U-Net: the whole recipe (cu.recipes.UNET, 16 channels, 90 epochs), trained on a
    # 2-core AVX2 CPU with `python -m course_utils.train --recipe unet --out checkpoints/unet_pets`.
    "unet_pets": {
        "files": {
            "unet_pets.pt": "9ef9225c087d6c8f4f857d1300ebbcdfda5bc8f2ed4f0b9d9cd5c995c5fa973f",
            "unet_pets.json": "2b6921a462c7886c9efb6bc702d08170a442bded6352a4dc1fa6561c7df5b272",
        },
        "normalization": PETS_STATS,
    },
    # The same recipe with another seed and the same validation images, for notebook 06's two-model
    # ensemble: `python -m course_utils.train --recipe unet --seed 1 --split-seed 0
    # --out checkpoints/unet_pets_seed1`, on the same 2-core AVX2 CPU.
    "unet_pets_seed1": {
        "files": {
            "unet_pets_seed1.pt": "51bea2db59f673c151e154201c63e3ad12d0afb29a27d616d87f5c70ea4ff3a1",
            "unet_pets_seed1.json": "35f46e6aa8f9afb78ed2d7bda3923ab41e8c956e062a8e93ff1562714fc99128",
        },
        "normalization": PETS_STATS,
    },
    # Notebook 07's breed classifiers (seed 0), trained by tools/train_pet_classifiers.py for notebook 08.
    "pets_breeds_scratch": {
        "files": {
            "pets_breeds_scratch.pt": "0422b13ea7fb6f89f8ff168893794d1a296c9af3127beffa07f4c5fbd56b3359",
            "pets_breeds_scratch.json": "e3ba8fdddee4a53b1ae0afc5e0b8c366ed53f61e79c0e783062eb223e0740870",
        },
        "normalization": CIFAR10_STATS,
    },
    "pets_breeds_finetune": {
        "files": {
            "pets_breeds_finetune.pt": "d8a5082b15bb9783e3a61132555fb6afbb9ac3af4bc42c72a880ff2768731f26",
            "pets_breeds_finetune.json": "d35bd55580272f2b66141b8e492f6e000a885171fcf5ea340431f3ab94dd214b",
        },
        "normalization": CIFAR10_STATS,
    },
}


def _verified(path: Path, sha256: str) -> Path:
    if not path.is_file():
        raise CheckpointError(
            f"The packaged file {path.name} is missing (looked in {path.parent}). Reinstall the course "
            "package, e.g. pip install --force-reinstall course-utils from the repository."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise CheckpointError(
            f"The packaged file {path.name} is corrupt or altered: SHA-256 {digest[:16]}..., expected "
            f"{sha256[:16]}.... Reinstall the course package to restore it."
        )
    return path


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The packaged model ``name`` and its metadata: ``meta["report"]``, the training report (when
    shipped), and ``meta["normalization"]``, the (mean, std) its inputs were normalised with.

    Names: see :data:`PRETRAINED`. Raises :class:`CheckpointError` naming the file when it is
    missing or does not match its recorded SHA-256.
    """
    if name not in PRETRAINED:
        raise ValueError(f"Unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}.")
    entry = PRETRAINED[name]
    files = {file: _verified(FOLDER / file, sha) for file, sha in entry["files"].items()}
    model, meta = load_checkpoint(files[f"{name}.pt"], device=device)
    report = files.get(f"{name}.json")
    meta["report"] = json.loads(report.read_text()) if report else {}
    meta["normalization"] = entry["normalization"]
    return model, meta
