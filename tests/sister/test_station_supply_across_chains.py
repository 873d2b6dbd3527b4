"""Supply across the two chains (two anvils): the user locks tokens on the trading chain, the
lock is proven on the scheduling chain and releases rights, the user pays them into the dispatch
and is supplied; the station is paid only the units both meters confirm and pays the company
back. Before its lock is proven the user has nothing to pay with. Value is conserved on each
chain and across both."""

from __future__ import annotations

import pytest
from sister_support import CONFIRMATIONS, RESERVE, SUPPLY, USER_FUNDS, balance, lock, mine, relay_headers

from p2pkit.sister.relay import unlock_proof
from p2pkit.stations import Direction, DispatchClient, FlowTerms, deploy_dispatch, loss_ppm
from p2pkit.transactions import ContractRefused, send

PRICE = 100  # rights per unit
PERIOD = 900


@pytest.fixture
def dispatch(pair, operator, dev_accounts):
    scheduling = pair.scheduling
    contract = deploy_dispatch(scheduling.w3, operator, terms=FlowTerms(scheduling.lock.address, PRICE, 0, PERIOD, 300))
    station, user_meter, station_meter = dev_accounts[6:9]
    company = DispatchClient(scheduling.w3, contract, operator)
    company.register_station(station.address, 40, 100, 1, 1)
    return contract, company, station, user_meter, station_meter


def test_rights_released_by_a_proven_lock_pay_for_supply(pair, dispatch, operator, user, relayer):
    contract, company, station, user_meter, station_meter = dispatch
    w3 = pair.scheduling.w3
    buyer = DispatchClient(w3, contract, user)
    company.set_line(user.address, 1, loss_ppm(0.04))
    company.bind_meter(user.address, user_meter.address, 100_000)
    company.bind_meter(station.address, station_meter.address, 100_000)
    rights_before = balance(pair.scheduling, user.address)

    event = lock(pair.trading, user, 3 * PRICE)  # S1-S2: tokens locked for the user's own rights
    with pytest.raises(ContractRefused) as refusal:  # nothing released yet: nothing to pay with
        buyer.deposit_rights(pair.scheduling.lock, rights_before + 1)
    assert refusal.value.name == "InsufficientBalance"
    mine(pair.trading, CONFIRMATIONS)
    relay_headers(pair.trading, pair.scheduling, relayer)
    send(w3, pair.scheduling.lock.functions.unlock(*unlock_proof(pair.trading.w3, event).as_args()), relayer)
    assert balance(pair.scheduling, user.address) == rights_before + 3 * PRICE

    buyer.deposit_rights(pair.scheduling.lock, 3 * PRICE)  # S3-S4
    buyer.request(Direction.SUPPLY, 3)
    at_station = DispatchClient(w3, contract, station)
    for _ in range(3):  # S5-S6
        at_station.transfer_unit(user.address)
    period = contract.functions.periodAt(w3.eth.get_block("latest")["timestamp"]).call()
    w3.provider.make_request("evm_increaseTime", [PERIOD])
    w3.provider.make_request("evm_mine", [])
    DispatchClient(w3, contract, user_meter).submit_reading(period, Direction.SUPPLY, 2_000)
    DispatchClient(w3, contract, station_meter).submit_reading(period, Direction.SUPPLY, 3_000)
    company.confirm(user.address, 1, period, Direction.SUPPLY)
    company.settle(1)  # S7: the station's rights for the 2 confirmed units go to the company
    assert (company.rights(), buyer.rights()) == (2 * PRICE, PRICE)
    buyer.withdraw_rights(PRICE)
    company.withdraw_rights(2 * PRICE)

    assert balance(pair.scheduling, user.address) == rights_before + PRICE
    assert pair.scheduling.lock.functions.balanceOf(contract.address).call() == 0
    assert balance(pair.trading, user.address) == USER_FUNDS - 3 * PRICE
    for chain in (pair.trading, pair.scheduling):
        holders = {operator.address, user.address, relayer.address, contract.address}
        in_accounts = sum(balance(chain, holder) for holder in holders)
        assert in_accounts + chain.lock.functions.reserve().call() == SUPPLY
    reserves = sum(chain.lock.functions.reserve().call() for chain in (pair.trading, pair.scheduling))
    assert reserves == 2 * RESERVE
