"""A monthly reading above what the meter can measure in the month (its rated power, as bound in
the market, times the month's length: the contract's ``capacityOf``) is refused by the bridge
before anything is posted, with the numbers in the reason, and the month is not read again. The
meters' line is the real one (a pseudo-terminal to simulated meters) with one frozen register
forged, as a tampered meter or a swapped one would answer."""

from __future__ import annotations

from decimal import Decimal

from test_bridge_monthly_end_to_end import (  # noqa: F401 (fixtures)
    EV_WH_PER_MONTH,
    MONTH_SECONDS,
    RATED_POWER_W,
    WIND_WH_PER_MONTH,
    billing,
    chain_time,
    line,
    make_bridge,
    market,
    meters,
    posted,
    retail,
)

from meter_bridge.data_items import ENERGY_REGISTER_LIMIT, FORWARD_ACTIVE_ENERGY, frozen_at_settlement_day
from meter_bridge.outbox import FAILED, MONTHLY

EV_ADDRESS = "000000000162"
CAPACITY_WH = RATED_POWER_W * MONTH_SECONDS // 3600  # 16,666 Wh in a 600 s month at 100 kW
MONTH_END = frozen_at_settlement_day(FORWARD_ACTIVE_ENERGY, 1)
MONTH_START = frozen_at_settlement_day(FORWARD_ACTIVE_ENERGY, 2)


class ForgedMonthEnd:
    """The line, with the EV meter's register frozen at the month's end replaced by
    ``closing(opening)``: what a forged reply or a swapped meter would say."""

    def __init__(self, line, closing):
        self.line, self.closing = line, closing
        self.frozen_reads = 0  # of the EV meter's month registers

    def read_energy(self, address: str, di: int) -> Decimal:
        if address == EV_ADDRESS and di in (MONTH_END, MONTH_START):
            self.frozen_reads += 1
        if address == EV_ADDRESS and di == MONTH_END:
            return self.closing(self.line.read_energy(address, MONTH_START))
        return self.line.read_energy(address, di)


def forged(closing):
    return lambda line: ForgedMonthEnd(line, closing)


def ev_month(bridge, month: int):
    return bridge.daemon.outbox.monthly("ev", month)


def test_month_above_the_meters_capacity_is_not_posted(make_bridge, retail, wind):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("16.67")))  # 16,670 Wh
    bridge.after_month(1)
    bridge.after_month(1, offset=20)  # the other meter's reading, retried if the node was slow
    assert posted(retail) == [(1, wind.address, WIND_WH_PER_MONTH)]


def test_refusal_names_the_energy_and_the_capacity(make_bridge, retail, ev, caplog):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("16.67")))
    bridge.after_month(1)
    queued = ev_month(bridge, 1)
    reason = f"16670 Wh is more than the meter can measure in month 1 ({CAPACITY_WH} Wh at {RATED_POWER_W} W)"
    assert (queued.kind, queued.state, queued.reason) == (MONTHLY, FAILED, reason + ": not posted")
    assert reason in caplog.text and "(1 refused so far)" in caplog.text
    assert retail.contracts.functions.capacityOf(ev.address, 1).call() == CAPACITY_WH  # the contract's own


def test_refused_month_sends_no_transaction(make_bridge, meters, chain):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("500.00")))
    bridge.after_month(1)
    ev_meter = next(m for m in meters if m.name == "ev")
    assert chain.eth.get_transaction_count(ev_meter.key.address) == 0
    assert bridge.daemon.above_capacity == {"ev": 1}


def test_refused_month_is_not_read_again(make_bridge):
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal("500.00")))
    bridge.after_month(1)
    for offset in (8, 12, 30):
        bridge.after_month(1, offset)
    assert (bridge.daemon.poller.frozen_reads, bridge.daemon.above_capacity["ev"]) == (2, 1)


def test_register_that_went_back_counts_as_a_rollover_and_is_refused(make_bridge, retail, ev):
    """A closing register below the opening one is a register that wrapped round (at 999999.99
    kWh): nearly a million kWh, far above the capacity, as a swapped meter starting at 0 gives."""
    bridge = make_bridge(through=forged(lambda opening: opening - Decimal("1.00")))
    bridge.after_month(1)
    queued = ev_month(bridge, 1)
    assert queued.state == FAILED
    assert queued.energy_wh == int((ENERGY_REGISTER_LIMIT - Decimal("1.00")) * 1000)
    assert [account for _, account, _ in posted(retail) if account == ev.address] == []


def test_month_at_the_capacity_is_posted(make_bridge, retail, ev):
    """The bridge's capacity is the contract's: a month of exactly the capacity is accepted."""
    bridge = make_bridge(through=forged(lambda opening: opening + Decimal(CAPACITY_WH) / 1000))
    bridge.after_month(1)
    bridge.after_month(1, offset=20)
    assert (1, ev.address, CAPACITY_WH) in posted(retail)


def test_next_month_of_a_refused_one_is_posted(make_bridge, retail, ev):
    """Only the forged month is refused: the meter's later months go through (the contract
    asks no continuity across a month it never received)."""
    forgery = {"on": True}

    def closing(opening):
        return opening + (Decimal("500.00") if forgery["on"] else Decimal(EV_WH_PER_MONTH) / 1000)

    bridge = make_bridge(through=forged(closing))
    bridge.after_month(1)
    forgery["on"] = False
    bridge.after_month(2)
    bridge.after_month(2, offset=20)
    assert [month for month, account, _ in posted(retail) if account == ev.address] == [2]
