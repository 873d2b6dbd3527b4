"""The relayer between two chains, stepped by the test: whole transfers both ways (between anvil
nodes, and between two embedded chains), the wait for confirmations, restarts, several relayers,
m-of-n vouching, and a fork of the source chain it must follow without unlocking the lock that
lost."""

from __future__ import annotations

import pytest
from sister_support import (
    CONFIRMATIONS,
    SCHEDULING_CHAIN_ID,
    TRADING_CHAIN_ID,
    USER_FUNDS,
    balance,
    deploy_test_pair,
    lock,
    mine,
    revert,
    snapshot,
)

from devnet.embedded import dev_accounts as embedded_dev_accounts
from devnet.embedded import embedded_chain
from p2pkit.transactions import send
from relayer.relayer import RelayAction, Relayer


def new_relayer(pair, account) -> Relayer:
    return Relayer((pair.trading, pair.scheduling), account, header_batch=16, poll_interval=0)


def step_until(relayer: Relayer, done, steps: int = 20) -> list[RelayAction]:
    actions = []
    for _ in range(steps):
        actions += relayer.step()
        if done():
            return actions
    raise AssertionError(f"not done after {steps} steps: {[a.outcome + ' ' + a.kind for a in actions]}")


def unlocked(chain, event) -> bool:
    return chain.lock.functions.isUnlocked(event.lock_id).call()


def unlocks_of(chain, event) -> int:
    logs = chain.lock.events.Unlocked.get_logs(from_block=0, argument_filters={"lockId": event.lock_id})
    return len(logs)


@pytest.fixture
def relay(pair, relayer):
    return new_relayer(pair, relayer)


def test_a_transfer_goes_through_in_both_directions(pair, relay, user):
    to_scheduling = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS)
    step_until(relay, lambda: unlocked(pair.scheduling, to_scheduling))
    assert balance(pair.scheduling, user.address) == USER_FUNDS + 100
    to_trading = lock(pair.scheduling, user, 40)
    mine(pair.scheduling, CONFIRMATIONS)
    step_until(relay, lambda: unlocked(pair.trading, to_trading))
    assert balance(pair.trading, user.address) == USER_FUNDS - 100 + 40
    assert balance(pair.scheduling, user.address) == USER_FUNDS + 100 - 40
    assert (unlocks_of(pair.scheduling, to_scheduling), unlocks_of(pair.trading, to_trading)) == (1, 1)


def test_a_transfer_goes_through_between_two_embedded_chains():
    trading_w3, scheduling_w3 = embedded_chain(TRADING_CHAIN_ID), embedded_chain(SCHEDULING_CHAIN_ID)
    operator, relayer, user = embedded_dev_accounts(trading_w3)[:3]
    pair = deploy_test_pair(trading_w3, scheduling_w3, operator, [relayer.address])
    send(trading_w3, pair.trading.lock.functions.transfer(user.address, 100), operator)
    event = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS)
    step_until(new_relayer(pair, relayer), lambda: unlocked(pair.scheduling, event))
    assert balance(pair.scheduling, user.address) == 100
    assert balance(pair.trading, user.address) == 0


def test_the_relayer_waits_for_the_confirmations(pair, relay, user):
    event = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS - 2)
    actions = relay.step()
    assert [a.kind for a in actions if a.outcome == RelayAction.SENT] == ["headers", "headers"]
    assert not unlocked(pair.scheduling, event)
    mine(pair.trading, 2)
    actions = relay.step()
    assert [a.lock_id for a in actions if a.kind == "unlock"] == ["0x" + event.lock_id.hex()]
    assert unlocked(pair.scheduling, event)
    reported = relay.status()["actions"]
    assert reported[-1]["kind"] == "unlock" and reported[-1]["outcome"] == RelayAction.SENT


