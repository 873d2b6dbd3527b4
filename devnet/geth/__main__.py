"""`python -m devnet.geth`: run the Geth proof-of-work private chain from the command line.

    .venv/bin/python -m devnet.geth init chain/ --nodes 2   # keys, genesis, datadirs
    .venv/bin/python -m devnet.geth dag                     # the ethash DAGs, once per machine
    .venv/bin/python -m devnet.geth up chain/ --nodes 2     # run until Ctrl-C

`up` does what `init` and `dag` do when needed, starts the nodes (node 1 mining), prints their
JSON-RPC addresses (node N on 8545 + N - 1 by default, loopback only) and stops them cleanly on
Ctrl-C or SIGTERM. The chain folder keeps the operator's and the grid's keystores and their
password (``keys/``): deploy with them, e.g. ``ape run deploy --network ethereum:geth-pow:node
--keystore chain/keys/operator.json --password-file chain/keys/password ...``.
See devnet/geth/__init__.py for the folder's layout and the settings.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import click

from devnet.geth import ChainFolder, GethUnavailable, dag_dir, geth_binary, geth_private_network, prepare_dags


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
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ports = [http_port + index for index in range(nodes)]
    with geth_private_network(folder, nodes, http_ports=ports, log=click.echo) as network:
        click.echo(f"chain id {network.chain_id}; operator {network.operator.address}, grid {network.grid.address}")
        for index, url in enumerate(network.rpc_urls, start=1):
            click.echo(f"node {index}{' (mining)' if index == 1 else ''}: {url}  log: {folder / f'node{index}.log'}")
        click.echo("Ctrl-C stops the chain")
        try:
            while not stop.is_set() and all(process.poll() is None for process in network.processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        stopped = [index for index, process in enumerate(network.processes, start=1) if process.poll() is not None]
        click.echo("stopping the nodes")
    if stopped:
        raise click.ClickException(f"node(s) {stopped} stopped on their own; see their logs in {folder}")


if __name__ == "__main__":
    cli()
