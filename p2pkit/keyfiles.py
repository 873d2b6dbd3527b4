"""Files that hold secrets (keys, keystores' passwords, databases of salts): readable and
writable by their owner only, from the moment they exist; and the keystores the daemons sign with.

A daemon's key lives in an Ethereum "v3" keystore file. ``load_account`` (the relayer) takes its
password from a file of its own (first line) and refuses either file unless it is readable by its
owner only (mode 0600 or stricter): the daemon does not start with a key others could read.
``decrypt_keystore`` decrypts a keystore whose password was found another way (the meter
bridge's password file or variable).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount


def write_private_file(path: Path, text: str) -> None:
    """Write `text` to `path` readable and writable by its owner only (0600), from the moment
    the file exists: a key, a keystore's password, a database of salts."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(descriptor, 0o600)  # a file that existed before keeps its mode otherwise
        file.write(text)


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


def decrypt_keystore(keystore: str, password: str) -> LocalAccount:
    """The account of the keystore file ``keystore``, decrypted with ``password``."""
    try:
        document = json.loads(Path(keystore).read_text())
    except (OSError, ValueError) as error:
        raise KeyFileError(f"cannot read keystore {keystore}: {error}") from None
    try:
        return Account.from_key(Account.decrypt(document, password))
    except ValueError as error:
        raise KeyFileError(f"cannot decrypt keystore {keystore}: {error}") from None


def load_account(keystore: str, password_file: str) -> LocalAccount:
    """The account of ``keystore``, decrypted with the password in ``password_file``; both must
    be private to their owner."""
    password = _private_file(password_file, "password file").decode().splitlines()
    _private_file(keystore, "keystore")
    return decrypt_keystore(keystore, password[0] if password else "")


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
