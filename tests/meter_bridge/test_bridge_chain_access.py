"""The bridge's chain access on a web3 built straight on ``EthereumTesterProvider``."""

import pytest
from eth_account import Account

from backend.chain import (
    ContractRefused,
    MarketSchedule,
    deploy_market,
    embedded_time_travel,
    load_artifact,
    send,
    transfer,
)
from meter_bridge.chain import MarketChain
from meter_bridge.signing import MeterKey

WIND_NUMBER = 161
WIND_RATED_W = 100_000  # 833 Wh in a 30 s period


@pytest.fixture
def market(chain, operator, grid, wind):
    market = deploy_market(chain, operator, grid.address, MarketSchedule.scaled(30))
    send(chain, market.functions.register("wind", True, True), wind)
    return market


@pytest.fixture
def meter(chain, operator, market, wind):
    key = MeterKey(Account.create().key)
    transfer(chain, operator, key.address, 10**18)
    send(chain, market.functions.bindMeter(wind.address, key.address, WIND_NUMBER, WIND_RATED_W), operator)
    return key


@pytest.fixture
def market_access(chain, market):
    return MarketChain(chain, market.address, load_artifact()["abi"])


def test_clock_is_the_contract_schedule(market_access, market):
    genesis, length, *_, grace = market.functions.schedule().call()
    clock = market_access.clock()
    assert (clock.genesis_time, clock.period_length, clock.reading_grace) == (genesis, length, grace)


def test_meter_is_bound_to_its_prosumer(market_access, market, wind, meter):
    wind_id = market.functions.accountOf(wind.address).call()[0]
    assert market_access.meter_of(meter.address) == (wind_id, WIND_NUMBER, WIND_RATED_W)


def test_refusal_is_decoded_by_name(market_access, meter):
    with pytest.raises(ContractRefused) as refused:
        market_access.submission(meter.address, 0, WIND_NUMBER, 500, nonce=0)
    assert refused.value.name == "ReadingTooEarly"


def test_signed_submission_is_mined_and_readable(chain, market_access, market, wind, meter):
    embedded_time_travel(chain, market_access.clock().period_start(1) + 1)
    signed = meter.sign(market_access.submission(meter.address, 0, WIND_NUMBER, 500, market_access.next_nonce(meter.address)))
    market_access.send_raw(signed.raw)
    prosumer = market.functions.accountOf(wind.address).call()[0]
    assert (market_access.receipt_status(signed.tx_hash), market_access.reading_of(prosumer, 0)) == (1, 500)
