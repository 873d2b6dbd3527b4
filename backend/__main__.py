"""Command line: `python -m backend serve --chain embedded|URL --port N [--deployment-out PATH]`.

`embedded` runs an eth-tester chain inside this process, with the market deployed, so it is
served by one threaded process here; `--deployment-out` writes that market's deployment file
for the meter bridge. With a node URL the same application can also run under gunicorn
(`gunicorn 'backend:create_app()'` with `P2P_CHAIN` set); use one worker, or set `P2P_KEEPER=0`
on all but one instance, so that a single keeper signs with the operator's key.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from werkzeug.serving import make_server

from backend import create_app, market_of, missing_market_reason
from backend.config import ConfigError


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
    args = parser.parse_args(argv)

    try:
        app = create_app({"CHAIN": args.chain} if args.chain else None)
    except ConfigError as error:
        parser.error(str(error))
    market = market_of(app)
    if args.deployment_out:
        if market is None:
            parser.error(f"no market to write to {args.deployment_out}: {missing_market_reason(app)}")
        market.deployment.save(args.deployment_out)
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"serving on http://{args.host}:{server.port} (chain: {app.config['CHAIN']})", flush=True)
    if market is None:
        print(f"no market: {missing_market_reason(app)}; only /rpc is useful", flush=True)
    else:
        keeper = "running" if app.config["KEEPER"] and market.operator else "off"
        print(f"market {market.contract.address} (operator {market.deployment.operator}); keeper {keeper}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
