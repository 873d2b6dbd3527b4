"""The streaming decoder: frames split across reads, garbage, wake-up bytes, corrupt candidates."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_bridge.codec import PREAMBLE, FrameDecoder, data_reply, encode_frame
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, encode_value
from meter_bridge.errors import ChecksumError

METER = "000000000161"


def energy_reply(kwh: str) -> bytes:
    payload = encode_value(FORWARD_ACTIVE_ENERGY, (Decimal(kwh),))
    return encode_frame(data_reply(METER, FORWARD_ACTIVE_ENERGY, payload))


def test_frame_split_byte_by_byte_comes_out_whole():
    decoder = FrameDecoder()
    found = [frame for byte in PREAMBLE + energy_reply("1.00") for frame in decoder.frames(bytes([byte]))]
    assert len(found) == 1


def test_garbage_and_wake_up_bytes_before_the_start_are_skipped():
    decoder = FrameDecoder()
    assert len(decoder.frames(b"\x00\x13\xfe\xfe\xfe\xfe\xfe\xfe" + energy_reply("1.00"))) == 1


def test_two_frames_in_one_read_both_come_out():
    decoder = FrameDecoder()
    assert len(decoder.frames(energy_reply("1.00") + PREAMBLE + energy_reply("2.00"))) == 2


def test_16h_inside_the_data_does_not_end_the_frame():
    reply = energy_reply("16.16")
    decoder = FrameDecoder()
    decoder.feed(reply[:-1])
    assert decoder.next_frame() is None


def test_corrupt_candidate_raises_once_then_the_next_frame_decodes():
    corrupt = bytearray(energy_reply("1.00"))
    corrupt[-2] ^= 0x55
    decoder = FrameDecoder()
    decoder.feed(bytes(corrupt) + energy_reply("2.00"))
    with pytest.raises(ChecksumError):
        decoder.next_frame()
    assert decoder.next_frame().data == bytes.fromhex("0000010000020000")


def test_stray_68h_in_noise_does_not_swallow_the_following_frame():
    decoder = FrameDecoder()
    assert len(decoder.frames(b"\x68\x01\x02" + energy_reply("3.00"))) == 1


@given(st.binary(max_size=40).filter(lambda noise: 0x68 not in noise), st.lists(st.integers(1, 30), max_size=10))
def test_any_split_of_a_noisy_stream_yields_the_frame(noise, cuts):
    stream = noise + PREAMBLE + energy_reply("999999.99")
    decoder = FrameDecoder()
    found, position = [], 0
    for cut in [*cuts, len(stream)]:
        found += decoder.frames(stream[position : position + cut])
        position += cut
    found += decoder.frames(stream[position:])
    assert len(found) == 1


def test_frames_drops_a_corrupt_candidate_and_keeps_the_good_ones():
    corrupt = bytearray(energy_reply("1.00"))
    corrupt[-2] ^= 0x55
    decoder = FrameDecoder()
    assert len(decoder.frames(energy_reply("1.00") + bytes(corrupt) + energy_reply("2.00"))) == 2
