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
        "resnet14_cifar10.pt": "3d1f66d625eb7c20ef04bce0c928109d369d5ce5633e6f26c5d59b82d6444132",
        "resnet14_cifar10.json": "4ba6390b66f81de2a3ae01dac12beab67ee95ec672041f27aa6e2117b04dbd6a",
    },
    "unet_pets": {
        "unet_pets.pt": "93e490d8b8c473023f6da2ead313f7e90c7502d2fecc5755a190cf6efdd18b67",
        "unet_pets.json": "13012536bcfc6b889b78a059fb5ea9c252f98f1e1d6b3977a81b5a785a165f4d",
    },
    "unet_pets_seed1": {
        "unet_pets_seed1.pt": "0b15441744d33b88f49a98318a32e88c8dc8c0e5539cbfe370a3232451eed18a",
        "unet_pets_seed1.json": "2e25d7235687e1b41971e84a21168d92bd3e2893fc8ff60558e1ee514529dc4f",
    },
    "pets_breeds_scratch": {
        "pets_breeds_scratch.pt": "dd40a07b6b1fff6dc6389af912643d926ddabfda0153d2f722aa7ce0c55ad615",
        "pets_breeds_scratch.json": "a353e908bc017b90eedf51f0a9c430f4a4be576d5656b7202bd5e900f04da8b1",
    },
    "pets_breeds_finetune": {
        "pets_breeds_finetune.pt": "6bccc32f3291b9e6a46e37df691a9b9fd761619baca3aef32d7bb35106068a1d",
        "pets_breeds_finetune.json": "208e46ea20355b98b9dde836db2d94e4ad557b2d1f85b1374f10ba8c4c2d38c7",
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
