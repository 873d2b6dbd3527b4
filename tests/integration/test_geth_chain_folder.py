"""The Geth private chain's folder: genesis, keys and node configuration, before any node runs."""

from __future__ import annotations

import json
import stat

import pytest

from devnet.geth import (
    GENESIS_TEMPLATE,
    GETH_VERSION,
    SCHEDULING_CHAIN_ID,
    ChainFolder,
    GethUnavailable,
    geth_binary,
    write_node_config,
)
from p2pkit.market import WEI_PER_ETHER


@pytest.fixture(scope="module")
def geth():
    try:
        return geth_binary()
    except GethUnavailable as error:
        pytest.skip(f"Geth {GETH_VERSION} is not installed and cannot be installed here: {error}")


@pytest.fixture(scope="module")
def chain(geth, tmp_path_factory):
    folder = ChainFolder(tmp_path_factory.mktemp("chain"))
    folder.initialise(geth, nodes=2)
    return folder


def test_genesis_is_proof_of_work_up_to_london_with_room_for_batched_matching():
    genesis = json.loads(GENESIS_TEMPLATE.read_text())
    config = genesis["config"]
    assert "ethash" in config and "clique" not in config
    assert config["londonBlock"] == 0
    assert not {"shanghaiTime", "terminalTotalDifficulty", "mergeNetsplitBlock"} & set(config)
    assert int(genesis["difficulty"], 16) >= 0x20000  # ethash's minimum
    assert int(genesis["gasLimit"], 16) >= 30_000_000


def test_operator_and_grid_are_funded_at_genesis(chain):
    alloc = json.loads(chain.genesis.read_text())["alloc"]
    for role in ("operator", "grid"):
        address = chain.account(role).address.lower()
        assert int(alloc[address]["balance"]) >= 1000 * WEI_PER_ETHER


def test_keys_are_readable_by_their_owner_only(chain):
    assert stat.S_IMODE(chain.keys.stat().st_mode) == 0o700
    for secret in (chain.password_file, chain.keystore("operator"), chain.keystore("grid")):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_initialising_again_keeps_keys_and_chain(chain, geth):
    operator, genesis = chain.account("operator").address, chain.genesis.read_text()
    chain.initialise(geth, nodes=3)
    assert chain.account("operator").address == operator
    assert chain.genesis.read_text() == genesis
    assert (chain.node_dir(3) / "geth" / "chaindata").is_dir()


def test_nodes_listen_on_loopback_and_know_each_other(chain):
    write_node_config(chain, 1, [30401, 30402])
    config = (chain.node_dir(1) / "config.toml").read_text()
    assert 'ListenAddr = "127.0.0.1:30401"' in config
    assert "NoDiscovery = true" in config
    assert chain.enode(2, 30402) in config and "30401" not in config.split("StaticNodes")[1]


def test_the_scheduling_chain_gets_a_genesis_and_id_of_its_own(geth, tmp_path, chain):
    scheduling = ChainFolder(tmp_path / "scheduling", SCHEDULING_CHAIN_ID)
    scheduling.initialise(geth, nodes=1)
    genesis = json.loads(scheduling.genesis.read_text())
    assert genesis["config"]["chainId"] == scheduling.chain_id == SCHEDULING_CHAIN_ID != chain.chain_id
    assert scheduling.account("operator").address.lower() in genesis["alloc"]
    assert scheduling.account("operator").address != chain.account("operator").address


def test_a_chain_folder_refuses_to_become_another_chain(geth, chain):
    with pytest.raises(ValueError, match="not 20646"):
        ChainFolder(chain.path, SCHEDULING_CHAIN_ID).initialise(geth, nodes=2)


def test_a_node_on_another_machine_is_named_by_its_address(chain):
    enode = chain.enode(2, 30303, host="10.0.1.12")
    assert enode.startswith("enode://") and enode.endswith("@10.0.1.12:30303")
    assert enode.split("@")[0] == chain.enode(2, 30402).split("@")[0]
