"""The market under Hyperledger Caliper 0.6.0, the tool electricity-trading papers report with.

    make bench-caliper                      # or: .venv/bin/python -m bench.caliper [--rates 50,100,...]

``plan.py`` prepares everything the rounds send (keys, calls, the chain time each round starts
at) and writes Caliper's network and benchmark configurations; ``workload/`` holds the workload
modules (a view call, deposit, commit, reveal and meter reading) that Caliper's workers run;
``report.py`` reads the summary table of Caliper's ``report.html`` into
``bench/results/caliper.csv`` and ``caliper.md``; ``__main__.py`` starts the chains, enrols the
prosumers (untimed) and runs Caliper. Caliper and the web3 its Ethereum connector loads are
pinned in ``package.json`` beside this file and installed with ``npm ci`` here.
"""
