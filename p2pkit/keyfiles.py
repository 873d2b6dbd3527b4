"""Files that hold secrets (keys, keystores' passwords, databases of salts): readable and
writable by their owner only, from the moment they exist."""

from __future__ import annotations

import os
from pathlib import Path


def write_private_file(path: Path, text: str) -> None:
    """Write `text` to `path` readable and writable by its owner only (0600), from the moment
    the file exists: a key, a keystore's password, a database of salts."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(descriptor, 0o600)  # a file that existed before keeps its mode otherwise
        file.write(text)
