"""Give the memory that finished work has freed back to the operating system: :func:`release_memory`."""

from __future__ import annotations

import ctypes
import gc
import sys

__all__ = ["KEEP_FREE_AT_TOP", "LARGE_BLOCK", "hand_back_large_blocks", "release_memory"]

LARGE_BLOCK = 16 * 2**20  # bytes: a batch's activation tensors in the lessons are about this size or more
KEEP_FREE_AT_TOP = 8 * LARGE_BLOCK  # bytes of free heap glibc keeps for the next step before trimming
_M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def _glibc():
    """The C library when it is glibc (Linux), else None (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _glibc()


def hand_back_large_blocks() -> None:
    """Have glibc serve every block of :data:`LARGE_BLOCK` bytes or more straight from the system
    (``mmap``), so that it goes back to the system as soon as the tensor is freed.

    glibc's default raises that threshold each time such a block is freed, after which large
    activations stay in the process's heap for reuse and the resident memory only grows. Fixing it
    at 16 MiB lowered the peak of a ResNet-14 training step (batch 256) by about 150 MB. Fixing it
    also switches off glibc's moving trim threshold, which then stays at 128 KiB: the free top of the
    heap went back to the system after every step and was faulted in again by the next one. Keeping
    :data:`KEEP_FREE_AT_TOP` (128 MiB) instead made a U-Net step (8 channels, batch 16) 0.44 s against
    0.54-0.56 s, and 0.48 s with glibc's defaults (``benchmarks/malloc_steps.py``; the price is up to
    that much free heap held during a run). :func:`release_memory` still returns everything free when
    a run ends. :func:`course_utils.runtime` calls this; it does
    nothing where the C library is not glibc. Measurements: ``benchmarks/RESULTS.md``.
    """
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, KEEP_FREE_AT_TOP)


def release_memory() -> None:
    """Hand the memory that finished work has freed back to the operating system.

    On Linux, the C library keeps the memory of freed tensors (a training run's activations:
    hundreds of MB) for reuse instead of returning it, so a notebook's resident memory only grows,
    run after run, towards a hosted kernel's limit (Binder: about 2 GB). This collects garbage and
    asks glibc to return what is free (``malloc_trim``); elsewhere it only collects garbage. The
    training loops call it when they finish; call it after dropping a large object (``del model``).
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
