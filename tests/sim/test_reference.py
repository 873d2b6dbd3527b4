"""The plain-Python reference of the market rules on the spec's own examples."""

from decimal import Decimal

from sim.reference import Order, clear, settlement, wallet_change

RICH = 10**24


def test_worked_example_of_the_spec():
    orders = [
        Order("S1", True, False, 100, 10),
        Order("S2", True, False, 50, 30),
        Order("B1", False, False, 80, 40),
        Order("B2", False, False, 60, 20),
    ]
    result = clear(orders, {o.owner: RICH for o in orders}, margin=0)
    assert [(t.seller, t.buyer, t.quantity_wh, t.price) for t in result.trades] == [
        ("S1", "B1", 80, 25),
        ("S1", "B2", 20, 15),
    ]


def test_cleared_quantities_sum_the_trades():
    orders = [Order("S", True, True, 500, 5), Order("B", False, True, 300, 9)]
    result = clear(orders, {"S": 0, "B": RICH}, margin=0)
    assert result.cleared_wh == {"S": 300, "B": 300}


def test_paper_balancing_at_14_00():
    # Ordinary load used 0.85 kWh more than cleared at A = 0.757e-3 ether/kWh: pays 0.708e-3.
    balancing, _ = settlement(False, 1020, 300, 1150, 757 * 10**12)
    assert round(Decimal(balancing) / 10**15, 3) == Decimal("-0.708")


def test_paper_balancing_at_18_30():
    # Used 0.08 kWh less than cleared at A = 0.723e-3: the grid pays it 0.052e-3.
    balancing, _ = settlement(False, 1000, 1000, 920, 723 * 10**12)
    assert round(Decimal(balancing) / 10**15, 3) == Decimal("0.052")


def test_paper_reward_and_penalty_at_14_00():
    # E' = 1.02 kWh, E'' = 0.13 kWh, A = 0.757e-3: reward 0.008e-3, penalty 0.005e-3, net +0.003e-3.
    _, reward = settlement(False, 1020, 300, 1150, 757 * 10**12)
    assert round(Decimal(reward) / 10**15, 3) == Decimal("0.003")


def test_payments_are_capped_by_the_payer_wallet():
    assert wallet_change(-50, prosumer_wallet=20, grid_wallet=10**9) == -20
    assert wallet_change(70, prosumer_wallet=0, grid_wallet=30) == 30
