"""A trading period through backend, keeper and meter bridge on a real anvil that mines every second."""

from __future__ import annotations

import json

from eth_account import Account
from integration_period import ANVIL_GRID_KEY
from integration_platform import assert_settled_through_platform, run_period_through_platform

from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from p2pkit.schedule import Schedule

# 40 s periods: reveal and matching windows of 10 s each, several one-second blocks.
SCHEDULE = Schedule(period_length=40, commit_end=10, reveal_end=20, settle_start=30, reading_grace=40)


def test_period_through_backend_keeper_and_meter_bridge_on_anvil(tmp_path):
    keystore, password = tmp_path / "operator.json", tmp_path / "password"
    password.write_text("operator password\n")
    keystore.write_text(json.dumps(Account.encrypt(ANVIL_FUNDED_KEY, "operator password", kdf="pbkdf2", iterations=2)))
    with anvil("--block-time", "1") as url:
        outcome = run_period_through_platform(
            url,
            Account.from_key(ANVIL_FUNDED_KEY),
            keystore,
            password,
            Account.from_key(ANVIL_GRID_KEY),
            SCHEDULE,
            setup_seconds=20,
            folder=tmp_path,
        )
    assert_settled_through_platform(outcome)
