"""Several processes, one model: the course's trainer under ``torchrun`` with DistributedDataParallel.

``torchrun --nproc_per_node=N -m course_utils.train ...`` starts N copies of the command line, each
with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in its environment. PyTorch does the parallel work
(``torch.distributed``, ``DistributedDataParallel``); this module holds the rules the caller states:

- :func:`launch_from_environment` reads those variables (None when plain ``python`` started us);
- :func:`setup` gives each process its device, ``cuda:LOCAL_RANK`` (backend nccl) or the CPU (gloo),
  and joins the process group; :func:`teardown` leaves it;
- the batch size is global: :func:`per_process_batch` splits it evenly, so a recipe's learning rate
  holds for any number of processes; :func:`check_same_steps` checks that every process takes the same
  number of steps per epoch (DDP all-reduces the gradients at each one);
- :func:`wrap` puts the model in DistributedDataParallel (with SyncBatchNorm when asked), and
  :func:`unwrap` gives the plain model back (what a checkpoint holds);
- :class:`DDPSync` is the callback that :func:`~course_utils.train.fitting.fit` attaches: the all-reduce of
  an epoch's sums (:func:`all_reduce_sums`), so that every process records the global history, and
  the model every process evaluates its shard with. The loop itself knows nothing of processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from .callbacks import Callback

__all__ = [
    "DDPSync",
    "Launch",
    "all_reduce_sums",
    "broadcast_buffers",
    "check_same_steps",
    "launch_from_environment",
    "per_process_batch",
    "setup",
    "teardown",
    "unwrap",
    "wrap",
]


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a torchrun launch."""

    rank: int  # 0 .. world_size - 1, over all machines
    local_rank: int  # on this machine: the GPU it takes
    world_size: int  # the number of processes
    sync_bn: bool = False  # batch-norm over the global batch (SyncBatchNorm, GPUs only); see wrap()

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that prints and writes files."""
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """``(rank, world_size)``, as :class:`~course_utils.loaders.TensorLoader` takes it."""
        return self.rank, self.world_size


def launch_from_environment(env: Mapping[str, str] = os.environ) -> Launch | None:
    """The :class:`Launch` that torchrun describes in ``env``; None without ``RANK``/``WORLD_SIZE``."""
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world_size = int(env["RANK"]), int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        raise ValueError(
            f"RANK={env['RANK']!r}, WORLD_SIZE={env['WORLD_SIZE']!r} and LOCAL_RANK="
            f"{env.get('LOCAL_RANK')!r} must be whole numbers; start the processes with torchrun."
        ) from None
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} must be in [0, WORLD_SIZE={world_size}); start with torchrun.")
    return Launch(rank, local_rank, world_size)


def process_device(launch: Launch, device: torch.device) -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` when ``device`` is CUDA, else the CPU.

    ``device`` is the kind asked for (``get_device``): an index is refused, since torchrun gives
    each process the GPU of its local rank.
    """
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(
            f"DistributedDataParallel runs here on CUDA GPUs (nccl) or the CPU (gloo), not on "
            f"{device.type}: give --device cuda or --device cpu."
        )
    if device.index is not None:
        raise ValueError(
            f"device {device} names one GPU, but under torchrun each process takes cuda:LOCAL_RANK: "
            "give --device cuda (and CUDA_VISIBLE_DEVICES to choose the GPUs)."
        )
    if launch.local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK={launch.local_rank} needs GPU cuda:{launch.local_rank}, but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s): start torchrun with --nproc_per_node="
            f"{torch.cuda.device_count()} or fewer."
        )
    return torch.device("cuda", launch.local_rank)


