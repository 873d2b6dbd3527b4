"""A deadline for contract code the embedded chain runs for a `/rpc` client (the backend's
`InProcessUpstream` sets it).

py-evm runs the EVM in this process, under the embedded chain's one lock, at about a million gas
a second: a call given the block gas limit could hold the chain, and with it the read API and
the keeper, for tens of seconds. On a node gas bounds the work; here time has to as well.

`EmbeddedVM` is py-evm's Prague VM (eth-tester's default) that checks a deadline of the calling
thread, set with `deadline(at)`: at every jump and every call or create, which any loop or
recursion passes on each round, and throughout a precompile, whose pure-Python arithmetic
(ecPairing, BLS12-381) can take seconds for little gas. The precompile check is a trace hook,
on only while a precompile runs under a deadline. Past the deadline `CallTimedOut` is raised out
of the call, whose state changes are thrown away as those of any call are. Without a deadline
(transactions, the backend's own calls) the VM is py-evm's, at the cost of one attribute look-up
per jump.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, ClassVar

from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState

# JUMP, JUMPI, CREATE, CALL, CALLCODE, DELEGATECALL, CREATE2, STATICCALL
CHECKED_OPCODES = (0x56, 0x57, 0xF0, 0xF1, 0xF2, 0xF4, 0xF5, 0xFA)


class CallTimedOut(Exception):
    """Contract code ran past the deadline it was given."""


_deadline = threading.local()


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Run the enclosed EVM calls of this thread until `at` (a `time.monotonic()` value)."""
    _deadline.at = at
    try:
        yield
    finally:
        _deadline.at = None


def _check_deadline() -> None:
    at = getattr(_deadline, "at", None)
    if at is not None and time.monotonic() > at:
        raise CallTimedOut("the call ran past its time limit")


class _CheckedOpcode:
    """An opcode that looks at the deadline before it runs."""

    def __init__(self, opcode: Any) -> None:
        self._opcode = opcode

    def __call__(self, computation: Any) -> Any:
        _check_deadline()
        return self._opcode(computation=computation)

    def __getattr__(self, name: str) -> Any:  # mnemonic, gas_cost: as the opcode's
        return getattr(self._opcode, name)


def _checked_precompile(precompile: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(computation: Any) -> Any:
        _check_deadline()
        if getattr(_deadline, "at", None) is None:
            return precompile(computation)
        previous = sys.gettrace()
        sys.settrace(_trace_deadline)
        try:
            return precompile(computation)
        finally:
            sys.settrace(previous)

    return run


def _trace_deadline(frame: FrameType, event: str, arg: Any) -> None:
    _check_deadline()  # on every Python call the precompile makes; no line tracing


class _DeadlineComputation(PragueComputation):
    opcodes: ClassVar[dict[int, Any]] = {
        code: _CheckedOpcode(opcode) if code in CHECKED_OPCODES else opcode
        for code, opcode in PragueComputation.opcodes.items()
    }
    _precompiles: ClassVar[dict[bytes, Callable[[Any], Any]]] = {
        address: _checked_precompile(precompile) for address, precompile in PragueComputation.get_precompiles().items()
    }


class _DeadlineState(PragueState):
    computation_class = _DeadlineComputation


class EmbeddedVM(PragueVM):
    """Prague, with the deadline checks."""

    _state_class = _DeadlineState
