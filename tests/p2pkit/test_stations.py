"""p2pkit.stations on an embedded chain: deployment, each role's calls, the line hint read before
sending, refusals decoded by name, loss rates converted to parts per million, and the rights'
flow through the clients."""

from __future__ import annotations

import pytest

from devnet.embedded import TimeTravel, dev_accounts, start_embedded_chain
from p2pkit.sister.lock import LockTerms, deploy_light_client, deploy_lock, latest_header
from p2pkit.stations import Direction, DispatchClient, FlowTerms, deploy_dispatch, dispatch_at, loss_ppm
from p2pkit.transactions import ContractRefused, send


@pytest.fixture(scope="module")
def roles():
    w3 = start_embedded_chain()
    company, station, user, other = dev_accounts(w3)[:4]
    contract = deploy_dispatch(w3, company)
    return {
        "contract": contract,
        "company": DispatchClient(w3, contract, company),
        "station": DispatchClient(w3, contract, station),
        "user": DispatchClient(w3, contract, user),
        "other": DispatchClient(w3, contract, other),
    }


def test_deployment_takes_the_default_k_and_line_bound(roles):
    contract = roles["contract"]
    assert (contract.functions.unitsPerConnection().call(), contract.functions.maxLinesPerUser().call()) == (10, 32)
    assert dispatch_at(contract.w3, contract.address).functions.company().call() == roles["company"].signer.address


def test_a_station_serves_a_user_through_the_clients(roles):
    company, station, user = roles["company"], roles["station"], roles["user"]
    contract = roles["contract"]
    number = company.register_station(station.signer.address, 40, 100, 1, 1)
    company.set_line(user.signer.address, number, loss_ppm(0.07))
    user.request(Direction.SUPPLY, 2)
    assert contract.functions.connected(user.signer.address).call()
    station.transfer_unit(user.signer.address)
    station.transfer_unit(user.signer.address)
    assert not contract.functions.requestOf(user.signer.address).call().open
    assert contract.functions.stationOf(number).call().stored == 38


def test_a_refusal_is_raised_by_name_with_its_arguments(roles):
    other = roles["other"]
    with pytest.raises(ContractRefused) as refusal:
        other.request(Direction.ABSORB, 3)
    assert (refusal.value.name, refusal.value.arguments) == ("NoStationAvailable", (other.signer.address.lower(), 1, 0))


@pytest.mark.parametrize("rate, ppm", [(0.0, 0), (0.07, 70_000), (0.9999994, 999_999)])
def test_loss_rates_in_parts_per_million(rate, ppm):
    assert loss_ppm(rate) == ppm


@pytest.mark.parametrize("rate", [-0.01, 1.0, 0.9999996])
def test_a_loss_rate_outside_0_to_1_is_refused(rate):
    with pytest.raises(ValueError, match="not in"):
        loss_ppm(rate)


def test_rights_flow_through_the_clients_and_pay_only_confirmed_units():
    """Supply with rights: deposit through the ledger, request, two units claimed, both meters
    read one unit, so one unit is paid to the station and one unit's rights go back to the user."""
    w3 = start_embedded_chain()
    company, station, user, user_meter, station_meter = dev_accounts(w3)[:5]
    light_client = deploy_light_client(w3, company, latest_header(w3), [company.address], 1)
    ledger = deploy_lock(w3, company, light_client.address, 1, LockTerms(total_supply=10**9, reserve=0))
    contract = deploy_dispatch(w3, company, terms=FlowTerms(ledger.address, supply_price=1_000, period_length=900))
    owner, at_station, buyer = (DispatchClient(w3, contract, key) for key in (company, station, user))
    owner.register_station(station.address, 40, 100, 1, 1)
    owner.set_line(user.address, 1, loss_ppm(0.05))
    owner.bind_meter(user.address, user_meter.address, 100_000)
    owner.bind_meter(station.address, station_meter.address, 100_000)
    send(w3, ledger.functions.transfer(user.address, 10_000), company)
    buyer.deposit_rights(ledger, 2_000)
    buyer.request(Direction.SUPPLY, 2)
    at_station.transfer_unit(user.address)
    at_station.transfer_unit(user.address)
    period = contract.functions.periodAt(TimeTravel(w3).now()).call()
    TimeTravel(w3).next_block_at(contract.functions.genesis().call() + (period + 1) * 900)
    for meter in (user_meter, station_meter):
        DispatchClient(w3, contract, meter).submit_reading(period, Direction.SUPPLY, 1_500)
    owner.confirm(user.address, 1, period, Direction.SUPPLY)
    assert (contract.functions.earnedOf(1).call(), buyer.rights()) == (1_000, 1_000)
    buyer.withdraw_rights(1_000)
    assert ledger.functions.balanceOf(user.address).call() == 9_000
    with pytest.raises(ContractRefused) as refusal:
        buyer.confirm(user.address, 1, period, Direction.SUPPLY)
    assert refusal.value.name == "NothingToConfirm"
