"""A meter's energy register jumps by about 1 GWh within one period (a replaced meter at the
same bus address, or a forged reply on the RS-485 line), and the meter bridge would queue the
jump as the period's energy.

The bridge knows the rated power the meter is bound with on the chain: it refuses to queue an
energy above what the meter can measure in a period, logs it with a count, and sends nothing.
The real parts: a simulated DL/T 645 meter on a pseudo-terminal, the serial poller, the daemon
with its SQLite outbox, and the market contract on an embedded chain."""

from decimal import Decimal

from conftest import ETHER

from meter_bridge.chain import MarketChain
from meter_bridge.daemon import BridgedMeter, Daemon
from meter_bridge.data_items import REVERSE_ACTIVE_ENERGY
from meter_bridge.outbox import Outbox
from meter_bridge.poller import Poller
from meter_bridge.signing import MeterKey
from meter_bridge.simulator import BusThread, PowerProfile, SimulatedBus, VirtualMeter
from meter_bridge.transport import SerialSettings, SerialTransport
from p2pkit.artifacts import load_artifact

ADDRESS = "000000000161"


def test_register_jump_is_not_queued_as_energy(market, tmp_path, caplog):
    wind = market.join("wind", producer=True, green=True, deposit=ETHER)
    meter = VirtualMeter(ADDRESS, reverse_kwh=Decimal("100.00"), profile=PowerProfile((0.0,)))
    with BusThread(SimulatedBus([meter], echo=True)) as bus, SerialTransport(SerialSettings(bus.port)) as line:
        daemon = Daemon(
            [BridgedMeter("wind", ADDRESS, wind.meter_number, REVERSE_ACTIVE_ENERGY, MeterKey(wind.meter.key))],
            Poller(line, reply_timeout=0.5, retries=2, backoff=0.01, silent_interval=0.005),
            MarketChain(market.w3, market.contract.address, load_artifact()["abi"]),
            Outbox(str(tmp_path / "outbox.sqlite3")),
            max_reading_delay=10,
        )
        period = market.contract.functions.currentPeriod().call() + 1
        for step, register in ((period, "100.00"), (period + 1, "999999.99")):
            meter.reverse_kwh = Decimal(register)
            market.travel_to(market.schedule.start(step))
            daemon.step(market.now())

    wind_id = market.record(wind).id
    assert market.contract.functions.readingOf(wind_id, period).call().present is False
    assert market.contract.events.ReadingPosted().get_logs(from_block=0) == []
    assert daemon.outbox.all() == []
    assert daemon.above_capacity == {"wind": 1}
    assert "999899990 Wh is more than the meter can measure (166666 Wh): not queued (1 refused so far)" in caplog.text