def test_a_relayer_restarted_after_the_headers_finishes_the_transfer_once(pair, relayer, user):
    event = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS)
    first = new_relayer(pair, relayer)
    first.relay_headers(pair.trading, pair.scheduling)  # then it stops
    restarted = new_relayer(pair, relayer)
    step_until(restarted, lambda: unlocked(pair.scheduling, event))
    for _ in range(3):
        actions = new_relayer(pair, relayer).step()
        assert not [a for a in actions if a.kind == "unlock"]
    assert unlocks_of(pair.scheduling, event) == 1
    assert balance(pair.scheduling, user.address) == USER_FUNDS + 100


def test_an_unlock_someone_else_sent_is_already_done(pair, relay, relayer, other_relayers, user):
    event = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS)
    step_until(relay, lambda: unlocked(pair.scheduling, event))
    late = new_relayer(pair, other_relayers[0])  # saw the lock before the unlock was mined
    action = late.unlock(pair.trading, pair.scheduling, event)
    assert (action.outcome, action.detail) == (RelayAction.ALREADY_DONE, f"AlreadyUnlocked({event.lock_id!r})")
    assert balance(pair.scheduling, user.address) == USER_FUNDS + 100


def test_two_relayers_stepping_in_turn_unlock_each_lock_once(
    trading_w3, scheduling_w3, operator, relayer, other_relayers, user
):
    pair = deploy_test_pair(trading_w3, scheduling_w3, operator, [relayer.address, other_relayers[0].address])
    send(trading_w3, pair.trading.lock.functions.transfer(user.address, 300), operator)
    relayers = [new_relayer(pair, relayer), new_relayer(pair, other_relayers[0])]
    events = [lock(pair.trading, user, amount) for amount in (100, 200)]
    mine(pair.trading, CONFIRMATIONS)
    for turn in range(8):
        relayers[turn % 2].step()
    assert [unlocks_of(pair.scheduling, event) for event in events] == [1, 1]
    assert balance(pair.scheduling, user.address) == 300


def test_with_two_vouches_required_one_relayer_alone_unlocks_nothing(
    trading_w3, scheduling_w3, operator, relayer, other_relayers, user
):
    pair = deploy_test_pair(trading_w3, scheduling_w3, operator, [relayer.address, other_relayers[0].address], 2)
    send(trading_w3, pair.trading.lock.functions.transfer(user.address, 100), operator)
    event = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS)
    alone = new_relayer(pair, relayer)
    alone.step()
    alone.step()
    assert not unlocked(pair.scheduling, event)
    assert pair.scheduling.light_client.functions.bestHeader().call().hash == (
        pair.scheduling.light_client.functions.checkpoint().call()
    )
    second = new_relayer(pair, other_relayers[0])
    for _ in range(4):
        second.step()
        if unlocked(pair.scheduling, event):
            break
        alone.step()
    assert unlocked(pair.scheduling, event)


def test_the_relayer_follows_a_fork_and_never_unlocks_the_lock_that_lost(pair, relay, user):
    fork_point = snapshot(pair.trading.w3)
    lost = lock(pair.trading, user, 100)
    mine(pair.trading, CONFIRMATIONS - 3)
    relay.step()  # the branch with the lock reaches the light client
    assert pair.scheduling.light_client.functions.headerOf(lost.block_hash).call().held
    revert(pair.trading.w3, fork_point)
    mine(pair.trading, CONFIRMATIONS + 4)  # a longer branch without the lock
    actions = []
    for _ in range(6):
        actions += relay.step()
        mine(pair.trading, 1)
    client = pair.scheduling.light_client
    _, best_number, _ = client.functions.bestHeader().call()
    assert client.functions.canonicalHashAt(lost.block_number).call() != lost.block_hash
    assert best_number - lost.block_number > CONFIRMATIONS
    assert not unlocked(pair.scheduling, lost)
    assert not [a for a in actions if a.kind == "unlock"]
    assert balance(pair.scheduling, user.address) == USER_FUNDS
    assert balance(pair.trading, user.address) == USER_FUNDS  # the lock is gone with its branch
