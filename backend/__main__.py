"""Command line: `python -m backend serve --chain embedded|URL --port N`.

`embedded` runs an eth-tester chain inside this process, so it is served by one threaded
process here; with a node URL the same application can also run under gunicorn
(`gunicorn 'backend:create_app()'` with `P2P_CHAIN` set).
"""

from __future__ import annotations

import argparse

from werkzeug.serving import make_server

from backend import create_app
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
    args = parser.parse_args(argv)

    try:
        app = create_app({"CHAIN": args.chain} if args.chain else None)
    except ConfigError as error:
        parser.error(str(error))
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"serving on http://{args.host}:{server.port} (chain: {app.config['CHAIN']})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
