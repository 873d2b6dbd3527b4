"""The sister chains as the backend serves them: the market's chain is the trading chain (its
tokens a `SisterLock` ledger beside the market), the scheduling chain a second upstream, served
at `/rpc/scheduling` by the same proxy, with the same denials and bounds.

The `SISTER_SCHEDULING_CHAIN` setting says where the scheduling chain is: unset, there are no
sister chains; "embedded" (with `CHAIN=embedded` only) starts it in this process
(`devnet.embedded.embedded_chain`) and deploys the pair with the market's operator as both
chains' operator, trusting the relayers `SISTER_RELAYERS` names (1 of n), each given ether on
both chains; a node URL uses the pair named by the `SISTER_DEPLOYMENT` file
(`p2pkit.sister.lock.SisterDeployment`). Either way the relayer is the daemon, `python -m
relayer run`, which may reach an embedded pair through this backend's `/rpc` and
`/rpc/scheduling` like any client (every method it uses passes the proxy).

An embedded chain answers one request at a time (its provider's `chain_lock`); every read here
also holds the chain's `TurnLock` (the market's for the trading chain), which its upstream takes,
so a read of several calls sees no request of the proxy's between them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from web3 import Web3

from p2pkit.market import MarketHandle, TurnLock
from p2pkit.sister.lock import SCHEDULING, TRADING, LockTerms, SisterChain, SisterDeployment, attach, deploy_pair
from p2pkit.transactions import transfer

EMBEDDED = "embedded"
SCHEDULING_CHAIN_ID = 46602
ETHER = 10**18
# The embedded pair: each ledger's supply, the part of it in the lock's reserve (the rest is the
# operator's, the energy company's, to sell or hand out), rate 1 both ways.
EMBEDDED_SUPPLY = 10**12
EMBEDDED_RESERVE = 10**11
EMBEDDED_CONFIRMATIONS = 6
OPERATOR_SCHEDULING_ETHER = 1_000 * ETHER
RELAYER_ETHER = 100 * ETHER


class SisterUnavailable(RuntimeError):
    """The sister chains cannot be served as configured; the message says why."""


@dataclass
class SisterChains:
    """Both sides as the backend reads them, and the lock each chain's reads must hold."""

    trading: SisterChain
    scheduling: SisterChain
    locks: dict[str, TurnLock | contextlib.nullcontext] = field(default_factory=dict)

    def chain(self, name: str) -> SisterChain:
        return self.trading if name == TRADING else self.scheduling

    def other(self, name: str) -> SisterChain:
        return self.scheduling if name == TRADING else self.trading

    def holding(self, *names: str) -> contextlib.ExitStack:
        """The locks of the chains ``names`` (trading first, so that no two holders deadlock)."""
        stack = contextlib.ExitStack()
        for name in (TRADING, SCHEDULING):
            if name in names:
                stack.enter_context(self.locks.get(name) or contextlib.nullcontext())
        return stack


@dataclass
class EmbeddedPair:
    """The embedded scheduling chain, its lock, and the pair."""

    chains: SisterChains
    scheduling_w3: Web3
    scheduling_lock: TurnLock


def start_embedded_pair(market: MarketHandle, relayers: list[str]) -> EmbeddedPair:
    """A scheduling chain in this process, the pair deployed on it and the market's chain,
    trusting ``relayers`` (the operator when none), each given ether on both chains."""
    from devnet.embedded import dev_accounts, embedded_chain

    if market.operator is None:
        raise SisterUnavailable("the embedded sister chains need the market operator's key")
    scheduling_w3 = embedded_chain(SCHEDULING_CHAIN_ID)
    scheduling_lock = TurnLock()
    operator = market.operator
    relayers = relayers or [operator.address]
    terms = LockTerms(EMBEDDED_SUPPLY, EMBEDDED_RESERVE, Fraction(1), EMBEDDED_CONFIRMATIONS)
    with market.lock, scheduling_lock:
        transfer(scheduling_w3, dev_accounts(scheduling_w3)[0], operator.address, OPERATOR_SCHEDULING_ETHER)
        for w3 in (market.w3, scheduling_w3):
            for relayer in relayers:
                if relayer != operator.address:
                    transfer(w3, operator, relayer, RELAYER_ETHER)
        trading, scheduling = deploy_pair((market.w3, operator, terms), (scheduling_w3, operator, terms), relayers)
    chains = SisterChains(trading, scheduling, {TRADING: market.lock, SCHEDULING: scheduling_lock})
    return EmbeddedPair(chains, scheduling_w3, scheduling_lock)


def open_deployed_pair(
    market: MarketHandle, scheduling_url: str, deployment_file: Path, timeout: float
) -> SisterChains:
    """The pair named by ``deployment_file``, its trading side on the market's chain."""
    try:
        deployment = SisterDeployment.load(deployment_file)
    except ValueError as error:
        raise SisterUnavailable(str(error)) from None
    scheduling_w3 = Web3(Web3.HTTPProvider(scheduling_url, request_kwargs={"timeout": timeout}))
    trading = attach(TRADING, market.w3, deployment.trading.lock)
    scheduling = attach(SCHEDULING, scheduling_w3, deployment.scheduling.lock)
    return SisterChains(trading, scheduling)
