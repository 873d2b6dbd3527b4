"""Prosumers of a benchmark and the market transactions they sign.

A `Prosumer` holds its own key and its smart meter's key (both made from a seed, so a run can be
repeated), whether it sells or buys, green or not, and the next nonce of each key. The
enrollments put a population on a freshly deployed market (register, authorize, deposit, bind
the meter): on anvil through its unlocked dev account and impersonated prosumers (setup is not
what is measured), on any other node with signed transactions from the operator's funded key.
The `sign_*` functions sign, ahead of sending, what each prosumer of a cohort sends in one
period: its commit, its reveal and its meter's reading.

Reveals must name the bid after which theirs goes (`hintPrevId`), and a reveal walks, at ~2.3k
gas a step, past every bid between that hint and its place. A client reads the hint from the
chain just before it sends; a load test signs thousands beforehand, not knowing in which order
the node will include them. So each sending client gets its own price band in each of the four
queues, opened by an *anchor* bid revealed first; the client's bids take prices that put each
new one right after its band's anchor, and hint at the anchor. Only bids of the same client that
overtake one another on their way into a block make a reveal walk.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from functools import lru_cache

from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from backend.chain import MarketParameters, MarketSchedule, commitment, load_artifact
from bench.common import RATED_POWER_W, JsonRpc

WEI_PER_ETHER = 10**18
# Gas limits of the timed transactions. They use about 41k (commit), 78k (reveal) and 50k
# (reading); the reveal's limit leaves room for a walk of some 50 steps.
COMMIT_GAS = 100_000
REVEAL_GAS = 200_000
READING_GAS = 100_000
# Setup transactions sent to a node at a time. anvil's pool takes disproportionately longer to
# accept transactions the fuller it is (2,000 at once: 0.3 s, 4,000: 1.4 s here); Geth's pool
# holds 5,120 by default.
ENROLL_CHUNK = 1000
# Wallet of every prosumer in the market: margins and a consumer's bids are paid from it.
DEPOSIT = WEI_PER_ETHER
# Prices in wei per kWh (about 0.5e-2 ether/kWh). Band t of the asks is (ASK_FLOOR + t * BAND,
# ASK_FLOOR + (t + 1) * BAND), its anchor at the bottom; band t of the bids lies below
# BID_CEILING - t * BAND, its anchor at the top. A band holds BAND / PRICE_TICK - 1 prices.
ASK_FLOOR = 4 * 10**15
BID_CEILING = 6 * 10**15
PRICE_TICK = 10**10
BAND = 20_000 * PRICE_TICK
# Queue numbers as the contract has them: green asks, other asks, green bids, other bids.
QUEUES = ((True, True), (True, False), (False, True), (False, False))  # (producer, green)


@lru_cache(maxsize=None)
def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, *args) -> str:
    """ABI-encoded call of `signature` (e.g. "commit(bytes32)") with `args`."""
    types = signature[signature.index("(") + 1:-1]
    encoded = encode([t for t in types.split(",") if t], list(args))
    return "0x" + (selector(signature) + encoded).hex()


@dataclass
class Prosumer:
    account: LocalAccount
    meter: LocalAccount
    meter_number: int
    producer: bool
    green: bool
    nonce: int = 0
    meter_nonce: int = 0

    @property
    def queue(self) -> int:
        return QUEUES.index((self.producer, self.green))


def population(size: int, seed: int = 6) -> list[Prosumer]:
    """`size` prosumers, half producers; keys derived from `seed`."""
    rng = random.Random(seed)
    return [_prosumer(f"{seed} {i}", i + 1, producer=i % 2 == 0, green=rng.random() < 0.5) for i in range(size)]


def anchors(bands: int, seed: int = 6) -> dict[tuple[int, int], Prosumer]:
    """One anchor prosumer per (queue, band); meter numbers after those of any population."""
    return {
        (queue, band): _prosumer(f"anchor {seed} {queue} {band}", 10**9 + queue * bands + band, producer, green)
        for queue, (producer, green) in enumerate(QUEUES)
        for band in range(bands)
    }


def _prosumer(name: str, meter_number: int, producer: bool, green: bool) -> Prosumer:
    return Prosumer(
        account=Account.from_key(keccak(text=f"bench prosumer {name}")),
        meter=Account.from_key(keccak(text=f"bench meter {name}")),
        meter_number=meter_number,
        producer=producer,
        green=green,
    )


@dataclass(frozen=True)
class SignedTx:
    kind: str  # "commit", "reveal", "reading" (measured) or "anchor"
    raw: str
    hash: str


class Signer:
    """Signs legacy transactions for one chain at one gas price, locally with eth-account."""

    def __init__(self, chain_id: int, gas_price: int, market: str) -> None:
        self.chain_id = chain_id
        self.gas_price = gas_price
        self.market = to_checksum_address(market)

    def sign(self, key: LocalAccount, nonce: int, data: str, gas: int, kind: str,
             to: str | None = None, value: int = 0) -> SignedTx:
        signed = key.sign_transaction({
            "nonce": nonce, "gasPrice": self.gas_price, "gas": gas, "to": to_checksum_address(to) if to else self.market,
            "value": value, "data": data, "chainId": self.chain_id,
        })
        return SignedTx(kind, "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex())


@dataclass(frozen=True)
class SealedBid:
    quantity_wh: int
    price: int
    salt: bytes


def anchor_price(queue: int, band: int) -> int:
    producer = QUEUES[queue][0]
    return ASK_FLOOR + band * BAND if producer else BID_CEILING - band * BAND


def band_bids(cohort: list[Prosumer], bands: list[int], seed: int) -> list[SealedBid]:
    """A bid for each member of `cohort`, member i sent by client `bands[i]`: in each queue, a
    client's asks fall and its bids rise in sending order, inside the client's band, so that
    each goes right after the band's anchor."""
    rng = random.Random(seed)
    sent: dict[tuple[int, int], int] = {}
    bids = []
    for p, band in zip(cohort, bands):
        rank = sent.get((p.queue, band), 0) + 1
        sent[(p.queue, band)] = rank
        if rank * PRICE_TICK >= BAND:
            raise ValueError(f"more than {BAND // PRICE_TICK - 1} bids in one band")
        anchor = anchor_price(p.queue, band)
        price = anchor + BAND - rank * PRICE_TICK if p.producer else anchor - BAND + rank * PRICE_TICK
        bids.append(SealedBid(rng.randint(100, 5_000), price, os.urandom(32)))
    return bids


