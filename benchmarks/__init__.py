"""Reproducible benchmarks: ``make bench`` (``python -m benchmarks [NAME ...]``).

Each ``bench_<name>.py`` has ``run() -> Report``; results go to ``benchmarks/results/<name>.json``
and a markdown table in ``benchmarks/results/README.md``. Peers run side by side in the same
process and run, and tables show ratios, since this machine is shared and noisy.
"""

from services.cli import single_thread_pools

# figures are per core: no BLAS worker threads billing their spin to our CPU time
single_thread_pools()
