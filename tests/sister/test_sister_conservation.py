"""Conservation across the two chains, over random sequences of locks in both directions, relayer
steps (two relayers), blocks, relayer restarts and replayed unlocks.

After every step:
- on each chain, balances + reserve = the fixed supply;
- across the chains, in scheduling units (the rate is 2 scheduling per trading unit, and 1/2
  back, rounded down): 2 x circulating(trading) + circulating(scheduling) + what is in flight
  (each lock not yet unlocked, counted once at its exact value) + what rounding kept in the
  reserves (from the Unlocked events) is what it was at the start;
- every account's balance on both chains equals a plain Python reference of the same rules;
- no lock is unlocked twice.
At the end the relayers carry every lock over: nothing is lost.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sister_support import CONFIRMATIONS, SUPPLY, deploy_test_pair, lock, mine, revert, snapshot

from p2pkit.transactions import ContractRefused, send
from relayer.relayer import RelayAction, Relayer

TRADING_RATE = Fraction(1, 2)  # trading units released per scheduling unit locked
SCHEDULING_RATE = Fraction(2)  # scheduling units released per trading unit locked
STARTING_FUNDS = 500


@pytest.mark.slow
def test_value_is_conserved_across_both_chains(
    trading_w3, scheduling_w3, operator, relayer, other_relayers, user, stranger
):
    pair = deploy_test_pair(
        trading_w3,
        scheduling_w3,
        operator,
        [relayer.address, other_relayers[0].address],
        trading_rate=TRADING_RATE,
        scheduling_rate=SCHEDULING_RATE,
    )
    holders = [operator, user, stranger]
    for chain in (pair.trading, pair.scheduling):
        for holder in (user, stranger):
            send(chain.w3, chain.lock.functions.transfer(holder.address, STARTING_FUNDS), operator)
    start = {chain.name: snapshot(chain.w3) for chain in (pair.trading, pair.scheduling)}
    chains = {"trading": pair.trading, "scheduling": pair.scheduling}
    rates = {"trading": TRADING_RATE, "scheduling": SCHEDULING_RATE}  # applied on arrival there
    relayer_accounts = [relayer, other_relayers[0]]

    class Transfers(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            for name, point in start.items():
                revert(chains[name].w3, point)
                start[name] = snapshot(chains[name].w3)  # a node forgets a point it went back to
            self.relayers = [
                Relayer((pair.trading, pair.scheduling), account, poll_interval=0) for account in relayer_accounts
            ]
            self.expected = {
                (name, h.address): chains[name].lock.functions.balanceOf(h.address).call()
                for name in chains
                for h in holders
            }
            self.locks = []  # (source name, LockEvent)
            self.credited = set()
            self.initial_value = self.common_value()

        def destination(self, name):
            return "scheduling" if name == "trading" else "trading"

        def common_value(self) -> Fraction:
            """Value outside the locks, in flight and kept by rounding, in scheduling units."""
            scale = {"trading": SCHEDULING_RATE, "scheduling": Fraction(1)}
            value = Fraction(0)
            for name, chain in chains.items():
                circulating = SUPPLY - chain.lock.functions.reserve().call()
                value += circulating * scale[name]
                for log in chain.lock.events.Unlocked.get_logs(from_block=0):
                    exact = log["args"]["amount"] * rates[name]
                    value += (exact - log["args"]["released"]) * scale[name]
            for source, event in self.locks:
                if not chains[self.destination(source)].lock.functions.isUnlocked(event.lock_id).call():
                    value += event.amount * scale[source]
            return value

        @rule(
            source=st.sampled_from(["trading", "scheduling"]),
            sender=st.sampled_from([1, 2]),
            recipient=st.sampled_from([1, 2]),
            amount=st.integers(1, 300),
        )
        def lock_value(self, source, sender, recipient, amount):
            chain, account = chains[source], holders[sender]
            if amount > self.expected[(source, account.address)]:
                try:
                    send(chain.w3, chain.lock.functions.lock(amount, holders[recipient].address), account)
                except ContractRefused as refused:
                    assert refused.name == "InsufficientBalance"
                    return
                raise AssertionError("a lock beyond the balance was accepted")
            event = lock(chain, account, amount, holders[recipient].address)
            self.expected[(source, account.address)] -= amount
            self.locks.append((source, event))

        @rule(index=st.sampled_from([0, 1]))
        def relay(self, index):
            self.relayers[index].step()
            self.credit_unlocked()

        @rule(name=st.sampled_from(["trading", "scheduling"]), blocks=st.integers(1, CONFIRMATIONS))
        def mine_blocks(self, name, blocks):
            mine(chains[name], blocks)

        @rule(index=st.sampled_from([0, 1]))
        def restart(self, index):
            self.relayers[index] = Relayer((pair.trading, pair.scheduling), relayer_accounts[index], poll_interval=0)

        @precondition(lambda self: bool(self.credited))
        @rule(data=st.data())
        def replay_an_unlock(self, data):
            source, event = data.draw(
                st.sampled_from([entry for entry in self.locks if entry[1].lock_id in self.credited])
            )
            action = self.relayers[0].unlock(chains[source], chains[self.destination(source)], event)
            assert action.outcome == RelayAction.ALREADY_DONE

        def credit_unlocked(self):
            for source, event in self.locks:
                destination = self.destination(source)
                if (
                    event.lock_id not in self.credited
                    and chains[destination].lock.functions.isUnlocked(event.lock_id).call()
                ):
                    self.credited.add(event.lock_id)
                    self.expected[(destination, event.recipient)] += int(event.amount * rates[destination])

        @invariant()
        def each_chain_keeps_its_supply(self):
            for chain in chains.values():
                held = sum(chain.lock.functions.balanceOf(h.address).call() for h in holders)
                assert held + chain.lock.functions.reserve().call() == SUPPLY

        @invariant()
        def value_across_the_chains_is_constant(self):
            assert self.common_value() == self.initial_value

        @invariant()
        def balances_equal_the_reference(self):
            actual = {
                (name, h.address): chains[name].lock.functions.balanceOf(h.address).call()
                for name in chains
                for h in holders
            }
            assert actual == self.expected

        @invariant()
        def no_lock_is_unlocked_twice(self):
            for chain in chains.values():
                ids = [log["args"]["lockId"] for log in chain.lock.events.Unlocked.get_logs(from_block=0)]
                assert len(ids) == len(set(ids))

        def teardown(self):
            for _ in range(6):
                if len(self.credited) == len(self.locks):
                    break
                for chain in chains.values():
                    mine(chain, CONFIRMATIONS)
                self.relayers[0].step()
                self.credit_unlocked()
            assert len(self.credited) == len(self.locks), "a lock was never carried over"
            self.balances_equal_the_reference()
            self.value_across_the_chains_is_constant()

    run_state_machine_as_test(
        Transfers,
        settings=settings(
            max_examples=10,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
