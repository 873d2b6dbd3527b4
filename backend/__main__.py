"""Command line: `python -m backend serve [--chain embedded|URL] [--host H] [--port N] ...`.

The backend runs under gunicorn with every request and connection bounded (`backend.serving`);
`--dev` runs werkzeug's development server instead, for debugging only. Both listen on
127.0.0.1 unless `--host` says otherwise.

`embedded` runs an eth-tester chain inside the one server process, with the market deployed
under an operator and a grid key made for that run: `--keys-out DIR` writes them (0600) for
whoever plays those roles, `--deployment-out PATH` the market's deployment file for the meter
bridge. The embedded chain is for one machine: anyone who reaches its `/rpc` can use the ether
of eth-tester's well-known dev accounts. With a node URL, `WORKERS` processes serve and the
keeper runs in one of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from backend import create_app, market_of, missing_market_reason
from backend.config import ConfigError, load_config
from backend.serving import BackendServer
from backend.upstreams import node_address
from p2pkit.keyfiles import write_private_file


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the backend over HTTP")
    serve.add_argument(
        "--chain",
        help='"embedded" for an in-process test chain, or a JSON-RPC node URL (default: P2P_CHAIN, else embedded)',
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=5000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--deployment-out",
        type=Path,
        metavar="PATH",
        help="write the market's deployment file here (for the meter bridge on an embedded chain)",
    )
    serve.add_argument(
        "--keys-out",
        type=Path,
        metavar="DIR",
        help="embedded chain: write the operator's and the grid's keys to DIR/operator.key and DIR/grid.key (0600)",
    )
    serve.add_argument("--dev", action="store_true", help="werkzeug's development server instead of gunicorn")
    args = parser.parse_args(argv)

    overrides = {"CHAIN": args.chain} if args.chain else {}
    try:
        settings = load_config(overrides)
    except ConfigError as error:
        parser.error(str(error))
    embedded = settings["CHAIN"] == "embedded"
    if args.keys_out and not embedded:
        parser.error("--keys-out is for an embedded chain: the keys of a market on a node are its operator's own")
    if embedded and settings["WORKERS"] > 1:
        parser.error("an embedded chain lives in one process: WORKERS must be 1")
    if args.keys_out:
        args.keys_out.mkdir(parents=True, exist_ok=True)
    chain = "embedded" if embedded else f"node at {node_address(settings['CHAIN'])}"

    def ready(app: Flask, address: tuple[str, Any]) -> None:
        announce(app, address, chain, args.deployment_out, args.keys_out)

    if args.dev:
        try:
            app = create_app(overrides)
            server = make_server(args.host, args.port, app, threaded=True)
            ready(app, (args.host, server.port))
        except ConfigError as error:
            parser.error(str(error))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        return
    try:
        BackendServer(overrides, settings, args.host, args.port, ready).run()
    except ConfigError as error:
        parser.error(str(error))


def announce(
    app: Flask, address: tuple[str, Any], chain: str, deployment_out: Path | None, keys_out: Path | None
) -> None:
    """Write what was asked for, then say where the server answers and what it serves."""
    market = market_of(app)
    if (deployment_out or keys_out) and market is None:
        raise ConfigError(f"no market to write out: {missing_market_reason(app)}")
    if deployment_out:
        market.deployment.save(deployment_out)
    if keys_out:
        write_private_file(keys_out / "operator.key", market.operator.key.to_0x_hex() + "\n")
        write_private_file(keys_out / "grid.key", market.grid_key.key.to_0x_hex() + "\n")
    host, port = address
    print(f"serving on http://{host}:{port} (chain: {chain})", flush=True)
    if market is None:
        print(f"no market: {missing_market_reason(app)}; only /rpc is useful", flush=True)
    else:
        keeper = "running" if app.config["KEEPER"] and market.keeper else "off"
        print(f"market {market.contract.address} (operator {market.deployment.operator}); keeper {keeper}", flush=True)
        if keys_out:
            print(f"operator and grid keys in {keys_out}/operator.key and {keys_out}/grid.key", flush=True)


if __name__ == "__main__":
    main()
