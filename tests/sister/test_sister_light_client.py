"""The light client on its own, fed synthetic headers of a source chain that exists only in the
test (it checks no seal, so any linked header does): linkage, refusals with unchanged state,
m-of-n vouching, and the best-chain rule against a plain Python reference on random header
trees."""

from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sister_support import call_refusal, refusal, synthetic_chain, synthetic_header
from web3.logs import DISCARD

from p2pkit.sister.lock import deploy_light_client
from p2pkit.transactions import ContractRefused, send

CHECKPOINT_NUMBER = 100
CHECKPOINT = synthetic_header(b"\x01" * 32, CHECKPOINT_NUMBER)
CHECKPOINT_HASH = keccak(CHECKPOINT)


@pytest.fixture
def chain_w3(trading_w3):
    """The chain the light client runs on (its source exists only in the test)."""
    return trading_w3


@pytest.fixture
def client(chain_w3, operator, relayer):
    """A light client of the synthetic chain, one relayer (1 of 1)."""
    return deploy_light_client(chain_w3, operator, CHECKPOINT, [relayer.address], 1)


@pytest.fixture
def vouching_client(chain_w3, operator, relayer, other_relayers):
    """A light client needing 2 of 3 relayers for each header."""
    return deploy_light_client(
        chain_w3, operator, CHECKPOINT, [relayer.address, *(r.address for r in other_relayers)], 2
    )


def submit(w3, client, headers, relayer):
    return send(w3, client.functions.submitHeaders(headers), relayer)


def best(client):
    return client.functions.bestHeader().call()


def held(client, header: bytes) -> bool:
    return client.functions.headerOf(keccak(header)).call().held


def state(client, headers):
    return best(client), [client.functions.headerOf(keccak(h)).call() for h in headers]


def test_linked_headers_are_held_and_the_best_moves(chain_w3, client, relayer):
    headers = synthetic_chain(CHECKPOINT_HASH, CHECKPOINT_NUMBER + 1, 3)
    receipt = submit(chain_w3, client, headers, relayer)
    events = client.events.HeaderHeld().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["number"] for e in events] == [101, 102, 103]
    assert tuple(best(client)) == (keccak(headers[-1]), 103, 0)
    assert client.functions.canonicalHashAt(102).call() == keccak(headers[1])
    assert client.functions.confirmations(keccak(headers[0])).call() == 2
    assert client.functions.confirmations(CHECKPOINT_HASH).call() == 3


def test_a_stranger_cannot_submit(chain_w3, client, stranger):
    headers = synthetic_chain(CHECKPOINT_HASH, 101, 1)
    refused = refusal(chain_w3, client.functions.submitHeaders(headers), stranger)
    assert (refused.name, refused.arguments) == ("NotARelayer", (stranger.address.lower(),))
    assert not held(client, headers[0])


def test_a_batch_over_the_limit_is_refused(chain_w3, client, relayer):
    headers = synthetic_chain(CHECKPOINT_HASH, 101, 65)
    refused = refusal(chain_w3, client.functions.submitHeaders(headers), relayer)
    assert (refused.name, refused.arguments) == ("TooManyHeaders", (65, 64))
    assert best(client).hash == CHECKPOINT_HASH


def test_a_header_with_an_unknown_parent_is_refused(chain_w3, client, relayer):
    orphan = synthetic_header(b"\x02" * 32, 101)
    refused = refusal(chain_w3, client.functions.submitHeaders([orphan]), relayer)
    assert (refused.name, refused.arguments) == ("UnknownParent", (keccak(orphan), b"\x02" * 32))


def test_a_header_whose_number_skips_is_refused(chain_w3, client, relayer):
    skipping = synthetic_header(CHECKPOINT_HASH, 102)
    refused = refusal(chain_w3, client.functions.submitHeaders([skipping]), relayer)
    assert (refused.name, refused.arguments) == ("WrongNumber", (keccak(skipping), 102, 101))


