"""``python -m meter_bridge`` with frozen registers and reactive energy: the simulator freezes on
its settlement calendar, ``read`` and ``decode`` show the new items."""

import json
import time

from test_bridge_cli import bridge_cli

from meter_bridge.simulator import launch

COMBINED_REACTIVE_1_NEGATIVE = "68 61 01 00 00 00 00 68 91 08 33 33 36 33 67 45 33 B3 2C 16"


def test_decode_shows_a_signed_reactive_energy_in_kvarh():
    decoded = json.loads(bridge_cli("decode", *COMBINED_REACTIVE_1_NEGATIVE.split()).stdout)
    assert (decoded["item"], decoded["value"], decoded["unit"]) == ("combined reactive energy 1", "-12.34", "kvarh")


def test_simulated_meter_freezes_its_register_at_each_month_of_its_calendar():
    simulator, port = launch("--months", "1", "--meter", "000000000161,forward=42.5,power=0")
    try:
        time.sleep(1.5)  # a one-second month has ended
        result = bridge_cli("read", "--port", port, "--address", "000000000161", "--di", "00010001")
        assert (json.loads(result.stdout)["item"], json.loads(result.stdout)["value"]) == (
            "forward active energy, settlement day -1",
            "42.50",
        )
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def test_months_of_the_simulator_must_be_a_calendar_or_seconds():
    result = bridge_cli("simulate", "--create-pty", "--months", "weekly", "--meter", "000000000161")
    assert result.returncode == 2 and 'must be "calendar"' in result.stderr
