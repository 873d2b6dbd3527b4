"""Signing and sending transactions, and the contract's refusals decoded by name.

Transactions are signed locally with an ``eth_account`` key and sent raw. A call the contract
refuses is refused while its gas is estimated, before anything is sent: ``send`` raises
``ContractRefused`` with the custom error's name and arguments (see IEnergyMarket.sol), whether
the chain is a node (the error's data in the JSON-RPC answer) or the embedded eth-tester chain
(the revert's bytes inside the exception it raises).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from p2pkit.artifacts import load_artifact

TRANSFER_GAS = 21_000


class ContractRefused(Exception):
    """A contract refused a call with one of its custom errors (IEnergyMarket.sol, the sister
    chains' ISisterLock.sol and ISisterLightClient.sol), decoded with the called contract's ABI.

    ``Reverted`` stands for a revert without a custom error (its argument says what there was).
    """

    def __init__(self, name: str, arguments: tuple) -> None:
        super().__init__(f"{name}({', '.join(map(str, arguments))})")
        self.name = name
        self.arguments = arguments


class TransactionReverted(Exception):
    """A transaction was mined but failed (status 0): the chain changed between estimating its
    gas and mining it."""


def send(
    w3: Web3,
    call: ContractFunction | ContractConstructor,
    signer: LocalAccount,
    *,
    value: int = 0,
    gas: int | None = None,
) -> TxReceipt:
    """Sign ``call`` with ``signer``, send it raw and wait for its receipt.

    Raises ``ContractRefused`` when the contract refuses the call while its gas is estimated,
    before anything is sent. A nonce the node calls stale is counted again, twice at most.
    """
    attempts = 0
    while True:
        attempts += 1
        nonce = w3.eth.get_transaction_count(signer.address, "pending")
        params = {"from": signer.address, "value": value, "nonce": nonce}
        if gas is not None:
            params["gas"] = gas
        tx = build(call, params)
        try:
            tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
        except Exception as error:  # the node's refusal, as JSON-RPC or eth-tester reports it
            # Another process signing with the same key (the keeper, with the operator's) took
            # the nonce between our count and our send. The node refused the transaction, so
            # signing it again with the next nonce cannot apply it twice.
            if attempts < STALE_NONCE_ATTEMPTS and _stale_nonce(error):
                continue
            raise
        return w3.eth.wait_for_transaction_receipt(tx_hash)


STALE_NONCE_ATTEMPTS = 3


def _stale_nonce(error: Exception) -> bool:
    message = str(error).lower()
    return "nonce too low" in message or "invalid transaction nonce" in message


def build(call: ContractFunction | ContractConstructor, params: dict[str, Any]) -> dict[str, Any]:
    """The transaction of ``call`` (gas estimated unless given); ``ContractRefused`` if the
    contract refuses it."""
    try:
        return call.build_transaction(params)
    except Exception as error:
        refusal = refusal_of(error, call.abi if isinstance(call, ContractConstructor) else call.contract_abi)
        if refusal is None:
            raise
        raise refusal from None


def transfer(w3: Web3, signer: LocalAccount, to: str, value: int) -> TxReceipt:
    """Send plain ether, signed locally."""
    tx = {
        "to": to,
        "value": value,
        "gas": TRANSFER_GAS,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def refusal_of(error: Exception, abi: list | None = None) -> ContractRefused | None:
    """The contract's refusal that `error` reports, or None when it carries no revert data.

    Revert data of an error the market does not declare gives ``Reverted`` with the data.
    """
    data = revert_data(error)
    if data is None:
        return None
    try:
        return ContractRefused(*decode_error(data, abi))
    except ValueError:
        return ContractRefused("Reverted", ("0x" + data.hex(),))


def revert_data(error: Exception) -> bytes | None:
    """The raw revert data (error selector + arguments) of a refused call, if it carries any.

    A node reports it as the JSON-RPC error's data (web3's ``ContractCustomError`` or
    ``ContractLogicError``). The embedded chain raises eth-tester's ``TransactionFailed`` around
    py-evm's ``Revert``, which holds the bytes; both are found by walking the exception chain,
    so this module need not import the test chain.
    """
    data = getattr(error, "data", None) if isinstance(error, (ContractCustomError, ContractLogicError)) else None
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return bytes.fromhex(data[2:])
    for cause in _chain(error):
        for argument in cause.args:
            if isinstance(argument, bytes):
                return argument
            if isinstance(argument, Exception) and argument.args and isinstance(argument.args[0], bytes):
                return argument.args[0]
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def decode_error(data: str | bytes, abi: list | None = None) -> tuple[str, tuple]:
    """Name and arguments of a custom error from its revert data (selector + ABI-encoded args)."""
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else bytes(data)
    for entry in abi or load_artifact()["abi"]:
        if entry["type"] != "error":
            continue
        types = [_abi_type(i) for i in entry["inputs"]]
        if keccak(text=f"{entry['name']}({','.join(types)})")[:4] == raw[:4]:
            return entry["name"], tuple(decode(types, raw[4:]))
    raise ValueError(f"unknown error selector 0x{raw[:4].hex()}")


def _abi_type(entry: dict) -> str:
    if entry["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in entry["components"]) + ")" + entry["type"][len("tuple") :]
    return entry["type"]
