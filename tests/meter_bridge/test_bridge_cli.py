"""``python -m meter_bridge`` as a user runs it: output, messages and exit codes."""

import json
import subprocess
import sys

import pytest

from meter_bridge.simulator import launch

READ_FORWARD_ENERGY = "68610100000000681104333334331416"
FORWARD_ENERGY_REPLY = "FEFEFEFE 68 61 01 00 00 00 00 68 91 08 33 33 34 33 9A 78 56 34 34 16"


def bridge_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meter_bridge", *args], capture_output=True, text=True, timeout=60)


def test_encode_read_prints_the_request_in_hex():
    assert bridge_cli("encode-read", "000000000161", "00010000").stdout.strip() == READ_FORWARD_ENERGY


def test_encode_read_with_a_bad_identifier_exits_2():
    assert bridge_cli("encode-read", "000000000161", "0001").returncode == 2


def test_decode_prints_the_energy_with_its_unit():
    decoded = json.loads(bridge_cli("decode", *FORWARD_ENERGY_REPLY.split()).stdout)
    assert (decoded["di"], decoded["value"], decoded["unit"]) == ("00010000", "12345.67", "kWh")


def test_decode_names_the_reason_of_an_abnormal_reply():
    decoded = json.loads(bridge_cli("decode", "68610100000000 68 D1 01 35 39 16").stdout)
    assert decoded["reasons"] == ["no requested data"]


def test_read_with_three_stop_bits_exits_2_naming_the_choices():
    result = bridge_cli("read", "--port", "loop://", "--stopbits", "3")
    assert result.returncode == 2 and "must be 1, 1.5 or 2, not '3'" in result.stderr


def test_decode_of_a_bad_checksum_exits_2():
    assert bridge_cli("decode", "68610100000000681104333334333816").returncode == 2


def test_decode_of_a_bad_checksum_says_so_on_stderr():
    result = bridge_cli("decode", "68610100000000681104333334333816")
    assert "checksum mismatch" in result.stderr and result.stdout == ""


def test_decode_of_non_hex_input_exits_2():
    assert bridge_cli("decode", "68zz").returncode == 2


@pytest.fixture
def simulated_meter_port():
    """``simulate --create-pty`` in its own process; yields the pty path it prints."""
    simulator, port = launch("--echo", "--meter", "000000000161,forward=42.5,power=0")
    try:
        yield port
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def test_read_gets_the_energy_from_a_simulated_meter(simulated_meter_port):
    result = bridge_cli("read", "--port", simulated_meter_port, "--address", "000000000161")
    assert json.loads(result.stdout)["value"] == "42.50"


def test_read_without_address_gets_the_meter_address(simulated_meter_port):
    result = bridge_cli("read", "--port", simulated_meter_port)
    assert json.loads(result.stdout) == {"meter_address": "000000000161"}


def test_read_from_an_absent_meter_exits_1(simulated_meter_port):
    result = bridge_cli("read", "--port", simulated_meter_port, "--address", "000000000999", "--timeout", "0.2")
    assert result.returncode == 1 and "no valid reply" in result.stderr
