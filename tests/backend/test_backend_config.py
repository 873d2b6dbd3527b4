"""Settings come from defaults, then `P2P_*` variables, then the dict; secrets, such as the
operator's key, from files or variables."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from backend.config import ConfigError, load_config, read_keeper_key, read_operator_key, read_secret


def test_defaults_apply_without_variables_or_overrides():
    config = load_config(environ={})

    assert (config["CHAIN"], config["RPC_TIMEOUT"], config["MAX_BATCH"]) == ("embedded", 10.0, 100)


def test_environment_variable_is_parsed_to_the_settings_type():
    config = load_config(environ={"P2P_RPC_TIMEOUT": "2.5", "P2P_MAX_LOG_BLOCK_RANGE": "500"})

    assert (config["RPC_TIMEOUT"], config["MAX_LOG_BLOCK_RANGE"]) == (2.5, 500)


def test_dict_overrides_the_environment():
    config = load_config({"CHAIN": "http://node:8545"}, environ={"P2P_CHAIN": "http://other:8545"})

    assert config["CHAIN"] == "http://node:8545"


def test_keys_that_are_not_settings_pass_through():
    assert load_config({"TESTING": True}, environ={})["TESTING"] is True


@pytest.mark.parametrize("value", ["many", "0", "-3", ""], ids=repr)
def test_malformed_limit_names_the_variable(value):
    with pytest.raises(ConfigError, match="P2P_MAX_BATCH"):
        load_config(environ={"P2P_MAX_BATCH": value})


@pytest.mark.parametrize("value", ["50401", "-50401", "UTC+8"], ids=repr)
def test_utc_offset_beyond_14_hours_is_refused(value):
    with pytest.raises(ConfigError, match="P2P_RETAIL_UTC_OFFSET"):
        load_config(environ={"P2P_RETAIL_UTC_OFFSET": value})


def test_malformed_dict_value_names_the_setting():
    with pytest.raises(ConfigError, match="setting MAX_BODY_BYTES"):
        load_config({"MAX_BODY_BYTES": "large"}, environ={})


def test_secret_is_read_from_the_file_named_by_its_variable(tmp_path):
    key_file = tmp_path / "operator.key"
    key_file.write_text("0xabc\n")

    assert read_secret("OPERATOR_KEY", environ={"P2P_OPERATOR_KEY_FILE": str(key_file)}) == "0xabc"


def test_secret_is_read_from_its_variable():
    assert read_secret("OPERATOR_KEY", environ={"P2P_OPERATOR_KEY": "0xabc"}) == "0xabc"


def test_secret_that_is_not_set_is_none():
    assert read_secret("OPERATOR_KEY", environ={}) is None


def test_secret_set_both_ways_is_refused(tmp_path):
    environ = {"P2P_OPERATOR_KEY": "0xabc", "P2P_OPERATOR_KEY_FILE": str(tmp_path / "operator.key")}

    with pytest.raises(ConfigError, match="not both"):
        read_secret("OPERATOR_KEY", environ=environ)


def test_secret_file_that_cannot_be_read_is_reported(tmp_path):
    missing = tmp_path / "missing.key"

    with pytest.raises(ConfigError, match=r"missing\.key"):
        read_secret("OPERATOR_KEY", environ={"P2P_OPERATOR_KEY_FILE": str(missing)})


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("off", False), ("Yes", True), ("0", False)])
def test_switch_reads_the_usual_words(value, expected):
    assert load_config(environ={"P2P_KEEPER": value})["KEEPER"] is expected


def test_switch_that_is_not_one_is_refused():
    with pytest.raises(ConfigError, match="P2P_KEEPER"):
        load_config(environ={"P2P_KEEPER": "sometimes"})


def test_block_interval_of_zero_is_allowed():
    assert load_config(environ={"P2P_EMBEDDED_BLOCK_INTERVAL": "0"})["EMBEDDED_BLOCK_INTERVAL"] == 0


@pytest.mark.parametrize(
    ("name", "value"), [("EMBEDDED_BLOCK_INTERVAL", "-1"), ("PERIOD_LENGTH", "5"), ("KEEPER_BATCH", "0")]
)
def test_value_out_of_range_is_refused(name, value):
    with pytest.raises(ConfigError, match=f"P2P_{name}"):
        load_config(environ={f"P2P_{name}": value})


OPERATOR = Account.from_key("0x" + "42" * 32)


def test_operator_key_is_read_as_hex():
    assert read_operator_key({"P2P_OPERATOR_KEY": OPERATOR.key.hex()}).address == OPERATOR.address


def test_operator_key_is_read_from_an_encrypted_keystore(tmp_path):
    keystore, password = tmp_path / "operator.json", tmp_path / "password"
    keystore.write_text(json.dumps(Account.encrypt(OPERATOR.key, "secret", iterations=2)))
    password.write_text("secret\n")
    environ = {"P2P_OPERATOR_KEY_FILE": str(keystore), "P2P_OPERATOR_PASSWORD_FILE": str(password)}

    assert read_operator_key(environ).address == OPERATOR.address


def test_operator_keystore_without_a_password_is_refused(tmp_path):
    keystore = tmp_path / "operator.json"
    keystore.write_text(json.dumps(Account.encrypt(OPERATOR.key, "secret", iterations=2)))

    with pytest.raises(ConfigError, match="P2P_OPERATOR_PASSWORD"):
        read_operator_key({"P2P_OPERATOR_KEY_FILE": str(keystore)})


def test_operator_keystore_with_a_wrong_password_is_refused(tmp_path):
    keystore = tmp_path / "operator.json"
    keystore.write_text(json.dumps(Account.encrypt(OPERATOR.key, "secret", iterations=2)))

    with pytest.raises(ConfigError, match="cannot decrypt"):
        read_operator_key({"P2P_OPERATOR_KEY_FILE": str(keystore), "P2P_OPERATOR_PASSWORD": "guess"})


def test_malformed_operator_key_is_refused_without_repeating_it():
    with pytest.raises(ConfigError) as refused:
        read_operator_key({"P2P_OPERATOR_KEY": "0xabc123"})

    assert "abc123" not in str(refused.value)


def test_no_operator_key_means_none():
    assert read_operator_key({}) is None


def test_keeper_key_is_read_from_its_own_variable():
    keeper = Account.create()

    assert read_keeper_key({"P2P_KEEPER_KEY": keeper.key.hex(), "P2P_OPERATOR_KEY": OPERATOR.key.hex()}).address == (
        keeper.address
    )


def test_keeper_key_unset_is_none_even_with_an_operator_key():
    assert read_keeper_key({"P2P_OPERATOR_KEY": OPERATOR.key.hex()}) is None


def test_malformed_keeper_key_is_refused_naming_the_keeper():
    with pytest.raises(ConfigError, match="the keeper key is neither"):
        read_keeper_key({"P2P_KEEPER_KEY": "0xabc123"})
