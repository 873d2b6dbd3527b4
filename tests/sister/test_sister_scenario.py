"""scripts/sister_chains.py: scenarios of transfers run on two fresh chains with the relayer,
their balances after every step fixed in advance and conserved across the chains; malformed
scenarios refused before any chain starts, naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from relayer.scenario import ScenarioError, expected_balances, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sister_chains.py"
EXAMPLE = ROOT / "scripts" / "sister_scenario.example.json"

# The example: the user buys 73 rights for 73 tokens from the company, then sells 20 back.
EXAMPLE_BALANCES = [
    {"user": {"trading": 927, "scheduling": 73}, "company": {"trading": 1000, "scheduling": 1000}},
    {"user": {"trading": 947, "scheduling": 53}, "company": {"trading": 1000, "scheduling": 1000}},
]
# Each lock's reserve starts with what the other chain's accounts hold (rate 1), then gains
# what is locked there and loses what is released from it.
EXAMPLE_RESERVES = [{"trading": 1073, "scheduling": 1927}, {"trading": 1053, "scheduling": 1947}]

# Rate 2 (two rights per token), a rounding on the way back: 7 rights release 3 tokens.
DOUBLING = {
    "rate": 2,
    "confirmations": 3,
    "accounts": {"ann": {"trading": 50, "scheduling": 0}, "company": {"trading": 0, "scheduling": 10}},
    "steps": [
        {"action": "tokens_to_rights", "by": "ann", "amount": 10},
        {"action": "rights_to_tokens", "by": "ann", "amount": 7},
    ],
}
DOUBLING_BALANCES = [
    {"ann": {"trading": 40, "scheduling": 20}, "company": {"trading": 0, "scheduling": 10}},
    {"ann": {"trading": 43, "scheduling": 13}, "company": {"trading": 0, "scheduling": 10}},
]


def run_script(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def write(tmp_path: Path, document) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def circulating_in_tokens(step: dict, rate: Fraction) -> Fraction:
    trading = sum(chains["trading"] for chains in step["balances"].values())
    scheduling = sum(chains["scheduling"] for chains in step["balances"].values())
    return trading + Fraction(scheduling) / rate


def assert_conserved(result: dict, rate: Fraction) -> None:
    """On each chain balances plus reserve make the supply; across both, what circulates is
    constant but for what rounding kept in a reserve (between 0 and one unit per transfer)."""
    start = circulating_in_tokens(result["start"], rate)
    for step in [result["start"], *result["steps"]]:
        for chain in ("trading", "scheduling"):
            held = sum(chains[chain] for chains in step["balances"].values())
            assert held + step["locks"][chain]["reserve"] == step["locks"][chain]["total_supply"]
    for index, step in enumerate(result["steps"]):
        kept = start - circulating_in_tokens(step, rate)
        assert 0 <= kept < index + 1


def test_the_example_runs_on_two_embedded_chains():
    done = run_script(str(EXAMPLE), "--chains", "embedded")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [step["balances"] for step in result["steps"]] == EXAMPLE_BALANCES
    assert [{c: step["locks"][c]["reserve"] for c in ("trading", "scheduling")} for step in result["steps"]] == (
        EXAMPLE_RESERVES
    )
    purchase, sale = result["steps"]
    assert (purchase["lock"]["chain"], purchase["unlock"]["chain"]) == ("trading", "scheduling")
    assert (sale["lock"]["chain"], sale["unlock"]["chain"]) == ("scheduling", "trading")
    # The company locks what the user paid it, for the user.
    assert purchase["lock"]["sender"] == result["accounts"]["company"]
    assert purchase["lock"]["recipient"] == result["accounts"]["user"]
    assert purchase["payment"]["block"] <= purchase["lock"]["block"]
    for step in result["steps"]:
        assert step["confirmations"] >= 6
        assert step["unlock"]["released"] == step["amount"]
        assert step["wall_seconds"] > 0
    assert purchase["lock"]["lock_id"] != sale["lock"]["lock_id"]
    assert_conserved(result, Fraction(1))


def test_a_rate_of_two_rounds_down_once_on_two_anvil_nodes(tmp_path):
    done = run_script(write(tmp_path, DOUBLING), "--chains", "anvil", "--block-time", "0")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [step["balances"] for step in result["steps"]] == DOUBLING_BALANCES
    assert [step["unlock"]["released"] for step in result["steps"]] == [20, 3]
    assert all(step["confirmations"] >= 3 for step in result["steps"])
    assert_conserved(result, Fraction(2))


def test_the_plain_model_gives_the_same_balances():
    assert expected_balances(parse_scenario(json.loads(EXAMPLE.read_text()))) == EXAMPLE_BALANCES
    assert expected_balances(parse_scenario(DOUBLING)) == DOUBLING_BALANCES


def with_step(**fields) -> dict:
    step = {"action": "tokens_to_rights", "by": "ann", "amount": 5, **fields}
    return {**DOUBLING, "steps": [DOUBLING["steps"][0], step]}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "scenario"),
        ({**DOUBLING, "colour": "red"}, "colour"),
        ({key: value for key, value in DOUBLING.items() if key != "accounts"}, "accounts"),
        ({**DOUBLING, "rate": 0}, "rate"),
        ({**DOUBLING, "rate": "1/0"}, "rate"),
        ({**DOUBLING, "rate": True}, "rate"),
        ({**DOUBLING, "confirmations": 0}, "confirmations"),
        ({**DOUBLING, "confirmations": 6.5}, "confirmations"),
        ({**DOUBLING, "accounts": {}}, "accounts"),
        ({**DOUBLING, "accounts": {"ann": {"trading": -1, "scheduling": 0}}}, "accounts.ann.trading"),
        ({**DOUBLING, "accounts": {"ann": {"trading": 1}}}, "accounts.ann.scheduling"),
        ({**DOUBLING, "accounts": {"ann": {"trading": 2**200, "scheduling": 0}}}, "accounts.ann.trading"),
        ({**DOUBLING, "steps": {}}, "steps"),
        (with_step(action="steal"), "steps[1].action"),
        (with_step(by="bob"), "steps[1].by"),
        (with_step(amount=0), "steps[1].amount"),
        (with_step(amount="5"), "steps[1].amount"),
        (with_step(amount=41), "steps[1].amount"),  # ann has 40 tokens left by then
        (with_step(action="purchase_rights", by="company"), "steps[1].by"),
        (
            {
                **DOUBLING,
                "accounts": {"ann": DOUBLING["accounts"]["ann"]},
                "steps": [with_step(action="purchase_rights")["steps"][1]],
            },
            "steps[0].action",
        ),
    ],
)
def test_a_malformed_scenario_names_the_field(document, field):
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(document)
    assert refused.value.field == field


def test_the_script_refuses_a_malformed_scenario_with_status_2(tmp_path):
    done = run_script(write(tmp_path, with_step(amount=41)), "--chains", "anvil", timeout=60)
    assert done.returncode == 2
    assert "steps[1].amount: 41 is more than ann's trading balance at that step (40)" in done.stderr
    assert done.stdout == ""


def test_the_script_refuses_a_file_that_is_not_json(tmp_path):
    done = run_script(write(tmp_path, "{rate: 1"), timeout=60)
    assert done.returncode == 2
    assert "not JSON" in done.stderr
