"""``CourseModel``: a model that remembers the arguments it was built with.

Every course model records its constructor arguments, defaults filled in, as ``model.model_args``
(as nanoGPT's checkpoints carry ``model_args``). A checkpoint stores them beside the weights, so
:func:`course_utils.load_checkpoint` can rebuild the model, however it was built::

    net = UNet(3, 1, base_channels=16)
    net.model_args  # {'in_channels': 3, 'out_channels': 1, 'base_channels': 16, 'batch_norm': False}
"""

from __future__ import annotations

import functools
import inspect

import torch.nn as nn

__all__ = ["CourseModel"]


def _plain(value):
    """Arguments as plain data: tuples become lists, a registered building block its name."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, type) and getattr(value, "registry_name", None):
        return value.registry_name
    return value


def _constructor_owner(cls: type) -> type:
    """The class whose ``__init__`` an instance of ``cls`` runs first (the most derived one)."""
    return next(k for k in cls.__mro__ if "__init__" in k.__dict__)


class CourseModel(nn.Module):
    """Base class of the course's models: ``model_args`` holds the constructor's arguments.

    A subclass writes an ordinary ``__init__``; the recording is added around it. Only the
    outermost constructor records, so a subclass of a subclass records its own arguments.
    """

    model_args: dict

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            if _constructor_owner(type(self)) is cls:
                bound = signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))  # self
                self.model_args = _plain(self._canonical_args(arguments))

        cls.__init__ = recording_init

    def _canonical_args(self, args: dict) -> dict:
        """The recorded arguments in one canonical spelling, so that two calls that build the same
        architecture record the same ``model_args`` (a subclass with derived sizes overrides this)."""
        return args
