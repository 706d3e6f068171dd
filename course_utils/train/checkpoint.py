"""Checkpoints that say what they hold: weights plus the architecture, metrics and versions.

Files are written atomically (a temporary file renamed into place, so an interrupted save never
leaves half a file) and read with ``torch.load(weights_only=True)``, which refuses to run code.
"""

from __future__ import annotations

import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from ..config import get_profile
from ..models import MODELS, build_model

FORMAT_VERSION = 1
PLAIN_TYPES = (str, int, float, bool, type(None))


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written, read, or loaded into the given model."""


def check_plain(value, where: str) -> None:
    """Metadata must be plain Python data, or ``weights_only=True`` could not read it back."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_plain(k, where)
            check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
    elif type(value) not in PLAIN_TYPES:  # exact types: subclasses do not load with weights_only
        raise CheckpointError(
            f"{where} is a {type(value).__name__}; checkpoint metadata must be plain data "
            "(str, int, float, bool, None, lists, tuples, dicts)."
        )


def library_versions() -> dict[str, str]:
    from .. import __version__

    # str(): torch.__version__ is a str subclass that weights_only loading refuses
    return {
        "course_utils": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
    }


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    epoch: int | None = None,
    metrics: dict | None = None,
    history: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Save ``model``'s weights and metadata to ``path`` atomically; return the path.

    The architecture is taken from ``model.arch``/``model.arch_kwargs``, which
    :func:`course_utils.models.build_model` sets, so :func:`load_checkpoint` can rebuild the model.
    """
    path = Path(path)
    meta = {
        "format": FORMAT_VERSION,
        "arch": getattr(model, "arch", type(model).__name__),
        "arch_kwargs": getattr(model, "arch_kwargs", {}),
        "epoch": epoch,
        "metrics": metrics or {},
        "history": history or {},
        "profile": get_profile().name,
        "versions": library_versions(),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "extra": extra or {},
    }
    check_plain(meta, "metadata")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"meta": meta, "state_dict": state}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw ``{"meta", "state_dict"}`` dict of a checkpoint, read safely."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"Cannot read checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "meta" not in ckpt:
        raise CheckpointError(f"{path} is not a course checkpoint (no 'meta'/'state_dict').")
    return ckpt


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """Load a checkpoint into ``model`` (or into a model rebuilt from its metadata).

    Returns ``(model, meta)``. A model of another architecture gives a :class:`CheckpointError`
    that names both.
    """
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    if model is None:
        if meta["arch"] not in MODELS:
            raise CheckpointError(
                f"{path} holds a {meta['arch']!r} model, which is not in the registry "
                f"({sorted(MODELS)}): build the model yourself and pass it as `model`."
            )
        model = build_model(meta["arch"], **meta["arch_kwargs"])
    arch = getattr(model, "arch", type(model).__name__)
    wanted = (meta["arch"], meta["arch_kwargs"])
    if hasattr(model, "arch_kwargs") and (arch, model.arch_kwargs) != wanted:
        raise CheckpointError(
            f"{path} holds {meta['arch']}({meta['arch_kwargs']}) but the model is "
            f"{arch}({model.arch_kwargs}). Build the same architecture, or call "
            "load_checkpoint(path) without a model to rebuild it."
        )
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path} holds weights of {meta['arch']}({meta['arch_kwargs']}), which do not fit "
            f"this {type(model).__name__}:\n{err}"
        ) from err
    return model.to(device), meta
