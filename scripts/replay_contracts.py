"""Replay a week of bilateral contracts: thousands signed day by day, then settled month by month.

    .venv/bin/python scripts/replay_contracts.py [--chain embedded|anvil|geth|URL] [--scale S] [--out DIR]

Deploys the market and the retail contracts, admits a few retailers (each with a published plan
and a meter for its whole feed-in), and plays a week: every day a number of new customers (an
office, a shop, a small factory) enrol in the market with a meter and a retail wallet and sign a
one- to three-month contract with both signatures at once, with a retailer, or with a producer
of their own (a generator with its own meter). Daily counts vary like a week of the source's
study (busy Monday, quiet weekend: 7,000 contracts at --scale 1). Then each billing month ends,
the meters post the month's frozen registers (about one in a hundred stays silent, so the
integrity rule settles it), and anyone's ``settleBatch`` calls settle every contract, a bounded
batch per transaction. Deposits and prepaid wallets are drawn so that most customers can pay and
some cannot: those contracts default. Everything is seeded (``--seed``).

Each contract is settled in the same way by the plain-Python reference (sim/retail_reference.py)
from the same readings, wallets and deposits: the replay checks that every contract ends as the
reference says (completed, or defaulted in the same month with the same shortfall) and that the
retail wallets, deposits held and withdrawals add up to what was deposited.

Chains: ``embedded`` (eth-tester in this process), ``anvil`` (started here on a free port with
1 s blocks, 30M gas), ``geth`` (two proof-of-work nodes started here in a temporary folder, node 1
mining, everything sent to node 2, the operator paying), or a node's URL. A node's clock cannot be
moved: give it short ``--day-seconds``/``--month-seconds`` and a ``--reading-grace`` of a few
blocks (docs/retail.md). Billing months are
fixed-length (``--month-seconds``, 30 days by default) from the deployment.

Writes to ``--out`` (default ``bench/results/replay_contracts_<embedded|anvil|node>/``): ``days.md`` (the
table printed), ``days.csv`` (per signing day: signed, settled
in full, in default, transactions, failed, mean and p95 seconds from submission to inclusion),
``months.csv`` (the same for each billing month's readings and settlement), ``contracts.csv``
(every contract with its outcome and the reference's), ``transactions.csv`` and
``contracts.png``. Prints the days' table. Exit status 0 when no transaction failed, every
contract ended as the reference says and money is conserved; 1 otherwise.

On a node other than anvil the account paying for the replay comes from ``REPLAY_FUNDER_KEY`` (hex)
or ``REPLAY_FUNDER_KEY_FILE``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import requests
import rlp
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_utils import keccak, to_canonical_address
from eth_utils.abi import (
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
)
from replay_day import Chain  # the day replay beside this script: the same chains and funder
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound

from devnet.geth import geth_private_network
from devnet.nodes import anvil
from p2pkit.market import deploy_market
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import deploy_retail
from p2pkit.retail.plans import PlanTerms, PriceKind
from p2pkit.retail.terms import ContractState, MonthResult, Terms, sign_terms
from p2pkit.transactions import TRANSFER_GAS, refusal_of
from sim import retail_reference as reference

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
UNIT = 10**12  # the replay's currency unit in wei: prices of a few tenths of a unit per kWh
GAS_PRICE = 10 * 10**9  # at least; twice the base fee when that is higher (full blocks raise it 12.5 % each)
GAS_MONEY = 5 * 10**16
GAS_MARGIN = 1.25
SETTLE_BATCH = 150  # contracts per settleBatch: about 6M gas (bench/retail_gas.py), well inside a 30M-gas block
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_SHARE = (1.18, 1.12, 1.08, 1.04, 0.98, 0.83, 0.77)  # of a seventh of the week
WEEK_AT_SCALE_1 = 7000
RETAILERS = 5
PRODUCER_SHARE = 0.3
SILENT_METER = 0.01
FIRST_REGISTER_WH = 100_000_000
INCLUSION_TIMEOUT = 600.0  # seconds without any of a step's transactions in a block before it gives up
IN_FLIGHT = 1000  # sent and not yet in a block, at most: anvil's pool slows down as it fills (bench/senders.py)
RPC_BATCH = 100  # requests per JSON-RPC batch
RESEND_AFTER = 30.0  # seconds without a new transaction in a block, while some wait, before sending again
RETAILER_WALLET = 10**18  # a million units: a retailer never runs short in the replay
# A retailer's month of feed-in, at most: a meter's register counts under 10^9 Wh between two
# readings (RetailReadings.REGISTER_WRAP_WH); still far above any contract's 20 MWh a month.
RETAILER_FEED_CAP_WH = 900_000_000
RETAILER_RATING_W = 10**9
ESTIMATE_ATTEMPTS = 3  # an estimate the node fails without the contract's refusal is asked again


# ---------------------------------------------------------------- the chain


class Node(Chain):
    """The day replay's chain (embedded, anvil or another node, and who pays), with its URL;
    ``paying``, when given, pays instead (the Geth network's operator)."""

    def __init__(self, target: str, kind: str | None = None, paying: LocalAccount | None = None):
        super().__init__(target)
        self.url = None if self.kind == "embedded" else target
        self.kind = kind or self.kind
        self._paying = paying

    def funder(self) -> LocalAccount:
        return self._paying or super().funder()

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def move_to(self, timestamp: int) -> None:
        """Block time at least ``timestamp`` from the next block on (waits on a node)."""
        self.wait_until(timestamp)


@dataclass
class Sent:
    """One transaction: what it was for, when it was sent and seen in a block, and how it went."""

    row: str  # "day 1" .. "day 7", "month 3"
    what: str
    tx_hash: str
    submitted: float
    included: float | None = None
    ok: bool = False
    reason: str = ""
    raw: bytes = field(default=b"", repr=False)
    resent: int = 0  # times sent again, while not in a block
    block: int | None = None

    @property
    def latency(self) -> float | None:
        return None if self.included is None else self.included - self.submitted


@dataclass
class Planned:
    """A transaction to send in the current step: a contract call, or ether to ``to``."""

    row: str
    what: str
    signer: LocalAccount
    call: object = None
    to: str | None = None
    value: int = 0


class Pipeline:
    """Sends a step's signed transactions without waiting for each, then waits for the whole step.

    ``send`` plans a transaction and ``wait`` sends the step's: nonces counted here (the replay's
    accounts are new, at nonce 0; the funder's is asked once), call data encoded once with the
    function's ABI, gas estimated for every transaction against the latest block, so against the
    chain as the previous step left it (a step never depends on a transaction of its own), then
    each transaction signed once and sent. On a node the estimates, sends, receipts and reads go
    as plain JSON-RPC batches of ``batch`` requests, at most ``in_flight`` of them sent and not yet
    in a block, so that the replay measures the chain
    rather than the round trips or web3's formatting; an estimate the node refuses is recorded by
    the contract's error name, and the rest of its batch goes on. A thread watches new blocks (on
    a node) and notes when each transaction is first seen in one.
    """

    def __init__(self, node: Node, in_flight: int = IN_FLIGHT, batch: int = RPC_BATCH):
        self.node = node
        self.in_flight, self.batch = in_flight, batch
        self.w3 = node.w3
        self.nonces: dict[str, int] = {}
        self.sent: list[Sent] = []
        self._planned: list[Planned] = []
        self._waiting: dict[str, Sent] = {}
        self._seen: dict[str, float] = {}
        self._price: int | None = None  # gas price of the current step
        self._chain_id = self.w3.eth.chain_id
        self._session = requests.Session()
        self._next_id = 0
        self._stop = threading.Event()
        self._watcher = None
        if node.kind != "embedded":
            self._watcher = threading.Thread(target=self._watch, args=(Web3(Web3.HTTPProvider(node.url)),), daemon=True)
            self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()

    def send(
        self, row: str, what: str, signer: LocalAccount, call=None, *, to: str | None = None, value: int = 0
    ) -> None:
        """Plan ``call`` (or plain ether to ``to``) signed by ``signer``, sent at ``wait``; a
        refusal is a failure."""
        self._planned.append(Planned(row, what, signer, call, to, value))

    def fresh(self, *accounts: LocalAccount) -> None:
        """Accounts made by the replay: their first nonce is 0, without asking."""
        for account in accounts:
            self.nonces.setdefault(account.address, 0)

    def wait(self) -> list[Sent]:
        """Send the step, wait until every transaction sent is in a block; the step's successful
        transactions (their events: ``events``)."""
        step, unsent = self._sign_planned()
        seen, progress = len(self._seen), time.monotonic()
        last_included = progress
        while True:
            missing = [r for h, r in self._waiting.items() if h not in self._seen]
            while unsent and len(missing) < self.in_flight:
                missing += self._send_signed(unsent[: self.batch], step)
                unsent = unsent[self.batch :]
            if not missing or time.monotonic() - last_included > INCLUSION_TIMEOUT:
                break
            if len(self._seen) > seen:
                seen, progress = len(self._seen), time.monotonic()
                last_included = progress
            elif time.monotonic() - progress > RESEND_AFTER:
                # No block took any for a while: a node may have lost some from its pool (anvil
                # did under load, leaving a nonce gap that holds the sender's later ones).
                self._resend(missing)
                progress = time.monotonic()
            time.sleep(0.05)
        included = []
        for tx_hash, record in self._waiting.items():
            record.included = self._seen.get(tx_hash)
            if record.included is None:
                record.reason = "not included"
            else:
                included.append(record)
        for record, (status, block) in zip(included, self._receipts([r.tx_hash for r in included])):
            record.ok, record.block = status == 1, block
            record.reason = "" if record.ok else "reverted"
        self._waiting.clear()
        self._price = None  # the next step's, from the base fee then
        return [record for record in step if record.ok]

    def events(self, event, records: list[Sent]) -> list[dict]:
        """The arguments, by name, of the ``event``s (a contract's event) that ``records``
        emitted, read from the blocks they are in: one log query for a whole step, decoded
        straight with eth-abi on a node (web3 formats each log for milliseconds)."""
        if not records:
            return []
        hashes = {record.tx_hash for record in records}
        first, last = min(r.block for r in records), max(r.block for r in records)
        if self.node.url is None:
            logs = event().get_logs(from_block=first, to_block=last)
            return [dict(log.args) for log in logs if log.transactionHash.to_0x_hex() in hashes]
        query = {"fromBlock": hex(first), "toBlock": hex(last), "address": event.address}
        query["topics"] = ["0x" + event_abi_to_log_topic(event.abi).hex()]
        (reply,) = self._batch([("eth_getLogs", [query])], strict=True)
        indexed = [entry for entry in event.abi["inputs"] if entry["indexed"]]
        data = [entry for entry in event.abi["inputs"] if not entry["indexed"]]
        data_types = get_abi_input_types({"type": "event", "inputs": data})
        found = []
        for log in reply["result"]:
            if log["transactionHash"] not in hashes:
                continue
            args = dict(
                zip([e["name"] for e in data], self.w3.codec.decode(data_types, bytes.fromhex(log["data"][2:])))
            )
            for entry, topic in zip(indexed, log["topics"][1:]):
                (args[entry["name"]],) = self.w3.codec.decode([entry["type"]], bytes.fromhex(topic[2:]))
                if entry["type"] == "address":
                    args[entry["name"]] = Web3.to_checksum_address(args[entry["name"]])
            found.append(args)
        return found

    def read(self, calls: list) -> list:
        """The results of view ``calls`` at the latest block (a single output as itself, several
        as a tuple), in JSON-RPC batches on a node."""
        if self.node.url is None:
            return [call.call() for call in calls]
        replies = self._batch(
            [("eth_call", [{"to": call.address, "data": calldata(call)}, "latest"]) for call in calls], strict=True
        )
        results = []
        for call, reply in zip(calls, replies):
            decoded = self.w3.codec.decode(get_abi_output_types(call.abi), bytes.fromhex(reply["result"][2:]))
            results.append(decoded[0] if len(decoded) == 1 else decoded)
        return results

    def _sign_planned(self) -> tuple[list[Sent], list[tuple[Planned, bytes]]]:
        """The step's refused transactions (as records) and its others, signed, in order."""
        planned, self._planned = self._planned, []
        for signer in {p.signer.address for p in planned} - self.nonces.keys():
            self.nonces[signer] = self.w3.eth.get_transaction_count(signer, "pending")
        transactions = []
        for plan in planned:
            tx = {"from": plan.signer.address, "value": plan.value, "gasPrice": self._gas_price()}
            tx["chainId"] = self._chain_id
            if plan.call is None:
                tx.update(to=plan.to, gas=TRANSFER_GAS)
            else:
                tx.update(to=plan.call.address, data=calldata(plan.call))
            transactions.append(tx)
        gas = self._estimates(planned, transactions)
        step, signed = [], []
        for plan, tx, estimate in zip(planned, transactions, gas):
            if isinstance(estimate, str):
                record = Sent(plan.row, plan.what, "", time.monotonic(), reason=f"refused: {estimate}")
                self.sent.append(record)
                step.append(record)
                continue
            nonce = self.nonces[plan.signer.address]
            self.nonces[plan.signer.address] = nonce + 1
            raw = sign_legacy(plan.signer, {**tx, "gas": estimate, "nonce": nonce})
            signed.append((plan, raw))
        return step, signed

    def _send_signed(self, chunk: list[tuple[Planned, bytes]], step: list[Sent]) -> list[Sent]:
        """Send one batch of signed transactions; their records, now waiting for a block."""
        submitted = time.monotonic()
        records = []
        for (plan, raw), tx_hash in zip(chunk, self._send_raw([raw for _, raw in chunk])):
            record = Sent(plan.row, plan.what, tx_hash, submitted, raw=raw)
            records.append(record)
            self._waiting[tx_hash] = record
            if self._watcher is None:  # eth-tester mined it while sending
                self._seen[tx_hash] = time.monotonic()
        self.sent += records
        step += records
        return [record for record in records if record.tx_hash not in self._seen]

    def _estimates(self, planned: list[Planned], transactions: list[dict]) -> list[int | str]:
        """Gas for each transaction (with the margin), or the reason it is refused. Estimated
        without the gas price (a sender need not hold a whole block's gas) and against the latest
        block: Geth's pending block, rebuilt between an estimate's trial runs, could drive an
        estimate to the gas cap (see meter_bridge/chain.py)."""
        calls = [
            (i, {key: tx[key] for key in ("from", "to", "data", "value")})
            for i, (tx, plan) in enumerate(zip(transactions, planned))
            if plan.call is not None
        ]
        gas: list[int | str] = [TRANSFER_GAS] * len(transactions)
        if self.node.url is None:  # the embedded chain: one by one, a refusal by its name
            for i, estimate in calls:
                try:
                    gas[i] = int(self.w3.eth.estimate_gas(estimate, "latest") * GAS_MARGIN)
                except Exception as error:
                    reason = refusal_text(error, planned[i].call)
                    if reason is None:
                        raise
                    gas[i] = reason
            return gas
        for attempt in range(1, ESTIMATE_ATTEMPTS + 1):
            requests_ = [
                ("eth_estimateGas", [{**estimate, "value": hex(estimate["value"])}, "latest"]) for _, estimate in calls
            ]
            again = []
            for (i, estimate), reply in zip(calls, self._batch(requests_)):
                if "result" in reply:
                    gas[i] = int(int(reply["result"], 16) * GAS_MARGIN)
                    continue
                error = reply["error"]
                gas[i] = refusal_text(ContractLogicError(error.get("message"), data=error.get("data")), planned[i].call)
                if not error.get("data") and attempt < ESTIMATE_ATTEMPTS:
                    # No revert data: not the contract's refusal but the node's trouble (a loaded
                    # Geth answered "request timed out"): asked again, after the others.
                    again.append((i, estimate))
            if not again:
                break
            calls = again
            time.sleep(1.0)
        return gas

    def _resend(self, missing: list[Sent]) -> None:
        """Send the very same signed transactions again; a node that still has one says so."""
        print(f"  {len(missing)} transactions not in a block after {RESEND_AFTER:g} s: sent again", file=sys.stderr)
        for chunk in chunks(missing, self.batch):
            self._send_raw([record.raw for record in chunk], known=True)
            for record in chunk:
                record.resent += 1

    def _send_raw(self, raws: list[bytes], known: bool = False) -> list[str]:
        """Send signed transactions; their hashes."""
        if self.node.url is None:
            return [self.w3.eth.send_raw_transaction(raw).to_0x_hex() for raw in raws]
        replies = self._batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws])
        errors = [r["error"] for r in replies if "error" in r]
        if errors and not known:
            raise RuntimeError(f"the node refused {len(errors)} of {len(raws)} transactions, the first: {errors[0]}")
        return [r.get("result", "") for r in replies]

    def _receipts(self, hashes: list[str]) -> list[tuple[int, int]]:
        """(status, block number) of each transaction, all of them seen in a block."""
        if self.node.url is None:
            return [(receipt["status"], receipt["blockNumber"]) for receipt in map(self._receipt, hashes)]
        replies = self._batch([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes], strict=True)
        receipts = [reply["result"] for reply in replies]
        if None in receipts:
            raise RuntimeError("no receipt for a transaction although it was seen in a block")
        return [(int(receipt["status"], 16), int(receipt["blockNumber"], 16)) for receipt in receipts]

    def _receipt(self, tx_hash: str) -> dict:
        for _ in range(100):
            with contextlib.suppress(TransactionNotFound):
                return self.w3.eth.get_transaction_receipt(tx_hash)
            time.sleep(0.05)
        raise RuntimeError(f"no receipt for {tx_hash} although it was seen in a block")

    def _batch(self, calls: list[tuple[str, list]], strict: bool = False) -> list[dict]:
        """The node's replies (each a result or an error) to ``calls``, in order, ``RPC_BATCH``
        a request (web3's batches refuse eth_sendRawTransaction and format every reply slowly);
        ``strict``: an error raises."""
        replies: list[dict] = []
        for chunk in chunks(calls, self.batch):
            body = []
            for method, params in chunk:
                self._next_id += 1
                body.append({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
            answer = self._session.post(self.node.url, json=body, timeout=120).json()
            if not isinstance(answer, list):
                raise RuntimeError(f"the node refused a batch: {answer}")
            replies += sorted(answer, key=lambda reply: reply["id"])
        if strict and (errors := [reply["error"] for reply in replies if "error" in reply]):
            raise RuntimeError(f"the node answered {len(errors)} of {len(calls)} requests with an error: {errors[0]}")
        return replies

    def _watch(self, w3: Web3) -> None:
        seen_up_to = w3.eth.block_number
        while not self._stop.is_set():
            latest = w3.eth.block_number
            for number in range(seen_up_to + 1, latest + 1):
                now = time.monotonic()
                for tx_hash in w3.eth.get_block(number)["transactions"]:
                    self._seen.setdefault(tx_hash.to_0x_hex(), now)
            seen_up_to = latest
            self._stop.wait(0.05)

    def _gas_price(self) -> int:
        """A price every block of the step takes: a step's transactions wait for none of them."""
        if self._price is None:
            base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas", 0)
            self._price = max(GAS_PRICE, 2 * base_fee)
        return self._price


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@functools.cache
def _function_codec(abi_json: str) -> tuple[bytes, tuple[str, ...]]:
    abi = json.loads(abi_json)
    return function_abi_to_4byte_selector(abi), tuple(get_abi_input_types(abi))


@dataclass(frozen=True)
class Call:
    """A contract call as the pipeline sends it: web3 matches a call's arguments against the
    whole ABI each time it makes one (a millisecond), this looks the function up once by name."""

    contract: object
    name: str
    args: tuple

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def abi(self) -> dict:
        return _function_abi(self.contract.address, self.name, self.contract)

    @property
    def contract_abi(self) -> list:
        return self.contract.abi


_ABIS: dict[tuple[str, str], dict] = {}


def _function_abi(address: str, name: str, contract) -> dict:
    if (address, name) not in _ABIS:
        _ABIS[address, name] = contract.get_function_by_name(name).abi
    return _ABIS[address, name]


def call_of(contract, name: str, *args) -> Call:
    return Call(contract, name, args)


def sign_legacy(signer: LocalAccount, tx: dict) -> bytes:
    """The raw bytes of a legacy (EIP-155) transaction signed by ``signer``: the same bytes as
    ``signer.sign_transaction(tx).raw_transaction``, in a quarter of its time (eth-account spends
    most of its 4 ms checking and formatting the fields; the full week signs 80,000)."""
    data = bytes.fromhex(tx.get("data", "0x")[2:])
    fields = [tx["nonce"], tx["gasPrice"], tx["gas"], to_canonical_address(tx["to"]), tx["value"], data]
    signature = PrivateKey(signer.key).sign_msg_hash(keccak(rlp.encode([*fields, tx["chainId"], 0, 0])))
    return rlp.encode([*fields, signature.v + 35 + 2 * tx["chainId"], signature.r, signature.s])


def calldata(call) -> str:
    """A contract call's data (selector and arguments), encoded straight with eth-abi: web3's
    own encoding walks every argument through its formatters, milliseconds a transaction."""
    selector, types = _function_codec(json.dumps(call.abi, sort_keys=True))
    return "0x" + (selector + abi_encode(types, call.args)).hex()


def refusal_text(error: Exception, call) -> str | None:
    """What refused a transaction: the contract's custom error by name, or web3's message; None
    for a failure that is not a refusal (the chain out of reach)."""
    refusal = refusal_of(error, None if call is None else call.contract_abi)
    if refusal is not None:
        return str(refusal)
    return str(error) if isinstance(error, (ContractLogicError, ValueError)) else None


# ---------------------------------------------------------------- the week


@dataclass
class Party:
    account: LocalAccount
    meter: LocalAccount
    number: int
    rated_power_w: int
    register_wh: int = FIRST_REGISTER_WH


@dataclass
class Case:
    """One contract of the replay: its day, parties, terms and what happens each month."""

    day: int
    buyer: Party
    seller: Party
    by_retailer: bool
    terms: Terms
    prepaid: int  # in the buyer's wallet beyond its deposit
    readings: list[tuple[int | None, int | None]]  # (buyer Wh, seller Wh) per month; None: silent meter
    id: int = 0
    ledger: reference.Ledger | None = None  # the reference's wallets of this contract's parties
    expected: reference.Contract | None = None
    results: list = field(default_factory=list)  # (the chain's MonthSettled result, the reference's)


def daily_counts(scale: float, rng: random.Random) -> list[int]:
    total = sum(WEEKDAY_SHARE)
    return [max(1, round(WEEK_AT_SCALE_1 * scale * share / total * rng.uniform(0.95, 1.05))) for share in WEEKDAY_SHARE]


def draw_case(
    day: int, number: int, rng: random.Random, retailers: list[Party], month_seconds: int, terms: tuple[int, ...]
) -> Case:
    monthly_wh = rng.randrange(500, 20_000) * 1000
    months = rng.choice(terms)
    direct, catalogue = rng.randrange(30, 50) * UNIT // 100, rng.randrange(55, 75) * UNIT // 100
    rated_power_w = -(-3 * monthly_wh * 3600 // month_seconds)  # three times the contracted energy a month
    buyer = Party(Account.create(), Account.create(), 2 * number, rated_power_w)
    by_retailer = rng.random() >= PRODUCER_SHARE
    seller = (
        rng.choice(retailers)
        if by_retailer
        else Party(Account.create(), Account.create(), 2 * number + 1, rated_power_w)
    )
    bill = monthly_wh * direct // 1000
    covers = rng.random() >= 0.08  # about one customer in twelve prepays too little
    prepaid = int(months * bill * (rng.uniform(1.1, 1.4) if covers else rng.uniform(0.1, 0.7)))
    terms = Terms(
        buyer=buyer.account.address,
        seller=seller.account.address,
        months=months,
        monthly_wh=monthly_wh,
        direct_price=direct,
        catalogue_price=catalogue,
        penalty_rate=2 * UNIT // 100,
        buyer_deposit=bill // 2,
        seller_deposit=0 if by_retailer else bill // 2,
    )
    readings = []
    for _ in range(months):
        used = max(0, int(monthly_wh * rng.gauss(1.0, 0.08)))
        fed = None if by_retailer else max(0, int(monthly_wh * (rng.gauss(1.0, 0.05) if rng.random() > 0.1 else 0.6)))
        readings.append(
            (
                None if rng.random() < SILENT_METER else used,
                None if fed is not None and rng.random() < SILENT_METER else fed,
            )
        )
    return Case(day, buyer, seller, by_retailer, terms, prepaid, readings)


class Replay:
    def __init__(self, node: Node, args: argparse.Namespace):
        self.node, self.args = node, args
        self.w3 = node.w3
        self.rng = random.Random(args.seed)
        self.pipe = Pipeline(node)
        self.funder = node.funder()
        self.cases: list[Case] = []

    def deploy(self) -> None:
        self.grid = Account.create()
        self.market = deploy_market(self.w3, self.funder, self.grid.address)
        clock = BillingClock.fixed(self.args.month_seconds, self.args.reading_grace or self.args.month_seconds // 6)
        retail = deploy_retail(self.w3, self.funder, self.market, clock)
        self.plans, self.bilateral = retail.plans, retail.contracts
        self.billing = BillingClock.of(self.bilateral)
        self.retailers = [
            Party(Account.create(), Account.create(), 10**9 + i, RETAILER_RATING_W) for i in range(RETAILERS)
        ]
        self.enrol("setup", [(retailer, True, RETAILER_WALLET) for retailer in self.retailers])
        for retailer in self.retailers:
            self.pipe.send(
                "setup", "setRetailer", self.funder, self.plans.functions.setRetailer(retailer.account.address, True)
            )
        self.pipe.wait()
        for retailer in self.retailers:
            plan = PlanTerms(PriceKind.FLAT, flat_price=40 * UNIT // 100, months=3, reliability=((2, 90),))
            self.pipe.send("setup", "publishPlan", retailer.account, self.plans.functions.publishPlan(plan.as_abi()))
        self.pipe.wait()
        self.plan_of = {r.account.address: i + 1 for i, r in enumerate(self.retailers)}

    def enrol(self, row: str, parties: list[tuple[Party, bool, int]]) -> None:
        """Fund, register, authorize, meter and fill the retail wallets of new parties (each with
        whether it is a producer, and its retail wallet), in three steps."""
        send = self.pipe.send
        for party, _, wallet in parties:
            self.pipe.fresh(party.account, party.meter)
            send(row, "transfer", self.funder, to=party.account.address, value=GAS_MONEY + wallet)
            send(row, "transfer", self.funder, to=party.meter.address, value=GAS_MONEY)
        self.pipe.wait()
        for party, producer, _ in parties:
            send(row, "register", party.account, call_of(self.market, "register", "customer", producer, False))
        self.pipe.wait()
        for party, _, wallet in parties:
            address = party.account.address
            send(row, "setAuthorization", self.funder, call_of(self.market, "setAuthorization", address, True))
            bind = call_of(self.market, "bindMeter", address, party.meter.address, party.number, party.rated_power_w)
            send(row, "bindMeter", self.funder, bind)
            if wallet:
                send(row, "deposit", party.account, call_of(self.bilateral, "deposit"), value=wallet)
        self.pipe.wait()

    def week(self) -> None:
        days, number = [], 0
        for day, count in enumerate(daily_counts(self.args.scale, self.rng)):
            days.append(
                [
                    draw_case(day, number + i, self.rng, self.retailers, self.args.month_seconds, self.args.terms)
                    for i in range(1, count + 1)
                ]
            )
            number += count
        if self.args.enrol_ahead:
            self.enrol_parties("setup", [case for cases in days for case in cases])
        start = self.node.now()
        for day, cases in enumerate(days):
            self.node.move_to(start + day * self.args.day_seconds)
            row = f"day {day + 1}"
            # The month after the one the signatures could land in: a block a reading grace from
            # now at the latest. (A contract whose first month has begun is refused: on Geth a
            # day's signatures sent just before a month's end reverted in the next month's block.)
            first_month = self.billing.month_at(self.node.now() + self.billing.reading_grace) + 1
            for case in cases:
                plan = self.plan_of.get(case.seller.account.address, 0)
                case.terms = replace(case.terms, first_month=first_month, plan_id=plan)
            if not self.args.enrol_ahead:
                self.enrol_parties(row, cases)
            chain_id, verifying = self.w3.eth.chain_id, self.bilateral.address
            for case in cases:
                signatures = [
                    sign_terms(p.account.key, case.terms, case.buyer.number, chain_id, verifying)
                    for p in (case.buyer, case.seller)
                ]
                call = call_of(self.bilateral, "signContract", case.terms.as_abi(), case.buyer.number, *signatures)
                self.pipe.send(row, "signContract", case.buyer.account, call)
            by_buyer = {c.terms.buyer: c for c in cases}
            for event in self.pipe.events(self.bilateral.events.ContractActivated, self.pipe.wait()):
                by_buyer[event["buyer"]].id = event["id"]
            self.cases += cases
            print(f"{row} ({WEEKDAYS[day]}): {len(cases)} contracts signed", file=sys.stderr, flush=True)

    def enrol_parties(self, row: str, cases: list[Case]) -> None:
        """Enrol the buyers of ``cases`` and their sellers that are producers of their own."""
        buyers = [(c.buyer, False, c.terms.buyer_deposit + c.prepaid) for c in cases]
        producers = [
            (c.seller, True, c.terms.seller_deposit + c.terms.monthly_wh * c.terms.direct_price // 1000)
            for c in cases
            if not c.by_retailer
        ]
        self.enrol(row, buyers + producers)

    def months(self) -> None:
        active = [c for c in self.cases if c.id]
        first = min(c.terms.first_month for c in active)
        last = max(c.terms.first_month + c.terms.months - 1 for c in active)
        for month in range(first, last + 1):
            row = f"month {month}"
            self.node.move_to(self.billing.month_end(month))  # a block at the month's end: readings open
            due = [
                c
                for c in active
                if c.terms.first_month <= month < c.terms.first_month + c.terms.months
                and (c.expected is None or c.expected.state is ContractState.ACTIVE)
            ]
            self.post_readings(row, month, due)
            self.node.move_to(self.billing.reading_deadline(month) + 1)
            for first_id in range(1, max(c.id for c in active) + 1, SETTLE_BATCH):
                call = call_of(self.bilateral, "settleBatch", first_id, SETTLE_BATCH)
                self.pipe.send(row, "settleBatch", self.funder, call)
            settled = {}
            for event in self.pipe.events(self.bilateral.events.MonthSettled, self.pipe.wait()):
                settled[event["id"]] = event["result"]
            capacities = self.pipe.read([self.bilateral.functions.capacityOf(c.terms.buyer, month) for c in due])
            for case, capacity in zip(due, capacities):  # the buyer's meter rating, as bound
                self.settle_reference(case, month, settled.get(case.id), capacity)
            print(f"{row}: {len(settled)} contracts settled", file=sys.stderr, flush=True)

    def post_readings(self, row: str, month: int, due: list[Case]) -> None:
        posted: dict[str, int | None] = {}
        for case in due:
            buyer_wh, seller_wh = case.readings[month - case.terms.first_month]
            posted[case.buyer.account.address] = buyer_wh
            if not case.by_retailer:
                posted[case.seller.account.address] = seller_wh
        retail_feed = sum(c.terms.monthly_wh for c in due if c.by_retailer)
        parties = {p.account.address: p for c in due for p in (c.buyer, c.seller)} | {
            r.account.address: r for r in self.retailers
        }
        for retailer in self.retailers:
            posted[retailer.account.address] = self.retailer_month(retail_feed)
        for address, energy in posted.items():
            party = parties[address]
            opening = party.register_wh
            party.register_wh = (opening + (energy or 0)) % 1_000_000_000
            if energy is not None:
                call = call_of(self.bilateral, "submitMonthlyReading", month, party.number, opening, party.register_wh)
                self.pipe.send(row, "submitMonthlyReading", party.meter, call)
        self.pipe.wait()
        self.retailer_feed = self.retailer_month(retail_feed)

    def retailer_month(self, retail_feed: int) -> int:
        """A retailer's month of feed-in: its share of what its customers contracted, inside what
        its meter can count (its register, and nine tenths of its rating over a billing month,
        which short months on a node make the tighter)."""
        rating_wh = RETAILER_RATING_W * self.args.month_seconds // 3600 * 9 // 10
        return min(retail_feed // RETAILERS, RETAILER_FEED_CAP_WH, rating_wh)

    def settle_reference(self, case: Case, month: int, result, capacity: int) -> None:
        if case.expected is None:
            ledger = reference.Ledger()
            ledger.wallets[case.buyer.account.address] = case.terms.buyer_deposit + case.prepaid
            ledger.wallets[case.seller.account.address] = case.terms.seller_deposit + (
                RETAILER_WALLET if case.by_retailer else case.terms.monthly_wh * case.terms.direct_price // 1000
            )
            case.ledger = ledger
            case.expected = reference.activate(ledger, reference.with_third_party(case.terms, self.grid.address))
        buyer_wh, seller_wh = case.readings[month - case.terms.first_month]
        if case.by_retailer:
            seller_wh = self.retailer_feed
        expected = reference.settle_month(case.ledger, case.expected, buyer_wh, seller_wh, capacity)
        case.results.append((result, expected))


# ---------------------------------------------------------------- outcomes and outputs


def outcomes(replay: Replay) -> dict[int, tuple[str, str]]:
    """(state on chain, state the reference gives) of every contract, by ``id(case)``."""
    signed = [case for case in replay.cases if case.id]
    records = replay.pipe.read([replay.bilateral.functions.contractOf(case.id) for case in signed])
    states = {id(case): ContractState(record[STATE_FIELD]).name.lower() for case, record in zip(signed, records)}
    return {
        id(case): (
            states.get(id(case), "not signed"),
            case.expected.state.name.lower() if case.expected else "not signed",
        )
        for case in replay.cases
    }


STATE_FIELD = 1  # the position of ``state`` in IBilateralContracts.Contract (contractOf's struct)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else 0.0


def stats(sent: list[Sent]) -> tuple[int, int, str, str]:
    latencies = [s.latency for s in sent if s.ok]
    mean = f"{statistics.mean(latencies):.3f}" if latencies else ""
    return len(sent), sum(not s.ok for s in sent), mean, f"{p95(latencies):.3f}" if latencies else ""


def write_outputs(replay: Replay, out: Path, charts: bool) -> tuple[list[list], list[list], bool, bool]:
    out.mkdir(parents=True, exist_ok=True)
    ends = outcomes(replay)
    days = []
    for day in range(7):
        cases = [c for c in replay.cases if c.day == day]
        states = [ends[id(c)][0] for c in cases]
        sent = [s for s in replay.pipe.sent if s.row == f"day {day + 1}"]
        days.append(
            [
                day + 1,
                WEEKDAYS[day],
                sum(1 for c in cases if c.id),
                states.count("completed"),
                states.count("defaulted"),
                *stats(sent),
            ]
        )
    with open(out / "days.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [
                [
                    "day",
                    "weekday",
                    "signed",
                    "settled_in_full",
                    "in_default",
                    "transactions",
                    "failed",
                    "mean_inclusion_s",
                    "p95_inclusion_s",
                ],
                *days,
            ]
        )
    month_names = sorted(
        {s.row for s in replay.pipe.sent if s.row.startswith("month")}, key=lambda r: int(r.split()[1])
    )
    month_rows = [[row.split()[1], *stats([s for s in replay.pipe.sent if s.row == row])] for row in month_names]
    with open(out / "months.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["month", "transactions", "failed", "mean_inclusion_s", "p95_inclusion_s"])
        writer.writerows(month_rows)
    matches = True
    with open(out / "contracts.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "id",
                "day",
                "seller",
                "monthly_kwh",
                "months",
                "buyer_deposit_units",
                "prepaid_units",
                "state",
                "reference_state",
                "months_settled",
                "same_as_reference",
            ]
        )
        for case in replay.cases:
            state, expected = ends[id(case)]
            same = state == expected and all(
                chain is not None and chain_matches(chain, model) for chain, model in case.results
            )
            matches &= same
            writer.writerow(
                [
                    case.id,
                    case.day + 1,
                    "retailer" if case.by_retailer else "producer",
                    case.terms.monthly_wh / 1000,
                    case.terms.months,
                    case.terms.buyer_deposit / UNIT,
                    case.prepaid / UNIT,
                    state,
                    expected,
                    len(case.results),
                    same,
                ]
            )
    with open(out / "transactions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "what", "tx_hash", "ok", "inclusion_s", "resent", "reason"])
        writer.writerows(
            [
                [s.row, s.what, s.tx_hash, s.ok, "" if s.latency is None else f"{s.latency:.4f}", s.resent, s.reason]
                for s in replay.pipe.sent
            ]
        )
    deposited, withdrawn, held = replay.bilateral.functions.totals().call()
    accounts = (
        {a for c in replay.cases for a in (c.terms.buyer, c.terms.seller)}
        | {replay.grid.address}
        | {r.account.address for r in replay.retailers}
    )
    wallets = sum(replay.pipe.read([replay.bilateral.functions.walletOf(a) for a in accounts]))
    conserved = (
        wallets + held + withdrawn == deposited == replay.w3.eth.get_balance(replay.bilateral.address) + withdrawn
    )
    if charts:
        draw_chart(out, days)
    return days, month_rows, matches, conserved


def chain_matches(chain, model: MonthResult) -> bool:
    return MonthResult.of(chain) == model


def draw_chart(out: Path, days: list[list]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{d[0]} {d[1]}" for d in days]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(labels, [d[3] for d in days], label="settled in full")
    ax.bar(labels, [d[4] for d in days], bottom=[d[3] for d in days], label="in default")
    ax.set(ylabel="contracts signed that day", title="A week of bilateral contracts")
    latency = ax.twinx()
    latency.plot(labels, [float(d[7] or 0) for d in days], color="black", marker="o", label="mean inclusion (s)")
    latency.set_ylabel("seconds from submission to inclusion")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "contracts.png", dpi=110)
    plt.close(fig)


def print_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chain", default="embedded", help='"embedded", "anvil", "geth" (two PoW nodes started here) or a node\'s URL'
    )
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full week's 7,000 contracts")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--day-seconds", type=int, default=86_400, help="block time between signing days")
    parser.add_argument("--month-seconds", type=int, default=30 * 86_400, help="length of a billing month")
    parser.add_argument(
        "--reading-grace", type=int, default=0, help="seconds after a month for its readings (default a sixth of it)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default bench/results/replay_contracts_<chain>/)")
    parser.add_argument("--no-charts", action="store_true")
    parser.add_argument(
        "--terms", default="1,2,3", help="contract terms in months to draw from, comma-separated (default 1,2,3)"
    )
    parser.add_argument(
        "--enrol-ahead",
        action="store_true",
        help="enrol the whole week's customers before Monday: a day is then one step (its signatures), "
        "for chains whose blocks take seconds",
    )
    args = parser.parse_args(argv)
    args.terms = tuple(int(months) for months in args.terms.split(","))
    if 7 * args.day_seconds >= args.month_seconds:
        parser.error("a week of --day-seconds must fit in one billing month (--month-seconds)")
    with contextlib.ExitStack() as stack:
        if args.chain == "anvil":
            url = stack.enter_context(anvil("--block-time", "1", "--order", "fifo", "--block-base-fee-per-gas", "0"))
            node = Node(url)
        elif args.chain == "geth":
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="replay-geth-")))
            network = stack.enter_context(geth_private_network(folder, nodes=2, log=print_err))
            # Sent to node 2, mined by node 1: every transaction crosses the network, as in production.
            node = Node(network.rpc_urls[1], kind="geth", paying=network.operator)
        else:
            node = Node(args.chain)
        out = args.out or RESULTS / f"replay_contracts_{node.kind}"
        replay = Replay(node, args)
        stack.callback(replay.pipe.close)
        started = time.monotonic()
        replay.deploy()
        replay.week()
        replay.months()
        days, month_rows, matches, conserved = write_outputs(replay, out, not args.no_charts)
    failed = sum(not s.ok for s in replay.pipe.sent)
    lines = [
        f"chain: {node.kind}; {len(replay.cases)} contracts; {len(replay.pipe.sent)} transactions in "
        f"{time.monotonic() - started:.0f} s; seed {args.seed}, scale {args.scale:g}",
        "",
        "| day | signed | settled in full | in default | transactions | failed | mean inclusion s | p95 inclusion s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {d[0]} {d[1]} | {d[2]} | {d[3]} | {d[4]} | {d[5]} | {d[6]} | {d[7]} | {d[8]} |" for d in days),
        "",
        "| billing month | transactions | failed | mean inclusion s | p95 inclusion s |",
        "|---|---:|---:|---:|---:|",
        *(f"| {m[0]} | {m[1]} | {m[2]} | {m[3]} | {m[4]} |" for m in month_rows),
        "",
        f"failed transactions: {failed}; sent again after {RESEND_AFTER:g} s outside a block: "
        f"{sum(s.resent > 0 for s in replay.pipe.sent)}",
        f"every contract as the reference says: {'yes' if matches else 'NO'}",
        f"money conserved (wallets + held + withdrawn == deposited): {'yes' if conserved else 'NO'}",
    ]
    (out / "days.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"output in {out}/")
    return 0 if failed == 0 and matches and conserved else 1


if __name__ == "__main__":
    sys.exit(main())
