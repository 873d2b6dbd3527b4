"""Local chains for development and tests: embedded eth-tester chains with chain ids of their own
(and anvil nodes through ``backend.nodes``)."""
