"""The scheduling chain's dispatch chore: re-assign the users a storage station dropped.

A station that turns unavailable drops every connection of that direction at once
(`ConnectionsDropped`) without touching its users' requests, so that the drop costs the same
whatever their number; each user is assigned again by one `reassign(user)`, which anyone may
send. `Reassigner.step` does that work in bounded pieces:

1. it reads the dispatch's events above the last block it read, at most ``max_blocks`` blocks a
   step: `Assigned` tells which station each user is connected to, `RequestClosed` that a
   request is gone, `ConnectionsDropped` which station's users to look at, `RequestWaiting`
   that a user waits for any station, `StationStateChanged` that a waiting user may now be
   served;
2. it sends `reassign` for at most ``batch`` of the users to look at, each checked on the chain
   just before (still open, not connected), so a user re-assigned by someone else, or who
   cancelled, costs a read and no transaction.

A user no station can serve now (`NoStationAvailable`) waits until a station reports being
available again. What is known is rebuilt from the chain's events: a reassigner started afresh
reads from the dispatch's first block and does nothing twice (a refusal that says the work is
done, `ConnectionInForce` or `NoOpenRequest`, is expected and harmless).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract

from p2pkit.transactions import ContractRefused, send

log = logging.getLogger("relayer.reassigner")

WATCHED_EVENTS = ("Assigned", "RequestClosed", "RequestWaiting", "ConnectionsDropped", "StationStateChanged")
WORK_ALREADY_DONE = frozenset({"ConnectionInForce", "NoOpenRequest"})


@dataclass(frozen=True)
class Reassignment:
    """What came of one user's re-assignment: ``sent`` (its transaction), ``done`` (nothing left
    to do), ``waiting`` (no station available) or ``refused`` (another refusal, in ``detail``)."""

    user: str
    outcome: str
    detail: str | None = None
    tx: str | None = None


class Reassigner:
    """Re-assigns dropped and waiting users of one dispatch contract, a bounded batch a step."""

    def __init__(
        self,
        w3: Web3,
        contract: Contract,
        signer: LocalAccount,
        from_block: int = 0,
        batch: int = 16,
        max_blocks: int = 2_000,
    ):
        self.w3, self.contract, self.signer = w3, contract, signer
        self.batch, self.max_blocks = batch, max_blocks
        self._next_block = from_block
        self._connected: dict[str, tuple[int, int]] = {}  # user -> (station, direction)
        self._due: dict[str, None] = {}  # users to re-assign, oldest first
        self._waiting: set[str] = set()  # users no station could serve at their last try
        self._decoders = {
            event_abi_to_log_topic(getattr(contract.events, name).abi): getattr(contract.events, name)()
            for name in WATCHED_EVENTS
        }

    @property
    def due(self) -> list[str]:
        """Users whose re-assignment is still to be tried, in order."""
        return list(self._due)

    def step(self) -> list[Reassignment]:
        """Read the next events, then try up to ``batch`` re-assignments."""
        self._read_events()
        outcomes = []
        for user in list(self._due)[: self.batch]:
            del self._due[user]
            outcomes.append(self._reassign(user))
        return outcomes

    def _read_events(self) -> None:
        head = self.w3.eth.block_number
        if self._next_block > head:
            return
        last = min(head, self._next_block + self.max_blocks - 1)
        logs = self.w3.eth.get_logs({"address": self.contract.address, "fromBlock": self._next_block, "toBlock": last})
        for entry in logs:
            decoder = self._decoders.get(bytes(entry["topics"][0])) if entry["topics"] else None
            if decoder is not None:
                self._apply(decoder.process_log(entry))
        self._next_block = last + 1

    def _apply(self, event) -> None:
        name, args = event["event"], event["args"]
        if name == "Assigned":
            self._connected[args["user"]] = (args["station"], args["direction"])
            self._due.pop(args["user"], None)
            self._waiting.discard(args["user"])
        elif name == "RequestClosed":
            self._connected.pop(args["user"], None)
            self._due.pop(args["user"], None)
            self._waiting.discard(args["user"])
        elif name == "RequestWaiting":
            self._connected.pop(args["user"], None)
            self._due[args["user"]] = None
        elif name == "ConnectionsDropped":
            dropped = (args["station"], args["direction"])
            for user, connection in list(self._connected.items()):
                if connection == dropped:
                    del self._connected[user]
                    self._due[user] = None
        elif args["canSupply"] or args["canAbsorb"]:  # StationStateChanged: waiting users may be served
            for user in self._waiting:
                self._due[user] = None
            self._waiting.clear()

    def _reassign(self, user: str) -> Reassignment:
        request = self.contract.functions.requestOf(user).call()
        if not request[0] or self.contract.functions.connected(user).call():
            return Reassignment(user, "done")
        try:
            receipt = send(self.w3, self.contract.functions.reassign(user), self.signer)
        except ContractRefused as refusal:
            if refusal.name == "NoStationAvailable":
                self._waiting.add(user)
                return Reassignment(user, "waiting", str(refusal))
            if refusal.name in WORK_ALREADY_DONE:
                return Reassignment(user, "done", str(refusal))
            log.warning("reassign %s refused: %s", user, refusal)
            return Reassignment(user, "refused", str(refusal))
        return Reassignment(user, "sent", tx=receipt["transactionHash"].to_0x_hex())
