"""Speed and throughput benchmarks. Run all with ``make bench`` (``python -m benchmarks``) or one with
``python -m benchmarks.bench_rates``. Each prints its measurements as ratios against a baseline measured in the
same run, so numbers compare across machines; nothing here is a pass/fail test."""
