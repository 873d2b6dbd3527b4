"""`Schedule`, the one Python model of the market's clock, against the contract's own
`currentPhase` at the times the chain is moved to, and its times of a delivery period."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devnet.embedded import TimeTravel, start_embedded_market
from p2pkit.schedule import Phase, Schedule

PERIOD_LENGTH = 60


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.integers(1, 2 * PERIOD_LENGTH), min_size=1, max_size=12))
def test_schedule_tells_the_period_and_phase_the_contract_is_in(steps):
    market = start_embedded_market(PERIOD_LENGTH)
    schedule = Schedule.of(market.contract)
    time = TimeTravel(market.w3)
    for step in steps:
        time.wait_until(time.now() + step)
        now = market.contract.functions.currentPhase().call()
        expected = schedule.phase_at(time.now())
        assert (now.period, Phase(now.phase), now.secondsLeft) == (
            expected.period,
            expected.phase,
            expected.seconds_left,
        )


def test_schedule_is_read_from_the_contract_as_deployed():
    market = start_embedded_market(PERIOD_LENGTH)
    genesis = market.contract.functions.schedule().call().genesisTime

    assert Schedule.of(market.contract) == Schedule.scaled(PERIOD_LENGTH, genesis_time=genesis)


def test_a_delivery_period_is_bid_for_before_it_and_settled_after_it():
    schedule = Schedule.scaled(900, genesis_time=1_000)

    assert (
        schedule.auction_opens(5),
        schedule.reveal_opens(5),
        schedule.auction_closes(5),
        schedule.delivery_ends(5),
        schedule.settlement_opens(5),
        schedule.readings_close(5),
    ) == (
        1_000 + 4 * 900,
        1_000 + 4 * 900 + 180,
        1_000 + 4 * 900 + 300,
        1_000 + 6 * 900,
        1_000 + 6 * 900 + 600,
        1_000 + 7 * 900,
    )


def test_before_genesis_the_clock_reads_period_0_commit():
    schedule = Schedule.scaled(900, genesis_time=10_000)

    assert schedule.phase_at(5_000) == schedule.phase_at(10_000)


def test_paper_phases_scale_with_the_period():
    assert Schedule.scaled(60).as_abi() == (0, 60, 12, 20, 40, 60)
