"""The market contract from Python: deploying it, attaching to it, and what it is described by.

Every Python part of the platform (server, keeper, meter bridge, scripts, tests) reaches the
contract through ``attach``, which decodes the contract's structs by name: ``accountOf`` gives a
record with ``.wallet`` and ``.isGrid``, ``bookOf`` one with ``.stage`` and ``.averagePrice``;
nothing reads a record by position. Transactions are signed locally (``p2pkit.transactions``),
on the embedded chain as on a real node, so nothing depends on an unlocked node account.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import asdict, astuple, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor

from p2pkit.artifacts import MARKET
from p2pkit.continuous import book_of
from p2pkit.contracts import constructor, contract_at
from p2pkit.schedule import Schedule, from_struct
from p2pkit.transactions import send

if TYPE_CHECKING:
    from p2pkit.retail.contracts import Retail

WEI_PER_ETHER = 10**18
# Widths of the contract's integers, for checking input before it reaches the chain.
MAX_UINT32 = 2**32 - 1
MAX_UINT40 = 2**40 - 1
MAX_UINT64 = 2**64 - 1
ZERO_ADDRESS = "0x" + "00" * 20


class Stage(IntEnum):
    """The contract's ``Stage``: how far matching of a delivery period's book has gone."""

    GREEN_PASS = 0
    FULL_PASS = 1
    DONE = 2


@dataclass(frozen=True)
class MarketParameters:
    """Operator parameters. Defaults are the paper's factors (W' 1.1, W'' 0.9, M' 0.01,
    M'' 0.05); margin 1e-3 ether; reference price 0.7e-3 ether/kWh, near the paper's prices;
    bids between 0.01e-3 and 10e-3 ether/kWh, which leaves the paper's 0.45e-3 to 0.85e-3 a
    wide range either side while keeping a self-trade at an absurd price out."""

    shortfall_factor_bps: int = 11_000
    surplus_factor_bps: int = 9_000
    reward_factor_bps: int = 100
    penalty_factor_bps: int = 500
    forfeit_bps: int = 5_000
    margin: int = 10**15
    reference_price: int = 7 * 10**14
    price_floor: int = 10**13
    price_cap: int = 10**16

    def as_abi(self) -> tuple:
        return astuple(self)

    @classmethod
    def of(cls, contract: Contract) -> MarketParameters:
        """The parameters a deployed market holds now."""
        return from_struct(cls, contract.functions.parameters().call())


@dataclass(frozen=True)
class Deployment:
    """Where the market lives on a chain: written by the deploy script, read by the backend,
    the keeper and the meter bridge (``deployment.json``).

    ``retail_plans`` and ``bilateral_contracts`` are the retail contracts deployed beside the
    market (``p2pkit.retail.contracts``), None in a file that has none (a market alone, or a
    file written before retail existed)."""

    chain_id: int
    market: str
    operator: str
    grid: str
    block: int
    retail_plans: str | None = None
    bilateral_contracts: str | None = None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            fields = json.loads(Path(path).read_text())
            required = {name: fields[name] for name in REQUIRED_DEPLOYMENT_FIELDS}
            optional = {name: fields.get(name) for name in OPTIONAL_DEPLOYMENT_FIELDS}
            deployment = cls(**required, **optional)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: not a deployment file ({error})") from None
        for name in OPTIONAL_DEPLOYMENT_FIELDS:
            address = getattr(deployment, name)
            if address is not None and not Web3.is_address(address):
                raise ValueError(f"{path}: not a deployment file ({name} {address!r} is not an address)")
        if (deployment.retail_plans is None) != (deployment.bilateral_contracts is None):
            raise ValueError(f"{path}: not a deployment file (retail_plans and bilateral_contracts go together)")
        return deployment

    @classmethod
    def of(
        cls, w3: Web3, market: Contract, retail_plans: str | None = None, bilateral_contracts: str | None = None
    ) -> Deployment:
        return cls(
            chain_id=w3.eth.chain_id,
            market=market.address,
            operator=market.functions.operator().call(),
            grid=market.functions.grid().call(),
            block=deployment_block(w3, market.address),
            retail_plans=retail_plans,
            bilateral_contracts=bilateral_contracts,
        )


OPTIONAL_DEPLOYMENT_FIELDS = ("retail_plans", "bilateral_contracts")
REQUIRED_DEPLOYMENT_FIELDS = tuple(
    name for name in Deployment.__dataclass_fields__ if name not in OPTIONAL_DEPLOYMENT_FIELDS
)


def deployment_block(w3: Web3, address: str) -> int:
    """The block in which the contract at ``address`` was created: the first with its code."""
    low, high = 0, w3.eth.block_number
    while low < high:
        middle = (low + high) // 2
        if w3.eth.get_code(address, middle):
            high = middle
        else:
            low = middle + 1
    return low


class TurnLock:
    """A reentrant lock its waiters get in the order they asked for it.

    ``threading.RLock`` lets the thread that releases it take it straight back before a waiting
    thread wakes up, so a client sending request after request could keep the keeper off an
    embedded chain for as long as it likes; here each waiter gets its turn.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[tuple[int, threading.Lock]] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append((me, turn))
        if turn.acquire(timeout=timeout):
            return True  # handed over by release(), which made this thread the owner
        with self._guard:
            if (me, turn) in self._waiting:
                self._waiting.remove((me, turn))
                return False
            return True  # handed over just as the wait timed out

    def release(self) -> None:
        with self._guard:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a TurnLock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner, turn = self._waiting.popleft()
                self._depth = 1
                turn.release()
            else:
                self._owner = None

    def __enter__(self) -> TurnLock:
        self.acquire()
        return self

    def __exit__(self, *exception: object) -> None:
        self.release()


