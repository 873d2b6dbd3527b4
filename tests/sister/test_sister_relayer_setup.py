"""The relayer's configuration, keys and command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from p2pkit.keyfiles import KeyFileError, create_keystore, load_account
from p2pkit.sister.lock import SisterDeployment, attach
from relayer.cli import main
from relayer.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
LOCK_A = "0x" + "aa" * 20
LOCK_B = "0x" + "bb" * 20
COMPLETE = {
    "RELAYER_RELAYER_KEYSTORE": "/etc/relayer/key.json",
    "RELAYER_RELAYER_PASSWORD_FILE": "/etc/relayer/password",
    "RELAYER_TRADING_RPC_URL": "http://127.0.0.1:1",
    "RELAYER_TRADING_LOCK": LOCK_A,
    "RELAYER_SCHEDULING_RPC_URL": "http://127.0.0.1:2",
    "RELAYER_SCHEDULING_LOCK": LOCK_B,
}


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("correct horse\n")
    path.chmod(0o600)
    return path


def test_settings_come_from_the_environment_alone():
    config = load_config(None, COMPLETE)
    assert (config.trading.lock, config.scheduling.rpc_url) == (LOCK_A, "http://127.0.0.1:2")
    assert config.relayer.header_batch == 16


def test_without_a_dispatch_the_relayer_re_assigns_nobody():
    assert load_config(None, COMPLETE).stations.dispatch == ""


def test_a_named_dispatch_turns_the_re_assignment_on():
    config = load_config(None, {**COMPLETE, "RELAYER_STATIONS_DISPATCH": LOCK_A, "RELAYER_STATIONS_FROM_BLOCK": "7"})
    assert (config.stations.dispatch, config.stations.from_block, config.stations.reassign_batch) == (LOCK_A, 7, 16)


def test_the_environment_overrides_the_file(tmp_path):
    path = tmp_path / "relayer.toml"
    path.write_text('[relayer]\nheader_batch = 8\npoll_interval = 5.0\n[trading]\nrpc_url = "http://file"\n')
    config = load_config(str(path), {**COMPLETE, "RELAYER_RELAYER_HEADER_BATCH": "32"})
    assert (config.relayer.header_batch, config.relayer.poll_interval) == (32, 5.0)
    assert config.trading.rpc_url == "http://127.0.0.1:1"


def test_missing_settings_are_named():
    with pytest.raises(ConfigError, match=r"trading\.lock, scheduling\.rpc_url"):
        load_config(
            None, {k: v for k, v in COMPLETE.items() if k not in ("RELAYER_TRADING_LOCK", "RELAYER_SCHEDULING_RPC_URL")}
        )


@pytest.mark.parametrize(
    "text, message",
    [
        ("[chain]\n", "unknown table"),
        ("[relayer]\nbatch = 3\n", "unknown setting"),
        ("[relayer]\nheader_batch = 65\n", "relayer.header_batch must be a whole number from 1 to 64, not 65"),
        ("[relayer]\nheader_batch = 'many'\n", "relayer.header_batch must be a whole number"),
        ("[relayer]\npoll_interval = -1\n", "relayer.poll_interval must be a number of seconds, above 0"),
        ("[relayer\n", "not valid TOML"),
    ],
)
def test_an_unusable_file_is_refused(tmp_path, text, message):
    path = tmp_path / "relayer.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path), COMPLETE)


@pytest.mark.parametrize(
    "variable, value, message",
    [
        (
            "RELAYER_TRADING_LOCK",
            "0x12",
            r"trading\.lock must be 0x and 40 hex digits, not '0x12' \(from RELAYER_TRADING_LOCK\)",
        ),
        ("RELAYER_SCHEDULING_RPC_URL", "file:///etc/passwd", r"scheduling\.rpc_url must be an http"),
        ("RELAYER_RELAYER_LOG_LEVEL", "LOUD", r"relayer\.log_level must be one of DEBUG"),
        ("RELAYER_STATIONS_DISPATCH", "station", r"stations\.dispatch must be 0x and 40 hex digits"),
    ],
)
def test_an_unusable_variable_is_refused_and_named(variable, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {**COMPLETE, variable: value})


def test_a_new_keystore_is_private_and_loads(tmp_path, password_file):
    keystore = tmp_path / "key.json"
    account = create_keystore(str(keystore), str(password_file))
    assert keystore.stat().st_mode & 0o777 == 0o600
    assert load_account(str(keystore), str(password_file)).address == account.address
    with pytest.raises(KeyFileError, match="cannot create"):
        create_keystore(str(keystore), str(password_file))


def test_a_key_readable_by_others_is_refused(tmp_path, password_file):
    keystore = tmp_path / "key.json"
    create_keystore(str(keystore), str(password_file))
    keystore.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_account(str(keystore), str(password_file))


def test_a_wrong_password_is_refused(tmp_path, password_file):
    keystore = tmp_path / "key.json"
    create_keystore(str(keystore), str(password_file))
    password_file.write_text("wrong\n")
    with pytest.raises(KeyFileError, match="cannot decrypt"):
        load_account(str(keystore), str(password_file))


def test_run_without_a_usable_configuration_exits_2(capsys, monkeypatch):
    for name in COMPLETE:
        monkeypatch.delenv(name, raising=False)
    assert main(["run"]) == 2
    assert "not set" in capsys.readouterr().err


def test_new_key_prints_the_address(tmp_path, password_file, capsys):
    assert main(["new-key", "--keystore", str(tmp_path / "k.json"), "--password-file", str(password_file)]) == 0
    address = capsys.readouterr().out.strip()
    assert json.loads((tmp_path / "k.json").read_text())["address"].lower() == address[2:].lower()


def test_the_module_runs_as_a_command():
    result = subprocess.run(
        [sys.executable, "-m", "relayer", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0 and "run" in result.stdout


def test_a_deployment_file_names_both_sides_and_attaches_them(pair, operator, tmp_path):
    path = tmp_path / "sister-deployment.json"
    SisterDeployment.of(pair.trading, pair.scheduling).save(path)
    deployment = SisterDeployment.load(path)
    assert deployment.scheduling.chain_id == pair.scheduling.chain_id
    assert deployment.trading.operator == operator.address
    assert deployment.trading.start_block == pair.trading.lock.functions.startBlock().call() > 0
    attached = attach("trading", pair.trading.w3, deployment.trading.lock)
    assert attached.light_client.address == pair.trading.light_client.address == deployment.trading.light_client


def test_a_file_that_is_not_a_deployment_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"trading": {}}')
    with pytest.raises(ValueError, match="not a sister-chain deployment file"):
        SisterDeployment.load(path)