def setup(launch: Launch, device: torch.device) -> torch.device:
    """Join the process group of ``launch`` on this process's device (see :func:`process_device`):
    nccl on CUDA, gloo on the CPU. Returns the device."""
    device = process_device(launch, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return device


def teardown() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Where collectives take their tensors: this process's GPU with nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sums(sums: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``sums`` over all processes, the same on every process.

    ``sums``: a 1-D CPU tensor (K,), e.g. float64 ``[loss x images, images, metric num, metric den]``
    of one epoch; returns the totals (K,) on the CPU, ``sums`` itself left unchanged.
    """
    totals = sums.to(_collective_device(), copy=True)
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return totals.cpu()


def broadcast_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) into ``model`` on every process.

    DDP keeps the parameters equal; each process's last training step updates its buffers with its
    own batch. Rank 0 saves the model, so rank 0's buffers are the model's.
    """
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def per_process_batch(global_batch: int, world_size: int) -> int:
    """Each process's share of the global batch ``global_batch``: it must split evenly, so that DDP's
    mean of the processes' gradients is the gradient of the global batch."""
    if global_batch % world_size:
        lower = global_batch - global_batch % world_size
        options = f"{lower} or {lower + world_size}" if lower else f"{world_size}"
        raise ValueError(
            f"The global batch (--batch-size) of {global_batch} does not split evenly among "
            f"{world_size} processes: use {options}, so that each takes the same share."
        )
    return global_batch // world_size


def check_same_steps(loader) -> None:
    """Every process must take the same number of steps per epoch: DDP all-reduces the gradients at
    each step, and a process with one step more would wait for the others forever.

    ``loader``: this process's training shard (a sharded TensorLoader). The shards differ by at most
    one image, so the counts differ only when the epoch's last step holds fewer images than
    processes; the error says how many images to leave out.
    """
    counts = torch.tensor([len(loader), -len(loader)], dtype=torch.int64, device=_collective_device())
    dist.all_reduce(counts, op=dist.ReduceOp.MAX)
    most, fewest = counts[0].item(), -counts[1].item()
    if most != fewest:
        world = dist.get_world_size()
        images = len(loader.dataset)
        left = images % (loader.batch_size * world)
        raise ValueError(
            f"The {images} training images leave the last step of each epoch with {left} image(s), fewer "
            f"than the {world} processes, so they would take {fewest} and {most} steps per epoch "
            f"(DistributedDataParallel needs the same on every process). Change --batch-size, or leave "
            f"those images out with --max-train {images - left}."
        )


def wrap(model: nn.Module, device: torch.device, sync_bn: bool = False) -> DistributedDataParallel:
    """``model`` (already on ``device``) in DistributedDataParallel; rank 0's weights go to all.

    ``sync_bn``: batch-norm layers become SyncBatchNorm, whose statistics are those of the global
    batch (torch runs it on GPUs only). Without it each process normalises with its own batch's
    statistics, as DDP does by default.
    """
    if sync_bn:
        if device.type != "cuda":
            raise ValueError(
                "--sync-bn (SyncBatchNorm) needs CUDA GPUs: torch does not run it on the CPU. Leave it "
                "out on the CPU; each process then normalises with its own batch's statistics."
            )
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside ``torch.compile`` and DistributedDataParallel wrappers (``model`` itself
    otherwise)."""
    model = getattr(model, "_orig_mod", model)  # torch.compile's OptimizedModule
    return model.module if isinstance(model, DistributedDataParallel) else model


class DDPSync(Callback):
    """The callback that makes the processes of one DDP run act as one run (attach it to ``fit`` or
    ``train_val_model``):

    - :meth:`reduce_sums`: an epoch's sums, all-reduced (:func:`all_reduce_sums`): the history is the
      global one, and the same on every process;
    - :meth:`eval_model`: the plain model with rank 0's buffers, which every process evaluates its
      shard of the validation or test split with (no collective per batch, so the shards may differ
      by one batch); the sums are then all-reduced.
    """

    def reduce_sums(self, sums: torch.Tensor) -> torch.Tensor:
        return all_reduce_sums(sums)

    def eval_model(self, model: nn.Module) -> nn.Module:
        plain = unwrap(model)
        broadcast_buffers(plain)
        return plain
