"""A job in which one rank fails: ``mpiexec -n 2 python failures.py raise|late``.

``raise``: the last rank raises after init_process_group while the others wait in all_reduce; its
excepthook aborts the job. ``late``: the last rank sleeps instead of calling all_reduce; the others
time out after 1 s and abort the job. Either way every rank must be gone within seconds.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import tensorweaver as tw
import tensorweaver.distributed as dist

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=timedelta(seconds=1))
last = dist.get_rank() == dist.get_world_size() - 1
if last and mode == "raise":
    raise ValueError("the last rank fails on purpose")
if last and mode == "late":
    time.sleep(120)
dist.all_reduce(tw.ones(3))
print(f"rank {dist.get_rank()} went past the collective", flush=True)
