"""A DDP job in which ranks fail: ``mpiexec -n 2 python ddp_failures.py raise|mismatch``.

``raise``: the last rank raises in its third forward while the others wait for its gradients in
backward; its excepthook aborts the job. ``mismatch``: the ranks build different models; every rank
raises at construction. Either way every rank must be gone within seconds, with the error printed.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import tensorweaver as tw
import tensorweaver.distributed as dist
from tensorweaver import nn
from tensorweaver.nn.parallel import DistributedDataParallel as DDP

mode = sys.argv[1]
dist.init_process_group("mpi", timeout=timedelta(seconds=60))  # longer than the test allows: the abort must end it
rank, last = dist.get_rank(), dist.get_rank() == dist.get_world_size() - 1
hidden = 8 + (last and mode == "mismatch")
model = DDP(nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2)))
x = tw.randn(3, 4)
for step in range(5):
    if last and mode == "raise" and step == 2:
        raise ValueError("the last rank fails on purpose in step 2")
    model(x).sum().backward()
    print(f"rank {rank} finished step {step}", flush=True)
print(f"rank {rank} went past the failure", flush=True)
