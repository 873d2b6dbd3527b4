"""Throughput of the codec (not a test; run it by hand): python tests/meter_bridge/bench_codec.py"""

import time
from decimal import Decimal

from meter_bridge.codec import PREAMBLE, FrameDecoder, data_reply, decode_frame, encode_frame, parse_data_reply
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, decode_value, encode_value

FRAMES = 20_000


def main() -> None:
    reply = PREAMBLE + encode_frame(
        data_reply("000000000161", FORWARD_ACTIVE_ENERGY, encode_value(FORWARD_ACTIVE_ENERGY, (Decimal("12345.67"),)))
    )

    started = time.perf_counter()
    for _ in range(FRAMES):
        parsed = parse_data_reply(decode_frame(reply))
        decode_value(parsed.di, parsed.payload)
    elapsed = time.perf_counter() - started
    print(f"decode_frame + value: {FRAMES / elapsed:,.0f} frames/s")

    stream = (b"\x00\x13" + reply) * FRAMES
    decoder = FrameDecoder()
    started = time.perf_counter()
    count = 0
    for offset in range(0, len(stream), 64):  # 64-byte reads, frames split anywhere
        count += len(decoder.frames(stream[offset : offset + 64]))
    elapsed = time.perf_counter() - started
    print(f"FrameDecoder, 64-byte chunks with noise: {count / elapsed:,.0f} frames/s, "
          f"{len(stream) / elapsed / 1e6:.2f} MB/s ({count} frames)")

    # Frame-shaped garbage (68H, address, 68H, 91H, L=4, bad checksum) fed at once, as a network
    # gateway can deliver it: every candidate is refused, in time linear in the burst.
    burst = (b"\x68" + bytes(6) + b"\x68\x91\x04" + bytes(6)) * (FRAMES * 4)
    started = time.perf_counter()
    FrameDecoder().frames(burst)
    elapsed = time.perf_counter() - started
    print(f"FrameDecoder, a {len(burst) / 1e6:.2f} MB burst of frame-shaped garbage: {len(burst) / elapsed / 1e6:.2f} MB/s")


if __name__ == "__main__":
    main()
