"""p2pkit.stations on an embedded chain: deployment, each role's calls, the line hint read before
sending, refusals decoded by name, and loss rates converted to parts per million."""

from __future__ import annotations

import pytest

from devnet.embedded import dev_accounts, start_embedded_chain
from p2pkit.stations import Direction, DispatchClient, deploy_dispatch, dispatch_at, loss_ppm
from p2pkit.transactions import ContractRefused


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