def test_a_batch_with_one_bad_header_holds_none(chain_w3, client, relayer):
    good = synthetic_chain(CHECKPOINT_HASH, 101, 2)
    before = state(client, good)
    refused = refusal(chain_w3, client.functions.submitHeaders([*good, synthetic_header(b"\x03" * 32, 103)]), relayer)
    assert refused.name == "UnknownParent"
    assert state(client, good) == before


@pytest.mark.parametrize(
    "mangle, error",
    [
        (lambda h: h[:-1], "RlpTruncated"),
        (lambda h: h + b"\x00", "RlpTrailingBytes"),
        (lambda h: rlp.encode(h), "RlpWrongKind"),  # a string, not a list
        (lambda h: b"", "RlpTruncated"),
    ],
)
def test_bad_rlp_is_refused(chain_w3, client, relayer, mangle, error):
    header = mangle(synthetic_header(CHECKPOINT_HASH, 101))
    assert refusal(chain_w3, client.functions.submitHeaders([header]), relayer).name == error
    assert best(client).hash == CHECKPOINT_HASH


def test_a_header_with_too_few_fields_is_refused(chain_w3, client, relayer):
    short = rlp.encode(rlp.decode(synthetic_header(CHECKPOINT_HASH, 101))[:14])
    refused = refusal(chain_w3, client.functions.submitHeaders([short]), relayer)
    assert (refused.name, refused.arguments) == ("MalformedHeader", (keccak(short), 14))


def test_a_header_number_beyond_64_bits_is_refused(chain_w3, client, relayer):
    fields = rlp.decode(synthetic_header(CHECKPOINT_HASH, 101))
    fields[8] = (2**64).to_bytes(9, "big")
    huge = rlp.encode(fields)
    refused = refusal(chain_w3, client.functions.submitHeaders([huge]), relayer)
    assert (refused.name, refused.arguments) == ("MalformedHeader", (keccak(huge), 8))


def test_a_parent_hash_of_the_wrong_size_is_refused(chain_w3, client, relayer):
    fields = rlp.decode(synthetic_header(CHECKPOINT_HASH, 101))
    fields[0] = fields[0][:31]
    refused = refusal(chain_w3, client.functions.submitHeaders([rlp.encode(fields)]), relayer)
    assert (refused.name, refused.arguments) == ("RlpBadLength", (31, 32))


def test_resubmitting_held_headers_is_refused_as_nothing_new(chain_w3, client, relayer):
    headers = synthetic_chain(CHECKPOINT_HASH, 101, 2)
    submit(chain_w3, client, headers, relayer)
    assert refusal(chain_w3, client.functions.submitHeaders(headers), relayer).name == "NoNewHeaders"


def test_an_unknown_header_has_no_confirmations(client):
    refused = call_refusal(client.functions.confirmations(b"\x04" * 32))
    assert (refused.name, refused.arguments) == ("UnknownHeader", (b"\x04" * 32,))


def test_deployment_refuses_an_unusable_relayer_set(chain_w3, operator, relayer):
    for relayers, threshold in (
        ([], 1),
        ([relayer.address], 2),
        ([relayer.address], 0),
        ([relayer.address, relayer.address], 1),
    ):
        with pytest.raises(ContractRefused) as refused:
            deploy_light_client(chain_w3, operator, CHECKPOINT, relayers, threshold)
        assert refused.value.name == "InvalidRelayerSet"


# ---------------------------------------------------------------------- m of n


def test_one_vouch_of_two_does_not_hold_a_header(chain_w3, vouching_client, relayer):
    header = synthetic_header(CHECKPOINT_HASH, 101)
    receipt = submit(chain_w3, vouching_client, [header], relayer)
    (vouched,) = vouching_client.events.HeaderVouched().process_receipt(receipt, errors=DISCARD)
    assert (vouched["args"]["relayer"], vouched["args"]["vouches"]) == (relayer.address, 1)
    assert not held(vouching_client, header)
    assert vouching_client.functions.hasVouched(keccak(header), relayer.address).call()
    assert best(vouching_client).hash == CHECKPOINT_HASH


