"""The Caliper benchmark's pure parts: its configuration, the rounds' contents and the reading of
Caliper's report (no benchmark runs here)."""

import json
import math

import pytest

from bench.caliper.plan import (
    KINDS,
    MARKET,
    Lane,
    Round,
    benchmark_config,
    keys_file,
    lane_sizes,
    network_config,
    pools,
    round_size,
    step_calls,
    write_plan,
)
from bench.caliper.report import CALIPER_HEAD, CSV_COLUMNS, ReportError, RoundResult, parse_report, verdicts
from bench.market_txs import Signer, anchors, population
from p2pkit.schedule import Schedule

MARKET_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ABI = [
    {"type": "constructor", "inputs": []},
    {"type": "function", "name": "commit", "inputs": [{"name": "commitment", "type": "bytes32"}]},
]

# The summary block of a report.html written by Caliper 0.6.0 (its template's markup, as-is).
REPORT = """
<div class="left-column"><ul><li><a href="#benchmarksummary">Summary</a></li></ul></div>
<div class="right-column">
  <div style="border-bottom: 1px solid #d9d9d9; margin-bottom: 10px;" id="benchmarksummary">
    <table style="min-width: 100%;">
      <h3>Summary of performance metrics</h3>
      <tr>
         <th>Name</th> <th>Succ</th> <th>Fail</th> <th>Send Rate (TPS)</th> <th>Max Latency (s)</th>
         <th>Min Latency (s)</th> <th>Avg Latency (s)</th> <th>Throughput (TPS)</th>
      </tr>
      <tr>
         <td>view-50</td> <td>200</td> <td>0</td> <td>50.5</td> <td>0.05</td> <td>0.00</td> <td>0.00</td> <td>50.5</td>
      </tr>
      <tr>
         <td>commit-300</td> <td>0</td> <td>1800</td> <td>290.2</td> <td>-</td> <td>-</td> <td>-</td> <td>0.0</td>
      </tr>
    </table>
  </div>
  <div id="view-50"><table><tr><th>Name</th></tr><tr><td>ignored</td></tr></table></div>
</div>
"""


def result(name: str, succ: int, fail: int, avg: float, throughput: float) -> RoundResult:
    return RoundResult("anvil-1s-30M", name, succ, fail, throughput, 2 * avg, avg / 2, avg, throughput)


def test_report_rows_are_read_in_order_with_dashes_as_missing_latencies():
    view, commit = parse_report(REPORT, "anvil-1s-30M")

    assert view == RoundResult("anvil-1s-30M", "view-50", 200, 0, 50.5, 0.05, 0.0, 0.0, 50.5)
    assert (commit.name, commit.succ, commit.fail, commit.send_rate) == ("commit-300", 0, 1800, 290.2)
    assert math.isnan(commit.avg_latency) and commit.throughput == 0.0


def test_a_report_without_the_summary_table_is_refused():
    with pytest.raises(ReportError):
        parse_report(REPORT.replace("<th>Succ</th>", "<th>Success</th>"), "anvil")


def test_csv_row_is_in_the_issue_columns_seconds_and_tps():
    row = RoundResult("anvil-1s-30M", "reveal-300", 1800, 0, 299.94, 2.5, 0.134, 1.2, 280.06).csv_row()

    assert row == ["anvil-1s-30M", "reveal-300", 1800, 0, "299.9", "2.50", "0.13", "1.20", "280.1"]
    assert len(CALIPER_HEAD) == len(row) - 1


def test_verdict_at_300_tps_needs_no_failure_and_an_average_under_the_sources_latency():
    met = [result(f"{kind}-300", 1800, 0, 1.5, 298.0) for kind in ("commit", "reveal", "reading")]
    failed = [*met[:2], result("reading-300", 1799, 1, 1.5, 298.0)]

    assert verdicts(met, "anvil-1s-30M")[0].split(": ")[1].startswith("met")
    assert verdicts(failed, "anvil-1s-30M")[0].split(": ")[1].startswith("not met")


def test_highest_failure_free_throughput_ignores_steps_with_a_failure():
    rounds = [result("commit-300", 1800, 0, 1.0, 290.0), result("commit-460", 2759, 1, 4.0, 330.0)]

    (_, best) = verdicts(rounds, "anvil-1s-30M")
    assert "not met (highest round 290 tps" in best


def test_network_config_needs_a_websocket_url():
    with pytest.raises(ValueError, match="ws://"):
        network_config("http://127.0.0.1:8545", 31337, 0, MARKET_ADDRESS, ABI, DEPLOYER)


def test_network_config_names_the_deployed_market_without_its_constructor_and_fixes_gas():
    config = network_config("ws://127.0.0.1:8545", 31337, 10**9, MARKET_ADDRESS, ABI, DEPLOYER)
    market = config["ethereum"]["contracts"][MARKET]

    assert config["caliper"] == {"blockchain": "ethereum"}
    assert market["address"] == MARKET_ADDRESS
    assert [entry["type"] for entry in market["abi"]] == ["function"]
    assert set(market["gas"]) == {"commit", "reveal", "submitReading", "deposit"}


