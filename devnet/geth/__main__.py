"""`python -m devnet.geth`: run the Geth proof-of-work private chain from the command line.

    .venv/bin/python -m devnet.geth init chain/ --nodes 2   # keys, genesis, datadirs
    .venv/bin/python -m devnet.geth dag                     # the ethash DAGs, once per machine
    .venv/bin/python -m devnet.geth up chain/ --nodes 2     # run until Ctrl-C
    .venv/bin/python -m devnet.geth pair chains/            # the two sister chains, until Ctrl-C
    .venv/bin/python -m devnet.geth enode chain/ --node 1 --host 10.0.0.11   # a node's enode URL

`up` does what `init` and `dag` do when needed, starts the nodes (node 1 mining), prints their
JSON-RPC addresses (node N on 8545 + N - 1 by default, loopback only) and stops them cleanly on
Ctrl-C or SIGTERM. `pair` does the same for the trading chain (``chains/trading``, id 20645,
JSON-RPC from 8545) and the scheduling chain (``chains/scheduling``, id 20646, from 9545).
The chain folder keeps the operator's and the grid's keystores and their password
(``keys/``): deploy with them, e.g. ``ape run deploy --network ethereum:geth-pow:node
--keystore chain/keys/operator.json --password-file chain/keys/password ...``.
See devnet/geth/__init__.py for the folder's layout and the settings.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import click

from devnet.geth import (
    ChainFolder,
    GethUnavailable,
    PrivateNetwork,
    dag_dir,
    geth_binary,
    geth_private_network,
    geth_sister_pair,
    prepare_dags,
)


def _geth() -> Path:
    try:
        return geth_binary()
    except GethUnavailable as error:
        raise click.ClickException(f"geth is not available: {error}") from None


@click.group()
def cli() -> None:
    """The Geth PoW private chain of the energy market."""


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--nodes", default=2, show_default=True, type=click.IntRange(min=1))
def init(folder: Path, nodes: int) -> None:
    """Make the keys, the genesis and the node datadirs that FOLDER is missing."""
    chain = ChainFolder(folder)
    chain.path.mkdir(parents=True, exist_ok=True)
    chain.initialise(_geth(), nodes)
    click.echo(f"chain id {chain.chain_id}, {nodes} node(s) in {folder}")
    for role in ("operator", "grid"):
        click.echo(f"{role}: {chain.account(role).address} (keystore {chain.keystore(role)})")


@cli.command()
def dag() -> None:
    """Make the ethash DAGs a miner needs, into P2P_ETHASH_DIR (default ~/.ethash)."""
    seconds = prepare_dags(_geth(), dag_dir(), log=click.echo)
    click.echo(f"DAGs ready in {dag_dir()} ({seconds:.0f} s)")


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--nodes", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--http-port", default=8545, show_default=True, help="JSON-RPC port of node 1; node N gets this + N - 1.")
def up(folder: Path, nodes: int, http_port: int) -> None:
    """Run the chain in FOLDER until Ctrl-C; node 1 mines."""
    _geth()
    stop = _stop_on_sigterm()
    with geth_private_network(folder, nodes, http_ports=_ports(http_port, nodes), log=click.echo) as network:
        _describe(network, "chain")
        _run_until_stopped(stop, [network])


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--nodes", default=2, show_default=True, type=click.IntRange(min=1), help="Nodes of each chain.")
@click.option("--trading-port", default=8545, show_default=True, help="JSON-RPC port of the trading chain's node 1.")
@click.option("--scheduling-port", default=9545, show_default=True, help="The same, scheduling chain.")
def pair(folder: Path, nodes: int, trading_port: int, scheduling_port: int) -> None:
    """Run the two sister chains in FOLDER/trading and FOLDER/scheduling until Ctrl-C."""
    _geth()
    stop = _stop_on_sigterm()
    with geth_sister_pair(
        folder,
        nodes,
        nodes,
        trading_ports=_ports(trading_port, nodes),
        scheduling_ports=_ports(scheduling_port, nodes),
        log=click.echo,
    ) as networks:
        _describe(networks.trading, "trading chain")
        _describe(networks.scheduling, "scheduling chain")
        _run_until_stopped(stop, [networks.trading, networks.scheduling])


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--node", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--host", default="127.0.0.1", show_default=True, help="The address its peers reach it at.")
@click.option("--port", default=30303, show_default=True, help="Its p2p port (ListenAddr in its config.toml).")
def enode(folder: Path, node: int, host: str, port: int) -> None:
    """Print the enode URL of node NODE of the chain in FOLDER, for its peers' StaticNodes."""
    click.echo(ChainFolder(folder).enode(node, port, host))


def _ports(first: int, nodes: int) -> list[int]:
    return [first + index for index in range(nodes)]


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def _describe(network: PrivateNetwork, name: str) -> None:
    folder = network.folder.path
    click.echo(f"{name}: id {network.chain_id}; operator {network.operator.address}, grid {network.grid.address}")
    for index, url in enumerate(network.rpc_urls, start=1):
        click.echo(f"  node {index}{' (mining)' if index == 1 else ''}: {url}  log: {folder / f'node{index}.log'}")
        click.echo(f"    {network.enodes[index - 1]}")


def _run_until_stopped(stop: threading.Event, networks: list[PrivateNetwork]) -> None:
    """Wait for Ctrl-C or SIGTERM; fail if a node stops on its own."""
    processes = [process for network in networks for process in network.processes]
    click.echo("Ctrl-C stops the nodes")
    try:
        while not stop.is_set() and all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stopped = [
        f"{network.folder.path}/node{index}"
        for network in networks
        for index, process in enumerate(network.processes, start=1)
        if process.poll() is not None
    ]
    click.echo("stopping the nodes")
    if stopped:
        raise click.ClickException(f"{', '.join(stopped)} stopped on their own; see their logs")


if __name__ == "__main__":
    cli()
