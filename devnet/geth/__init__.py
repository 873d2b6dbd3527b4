"""A Geth proof-of-work private chain on this machine: keys, genesis, DAG and node processes.

One chain lives in one folder::

    chain/
      genesis.json        devnet/geth/genesis.json with the operator and the grid funded
      keys/               operator.json and grid.json (encrypted keystores) and their password;
                          made here, never committed
      node1/ node2/ ...   each node's datadir, with its config.toml (p2p on loopback, the other
                          nodes as static peers)
      node1.log ...       each node's log

Node 1 mines into the operator's account; every node serves JSON-RPC (eth, net and web3 only) on
127.0.0.1, and the rest of its API (``admin``, ``miner``) on its IPC socket only. The nodes find
each other as static peers named by enode URL in their config.toml, never by discovery.

The sister chains are two such networks side by side (``geth_sister_pair``): the trading chain
(id 20645, the market's) and the scheduling chain (id 20646), each in a folder of its own with
its own genesis, keys, datadirs and ports. Geth is v1.11.6, the
last release that mines ethash; ``devnet/geth/install_geth.sh`` builds it into ``.tools/bin``.

A miner needs the ethash DAG of the current 30,000-block epoch (about 1 GB, minutes to make), and
makes the next epoch's in the background as soon as it starts. Both are made once into a shared
folder (``P2P_ETHASH_DIR``, default ``~/.ethash``) so that later starts take seconds.

Settings: ``P2P_GETH`` (the geth binary, default ``.tools/bin/geth``), ``P2P_ETHASH_DIR``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from devnet.nodes import free_port, stop_processes, wait_for_rpc
from p2pkit.keyfiles import write_private_file
from p2pkit.market import WEI_PER_ETHER

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GETH_VERSION = "1.11.6"
INSTALL_SCRIPT = HERE / "install_geth.sh"
GENESIS_TEMPLATE = HERE / "genesis.json"
DEFAULT_GETH = ROOT / ".tools" / "bin" / "geth"
DEFAULT_DAG_DIR = Path.home() / ".ethash"

GAS_LIMIT = 30_000_000  # what batched matching needs; the miner keeps blocks at this size
GENESIS_BALANCE = 1_000_000 * WEI_PER_ETHER  # for the operator and for the grid
ROLES = ("operator", "grid")
# ethash: blocks per epoch, and the revision in the DAG's file name (full-R23-<seed>).
EPOCH_LENGTH = 30_000
ETHASH_REVISION = 23
# A new chain's first block can take minutes on a busy machine (one mining thread).
FIRST_BLOCK_TIMEOUT = 600


class GethUnavailable(RuntimeError):
    """Geth v1.11.6 is not installed and could not be installed; the message says why."""


def geth_binary() -> Path:
    """The geth to run: ``P2P_GETH`` or the project's ``.tools/bin/geth``, built when missing."""
    configured = os.environ.get("P2P_GETH")
    geth = Path(configured) if configured else DEFAULT_GETH
    if _reports_version(geth):
        return geth
    if configured:
        raise GethUnavailable(f"P2P_GETH={configured} is not geth {GETH_VERSION}")
    result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0 or not _reports_version(geth):
        reason = (result.stderr or result.stdout).strip() or f"{INSTALL_SCRIPT} failed"
        raise GethUnavailable(reason)
    return geth


def _reports_version(geth: Path) -> bool:
    if not geth.is_file():
        return False
    result = subprocess.run([str(geth), "version"], capture_output=True, text=True)
    return f"Version: {GETH_VERSION}" in result.stdout


def dag_dir() -> Path:
    return Path(os.environ.get("P2P_ETHASH_DIR") or DEFAULT_DAG_DIR)


def dag_file(epoch: int, directory: Path) -> Path:
    """Where geth keeps the DAG of an epoch: named after the first 8 bytes of its seed hash."""
    seed = bytes(32)
    for _ in range(epoch):
        seed = keccak(seed)
    return directory / f"full-R{ETHASH_REVISION}-{seed[:8].hex()}"


