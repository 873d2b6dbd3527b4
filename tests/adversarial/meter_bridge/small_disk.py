"""The outbox on a small file system that fills up or turns read-only, as a worn SD card does.

``run_on_small_disk(fault, folder)`` (called by the tests) starts this module as a script inside
a private user and mount namespace (``unshare --user --map-root-user --mount``), where a 256 KiB
tmpfs is mounted on ``folder/disk``: a real file system with a real ENOSPC or EROFS, without
root, invisible outside the script, gone with it. The script plays the whole story on one
outbox file and prints what it saw as JSON:

1. The bridge (on the fake chain and scripted meter of the store-and-forward tests) queues three
   readings while the chain is down.
2. The fault: the disk fills up, or it is remounted read-only.
3. ``python -m meter_bridge run`` starts on that outbox, with a simulated meter on a pty; on a
   full disk it can open the outbox but not record the meter's register.
4. The fault is mended, and the bridge is restarted twice with the chain back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from bridge_process import REPOSITORY

TINY_FILESYSTEM = "size=256k"
# What a full disk leaves free: SQLite's shared-memory index (-shm, 32 KiB) still fits, so the
# outbox opens; one page of its write-ahead log (4 KiB + 24 bytes per page) does not.
LEFT_FREE = 9 * 4096


def run_on_small_disk(fault: str, folder: Path) -> dict:
    """Run the story for ``fault`` ("full" or "read-only"); skips where namespaces are not allowed."""
    disk = folder / "disk"
    disk.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("a small tmpfs needs unshare (util-linux), not installed here")
    probe = subprocess.run(_in_namespace(disk, ["true"]), capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"a small tmpfs needs unprivileged user namespaces (unshare): {probe.stderr.strip()}")
    # The repository first (so that its meter_bridge is the one run), then the bridge's test fakes.
    path = os.pathsep.join([str(REPOSITORY), str(REPOSITORY / "tests" / "meter_bridge")])
    environment = {**os.environ, "PYTHONPATH": path}
    story = subprocess.run(
        _in_namespace(disk, [sys.executable, __file__, fault, str(folder)]),
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert story.returncode == 0, story.stderr
    return json.loads(story.stdout.splitlines()[-1])


def _in_namespace(disk: Path, command: list[str]) -> list[str]:
    mount = f'mount -t tmpfs -o {TINY_FILESYSTEM} outbox-disk "$0" && exec "$@"'
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, str(disk), *command]


# ---------------------------------------------------------------- inside the namespace


def _fill(disk: Path) -> None:
    status = os.statvfs(disk)
    (disk / "filler").write_bytes(bytes(status.f_bavail * status.f_frsize - LEFT_FREE))


def _remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True)


FAULTS = {
    "full": (_fill, lambda disk: (disk / "filler").unlink()),
    "read-only": (lambda disk: _remount(disk, "ro"), lambda disk: _remount(disk, "rw")),
}


def story(fault: str, folder: Path) -> dict:
    # Imported here: the tests/meter_bridge fakes are on the path of the script, not of the tests.
    from bridge_process import WIND_ADDRESS, run_bridge, write_config
    from eth_account import Account
    from meter_bridge_fakes import FakeMarket, ScriptedMeters

    from meter_bridge.daemon import BridgedMeter, Daemon
    from meter_bridge.data_items import REVERSE_ACTIVE_ENERGY
    from meter_bridge.outbox import Outbox
    from meter_bridge.signing import MeterKey
    from meter_bridge.simulator import BusThread, SimulatedBus, VirtualMeter
    from p2pkit.schedule import Schedule

    clock = Schedule(
        period_length=30, commit_end=6, reveal_end=10, settle_start=20, reading_grace=3_600, genesis_time=1_000
    )
    wind = BridgedMeter("wind", WIND_ADDRESS, 161, REVERSE_ACTIVE_ENERGY, MeterKey(Account.create().key))
    market = FakeMarket(clock, {wind.key.address: (2, 161, 1_000_000)})  # a 1 MW meter
    meters = ScriptedMeters({WIND_ADDRESS: "5000.00"})
    disk = folder / "disk"
    outbox = disk / "outbox.sqlite3"

    def restarted_bridge() -> Daemon:
        return Daemon([wind], meters, market, Outbox(str(outbox)), max_reading_delay=10)

    bridge = restarted_bridge()
    for period in range(1, 5):  # the market clock is learnt at the first start, then the chain is down
        market.online = period == 1
        meters.registers[WIND_ADDRESS] += Decimal("1.25")
        market.now = clock.start(period) + 1
        bridge.step(market.now)
    queued = [(reading.period, reading.energy_wh) for reading in bridge.outbox.waiting()]
    bridge.outbox.close()

    before = outbox.read_bytes()
    break_disk, mend_disk = FAULTS[fault]
    break_disk(disk)
    with BusThread(SimulatedBus([VirtualMeter(WIND_ADDRESS, reverse_kwh=Decimal("6000.00"))])) as line:
        # Any wall-clock moment lies within max_reading_delay of a period start: it reads at once.
        run = run_bridge(write_config(folder, outbox, line.port, max_reading_delay=clock.period_length))
    unchanged = outbox.read_bytes() == before
    mend_disk(disk)

    market.online = True
    market.now = clock.start(4) + 5
    for _ in range(2):  # the second restart finds nothing left to send
        bridge = restarted_bridge()
        bridge.step(market.now)
        bridge.outbox.close()
    return {
        "outbox": str(outbox),
        "status": run.status,
        "stderr": run.stderr,
        "unchanged": unchanged,
        "queued": queued,
        "applied": [[period, energy_wh] for _, period, energy_wh in market.applied],
    }


if __name__ == "__main__":
    print(json.dumps(story(sys.argv[1], Path(sys.argv[2]))))
