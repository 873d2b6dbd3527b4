"""The sister-chain lock's ledger and operator functions under Ape (no proofs here: unlocks are
tested across two chains in tests/sister): deployment settings, transfers, locks, the rate and
the reserve, each refusal with its custom error, and the ledger against a Python reference on
random sequences."""

from __future__ import annotations

import ape
import pytest
import rlp
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SUPPLY = 10**6
RESERVE = 4 * 10**5
REMOTE_CHAIN_ID = 46602
EIP170_LIMIT = 24_576
EMPTY_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
CHECKPOINT = rlp.encode(
    [
        b"\x01" * 32,
        keccak(rlp.encode([])),
        bytes(20),
        bytes(32),
        EMPTY_ROOT,
        EMPTY_ROOT,
        bytes(256),
        0,
        100,
        30_000_000,
        0,
        1_700_000_000,
        b"",
        bytes(32),
        bytes(8),
        7,
    ]
)


@pytest.fixture
def light_client(sister_light_client_contract, operator, stranger):
    return sister_light_client_contract.deploy(CHECKPOINT, [stranger], 1, sender=operator)


def settings_for(light_client, **changes):
    values = {
        "lightClient": light_client.address,
        "remoteChainId": REMOTE_CHAIN_ID,
        "confirmations": 6,
        "totalSupply": SUPPLY,
        "reserve": RESERVE,
        "rateNumerator": 1,
        "rateDenominator": 1,
        **changes,
    }
    return tuple(values.values())


@pytest.fixture
def sister_lock(sister_lock_contract, operator, light_client):
    return sister_lock_contract.deploy(settings_for(light_client), sender=operator)


def test_deployment_splits_the_supply_between_operator_and_reserve(sister_lock, operator):
    assert sister_lock.balanceOf(operator) == SUPPLY - RESERVE
    assert sister_lock.reserve() == RESERVE
    assert sister_lock.totalSupply() == SUPPLY
    assert sister_lock.operator() == operator.address
    assert sister_lock.rate() == (1, 1)


@pytest.mark.parametrize(
    "change, setting",
    [
        ({"remoteChainId": 0}, "remoteChainId"),
        ({"confirmations": 0}, "confirmations"),
        ({"reserve": SUPPLY + 1}, "totalSupply"),
        ({"totalSupply": 2**128, "reserve": 0}, "totalSupply"),
    ],
)
def test_unusable_settings_are_refused(sister_lock_contract, operator, light_client, change, setting):
    with ape.reverts(sister_lock_contract.InvalidSettings, setting=setting):
        sister_lock_contract.deploy(settings_for(light_client, **change), sender=operator)


def test_a_lock_trusting_its_own_chain_or_no_light_client_is_refused(
    sister_lock_contract, chain, operator, light_client, stranger
):
    with ape.reverts(sister_lock_contract.InvalidSettings, setting="remoteChainId"):
        sister_lock_contract.deploy(settings_for(light_client, remoteChainId=chain.chain_id), sender=operator)
    with ape.reverts(sister_lock_contract.InvalidSettings, setting="lightClient"):
        sister_lock_contract.deploy(settings_for(light_client, lightClient=stranger.address), sender=operator)


def test_deployed_code_fits_the_contract_size_limit(sister_lock, light_client):
    assert len(sister_lock.code) < EIP170_LIMIT
    assert len(light_client.code) < EIP170_LIMIT


def test_transfer_moves_value(sister_lock, operator, wind):
    receipt = sister_lock.transfer(wind, 250, sender=operator)
    assert receipt.events == [sister_lock.Transfer(operator, wind, 250)]
    assert sister_lock.balanceOf(wind) == 250


def test_transfer_beyond_the_balance_is_refused(sister_lock, wind, stranger):
    with ape.reverts(sister_lock.InsufficientBalance, account=wind.address, balance=0, needed=1):
        sister_lock.transfer(stranger, 1, sender=wind)


def test_transfer_to_the_zero_address_is_refused(sister_lock, operator):
    with ape.reverts(sister_lock.ZeroAddress):
        sister_lock.transfer("0x" + "00" * 20, 1, sender=operator)


def test_lock_takes_value_into_the_reserve_and_names_the_other_chain(sister_lock, chain, operator, wind):
    sister_lock.transfer(wind, 300, sender=operator)
    receipt = sister_lock.lock(120, operator, sender=wind)
    lock_id = keccak(encode(["uint256", "address", "uint64"], [chain.chain_id, sister_lock.address, 1]))
    assert receipt.events == [sister_lock.Locked(lock_id, wind, operator, 120, REMOTE_CHAIN_ID)]
    assert (sister_lock.balanceOf(wind), sister_lock.reserve(), sister_lock.lockCount()) == (180, RESERVE + 120, 1)


def test_a_zero_lock_is_refused(sister_lock, operator):
    with ape.reverts(sister_lock.ZeroAmount):
        sister_lock.lock(0, operator, sender=operator)


