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
        "resnet14_cifar10.pt": "af24a83406e16aca0428244c720145b27041d0a6412351842dd23711a980af97",
        "resnet14_cifar10.json": "be9c16cddb60cdbe402a9c61de4363fa9da9d9fc8ecd005a252ba11bc1ac8a96",
    },
    "unet_pets": {
        "unet_pets.pt": "aea6abb16bbf7093710f92b9752e46536fce14e11b16542bd2997c648ff253ed",
        "unet_pets.json": "e045abf3b68b92c857413d59dfeac1922afd4f8d79c74bcd9193316f2fc5aa37",
    },
    "unet_pets_seed1": {
        "unet_pets_seed1.pt": "6fc8050414063fcd40bba461da88caa0fbd7e115c4e4e0d5adf9dc47f28470a7",
        "unet_pets_seed1.json": "81c2f29428874dace9511448e5a7e3ecdd39de439d7225ed9eb0c1b3e662c267",
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
