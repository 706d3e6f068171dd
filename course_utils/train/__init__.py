"""Training: the loop (:mod:`.loop`), its callbacks (:mod:`.callbacks`), :func:`fit` (:mod:`.fit`), which
runs every named recipe, checkpoints (:mod:`.checkpoint`) and a command line
(``python -m course_utils.train --help``), which also runs under torchrun (:mod:`.distributed`)."""

from .callbacks import Callback, ReleaseMemory, StepLosses
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .fitting import FitResult, fit
from .loop import History, TrainingDiverged, TrainResult, evaluate, predict, run_epoch, train_val_model

__all__ = [
    "Callback",
    "CheckpointError",
    "FitResult",
    "History",
    "ReleaseMemory",
    "StepLosses",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "load_checkpoint",
    "predict",
    "read_checkpoint",
    "run_epoch",
    "save_checkpoint",
    "train_val_model",
]
