"""``python -m benchmarks``: run the workloads and write benchmarks/results/<device>.{md,json,png}."""

from .run import main

raise SystemExit(main())
