"""An outbox that cannot be opened is refused with OutboxUnavailable, and nothing is written to it."""

import random
import subprocess
import sys
from decimal import Decimal

import pytest

from meter_bridge.errors import OutboxUnavailable
from meter_bridge.outbox import Outbox
from meter_bridge.period_energy import RegisterReading

PAGE = 4096
WIND_REGISTER = RegisterReading("000000000161", 7, Decimal("5000.00"))


@pytest.fixture
def outbox_path(tmp_path):
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def outbox_file(outbox_path):
    """A closed outbox of several pages: the readings and registers of 40 meters."""
    outbox = Outbox(str(outbox_path))
    for period in range(1, 41):
        outbox.record(f"meter-{period}", RegisterReading("000000000161", period, Decimal(period)), period, period)
    outbox.close()
    return outbox_path


def damage(path, offset: int, garbage: bytes) -> bytes:
    damaged = bytearray(path.read_bytes())
    damaged[offset : offset + len(garbage)] = garbage
    path.write_bytes(damaged)
    return bytes(damaged)


def test_file_of_garbage_is_refused_as_damaged(outbox_path):
    outbox_path.write_bytes(random.Random(645).randbytes(2 * PAGE))
    with pytest.raises(OutboxUnavailable, match=r"file is not a database .* The file is damaged"):
        Outbox(str(outbox_path))


def test_overwritten_pages_are_refused_as_damaged(outbox_file):
    damage(outbox_file, PAGE, random.Random(645).randbytes(outbox_file.stat().st_size - PAGE))
    with pytest.raises(OutboxUnavailable, match=r"malformed \(SQLITE_CORRUPT\)"):
        Outbox(str(outbox_file))


def test_one_flipped_byte_is_found_by_the_integrity_check(outbox_file):
    damage(outbox_file, PAGE + 5, bytes([outbox_file.read_bytes()[PAGE + 5] ^ 0xFF]))
    with pytest.raises(OutboxUnavailable, match=r"integrity check fails \(Page 2: free space corruption\)"):
        Outbox(str(outbox_file))


def test_damaged_outbox_is_not_written_to(outbox_file):
    damaged = damage(outbox_file, PAGE + 5, bytes([outbox_file.read_bytes()[PAGE + 5] ^ 0xFF]))
    with pytest.raises(OutboxUnavailable):
        Outbox(str(outbox_file))
    assert outbox_file.read_bytes() == damaged


def test_outbox_in_a_missing_folder_cannot_be_opened(tmp_path):
    with pytest.raises(OutboxUnavailable, match=r"cannot be opened: unable to open database file \(SQLITE_CANTOPEN\)"):
        Outbox(str(tmp_path / "absent" / "outbox.sqlite3"))


def test_folder_in_place_of_the_outbox_cannot_be_opened(outbox_path):
    outbox_path.mkdir()
    with pytest.raises(OutboxUnavailable, match="cannot be opened"):
        Outbox(str(outbox_path))


def test_outbox_of_a_killed_daemon_opens_with_what_it_committed(outbox_path):
    killed = (
        "import os, sys; from decimal import Decimal; from meter_bridge.outbox import Outbox; "
        "from meter_bridge.period_energy import RegisterReading; "
        "Outbox(sys.argv[1]).record('wind', RegisterReading('000000000161', 7, Decimal('5000.00')), None, 6); "
        "os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", killed, str(outbox_path)], check=True)
    assert Outbox(str(outbox_path)).last_register("wind") == WIND_REGISTER
