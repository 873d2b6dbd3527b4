"""`create_app` picks the upstream from the CHAIN setting unless one is passed in."""

from __future__ import annotations

import pytest

from backend import create_app
from backend.chain_access import HttpUpstream, InProcessUpstream
from backend.config import ConfigError
from backend.rpc_proxy import UPSTREAM_EXTENSION


def upstream_of(app):
    return app.extensions[UPSTREAM_EXTENSION]


def test_node_url_gives_an_http_upstream_with_the_configured_timeout():
    app = create_app({"CHAIN": "http://127.0.0.1:8545", "RPC_TIMEOUT": 3})

    assert (type(upstream_of(app)), upstream_of(app).url, upstream_of(app).timeout) == (
        HttpUpstream,
        "http://127.0.0.1:8545",
        3.0,
    )


def test_embedded_gives_an_in_process_chain():
    assert isinstance(upstream_of(create_app({"CHAIN": "embedded"})), InProcessUpstream)


def test_chain_that_is_neither_embedded_nor_a_url_is_refused():
    with pytest.raises(ConfigError, match="ws://node"):
        create_app({"CHAIN": "ws://node:8546"})


def test_upstream_passed_in_is_used(fake_upstream):
    assert upstream_of(create_app(upstream=fake_upstream)) is fake_upstream


def test_apps_do_not_share_an_embedded_chain():
    first, second = create_app({"CHAIN": "embedded"}), create_app({"CHAIN": "embedded"})

    assert upstream_of(first).w3 is not upstream_of(second).w3
