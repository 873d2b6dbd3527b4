"""Any of the platform's contracts from Python: one deployed at an address, or a new one from its
constructor, both from the compiled artifact (``p2pkit.artifacts``) and with the contract's
structs decoded by name (a record with ``.number`` and ``.held``, never read by position)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor

from p2pkit.artifacts import load_artifact
from p2pkit.transactions import send


def contract_at(w3: Web3, name: str, address: str, abi: list | None = None) -> Contract:
    """Contract ``name`` deployed at ``address`` (with ``abi`` instead of the artifact's, if given)."""
    return w3.eth.contract(
        address=Web3.to_checksum_address(address), abi=abi or load_artifact(name)["abi"], decode_tuples=True
    )


def constructor(w3: Web3, name: str, *args) -> ContractConstructor:
    """The deployment of a new contract ``name`` with constructor arguments ``args``, to be signed."""
    artifact = load_artifact(name)
    return w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(*args)


def deploy(w3: Web3, signer: LocalAccount, name: str, *args) -> Contract:
    """Deploy a new contract ``name``, signed by ``signer``; refusals raise ``ContractRefused``."""
    receipt = send(w3, constructor(w3, name, *args), signer)
    return contract_at(w3, name, receipt["contractAddress"])
