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
from dataclasses import asdict, astuple, dataclass, field
from enum import IntEnum
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor

from p2pkit.artifacts import load_artifact
from p2pkit.schedule import Schedule, from_struct
from p2pkit.transactions import send

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
    M'' 0.05); margin 1e-3 ether; reference price 0.7e-3 ether/kWh, near the paper's prices."""

    shortfall_factor_bps: int = 11_000
    surplus_factor_bps: int = 9_000
    reward_factor_bps: int = 100
    penalty_factor_bps: int = 500
    forfeit_bps: int = 5_000
    margin: int = 10**15
    reference_price: int = 7 * 10**14

    def as_abi(self) -> tuple:
        return astuple(self)

    @classmethod
    def of(cls, contract: Contract) -> MarketParameters:
        """The parameters a deployed market holds now."""
        return from_struct(cls, contract.functions.parameters().call())


@dataclass(frozen=True)
class Deployment:
    """Where the market lives on a chain: written by the deploy script, read by the backend,
    the keeper and the meter bridge (``deployment.json``)."""

    chain_id: int
    market: str
    operator: str
    grid: str
    block: int

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            fields = json.loads(Path(path).read_text())
            return cls(**{name: fields[name] for name in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a deployment file ({error})") from None

    @classmethod
    def of(cls, w3: Web3, market: Contract) -> Deployment:
        return cls(
            chain_id=w3.eth.chain_id,
            market=market.address,
            operator=market.functions.operator().call(),
            grid=market.functions.grid().call(),
            block=deployment_block(w3, market.address),
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


@dataclass
class MarketHandle:
    """The deployed market as the parts of one process share it.

    ``operator`` is the only key a server holds: it signs the keeper's transactions. ``lock``
    serialises every use of an embedded (in-process, not thread-safe) chain; with a node it is
    uncontended.
    """

    w3: Web3
    contract: Contract
    deployment: Deployment
    operator: LocalAccount | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def attach(cls, w3: Web3, deployment: Deployment, operator: LocalAccount | None = None) -> MarketHandle:
        return cls(w3, attach(w3, deployment.market), deployment, operator)


def attach(w3: Web3, address: str, abi: list | None = None) -> Contract:
    """The market deployed at ``address``, its structs decoded by name."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=abi or load_artifact()["abi"], decode_tuples=True
    )


PAPER_SCHEDULE = Schedule()
DEFAULT_PARAMETERS = MarketParameters()


def market_constructor(
    w3: Web3, grid: str, schedule: Schedule = PAPER_SCHEDULE, parameters: MarketParameters = DEFAULT_PARAMETERS
) -> ContractConstructor:
    """The deployment of a fresh market, to be signed by its operator."""
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    return factory.constructor(grid, schedule.as_abi(), parameters.as_abi())


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
