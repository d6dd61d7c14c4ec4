"""Side-by-side measurements of notebook-actions against baselines measured in the same run.

``python -m benchmarks`` (``make bench``) prints one table and writes ``RESULTS.md``;
``python -m benchmarks --smoke`` runs every scenario once on a tiny size (the tests do).
"""
