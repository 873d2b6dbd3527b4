"""What the flow tests share: the rights ledger (a SisterLock, its light client a checkpoint only:
no unlocks here; those are tested across two chains in tests/sister) and the dispatch's terms."""

from __future__ import annotations

from test_sister_lock_ledger import CHECKPOINT

RIGHTS_SUPPLY = 10**9
RIGHTS_RESERVE = 10**8
SUPPLY_PRICE = 1_000
ABSORB_PRICE = 700
PERIOD = 900
GRACE = 300
RATED_POWER_W = 100_000  # 25,000 Wh a period at most


def deploy_ledger(sister_light_client_contract, sister_lock_contract, company, relayer):
    """The scheduling chain's rights ledger; the company holds all rights outside the reserve."""
    light_client = sister_light_client_contract.deploy(CHECKPOINT, [relayer], 1, sender=company)
    settings = (light_client.address, 46601, 6, RIGHTS_SUPPLY, RIGHTS_RESERVE, 1, 1)
    return sister_lock_contract.deploy(settings, sender=company)


def terms(ledger, supply_price=SUPPLY_PRICE, absorb_price=ABSORB_PRICE):
    return (ledger.address, supply_price, absorb_price, PERIOD, GRACE)


def wait_until(chain, timestamp: int) -> None:
    """The next block at `timestamp` (or now, if that has passed)."""
    chain.pending_timestamp = max(timestamp, chain.pending_timestamp)


def readings_open(dispatch, period: int) -> int:
    return dispatch.genesis() + (period + 1) * PERIOD
