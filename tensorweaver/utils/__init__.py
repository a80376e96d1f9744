"""``tw.utils``: data loading (``tw.utils.data``)."""


def __getattr__(name: str):
    # NOTE: lazy, so that importing tensorweaver.utils costs nothing until a submodule is used
    if name == "data":
        from . import data

        return data
    raise AttributeError(f"module 'tensorweaver.utils' has no attribute {name!r}")
