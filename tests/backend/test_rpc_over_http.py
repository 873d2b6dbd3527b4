"""`/rpc` (and `/api`) served by a real HTTP server, in front of the embedded chain and of anvil."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import pytest
import requests
from eth_account import Account
from web3 import HTTPProvider, Web3
from werkzeug.serving import make_server

from backend import create_app
from devnet.embedded import start_embedded_chain
from devnet.nodes import ANVIL_CHAIN_ID, ANVIL_FUNDED_KEY, free_port, stop_processes, wait_for_rpc
from p2pkit.market import Deployment, deploy_market
from p2pkit.schedule import Schedule


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
def backend_command(tmp_path):
    """Run `python -m backend serve` with extra arguments (and `P2P_*` settings) on a free port;
    yields /rpc's URL. What it prints goes to `tmp_path/serve-<port>.log`."""
    processes = []

    def start(*arguments: str, settings: dict[str, str] | None = None) -> str:
        port = free_port()
        env = {name: value for name, value in os.environ.items() if not name.startswith("P2P_")}
        env.update({f"P2P_{name}": value for name, value in (settings or {}).items()})
        with (tmp_path / f"serve-{port}.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve", "--port", str(port), *arguments],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}/rpc"
        wait_for_rpc(url, process, timeout=60)
        return url

    yield start
    stop_processes(processes)


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


def test_serve_command_answers_through_gunicorn(backend_command):
    url = backend_command("--chain", "embedded")

    assert requests.get(url.removesuffix("/rpc") + "/api/status", timeout=10).headers["Server"] == "gunicorn"


def test_serve_command_with_dev_answers_through_werkzeug(backend_command):
    url = backend_command("--chain", "embedded", "--dev")

    assert requests.get(url.removesuffix("/rpc") + "/api/status", timeout=10).headers["Server"].startswith("Werkzeug")


def test_serve_command_writes_the_embedded_markets_keys_for_their_owner_only(backend_command, tmp_path):
    url = backend_command("--chain", "embedded", "--keys-out", str(tmp_path / "keys"))

    contract = requests.get(url.removesuffix("/rpc") + "/api/contract", timeout=10).json()
    keys = {role: tmp_path / "keys" / f"{role}.key" for role in ("operator", "grid")}
    assert {
        role: (Account.from_key(path.read_text().strip()).address, stat.S_IMODE(path.stat().st_mode))
        for role, path in keys.items()
    } == {role: (contract[role], 0o600) for role in keys}


def test_serve_command_in_front_of_a_node_runs_one_keeper_among_its_workers(backend_command, anvil_url, tmp_path):
    w3 = Web3(HTTPProvider(anvil_url))
    operator = Account.from_key(ANVIL_FUNDED_KEY)
    deployment_file = tmp_path / "deployment.json"
    Deployment.of(w3, deploy_market(w3, operator, Account.create().address, Schedule.scaled(60))).save(deployment_file)
    settings = {
        "WORKERS": "3",
        "DEPLOYMENT": str(deployment_file),
        "OPERATOR_KEY": ANVIL_FUNDED_KEY,
        "KEEPER_DB": str(tmp_path / "keeper.sqlite3"),
    }

    backend_command("--chain", anvil_url, settings=settings)

    [log] = tmp_path.glob("serve-*.log")
    deadline = time.monotonic() + 60
    while log.read_text().count("; keeper ") < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(line.rsplit(" ", 1)[1] for line in log.read_text().splitlines() if "; keeper " in line) == [
        "off",
        "off",
        "running",
    ]
