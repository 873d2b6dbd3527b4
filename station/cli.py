"""Run a storage station's daemon, or make its key.

    python -m station run [--config FILE]
    python -m station new-key --keystore FILE --password-file FILE

``run`` drives a simulated battery (``sim.battery``) with the settings of ``[battery]``; on
SIGTERM or Ctrl-C it reports the station offline (dispatch moves its users elsewhere) and stops.
Exit status: 0 stopped cleanly, 2 unusable configuration, key or state file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading

from web3 import Web3

from p2pkit.keyfiles import KeyFileError, create_keystore, decrypt_keystore, load_account
from p2pkit.stations import dispatch_at
from sim.battery import BatteryError, SimulatedBattery
from station.config import PASSWORD_VARIABLE, Config, load_config
from station.daemon import StationDaemon
from station.errors import ConfigError, StationError
from station.state import StateFile

BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="follow dispatch and drive the battery until stopped (SIGTERM, Ctrl-C)")
    run.add_argument("--config", help="TOML file (settings may also come from STATION_* variables)")
    run.set_defaults(command=_run)
    new_key = commands.add_parser("new-key", help="create the station's account in a new 0600 keystore")
    new_key.add_argument("--keystore", required=True)
    new_key.add_argument("--password-file", required=True, help="existing 0600 file whose first line is the password")
    new_key.set_defaults(command=_new_key)
    args = parser.parse_args(argv)
    return args.command(args)


def _account(config: Config):
    """The station's key: its keystore with the password file, or with the password variable;
    a keystore others may read is refused either way."""
    keystore = config.station.keystore
    if config.station.password_file:
        return load_account(keystore, config.station.password_file)
    try:
        mode = os.stat(keystore).st_mode
    except OSError as error:
        raise KeyFileError(f"cannot read keystore {keystore}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"keystore {keystore} is open to other users (mode {stat.S_IMODE(mode):o}): chmod 600 it")
    return decrypt_keystore(keystore, os.environ[PASSWORD_VARIABLE])


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        account = _account(config)
        battery = SimulatedBattery(
            capacity_kwh=config.battery.capacity_kwh,
            stored_kwh=config.battery.stored_kwh,
            max_discharge_kw=config.battery.max_discharge_kw,
            max_charge_kw=config.battery.max_charge_kw,
            efficiency=config.battery.efficiency,
        )
        w3 = Web3(Web3.HTTPProvider(config.chain.rpc_url, request_kwargs={"timeout": config.chain.rpc_timeout}))
        daemon = StationDaemon(
            w3,
            dispatch_at(w3, config.chain.dispatch),
            account,
            battery,
            StateFile(config.daemon.state_file),
            connection_kw=config.daemon.connection_kw,
            unit_kwh=config.daemon.unit_kwh,
            report_step=config.daemon.report_step,
            log_block_range=config.daemon.log_block_range,
            meter_file=config.daemon.meter_file or None,
            confirm_batch=config.daemon.confirm_batch,
        )
    except (ConfigError, KeyFileError, BatteryError, StationError) as error:
        print(f"station: {error}", file=sys.stderr)
        return BAD_INPUT
    logging.basicConfig(level=config.daemon.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger("station").info("station %d (%s) running", daemon.station_id, account.address)
    daemon.run(stop, config.daemon.tick, config.daemon.speed)
    try:
        daemon.go_offline()
    except Exception as error:  # the node is gone: dispatch sees the station's silence instead
        logging.getLogger("station").warning("could not report the station offline: %s", error)
    return 0


def _new_key(args: argparse.Namespace) -> int:
    try:
        account = create_keystore(args.keystore, args.password_file)
    except KeyFileError as error:
        print(f"station: {error}", file=sys.stderr)
        return BAD_INPUT
    print(account.address)
    return 0
