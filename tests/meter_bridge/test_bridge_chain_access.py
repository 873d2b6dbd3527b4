"""The bridge's chain access on a web3 built straight on ``EthereumTesterProvider``."""

import pytest
from eth_account import Account

from devnet.embedded import TimeTravel
from meter_bridge.chain import MarketChain, MeterBinding
from meter_bridge.signing import MeterKey
from p2pkit.artifacts import load_artifact
from p2pkit.market import deploy_market
from p2pkit.schedule import Schedule
from p2pkit.transactions import ContractRefused, send, transfer

WIND_NUMBER = 161
WIND_RATED_W = 100_000  # 833 Wh in a 30 s period


@pytest.fixture
def market(chain, operator, grid, wind):
    market = deploy_market(chain, operator, grid.address, Schedule.scaled(30))
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


def test_schedule_is_the_contracts(market_access, market):
    genesis = market.functions.schedule().call().genesisTime

    assert market_access.schedule() == Schedule.scaled(30, genesis_time=genesis)


def test_meter_is_bound_to_its_prosumer(market_access, market, wind, meter):
    wind_id = market.functions.accountOf(wind.address).call().id
    assert market_access.meter_of(meter.address) == MeterBinding(wind_id, WIND_NUMBER, WIND_RATED_W)


def test_refusal_is_decoded_by_name(market_access, meter):
    with pytest.raises(ContractRefused) as refused:
        market_access.submission(meter.address, 0, WIND_NUMBER, 500, nonce=0)
    assert refused.value.name == "ReadingTooEarly"


def test_signed_submission_is_mined_and_readable(chain, market_access, market, wind, meter):
    TimeTravel(chain).next_block_at(market_access.schedule().start(1) + 1)
    signed = meter.sign(
        market_access.submission(meter.address, 0, WIND_NUMBER, 500, market_access.next_nonce(meter.address))
    )
    market_access.send_raw(signed.raw)
    prosumer = market.functions.accountOf(wind.address).call().id
    assert (market_access.receipt_status(signed.tx_hash), market_access.reading_of(prosumer, 0)) == (1, 500)
