"""``tw.distributed``: process groups and collectives over MPI (CPU) and NCCL (CUDA), with the names
and signatures of ``torch.distributed``.

Launch N processes with MPI and call ``init_process_group`` in each::

    # mpiexec -n 2 python train.py
    import tensorweaver as tw
    import tensorweaver.distributed as dist

    dist.init_process_group("mpi")          # "nccl" for CUDA tensors, one GPU per rank
    t = tw.ones(3) * (dist.get_rank() + 1)
    dist.all_reduce(t)                       # in place: tensor([3., 3., 3.]) on both ranks
    dist.destroy_process_group()

Importing this package imports neither mpi4py nor CuPy: ``init_process_group`` does.
"""

from .collectives import (
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    gather,
    reduce,
    reduce_scatter,
    reduce_scatter_tensor,
    scatter,
)
from .process_group import (
    DistNotInitializedError,
    ReduceOp,
    Work,
    default_pg_nccl_timeout,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_node_local_rank,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
)

__all__ = [
    "init_process_group",
    "destroy_process_group",
    "is_available",
    "is_mpi_available",
    "is_nccl_available",
    "is_initialized",
    "get_rank",
    "get_world_size",
    "get_backend",
    "get_node_local_rank",
    "ReduceOp",
    "Work",
    "DistNotInitializedError",
    "default_pg_timeout",
    "default_pg_nccl_timeout",
    "barrier",
    "all_reduce",
    "broadcast",
    "reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "gather",
    "scatter",
]
