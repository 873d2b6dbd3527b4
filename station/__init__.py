"""A storage station's daemon: the dispatch contract's commands to the station's equipment."""
