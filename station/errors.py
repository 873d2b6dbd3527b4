"""What can go wrong in a station daemon, each a type of its own."""

from __future__ import annotations

from p2pkit.settings import SettingsError


class StationError(Exception):
    """Base of the station daemon's errors."""


# The configuration cannot be used; the message names the setting.
ConfigError = SettingsError


class NotThisStation(StationError):
    """The daemon's key is not the account of a registered station of this dispatch contract."""


class StateFileError(StationError):
    """The daemon's state file cannot be read or written; the message says which and why."""
