"""Shared roles of the meter-bridge tests: meters on a simulated bus and a clock they run on,
and the market's people on an embedded chain, which the bridge reaches through the backend's
``/rpc`` as it does in the field."""

from decimal import Decimal

import pytest
from web3.providers.base import JSONBaseProvider

from backend import create_app
from backend.upstreams import InProcessUpstream
from devnet.embedded import dev_accounts, start_embedded_chain
from meter_bridge.simulator import PowerProfile, VirtualMeter


class ManualClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def meter_clock():
    return ManualClock()


@pytest.fixture
def wind_virtual_meter(meter_clock):
    """A wind producer's meter: exports 36 kW, so its reverse register grows 0.01 kWh a second."""
    return VirtualMeter(
        "000000000161",
        reverse_kwh=Decimal("5000.00"),
        profile=PowerProfile((-36.0,)),
        clock=meter_clock,
    )


@pytest.fixture
def ev_virtual_meter(meter_clock):
    """An electric-vehicle charger's meter: imports 7.2 kW."""
    return VirtualMeter(
        "000000000162",
        forward_kwh=Decimal("1200.00"),
        profile=PowerProfile((7.2,)),
        clock=meter_clock,
    )


@pytest.fixture
def chain():
    return start_embedded_chain()


@pytest.fixture
def operator(chain):
    return dev_accounts(chain)[0]


@pytest.fixture
def grid(chain):
    return dev_accounts(chain)[1]


@pytest.fixture
def wind(chain):
    return dev_accounts(chain)[2]


@pytest.fixture
def ev(chain):
    return dev_accounts(chain)[3]


class BackendRpcProvider(JSONBaseProvider):
    """web3 talking JSON-RPC to the backend's ``/rpc``; ``reachable = False`` cuts the line."""

    def __init__(self, client):
        super().__init__()
        self.client = client
        self.reachable = True

    def make_request(self, method, params):
        if not self.reachable:
            raise ConnectionError("backend unreachable (cable pulled)")
        response = self.client.post(
            "/rpc", data=self.encode_rpc_request(method, params), content_type="application/json"
        )
        return self.decode_rpc_response(response.data)


@pytest.fixture
def backend_rpc(chain):
    return BackendRpcProvider(create_app({"TESTING": True}, upstream=InProcessUpstream(chain)).test_client())
