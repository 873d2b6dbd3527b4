"""Frames of DL/T 645-2007: fixed vectors, round trips and every malformed case."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter_bridge.cli import describe_frame
from meter_bridge.codec import (
    PREAMBLE,
    Frame,
    FrameDecoder,
    abnormal_reply,
    address_reply,
    address_to_wire,
    data_reply,
    decode_frame,
    describe_error_byte,
    di_to_wire,
    encode_frame,
    follow_up_request,
    parse_address_reply,
    parse_data_reply,
    read_address_request,
    read_request,
)
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, FORWARD_ACTIVE_ENERGY_BLOCK, decode_value
from meter_bridge.errors import (
    AbnormalReplyError,
    AddressMismatchError,
    BcdError,
    ChecksumError,
    Dlt645Error,
    FramingError,
    IdentifierMismatchError,
    LengthError,
    UnexpectedControlError,
)

METER = "000000000161"

READ_FORWARD_ENERGY = "68 61 01 00 00 00 00 68 11 04 33 33 34 33 14 16"
FORWARD_ENERGY_12345_67 = "68 61 01 00 00 00 00 68 91 08 33 33 34 33 9A 78 56 34 34 16"
READ_ADDRESS = "68 AA AA AA AA AA AA 68 13 00 DF 16"
ADDRESS_REPLY = "68 61 01 00 00 00 00 68 93 06 94 34 33 33 33 33 5F 16"
NO_REQUESTED_DATA = "68 61 01 00 00 00 00 68 D1 01 35 39 16"
BLOCK_FIRST_PART = "68 61 01 00 00 00 00 68 B1 0C 33 32 34 33 33 33 34 33 33 53 33 33 74 16"
READ_FOLLOW_UP_1 = "68 61 01 00 00 00 00 68 12 05 33 32 34 33 34 49 16"
BLOCK_SECOND_PART = "68 61 01 00 00 00 00 68 92 11 33 32 34 33 33 63 33 33 33 73 33 33 33 43 33 33 34 B9 16"


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


def test_read_request_for_forward_energy_matches_the_reference_bytes():
    assert encode_frame(read_request(METER, FORWARD_ACTIVE_ENERGY)) == wire(READ_FORWARD_ENERGY)


def test_read_address_request_goes_to_the_wildcard_address():
    assert encode_frame(read_address_request()) == wire(READ_ADDRESS)


def test_follow_up_request_carries_identifier_and_sequence():
    assert encode_frame(follow_up_request(METER, FORWARD_ACTIVE_ENERGY_BLOCK, 1)) == wire(READ_FOLLOW_UP_1)


def test_address_goes_on_the_wire_lowest_byte_first():
    assert address_to_wire(METER) == bytes([0x61, 0x01, 0, 0, 0, 0])


def test_normal_reply_decodes_to_the_energy_in_kwh():
    reply = parse_data_reply(decode_frame(wire(FORWARD_ENERGY_12345_67)), METER, FORWARD_ACTIVE_ENERGY)
    assert decode_value(reply.di, reply.payload).value == Decimal("12345.67")


def test_reply_after_any_number_of_wake_up_bytes_decodes():
    assert decode_frame(b"\xfe" * 7 + wire(FORWARD_ENERGY_12345_67)).control == 0x91


def test_reply_without_wake_up_bytes_decodes():
    assert decode_frame(wire(FORWARD_ENERGY_12345_67)).address == METER


def test_address_reply_gives_the_address_in_nameplate_order():
    assert parse_address_reply(decode_frame(wire(ADDRESS_REPLY))) == METER


def test_abnormal_reply_raises_with_the_named_reason():
    with pytest.raises(AbnormalReplyError) as refused:
        parse_data_reply(decode_frame(wire(NO_REQUESTED_DATA)), METER, FORWARD_ACTIVE_ENERGY)
    assert refused.value.reasons == ("no requested data",)


def test_error_byte_bits_combine_into_several_reasons():
    assert describe_error_byte(0x06) == ("no requested data", "password wrong or unauthorized")


def test_reply_flagged_more_follows_is_a_normal_reply():
    reply = parse_data_reply(decode_frame(wire(BLOCK_FIRST_PART)), METER, FORWARD_ACTIVE_ENERGY_BLOCK)
    assert reply.more_follows and reply.payload.hex() == "0000010000200000"


def test_follow_up_reply_carries_its_sequence_byte():
    reply = parse_data_reply(decode_frame(wire(BLOCK_SECOND_PART)), METER, FORWARD_ACTIVE_ENERGY_BLOCK)
    assert (reply.sequence, reply.more_follows) == (1, False)


def test_block_split_over_follow_up_frames_reassembles():
    first = parse_data_reply(decode_frame(wire(BLOCK_FIRST_PART)))
    second = parse_data_reply(decode_frame(wire(BLOCK_SECOND_PART)))
    values = decode_value(first.di, first.payload + second.payload).values
    assert values == tuple(Decimal(v) for v in ("100.00", "20.00", "30.00", "40.00", "10.00"))


def test_data_byte_16h_inside_a_frame_is_not_the_end():
    frame = data_reply(METER, FORWARD_ACTIVE_ENERGY, bytes([0x16 - 0x33 + 256, 0, 0, 0]))
    assert decode_frame(encode_frame(frame)) == frame


# ---------------------------------------------------------------- malformed frames


def test_bad_checksum_raises_checksum_error():
    corrupt = bytearray(wire(FORWARD_ENERGY_12345_67))
    corrupt[-2] ^= 0xFF
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        decode_frame(bytes(corrupt))


def test_frame_shorter_than_its_length_byte_raises_length_error():
    with pytest.raises(LengthError, match="truncated"):
        decode_frame(wire(FORWARD_ENERGY_12345_67)[:-3])


def test_bytes_after_the_end_byte_raise_length_error():
    with pytest.raises(LengthError, match="after the end byte"):
        decode_frame(wire(FORWARD_ENERGY_12345_67) + b"\x00")


def test_frame_shorter_than_a_header_raises_length_error():
    with pytest.raises(LengthError, match="shorter than the minimum"):
        decode_frame(wire("68 61 01"))


def test_length_above_the_read_limit_raises_length_error():
    with pytest.raises(LengthError, match="at most 200"):
        decode_frame(wire("68 61 01 00 00 00 00 68 91 F0"))


def test_missing_start_byte_raises_framing_error():
    with pytest.raises(FramingError, match="missing start byte 68H"):
        decode_frame(wire(FORWARD_ENERGY_12345_67)[1:])


def test_missing_second_start_byte_raises_framing_error():
    corrupt = bytearray(wire(FORWARD_ENERGY_12345_67))
    corrupt[7] = 0x00
    with pytest.raises(FramingError, match="second start byte"):
        decode_frame(bytes(corrupt))


def test_missing_end_byte_raises_framing_error():
    corrupt = bytearray(wire(FORWARD_ENERGY_12345_67))
    corrupt[-1] = 0x00
    with pytest.raises(FramingError, match="missing end byte 16H"):
        decode_frame(bytes(corrupt))


def test_empty_input_raises_framing_error():
    with pytest.raises(FramingError, match="begins with nothing"):
        decode_frame(b"")


def test_non_bcd_address_raises_bcd_error():
    frame = bytearray(wire(FORWARD_ENERGY_12345_67))
    frame[1] = 0x6B
    frame[-2] = (frame[-2] + 0x6B - 0x61) % 256
    with pytest.raises(BcdError, match="6BH is not BCD"):
        decode_frame(bytes(frame))


def test_non_bcd_energy_digit_raises_bcd_error():
    frame = data_reply(METER, FORWARD_ACTIVE_ENERGY, bytes([0x0A, 0, 0, 0]))
    reply = parse_data_reply(decode_frame(encode_frame(frame)))
    with pytest.raises(BcdError, match="0AH is not BCD"):
        decode_value(reply.di, reply.payload)


def test_request_where_a_reply_is_expected_raises_unexpected_control():
    with pytest.raises(UnexpectedControlError, match="is a request"):
        parse_data_reply(decode_frame(wire(READ_FORWARD_ENERGY)), METER, FORWARD_ACTIVE_ENERGY)


def test_address_reply_where_data_is_expected_raises_unexpected_control():
    with pytest.raises(UnexpectedControlError, match="expected 11H or 12H"):
        parse_data_reply(decode_frame(wire(ADDRESS_REPLY)), METER, FORWARD_ACTIVE_ENERGY)


def test_reply_from_another_meter_raises_address_mismatch():
    with pytest.raises(AddressMismatchError, match="expected meter 000000000162"):
        parse_data_reply(decode_frame(wire(FORWARD_ENERGY_12345_67)), "000000000162", FORWARD_ACTIVE_ENERGY)


def test_reply_for_another_identifier_raises_identifier_mismatch():
    with pytest.raises(IdentifierMismatchError, match="expected 00020000"):
        parse_data_reply(decode_frame(wire(FORWARD_ENERGY_12345_67)), METER, 0x00020000)


def test_reply_too_short_for_its_identifier_raises_length_error():
    frame = Frame(METER, 0x91, b"\x00\x00")
    with pytest.raises(LengthError, match="fewer than the 4"):
        parse_data_reply(frame)


def test_energy_value_of_wrong_size_raises_length_error():
    with pytest.raises(LengthError, match="takes 4 bytes"):
        decode_value(FORWARD_ACTIVE_ENERGY, b"\x00\x00\x00")


def test_address_with_letters_other_than_aa_is_refused():
    with pytest.raises(BcdError, match="neither two digits nor AA"):
        encode_frame(read_request("00000000016B", FORWARD_ACTIVE_ENERGY))


# ---------------------------------------------------------------- round trips

addresses = st.integers(min_value=0, max_value=999_999_999_999).map(lambda n: f"{n:012d}")
controls = st.integers(min_value=0, max_value=255)
payloads = st.binary(max_size=200)


@given(addresses, controls, payloads)
def test_any_frame_survives_encode_and_decode(address, control, data):
    frame = Frame(address, control, data)
    assert decode_frame(PREAMBLE + encode_frame(frame)) == frame


@given(addresses, st.integers(min_value=0, max_value=2**32 - 1), st.binary(max_size=100))
def test_any_data_reply_gives_back_its_identifier_and_payload(address, di, payload):
    reply = parse_data_reply(decode_frame(encode_frame(data_reply(address, di, payload))), address, di)
    assert (reply.di, reply.payload) == (di, payload)


@given(addresses, st.integers(min_value=1, max_value=255))
def test_any_abnormal_reply_raises_with_at_least_one_reason(address, error_byte):
    frame = decode_frame(encode_frame(abnormal_reply(address, 0x11, error_byte)))
    with pytest.raises(AbnormalReplyError) as refused:
        parse_data_reply(frame, address)
    assert refused.value.reasons


@given(addresses)
def test_any_address_reply_gives_back_the_address(address):
    assert parse_address_reply(decode_frame(encode_frame(address_reply(address)))) == address


# ---------------------------------------------------------------- hostile input: typed errors only

# Every identifier whose value the bridge decodes, and any other.
identifiers = st.sampled_from(
    [
        0x00000000,
        0x00010000,
        0x00020000,
        0x0001FF00,
        0x0002040C,
        0x02010100,
        0x0201FF00,
        0x02020100,
        0x0203FF00,
        0x02060000,
        0x02800002,
        0x04000401,
        0x04000402,
    ]
) | st.integers(min_value=0, max_value=2**32 - 1)


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_frames_or_codec_errors_only(raw):
    try:
        decode_frame(raw)
    except Dlt645Error:
        pass
    FrameDecoder().frames(raw)


@given(addresses, controls, identifiers, st.binary(max_size=196))
def test_any_checksum_valid_frame_describes_parses_and_decodes_or_raises_codec_errors_only(address, control, di, value):
    frame = decode_frame(encode_frame(Frame(address, control, di_to_wire(di) + value)))
    for path in (describe_frame, lambda frame: decode_value(di, parse_data_reply(frame, address, di).payload)):
        try:
            path(frame)
        except Dlt645Error:
            pass
