"""The sister chains on two Geth proof-of-work networks, with `python -m relayer run` between them.

The trading chain has three nodes: node 1 mines, node 2 serves JSON-RPC to the relayer and the
users (so every transaction travels to the miner over p2p), node 3 is a second miner that starts
idle. The scheduling chain has two: node 1 mines, node 2 serves. The contracts are deployed by
each chain's operator (devnet.geth.sister).

The fork is a real one: node 3 is cut off from its peers and mines a branch of its own holding a
lock; a relayer of the set (threshold 1) whose node is node 3 submits that branch's headers to the
scheduling chain's light client, which follows it while it is the heaviest (the lock is refused
then as too recent, `NotEnoughConfirmations`); then node 1 mines the main branch past it (higher
total difficulty) with the real lock in it. The light client follows the main branch, the real
lock unlocks once, the losing branch's lock is refused with `NotOnBestChain`, and node 3, peered
again, drops its branch.

Every wait is for a condition on the chains (a block, a receipt, an unlock), polled, with a
deadline generous enough for a busy machine. Skipped when Geth cannot be installed; needs the
ethash DAGs (made once, see devnet/geth/README.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from sister_support import CONFIRMATIONS, RESERVE, SUPPLY, chain_state, refusal

from devnet.geth import GETH_VERSION, GethUnavailable, dag_dir, geth_binary, geth_sister_pair, prepare_dags
from devnet.geth.sister import deploy_on_pair, node_w3, send_together
from p2pkit.keyfiles import create_keystore
from p2pkit.sister.lock import TRADING, LockTerms, SisterChain, attach
from p2pkit.sister.relay import LockEvent, held_ancestor, lock_events, missing_headers, unlock_proof

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
USER_FUNDS = 1000
RPC_NODE, RIVAL_NODE = 2, 3
BLOCK_BUDGET = 40  # blocks of the chains watched within which a condition must hold
STALL = 600.0  # seconds without a block on any chain watched: the chains have stopped
SHORT_OF_CONFIRMATIONS = 3  # blocks node 3 mines on top of its lock


def wait_for(condition, what: str, chains: list, daemon: subprocess.Popen | None = None, log: Path | None = None):
    """Poll ``condition`` until it returns something truthy, and return it.

    The deadline is counted in blocks, not seconds, so that a busy machine (slower blocks) does not
    fail the test: ``condition`` must hold before the ``chains`` (connections to nodes) have made
    ``BLOCK_BUDGET`` blocks between them since the wait began, and fails early if none of them
    makes a block for ``STALL`` seconds."""

    def height():
        return sum(w3.eth.block_number for w3 in chains)

    start = last = height()
    moved = time.monotonic()
    while True:
        if result := condition():
            return result
        if daemon is not None:
            assert daemon.poll() is None, f"the relayer exited:\n{log.read_text()[-3000:]}"
        now = height()
        if now != last:
            last, moved = now, time.monotonic()
        tail = f":\n{log.read_text()[-3000:]}" if log else ""
        assert now - start < BLOCK_BUDGET, f"{what}: not within {BLOCK_BUDGET} blocks{tail}"
        assert time.monotonic() - moved < STALL, f"{what}: no block for {STALL:.0f} s{tail}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    try:
        geth = geth_binary()
    except GethUnavailable as error:
        pytest.skip(f"Geth {GETH_VERSION} is not installed and cannot be installed here: {error}")
    prepare_dags(geth, dag_dir())
    with geth_sister_pair(tmp_path_factory.mktemp("pow"), trading_nodes=3, scheduling_nodes=2) as pair:
        yield pair


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("relayer")
    password = folder / "password"
    password.write_text("relayer password\n")
    password.chmod(0o600)
    keystore = folder / "relayer.json"
    return {"keystore": keystore, "password": password, "daemon": create_keystore(str(keystore), str(password))}


@pytest.fixture(scope="module")
def user():
    return Account.create()


@pytest.fixture(scope="module")
def fork_relayer():
    """A relayer of the set whose trading node is on the losing branch."""
    return Account.create()


@pytest.fixture(scope="module")
def sister(networks, keys, user, fork_relayer):
    return deploy_on_pair(
        networks,
        [keys["daemon"].address, fork_relayer.address],
        {user.address: USER_FUNDS},
        LockTerms(SUPPLY, RESERVE, confirmations=CONFIRMATIONS),
        rpc_index=RPC_NODE,
    )


@pytest.fixture(scope="module")
def daemon(sister, keys, tmp_path_factory):
    """`python -m relayer run` against node 2 of each chain, for the whole module."""
    log = tmp_path_factory.mktemp("daemon") / "relayer.log"
    environment = {
        **os.environ,
        "RELAYER_RELAYER_KEYSTORE": str(keys["keystore"]),
        "RELAYER_RELAYER_PASSWORD_FILE": str(keys["password"]),
        "RELAYER_RELAYER_POLL_INTERVAL": "0.5",
        "RELAYER_TRADING_RPC_URL": sister.trading.w3.provider.endpoint_uri,
        "RELAYER_TRADING_LOCK": sister.trading.lock.address,
        "RELAYER_SCHEDULING_RPC_URL": sister.scheduling.w3.provider.endpoint_uri,
        "RELAYER_SCHEDULING_LOCK": sister.scheduling.lock.address,
    }
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "relayer", "run"], cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process, log
    finally:
        process.send_signal(signal.SIGTERM)
        # A step may be waiting for a receipt; the daemon stops once it is done.
        returncode = process.wait(timeout=STALL)
    assert returncode == 0, log.read_text()[-3000:]


def lock(chain: SisterChain, account, amount: int) -> LockEvent:
    """Lock ``amount`` of ``account``'s value for itself, waiting as long as a busy machine needs."""
    (receipt,) = send_together(chain.w3, account, [chain.lock.functions.lock(amount, account.address)])
    (event,) = lock_events(chain, receipt["blockNumber"], receipt["blockNumber"], 1)
    return event


