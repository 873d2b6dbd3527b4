"""The relayer: carries headers and lock proofs between the two sister chains.

Each `Relayer.step` does, for both directions (trading to scheduling and back):

1. headers: the source chain's canonical headers above the highest one the other chain's light
   client holds, one batch (`submitHeaders`);
2. unlocks: every `Locked` event of the source's lock in a block that the light client holds on
   its best chain with the required confirmations, not yet unlocked on the destination, up to
   a batch: the receipt proof is built from the source's block and `unlock` sent.

What is done is read from the chains on every step (the light client's best header and held
headers, `isUnlocked` of each lock id), never remembered, so a relayer stopped at any point,
even between sending a transaction and seeing it mined, resumes without doing anything twice
or leaving anything out. The one thing kept in memory is, per direction, the block below which
every lock is known to be unlocked, so that a step does not rescan the whole history; a new
relayer starts from the lock's first block. Several relayers may run at once: a refusal saying
the work is done (`NoNewHeaders`, `AlreadyUnlocked`) is expected then and harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction

from p2pkit.sister.lock import SisterChain
from p2pkit.sister.relay import LockEvent, lock_events, missing_headers, unlock_proof
from p2pkit.transactions import ContractRefused, refusal_of, send

# A header batch's gas, stated rather than estimated: a header costs 105k-137k gas to check and
# store (London headers, batch or single; see docs/sister-chains.md), so 160k each leaves room,
# and 16 headers stay far below a block's gas limit.
HEADERS_BASE_GAS = 60_000
HEADER_GAS = 160_000


log = logging.getLogger("relayer")

# Refusals meaning another relayer (or this one before a restart) has done the work.
WORK_ALREADY_DONE = frozenset({"NoNewHeaders", "AlreadyUnlocked"})
# Refusals that clear up by themselves as the chains move on or the operator acts.
NOT_YET = frozenset({"NotEnoughConfirmations", "NotOnBestChain", "UnknownHeader", "InsufficientReserve"})
MAX_RETRY_DELAY = 60.0
HISTORY = 50


@dataclass(frozen=True)
class RelayAction:
    """A transaction the relayer sent, or the refusal that stopped it."""

    SENT = "sent"
    ALREADY_DONE = "already done"
    WAITING = "waiting"  # refused for now (detail: the refusal); tried again next step
    REFUSED = "refused"  # refused for good (detail: the refusal)

    kind: str  # "headers" or "unlock"
    source: str
    destination: str
    outcome: str
    detail: str | None = None
    tx: str | None = None
    block: int | None = None
    gas_used: int | None = None
    headers: int = 0
    lock_id: str | None = None
    at: float = field(default_factory=time.time)


class Relayer:
    """Relays between ``chains`` (the two sides) with ``account``'s key (see the module's
    description). ``step`` does one round and returns what it sent; ``run`` repeats it until
    stopped, waiting ``poll_interval`` when there was nothing to send and longer after
    failures (node down, transaction reverted). ``chores`` are further steps run after the
    relaying (the stations' re-assignment, `relayer.reassigner`): each returns what it did, an
    outcome ``"sent"`` counting as work done."""

    def __init__(
        self,
        chains: tuple[SisterChain, SisterChain],
        account: LocalAccount,
        *,
        header_batch: int = 16,
        unlock_batch: int = 8,
        log_block_range: int = 2000,
        poll_interval: float = 2.0,
        chores: Sequence[Callable[[], list]] = (),
    ) -> None:
        self._chains = chains
        self._chores = tuple(chores)
        self._account = account
        self._header_batch = header_batch
        self._unlock_batch = unlock_batch
        self._log_block_range = log_block_range
        self._poll_interval = poll_interval
        self._unlocked_below: dict[str, int] = {}  # source name => first block not known done
        self._actions: deque[RelayAction] = deque(maxlen=HISTORY)
        self._status_lock = threading.Lock()

    def directions(self) -> tuple[tuple[SisterChain, SisterChain], ...]:
        first, second = self._chains
        return ((first, second), (second, first))

    # ------------------------------------------------------------------ one step

    def step(self) -> list[RelayAction]:
        """Headers in both directions, then the unlocks that are due in both directions, then
        each of the chores. A direction whose node fails does not hold up the other, nor a chore:
        the step does the rest of its work, then raises the first failure."""
        actions: list[RelayAction] = []
        failures: list[Exception] = []
        for work in (self.relay_headers, self.relay_unlocks):
            for source, destination in self.directions():
                try:
                    done = work(source, destination)
                except Exception as error:  # a node down or too slow; the other direction goes on
                    failures.append(error)
                    continue
                actions += [done] if isinstance(done, RelayAction) else done or []
        for chore in self._chores:
            try:
                actions += chore()
            except Exception as error:  # its chain's node down; relaying goes on
                failures.append(error)
        if failures:
            raise failures[0]
        return actions

    def relay_headers(self, source: SisterChain, destination: SisterChain) -> RelayAction | None:
        """Submit the next batch of the source's headers the destination's light client lacks."""
        headers = missing_headers(source.w3, destination.light_client, self._header_batch, self._account.address)
        if not headers:
            return None
        call = destination.light_client.functions.submitHeaders(headers)
        gas = HEADERS_BASE_GAS + HEADER_GAS * len(headers)
        return self._transact("headers", source, destination, call, gas, headers=len(headers))

    def relay_unlocks(self, source: SisterChain, destination: SisterChain) -> list[RelayAction]:
        """Unlock on ``destination`` the source's locks that are due and not yet unlocked."""
        required = destination.lock.functions.confirmationsRequired().call()
        best_number = destination.light_client.functions.bestHeader().call().number
        start = self._unlocked_below.get(source.name)
        if start is None:
            start = source.lock.functions.startBlock().call()
        last = min(best_number - required, source.w3.eth.block_number)
        if last < start:
            return []
        actions: list[RelayAction] = []
        done_below = last + 1
        for event in lock_events(source, start, last, self._log_block_range):
            if destination.lock.functions.isUnlocked(event.lock_id).call():
                continue
            if len(actions) == self._unlock_batch or not self._light_client_agrees(destination, event):
                done_below = min(done_below, event.block_number)
                continue
            action = self.unlock(source, destination, event)
            actions.append(action)
            if action.outcome not in (RelayAction.SENT, RelayAction.ALREADY_DONE):
                done_below = min(done_below, event.block_number)
        self._unlocked_below[source.name] = done_below
        return actions

    def _light_client_agrees(self, destination: SisterChain, event: LockEvent) -> bool:
        """Whether the light client's best chain has the lock's block (it may still be on
        another branch, or the source node on a branch that is about to lose)."""
        canonical = destination.light_client.functions.canonicalHashAt(event.block_number).call()
        return bytes(canonical) == event.block_hash

    def unlock(self, source: SisterChain, destination: SisterChain, event: LockEvent) -> RelayAction:
        """Prove ``event`` and send its unlock."""
        proof = unlock_proof(source.w3, event)
        call = destination.lock.functions.unlock(*proof.as_args())
        return self._transact("unlock", source, destination, call, None, lock_id="0x" + event.lock_id.hex())

    def _transact(
        self,
        kind: str,
        source: SisterChain,
        destination: SisterChain,
        call: ContractFunction,
        gas: int | None,
        **about: Any,
    ) -> RelayAction:
        """Send ``call``: its gas estimated, or ``gas`` after one dry run that surfaces a refusal
        just as an estimate would (an estimate runs the call a dozen times or more)."""
        try:
            if gas is not None:
                dry_run(call, self._account.address)
            receipt = send(destination.w3, call, self._account, gas=gas)
        except ContractRefused as refusal:
            outcome = (
                RelayAction.ALREADY_DONE
                if refusal.name in WORK_ALREADY_DONE
                else RelayAction.WAITING
                if refusal.name in NOT_YET
                else RelayAction.REFUSED
            )
            return self._record(RelayAction(kind, source.name, destination.name, outcome, str(refusal), **about))
        tx = receipt["transactionHash"].to_0x_hex()
        if receipt["status"] != 1:
            return self._record(
                RelayAction(
                    kind,
                    source.name,
                    destination.name,
                    RelayAction.REFUSED,
                    f"transaction {tx} reverted",
                    tx,
                    receipt["blockNumber"],
                    **about,
                )
            )
        return self._record(
            RelayAction(
                kind,
                source.name,
                destination.name,
                RelayAction.SENT,
                None,
                tx,
                receipt["blockNumber"],
                receipt["gasUsed"],
                **about,
            )
        )

    # ------------------------------------------------------------------ running

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set."""
        failures = 0
        delay = 0.0
        while not stop.wait(delay):
            try:
                actions = self.step()
            except Exception as error:
                failures += 1
                delay = min(self._poll_interval * 2**failures, MAX_RETRY_DELAY)
                log.warning("step failed (%s: %s); next try in %.0f s", type(error).__name__, error, delay)
                continue
            failures = 0
            delay = 0.0 if any(action.outcome == RelayAction.SENT for action in actions) else self._poll_interval

    def _record(self, action: RelayAction) -> RelayAction:
        level = logging.INFO if action.outcome in (RelayAction.SENT, RelayAction.ALREADY_DONE) else logging.WARNING
        log.log(
            level,
            "%s %s -> %s: %s%s",
            action.kind,
            action.source,
            action.destination,
            action.outcome,
            f" ({action.detail})" if action.detail else f" {action.tx}",
        )
        with self._status_lock:
            self._actions.append(action)
        return action

    def status(self) -> dict[str, Any]:
        """The relayer's account and its last actions (JSON-ready)."""
        with self._status_lock:
            return {"account": self._account.address, "actions": [asdict(action) for action in self._actions]}


def connect(rpc_url: str, timeout: float) -> Web3:
    """A node at ``rpc_url``."""
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


def dry_run(call: ContractFunction, sender: str) -> None:
    """Run ``call`` once against the latest block; ``ContractRefused`` if the contract refuses it."""
    try:
        call.call({"from": sender}, block_identifier="latest")
    except Exception as error:
        refusal = refusal_of(error, call.contract_abi)
        if refusal is None:
            raise
        raise refusal from None
