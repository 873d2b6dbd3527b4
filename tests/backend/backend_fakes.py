"""Stand-ins for the chain, passed to the backend in place of a real upstream."""

from __future__ import annotations

from typing import Any


class FakeUpstream:
    """An upstream that records every batch it is sent and answers each request with `answer`."""

    def __init__(self, answer=lambda request: f"answer to {request['method']}") -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self._answer = answer

    @property
    def forwarded_methods(self) -> list[str]:
        return [request["method"] for batch in self.batches for request in batch]

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(batch)
        return [{"jsonrpc": "2.0", "id": request["id"], "result": self._answer(request)} for request in batch]
