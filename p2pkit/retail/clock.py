"""The billing clock of the bilateral contracts (the model of BillingCalendar.sol).

Two kinds, fixed at deployment:

- calendar months (``month_length == 0``): month m is the m-th civil month since January 1970
  in local time, UTC shifted by ``utc_offset`` seconds (28800 for UTC+8); it starts at local
  midnight of its first day;
- fixed-length months (``month_length > 0``, for demos, replays and tests): month m covers
  [genesis_time + m x month_length, genesis_time + (m + 1) x month_length).

A month's readings are accepted from its end until its end plus ``reading_grace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from p2pkit.schedule import from_struct

UTC_PLUS_8 = 8 * 3600
DEFAULT_GRACE = 5 * 86_400


@dataclass(frozen=True)
class BillingClock:
    genesis_time: int = 0
    month_length: int = 0
    utc_offset: int = UTC_PLUS_8
    reading_grace: int = DEFAULT_GRACE

    @classmethod
    def calendar(cls, utc_offset: int = UTC_PLUS_8, reading_grace: int = DEFAULT_GRACE) -> BillingClock:
        return cls(0, 0, utc_offset, reading_grace)

    @classmethod
    def fixed(cls, month_length: int, reading_grace: int, genesis_time: int = 0) -> BillingClock:
        """Fixed-length months; genesis_time 0 lets the contract take its deployment block's time."""
        return cls(genesis_time, month_length, 0, reading_grace)

    @classmethod
    def of(cls, contract) -> BillingClock:
        """The clock a deployed BilateralContracts runs on (attached with ``p2pkit.market.attach``)."""
        return from_struct(cls, contract.functions.billingClock().call())

    def as_abi(self) -> tuple:
        return (self.genesis_time, self.month_length, self.utc_offset, self.reading_grace)

    @property
    def is_calendar(self) -> bool:
        return self.month_length == 0

    def month_at(self, timestamp: float) -> int:
        if not self.is_calendar:
            return 0 if timestamp < self.genesis_time else int(timestamp - self.genesis_time) // self.month_length
        local = datetime.fromtimestamp(int(timestamp), self._zone())
        return (local.year - 1970) * 12 + local.month - 1

    def month_start(self, month: int) -> int:
        if not self.is_calendar:
            return self.genesis_time + month * self.month_length
        return max(0, int(datetime(1970 + month // 12, month % 12 + 1, 1, tzinfo=self._zone()).timestamp()))

    def month_end(self, month: int) -> int:
        return self.month_start(month + 1)

    def month_seconds(self, month: int) -> int:
        return self.month_end(month) - self.month_start(month)

    def meter_capacity_wh(self, rated_power_w: int, month: int) -> int:
        """What a meter of ``rated_power_w`` can measure in ``month``, floor(W x seconds / 3600) Wh
        (``BilateralMath.capacityWh``, ``capacityOf``): the most a monthly reading of it may name."""
        return rated_power_w * self.month_seconds(month) // 3600

    def reading_deadline(self, month: int) -> int:
        """The first moment a reading of ``month`` is refused as too late."""
        return self.month_end(month) + self.reading_grace

    def label(self, month: int) -> str:
        """ "2024-10" for a calendar month, "month 12" for a fixed-length one."""
        if self.is_calendar:
            return f"{1970 + month // 12}-{month % 12 + 1:02d}"
        return f"month {month}"

    def _zone(self) -> timezone:
        return timezone(timedelta(seconds=self.utc_offset))
