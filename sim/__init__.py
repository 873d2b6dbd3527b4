"""The platform's rules in plain Python, the models the contracts are checked against: the
market's (``sim.reference``) and the bilateral contracts' monthly settlement
(``sim.retail_reference``); and the paper's case study, a day of five users' profiles
(``sim.profiles``)."""
