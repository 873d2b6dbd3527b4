"""Prosumers of a benchmark and the market transactions they sign.

A `Prosumer` holds its own key and its smart meter's key (both made from a seed, so a run can be
repeated), whether it sells or buys, green or not, and the next nonce of each key. `enrol` puts
a population on a freshly deployed market with the period driver (register, authorize, deposit,
bind the meter; setup is not what is measured), sending with one of `bench.senders`. The
`sign_*` functions sign, ahead of sending, what each prosumer of a cohort sends in one period:
its commit, its reveal and its meter's reading.

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
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from bench.common import RATED_POWER_W, JsonRpc
from p2pkit.bids import SealedBid, commitment
from p2pkit.market import WEI_PER_ETHER, ZERO_ADDRESS, attach, market_constructor
from p2pkit.period import PeriodDriver, Sender, Transaction
from p2pkit.period import Prosumer as Enrolment
from p2pkit.schedule import Schedule

# Gas limits of the timed transactions. They use about 41k (commit), 78k (reveal) and 50k
# (reading); the reveal's limit leaves room for a walk of some 50 steps.
COMMIT_GAS = 100_000
REVEAL_GAS = 200_000
READING_GAS = 100_000
# Wallet of every prosumer in the market: margins and a consumer's bids are paid from it.
DEPOSIT = WEI_PER_ETHER
# Ether sent to a prosumer for its deposit and gas, and to a meter for its gas (nodes without
# anvil's setBalance).
FUNDING = 2 * WEI_PER_ETHER
METER_FUNDING = WEI_PER_ETHER // 10
# Prices in wei per kWh (about 0.5e-2 ether/kWh). Band t of the asks is (ASK_FLOOR + t * BAND,
# ASK_FLOOR + (t + 1) * BAND), its anchor at the bottom; band t of the bids lies below
# BID_CEILING - t * BAND, its anchor at the top. A band holds BAND / PRICE_TICK - 1 prices.
ASK_FLOOR = 4 * 10**15
BID_CEILING = 6 * 10**15
PRICE_TICK = 10**10
BAND = 20_000 * PRICE_TICK
# Queue numbers as the contract has them: green asks, other asks, green bids, other bids.
QUEUES = ((True, True), (True, False), (False, True), (False, False))  # (producer, green)


# Encodes calls offline from the market's ABI; the address is filled in by the signer.
ENCODER = attach(Web3(), ZERO_ADDRESS)


def calldata(function: str, *args) -> str:
    """The ABI-encoded call of the market's `function` with `args`."""
    return ENCODER.encode_abi(function, args=list(args))


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

    def enrolment(self) -> Enrolment:
        return Enrolment(
            f"p{self.meter_number}",
            self.producer,
            self.green,
            self.account,
            self.meter,
            self.meter_number,
            deposit=DEPOSIT,
            rated_power_w=RATED_POWER_W,
        )


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

    def sign(
        self, key: LocalAccount, nonce: int, data: str, gas: int, kind: str, to: str | None = None, value: int = 0
    ) -> SignedTx:
        signed = key.sign_transaction(
            {
                "nonce": nonce,
                "gasPrice": self.gas_price,
                "gas": gas,
                "to": to_checksum_address(to) if to else self.market,
                "value": value,
                "data": data,
                "chainId": self.chain_id,
            }
        )
        return SignedTx(kind, "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex())


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


def sign_commits(
    members: list[Prosumer], bids: list[SealedBid], signer: Signer, kind: str = "commit"
) -> list[SignedTx]:
    txs = []
    for p, bid in zip(members, bids):
        sealed = commitment(bid.quantity_wh, bid.price, bid.salt, p.account.address)
        txs.append(signer.sign(p.account, p.nonce, calldata("commit", sealed), COMMIT_GAS, kind))
        p.nonce += 1
    return txs


def sign_reveals(
    members: list[Prosumer], bids: list[SealedBid], hints: list[int], signer: Signer, kind: str = "reveal"
) -> list[SignedTx]:
    txs = []
    for p, bid, hint in zip(members, bids, hints):
        data = calldata("reveal", bid.quantity_wh, bid.price, bid.salt, hint)
        txs.append(signer.sign(p.account, p.nonce, data, REVEAL_GAS, kind))
        p.nonce += 1
    return txs


def sign_readings(
    members: list[Prosumer], bids: list[SealedBid], delivery_period: int, signer: Signer, seed: int
) -> list[SignedTx]:
    """Each member's meter posts about what was bid (within 50 Wh)."""
    rng = random.Random(seed)
    txs = []
    for p, bid in zip(members, bids):
        energy = max(0, bid.quantity_wh + rng.randint(-50, 50))
        data = calldata("submitReading", delivery_period, p.meter_number, energy)
        txs.append(signer.sign(p.meter, p.meter_nonce, data, READING_GAS, "reading"))
        p.meter_nonce += 1
    return txs


BID_REVEALED_TOPIC = "0x" + keccak(text="BidRevealed(uint32,address,uint32,uint40,uint64)").hex()


def revealed_bid_id(receipt: dict) -> int:
    """The bid id a successful reveal's receipt announces (BidRevealed's data: bidId, quantityWh,
    price, one word each)."""
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


def deploy(w3: Web3, sender: Sender, operator: LocalAccount, grid: str, schedule: Schedule) -> str:
    """A fresh market deployed by `operator` through `sender`; its address."""
    (receipt,) = sender([Transaction(operator, market_constructor(w3, grid, schedule))])
    return to_checksum_address(receipt["contractAddress"])


def enrol(w3: Web3, market: str, operator: LocalAccount, sender: Sender, prosumers: list[Prosumer]) -> None:
    """Register, authorize, fund and bind every prosumer, with the period driver; their keys
    need gas money already (the caller gives it, by `fund` or the node's own means)."""
    PeriodDriver(attach(w3, market), operator, sender=sender).enrol([p.enrolment() for p in prosumers])


def fund(sender: Sender, funder: LocalAccount, prosumers: list[Prosumer]) -> None:
    """Ether for each prosumer's deposit and gas, and for its meter's gas."""
    sender(
        [Transaction(funder, to=p.account.address, value=FUNDING) for p in prosumers]
        + [Transaction(funder, to=p.meter.address, value=METER_FUNDING) for p in prosumers]
    )


def fund_on_anvil(rpc: JsonRpc, prosumers: list[Prosumer], wei: int = 10 * WEI_PER_ETHER) -> None:
    """Ether for every prosumer's and meter's key, set by anvil itself (anvil_setBalance)."""
    rpc.batch([("anvil_setBalance", [a, hex(wei)]) for p in prosumers for a in (p.account.address, p.meter.address)])