def test_the_second_vouch_holds_a_header(chain_w3, vouching_client, relayer, other_relayers):
    header = synthetic_header(CHECKPOINT_HASH, 101)
    submit(chain_w3, vouching_client, [header], relayer)
    receipt = submit(chain_w3, vouching_client, [header], other_relayers[0])
    assert vouching_client.events.HeaderHeld().process_receipt(receipt, errors=DISCARD)[0]["args"]["hash"] == keccak(
        header
    )
    assert best(vouching_client).hash == keccak(header)


def test_a_relayer_cannot_vouch_twice(chain_w3, vouching_client, relayer):
    header = synthetic_header(CHECKPOINT_HASH, 101)
    submit(chain_w3, vouching_client, [header], relayer)
    assert refusal(chain_w3, vouching_client.functions.submitHeaders([header]), relayer).name == "NoNewHeaders"
    assert vouching_client.functions.headerOf(keccak(header)).call().vouches == 1


def test_vouches_on_a_pending_parent_hold_the_whole_batch(chain_w3, vouching_client, relayer, other_relayers):
    headers = synthetic_chain(CHECKPOINT_HASH, 101, 4)
    submit(chain_w3, vouching_client, headers, relayer)
    submit(chain_w3, vouching_client, headers, other_relayers[1])
    assert all(held(vouching_client, header) for header in headers)
    assert best(vouching_client).number == 104


def test_a_child_vouched_before_its_parent_is_held_once_resubmitted(chain_w3, vouching_client, relayer, other_relayers):
    first, second = synthetic_chain(CHECKPOINT_HASH, 101, 2)
    submit(chain_w3, vouching_client, [first, second], relayer)
    submit(chain_w3, vouching_client, [second], other_relayers[0])  # 2 vouches, parent not held
    assert not held(vouching_client, second)
    submit(chain_w3, vouching_client, [first], other_relayers[0])
    submit(chain_w3, vouching_client, [second], relayer)  # no new vouch; holds it
    assert held(vouching_client, second)


# ---------------------------------------------------------------------- best chain


def test_higher_total_difficulty_beats_a_longer_branch(chain_w3, client, relayer):
    long = synthetic_chain(CHECKPOINT_HASH, 101, 3, difficulty=1, branch=1)  # TD 3, number 103
    heavy = synthetic_chain(CHECKPOINT_HASH, 101, 2, difficulty=2, branch=2)  # TD 4, number 102
    submit(chain_w3, client, long, relayer)
    receipt = submit(chain_w3, client, heavy, relayer)
    (reorg,) = client.events.Reorganised().process_receipt(receipt, errors=DISCARD)
    assert reorg["args"]["forkNumber"] == CHECKPOINT_NUMBER
    assert tuple(best(client)) == (keccak(heavy[-1]), 102, 4)
    assert client.functions.canonicalHashAt(103).call() == bytes(32)
    refused = call_refusal(client.functions.confirmations(keccak(long[0])))
    assert (refused.name, refused.arguments) == ("NotOnBestChain", (keccak(long[0]), keccak(heavy[0])))
    refused = call_refusal(client.functions.confirmations(keccak(long[2])))
    assert (refused.name, refused.arguments) == ("NotOnBestChain", (keccak(long[2]), bytes(32)))


def test_with_equal_total_difficulty_the_longer_branch_wins(chain_w3, client, relayer):
    first = synthetic_chain(CHECKPOINT_HASH, 101, 2, branch=1)
    second = synthetic_chain(CHECKPOINT_HASH, 101, 3, branch=2)
    submit(chain_w3, client, first, relayer)
    submit(chain_w3, client, second[:2], relayer)
    assert best(client).hash == keccak(first[-1])  # a tie: the first held stays
    submit(chain_w3, client, second[2:], relayer)
    assert best(client).hash == keccak(second[-1])