def prepare_dags(geth: Path, directory: Path, epochs: tuple[int, ...] = (0, 1), log=print) -> float:
    """Make the DAGs of ``epochs`` that are not cached yet; returns the seconds it took.

    Holds a lock on the folder meanwhile, so that two runs never make the same DAG twice, and
    removes what interrupted runs left of these DAGs: geth writes a DAG to ``<name>.<random>``
    (1 GB) and renames it when complete; a miner stopped while making one leaves it behind.
    """
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for epoch in epochs:
            complete = dag_file(epoch, directory)
            for partial in directory.glob(complete.name + ".*"):
                partial.unlink()
            if complete.exists():
                continue
            log(f"making the ethash DAG of epoch {epoch} in {directory} (about 1 GB, takes minutes, once)")
            result = subprocess.run(
                [str(geth), "makedag", str(epoch * EPOCH_LENGTH), str(directory)], capture_output=True, text=True
            )
            if result.returncode != 0 or not complete.exists():
                raise RuntimeError(f"geth makedag failed for epoch {epoch}:\n{result.stderr[-2000:]}")
    return time.monotonic() - started


class ChainFolder:
    """The files of one private chain (see the module docstring); ``initialise`` makes them.

    ``chain_id`` is the id a new genesis gets (default: the template's); a folder whose genesis
    exists keeps the id it has."""

    def __init__(self, path: Path, chain_id: int | None = None) -> None:
        self.path = Path(path)
        self.keys = self.path / "keys"
        self.genesis = self.path / "genesis.json"
        self._new_chain_id = chain_id

    def node_dir(self, index: int) -> Path:
        return self.path / f"node{index}"

    def keystore(self, role: str) -> Path:
        return self.keys / f"{role}.json"

    @property
    def password_file(self) -> Path:
        return self.keys / "password"

    @property
    def chain_id(self) -> int:
        if not self.genesis.exists() and self._new_chain_id is not None:
            return self._new_chain_id
        return json.loads((self.genesis if self.genesis.exists() else GENESIS_TEMPLATE).read_text())["config"][
            "chainId"
        ]

    def address(self, role: str) -> str:
        """The operator's or the grid's address, read without the password."""
        return to_checksum_address("0x" + json.loads(self.keystore(role).read_text())["address"].removeprefix("0x"))

    def account(self, role: str) -> LocalAccount:
        """The operator's or the grid's key, decrypted from its keystore."""
        keystore = json.loads(self.keystore(role).read_text())
        return Account.from_key(Account.decrypt(keystore, self.password_file.read_text().strip()))

    def initialise(self, geth: Path, nodes: int) -> None:
        """Make whatever is missing: keys, genesis, and the datadirs of nodes 1..``nodes``.

        Existing keys, genesis and datadirs are kept, so a chain survives restarts.
        """
        self._make_keys()
        if self.genesis.exists() and self._new_chain_id not in (None, self.chain_id):
            raise ValueError(f"{self.genesis} is chain {self.chain_id}, not {self._new_chain_id}")
        if not self.genesis.exists():
            genesis = json.loads(GENESIS_TEMPLATE.read_text())
            genesis["config"]["chainId"] = self.chain_id
            for role in ROLES:
                genesis["alloc"][self.address(role).lower()] = {"balance": str(GENESIS_BALANCE)}
            self.genesis.write_text(json.dumps(genesis, indent=2) + "\n")
        for index in range(1, nodes + 1):
            datadir = self.node_dir(index)
            if (datadir / "geth" / "chaindata").exists():
                continue
            (datadir / "geth").mkdir(parents=True, exist_ok=True)
            # Our own node key, so that every node's enode address is known before it starts.
            write_private_file(datadir / "geth" / "nodekey", secrets.token_hex(32))
            subprocess.run(
                [str(geth), "--datadir", str(datadir), "init", str(self.genesis)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

    def _make_keys(self) -> None:
        self.keys.mkdir(parents=True, exist_ok=True)
        self.keys.chmod(0o700)
        if not self.password_file.exists():
            write_private_file(self.password_file, secrets.token_urlsafe(24) + "\n")
        password = self.password_file.read_text().strip()
        for role in ROLES:
            if not self.keystore(role).exists():
                write_private_file(self.keystore(role), json.dumps(Account.encrypt(Account.create().key, password)))

    def enode(self, index: int, p2p_port: int, host: str = "127.0.0.1") -> str:
        """Node ``index``'s enode URL, as its peers name it, when it listens on ``host:p2p_port``."""
        node_key = bytes.fromhex((self.node_dir(index) / "geth" / "nodekey").read_text().strip())
        public_key = eth_keys.PrivateKey(node_key).public_key.to_bytes().hex()
        return f"enode://{public_key}@{host}:{p2p_port}"

    def ipc_path(self, index: int) -> Path:
        return self.node_dir(index) / "geth.ipc"


@dataclass
class PrivateNetwork:
    """A running private chain. ``rpc_urls[0]`` is the mining node; ``enodes[i]`` is node i+1's
    enode URL."""

    folder: ChainFolder
    chain_id: int
    rpc_urls: list[str]
    processes: list[subprocess.Popen] = field(repr=False)
    enodes: list[str] = field(default_factory=list)

    @property
    def operator(self) -> LocalAccount:
        return self.folder.account("operator")

    @property
    def grid(self) -> LocalAccount:
        return self.folder.account("grid")

    def admin(self, index: int, method: str, *params) -> object:
        """Call ``method`` (``admin_*``, ``miner_*``: what JSON-RPC over HTTP does not offer) on
        node ``index`` through its IPC socket."""
        return ipc_call(self.folder.ipc_path(index), method, *params)

    def isolate(self, index: int) -> None:
        """Cut node ``index`` off from every other node, both ways so that none dials it again.

        The removal is repeated until the node has had no peer twice in a row a second apart: a
        dial already under way when a peer is removed still connects."""
        quiet = []

        def cut_off() -> bool:
            for other, enode in enumerate(self.enodes, start=1):
                if other != index:
                    self.admin(index, "admin_removePeer", enode)
                    self.admin(other, "admin_removePeer", self.enodes[index - 1])
            quiet.append(int(self.admin(index, "net_peerCount"), 16) == 0)
            time.sleep(1)
            return quiet[-2:] == [True, True]

        _wait_until(cut_off, f"node {index} still has peers", 120, self.processes, [])

    def reconnect(self, index: int) -> None:
        """Let node ``index`` dial every other node again."""
        for other, enode in enumerate(self.enodes, start=1):
            if other != index:
                self.admin(index, "admin_addPeer", enode)


def node_command(
    geth: Path, folder: ChainFolder, index: int, http_port: int, auth_port: int, mining: bool, dags: Path
) -> list[str]:
    """The command line of node ``index``. Its p2p address and peers are in its config.toml."""
    command = [
        str(geth),
        "--datadir",
        str(folder.node_dir(index)),
        "--config",
        str(folder.node_dir(index) / "config.toml"),
        "--networkid",
        str(folder.chain_id),
        "--nodiscover",
        "--nat",
        "none",
        "--syncmode",
        "full",
        "--http",
        "--http.addr",
        "127.0.0.1",
        "--http.port",
        str(http_port),
        "--http.api",
        "eth,net,web3",
        # WebSocket on the same port (ws://), for clients that need it (Caliper's connector).
        "--ws",
        "--ws.addr",
        "127.0.0.1",
        "--ws.port",
        str(http_port),
        "--ws.api",
        "eth,net,web3",
        # The engine API serves proof-of-stake consensus clients; here it only needs a free port.
        "--authrpc.addr",
        "127.0.0.1",
        "--authrpc.port",
        str(auth_port),
        "--ethash.dagdir",
        str(dags),
        "--miner.gaslimit",
        str(GAS_LIMIT),
        "--verbosity",
        "3",
    ]
    # Every node can be told to mine (miner_start over IPC); ``mining`` ones start mining.
    command += ["--miner.etherbase", folder.address("operator")]
    if mining:
        command += ["--mine", "--miner.threads", "1"]
    return command


def write_node_config(folder: ChainFolder, index: int, p2p_ports: list[int]) -> None:
    """config.toml: listen for peers on loopback only, dial every other node as a static peer.

    (Geth 1.11 has no flag for either: ``--port`` listens on every interface, and it ignores a
    static-nodes.json.)
    """
    peers = [folder.enode(other, port) for other, port in enumerate(p2p_ports, start=1) if other != index]
    (folder.node_dir(index) / "config.toml").write_text(
        "[Node.P2P]\n"
        f'ListenAddr = "127.0.0.1:{p2p_ports[index - 1]}"\n'
        "NoDiscovery = true\n"
        f"StaticNodes = {json.dumps(peers)}\n"
    )


def ipc_call(path: Path, method: str, *params) -> object:
    """One JSON-RPC call over a node's IPC socket; an error reply raises RuntimeError."""
    reply = Web3(Web3.IPCProvider(str(path), timeout=10)).provider.make_request(method, list(params))
    if "error" in reply:
        raise RuntimeError(f"{method} at {path}: {reply['error']}")
    return reply["result"]


def rpc(url: str, method: str, *params) -> object:
    """One JSON-RPC call; a node's error reply raises RuntimeError with its message."""
    response = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10
    )
    reply = response.json()
    if "error" in reply:
        raise RuntimeError(f"{method} at {url}: {reply['error']}")
    return reply["result"]


def _wait_until(condition, what: str, timeout: float, processes: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for process, log in zip(processes, logs):
            if process.poll() is not None:
                raise RuntimeError(f"geth exited with code {process.returncode}; end of {log}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            where = f"; see the logs in {logs[0].parent}" if logs else ""
            raise TimeoutError(f"{what} within {timeout:.0f} s{where}")
        time.sleep(0.5)


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextlib.contextmanager
def geth_private_network(
    folder: Path, nodes: int = 2, http_ports: list[int] | None = None, log=print, chain_id: int | None = None
) -> Iterator[PrivateNetwork]:
    """Run a private chain of ``nodes`` Geth nodes in ``folder``, node 1 mining.

    Initialises what is missing (keys, genesis with ``chain_id`` or the template's, datadirs),
    makes the DAG once, starts the nodes, and yields once every node answers, has all its peers
    and has seen a mined block. The nodes stop (SIGTERM, so they write their state) when the
    context ends. ``http_ports`` default to free ports.
    """
    geth = geth_binary()
    chain = ChainFolder(folder, chain_id)
    chain.path.mkdir(parents=True, exist_ok=True)
    chain.initialise(geth, nodes)
    dags = dag_dir()
    prepare_dags(geth, dags, log=log)

    http_ports = http_ports or [free_port() for _ in range(nodes)]
    p2p_ports = [free_port() for _ in range(nodes)]
    urls = [f"http://127.0.0.1:{port}" for port in http_ports]
    logs = [chain.path / f"node{index}.log" for index in range(1, nodes + 1)]
    processes: list[subprocess.Popen] = []
    try:
        for index in range(1, nodes + 1):
            write_node_config(chain, index, p2p_ports)
            command = node_command(geth, chain, index, http_ports[index - 1], free_port(), index == 1, dags)
            with open(logs[index - 1], "ab") as node_log:
                processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=node_log))
        for url, process in zip(urls, processes):
            wait_for_rpc(url, process, timeout=60)
        _wait_until(
            lambda: all(int(rpc(url, "net_peerCount"), 16) >= nodes - 1 for url in urls),
            "the nodes did not all connect to each other",
            60,
            processes,
            logs,
        )
        start = max(int(rpc(url, "eth_blockNumber"), 16) for url in urls)
        _wait_until(
            lambda: all(int(rpc(url, "eth_blockNumber"), 16) > start for url in urls),
            "no new block was mined and shared",
            FIRST_BLOCK_TIMEOUT,
            processes,
            logs,
        )
        enodes = [chain.enode(index, port) for index, port in enumerate(p2p_ports, start=1)]
        yield PrivateNetwork(chain, chain.chain_id, urls, processes, enodes)
    finally:
        stop_processes(processes, timeout=60)


TRADING_CHAIN_ID = 20645  # genesis.json's: the market's chain
SCHEDULING_CHAIN_ID = 20646


@dataclass
class SisterNetworks:
    """The two sister chains, running: each a ``PrivateNetwork`` of its own."""

    trading: PrivateNetwork
    scheduling: PrivateNetwork


@contextlib.contextmanager
def geth_sister_pair(
    folder: Path,
    trading_nodes: int = 2,
    scheduling_nodes: int = 2,
    trading_ports: list[int] | None = None,
    scheduling_ports: list[int] | None = None,
    log=print,
) -> Iterator[SisterNetworks]:
    """Run the trading chain in ``folder/trading`` and the scheduling chain in
    ``folder/scheduling``: two proof-of-work networks with their own genesis and chain id, node 1
    of each mining, sharing nothing but the DAG folder. They start side by side; both stop when
    the context ends (or when either fails to start)."""
    managers = [
        geth_private_network(Path(folder) / "trading", trading_nodes, trading_ports, log, TRADING_CHAIN_ID),
        geth_private_network(Path(folder) / "scheduling", scheduling_nodes, scheduling_ports, log, SCHEDULING_CHAIN_ID),
    ]
    with contextlib.ExitStack() as started:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
        for manager, future in zip(managers, futures):
            if future.exception() is None:
                started.push(manager.__exit__)
        trading, scheduling = (future.result() for future in futures)
        yield SisterNetworks(trading, scheduling)
