"""Training: the loop (:mod:`.loop`), checkpoints (:mod:`.checkpoint`) and a command line
(``python -m course_utils.train --help``), which also runs under torchrun (:mod:`.distributed`)."""

from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .loop import History, TrainingDiverged, TrainResult, evaluate, predict, run_epoch, train_val_model

__all__ = [
    "CheckpointError",
    "History",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "load_checkpoint",
    "predict",
    "read_checkpoint",
    "run_epoch",
    "save_checkpoint",
    "train_val_model",
]
