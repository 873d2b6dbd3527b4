"""MAX_BODY_BYTES held for a body with
a Content-Length but not for a chunked one, which was read into memory whole. Both /rpc and /api
now count a chunked body as it arrives and refuse it once past the limit."""

import socket
import threading

import pytest

from backend.config import SETTINGS

MAX_BODY_BYTES = SETTINGS["MAX_BODY_BYTES"][1]
CHUNK = 1 << 16


def post_chunked(port: int, path: str, body: bytes) -> bytes:
    """POST `body` in 64 KiB chunks over a raw loopback socket; the status line of the answer.
    The body is sent from a thread, so the answer is read even if the server stops reading."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)

    def send() -> None:
        try:
            connection.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            for start in range(0, len(body), CHUNK):
                part = body[start : start + CHUNK]
                connection.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the whole body was in

    sender = threading.Thread(target=send)
    sender.start()
    try:
        answer = b""
        while b"\r\n" not in answer:
            piece = connection.recv(4096)
            if not piece:
                break
            answer += piece
    finally:
        sender.join(timeout=30)
        connection.close()
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("path", ["/rpc", "/api/entrust"])
def test_chunked_body_over_the_limit_is_refused_with_413(serve_backend, path):
    backend = serve_backend()
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + b"a" * (3 * MAX_BODY_BYTES) + b'"]}'

    status_line = post_chunked(backend.port, path, body)

    assert status_line.split(b" ")[1] == b"413", status_line
