"""The platform's Python toolkit for its contracts: deployment, calls, headers and proofs."""
