"""Attack: the outbox file is garbage (a torn write on a worn SD card, or someone's doing). The
daemon used to die on an untyped sqlite3.DatabaseError, which systemd's Restart=always turned
into a crash loop while the readings of every period went unmetered."""

import random
import re

import pytest
from bridge_process import REPOSITORY, run_bridge, write_config

from meter_bridge.cli import OUTBOX_UNAVAILABLE

GARBAGE = b"SQLite format 3\x00" + random.Random(645).randbytes(4096)
UNIT_FILE = REPOSITORY / "meter_bridge" / "systemd" / "meter-bridge.service"


@pytest.fixture(scope="module")
def corrupt_outbox(tmp_path_factory):
    path = tmp_path_factory.mktemp("corrupt") / "outbox.sqlite3"
    path.write_bytes(GARBAGE)
    return path


@pytest.fixture(scope="module")
def bridge_on_corrupt_outbox(corrupt_outbox):
    """The daemon started on the corrupt outbox, with an open (loopback) serial line."""
    return run_bridge(write_config(corrupt_outbox.parent, corrupt_outbox, port="loop://"))


def test_corrupt_outbox_stops_the_daemon_with_status_74(bridge_on_corrupt_outbox):
    assert bridge_on_corrupt_outbox.status == OUTBOX_UNAVAILABLE, bridge_on_corrupt_outbox.stderr


def test_corrupt_outbox_message_names_the_file_and_how_to_recover_it(bridge_on_corrupt_outbox, corrupt_outbox):
    message = bridge_on_corrupt_outbox.stderr
    assert f"outbox {corrupt_outbox} cannot be opened" in message and ".recover" in message, message


def test_corrupt_outbox_is_left_byte_for_byte_unchanged(bridge_on_corrupt_outbox, corrupt_outbox):
    assert corrupt_outbox.read_bytes() == GARBAGE


def test_systemd_does_not_restart_the_bridge_on_status_74():
    prevented = re.search(r"^RestartPreventExitStatus=(.*)$", UNIT_FILE.read_text(), re.MULTILINE)
    assert prevented and str(OUTBOX_UNAVAILABLE) in prevented.group(1).split()
