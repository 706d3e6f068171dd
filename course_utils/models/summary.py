"""Looking inside a model: ``summary`` (each layer's output shape and parameters, as a table),
``count_parameters``, ``count_macs`` (multiply-adds of one forward pass), ``forward_time`` (measured) and
``gradient_norms`` (how much gradient reaches each layer)."""

from __future__ import annotations

import contextlib
import logging

import torch
import torch.nn as nn

from .._memory import release_memory

__all__ = ["count_macs", "count_parameters", "forward_time", "gradient_norms", "summary"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters of ``model``; with ``trainable_only=True``, only those with
    ``requires_grad`` (a frozen backbone's weights are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@contextlib.contextmanager
def _evaluating(model: nn.Module):
    """Evaluation mode without gradients for the ``with`` block; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def count_macs(model: nn.Module, input_size: tuple[int, ...], device: str | torch.device = "cpu") -> int:
    """Multiply-adds of one forward pass of one image of shape ``input_size`` (e.g. ``(3, 32, 32)``),
    counted in the model's ``Conv2d`` and ``Linear`` layers from the shapes they produce:

    - ``Conv2d``: output elements x (input channels / groups) x kernel height x kernel width;
    - ``Linear``: output elements x input features (per pixel where it acts on each pixel).

    Batch-norm, activations, pooling and additions are not counted (by convention; they are few
    multiply-adds, though not always little time). The model's mode and weights are left untouched.
    """
    total = 0

    def conv(module: nn.Conv2d, _inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear(module: nn.Linear, _inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    hooks = [
        m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    try:
        with _evaluating(model):
            model(torch.zeros(1, *input_size, device=device))
    finally:
        for h in hooks:
            h.remove()
    return total


def _benchmark():
    """``torch.utils.benchmark``, imported without its "No CUDA runtime is found" log line on a CPU-only
    machine (it concerns building C++ extensions, which the timings do not do)."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        logger.setLevel(level)
    return benchmark


def forward_time(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch_size: int = 1,
    min_run_time: float = 1.0,
    device: str | torch.device = "cpu",
) -> float:
    """Seconds of one forward pass of a batch of ``batch_size`` images of shape ``input_size``, warm:
    the median over repeated runs of at least ``min_run_time`` seconds in all
    (``torch.utils.benchmark.Timer.blocked_autorange``, after one warm-up pass), in evaluation mode
    without gradients, with the threads PyTorch has. The model's mode is restored."""
    benchmark = _benchmark()
    if batch_size < 1 or min_run_time <= 0:
        raise ValueError(
            f"forward_time: batch_size must be >= 1 and min_run_time > 0, got {batch_size} and "
            f"{min_run_time}; e.g. forward_time(model, (3, 32, 32), batch_size=1)."
        )
    x = torch.randn(batch_size, *input_size, device=device)
    with _evaluating(model):
        model(x)  # warm-up: first-call allocations and kernel choices
        threads = torch.get_num_threads()
        timer = benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=threads)
        return timer.blocked_autorange(min_run_time=min_run_time).median


def measure_costs(
    models: dict[str, nn.Module],
    input_size: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (1, 128),
    rounds: int = 3,
    min_run_time: float = 0.5,
) -> dict[str, dict]:
    """What one forward pass of each model costs per image of shape ``input_size``, counted and measured:
    ``{name: {"params", "macs", "seconds": {batch: [per-image seconds, one per round]}, "gmacs": {batch:
    rate}}}``. The timings go round-robin: each round times every batch size of every model once
    (:func:`forward_time`, warm), so that a machine that slows down for a while slows all the models of
    that round, and the ratios between models can be read round by round. ``gmacs`` is billions of
    multiply-adds per second at the median round."""
    if rounds < 1 or not batch_sizes or not models:
        raise ValueError(
            f"measure_costs: rounds must be >= 1 and batch_sizes and models not empty, got {rounds}, "
            f"{batch_sizes} and {len(models)} models; e.g. measure_costs({{'net': model}}, (3, 32, 32), "
            "batch_sizes=(1, 128), rounds=3)."
        )
    costs = {
        name: {"params": count_parameters(m), "macs": count_macs(m, input_size), "seconds": {}, "gmacs": {}}
        for name, m in models.items()
    }
    for _ in range(rounds):
        for batch in batch_sizes:
            for name, model in models.items():
                seconds = forward_time(model, input_size, batch, min_run_time) / batch
                costs[name]["seconds"].setdefault(batch, []).append(seconds)
    for cost in costs.values():
        for batch, times in cost["seconds"].items():
            cost["gmacs"][batch] = cost["macs"] / sorted(times)[len(times) // 2] / 1e9
    return costs


def measure_cost(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (1, 128),
    repeats: int = 3,
    min_run_time: float = 0.5,
) -> dict:
    """:func:`measure_costs` of one model: ``{"params", "macs", "seconds": {batch: [per-image seconds, one
    per repeat]}, "gmacs": {batch: rate}}``. Repeats back to back show the noise of a moment, not how much
    the machine drifts between runs: compare models with :func:`measure_costs`."""
    return measure_costs({"model": model}, input_size, batch_sizes, repeats, min_run_time)["model"]


def summary(
    model: nn.Module,
    input_size: tuple[int, ...],
    depth: int = 2,
    device: str | torch.device = "cpu",
) -> str:
    """Run one zero tensor of shape ``(1, *input_size)`` through ``model`` and tabulate each module
    up to ``depth`` levels deep: name, type, output shape, parameters (its own and its children's).

    Returns the table as a string (``print`` it). The model's mode and weights are left untouched.
    """
    rows: list[tuple[str, str, str, int]] = []
    hooks = []

    def record(name: str):
        def hook(module, _inputs, output):
            shape = tuple(output.shape) if torch.is_tensor(output) else "-"
            rows.append((name, type(module).__name__, str(shape), count_parameters(module)))

        return hook

    modules = dict(model.named_modules())
    for name, module in modules.items():
        # A ModuleList is never called itself, so its items count at its own level.
        prefixes = [".".join(name.split(".")[: i + 1]) for i in range(name.count(".") + 1)] if name else []
        level = sum(not isinstance(modules[p], nn.ModuleList | nn.ModuleDict) for p in prefixes)
        no_op = isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout) and module.p == 0)
        if 0 < level <= depth and not no_op:
            hooks.append(module.register_forward_hook(record(name)))
    try:
        with _evaluating(model):
            out = model(torch.zeros(1, *input_size, device=device))
    finally:
        for h in hooks:
            h.remove()
    width = max([len(r[0]) + len(r[1]) + 3 for r in rows] + [24])
    lines = [f"{'Layer (type)':<{width}} {'Output shape':<20} {'Param #':>11}", "-" * (width + 33)]
    lines.append(f"{'input':<{width}} {str((1, *input_size)):<20} {0:>11,}")
    lines += [f"{f'{n} ({t})':<{width}} {s:<20} {p:>11,}" for n, t, s, p in rows]
    lines += [
        "-" * (width + 33),
        f"Output: {tuple(out.shape)}",
        f"Total parameters: {count_parameters(model):,} "
        f"(trainable: {count_parameters(model, trainable_only=True):,})",
    ]
    return "\n".join(lines)


def gradient_norms(model: nn.Module, loss: torch.Tensor) -> dict[str, float]:
    """Back-propagate ``loss`` and return the norm of each layer's weight gradient, input side first.

    Layers are the model's ``Conv2d`` and ``Linear`` modules, named as in ``named_modules()``. The
    gradients are cleared afterwards, so an optimizer later starts from zero as usual.
    """
    layers = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    if not layers:
        raise ValueError("gradient_norms: the model has no Conv2d or Linear layer to measure.")
    model.zero_grad(set_to_none=True)
    loss.backward()
    norms = {name: layer.weight.grad.norm().item() for name, layer in layers.items()}
    model.zero_grad(set_to_none=True)
    release_memory()  # the backward pass's buffers are freed: hand them back
    return norms
