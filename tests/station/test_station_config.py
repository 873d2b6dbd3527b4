"""The station daemon's settings (STATION_<TABLE>_<KEY> over the TOML file, each refused with its
name when it cannot be meant) and its command line's refusals of an unusable key or setting."""

from __future__ import annotations

import json
import os

import pytest
from eth_account import Account

from station.cli import BAD_INPUT, main
from station.config import load_config
from station.errors import ConfigError

ADDRESS = "0x" + "ab" * 20
REQUIRED = {
    "STATION_CHAIN_RPC_URL": "http://127.0.0.1:9545",
    "STATION_CHAIN_DISPATCH": ADDRESS,
    "STATION_STATION_KEYSTORE": "/etc/station/key.json",
    "STATION_STATION_PASSWORD_FILE": "/etc/station/password",
    "STATION_DAEMON_STATE_FILE": "/var/lib/station/state.json",
}


def test_a_variable_overrides_the_file(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text("[battery]\ncapacity_kwh = 200.0\nefficiency = 0.9\n")

    config = load_config(str(path), {**REQUIRED, "STATION_BATTERY_EFFICIENCY": "0.8"})

    assert (config.battery.capacity_kwh, config.battery.efficiency, config.chain.dispatch) == (200.0, 0.8, ADDRESS)


def test_missing_settings_are_named():
    with pytest.raises(ConfigError, match=r"chain\.dispatch, daemon\.state_file"):
        load_config(None, {"STATION_CHAIN_RPC_URL": "http://127.0.0.1:9545", "STATION_STATION_KEYSTORE": "k"})


def test_a_key_without_its_password_is_refused():
    settings = {name: value for name, value in REQUIRED.items() if name != "STATION_STATION_PASSWORD_FILE"}
    with pytest.raises(ConfigError, match=r"station\.password_file \(or STATION_STATION_PASSWORD\)"):
        load_config(None, settings)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("STATION_BATTERY_EFFICIENCY", "1.5"),
        ("STATION_DAEMON_CONNECTION_KW", "-1"),
        ("STATION_BATTERY_STORED_KWH", "nan"),
    ],
)
def test_an_impossible_value_is_refused_with_its_setting(variable, value):
    setting = variable.removeprefix("STATION_").lower().replace("_", ".", 1)
    with pytest.raises(ConfigError, match=setting):
        load_config(None, {**REQUIRED, variable: value})


def test_a_battery_holding_more_than_its_capacity_is_refused():
    with pytest.raises(ConfigError, match="stored_kwh"):
        load_config(None, {**REQUIRED, "STATION_BATTERY_STORED_KWH": "120", "STATION_BATTERY_CAPACITY_KWH": "100"})


def test_a_keystore_others_can_read_stops_the_daemon_before_it_starts(tmp_path, monkeypatch, capsys):
    keystore = tmp_path / "station.json"
    keystore.write_text(json.dumps(Account.encrypt(Account.create().key, "secret")))
    os.chmod(keystore, 0o644)
    for name, value in {**REQUIRED, "STATION_STATION_KEYSTORE": str(keystore)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STATION_STATION_PASSWORD_FILE")
    monkeypatch.setenv("STATION_STATION_PASSWORD", "secret")

    assert main(["run"]) == BAD_INPUT
    assert "open to other users" in capsys.readouterr().err
