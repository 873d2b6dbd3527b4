"""Settings come from defaults, then `P2P_*` variables, then the dict; secrets from files or variables."""

from __future__ import annotations

import pytest

from backend.config import ConfigError, load_config, read_secret


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

    with pytest.raises(ConfigError, match="missing.key"):
        read_secret("OPERATOR_KEY", environ={"P2P_OPERATOR_KEY_FILE": str(missing)})
