"""make demo's script: the platform comes up on its own and trades, with meters reporting."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devnet.nodes import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
PERIOD = 30


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_demo_trades_and_settles_with_meter_readings_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    with open(tmp_path / "demo.err", "w") as errors:
        demo = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--port", str(port), "--period-length", str(PERIOD)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        lines = [demo.stdout.readline() for _ in range(3)]
        assert any(f"http://127.0.0.1:{port}/" in line for line in lines)
        assert "<title>" in urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        deadline = time.monotonic() + 8 * PERIOD
        settled = []
        while not settled and time.monotonic() < deadline:
            time.sleep(2)
            periods = get(f"http://127.0.0.1:{port}/api/periods?from=1&to=20")["periods"]
            settled = [p for p in periods if p["trades"] and any(s["metered"] for s in p["settlements"])]
        assert settled, "no period was matched and settled with meter readings"
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
    assert demo.returncode == 0
    assert "stopped" in demo.stdout.read()
