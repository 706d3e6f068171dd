"""Checkpoints that say what they hold, in one schema: the weights, and beside them the model's name and
``model_args``, the recipe (its name, profile and every value), the seed, the normalisation statistics
the inputs need, the history, the test result, how the run was made, and the versions.

Every course model records its constructor arguments (``model.model_args``), so any course model can
be saved however it was built, and :func:`load_checkpoint` rebuilds it (as nanoGPT's checkpoints
carry ``model_args``). :func:`save_checkpoint` writes ``NAME.pt`` and, with ``report=True``, the same
metadata as ``NAME.json`` (the report a reader opens without torch). Files are written atomically and
read with ``torch.load(weights_only=True)``, which refuses to run code hidden in a file.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
import torch.nn as nn

from .._io import atomic_write
from ..models import MODELS, build_model, model_name

__all__ = ["CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

# 1: "arch_kwargs" as passed to build_model; 2: "model_args", defaults filled in; 3: recipe, seed,
# normalization, test and run in the metadata, the same metadata in the JSON report
FORMAT_VERSION = 3
META_KEYS = ("recipe", "seed", "normalization", "history", "test", "run")
_PLAIN_TYPES = (str, int, float, bool, type(None))


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written, read, or loaded into the given model."""


def _check_plain(value, where: str) -> None:
    """Metadata must be plain Python data, or ``weights_only=True`` could not read it back."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(k, where)
            _check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif type(value) not in _PLAIN_TYPES:  # exact types: subclasses do not load with weights_only
        raise CheckpointError(
            f"{where} is a {type(value).__name__}; checkpoint metadata must be plain data "
            "(str, int, float, bool, None, lists, tuples, dicts)."
        )


def _version(package: str) -> str:
    """The installed version of ``package``, without importing it (torchvision alone costs ~170 MB)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _library_versions() -> dict[str, str]:
    from .. import __version__

    # str(): torch.__version__ is a str subclass that weights_only loading refuses
    return {
        "course_utils": __version__,
        "torch": str(torch.__version__),
        "torchvision": _version("torchvision"),
        "python": platform.python_version(),
    }


def _complete_args(arch: str, args: dict) -> dict:
    """``args`` with the constructor's defaults filled in: what a model built with them records."""
    return build_model(arch, **args).model_args if arch in MODELS else args


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    recipe: dict | None = None,
    seed: int | None = None,
    normalization: tuple | None = None,
    history: dict | None = None,
    test: dict | None = None,
    run: dict | None = None,
    report: bool = False,
) -> Path:
    """Save ``model``'s weights with the metadata of the module doc to ``path``; return the path.

    ``recipe``: ``Recipe.as_dict()`` (name, profile, values); ``normalization``: the (mean, std) the
    inputs were normalised with; ``history``: ``History.as_dict()``; ``test``: the test metrics,
    measured once; ``run``: how the run was made (the command that reproduces it, device, time).
    ``report``: also write the metadata as JSON beside it (``path`` with ``.json``).

    The writes are atomic: on any failure (a read-only folder, a full disk) a :class:`CheckpointError`
    names the path, and a file already there is left intact.
    """
    path = Path(path)
    try:
        arch = model_name(model)
    except ValueError as err:
        raise CheckpointError(f"Cannot save {path}: {err}") from err
    history = history or {}
    meta = {
        "format": FORMAT_VERSION,
        "arch": arch,
        "model_args": model.model_args,
        "recipe": recipe,
        "seed": seed,
        "normalization": [list(values) for values in normalization] if normalization else None,
        "epoch": history.get("best_epoch"),
        "history": history,
        "test": test,
        "run": run,
        "versions": _library_versions(),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _check_plain(meta, "metadata")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    try:
        atomic_write(path, lambda file: torch.save({"meta": meta, "state_dict": state}, file))
        if report:
            text = json.dumps(meta, indent=1).encode()
            atomic_write(path.with_suffix(".json"), lambda file: file.write(text))
    except OSError as err:
        raise CheckpointError(
            f"Cannot write the checkpoint {path}: {err.strerror or err}. Choose a folder you can write to; "
            "any earlier file at that path is unchanged."
        ) from err
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw ``{"meta", "state_dict"}`` dict of a checkpoint, read safely (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint file at {path}.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"Cannot read checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "meta" not in ckpt:
        raise CheckpointError(f"{path} is not a course checkpoint (no 'meta'/'state_dict').")
    meta = ckpt["meta"]
    if "model_args" not in meta:  # format 1 stored the arguments as passed
        meta["model_args"] = _complete_args(meta["arch"], meta.pop("arch_kwargs", {}))
    for key in META_KEYS:  # formats 1 and 2 did not record these
        meta.setdefault(key, None)
    return ckpt


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """Load a checkpoint into ``model``, or into a model rebuilt from its ``model_args`` (the default).

    Returns ``(model, meta)``. A given model of another architecture, or built with other arguments,
    is a :class:`CheckpointError` that names both; arguments left at their defaults and the same
    defaults written out are the same architecture.
    """
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    arch, args = meta["arch"], meta["model_args"]
    if model is None:
        if arch not in MODELS:
            raise CheckpointError(
                f"{path} holds a {arch!r} model, which is not in the registry ({sorted(MODELS)}): "
                "build the model yourself and pass it as `model`."
            )
        model = build_model(arch, **args)
    elif hasattr(model, "model_args"):
        given = (
            model_name(model) if type(model) in MODELS.values() else type(model).__name__,
            model.model_args,
        )
        if given != (arch, args):
            raise CheckpointError(
                f"{path} holds {arch}({_call(args)}) but the model is {given[0]}({_call(given[1])}). Build "
                "the same architecture, or call load_checkpoint(path) without a model to rebuild it."
            )
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path} holds weights of {arch}({_call(args)}), which do not fit this "
            f"{type(model).__name__}:\n{err}"
        ) from err
    return model.to(device), meta


def _call(args: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())
