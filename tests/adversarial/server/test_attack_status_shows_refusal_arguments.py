"""/api/status and /api/entrust/<address> published the arguments of the contract's
refusals: an entrusted bid refused with InsufficientFunds(spendable, required) told everyone its
quantity x price before the auction closed. A refusal is now given by its name alone."""

import pytest
from market_script import DEPOSIT, entrust_body

from p2pkit.bids import SealedBid


@pytest.fixture
def refused(script, client, keeper):
    """A consumer entrusts a bid worth more than its wallet; the keeper's reveal is refused with
    InsufficientFunds. Returns the consumer and the bid's cost in wei."""
    load = script.join("load")
    load.bid = SealedBid(3_000, 10**16)  # 3 kWh at 0.01 ether per kWh (the price cap): 0.03 ether
    script.send(script.contract.functions.withdraw(DEPOSIT - 2 * 10**16), load.key)  # 0.02 ether left
    delivery_period = script.next_auction()
    script.commit(load)
    assert client.post("/api/entrust", json=entrust_body(script, load, delivery_period)).status_code == 202
    script.to_reveal_window(delivery_period)
    keeper.step()
    return load, load.bid.quantity_wh * load.bid.price // 1000


def test_keeper_status_names_the_refusal_without_its_arguments(client, refused):
    _, cost = refused

    status = client.get("/api/status").get_json()["keeper"]

    assert (status["failures"][-1]["error"], str(cost) in str(status)) == ("InsufficientFunds", False)


def test_entrusted_bid_outcome_names_the_refusal_without_its_arguments(client, refused):
    load, _ = refused

    [outcome] = client.get(f"/api/entrust/{load.address}").get_json()["entrusted"]

    assert (outcome["outcome"], outcome["detail"]) == ("refused", "InsufficientFunds")
