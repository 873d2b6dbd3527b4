"""The market's rules in plain Python (``sim.reference``, the model the contract is checked
against) and the paper's case study, a day of five users' profiles (``sim.profiles``)."""
