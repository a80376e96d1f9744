"""Benchmarks of tensorweaver against hand-written NumPy (CuPy on CUDA) and PyTorch, run in one process.

Run ``python -m benchmarks`` (see benchmarks/README.md); nothing here is imported by tensorweaver.
"""
