"""Reference models of the platform's rules, and simulations."""
