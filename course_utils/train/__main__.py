from torch.distributed.elastic.multiprocessing.errors import record

from .cli import main

# record: under torchrun, an exception in one process reaches torchrun's failure summary
record(main)()
