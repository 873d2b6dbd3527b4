"""Registration, operator authorization, meter binding, parameters, wallets and the margin."""

from dataclasses import replace

import ape
import pytest
from conftest import ETHER, MILLI_ETHER, PARAMETERS, assert_conserved

from p2pkit.market import MarketParameters

KWH = 1000
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def test_grid_is_account_one(market, grid):
    record = market.accountOf(grid)
    assert (record.id, record.isGrid, record.name) == (1, True, "public grid")


def test_ids_follow_registration_order(market, wind, ev):
    market.register("wind", True, True, sender=wind)
    receipt = market.register("EV charger", False, True, sender=ev)
    assert receipt.events == [market.Registered(ev, 3, "EV charger", False, True)]
    assert market.accountCount() == 3


def test_query_returns_the_callers_own_record(market, wind):
    market.register("wind", True, True, sender=wind)
    record = market.myAccount(sender=wind)
    assert (record.id, record.name, record.producer, record.green, record.authorized) == (2, "wind", True, True, False)


def test_second_registration_is_refused(market, wind):
    market.register("wind", True, True, sender=wind)
    with ape.reverts(market.AlreadyRegistered, account=wind.address, id=2):
        market.register("wind again", True, False, sender=wind)
    assert market.accountOf(wind).name == "wind"


def test_empty_or_long_name_is_refused(market, wind):
    with ape.reverts(market.InvalidName, length=0):
        market.register("", True, True, sender=wind)
    with ape.reverts(market.InvalidName, length=32):
        market.register("x" * 32, True, True, sender=wind)
    assert market.accountCount() == 1


def test_operator_authorizes_and_revokes(market, operator, wind):
    market.register("wind", True, True, sender=wind)
    receipt = market.setAuthorization(wind, True, sender=operator)
    assert receipt.events == [market.AuthorizationChanged(wind, True)]
    assert market.accountOf(wind).authorized
    market.setAuthorization(wind, False, sender=operator)
    assert not market.accountOf(wind).authorized


def test_only_the_operator_authorizes(market, wind, stranger):
    market.register("wind", True, True, sender=wind)
    with ape.reverts(market.NotOperator, caller=stranger.address):
        market.setAuthorization(wind, True, sender=stranger)
    assert not market.accountOf(wind).authorized


def test_unregistered_account_cannot_be_authorized(market, operator, stranger):
    with ape.reverts(market.NotRegistered, account=stranger.address):
        market.setAuthorization(stranger, True, sender=operator)


def test_grid_cannot_be_authorized_to_bid(market, operator, grid):
    with ape.reverts(market.GridCannotBid):
        market.setAuthorization(grid, True, sender=operator)


@pytest.fixture
def unmetered(enroll):
    """A registered, authorized, funded producer without a meter."""
    return enroll("rooftop PV", True, True, rated_power_w=0)


def test_binding_a_meter_updates_both_records(market, operator, unmetered, stranger):
    receipt = market.bindMeter(unmetered, stranger, 42, 5_000, sender=operator)
    assert receipt.events == [market.MeterBound(unmetered, stranger, 42, 5_000)]
    assert market.meterOf(stranger) == (market.accountOf(unmetered).id, 42, 5_000)
    record = market.accountOf(unmetered)
    assert (record.meter, record.meterNumber, record.ratedPowerW) == (stranger.address, 42, 5_000)


def test_rebinding_replaces_the_old_meter(market, operator, unmetered, stranger, keeper):
    market.bindMeter(unmetered, stranger, 42, 5_000, sender=operator)
    market.bindMeter(unmetered, keeper, 43, 7_000, sender=operator)
    assert market.meterOf(stranger) == (0, 0, 0)
    assert market.meterOf(keeper) == (market.accountOf(unmetered).id, 43, 7_000)
    assert market.accountOf(unmetered).ratedPowerW == 7_000


def test_meter_of_another_prosumer_cannot_be_bound(market, operator, prosumers, unmetered, meter):
    load_id = market.accountOf(prosumers.load).id
    with ape.reverts(market.MeterAlreadyBound, meter=meter.address, prosumerId=load_id):
        market.bindMeter(unmetered, meter, 42, 5_000, sender=operator)
    assert market.accountOf(unmetered).meter == ZERO_ADDRESS
    assert market.meterOf(meter)[0] == load_id


def test_meter_without_number_is_refused(market, operator, unmetered, stranger):
    with ape.reverts(market.InvalidMeter, meter=stranger.address, meterNumber=0):
        market.bindMeter(unmetered, stranger, 0, 5_000, sender=operator)


def test_meter_without_rated_power_is_refused(market, operator, unmetered, stranger):
    with ape.reverts(market.InvalidMeter, meter=stranger.address, meterNumber=42):
        market.bindMeter(unmetered, stranger, 42, 0, sender=operator)
    assert market.meterOf(stranger) == (0, 0, 0)
    assert market.accountOf(unmetered).ratedPowerW == 0


def test_only_the_operator_binds_meters(market, unmetered, stranger):
    with ape.reverts(market.NotOperator, caller=stranger.address):
        market.bindMeter(unmetered, stranger, 42, 5_000, sender=stranger)


def test_prosumer_without_a_meter_cannot_commit(market, unmetered, auction, clock):
    clock.move_to(0, "commit")
    with ape.reverts(market.NoMeterBound, prosumer=unmetered.address):
        auction.commit(unmetered, KWH, MILLI_ETHER)
    record = market.accountOf(unmetered)
    assert (record.openBids, record.lastBidPeriod, record.freeBalance) == (0, 0, record.wallet)


