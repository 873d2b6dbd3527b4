"""One owner with a producer and a consumer account trades with itself at an absurd price (asks
1 wei, bids 2^64 - 1 wei per kWh for 10 kWh) to push the period's average price, at which every
honest prosumer's deviations are settled, to ~9e18 wei per kWh; the payment comes straight back.

Bids outside the operator's price bounds are refused at reveal: the average price, and what
the honest prosumers pay, are the same as if the attacker had stayed away."""

from conftest import ETHER, AttackedMarket

from p2pkit.market import MarketParameters

HONEST = {  # name: (producer, green, Wh, wei per kWh, metered Wh)
    "wind": (True, True, 1000, 6 * 10**14, 950),
    "controllable": (True, False, 700, 5 * 10**14, 700),
    "ev": (False, True, 800, 8 * 10**14, 1300),  # uses 500 Wh more than it bought
    "load": (False, False, 500, 7 * 10**14, 480),
}
SELF_TRADE_WH = 10_000


def run_period(market, attack: bool) -> tuple[int, dict, list]:
    """One period of the honest prosumers, with or without the attacker; returns the average
    price, the honest Settled events by name and the refused reveals' errors."""
    people = {name: market.join(name, *spec[:2], deposit=10 * ETHER) for name, spec in HONEST.items()}
    bids = [(people[name], spec[2], spec[3]) for name, spec in HONEST.items()]
    if attack:
        seller = market.join("attacker's seller", producer=True, green=True, deposit=10 * ETHER)
        buyer = market.join(
            "attacker's buyer", producer=False, green=True, deposit=SELF_TRADE_WH * (2**64 - 1) // 1000 + ETHER
        )
        bids += [(seller, SELF_TRADE_WH, 1), (buyer, SELF_TRADE_WH, 2**64 - 1)]
    delivery, refused = market.bid(bids)
    for name, spec in HONEST.items():
        market.post(people[name], delivery, spec[4])
    settled = market.settle(delivery)
    average = market.contract.functions.bookOf(delivery).call().averagePrice
    return average, {name: settled[market.record(p).id] for name, p in people.items()}, [r.name for _, r in refused]


def test_self_trade_at_an_absurd_price_cannot_move_the_average_price(market):
    honest_average, honest, _ = run_period(AttackedMarket(), attack=False)
    average, attacked, refused = run_period(market, attack=True)

    assert refused == ["PriceOutOfBounds", "PriceOutOfBounds"]
    assert average == honest_average
    assert MarketParameters().price_floor <= average <= MarketParameters().price_cap
    assert attacked == honest
    market.assert_conserved()
