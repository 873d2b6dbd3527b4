"""Attack: the outbox's disk fills up, or its file system turns read-only (a worn SD card is
remounted read-only by the kernel). The daemon used to die on an untyped sqlite3 error at the
first write, which systemd's Restart=always turned into a crash loop."""

import pytest
from small_disk import run_on_small_disk

from meter_bridge.cli import OUTBOX_UNAVAILABLE

# What the message must tell the field engineer, for each fault.
ADVICE = {"full": "file system is full", "read-only": "mounted read-write"}


@pytest.fixture(scope="module", params=["full", "read-only"])
def attack(request, tmp_path_factory):
    return {"fault": request.param, **run_on_small_disk(request.param, tmp_path_factory.mktemp(request.param))}


def test_unwritable_outbox_stops_the_daemon_with_status_74(attack):
    assert attack["status"] == OUTBOX_UNAVAILABLE, attack["stderr"]


def test_unwritable_outbox_message_names_the_file_and_what_to_do(attack):
    message = attack["stderr"]
    assert f"outbox {attack['outbox']} cannot be" in message and ADVICE[attack["fault"]] in message, message


def test_unwritable_outbox_is_left_byte_for_byte_unchanged(attack):
    assert attack["unchanged"]


def test_every_queued_reading_goes_out_exactly_once_after_the_disk_is_mended(attack):
    assert len(attack["queued"]) == 3 and attack["applied"] == attack["queued"]
