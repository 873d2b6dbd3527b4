"""The JSON body of a request, read within limits: the one parser of `/rpc` and `/api`.

The body is read from the request's stream in pieces, with or without a Content-Length (a
chunked body is counted as it comes), and refused as soon as it is larger than the limit; its
nesting is checked before it is parsed; numbers JSON does not have (NaN, Infinity, or a float
too large to be finite) are refused, so nothing parsed here can be written back as invalid
JSON. A refused body raises `BodyRefused` with the HTTP status to answer, and nothing else has
happened yet.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Request
from werkzeug.exceptions import ClientDisconnected

# A JSON-RPC request nests a handful of levels (batch, request, params, filter, topics); an
# entrusted bid is one flat object.
MAX_JSON_DEPTH = 32
READ_SIZE = 65_536
# Strings are matched whole so that brackets inside them are not counted.
JSON_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]', re.DOTALL)
OPENING_BRACKETS = frozenset("[{")
CLOSING_BRACKETS = frozenset("]}")


class BodyRefused(Exception):
    """The body cannot be used; `status` is the HTTP status to answer with: 413 (too large),
    408 (it did not arrive whole) or 400 (not UTF-8 JSON of modest depth)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_json_body(request: Request, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of `request`'s body, at most `max_bytes` long and `max_depth` deep."""
    return parse_json(read_body(request, max_bytes), max_depth)


def read_body(request: Request, max_bytes: int) -> bytes:
    """The body's bytes, read no further than one byte past `max_bytes`."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise BodyRefused(413, f"the body is larger than {max_bytes} bytes")
    pieces: list[bytes] = []
    size = 0
    while True:
        try:
            piece = request.stream.read(min(READ_SIZE, max_bytes + 1 - size))
        except (OSError, ClientDisconnected):  # the client went away, or the server stopped waiting
            raise BodyRefused(408, "the body did not arrive whole") from None
        if not piece:
            break
        size += len(piece)
        if size > max_bytes:
            raise BodyRefused(413, f"the body is larger than {max_bytes} bytes")
        pieces.append(piece)
    if declared is not None and size < declared:
        raise BodyRefused(408, f"the body ended after {size} of the {declared} bytes announced")
    return b"".join(pieces)


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of `body`.

    The depth is checked before parsing because py-evm raises Python's recursion limit to
    100,000 for the whole process, and the JSON parser recursing that deep on a hostile body
    overflows the C stack and kills the server instead of raising RecursionError.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused(400, "the body is not UTF-8") from None
    if nests_deeper_than(text, max_depth):
        raise BodyRefused(400, f"the body nests arrays and objects deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_not_a_json_number, parse_float=_finite_float)
    except ValueError:
        raise BodyRefused(400, "the body is not JSON") from None


def nests_deeper_than(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for token in JSON_STRING_OR_BRACKET.finditer(text):
        if token.group() in OPENING_BRACKETS:
            depth += 1
            if depth > limit:
                return True
        elif token.group() in CLOSING_BRACKETS:
            depth -= 1
    return False


def _not_a_json_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a number")
    return number
