"""``tw.utils.data``: datasets and samplers (``distributed.DistributedSampler``)."""


def __getattr__(name: str):
    # NOTE: lazy: the sampler's module is imported on first use
    if name == "distributed":
        from . import distributed

        return distributed
    raise AttributeError(f"module 'tensorweaver.utils.data' has no attribute {name!r}")
