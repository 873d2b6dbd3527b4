"""The transaction lock and the light clients on both sister chains: deploy, attach, describe.

Each chain gets a ``SisterLightClient`` of the other chain (started from a checkpoint: the other
chain's latest header when it is deployed) and a ``SisterLock`` whose ledger holds that chain's
value. The two locks then name each other. ``SisterChain`` is one side as the relayer, the
scripts and the tests use it; ``SisterDeployment`` is what a deployment leaves in a JSON file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from p2pkit.contracts import contract_at, deploy
from p2pkit.sister.headers import encode_header
from p2pkit.transactions import send

TRADING = "trading"
SCHEDULING = "scheduling"


@dataclass(frozen=True)
class LockTerms:
    """One lock's settings: its chain's fixed supply, how much of it starts in the reserve (the
    rest is the operator's), the rate applied to what is unlocked there (units released per unit
    locked on the other chain, rounded down) and the confirmations an unlock waits for."""

    total_supply: int
    reserve: int
    rate: Fraction = Fraction(1)
    confirmations: int = 6

    def as_abi(self, light_client: str, remote_chain_id: int) -> tuple:
        rate = Fraction(self.rate)
        return (
            light_client,
            remote_chain_id,
            self.confirmations,
            self.total_supply,
            self.reserve,
            rate.numerator,
            rate.denominator,
        )


@dataclass
class SisterChain:
    """One chain of the pair: its lock, and its light client of the other chain."""

    name: str
    w3: Web3
    lock: Contract
    light_client: Contract

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id


@dataclass(frozen=True)
class SisterSide:
    """Where one side of the pair lives (part of ``SisterDeployment``)."""

    chain_id: int
    lock: str
    light_client: str
    operator: str
    start_block: int


@dataclass(frozen=True)
class SisterDeployment:
    """Both sides, as written to ``sister-deployment.json`` and read by the relayer's setup."""

    trading: SisterSide
    scheduling: SisterSide

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> SisterDeployment:
        try:
            document = json.loads(Path(path).read_text())
            return cls(**{name: SisterSide(**document[name]) for name in (TRADING, SCHEDULING)})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a sister-chain deployment file ({error})") from None

    @classmethod
    def of(cls, trading: SisterChain, scheduling: SisterChain) -> SisterDeployment:
        return cls(trading=_side(trading), scheduling=_side(scheduling))


def _side(chain: SisterChain) -> SisterSide:
    functions = chain.lock.functions
    return SisterSide(
        chain_id=chain.chain_id,
        lock=chain.lock.address,
        light_client=chain.light_client.address,
        operator=functions.operator().call(),
        start_block=functions.startBlock().call(),
    )


LOCK = "SisterLock"
LIGHT_CLIENT = "SisterLightClient"


def attach(name: str, w3: Web3, lock_address: str) -> SisterChain:
    """The side whose lock is at ``lock_address``, with the light client that lock uses."""
    lock = contract_at(w3, LOCK, lock_address)
    return SisterChain(name, w3, lock, contract_at(w3, LIGHT_CLIENT, lock.functions.lightClient().call()))


def deploy_light_client(
    w3: Web3, operator: LocalAccount, checkpoint_header: bytes, relayers: list[str], threshold: int
) -> Contract:
    """A light client of another chain, trusting ``checkpoint_header`` (RLP) and requiring
    ``threshold`` of ``relayers`` to submit each header."""
    return deploy(w3, operator, LIGHT_CLIENT, checkpoint_header, relayers, threshold)


def deploy_lock(
    w3: Web3, operator: LocalAccount, light_client: str, remote_chain_id: int, terms: LockTerms
) -> Contract:
    """A lock using ``light_client`` for proofs of chain ``remote_chain_id``; ``operator``
    receives the supply outside the reserve."""
    return deploy(w3, operator, LOCK, terms.as_abi(light_client, remote_chain_id))


def latest_header(w3: Web3) -> bytes:
    """The RLP header of a chain's latest block: the checkpoint a new light client trusts."""
    return encode_header(w3.eth.get_block("latest"))


def deploy_pair(
    trading: tuple[Web3, LocalAccount, LockTerms],
    scheduling: tuple[Web3, LocalAccount, LockTerms],
    relayers: list[str],
    threshold: int = 1,
) -> tuple[SisterChain, SisterChain]:
    """Both sides, each chain's light client checkpointed at the other's latest block, the
    locks naming each other. Each tuple: the chain, its operator, its lock's terms."""
    (trading_w3, trading_operator, trading_terms) = trading
    (scheduling_w3, scheduling_operator, scheduling_terms) = scheduling
    trading_client = deploy_light_client(
        trading_w3, trading_operator, latest_header(scheduling_w3), relayers, threshold
    )
    scheduling_client = deploy_light_client(
        scheduling_w3, scheduling_operator, latest_header(trading_w3), relayers, threshold
    )
    trading_lock = deploy_lock(
        trading_w3, trading_operator, trading_client.address, scheduling_w3.eth.chain_id, trading_terms
    )
    scheduling_lock = deploy_lock(
        scheduling_w3, scheduling_operator, scheduling_client.address, trading_w3.eth.chain_id, scheduling_terms
    )
    send(trading_w3, trading_lock.functions.setRemoteLock(scheduling_lock.address), trading_operator)
    send(scheduling_w3, scheduling_lock.functions.setRemoteLock(trading_lock.address), scheduling_operator)
    return (
        SisterChain(TRADING, trading_w3, trading_lock, trading_client),
        SisterChain(SCHEDULING, scheduling_w3, scheduling_lock, scheduling_client),
    )