def test_a_lock_for_no_recipient_is_refused(sister_lock, operator):
    with ape.reverts(sister_lock.ZeroAddress):
        sister_lock.lock(1, "0x" + "00" * 20, sender=operator)


def test_a_lock_beyond_the_balance_is_refused(sister_lock, wind):
    with ape.reverts(sister_lock.InsufficientBalance, account=wind.address, balance=0, needed=5):
        sister_lock.lock(5, wind, sender=wind)
    assert sister_lock.reserve() == RESERVE


def test_the_operator_sets_the_rate(sister_lock, operator):
    receipt = sister_lock.setRate(3, 2, sender=operator)
    assert receipt.events == [sister_lock.RateSet(3, 2)]
    assert sister_lock.convert(101) == 151  # floor(101 x 3 / 2)


def test_a_rate_with_a_zero_part_is_refused(sister_lock, operator):
    with ape.reverts(sister_lock.InvalidRate, numerator=0, denominator=1):
        sister_lock.setRate(0, 1, sender=operator)
    with ape.reverts(sister_lock.InvalidRate, numerator=1, denominator=0):
        sister_lock.setRate(1, 0, sender=operator)


@pytest.mark.parametrize(
    "call",
    [
        lambda lock, who: lock.setRate(2, 1, sender=who),
        lambda lock, who: lock.fundReserve(1, sender=who),
        lambda lock, who: lock.withdrawReserve(1, sender=who),
        lambda lock, who: lock.setRemoteLock(who, sender=who),
    ],
)
def test_only_the_operator_manages_the_lock(sister_lock, stranger, call):
    with ape.reverts(sister_lock.NotOperator, caller=stranger.address):
        call(sister_lock, stranger)


def test_the_operator_funds_and_withdraws_the_reserve(sister_lock, operator):
    assert sister_lock.fundReserve(1000, sender=operator).events == [sister_lock.ReserveChanged(1000, RESERVE + 1000)]
    assert sister_lock.withdrawReserve(1500, sender=operator).events == [
        sister_lock.ReserveChanged(-1500, RESERVE - 500)
    ]
    assert sister_lock.balanceOf(operator) == SUPPLY - RESERVE + 500
    with ape.reverts(sister_lock.InsufficientReserve, reserve=RESERVE - 500, needed=RESERVE):
        sister_lock.withdrawReserve(RESERVE, sender=operator)


def test_the_remote_lock_is_named_once(sister_lock, operator, wind, stranger):
    assert sister_lock.setRemoteLock(wind, sender=operator).events == [sister_lock.RemoteLockSet(wind)]
    with ape.reverts(sister_lock.RemoteLockAlreadySet, current=wind.address):
        sister_lock.setRemoteLock(stranger, sender=operator)
    with ape.reverts(sister_lock.ZeroAddress):
        sister_lock.setRemoteLock("0x" + "00" * 20, sender=operator)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(0, 2**128 - 1), numerator=st.integers(1, 2**128 - 1), denominator=st.integers(1, 2**128 - 1))
def test_conversion_equals_the_reference_over_the_whole_range(sister_lock, operator, amount, numerator, denominator):
    sister_lock.setRate(numerator, denominator, sender=operator)
    assert sister_lock.convert(amount) == amount * numerator // denominator


operations = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "lock", "fund", "withdraw"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(0, 400_000),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_the_ledger_equals_the_reference_and_keeps_its_supply(
    sister_lock_contract, operator, light_client, wind, ev, load, steps
):
    ledger = sister_lock_contract.deploy(settings_for(light_client), sender=operator)
    people = [operator, wind, ev, load]
    balances = {person.address: 0 for person in people}
    balances[operator.address] = SUPPLY - RESERVE
    reserve = RESERVE
    for kind, who, to, amount in steps:
        sender, receiver = people[who], people[to]
        if kind in ("fund", "withdraw"):
            sender = operator
        available = reserve if kind == "withdraw" else balances[sender.address]
        if amount > available or (kind == "lock" and amount == 0):
            with ape.reverts():
                _apply(ledger, kind, sender, receiver, amount)
            continue
        _apply(ledger, kind, sender, receiver, amount)
        if kind == "transfer":
            balances[sender.address] -= amount
            balances[receiver.address] += amount
        elif kind in ("lock", "fund"):
            balances[sender.address] -= amount
            reserve += amount
        else:
            balances[sender.address] += amount
            reserve -= amount
        assert sum(ledger.balanceOf(p) for p in people) + ledger.reserve() == SUPPLY
    assert {p.address: ledger.balanceOf(p) for p in people} == balances
    assert ledger.reserve() == reserve


def _apply(ledger, kind, sender, receiver, amount):
    if kind == "transfer":
        return ledger.transfer(receiver, amount, sender=sender)
    if kind == "lock":
        return ledger.lock(amount, receiver, sender=sender)
    if kind == "fund":
        return ledger.fundReserve(amount, sender=sender)
    return ledger.withdrawReserve(amount, sender=sender)
