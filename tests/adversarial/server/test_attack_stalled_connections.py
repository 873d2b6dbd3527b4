"""`python -m backend serve` had no request timeout and no connection cap: 300
connections that never finished their request held a thread and a file each, and with 256 open
files the server stopped answering. Now it runs under gunicorn: a request must arrive within
REQUEST_TIMEOUT, and connections are capped below the open-file limit."""

import socket

import pytest
import requests

STALLED = 300
OPEN_FILES = 256  # as a small box or a container may give
REQUEST_TIMEOUT = "2"
PROBE_TIMEOUT = 30.0

STALLS = {
    # headers sent, the body announced and never sent (one byte of it)
    "body": b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{",
    # the headers never finished
    "headers": b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: appl",
}


@pytest.mark.slow
@pytest.mark.parametrize("stall", sorted(STALLS))
def test_server_answers_while_300_connections_stall(serve_backend, stall):
    backend = serve_backend({"REQUEST_TIMEOUT": REQUEST_TIMEOUT}, open_files=OPEN_FILES)
    stalled = []
    try:
        for _ in range(STALLED):
            connection = socket.create_connection(("127.0.0.1", backend.port), timeout=5)
            stalled.append(connection)
            connection.sendall(STALLS[stall])

        reply = requests.get(backend.url + "/api/status", timeout=PROBE_TIMEOUT)
    finally:
        for connection in stalled:
            connection.close()

    assert reply.status_code == 200
