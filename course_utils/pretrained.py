"""Trained models that ship inside the package, loaded by name and verified.

    model, meta = cu.load_pretrained("resnet14_cifar10")
    mean, std = meta["normalization"]       # what new inputs must be normalised with

Each file's SHA-256 is recorded here, so a truncated or altered file is refused with a message that
names it; the weights are read with ``torch.load(weights_only=True)``. The files travel with the
package (its package data), so they load the same way from a clone, a pip install or Colab.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn as nn

from .train.checkpoint import CheckpointError, load_checkpoint

__all__ = ["PRETRAINED", "load_pretrained"]

FOLDER = Path(__file__).resolve().parent / "checkpoints"

# name -> its files with their SHA-256: the checkpoint, and its JSON report (the same metadata: the
# recipe, the history, the test result, the command that reproduces the run). The statistics new
# inputs must be normalised with are in the checkpoint itself (meta["normalization"]).
PRETRAINED: dict[str, dict[str, str]] = {
    "resnet14_cifar10": {
        "resnet14_cifar10.pt": "a14dfd1d36daa24151094481a58c039e79a8d0a34b320a14e55e367ada6584ae",
        "resnet14_cifar10.json": "9b548637672e20d452caf59db2a8bd73c8457d58d4172e10e879cc1138df2e9b",
    },
    "unet_pets": {
        "unet_pets.pt": "f4675fb85a5c3dcf517bf1588be3e93811cd48310be8ec0fe20d1e7b334ecaeb",
        "unet_pets.json": "accc591e3f41ae2b7e8445b261206d076333794940613b6ef4cb185610da26b6",
    },
    "unet_pets_seed1": {
        "unet_pets_seed1.pt": "56158d7aa13e2aa937ed54cb145a21351546230b86aa0cb2156e4e914411384c",
        "unet_pets_seed1.json": "ae4b2c9c555e698e7a0badeb2a9dcb0a881d8a815285f36c615349baf280ff50",
    },
    "pets_breeds_scratch": {
        "pets_breeds_scratch.pt": "6ebb04c63276d70d0af6f176cbe77579ab3f8f325044b0ee9efc5437d91f1f93",
        "pets_breeds_scratch.json": "41a87e07574d6647e0f2f8fe0c50d77ae614efdc093a3d330c9a1c03037a0535",
    },
    "pets_breeds_finetune": {
        "pets_breeds_finetune.pt": "250194ecfcea617ff8efc43b951fccfea9eeb94f5781f8d5247b4fb9ce81fae3",
        "pets_breeds_finetune.json": "cbf5580d58d6b04d0abc941164bcd9bbdac1145a02e53d2900402e5ed6f66721",
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
    """The packaged model ``name`` and its metadata (see :mod:`course_utils.train.checkpoint`):
    ``meta["normalization"]``, the (mean, std) its inputs were normalised with; ``meta["recipe"]``,
    ``meta["history"]``, ``meta["test"]``, and ``meta["run"]["command"]``, which reproduces it.

    Names: see :data:`PRETRAINED`. Raises :class:`CheckpointError` naming the file when it is
    missing or does not match its recorded SHA-256.
    """
    if name not in PRETRAINED:
        raise ValueError(f"Unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}.")
    files = {file: _verified(FOLDER / file, sha) for file, sha in PRETRAINED[name].items()}
    model, meta = load_checkpoint(files[f"{name}.pt"], device=device)
    if meta["normalization"] is None:
        raise CheckpointError(
            f"{name}.pt does not record its normalisation statistics; reinstall the package."
        )
    meta["normalization"] = tuple(tuple(values) for values in meta["normalization"])  # as Dataset.mean, .std
    return model, meta
