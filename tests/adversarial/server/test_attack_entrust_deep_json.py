"""200 kB of nested brackets posted to /api/entrust made the JSON parser overflow the C
stack (py-evm raises the recursion limit) and killed the whole backend: keeper, API and chain."""

import requests

DEPTH = 99_000


def test_deeply_nested_entrust_body_is_refused_and_the_server_lives_on(serve_backend):
    backend = serve_backend()

    reply = requests.post(
        backend.url + "/api/entrust",
        data="[" * DEPTH + "]" * DEPTH,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert (reply.status_code, requests.get(backend.url + "/api/status", timeout=10).status_code) == (400, 200)
