"""The command line under torchrun, with rank 1 failing after its first training step.

tests/test_distributed.py starts it as ``python -m torch.distributed.run --nproc_per_node=2
tests/ddp_failing_rank.py <options of python -m course_utils.train>``: the whole run must end with a
non-zero status and the failure's message, not wait on rank 1 forever.
"""

import os

from torch.distributed.elastic.multiprocessing.errors import record

from course_utils.loaders import TensorLoader
from course_utils.train.cli import main

MESSAGE = "rank 1 fails on purpose after one training step"


def fail_after_one_batch(iterate):
    """``TensorLoader.__iter__`` that raises once the training loader (the shuffled one) has given a
    batch and the next is asked for: after one optimizer step."""

    def patched(self):
        for step, batch in enumerate(iterate(self)):
            if self.shuffle and step == 1:
                raise RuntimeError(MESSAGE)
            yield batch

    return patched


if __name__ == "__main__":
    if os.environ["RANK"] == "1":
        TensorLoader.__iter__ = fail_after_one_batch(TensorLoader.__iter__)
    record(main)()  # as python -m course_utils.train does
