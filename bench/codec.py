"""Throughput of the DL/T 645 codec the meter bridge runs on: frames decoded a second.

    .venv/bin/python -m bench.codec [--frames 20000]

Three measurements: one reply frame decoded with its value, over and over; a stream of such
frames with noise between them fed to the streaming decoder in 64-byte reads, frames split
anywhere, as the serial line delivers them; and a burst of frame-shaped garbage (68H, address,
68H, 91H, L=4, bad checksum) fed at once, as a network gateway can deliver it, where every
candidate is refused in time linear in the burst. Writes ``bench/results/codec.md`` and
``codec.csv``.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

from bench.common import RESULTS, machine, markdown_table, write_csv
from meter_bridge.codec import PREAMBLE, FrameDecoder, data_reply, decode_frame, encode_frame, parse_data_reply
from meter_bridge.data_items import FORWARD_ACTIVE_ENERGY, decode_value, encode_value

CHUNK = 64  # bytes per read from the line


def energy_reply() -> bytes:
    value = encode_value(FORWARD_ACTIVE_ENERGY, (Decimal("12345.67"),))
    return PREAMBLE + encode_frame(data_reply("000000000161", FORWARD_ACTIVE_ENERGY, value))


def decode_rate(frames: int) -> float:
    """Frames a second through decode_frame, parse_data_reply and decode_value."""
    reply = energy_reply()
    started = time.perf_counter()
    for _ in range(frames):
        parsed = parse_data_reply(decode_frame(reply))
        decode_value(parsed.di, parsed.payload)
    return frames / (time.perf_counter() - started)


def stream_rate(frames: int) -> tuple[float, float]:
    """(frames a second, MB a second) through FrameDecoder on a noisy stream in CHUNK-byte reads."""
    stream = (b"\x00\x13" + energy_reply()) * frames
    decoder = FrameDecoder()
    started = time.perf_counter()
    count = 0
    for offset in range(0, len(stream), CHUNK):
        count += len(decoder.frames(stream[offset : offset + CHUNK]))
    elapsed = time.perf_counter() - started
    if count != frames:
        raise RuntimeError(f"the decoder found {count} of {frames} frames")
    return count / elapsed, len(stream) / elapsed / 1e6


def garbage_rate(frames: int) -> float:
    """MB a second of frame-shaped garbage through FrameDecoder in one go (none is a frame)."""
    burst = (b"\x68" + bytes(6) + b"\x68\x91\x04" + bytes(6)) * (frames * 4)
    started = time.perf_counter()
    found = FrameDecoder().frames(burst)
    elapsed = time.perf_counter() - started
    if found:
        raise RuntimeError(f"the decoder took {len(found)} frames out of garbage")
    return len(burst) / elapsed / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args(argv)
    machine()  # the load average as the run starts
    decoded = decode_rate(args.frames)
    streamed, megabytes = stream_rate(args.frames)
    garbage = garbage_rate(args.frames)
    rows = [
        ["decode_frame + value, one frame at a time", f"{decoded:,.0f}", "-"],
        [f"FrameDecoder, {CHUNK}-byte reads with noise", f"{streamed:,.0f}", f"{megabytes:.2f}"],
        ["FrameDecoder, a burst of frame-shaped garbage at once", "-", f"{garbage:.2f}"],
    ]
    report = "\n".join(
        [
            "# DL/T 645 codec throughput",
            "",
            f"Machine: {machine()}. {args.frames:,} frames of a forward-active-energy reply.",
            "",
            markdown_table(["path", "frames/s", "MB/s"], rows),
            "",
        ]
    )
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "codec.md").write_text(report)
    write_csv(RESULTS / "codec.csv", ["path", "frames_per_s", "mb_per_s"], rows)
    print(f"written to {RESULTS}/codec.md, codec.csv")


if __name__ == "__main__":
    main()