def submit_headers(chain: SisterChain, headers: list[bytes], relayer) -> None:
    send_together(chain.w3, relayer, [chain.light_client.functions.submitHeaders(headers)])


def unlocked(chain: SisterChain, lock_id: bytes):
    return lambda: chain.lock.functions.isUnlocked(lock_id).call()


def unlocks_of(chain: SisterChain, event: LockEvent) -> list:
    start = chain.lock.functions.startBlock().call()
    return chain.lock.events.Unlocked.get_logs(
        from_block=start, to_block="latest", argument_filters={"lockId": event.lock_id}
    )


def test_the_daemon_carries_a_lock_each_way_after_six_pow_confirmations(sister, daemon, user):
    process, log = daemon
    there, back = lock(sister.trading, user, 100), lock(sister.scheduling, user, 30)
    for destination, event in ((sister.scheduling, there), (sister.trading, back)):
        wait_for(
            unlocked(destination, event.lock_id),
            f"the unlock on the {destination.name} chain",
            [sister.trading.w3, sister.scheduling.w3],
            process,
            log,
        )
        (released,) = unlocks_of(destination, event)
        assert released["args"]["sourceBlock"] == event.block_hash
        assert released["args"]["released"] == event.amount
    assert sister.trading.lock.functions.balanceOf(user.address).call() == USER_FUNDS - 100 + 30
    assert sister.scheduling.lock.functions.balanceOf(user.address).call() == USER_FUNDS + 100 - 30
    text = log.read_text()
    assert "unlock trading -> scheduling: sent" in text and "unlock scheduling -> trading: sent" in text


def ledger_state(chain: SisterChain, accounts: list[str], lock_ids: list[bytes]) -> dict:
    """``chain_state`` but the best header, which the daemon moves on meanwhile."""
    state = chain_state(chain, accounts, lock_ids)
    del state["best"]
    return state


def same_head(*nodes) -> dict | None:
    heads = [node.eth.get_block("latest") for node in nodes]
    return heads[0] if len({bytes(head["hash"]) for head in heads}) == 1 else None


