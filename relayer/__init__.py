"""The sister chains' relayer."""
