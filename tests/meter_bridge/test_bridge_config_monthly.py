"""The settings of monthly readings: the bilateral contracts' address and the read delay."""

import pytest
from test_bridge_config import MINIMAL, config_file

from meter_bridge.config import ConfigError, load_config

RETAIL = "0x00000000000000000000000000000000000000bb"


def test_without_a_retail_address_no_monthly_readings_are_taken(tmp_path):
    assert load_config(config_file(tmp_path, MINIMAL), environ={}).chain.retail_address == ""


def test_retail_address_from_the_environment(tmp_path):
    config = load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_CHAIN_RETAIL_ADDRESS": RETAIL})
    assert config.chain.retail_address == RETAIL


def test_malformed_retail_address_is_refused_naming_the_setting(tmp_path):
    text = MINIMAL.replace("[chain]\n", '[chain]\nretail_address = "0x12"\n')
    with pytest.raises(ConfigError, match=r"chain\.retail_address must be 0x and 40 hex digits"):
        load_config(config_file(tmp_path, text), environ={})


def test_monthly_read_delay_defaults_to_five_minutes(tmp_path):
    assert load_config(config_file(tmp_path, MINIMAL), environ={}).daemon.monthly_read_delay == 300.0


def test_negative_monthly_read_delay_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"daemon\.monthly_read_delay"):
        load_config(config_file(tmp_path, MINIMAL), environ={"METER_BRIDGE_DAEMON_MONTHLY_READ_DELAY": "-1"})
