"""Meter keys and transaction signing: the only module that ever holds a private key.

Each meter signs its readings with its own key, kept in an encrypted JSON keystore (the
Ethereum "v3" format). The password comes from a file or an environment variable, never from
the configuration file itself. Nothing is signed by a node: the signed raw transaction is what
leaves this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account


class KeystoreError(Exception):
    """A keystore or its password cannot be used; the message says which and why."""


@dataclass(frozen=True)
class SignedTransaction:
    """A signed transaction as stored in the outbox and sent with eth_sendRawTransaction."""

    raw: bytes
    tx_hash: str
    nonce: int


def read_password(password_file: str | None = None, password_env: str | None = None) -> str:
    """The keystore password from a file (first line, trailing newline removed) or a variable."""
    if password_file:
        try:
            return Path(password_file).read_text().rstrip("\r\n")
        except OSError as error:
            raise KeystoreError(f"cannot read password file {password_file}: {error.strerror}") from None
    if password_env:
        if password_env not in os.environ:
            raise KeystoreError(f"environment variable {password_env} (keystore password) is not set")
        return os.environ[password_env]
    raise KeystoreError("no password file and no password variable configured for the keystore")


class MeterKey:
    """A meter's account, unlocked in memory from its keystore, signing transactions."""

    def __init__(self, private_key: bytes):
        self._account = Account.from_key(private_key)

    @classmethod
    def from_keystore(cls, keystore_path: str, password: str) -> MeterKey:
        try:
            keystore = json.loads(Path(keystore_path).read_text())
        except (OSError, ValueError) as error:
            raise KeystoreError(f"cannot read keystore {keystore_path}: {error}") from None
        try:
            return cls(Account.decrypt(keystore, password))
        except ValueError as error:
            raise KeystoreError(f"cannot decrypt keystore {keystore_path}: {error}") from None

    @property
    def address(self) -> str:
        return self._account.address

    def sign(self, transaction: dict) -> SignedTransaction:
        """Sign a complete transaction (nonce, gas, fees and chainId filled in)."""
        signed = self._account.sign_transaction(transaction)
        return SignedTransaction(bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), transaction["nonce"])
