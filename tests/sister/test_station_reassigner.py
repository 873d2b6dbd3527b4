"""The scheduling chain's re-assignment chore on an embedded chain: a station going offline drops
its users, the reassigner assigns each again (a bounded batch a step), a user no station can
serve waits until one reports being available, and a restarted reassigner does nothing twice."""

from __future__ import annotations

import pytest
from sister_support import TRADING_CHAIN_ID, deploy_test_pair, mine

from devnet.embedded import dev_accounts, embedded_chain, start_embedded_chain
from p2pkit.stations import Direction, DispatchClient, deploy_dispatch, loss_ppm
from relayer.reassigner import Reassigner
from relayer.relayer import Relayer


@pytest.fixture
def grid():
    """Stations P (1) and Q (2); users A and B with 3 % loss to P and 8 % to Q, each supplied by P."""
    w3 = start_embedded_chain()
    company, keeper, p, q, a, b = dev_accounts(w3)[:6]
    contract = deploy_dispatch(w3, company)
    clients = {
        name: DispatchClient(w3, contract, key)
        for name, key in {"company": company, "p": p, "q": q, "a": a, "b": b}.items()
    }
    for station in ("p", "q"):
        clients["company"].register_station(clients[station].signer.address, 40, 100, 1, 1)
    for user in ("a", "b"):
        clients["company"].set_line(clients[user].signer.address, 1, loss_ppm(0.03))
        clients["company"].set_line(clients[user].signer.address, 2, loss_ppm(0.08))
        clients[user].request(Direction.SUPPLY, 5)
    return w3, contract, keeper, clients


def station_of(contract, client) -> int:
    return contract.functions.requestOf(client.signer.address).call()[2]


def test_users_dropped_by_a_station_are_assigned_again_a_batch_a_step(grid):
    w3, contract, keeper, clients = grid
    reassigner = Reassigner(w3, contract, keeper, batch=1)
    assert reassigner.step() == []
    clients["p"].report_state(40, 100, False)
    first = reassigner.step()
    assert [o.outcome for o in first] == ["sent"]
    assert len(reassigner.due) == 1
    second = reassigner.step()
    assert [o.outcome for o in second] == ["sent"]
    assert {o.user for o in first + second} == {clients["a"].signer.address, clients["b"].signer.address}
    assert (station_of(contract, clients["a"]), station_of(contract, clients["b"])) == (2, 2)
    assert reassigner.step() == []


def test_a_user_no_station_can_serve_waits_for_one_to_come_back(grid):
    w3, contract, keeper, clients = grid
    clients["a"].cancel()
    reassigner = Reassigner(w3, contract, keeper)
    clients["q"].report_state(40, 100, False)
    clients["p"].report_state(40, 100, False)
    assert [o.outcome for o in reassigner.step()] == ["waiting"]
    assert reassigner.step() == []  # nothing is tried again until a station reports
    clients["q"].report_state(40, 100, True)
    assert [o.outcome for o in reassigner.step()] == ["sent"]
    assert station_of(contract, clients["b"]) == 2


def test_a_restarted_reassigner_does_nothing_twice(grid):
    w3, contract, keeper, clients = grid
    clients["p"].report_state(40, 100, False)
    assert [o.outcome for o in Reassigner(w3, contract, keeper).step()] == ["sent", "sent"]
    block = w3.eth.block_number
    assert Reassigner(w3, contract, keeper).step() == []
    assert w3.eth.block_number == block


def test_a_user_reassigned_by_someone_else_costs_no_transaction(grid):
    w3, contract, keeper, clients = grid
    reassigner = Reassigner(w3, contract, keeper)
    clients["p"].report_state(40, 100, False)
    clients["a"].reassign(clients["a"].signer.address)
    block = w3.eth.block_number
    assert [(o.user, o.outcome) for o in reassigner.step()] == [(clients["b"].signer.address, "sent")]
    assert w3.eth.block_number == block + 1


def test_the_relayer_re_assigns_dropped_users_after_its_relaying(grid):
    w3, contract, keeper, clients = grid
    trading_w3 = embedded_chain(TRADING_CHAIN_ID)
    operator = dev_accounts(trading_w3)[0]
    pair = deploy_test_pair(trading_w3, w3, operator, [keeper.address])
    relayer = Relayer(
        (pair.trading, pair.scheduling), keeper, poll_interval=0, chores=[Reassigner(w3, contract, keeper).step]
    )
    clients["p"].report_state(40, 100, False)

    actions = relayer.step()

    assert sorted(a.user for a in actions if getattr(a, "user", None) and a.outcome == "sent") == sorted(
        (clients["a"].signer.address, clients["b"].signer.address)
    )
    assert (station_of(contract, clients["a"]), station_of(contract, clients["b"])) == (2, 2)


def test_a_failing_chore_does_not_hold_up_the_relaying(grid):
    w3, _, keeper, _ = grid
    trading_w3 = embedded_chain(TRADING_CHAIN_ID)
    pair = deploy_test_pair(trading_w3, w3, dev_accounts(trading_w3)[0], [keeper.address])

    def node_down() -> list:
        raise ConnectionError("scheduling node down")

    relayer = Relayer((pair.trading, pair.scheduling), keeper, poll_interval=0, chores=[node_down])
    mine(pair.trading, 3)
    (_, best_before, _) = pair.scheduling.light_client.functions.bestHeader().call()

    with pytest.raises(ConnectionError):
        relayer.step()
    assert pair.scheduling.light_client.functions.bestHeader().call()[1] > best_before
