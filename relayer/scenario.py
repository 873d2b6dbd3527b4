"""Scenarios of transfers between the sister chains, each relayed by an in-process `Relayer`:
what ``scripts/sister_chains.py`` and the transfer benchmark run.

A scenario (JSON) names the exchange rate (rights released per token locked; tokens per right
is its inverse), the confirmations an unlock waits for, every account's starting balance on
both chains, and steps:

- ``purchase_rights``: ``by`` pays ``amount`` tokens to the account ``company`` on the trading
  chain, the company locks them for ``by``, and ``by`` receives the rights on the scheduling
  chain;
- ``tokens_to_rights`` / ``rights_to_tokens``: ``by`` locks ``amount`` of its own tokens
  (rights) for itself on the other chain.

`parse_scenario` checks a document completely before any chain is touched, including that no
step spends more than its account will hold by then (`expected_balances` is the plain model of
the steps); a `ScenarioError` names the field at fault. `ScenarioRun` deploys the pair on two
fresh chains with exactly the given balances (each lock's reserve is what the other chain's
accounts could ever convert into it, so no unlock waits for funds) and runs the steps one by
one, each until its unlock is mined.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from p2pkit.sister.lock import SCHEDULING, TRADING, LockTerms, SisterChain, deploy_pair
from p2pkit.sister.relay import LockEvent, lock_events
from p2pkit.transactions import send, transfer
from relayer.relayer import Relayer

COMPANY = "company"
# The chain each action locks on.
ACTIONS = {"purchase_rights": TRADING, "tokens_to_rights": TRADING, "rights_to_tokens": SCHEDULING}
CHAINS = (TRADING, SCHEDULING)
MAX_BALANCE = 2**100  # the ledgers' supply must stay below 2^128
MAX_RATE_TERM = 2**64
MAX_CONFIRMATIONS = 256  # the light client's deepest reorganisation
GAS_MONEY = 10**18  # ether each account and the relayer get on both chains, for gas


class ScenarioError(ValueError):
    """A scenario that cannot run; ``field`` is where it is at fault (``steps[1].amount``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Step:
    action: str
    by: str
    amount: int

    @property
    def source(self) -> str:
        return ACTIONS[self.action]

    @property
    def destination(self) -> str:
        return SCHEDULING if self.source == TRADING else TRADING


@dataclass(frozen=True)
class Scenario:
    rate: Fraction  # rights per token
    confirmations: int
    accounts: dict[str, dict[str, int]]  # name => chain => starting balance
    steps: list[Step]

    def rate_into(self, chain: str) -> Fraction:
        """What one unit locked on the other chain releases on ``chain``."""
        return self.rate if chain == SCHEDULING else 1 / self.rate


def _object(value: Any, field: str, keys: set[str], optional: set[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(field, "must be an object")
    for key in value:
        if key not in keys | optional:
            raise ScenarioError(f"{field}.{key}" if field != "scenario" else key, "unknown field")
    for key in sorted(keys - set(value)):
        raise ScenarioError(f"{field}.{key}" if field != "scenario" else key, "missing")
    return value


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(field, f"must be an integer, not {json_type(value)}")
    if not low <= value <= high:
        raise ScenarioError(field, f"must be between {low} and {high}, not {value}")
    return value


def json_type(value: Any) -> str:
    return {bool: "a boolean", str: "a string", float: "a fraction", list: "a list", dict: "an object"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _rate(value: Any) -> Fraction:
    """A positive rate: a JSON number (1, 0.5) or a string "p/q"."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ScenarioError("rate", f'must be a positive number or a string "p/q", not {json_type(value)}')
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise ScenarioError("rate", f'must be a positive number or a string "p/q", not {value!r}') from None
    if rate <= 0 or rate.numerator >= MAX_RATE_TERM or rate.denominator >= MAX_RATE_TERM:
        raise ScenarioError("rate", f"must be positive, its terms below 2^64, not {value!r}")
    return rate


def parse_scenario(document: Any) -> Scenario:
    """The scenario in a decoded JSON document; `ScenarioError` naming the field at fault."""
    _object(document, "scenario", {"accounts", "steps"}, {"rate", "confirmations"})
    rate = _rate(document.get("rate", 1))
    confirmations = _integer(document.get("confirmations", 6), "confirmations", 1, MAX_CONFIRMATIONS)
    accounts_document = document["accounts"]
    if not isinstance(accounts_document, dict) or not accounts_document:
        raise ScenarioError("accounts", "must be an object naming at least one account")
    accounts = {}
    for name, balances in accounts_document.items():
        if not name or len(name) > 64:
            raise ScenarioError(f"accounts.{name}", "an account's name has 1 to 64 characters")
        _object(balances, f"accounts.{name}", set(CHAINS))
        accounts[name] = {
            chain: _integer(balances[chain], f"accounts.{name}.{chain}", 0, MAX_BALANCE) for chain in CHAINS
        }
    if not isinstance(document["steps"], list):
        raise ScenarioError("steps", "must be a list")
    steps = []
    for index, step in enumerate(document["steps"]):
        field = f"steps[{index}]"
        _object(step, field, {"action", "by", "amount"})
        if step["action"] not in ACTIONS:
            raise ScenarioError(f"{field}.action", f"must be one of {', '.join(ACTIONS)}, not {step['action']!r}")
        if not isinstance(step["by"], str) or step["by"] not in accounts:
            raise ScenarioError(f"{field}.by", f"{step['by']!r} is not an account of the scenario")
        if step["action"] == "purchase_rights":
            if COMPANY not in accounts:
                raise ScenarioError(f"{field}.action", f"purchase_rights needs an account named {COMPANY!r}")
            if step["by"] == COMPANY:
                raise ScenarioError(f"{field}.by", "the company cannot purchase rights from itself")
        steps.append(Step(step["action"], step["by"], _integer(step["amount"], f"{field}.amount", 1, MAX_BALANCE)))
    scenario = Scenario(rate, confirmations, accounts, steps)
    expected_balances(scenario)  # refuses a step that spends more than its account holds
    return scenario


def release(scenario: Scenario, step: Step) -> int:
    """What ``step``'s unlock releases: the amount times the rate, rounded down."""
    rate = scenario.rate_into(step.destination)
    return step.amount * rate.numerator // rate.denominator


def expected_balances(scenario: Scenario) -> list[dict[str, dict[str, int]]]:
    """Every account's balances after each step, by the rules alone; `ScenarioError` for a step
    whose account does not hold what it spends."""
    balances = {name: dict(chains) for name, chains in scenario.accounts.items()}
    after = []
    for index, step in enumerate(scenario.steps):
        payer = balances[step.by][step.source]
        if payer < step.amount:
            raise ScenarioError(
                f"steps[{index}].amount",
                f"{step.amount} is more than {step.by}'s {step.source} balance at that step ({payer})",
            )
        balances[step.by][step.source] -= step.amount
        balances[step.by][step.destination] += release(scenario, step)
        after.append({name: dict(chains) for name, chains in balances.items()})
    return after


class TransferTimeout(RuntimeError):
    """A step's unlock was not mined in time (the relayer's last actions say why)."""


@dataclass(frozen=True)
class Backend:
    """Two fresh chains and how to run on them: ``funder`` holds ether on both (it deploys the
    locks and operates them); ``advance``, where blocks come only with transactions (embedded
    chains), mines one block on both chains while a transfer waits for confirmations."""

    name: str
    trading: Web3
    scheduling: Web3
    funder: LocalAccount
    advance: Callable[[], None] | None = None
    poll_interval: float = 0.2
    timeout: float = 300.0


class ScenarioRun:
    """``scenario`` on ``backend``'s chains: every account a new key, the pair deployed with
    exactly the scenario's balances, one in-process relayer (1 of 1)."""

    def __init__(self, scenario: Scenario, backend: Backend) -> None:
        self.scenario = scenario
        self.backend = backend
        self.keys = {name: Account.create() for name in scenario.accounts}
        self.relayer_key = Account.create()
        operator = backend.funder
        w3s = {TRADING: backend.trading, SCHEDULING: backend.scheduling}
        for w3 in w3s.values():
            for key in [*self.keys.values(), self.relayer_key]:
                transfer(w3, operator, key.address, GAS_MONEY)
        totals = {chain: sum(balances[chain] for balances in scenario.accounts.values()) for chain in CHAINS}
        terms = {}
        for chain in CHAINS:
            other = SCHEDULING if chain == TRADING else TRADING
            rate = scenario.rate_into(chain)
            reserve = totals[other] * rate.numerator // rate.denominator
            terms[chain] = LockTerms(totals[chain] + reserve, reserve, rate, scenario.confirmations)
        trading, scheduling = deploy_pair(
            (w3s[TRADING], operator, terms[TRADING]),
            (w3s[SCHEDULING], operator, terms[SCHEDULING]),
            [self.relayer_key.address],
        )
        self.chains = {TRADING: trading, SCHEDULING: scheduling}
        for chain in self.chains.values():
            for name, balances in scenario.accounts.items():
                if balances[chain.name]:
                    send(
                        chain.w3, chain.lock.functions.transfer(self.keys[name].address, balances[chain.name]), operator
                    )
        self.relayer = Relayer((trading, scheduling), self.relayer_key, header_batch=64, poll_interval=0)

    def description(self) -> dict[str, Any]:
        """The chains, contracts and accounts of the run."""
        return {
            "chains": self.backend.name,
            "rate": str(self.scenario.rate),
            "confirmations": self.scenario.confirmations,
            "contracts": {
                name: {
                    "chain_id": chain.chain_id,
                    "lock": chain.lock.address,
                    "light_client": chain.light_client.address,
                }
                for name, chain in self.chains.items()
            },
            "accounts": {name: key.address for name, key in self.keys.items()},
            "relayer": self.relayer_key.address,
        }

    def holdings(self) -> dict[str, Any]:
        """Every account's balances on both chains, and what each lock holds."""
        return {
            "balances": {
                name: {chain.name: chain.lock.functions.balanceOf(key.address).call() for chain in self.chains.values()}
                for name, key in self.keys.items()
            },
            "locks": {
                chain.name: {
                    "reserve": chain.lock.functions.reserve().call(),
                    "total_supply": chain.lock.functions.totalSupply().call(),
                }
                for chain in self.chains.values()
            },
        }

    def run(self, on_step: Callable[[dict[str, Any]], None] = lambda report: None) -> dict[str, Any]:
        """Every step in turn; the description, the starting holdings and each step's report."""
        result = {**self.description(), "start": self.holdings(), "steps": []}
        for index, step in enumerate(self.scenario.steps):
            report = {"step": index, **self.run_step(step)}
            result["steps"].append(report)
            on_step(report)
        return result

    def run_step(self, step: Step) -> dict[str, Any]:
        """One step, until its unlock is mined: its lock, unlock, wait and the holdings after."""
        source, destination = self.chains[step.source], self.chains[step.destination]
        actor = self.keys[step.by]
        report: dict[str, Any] = {"action": step.action, "by": step.by, "amount": step.amount}
        started = time.monotonic()
        if step.action == "purchase_rights":
            company = self.keys[COMPANY]
            paid = send(source.w3, source.lock.functions.transfer(company.address, step.amount), actor)
            report["payment"] = {
                "chain": source.name,
                "tx": _hex(paid["transactionHash"]),
                "block": paid["blockNumber"],
            }
            locked = send(source.w3, source.lock.functions.lock(step.amount, actor.address), company)
        else:
            locked = send(source.w3, source.lock.functions.lock(step.amount, actor.address), actor)
        (event,) = lock_events(source, locked["blockNumber"], locked["blockNumber"], 1)
        unlocked = self._relay_until_unlocked(source, destination, event, started)
        wall = time.monotonic() - started
        best_then = destination.light_client.functions.bestHeader().call(block_identifier=unlocked["blockNumber"])
        report |= {
            "lock": {
                "chain": source.name,
                "chain_id": source.chain_id,
                "tx": _hex(locked["transactionHash"]),
                "block": locked["blockNumber"],
                "lock_id": "0x" + event.lock_id.hex(),
                "sender": event.sender,
                "recipient": event.recipient,
                "amount": event.amount,
            },
            "unlock": {
                "chain": destination.name,
                "chain_id": destination.chain_id,
                "tx": _hex(unlocked["transactionHash"]),
                "block": unlocked["blockNumber"],
                "released": unlocked["args"]["released"],
            },
            "confirmations": best_then.number - event.block_number,
            "wall_seconds": round(wall, 3),
            **self.holdings(),
        }
        return report

    def _relay_until_unlocked(
        self, source: SisterChain, destination: SisterChain, event: LockEvent, started: float
    ) -> dict[str, Any]:
        """Step the relayer (and, on chains without block production, mine) until the lock is
        unlocked on ``destination``; the `Unlocked` log with its transaction and block."""
        while not destination.lock.functions.isUnlocked(event.lock_id).call():
            if time.monotonic() - started > self.backend.timeout:
                recent = [f"{a['kind']} {a['source']}->{a['destination']}: {a['outcome']}" for a in self._recent()]
                raise TransferTimeout(
                    f"lock 0x{event.lock_id.hex()} not unlocked after {self.backend.timeout:.0f} s; "
                    f"the relayer's last actions: {recent}"
                )
            if not any(action.kind == "unlock" for action in self.relayer.step()):
                if self.backend.advance is not None:
                    self.backend.advance()
                else:
                    time.sleep(self.backend.poll_interval)
        (log,) = destination.lock.events.Unlocked.get_logs(
            from_block=destination.lock.functions.startBlock().call(), argument_filters={"lockId": event.lock_id}
        )
        return log

    def _recent(self) -> list[dict[str, Any]]:
        return self.relayer.status()["actions"][-4:]


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()
