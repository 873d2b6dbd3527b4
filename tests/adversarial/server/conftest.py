"""Fixtures for the attacks on the backend: a market on an embedded chain, scripted with the
backend tests' `MarketScript`; the application in front of it (its keeper built and stepped by
the test); and `python -m backend serve` in a subprocess, for the attacks that could kill the
server or need real sockets."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
# The attacks play the market with the backend tests' helpers (market_script, backend_fakes).
sys.path.insert(0, str(ROOT / "tests" / "backend"))

from market_script import PERIOD_LENGTH, MarketScript  # noqa: E402

from backend import create_app, keeper_of  # noqa: E402
from devnet.embedded import start_embedded_market  # noqa: E402
from devnet.nodes import free_port, stop_processes  # noqa: E402

APP_CONFIG = {"TESTING": True, "KEEPER": False, "KEEPER_DB": ":memory:"}
SERVER_START_SECONDS = 90


@pytest.fixture
def market():
    return start_embedded_market(PERIOD_LENGTH)


@pytest.fixture
def script(market) -> MarketScript:
    return MarketScript(market)


@pytest.fixture
def app(market):
    return create_app(APP_CONFIG, market=market)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keeper(app):
    return keeper_of(app)


@pytest.fixture
def usual_umask():
    """The umask most systems give (022), under which a file created without care is
    world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@dataclass
class ServedBackend:
    url: str
    port: int
    process: subprocess.Popen
    log: Path

    def running(self) -> bool:
        return self.process.poll() is None


@pytest.fixture
def serve_backend(tmp_path) -> Iterator:
    """Start `python -m backend serve --chain embedded` on a free loopback port, with `settings`
    as `P2P_*` variables and at most `open_files` file descriptors; returns it once it answers.
    Every server started is stopped at the end of the test."""
    started: list[subprocess.Popen] = []

    def start(settings: dict[str, str] | None = None, open_files: int | None = None) -> ServedBackend:
        port = free_port()
        log = tmp_path / f"backend-{port}.log"
        env = {name: value for name, value in os.environ.items() if not name.startswith("P2P_")}
        env.update({f"P2P_{name}": value for name, value in (settings or {}).items()})
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))) if open_files else None
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve", "--chain", "embedded", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=limit,
            )
        started.append(process)
        backend = ServedBackend(f"http://127.0.0.1:{port}", port, process, log)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if not backend.running():
                pytest.fail(f"the backend exited with code {process.returncode}:\n{log.read_text()}")
            try:
                if requests.get(backend.url + "/api/contract", timeout=2).ok:
                    return backend
            except requests.RequestException:
                time.sleep(0.2)
        pytest.fail(f"the backend did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()}")

    yield start
    stop_processes(started)
