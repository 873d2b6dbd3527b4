"""The configuration file, its environment overrides and the shipped example."""

from dataclasses import fields
from pathlib import Path

import pytest

from meter_bridge.config import BusConfig, ChainConfig, ConfigError, DaemonConfig, MeterConfig, load_config
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
    with pytest.raises(ConfigError, match=r"bus\.retries must be a whole number"):
        load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_BUS_RETRIES": "many"})


def bus_of(tmp_path, bus_table: str = "", environ: dict | None = None):
    return load_config(config_file(tmp_path, MINIMAL + "\n[bus]\n" + bus_table), environ=environ or {}).bus


def test_one_and_a_half_stop_bits_load_as_one_and_a_half(tmp_path):
    assert bus_of(tmp_path, "stopbits = 1.5\n").stopbits == 1.5


def test_one_and_a_half_stop_bits_from_the_environment(tmp_path):
    assert bus_of(tmp_path, environ={"METER_BRIDGE_BUS_STOPBITS": "1.5"}).stopbits == 1.5


def test_three_stop_bits_are_refused_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"bus.stopbits must be 1, 1.5 or 2, not 3"):
        bus_of(tmp_path, "stopbits = 3\n")


def test_parity_is_read_in_any_case(tmp_path):
    assert bus_of(tmp_path, 'parity = "n"\n').parity == "N"


def test_unknown_parity_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=r"bus.parity must be one of N \(none\), E \(even\)"):
        bus_of(tmp_path, 'parity = "X"\n')


def test_byte_size_outside_five_to_eight_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"bus\.bytesize must be 5, 6, 7 or 8, not 9"):
        bus_of(tmp_path, "bytesize = 9\n")


def test_fractional_retries_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"bus\.retries must be a whole number"):
        bus_of(tmp_path, "retries = 2.5\n")


def test_true_is_not_a_number(tmp_path):
    with pytest.raises(ConfigError, match=r"bus\.retries"):
        bus_of(tmp_path, "retries = true\n")


def test_zero_reply_timeout_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"bus\.reply_timeout must be a number of seconds, above 0"):
        bus_of(tmp_path, "reply_timeout = 0\n")


def test_infinite_timeout_from_the_environment_is_refused_naming_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="from METER_BRIDGE_BUS_REPLY_TIMEOUT"):
        bus_of(tmp_path, environ={"METER_BRIDGE_BUS_REPLY_TIMEOUT": "inf"})


def test_unknown_log_level_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"daemon\.log_level"):
        load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_DAEMON_LOG_LEVEL": "LOUD"})


def test_malformed_market_address_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"chain\.market_address must be 0x and 40 hex digits"):
        load_config(config_file(tmp_path, MINIMAL.replace("00aa", "00zz")), environ={})


def test_rpc_url_must_be_http(tmp_path):
    with pytest.raises(ConfigError, match=r"chain\.rpc_url must be an http"):
        load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_CHAIN_RPC_URL": "127.0.0.1:5000"})


def test_meter_number_true_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="meter 'wind': meter_number must be a whole number, 0 or more"):
        load_config(config_file(tmp_path, MINIMAL.replace("meter_number = 161", "meter_number = true")), environ={})


def test_meter_without_an_address_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="meter 'wind': address not set"):
        load_config(config_file(tmp_path, MINIMAL.replace('address = "000000000161"', "")), environ={})


def test_misspelt_table_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown table.*deamon"):
        load_config(config_file(tmp_path, MINIMAL + "\n[deamon]\ntick = 1\n"), environ={})


@pytest.mark.parametrize("table", [BusConfig, ChainConfig, DaemonConfig, MeterConfig])
def test_every_setting_has_a_parser(table):
    assert [spec.name for spec in fields(table) if "parse" not in spec.metadata] == []


DISPATCH_METER = MINIMAL.replace("meter_number = 161\n", 'dispatch_role = "station"\n')


def test_a_dispatch_meter_needs_no_market_number(tmp_path):
    text = DISPATCH_METER.replace(
        "[chain]\n", '[chain]\ndispatch_address = "0x00000000000000000000000000000000000000bb"\n'
    )
    config = load_config(config_file(tmp_path, text), environ={})
    assert (config.meters[0].dispatch_role, config.meters[0].meter_number) == ("station", 0)
    assert config.chain.dispatch_address.lower().endswith("bb")


def test_a_dispatch_meter_without_the_dispatch_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"dispatch_role is set but chain\.dispatch_address is not"):
        load_config(config_file(tmp_path, DISPATCH_METER), environ={})


def test_a_market_meter_without_its_number_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="meter 'wind': meter_number not set"):
        load_config(config_file(tmp_path, MINIMAL.replace("meter_number = 161\n", "")), environ={})


def test_an_unknown_dispatch_role_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="dispatch_role must be one of station"):
        load_config(config_file(tmp_path, DISPATCH_METER.replace('"station"', '"grid"')), environ={})
