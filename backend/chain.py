"""The market contract from Python: artifact, deployment, sealed-bid helpers and signed calls.

Every Python part of the platform (backend, keeper, scripts, tests) reaches the contract through
this module. Transactions are always signed locally with an ``eth_account`` key and sent raw, on
the embedded chain as on a real node, so nothing depends on an unlocked node account.
"""
from __future__ import annotations

import ast
import json
import os
import re
import threading
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path

from eth_abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.types import TxReceipt

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT_DIR = ROOT / "build" / "contracts"
WEI_PER_ETHER = 10**18


@dataclass(frozen=True)
class MarketSchedule:
    """The market clock (seconds). Defaults: the paper's 15-minute period with commit in minutes
    0-3, reveal 3-5, matching 5-10 and settlement from minute 10; readings for a period are
    accepted during the whole next period."""

    period_length: int = 900
    commit_end: int = 180
    reveal_end: int = 300
    settle_start: int = 600
    reading_grace: int = 900
    genesis_time: int = 0  # 0: the deployment block's time

    @classmethod
    def scaled(cls, period_length: int, genesis_time: int = 0) -> MarketSchedule:
        """The default phases stretched or shrunk to another period length (demos, tests)."""
        fraction = period_length / 900
        return cls(
            period_length=period_length,
            commit_end=max(1, round(180 * fraction)),
            reveal_end=max(2, round(300 * fraction)),
            settle_start=max(3, round(600 * fraction)),
            reading_grace=period_length,
            genesis_time=genesis_time,
        )

    def as_abi(self) -> tuple:
        return (
            self.genesis_time,
            self.period_length,
            self.commit_end,
            self.reveal_end,
            self.settle_start,
            self.reading_grace,
        )


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
    """The deployed market as the backend's parts share it (``app.extensions["p2p_market"]``).

    ``operator`` is the only key the server holds: it signs the keeper's and the embedded
    setup's transactions. ``lock`` serialises every use of an embedded (in-process, not
    thread-safe) chain; with a node it is uncontended.
    """

    w3: Web3
    contract: Contract
    deployment: Deployment
    operator: LocalAccount | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)


def embedded_dev_accounts(w3: Web3) -> list[LocalAccount]:
    """The funded accounts of an embedded eth-tester chain, as local signing keys."""
    keys = w3.provider.ethereum_tester.backend.account_keys
    return [Account.from_key(key.to_bytes()) for key in keys]


def embedded_time_travel(w3: Web3, timestamp: int) -> None:
    """Move an embedded eth-tester chain's clock so that the next transaction's block is mined
    at ``timestamp`` (eth-tester mines an empty block one second before it). Time only moves
    forward."""
    if timestamp > w3.eth.get_block("latest")["timestamp"]:
        w3.provider.ethereum_tester.time_travel(timestamp)


def transfer(w3: Web3, signer: LocalAccount, to: str, value: int) -> TxReceipt:
    """Send plain ether, signed locally."""
    tx = {
        "to": to,
        "value": value,
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def load_artifact(name: str = "EnergyMarket", directory: Path | None = None) -> dict:
    """ABI and bytecode written by ``make setup`` (scripts/compile_contracts.py)."""
    path = (directory or ARTIFACT_DIR) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup` to compile the contracts")
    return json.loads(path.read_text())


def market_at(w3: Web3, address: str) -> Contract:
    """The market contract deployed at ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact()["abi"])


def send(w3: Web3, call: ContractFunction, signer: LocalAccount, *, value: int = 0, gas: int | None = None) -> TxReceipt:
    """Sign ``call`` with ``signer``, send it raw and wait for its receipt.

    Raises ``ContractRefused`` when the contract refuses the call while its gas is estimated,
    before anything is sent.
    """
    params = {"from": signer.address, "value": value, "nonce": w3.eth.get_transaction_count(signer.address, "pending")}
    if gas is not None:
        params["gas"] = gas
    try:
        tx = call.build_transaction(params)
    except (ContractCustomError, TransactionFailed) as error:
        data = revert_data(error)
        if data is None:
            raise
        raise ContractRefused(*decode_error(data, getattr(call, "contract_abi", None))) from None
    signed = signer.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def deploy_market(
    w3: Web3,
    operator: LocalAccount,
    grid: str,
    schedule: MarketSchedule = MarketSchedule(),
    parameters: MarketParameters = MarketParameters(),
) -> Contract:
    """Deploy a fresh market; ``operator`` signs and becomes the operator."""
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send(w3, factory.constructor(grid, schedule.as_abi(), parameters.as_abi()), operator)
    return market_at(w3, receipt["contractAddress"])


class ContractRefused(Exception):
    """A contract refused a call with one of its custom errors (see its interface in contracts/)."""

    def __init__(self, name: str, arguments: tuple) -> None:
        super().__init__(f"{name}({', '.join(map(str, arguments))})")
        self.name = name
        self.arguments = arguments


def revert_data(error: Exception) -> bytes | None:
    """The raw revert data (error selector + arguments) of a refused call, if it carries any.

    A node reports it as the JSON-RPC error's data (web3's ``ContractCustomError``); eth-tester
    raises ``TransactionFailed`` holding the bytes inside py-evm's ``Revert`` (gas estimation)
    or their ``repr`` as text (calls).
    """
    if isinstance(error, ContractCustomError):
        return bytes.fromhex(error.data.removeprefix("0x"))
    for cause in (error, error.__context__):
        detail = cause.args[0] if cause is not None and cause.args else None
        if isinstance(detail, Exception) and detail.args and isinstance(detail.args[0], bytes):
            return detail.args[0]
        if isinstance(detail, bytes):
            return detail
        if isinstance(detail, str):
            text = detail.removeprefix("execution reverted: ")
            if re.fullmatch(r"b(['\"]).*\1", text, re.DOTALL):
                return ast.literal_eval(text)
    return None


def decode_error(data: str | bytes, abi: list | None = None) -> tuple[str, tuple]:
    """Name and arguments of a custom error from its revert data (selector + ABI-encoded args)."""
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data)
    for entry in abi or load_artifact()["abi"]:
        if entry["type"] != "error":
            continue
        types = [i["type"] for i in entry["inputs"]]
        if keccak(text=f"{entry['name']}({','.join(types)})")[:4] == raw[:4]:
            return entry["name"], tuple(decode(types, raw[4:]))
    raise ValueError(f"unknown error selector 0x{raw[:4].hex()}")


def commitment(quantity_wh: int, price: int, salt: bytes, bidder: str) -> bytes:
    """The sealed bid: keccak256(abi.encode(uint40 quantity, uint64 price, bytes32 salt, address bidder))."""
    return keccak(encode(["uint40", "uint64", "bytes32", "address"], [quantity_wh, price, salt, bidder]))


def new_salt() -> bytes:
    return os.urandom(32)


@dataclass
class SealedBid:
    """A bid as its owner keeps it between commit and reveal."""

    quantity_wh: int
    price: int
    salt: bytes = field(default_factory=new_salt)

    def commitment(self, bidder: str) -> bytes:
        return commitment(self.quantity_wh, self.price, self.salt, bidder)
