"""The market's clock: periods and phases derived from block time, as ``MarketClock.sol`` has them.

Period p covers [genesis + p x length, genesis + (p + 1) x length); before genesis the clock
reads period 0, commit phase. Each period has four phases, by offset from its start: commit
[0, commit_end), reveal [commit_end, reveal_end), matching [reveal_end, settle_start) and
settlement [settle_start, length).

A delivery period d is bid for during period d - 1 (its auction), delivered during period d, and
settled during period d + 1, when its meter readings are accepted from the start of d + 1 until
``reading_grace`` seconds later. ``Schedule`` is the only model of this clock in Python; the
page has its own copy in ``frontend/clock.js``.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from enum import IntEnum
from typing import Any, TypeVar

# The paper's 15-minute period: commit in minutes 0-3, reveal 3-5, matching 5-10, settlement
# from minute 10; readings for a period accepted during the whole next period.
PAPER_PERIOD = 900
SECONDS_PER_HOUR = 3600


Record = TypeVar("Record")


def from_struct(kind: type[Record], struct: Any) -> Record:
    """A dataclass from the contract's struct of the same fields, decoded by name: each field
    `some_name` from the struct's `someName`."""

    def camel(name: str) -> str:
        first, *rest = name.split("_")
        return first + "".join(word.capitalize() for word in rest)

    return kind(**{field.name: getattr(struct, camel(field.name)) for field in fields(kind)})


class Phase(IntEnum):
    """The contract's ``Phase``: where a period is."""

    COMMIT = 0
    REVEAL = 1
    MATCHING = 2
    SETTLEMENT = 3


@dataclass(frozen=True)
class PhaseAt:
    """The period and phase at a moment, and the seconds until the phase ends."""

    period: int
    phase: Phase
    seconds_left: int


@dataclass(frozen=True)
class Schedule:
    """The market clock (seconds), fixed at deployment. ``genesis_time`` 0 at deployment means
    the deployment block's time."""

    period_length: int = PAPER_PERIOD
    commit_end: int = 180
    reveal_end: int = 300
    settle_start: int = 600
    reading_grace: int = PAPER_PERIOD
    genesis_time: int = 0

    @classmethod
    def scaled(cls, period_length: int, genesis_time: int = 0) -> Schedule:
        """The paper's phases stretched or shrunk to another period length (demos, tests)."""
        fraction = period_length / PAPER_PERIOD
        return cls(
            period_length=period_length,
            commit_end=max(1, round(180 * fraction)),
            reveal_end=max(2, round(300 * fraction)),
            settle_start=max(3, round(600 * fraction)),
            reading_grace=period_length,
            genesis_time=genesis_time,
        )

    @classmethod
    def of(cls, contract: Any) -> Schedule:
        """The schedule of a deployed market (a contract attached with ``p2pkit.market.attach``)."""
        return from_struct(cls, contract.functions.schedule().call())

    def as_abi(self) -> tuple:
        """The constructor's ``Schedule`` argument, in the struct's field order."""
        return (
            self.genesis_time,
            self.period_length,
            self.commit_end,
            self.reveal_end,
            self.settle_start,
            self.reading_grace,
        )

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.__dataclass_fields__, astuple(self)))

    # ---------------------------------------------------------------- periods and phases

    def period_at(self, time: float) -> int:
        if time < self.genesis_time:
            return 0
        return int(time - self.genesis_time) // self.period_length

    def start(self, period: int) -> int:
        return self.genesis_time + period * self.period_length

    def phase_at(self, time: int) -> PhaseAt:
        period = self.period_at(time)
        offset = max(0, time - self.start(period))
        for phase, end in (
            (Phase.COMMIT, self.commit_end),
            (Phase.REVEAL, self.reveal_end),
            (Phase.MATCHING, self.settle_start),
        ):
            if offset < end:
                return PhaseAt(period, phase, end - offset)
        return PhaseAt(period, Phase.SETTLEMENT, self.period_length - offset)

    # ---------------------------------------------------------------- a delivery period's times

    def auction_opens(self, delivery_period: int) -> int:
        """The commit window for `delivery_period` opens (the start of the period before)."""
        return self.start(delivery_period - 1)

    def reveal_opens(self, delivery_period: int) -> int:
        return self.start(delivery_period - 1) + self.commit_end

    def auction_closes(self, delivery_period: int) -> int:
        """The reveal window closes; matching may start."""
        return self.start(delivery_period - 1) + self.reveal_end

    def delivery_ends(self, delivery_period: int) -> int:
        """The delivery period is over: its meter readings are accepted from now."""
        return self.start(delivery_period + 1)

    def settlement_opens(self, delivery_period: int) -> int:
        return self.start(delivery_period + 1) + self.settle_start

    def readings_close(self, delivery_period: int) -> int:
        """No reading for `delivery_period` is accepted from now."""
        return self.start(delivery_period + 1) + self.reading_grace

    def meter_capacity_wh(self, rated_power_w: int) -> int:
        """What a meter of `rated_power_w` can measure in one period, floor(W x length / 3600) Wh
        (``MarketMath.capacityWh``): the most a reading of it, or a bid of its prosumer, may name."""
        return rated_power_w * self.period_length // SECONDS_PER_HOUR