@pytest.mark.parametrize(("rate", "seconds", "workers", "size"), [(50, 6, 4, 300), (460, 6, 4, 2760), (1, 1, 4, 4)])
def test_round_size_is_rate_times_seconds_in_whole_shares_per_worker(rate, seconds, workers, size):
    assert round_size(rate, seconds, workers) == size


def test_benchmark_config_has_one_fixed_rate_round_per_round(tmp_path):
    rounds = [Round("commit-300", "commit", 300.0, 1800, tmp_path / "commit-300.json")]
    config = benchmark_config(rounds, 4, tmp_path / "keys.json", "market")["test"]

    assert config["workers"] == {"number": 4}
    (only,) = config["rounds"]
    assert only["txNumber"] == 1800
    assert only["rateControl"] == {"type": "fixed-rate", "opts": {"tps": 300.0}}
    assert only["workload"]["module"] == "workload/commit.js"
    assert only["workload"]["arguments"]["plan"] == str(tmp_path / "commit-300.json")


@pytest.fixture
def worker_pools():
    return pools(population(12, seed=3), 3)


def test_each_worker_signs_a_round_with_prosumers_of_its_own_pool_once_each(worker_pools):
    band_anchors = anchors(3, seed=3)
    calls = step_calls(worker_pools, 4, 7, band_anchors, Signer(31337, 10**9, MARKET_ADDRESS), seed=1)

    for kind, sender in (("commit", "account"), ("reveal", "account"), ("reading", "meter")):
        for pool, mine in zip(worker_pools, calls[kind]["workers"]):
            assert [c["from"] for c in mine] == [getattr(p, sender).address for p in pool]
    assert all(c["args"][0] == 7 for mine in calls["reading"]["workers"] for c in mine)
    for worker, queues in enumerate(calls["reveal"]["anchorQueues"]):
        assert queues == [q for (q, band) in band_anchors if band == worker]
        assert len(calls["commit"]["anchors"][worker]) == len(calls["reveal"]["anchors"][worker]) == 4


def test_keys_file_holds_each_workers_prosumer_and_meter_keys_in_every_lane(worker_pools):
    other = pools(population(6, seed=4), 3)
    workers = keys_file([Lane(worker_pools, {}), Lane(other, {})])["workers"]

    assert [len(keys) for keys in workers] == [12, 12, 12]
    assert workers[1][0] == "0x" + bytes(worker_pools[1][0].account.key).hex()
    assert workers[1][8] == "0x" + bytes(other[1][0].account.key).hex()


def test_a_prosumer_takes_part_in_four_steps_at_most(tmp_path, worker_pools):
    # A producer's proceeds places: four delivery periods open at once, never settled here.
    assert lane_sizes([50, 100, 200, 300, 460, 600], 4, 4) == [1200, 2400]
    signer = Signer(31337, 10**9, MARKET_ADDRESS)
    with pytest.raises(ValueError, match="need 2 lanes"):
        write_plan(tmp_path, [Lane(worker_pools, anchors(3, seed=3))], signer, Schedule(), 2, [1] * 5, 1, True)


def test_plan_starts_each_step_in_a_later_period_at_its_phases(tmp_path, worker_pools):
    schedule = Schedule()
    signer = Signer(31337, 10**9, MARKET_ADDRESS)
    lanes = [Lane(worker_pools, anchors(3, seed=3))]
    rounds = write_plan(tmp_path, lanes, signer, schedule, 2, [50, 100], 0.1, True)

    assert [r.label for r in rounds] == [f"{kind}-{rate}" for rate in (50, 100) for kind in KINDS]
    starts = {r.label: json.loads(r.path.read_text())["startsAt"] for r in rounds}
    assert starts["commit-50"] == schedule.start(2) + 1
    assert starts["reveal-50"] == schedule.reveal_opens(3)
    assert starts["reading-50"] == schedule.delivery_ends(3) + 1
    assert starts["commit-100"] == schedule.start(5) + 1


def test_a_csv_row_reads_back_as_the_same_result():
    row = RoundResult("geth-pow", "deposit-50", 300, 0, 49.5, 12.25, 2.5, 6.0, 21.5)

    assert RoundResult.from_csv(dict(zip(CSV_COLUMNS, map(str, row.csv_row())))) == row


def test_a_chain_with_view_and_deposit_rounds_only_gets_no_market_verdict():
    rounds = [result("view-50", 200, 0, 0.02, 50.0), result("deposit-50", 200, 0, 8.0, 19.0)]

    assert verdicts(rounds, "anvil-1s-30M") == [
        "- `anvil-1s-30M`: view call and deposit rounds only (its market phases follow the wall clock)."
    ]
