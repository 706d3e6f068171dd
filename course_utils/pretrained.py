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
        "resnet14_cifar10.pt": "0f7bda33d86dc85a5d7d76dff39e5b5c3cb75a6abb0f74353a3558e5ab573e4d",
        "resnet14_cifar10.json": "a55afe13a0df2795f31b2fcc6ec1837d925a46baa915f16cec335b64a5f32274",
    },
    "unet_pets": {
        "unet_pets.pt": "1aaba9ae201f02487a7d3532a929697ebdd68e948908cc8e4aa7fafd577324da",
        "unet_pets.json": "44d2f9e9a6268c038b9db5c7a87c56f8fc1593fdccaaf192fd85289185d7d9dd",
    },
    "unet_pets_seed1": {
        "unet_pets_seed1.pt": "b13d8ebe5f5cc5d8c0340a752f4fbc90bf322536cf3943991ad1fdd653210a45",
        "unet_pets_seed1.json": "700d35d8eb115b64c565b2a5875e336241592d857ece7e83109526e5af627a11",
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
