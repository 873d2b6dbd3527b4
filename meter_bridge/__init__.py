"""Meter bridge: polls prosumers' smart meters over RS-485 with DL/T 645-2007 and posts each
period's energy to the market contract, signed with the meter's own key.

Modules, from the wire up:

- ``codec``: frames on bytes (requests, replies, streaming decoder); ``data_items``: the values
  of data identifiers; ``errors``: what can be wrong with a frame or an exchange.
- ``transport``: the serial line as a byte pipe; ``poller``: request/reply exchanges over it.
- ``simulator``: virtual meters on a pseudo-terminal, for demos and tests.
- ``period_energy``: register readings to per-period energy; ``outbox``: the durable queue.
- ``signing``: meter keys and transaction signing; ``chain``: the market contract over JSON-RPC.
- ``daemon``: the loop joining them; ``config``: settings; ``cli``: ``python -m meter_bridge``.
"""
