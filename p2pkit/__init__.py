"""The contract toolkit every Python part of the platform uses to reach the contracts.

It depends on web3 and eth-account (and, for the sister chains' receipt proofs, on trie and
eth-bloom: the ``relayer`` extra), so the meter box, the server, the relayer and the tools all
load the same small set of modules:

- ``p2pkit.artifacts``: the compiled contracts (ABI and bytecode), shipped inside the package;
- ``p2pkit.contracts``: any contract by name, at an address or deployed anew;
- ``p2pkit.market``: deploying and attaching to the market, its parameters, records and
  deployment file;
- ``p2pkit.schedule``: the market's clock, ``Schedule``, the one model of MarketClock.sol;
- ``p2pkit.transactions``: signing and sending, refusals decoded by name (``ContractRefused``);
- ``p2pkit.bids``: sealed bids, their commitments and hints, and the entrust message;
- ``p2pkit.events``: the market's event log;
- ``p2pkit.period``: the period driver (enrol, commit, reveal, match, readings, settle);
- ``p2pkit.settings`` and ``p2pkit.keyfiles``: the daemons' settings files, files that hold secrets, and keystores;
- ``p2pkit.sister``: the sister chains' headers, receipt proofs, deployment and relaying.
- ``p2pkit.retail``: retailers' plans and their scoring, bilateral contracts, the billing clock.
"""
