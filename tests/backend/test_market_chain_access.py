"""Reaching the market: the embedded chain's block ticker, the event log, a market on a node
found from its deployment file, and the lock its users take turns with."""

from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account
from web3.exceptions import TransactionNotFound

from backend.config import ConfigError
from backend.upstreams import MarketNotDeployed, open_deployed_market
from devnet.embedded import BlockTicker
from p2pkit.events import MarketEventLog
from p2pkit.market import Deployment, TurnLock


def pending_time(market) -> int:
    return market.w3.provider.ethereum_tester.get_block_by_number("pending")["timestamp"]


class StoppedClock:
    """A wall clock for the ticker that reads what the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def interval_mined(market):
    """The market's chain under a ticker whose wall clock stands before the pending block's
    time until the test moves it: transactions wait in the pending block."""
    clock = StoppedClock(pending_time(market) - 1)
    ticker = BlockTicker(market.w3, 3600.0, wall_clock=clock)
    ticker.start()
    yield ticker, clock
    ticker.stop()


def send_ether(w3, sender, nonce: int) -> bytes:
    tx = {"to": sender.address, "value": 1, "gas": 21_000, "gasPrice": w3.eth.gas_price, "nonce": nonce}
    return w3.eth.send_raw_transaction(sender.sign_transaction({**tx, "chainId": w3.eth.chain_id}).raw_transaction)


def test_ticker_mines_a_block_once_the_wall_clock_reaches_the_next_blocks_time(market):
    ticker = BlockTicker(market.w3, 1.0, wall_clock=lambda: pending_time(market))
    before = market.w3.eth.block_number

    assert (ticker.tick(), market.w3.eth.block_number) == (True, before + 1)


def test_ticker_does_not_run_the_chain_ahead_of_the_wall_clock(market):
    ticker = BlockTicker(market.w3, 1.0, wall_clock=lambda: pending_time(market) - 1)
    before = market.w3.eth.block_number

    assert (ticker.tick(), market.w3.eth.block_number) == (False, before)


def test_transactions_wait_in_the_pending_block_counted_in_its_nonces(market, interval_mined):
    w3, operator = market.w3, market.operator
    mined, before = w3.eth.block_number, w3.eth.get_transaction_count(operator.address)
    hashes = [send_ether(w3, operator, before + n) for n in range(3)]

    assert w3.eth.block_number == mined
    assert w3.eth.get_transaction_count(operator.address, "pending") == before + 3
    assert w3.eth.get_transaction_count(operator.address, "latest") == before
    for tx_hash in hashes:
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction_receipt(tx_hash)


def test_one_block_seals_every_transaction_of_its_interval(market, interval_mined):
    ticker, clock = interval_mined
    w3, operator = market.w3, market.operator
    nonce = w3.eth.get_transaction_count(operator.address)
    hashes = [send_ether(w3, operator, nonce + n) for n in range(5)]
    clock.now = pending_time(market)

    assert ticker.tick()
    receipts = [w3.eth.get_transaction_receipt(tx_hash) for tx_hash in hashes]
    assert {(r["status"], r["blockNumber"]) for r in receipts} == {(1, w3.eth.block_number)}


def test_a_second_transaction_is_estimated_while_the_first_waits(market, interval_mined):
    w3, grid, contract = market.w3, market.grid_key, market.contract
    first = w3.eth.get_transaction_count(grid.address, "pending")
    send_ether(w3, grid, first)
    second = contract.functions.deposit().build_transaction({"from": grid.address, "value": 1, "nonce": first + 1})

    assert second["gas"] > 21_000


def test_stopping_the_ticker_seals_what_waits_and_goes_back_to_a_block_per_transaction(market):
    w3, operator = market.w3, market.operator
    ticker = BlockTicker(w3, 3600.0, wall_clock=StoppedClock(0))
    ticker.start()
    waiting = send_ether(w3, operator, w3.eth.get_transaction_count(operator.address, "pending"))
    ticker.stop()
    sealed_at_once = send_ether(w3, operator, w3.eth.get_transaction_count(operator.address, "pending"))

    assert w3.eth.get_transaction_receipt(waiting)["status"] == 1
    assert w3.eth.get_transaction_receipt(sealed_at_once)["blockNumber"] == w3.eth.block_number


def event_keys(log: MarketEventLog, upto: int) -> list[tuple]:
    return [(event.name, event.block, event.log_index) for event in log.events(upto=upto)]


def test_events_read_in_small_ranges_are_those_read_at_once(market, wind, ev):
    latest = market.w3.eth.block_number
    in_one_range, in_ranges_of_two = MarketEventLog(market, 10_000), MarketEventLog(market, 2)
    in_one_range.sync(latest)
    in_ranges_of_two.sync(latest)

    assert event_keys(in_ranges_of_two, latest) == event_keys(in_one_range, latest)


def test_events_are_indexed_by_delivery_period(script, market, wind, ev):
    delivery_period = script.next_auction()
    script.commit(wind)
    log = MarketEventLog(market, 10_000)
    log.sync(market.w3.eth.block_number)

    events = log.events(upto=market.w3.eth.block_number, delivery_period=delivery_period)

    assert [(event.name, event.args["account"]) for event in events] == [("BidCommitted", wind.address)]


def test_events_of_blocks_that_left_the_chain_are_forgotten(script, market, wind):
    tester = market.w3.provider.ethereum_tester
    before_deposit = tester.take_snapshot()
    script.send(script.contract.functions.deposit(), wind.key, value=5)
    log = MarketEventLog(market, 10_000)
    log.sync(market.w3.eth.block_number)
    tester.revert_to_snapshot(before_deposit)  # the deposit's block is replaced by another one
    script.send(script.contract.functions.deposit(), wind.key, value=7)

    log.sync(market.w3.eth.block_number)

    deposits = log.events("Deposited", upto=market.w3.eth.block_number)
    assert [event.args["amount"] for event in deposits if event.args["account"] == wind.address][-1:] == [7]


def deployment_file(directory, operator: str):
    path = directory / "deployment.json"
    Deployment(chain_id=1, market="0x" + "11" * 20, operator=operator, grid="0x" + "22" * 20, block=0).save(path)
    return path


def test_market_on_a_node_is_found_from_its_deployment_file(tmp_path):
    operator = Account.create()

    market = open_deployed_market("http://127.0.0.1:8545", deployment_file(tmp_path, operator.address), 1.0, operator)

    assert (market.contract.address, market.operator) == ("0x" + "11" * 20, operator)


def test_market_without_a_deployment_file_is_not_deployed(tmp_path):
    with pytest.raises(MarketNotDeployed, match=r"deployment\.json"):
        open_deployed_market("http://127.0.0.1:8545", tmp_path / "deployment.json", 1.0, None)


def test_deployment_file_that_is_not_one_is_a_setting_error(tmp_path):
    path = tmp_path / "deployment.json"
    path.write_text("{}")

    with pytest.raises(ConfigError, match="not a deployment file"):
        open_deployed_market("http://127.0.0.1:8545", path, 1.0, None)


def test_key_that_is_not_the_markets_operator_is_refused(tmp_path):
    path = deployment_file(tmp_path, Account.create().address)

    with pytest.raises(ConfigError, match="operator"):
        open_deployed_market("http://127.0.0.1:8545", path, 1.0, Account.create())


def test_turn_lock_is_given_to_its_waiters_in_the_order_they_asked():
    lock, order = TurnLock(), []
    lock.acquire()
    waiters = [threading.Thread(target=lambda n=n: (lock.acquire(), order.append(n), lock.release())) for n in range(5)]
    for queued, waiter in enumerate(waiters, start=1):
        waiter.start()
        deadline = time.monotonic() + 10
        while len(lock._waiting) < queued and time.monotonic() < deadline:  # in the queue before the next starts
            time.sleep(0.001)
    lock.release()
    for waiter in waiters:
        waiter.join(timeout=10)

    assert order == [0, 1, 2, 3, 4]


def test_turn_lock_is_reentrant():
    lock = TurnLock()
    with lock, lock:
        taken_elsewhere = []
        other = threading.Thread(target=lambda: taken_elsewhere.append(lock.acquire(timeout=0.05)))
        other.start()
        other.join()

    assert taken_elsewhere == [False]
