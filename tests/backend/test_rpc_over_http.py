"""`/rpc` (and `/api`) served by a real HTTP server, in front of the embedded chain and of anvil."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import requests
from werkzeug.serving import make_server

from backend import create_app
from devnet.embedded import start_embedded_chain
from devnet.nodes import ANVIL_CHAIN_ID, free_port, wait_for_rpc
from p2pkit.market import Deployment


@pytest.fixture
def served_backend():
    """The backend on an embedded chain, served by werkzeug on a loopback port; yields /rpc's URL."""
    app = create_app({"CHAIN": "embedded", "MAX_BODY_BYTES": 10_000, "EMBEDDED_BLOCK_INTERVAL": 0, "KEEPER": False})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    yield f"http://127.0.0.1:{server.port}/rpc"
    server.shutdown()
    serving.join()
    server.server_close()


def test_batch_over_http_is_answered_item_by_item(served_backend):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "personal_unlockAccount", "params": []},
    ]

    responses = requests.post(served_backend, json=batch, timeout=10).json()

    assert [response.get("error", {}).get("code") for response in responses] == [None, -32601]


def test_oversized_body_over_http_is_refused_with_413(served_backend):
    reply = requests.post(served_backend, data=b"[" + b" " * 20_000 + b"]", timeout=10)

    assert (reply.status_code, reply.json()["error"]["code"]) == (413, -32600)


@pytest.fixture
def backend_command():
    """Run `python -m backend serve` with extra arguments on a free port; yields /rpc's URL."""
    processes = []

    def start(*arguments: str) -> str:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--port", str(port), *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}/rpc"
        wait_for_rpc(url, process)
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def chain_id_at(url: str) -> int:
    reply = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=10)
    return int(reply.json()["result"], 16)


def test_serve_command_with_an_embedded_chain(backend_command):
    url = backend_command("--chain", "embedded")

    assert chain_id_at(url) == start_embedded_chain().eth.chain_id


def test_serve_command_in_front_of_a_node(backend_command, anvil_url):
    url = backend_command("--chain", anvil_url)

    assert chain_id_at(url) == ANVIL_CHAIN_ID


def test_serve_command_writes_the_embedded_markets_deployment(backend_command, tmp_path):
    deployment_file = tmp_path / "deployment.json"
    url = backend_command("--chain", "embedded", "--deployment-out", str(deployment_file))

    contract = requests.get(url.removesuffix("/rpc") + "/api/contract", timeout=10).json()
    assert Deployment.load(deployment_file).market == contract["address"]