def sign_commits(members: list[Prosumer], bids: list[SealedBid], signer: Signer, kind: str = "commit") -> list[SignedTx]:
    txs = []
    for p, bid in zip(members, bids):
        sealed = commitment(bid.quantity_wh, bid.price, bid.salt, p.account.address)
        txs.append(signer.sign(p.account, p.nonce, calldata("commit(bytes32)", sealed), COMMIT_GAS, kind))
        p.nonce += 1
    return txs


def sign_reveals(members: list[Prosumer], bids: list[SealedBid], hints: list[int], signer: Signer,
                 kind: str = "reveal") -> list[SignedTx]:
    txs = []
    for p, bid, hint in zip(members, bids, hints):
        data = calldata("reveal(uint40,uint64,bytes32,uint32)", bid.quantity_wh, bid.price, bid.salt, hint)
        txs.append(signer.sign(p.account, p.nonce, data, REVEAL_GAS, kind))
        p.nonce += 1
    return txs


def sign_readings(members: list[Prosumer], bids: list[SealedBid], delivery_period: int, signer: Signer,
                  seed: int) -> list[SignedTx]:
    """Each member's meter posts about what was bid (within 50 Wh)."""
    rng = random.Random(seed)
    txs = []
    for p, bid in zip(members, bids):
        energy = max(0, bid.quantity_wh + rng.randint(-50, 50))
        data = calldata("submitReading(uint32,uint64,uint64)", delivery_period, p.meter_number, energy)
        txs.append(signer.sign(p.meter, p.meter_nonce, data, READING_GAS, "reading"))
        p.meter_nonce += 1
    return txs


BID_REVEALED_TOPIC = "0x" + keccak(text="BidRevealed(uint32,address,uint32,uint40,uint64)").hex()


