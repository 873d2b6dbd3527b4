"""The backend of the peer-to-peer electricity market: a Flask application.

`create_app` builds it. Settings come from `P2P_*` environment variables, overridden by the dict
passed in (see `backend.config`); the chain it talks to is the `CHAIN` setting, or the upstream
passed in.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from backend import rpc_proxy
from backend.chain_access import Upstream, connect_upstream
from backend.config import load_config


def create_app(config: dict[str, Any] | None = None, *, upstream: Upstream | None = None) -> Flask:
    """Build the application.

    `upstream` is the chain `/rpc` forwards to; without one, it is made from the `CHAIN` setting
    (which, for "embedded", starts a new in-process chain).
    """
    app = Flask(__name__)
    app.config.from_mapping(load_config(config))
    if upstream is None:
        upstream = connect_upstream(app.config["CHAIN"], app.config["RPC_TIMEOUT"])
    app.extensions[rpc_proxy.UPSTREAM_EXTENSION] = upstream
    app.register_blueprint(rpc_proxy.bp)
    return app
