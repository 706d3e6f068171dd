import os
import sys

if "OMP_WAIT_POLICY" not in os.environ and os.name == "posix":
    # Idle OpenMP threads must sleep, not spin (2 cores: 5 s against 11 to 83 s for 200 LeNet-5 steps,
    # benchmarks/RESULTS.md); OpenMP reads this only when torch loads, which has happened by now, so the
    # command starts again with it set, with the interpreter's own flags (torchrun's -u). A value the
    # user set is kept. On Windows, where exec does not replace the process, set it yourself.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.execv(sys.executable, sys.orig_argv)

from torch.distributed.elastic.multiprocessing.errors import record  # noqa: E402

from .cli import main  # noqa: E402

# record: under torchrun, an exception in one process reaches torchrun's failure summary
record(main)()
