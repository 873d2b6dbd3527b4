"""What a station daemon keeps across restarts, in one JSON file replaced atomically.

- ``cursor``: the first block whose dispatch events are not yet read;
- ``users``: the users assigned to this station, each with the energy (kWh) moved on its
  connection and not yet confirmed as a unit on chain;
- ``pending``: the one ``transferUnit`` transaction signed and maybe sent but not yet seen mined:
  its hash, its raw bytes and nonce. It is written before the transaction is sent, so after a
  crash the daemon finds it, looks for its receipt and sends the same bytes again if it has
  none: the same nonce cannot be mined twice, so no unit is confirmed twice, and none is lost;
- ``claims``: the (user, metering period, direction) of every unit mined and not yet confirmed
  by the meters (``confirm``); one is dropped once its confirmation is mined or refused as done
  (``NothingToConfirm``: confirmed before a crash let the daemon record it);
- ``battery_kwh`` and ``meter_*``: the simulated battery's stored energy and the station meter's
  registers (kWh taken in and delivered at the terminals), so a restart carries on from them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from station.errors import StateFileError


@dataclass
class PendingUnit:
    user: str
    tx_hash: str
    raw: str
    nonce: int
    kwh: float  # the energy this unit confirms, given back to the user's count if it is not mined


@dataclass
class StationState:
    cursor: int = 0
    users: dict[str, float] = field(default_factory=dict)
    pending: PendingUnit | None = None
    battery_kwh: float | None = None
    meter_imported_kwh: float = 0.0  # taken in from users, at the terminals
    meter_exported_kwh: float = 0.0  # delivered to users
    claims: list[list] = field(default_factory=list)  # [user, period, direction], each once


class StateFile:
    """``StationState`` in ``path``: read once, saved whole after every change that matters."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> StationState:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return StationState()
        except (OSError, ValueError) as error:
            raise StateFileError(f"cannot read state file {self.path}: {error}") from None
        try:
            pending = document.pop("pending", None)
            return StationState(**document, pending=PendingUnit(**pending) if pending else None)
        except TypeError as error:
            raise StateFileError(f"state file {self.path} is not a station's state: {error}") from None

    def save(self, state: StationState) -> None:
        """Write the whole state to a new file, flush it to disk, then rename it over the old one
        (a crash leaves the old state or the new, never half of one)."""
        temporary = self.path.with_name(self.path.name + ".new")
        try:
            with open(temporary, "w") as file:
                json.dump(asdict(state), file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            raise StateFileError(f"cannot write state file {self.path}: {error.strerror}") from None
