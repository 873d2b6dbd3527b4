"""Sealed bids as the contract and the page know them: the commitment, the entrust message and
the hints of reveals sent together (fixed vectors shared with the page's tests)."""

from __future__ import annotations

import json
from pathlib import Path

from p2pkit.bids import EntrustedBid, QueuedBid, commitment, entrust_message, reveal_order_hints

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "sealed_bids.json").read_text())


def test_commitment_is_the_fixed_vectors():
    computed = [
        "0x" + commitment(int(v["quantity_wh"]), int(v["price"]), bytes.fromhex(v["salt"][2:]), v["bidder"]).hex()
        for v in VECTORS["commitments"]
    ]
    assert computed == [v["commitment"] for v in VECTORS["commitments"]]


def test_entrust_message_is_the_text_the_page_signs():
    (vector,) = VECTORS["entrust_messages"]
    bid = vector["bid"]
    entrusted = EntrustedBid(
        bid["bidder"],
        bid["delivery_period"],
        int(bid["quantity_wh"]),
        int(bid["price"]),
        bytes.fromhex(bid["salt"][2:]),
    )
    assert entrust_message(bid["market"], bid["chain_id"], entrusted) == vector["message"]


def ask(price: int) -> QueuedBid:
    return QueuedBid(producer=True, green=False, price=price)


def bid(price: int) -> QueuedBid:
    return QueuedBid(producer=False, green=False, price=price)


def test_first_bid_of_a_queue_is_hinted_at_its_head():
    assert reveal_order_hints([ask(5), bid(5)]) == [0, 0]


def test_asks_go_after_the_last_cheaper_or_equal_ask():
    assert reveal_order_hints([ask(5), ask(3), ask(5), ask(4)]) == [0, 0, 1, 2]


def test_bids_go_after_the_last_dearer_or_equal_bid():
    assert reveal_order_hints([bid(5), bid(7), bid(5)]) == [0, 0, 1]


def test_hints_count_ids_from_the_first_one_given():
    assert reveal_order_hints([ask(5), ask(6)], first_id=10) == [0, 10]


def test_queues_do_not_mix():
    green_ask = QueuedBid(producer=True, green=True, price=1)
    assert reveal_order_hints([ask(5), green_ask, ask(6)]) == [0, 0, 1]
