"""Meter keys from encrypted keystores, passwords from files or variables."""

import json

import pytest
from eth_account import Account

from meter_bridge.signing import KeystoreError, MeterKey, read_password

PASSWORD = "meter-161-secret"


@pytest.fixture
def meter_account():
    return Account.create()


@pytest.fixture
def keystore(tmp_path, meter_account):
    path = tmp_path / "meter.json"
    path.write_text(json.dumps(Account.encrypt(meter_account.key, PASSWORD, kdf="pbkdf2", iterations=2)))
    return str(path)


def test_keystore_unlocks_the_meter_account(keystore, meter_account):
    assert MeterKey.from_keystore(keystore, PASSWORD).address == meter_account.address


def test_wrong_password_names_the_keystore(keystore):
    with pytest.raises(KeystoreError, match="cannot decrypt keystore"):
        MeterKey.from_keystore(keystore, "wrong")


def test_password_file_loses_its_trailing_newline(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    assert read_password(password_file=str(password_file)) == PASSWORD


def test_missing_password_variable_is_named():
    with pytest.raises(KeystoreError, match="METER_BRIDGE_TEST_UNSET"):
        read_password(password_env="METER_BRIDGE_TEST_UNSET")


def test_signed_transaction_comes_from_the_meter_account(meter_account):
    signed = MeterKey(meter_account.key).sign(
        {"to": "0x" + "11" * 20, "nonce": 7, "gas": 50_000, "gasPrice": 1, "chainId": 1}
    )
    assert (Account.recover_transaction(signed.raw), signed.nonce) == (meter_account.address, 7)
