"""/api/entrust had no body limit: 100 MiB was read, decoded and parsed before the 400
(400 MiB resident). Now a body over MAX_BODY_BYTES is refused unread."""

from backend.config import SETTINGS

MAX_BODY_BYTES = SETTINGS["MAX_BODY_BYTES"][1]


def test_entrust_body_over_the_limit_is_refused_with_413(client):
    body = b'{"x":"' + b"a" * (2 * MAX_BODY_BYTES) + b'"}'

    reply = client.post("/api/entrust", data=body, content_type="application/json")

    assert reply.status_code == 413
