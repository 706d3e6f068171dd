import os
import sys

if "OMP_WAIT_POLICY" not in os.environ:
    # Idle OpenMP threads must sleep, not spin (2 cores: 5 s against 11 to 83 s for 200 LeNet-5 steps,
    # benchmarks/RESULTS.md); OpenMP reads this only when torch loads, which has happened by now, so the
    # command starts again with it set. A value the user set is kept.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.execv(sys.executable, [sys.executable, "-m", "course_utils.train", *sys.argv[1:]])

from torch.distributed.elastic.multiprocessing.errors import record  # noqa: E402

from .cli import main  # noqa: E402

# record: under torchrun, an exception in one process reaches torchrun's failure summary
record(main)()