def revealed_bid_id(receipt: dict) -> int:
    """The bid id a successful reveal's receipt announces (BidRevealed: bidId is the first
    word of the data)."""
    for log in receipt["logs"]:
        if log["topics"][0] == BID_REVEALED_TOPIC:
            return int(log["data"][2:66], 16)
    raise ValueError(f"transaction {receipt['transactionHash']} revealed no bid")


def refresh_nonces(rpc: JsonRpc, prosumers: list[Prosumer]) -> None:
    """Read every key's next nonce from the node (after a step where some sends may have failed)."""
    addresses = [a for p in prosumers for a in (p.account.address, p.meter.address)]
    counts = rpc.batch([("eth_getTransactionCount", [a, "latest"]) for a in addresses])
    for i, p in enumerate(prosumers):
        p.nonce, p.meter_nonce = int(counts[2 * i], 16), int(counts[2 * i + 1], 16)


def constructor_data(grid: str, schedule: MarketSchedule) -> str:
    artifact = load_artifact()
    factory = Web3().eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    return factory.constructor(grid, schedule.as_abi(), MarketParameters().as_abi()).data_in_transaction


def bind_meter_data(p: Prosumer) -> str:
    return calldata("bindMeter(address,address,uint64,uint32)", p.account.address, p.meter.address, p.meter_number,
                    RATED_POWER_W)


class AnvilEnrollment:
    """Deploys the market and enrolls prosumers on an anvil started with ``--no-mining`` and
    ``--auto-impersonate``: transactions go unsigned from the accounts themselves and are mined
    on demand, in as many blocks as the gas limit needs."""

    def __init__(self, rpc: JsonRpc) -> None:
        self.rpc = rpc
        self.operator = rpc.call("eth_accounts")[0]
        self.grid = Account.from_key(keccak(text="bench grid")).address
        self.market = ""

    def deploy(self, schedule: MarketSchedule) -> str:
        data = constructor_data(self.grid, schedule)
        (receipt,) = self.transact([{"from": self.operator, "data": data, "gas": hex(8_000_000)}])
        self.market = receipt["contractAddress"]
        return self.market

    def enroll(self, prosumers: list[Prosumer]) -> None:
        self.rpc.batch([("anvil_setBalance", [a, hex(10 * WEI_PER_ETHER)])
                        for p in prosumers for a in (p.account.address, p.meter.address)])
        self.transact([self.call(p.account.address, calldata("register(string,bool,bool)", f"p{p.meter_number}", p.producer, p.green))
                       for p in prosumers])
        self.transact([self.call(self.operator, calldata("setAuthorization(address,bool)", p.account.address, True))
                       for p in prosumers])
        self.transact([self.call(p.account.address, "0x" + selector("deposit()").hex(), DEPOSIT) for p in prosumers])
        self.transact([self.call(self.operator, bind_meter_data(p)) for p in prosumers])
        refresh_nonces(self.rpc, prosumers)

    def call(self, sender: str, data: str, value: int = 0) -> dict:
        return {"from": sender, "to": self.market, "data": data, "value": hex(value), "gas": hex(300_000)}

    def transact(self, txs: list[dict]) -> list[dict]:
        """Send `txs` and mine them, ENROLL_CHUNK at a time, and check every receipt."""
        receipts = []
        for start in range(0, len(txs), ENROLL_CHUNK):
            receipts += self._send_and_mine(txs[start:start + ENROLL_CHUNK])
        failed = sum(1 for r in receipts if r is None or int(r["status"], 16) != 1)
        if failed:
            raise RuntimeError(f"enrollment: {failed} of {len(txs)} setup transactions failed")
        return receipts

    def _send_and_mine(self, txs: list[dict]) -> list[dict]:
        senders = sorted({tx["from"] for tx in txs})
        nonces = dict(zip(senders, (int(n, 16) for n in self.rpc.batch(
            [("eth_getTransactionCount", [s, "pending"]) for s in senders]))))
        for tx in txs:  # a batch is served concurrently: number each sender's transactions
            tx["nonce"] = hex(nonces[tx["from"]])
            nonces[tx["from"]] += 1
        hashes = self.rpc.batch([("eth_sendTransaction", [tx]) for tx in txs])
        for _ in range(len(txs) + 1):  # each block takes at least one of them
            self.rpc.call("evm_mine")
            pool = self.rpc.call("txpool_status")
            if int(pool["pending"], 16) == int(pool["queued"], 16) == 0:
                break
        return self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])


