"""Signing keys from encrypted keystores, for the daemons that send transactions.

A key lives in an Ethereum "v3" keystore file; its password in a file of its own (first line).
Both must be readable by their owner only (mode 0600 or stricter): a daemon refuses to start
with a key others could read.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount


class KeyFileError(Exception):
    """A keystore or password file is missing, unreadable, readable by others, or wrong."""


def _private_file(path: str, what: str) -> bytes:
    try:
        mode = Path(path).stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{what} {path} is open to other users (mode {stat.S_IMODE(mode):o}): chmod 600 it")
        return Path(path).read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read {what} {path}: {error.strerror}") from None


def load_account(keystore: str, password_file: str) -> LocalAccount:
    """The account of ``keystore``, decrypted with the password in ``password_file``."""
    password = _private_file(password_file, "password file").decode().splitlines()
    try:
        document = json.loads(_private_file(keystore, "keystore"))
        return Account.from_key(Account.decrypt(document, password[0] if password else ""))
    except ValueError as error:
        raise KeyFileError(f"cannot decrypt keystore {keystore}: {error}") from None


def create_keystore(keystore: str, password_file: str) -> LocalAccount:
    """A new account written to ``keystore``, encrypted with the password in ``password_file``
    (both 0600); refuses to overwrite an existing keystore."""
    password = _private_file(password_file, "password file").decode().splitlines()
    account = Account.create()
    document = json.dumps(Account.encrypt(account.key, password[0] if password else ""))
    try:
        descriptor = os.open(keystore, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(document)
    except OSError as error:
        raise KeyFileError(f"cannot create keystore {keystore}: {error.strerror}") from None
    return account
