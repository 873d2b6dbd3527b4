"""The contract toolkit every Python part of the platform uses to reach the contracts."""