def test_operator_sets_parameters(market, operator):
    changed = replace(PARAMETERS, margin=2 * MILLI_ETHER, price_floor=10**12, price_cap=10**18)
    receipt = market.setParameters(changed.as_abi(), sender=operator)
    (event,) = receipt.events.filter(market.ParametersChanged)
    assert tuple(event.parameters) == tuple(market.parameters()) == changed.as_abi()


@pytest.mark.parametrize(
    "change",
    [
        {"forfeit_bps": 10_001},
        {"price_floor": 0, "reference_price": 1},
        {"price_floor": 2 * 10**15, "price_cap": 10**15, "reference_price": 10**15},
        {"reference_price": 10**12},  # below the floor of 1e13
        {"reference_price": 2 * 10**17},  # above the cap of 1e17
    ],
)
def test_invalid_parameters_are_refused(market, operator, change):
    with ape.reverts(market.InvalidParameters):
        market.setParameters(replace(PARAMETERS, **change).as_abi(), sender=operator)
    assert tuple(market.parameters()) == PARAMETERS.as_abi()


def test_only_the_operator_sets_parameters(market, stranger):
    with ape.reverts(market.NotOperator, caller=stranger.address):
        market.setParameters(PARAMETERS.as_abi(), sender=stranger)


def test_default_price_bounds_cover_the_paper_prices():
    default = MarketParameters()
    # The paper's case study trades between 0.45e-3 and 0.85e-3 ether per kWh.
    assert default.price_floor < 45 * 10**13 and default.price_cap > 85 * 10**13
    assert default.price_floor <= default.reference_price <= default.price_cap


def test_deposit_credits_the_wallet(market, wind):
    market.register("wind", True, True, sender=wind)
    receipt = market.deposit(sender=wind, value=ETHER)
    assert receipt.events == [market.Deposited(wind, ETHER, ETHER)]
    assert market.totals() == (ETHER, 0)
    assert_conserved(market)


def test_deposit_from_an_unregistered_account_is_refused(market, stranger):
    with ape.reverts(market.NotRegistered, account=stranger.address):
        market.deposit(sender=stranger, value=ETHER)
    assert market.totals() == (0, 0)


def test_withdraw_pays_out_the_free_balance(market, prosumers):
    before = prosumers.wind.balance
    receipt = market.withdraw(4 * ETHER, sender=prosumers.wind)
    assert receipt.events == [market.Withdrawn(prosumers.wind, 4 * ETHER, 6 * ETHER)]
    assert prosumers.wind.balance == before + 4 * ETHER - receipt.total_fees_paid
    assert_conserved(market)


def test_withdrawal_above_the_free_balance_is_refused(market, prosumers):
    with ape.reverts(market.InsufficientFreeBalance, requested=10 * ETHER + 1, free=10 * ETHER):
        market.withdraw(10 * ETHER + 1, sender=prosumers.wind)
    assert market.accountOf(prosumers.wind).wallet == 10 * ETHER


def test_zero_withdrawal_is_refused(market, prosumers):
    with ape.reverts(market.ZeroAmount):
        market.withdraw(0, sender=prosumers.wind)


def test_open_bid_locks_the_margin(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    free = 10 * ETHER - PARAMETERS.margin
    assert market.accountOf(prosumers.wind).freeBalance == free
    with ape.reverts(market.InsufficientFreeBalance, requested=10 * ETHER, free=free):
        market.withdraw(10 * ETHER, sender=prosumers.wind)


def test_commit_without_the_margin_is_refused(market, enroll, auction, clock):
    poor = enroll("poor", True, True, deposit=PARAMETERS.margin - 1)
    clock.move_to(0, "commit")
    with ape.reverts(market.InsufficientMargin, wallet=PARAMETERS.margin - 1, margin=PARAMETERS.margin):
        auction.commit(poor, KWH, MILLI_ETHER)


def test_unrevealed_commit_forfeits_part_of_the_margin_to_the_grid(market, prosumers, grid, auction, clock, keeper):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(0, "matching")
    grid_before = market.accountOf(grid).wallet
    receipt = market.forfeitUnrevealed(prosumers.wind, sender=keeper)
    forfeit = PARAMETERS.margin * PARAMETERS.forfeit_bps // 10_000
    assert receipt.events == [market.BidForfeited(1, prosumers.wind, forfeit)]
    assert market.accountOf(grid).wallet == grid_before + forfeit
    record = market.accountOf(prosumers.wind)
    assert (record.wallet, record.openBids) == (10 * ETHER - forfeit, 0)
    assert_conserved(market)


def test_forfeit_is_taken_on_the_next_commit_if_nobody_asked(market, prosumers, auction, clock):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(1, "commit")
    receipt = auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    assert len(receipt.events.filter(market.BidForfeited)) == 1
    assert market.accountOf(prosumers.wind).openBids == 1


def test_revealed_bid_is_not_forfeited(market, prosumers, auction, clock, keeper):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    auction.reveal(prosumers.wind)
    clock.move_to(0, "matching")
    with ape.reverts(market.NothingToForfeit, account=prosumers.wind.address):
        market.forfeitUnrevealed(prosumers.wind, sender=keeper)


def test_commit_cannot_be_forfeited_while_it_may_still_be_revealed(market, prosumers, auction, clock, keeper):
    clock.move_to(0, "commit")
    auction.commit(prosumers.wind, KWH, MILLI_ETHER)
    clock.move_to(0, "reveal")
    with ape.reverts(market.NothingToForfeit, account=prosumers.wind.address):
        market.forfeitUnrevealed(prosumers.wind, sender=keeper)