def test_a_branch_that_wins_back_rewrites_the_heights_above_the_fork(chain_w3, client, relayer):
    trunk = synthetic_chain(CHECKPOINT_HASH, 101, 2)
    a = synthetic_chain(keccak(trunk[-1]), 103, 2, branch=1)
    b = synthetic_chain(keccak(trunk[-1]), 103, 3, branch=2)
    submit(chain_w3, client, trunk + a, relayer)
    submit(chain_w3, client, b, relayer)
    a_more = synthetic_chain(keccak(a[-1]), 105, 2, branch=1)
    receipt = submit(chain_w3, client, a_more, relayer)
    assert client.events.Reorganised().process_receipt(receipt, errors=DISCARD)[0]["args"]["forkNumber"] == 102
    for header in trunk + a + a_more:
        number = rlp.decode(header)[8]
        assert client.functions.canonicalHashAt(int.from_bytes(number, "big")).call() == keccak(header)


def test_a_reorganisation_deeper_than_the_limit_is_refused(chain_w3, client, relayer):
    depth = client.functions.MAX_REORG_DEPTH().call()
    kept = synthetic_chain(CHECKPOINT_HASH, 101, depth, branch=1)
    deeper = synthetic_chain(CHECKPOINT_HASH, 101, depth + 1, branch=2)
    for start in range(0, depth, 64):
        submit(chain_w3, client, kept[start : start + 64], relayer)
    for start in range(0, depth, 64):
        submit(chain_w3, client, deeper[start : start + 64], relayer)  # ties and shorter: no reorg yet
    refused = refusal(chain_w3, client.functions.submitHeaders(deeper[depth:]), relayer)
    assert (refused.name, refused.arguments) == ("ReorgTooDeep", (keccak(deeper[depth]), depth))
    assert best(client).hash == keccak(kept[-1])


# ---------------------------------------------------------------------- reference model


@st.composite
def header_trees(draw):
    """Headers in submission order (parents first): each on a random earlier one, with a random
    difficulty; index 0 is the checkpoint."""
    count = draw(st.integers(1, 24))
    nodes = [(None, CHECKPOINT_NUMBER, 0)]  # (parent index, number, difficulty)
    for _ in range(count):
        parent = draw(st.integers(0, len(nodes) - 1))
        nodes.append((parent, nodes[parent][1] + 1, draw(st.integers(0, 3))))
    batches = draw(st.lists(st.integers(1, 6), min_size=count, max_size=count))
    return nodes, batches


def reference_best(nodes) -> tuple[int, list[int]]:
    """The best header by (total difficulty, number), the first held winning ties, and its
    ancestry (indices)."""
    total = [0]
    best = 0
    for index, (parent, number, difficulty) in enumerate(nodes[1:], start=1):
        total.append(total[parent] + difficulty)
        if (total[index], number) > (total[best], nodes[best][1]):
            best = index
    ancestry, cursor = [], best
    while cursor is not None:
        ancestry.append(cursor)
        cursor = nodes[cursor][0]
    return best, ancestry


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=header_trees())
def test_best_chain_equals_the_reference_on_random_header_trees(chain_w3, operator, relayer, tree):
    nodes, batches = tree
    client = deploy_light_client(chain_w3, operator, CHECKPOINT, [relayer.address], 1)
    encoded = [CHECKPOINT]
    for index, (parent, number, difficulty) in enumerate(nodes[1:], start=1):
        encoded.append(synthetic_header(keccak(encoded[parent]), number, difficulty, branch=index))
    cursor = 1
    for size in batches:
        if cursor < len(encoded):
            submit(chain_w3, client, encoded[cursor : cursor + size], relayer)
            cursor += size
    best_index, ancestry = reference_best(nodes)
    assert best(client).hash == keccak(encoded[best_index])
    for index in ancestry:
        assert client.functions.canonicalHashAt(nodes[index][1]).call() == keccak(encoded[index])
        assert client.functions.confirmations(keccak(encoded[index])).call() == nodes[best_index][1] - nodes[index][1]
    assert client.functions.canonicalHashAt(nodes[best_index][1] + 1).call() == bytes(32)
