"""Reaching the market: the embedded chain's block ticker, the event log, a market on a node
found from its deployment file, and the lock its users take turns with."""

from __future__ import annotations

import threading
import time

import pytest
from eth_account import Account

from backend.config import ConfigError
from backend.upstreams import MarketNotDeployed, open_deployed_market
from devnet.embedded import BlockTicker
from p2pkit.events import MarketEventLog
from p2pkit.market import Deployment, TurnLock


def pending_time(market) -> int:
    return market.w3.provider.ethereum_tester.get_block_by_number("pending")["timestamp"]


def test_ticker_mines_a_block_once_the_wall_clock_reaches_the_next_blocks_time(market):
    ticker = BlockTicker(market.w3, market.lock, 1.0, wall_clock=lambda: pending_time(market))
    before = market.w3.eth.block_number

    assert (ticker.tick(), market.w3.eth.block_number) == (True, before + 1)


def test_ticker_does_not_run_the_chain_ahead_of_the_wall_clock(market):
    ticker = BlockTicker(market.w3, market.lock, 1.0, wall_clock=lambda: pending_time(market) - 1)
    before = market.w3.eth.block_number

    assert (ticker.tick(), market.w3.eth.block_number) == (False, before)


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