class SignedEnrollment:
    """Deploys the market and enrolls prosumers on a node that holds no keys (Geth): the
    operator's key deploys, funds every prosumer and meter, authorizes and binds; each prosumer
    signs its own registration and deposit."""

    FUNDING = 2 * WEI_PER_ETHER  # a prosumer's deposit and gas
    METER_FUNDING = WEI_PER_ETHER // 10
    SETUP_GAS = 300_000

    def __init__(self, rpc: JsonRpc, operator: LocalAccount, chain_id: int, gas_price: int, timeout: float) -> None:
        self.rpc = rpc
        self.operator = operator
        self.chain_id = chain_id
        self.gas_price = gas_price
        self.timeout = timeout
        self.signer: Signer | None = None

    def deploy(self, schedule: MarketSchedule, grid: str) -> str:
        signed = self.operator.sign_transaction({
            "nonce": self._operator_nonce(), "gasPrice": self.gas_price, "gas": 8_000_000, "value": 0,
            "data": constructor_data(grid, schedule), "chainId": self.chain_id,
        })
        (receipt,) = self.submit([SignedTx("setup", "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex())])
        self.signer = Signer(self.chain_id, self.gas_price, receipt["contractAddress"])
        return receipt["contractAddress"]

    def enroll(self, prosumers: list[Prosumer]) -> None:
        signer, operator = self.signer, self.operator
        nonce = self._operator_nonce()
        funding = []
        for p in prosumers:
            for address, value in ((p.account.address, self.FUNDING), (p.meter.address, self.METER_FUNDING)):
                funding.append(signer.sign(operator, nonce, "0x", 21_000, "setup", to=address, value=value))
                nonce += 1
        self.submit(funding)
        self.submit([signer.sign(p.account, 0, calldata("register(string,bool,bool)", f"p{p.meter_number}", p.producer, p.green),
                                 self.SETUP_GAS, "setup") for p in prosumers])
        deposit = "0x" + selector("deposit()").hex()
        setup = [signer.sign(p.account, 1, deposit, self.SETUP_GAS, "setup", value=DEPOSIT) for p in prosumers]
        for p in prosumers:
            setup.append(signer.sign(operator, nonce, calldata("setAuthorization(address,bool)", p.account.address, True),
                                     self.SETUP_GAS, "setup"))
            setup.append(signer.sign(operator, nonce + 1, bind_meter_data(p), self.SETUP_GAS, "setup"))
            nonce += 2
        self.submit(setup)
        refresh_nonces(self.rpc, prosumers)

    def _operator_nonce(self) -> int:
        return int(self.rpc.call("eth_getTransactionCount", self.operator.address, "pending"), 16)

    def submit(self, txs: list[SignedTx]) -> list[dict]:
        """Send `txs` ENROLL_CHUNK at a time (within Geth's pool limits), wait for every receipt
        and check it."""
        receipts: list[dict] = []
        for start in range(0, len(txs), ENROLL_CHUNK):
            chunk = txs[start:start + ENROLL_CHUNK]
            self.rpc.batch([("eth_sendRawTransaction", [tx.raw]) for tx in chunk])
            receipts += wait_for_receipts(self.rpc, [tx.hash for tx in chunk], self.timeout)
        failed = sum(1 for r in receipts if int(r["status"], 16) != 1)
        if failed:
            raise RuntimeError(f"enrollment: {failed} of {len(txs)} setup transactions failed")
        return receipts


def wait_for_receipts(rpc: JsonRpc, hashes: list[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        if all(receipts):
            return receipts
        if time.monotonic() > deadline:
            missing = sum(1 for r in receipts if r is None)
            raise TimeoutError(f"{missing} of {len(hashes)} transactions not included within {timeout:.0f} s")
        time.sleep(0.5)