def test_a_lock_on_a_losing_pow_branch_is_refused_and_the_real_lock_unlocks_once(
    networks, sister, daemon, user, fork_relayer
):
    process, log = daemon
    trading = networks.trading
    miner, main, rival = (node_w3(trading, index) for index in (1, RPC_NODE, RIVAL_NODE))
    scheduling, client = sister.scheduling, sister.scheduling.light_client
    on_rival = attach(TRADING, rival, sister.trading.lock.address)

    # The main miner pauses; node 3, in step with it, is cut off and mines a branch holding a lock,
    # 3 blocks deep: a short fork, as proof of work makes them.
    trading.admin(1, "miner_stop")
    fork_point = wait_for(lambda: same_head(miner, main, rival), "the three trading nodes at one head", [scheduling.w3])
    trading.isolate(RIVAL_NODE)
    trading.admin(RIVAL_NODE, "miner_start", 1)
    fork_lock = lock(on_rival, user, 100)
    assert fork_lock.block_number > fork_point["number"]
    fork_tip = fork_lock.block_number + SHORT_OF_CONFIRMATIONS
    wait_for(lambda: rival.eth.block_number >= fork_tip, "node 3's branch 3 blocks above its lock", [rival])
    trading.admin(RIVAL_NODE, "miner_stop")

    # A relayer following node 3 submits its branch: the light client follows it (the heaviest it
    # knows), and the lock is refused as too recent.
    first = held_ancestor(rival, client) + 1
    submit_headers(scheduling, missing_headers(rival, client, 64)[: fork_tip - first + 1], fork_relayer)
    assert bytes(client.functions.bestHeader().call().hash) == bytes(rival.eth.get_block(fork_tip)["hash"])
    fork_unlock = scheduling.lock.functions.unlock(*unlock_proof(rival, fork_lock).as_args())
    accounts = [user.address]
    before = chain_state(scheduling, accounts, [fork_lock.lock_id])
    assert refusal(scheduling.w3, fork_unlock, fork_relayer).name == "NotEnoughConfirmations"
    assert chain_state(scheduling, accounts, [fork_lock.lock_id]) == before

    # The main branch resumes with the real lock, outgrows node 3's branch, and the light client
    # follows it there.
    trading.admin(1, "miner_start", 1)
    user_rights = scheduling.lock.functions.balanceOf(user.address).call()
    real_lock = lock(sister.trading, user, 40)
    fork_weight = rival.eth.get_block(fork_tip)["totalDifficulty"]
    both = [main, scheduling.w3]

    def light_client_on_main_past_the_fork():
        best = client.functions.bestHeader().call()
        if best.number > main.eth.block_number:
            return False
        block = main.eth.get_block(best.number)
        return bytes(block["hash"]) == bytes(best.hash) and block["totalDifficulty"] > fork_weight

    wait_for(light_client_on_main_past_the_fork, "the light client on the main branch", both, process, log)

    # The real lock unlocks, once.
    wait_for(unlocked(scheduling, real_lock.lock_id), "the real lock's unlock", both, process, log)
    assert len(unlocks_of(scheduling, real_lock)) == 1
    replay = scheduling.lock.functions.unlock(*unlock_proof(main, real_lock).as_args())
    assert refusal(scheduling.w3, replay, fork_relayer).name == "AlreadyUnlocked"
    assert scheduling.lock.functions.balanceOf(user.address).call() == user_rights + 40

    # The losing branch's lock, with every block node 3 mined held, is refused: not on the best chain.
    if rest := missing_headers(rival, client, 64):
        submit_headers(scheduling, rest, fork_relayer)
    assert client.functions.headerOf(rival.eth.get_block("latest")["hash"]).call().held
    before = ledger_state(scheduling, accounts, [fork_lock.lock_id])
    assert refusal(scheduling.w3, fork_unlock, fork_relayer).name == "NotOnBestChain"
    assert ledger_state(scheduling, accounts, [fork_lock.lock_id]) == before

    # Peered again, node 3 takes the heavier main branch: its lock is gone from the trading chain.
    trading.reconnect(RIVAL_NODE)
    wait_for(
        lambda: (
            rival.eth.block_number >= real_lock.block_number
            and rival.eth.get_block(fork_lock.block_number)["hash"]
            == main.eth.get_block(fork_lock.block_number)["hash"]
        ),
        "node 3 on the main branch",
        [main],
    )
    assert scheduling.lock.functions.balanceOf(user.address).call() == user_rights + 40
