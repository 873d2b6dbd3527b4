"""The sister chains' transaction lock from Python: block headers for the light clients, receipt
proofs for unlocks, and deploying or attaching the contracts of both chains."""
