"""Run the relayer between the trading and the scheduling chain, or make its key.

    python -m relayer run [--config FILE]
    python -m relayer new-key --keystore FILE --password-file FILE

Exit status: 0 stopped cleanly, 2 unusable configuration or key.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from eth_account.signers.local import LocalAccount

from p2pkit.keyfiles import KeyFileError, create_keystore, load_account
from p2pkit.sister.lock import SCHEDULING, TRADING, SisterChain, attach
from p2pkit.stations import dispatch_at
from relayer.config import Config, ConfigError, load_config
from relayer.reassigner import Reassigner
from relayer.relayer import Relayer, connect

BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relayer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="relay headers and unlocks until stopped (SIGTERM, Ctrl-C)")
    run.add_argument("--config", help="TOML file (settings may also come from RELAYER_* variables)")
    run.set_defaults(command=_run)
    new_key = commands.add_parser("new-key", help="create the relayer's account in a new 0600 keystore")
    new_key.add_argument("--keystore", required=True)
    new_key.add_argument("--password-file", required=True, help="existing 0600 file whose first line is the password")
    new_key.set_defaults(command=_new_key)
    args = parser.parse_args(argv)
    return args.command(args)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        account = load_account(config.relayer.keystore, config.relayer.password_file)
    except (ConfigError, KeyFileError) as error:
        print(f"relayer: {error}", file=sys.stderr)
        return BAD_INPUT
    logging.basicConfig(level=config.relayer.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    chains = tuple(
        attach(name, connect(settings.rpc_url, settings.rpc_timeout), settings.lock)
        for name, settings in ((TRADING, config.trading), (SCHEDULING, config.scheduling))
    )
    relayer = Relayer(
        chains,
        account,
        header_batch=config.relayer.header_batch,
        unlock_batch=config.relayer.unlock_batch,
        log_block_range=config.relayer.log_block_range,
        poll_interval=config.relayer.poll_interval,
        chores=_chores(config, chains, account),
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger("relayer").info("relaying as %s between %s and %s", account.address, *(c.name for c in chains))
    relayer.run(stop)
    return 0


def _chores(config: Config, chains: tuple[SisterChain, SisterChain], account: LocalAccount) -> list:
    """The steps run beside the relaying: the stations' re-assignment when a dispatch is named."""
    if not config.stations.dispatch:
        return []
    scheduling = chains[1].w3
    reassigner = Reassigner(
        scheduling,
        dispatch_at(scheduling, config.stations.dispatch),
        account,
        from_block=config.stations.from_block,
        batch=config.stations.reassign_batch,
        max_blocks=config.relayer.log_block_range,
    )
    logging.getLogger("relayer").info("re-assigning the users of dispatch %s", config.stations.dispatch)
    return [reassigner.step]


def _new_key(args: argparse.Namespace) -> int:
    try:
        account = create_keystore(args.keystore, args.password_file)
    except KeyFileError as error:
        print(f"relayer: {error}", file=sys.stderr)
        return BAD_INPUT
    print(account.address)
    return 0
