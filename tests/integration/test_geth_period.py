"""A full trading period on the Geth proof-of-work private chain, with real mining, through the
whole platform: backend and keeper, meter bridge and simulated meters (integration_platform.py).

Two nodes, node 1 mining; the backend talks to node 2 only, so every transaction travels to the
miner over p2p and comes back in a mined block. Block time is the wall clock here: the period
is two minutes, and the test takes about eight, plus the ethash DAGs on a machine that has never
made them (see devnet/geth/__init__.py). Skipped, saying why, when Geth cannot be installed.

The measurements (DAG preparation, block time, submission-to-inclusion latency) are printed and
written to test-artifacts/integration/geth_period.json.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from pathlib import Path

import pytest
from integration_platform import assert_settled_through_platform, run_period_through_platform
from web3 import Web3

from devnet.geth import GETH_VERSION, GethUnavailable, dag_dir, geth_binary, geth_private_network, prepare_dags, rpc
from p2pkit.schedule import Schedule

pytestmark = pytest.mark.slow

# Two minutes, with a reveal window of 40 s: blocks come every few seconds, but a wait of 15 s
# for one is not rare on a busy CPU (the paper's proportions would leave 16 s).
SCHEDULE = Schedule(period_length=120, commit_end=30, reveal_end=70, settle_start=90, reading_grace=120)
# Funding, deployment, four batches of setup and the commits, before period 0's commit closes.
SETUP_SECONDS = 90
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "integration"


@pytest.fixture(scope="module")
def measurements() -> dict:
    return {}


@pytest.fixture(scope="module")
def network(tmp_path_factory, measurements):
    try:
        geth = geth_binary()
    except GethUnavailable as error:
        pytest.skip(f"Geth {GETH_VERSION} is not installed and cannot be installed here: {error}")
    measurements["dag_seconds"] = round(prepare_dags(geth, dag_dir()), 1)
    started = time.monotonic()
    with geth_private_network(tmp_path_factory.mktemp("geth-chain"), nodes=2) as network:
        measurements["network_start_seconds"] = round(time.monotonic() - started, 1)
        yield network


def test_json_rpc_offers_no_admin_or_personal_api(network):
    for url in network.rpc_urls:
        for method, params in (("admin_peers", []), ("personal_listAccounts", []), ("miner_stop", [])):
            with pytest.raises(RuntimeError, match="does not exist"):
                rpc(url, method, *params)


def test_nodes_are_peers_and_only_node_1_mines(network):
    miner, other = (Web3(Web3.HTTPProvider(url)) for url in network.rpc_urls)
    assert miner.net.peer_count == other.net.peer_count == 1
    assert [rpc(url, "eth_mining") for url in network.rpc_urls] == [True, False]
    assert other.eth.chain_id == network.chain_id


def test_period_through_backend_keeper_and_meter_bridge_on_geth_pow(network, measurements, tmp_path):
    node = Web3(Web3.HTTPProvider(network.rpc_urls[1]))  # the node that does not mine
    first_block = node.eth.block_number
    started = time.monotonic()
    outcome = run_period_through_platform(
        network.rpc_urls[1],
        network.operator,
        network.folder.keystore("operator"),
        network.folder.password_file,
        network.grid,
        SCHEDULE,
        SETUP_SECONDS,
        tmp_path,
    )
    assert_settled_through_platform(outcome)

    blocks = [node.eth.get_block(n) for n in range(first_block, node.eth.block_number + 1)]
    assert all(block["difficulty"] >= 0x20000 for block in blocks)  # sealed by proof of work
    assert {block["miner"] for block in blocks} == {network.operator.address}
    intervals = [b["timestamp"] - a["timestamp"] for a, b in itertools.pairwise(blocks)]
    measurements.update(
        test_seconds=round(time.monotonic() - started, 1),
        blocks=len(blocks),
        block_time_mean_s=round(statistics.fmean(intervals), 2),
        block_time_max_s=max(intervals),
        difficulty=blocks[-1]["difficulty"],
        inclusion=outcome.stats,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "geth_period.json").write_text(json.dumps(measurements, indent=1) + "\n")
    print(f"\nGeth PoW period: {json.dumps(measurements)}")
