"""Benchmarks of the energy market: `python -m bench` runs them all (what `make bench` runs).

Load (throughput and latency of commit, reveal and meter readings as signed raw transactions,
straight to the node and through the backend's ``/rpc``), gas (``bench/gas.py``), the 15-minute
period budget, the embedded chain and the off-chain reference clearing. Results go to
``bench/results/`` as Markdown, CSV and PNG; none of this is part of ``make test``.
"""