@dataclass
class MarketHandle:
    """The deployed market as the parts of one process share it.

    ``operator`` signs the operator's own transactions (admission, parameters) and the embedded
    setup's. ``keeper_key`` signs the keeper's chores, which anyone may send: a key of its own, so
    that the keeper and the operator at the page never take each other's nonces; without one the
    keeper signs with ``operator`` (``keeper``). ``grid_key`` is only there for a market deployed
    on an embedded chain, under a key made for that chain, to be handed to whoever plays the
    grid. ``lock`` serialises every use
    of an embedded (in-process, not thread-safe) chain; with a node it is uncontended. ``retail``
    is the retail contracts beside the market (``p2pkit.retail.contracts.Retail``), None when the
    deployment has none. The continuous book is found through the market (``continuous_book``).
    """

    w3: Web3
    contract: Contract
    deployment: Deployment
    operator: LocalAccount | None = None
    grid_key: LocalAccount | None = None
    keeper_key: LocalAccount | None = None
    lock: TurnLock = field(default_factory=TurnLock)
    retail: Retail | None = None
    _continuous_book: Contract | None = field(default=None, init=False, repr=False)

    @property
    def keeper(self) -> LocalAccount | None:
        """The key the keeper signs with: its own, else the operator's; None with neither."""
        return self.keeper_key or self.operator

    def continuous_book(self) -> Contract | None:
        """The continuous book the market names (``p2pkit.continuous``), None before its
        operator has named one; read from the market until it names one, then kept (the
        market names its book once)."""
        if self._continuous_book is None:
            with self.lock:
                self._continuous_book = book_of(self.w3, self.contract)
        return self._continuous_book

    @classmethod
    def attach(
        cls,
        w3: Web3,
        deployment: Deployment,
        operator: LocalAccount | None = None,
        keeper_key: LocalAccount | None = None,
    ) -> MarketHandle:
        retail = None
        if deployment.bilateral_contracts is not None:
            # The retail toolkit builds on this module (the period driver's enrolment).
            from p2pkit.retail.contracts import CONTRACTS, PLANS, Retail

            retail = Retail(
                contract_at(w3, PLANS, deployment.retail_plans),
                contract_at(w3, CONTRACTS, deployment.bilateral_contracts),
            )
        return cls(w3, attach(w3, deployment.market), deployment, operator, retail=retail, keeper_key=keeper_key)


def attach(w3: Web3, address: str, abi: list | None = None) -> Contract:
    """The market deployed at ``address``, its structs decoded by name."""
    return contract_at(w3, MARKET, address, abi)


PAPER_SCHEDULE = Schedule()
DEFAULT_PARAMETERS = MarketParameters()


def market_constructor(
    w3: Web3, grid: str, schedule: Schedule = PAPER_SCHEDULE, parameters: MarketParameters = DEFAULT_PARAMETERS
) -> ContractConstructor:
    """The deployment of a fresh market, to be signed by its operator."""
    return constructor(w3, MARKET, grid, schedule.as_abi(), parameters.as_abi())


def deploy_market(
    w3: Web3,
    operator: LocalAccount,
    grid: str,
    schedule: Schedule = PAPER_SCHEDULE,
    parameters: MarketParameters = DEFAULT_PARAMETERS,
) -> Contract:
    """Deploy a fresh market; ``operator`` signs and becomes the operator."""
    receipt = send(w3, market_constructor(w3, grid, schedule, parameters), operator)
    return attach(w3, receipt["contractAddress"])
