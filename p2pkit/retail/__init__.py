"""Retail from Python: the billing clock, plans, bilateral terms and their signatures, the scoring
of plans for a customer, and deploying and enrolling on the retail contracts.

- ``p2pkit.retail.clock``: ``BillingClock``, the one model of BillingCalendar.sol;
- ``p2pkit.retail.plans``: retailers' plans, as the contract stores them and as JSON;
- ``p2pkit.retail.scoring``: the four indices and the score of plans for one customer;
- ``p2pkit.retail.terms``: bilateral terms, their EIP-712 typed data and signatures;
- ``p2pkit.retail.contracts``: deploying RetailPlans and BilateralContracts, enrolling parties.
"""
