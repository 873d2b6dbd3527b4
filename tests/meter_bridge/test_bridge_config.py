"""The configuration file, its environment overrides and the shipped example."""

from pathlib import Path

import pytest

from meter_bridge.config import ConfigError, load_config
from meter_bridge.data_items import REVERSE_ACTIVE_ENERGY

EXAMPLE = Path(__file__).resolve().parents[2] / "meter_bridge" / "meter-bridge.example.toml"

MINIMAL = """
[chain]
market_address = "0x00000000000000000000000000000000000000aa"

[[meters]]
name = "wind"
address = "000000000161"
meter_number = 161
register = "reverse"
keystore = "wind.json"
password_env = "WIND_PASSWORD"
"""


def config_file(tmp_path, text: str) -> str:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return str(path)


def test_example_configuration_loads():
    assert [meter.name for meter in load_config(str(EXAMPLE), environ={}).meters] == ["wind", "ev"]


def test_bus_defaults_to_2400_8e1(tmp_path):
    bus = load_config(config_file(tmp_path, MINIMAL), environ={}).bus
    assert (bus.baudrate, bus.bytesize, bus.parity, bus.stopbits) == (2400, 8, "E", 1)


def test_environment_overrides_the_file(tmp_path):
    config = load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_BUS_BAUDRATE": "9600"})
    assert config.bus.baudrate == 9600


def test_producer_meter_reads_the_reverse_register(tmp_path):
    assert load_config(config_file(tmp_path, MINIMAL), environ={}).meters[0].register_di == REVERSE_ACTIVE_ENERGY


def test_unknown_setting_is_named(tmp_path):
    with pytest.raises(ConfigError, match="baud_rate"):
        load_config(config_file(tmp_path, MINIMAL + "\n[bus]\nbaud_rate = 9600\n"), environ={})


def test_meter_without_a_password_source_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="password_file or password_env"):
        load_config(config_file(tmp_path, MINIMAL.replace('password_env = "WIND_PASSWORD"', "")), environ={})


def test_meter_address_must_be_bcd(tmp_path):
    with pytest.raises(ConfigError, match="meter 'wind'"):
        load_config(config_file(tmp_path, MINIMAL.replace("000000000161", "00000000016X")), environ={})


def test_override_of_the_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"bus\.retries must be int"):
        load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_BUS_RETRIES": "many"})
