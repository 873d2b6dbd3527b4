"""Gas of the storage stations' dispatch: per assignment, per unit transferred, per state change,
and how an assignment's walk grows with the lines a user has (never with the stations or users
in the list).

    .venv/bin/python -m bench.stations_gas [--lines 1,8,32]

Runs anvil, deploys ``StationDispatch`` (k = 10) and reads gas from receipts. For each number of
lines n: a user with n lines (losses rising with the station id) asks when every station is
available (the assignment takes the head of its list) and when the n - 1 best are offline (it
walks past them to the last); a line set with the right hint and with a wrong one (walked from
the head). Then the flows, on a dispatch with a rights ledger (a ``SisterLock``): a deposit
through ``transferAndCall``, a request holding rights, a unit claimed, each meter's reading, the
confirmation of a connection's units, a settlement paying the station's rights back, a withdrawal.
Prints a Markdown table and writes ``bench/results/stations_gas.md`` and ``stations_gas.csv``
(operation, lines, gas).
"""

from __future__ import annotations

import argparse

from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, machine, markdown_table, write_csv
from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from p2pkit.sister.lock import LockTerms, deploy_light_client, deploy_lock, latest_header
from p2pkit.stations import Direction, DispatchClient, FlowTerms, deploy_dispatch
from p2pkit.transactions import send, transfer

K = 10
STORED, CAPACITY = 500, 1000


def gas(receipt) -> int:
    return receipt["gasUsed"]


class Bench:
    def __init__(self, url: str, stations: int):
        self.w3 = Web3(Web3.HTTPProvider(url))
        self.company = Account.from_key(ANVIL_FUNDED_KEY)
        self.contract = deploy_dispatch(self.w3, self.company, K, 64)
        self.owner = DispatchClient(self.w3, self.contract, self.company)
        self.rows: list[tuple[str, str, int]] = []
        self.keys = iter(Account.from_key((0xBE4C << 128 | i).to_bytes(32, "big")) for i in range(1, 10_000))
        self.stations = []
        for number in range(1, stations + 1):
            station = self.client()
            receipt = send(
                self.w3,
                self.contract.functions.registerStation(station.signer.address, STORED, CAPACITY, 1, 1),
                self.company,
            )
            if number in (1, stations):
                self.rows.append(("registerStation", f"station {number}", gas(receipt)))
            self.stations.append(station)

    def client(self) -> DispatchClient:
        key = next(self.keys)
        transfer(self.w3, self.company, key.address, 10**18)
        return DispatchClient(self.w3, self.contract, key)

    def user_with_lines(self, lines: int, label: str, record: bool = True) -> DispatchClient:
        user = self.client()
        for number in range(1, lines + 1):
            hint = number - 1  # the previous line: the right place at once
            receipt = send(
                self.w3, self.contract.functions.setLine(user.signer.address, number, 1000 * number, hint), self.company
            )
        if record:
            self.rows.append(("setLine, right hint (at the tail)", label, gas(receipt)))
        return user

    def run(self, lines: int) -> None:
        label = f"{lines} lines"
        user = self.user_with_lines(lines, label)
        if lines > 1:
            other = self.user_with_lines(lines - 1, label, record=False)
            call = self.contract.functions.setLine(other.signer.address, lines, 1000 * lines, 0)
            self.rows.append(("setLine, wrong hint (walks the list)", label, gas(send(self.w3, call, self.company))))
        self.rows.append(
            ("request: assignment, best station available", label, gas(user.request(Direction.SUPPLY, 25)))
        )
        head = self.stations[0]
        units = [gas(head.transfer_unit(user.signer.address)) for _ in range(K)]
        self.rows.append(("transferUnit", label, units[0]))
        self.rows.append(("transferUnit, k-th: connection ends, re-assigned", label, units[-1]))
        last = self.stations[lines - 1]
        self.rows.append(("reportState: availability unchanged", label, gas(last.report_state(STORED, CAPACITY, True))))
        offline = self.stations[: lines - 1]
        reports = [gas(station.report_state(STORED, CAPACITY, False)) for station in offline]
        if reports:
            self.rows.append(("reportState: goes offline, drops its connections", label, reports[0]))
            receipt = user.reassign(user.signer.address)
            self.rows.append((f"reassign after a drop, past {lines - 1} unavailable", label, gas(receipt)))
        walker = self.user_with_lines(lines, label, record=False)
        receipt = walker.request(Direction.SUPPLY, 5)
        self.rows.append((f"request: assignment past {lines - 1} unavailable stations", label, gas(receipt)))
        for station in offline:
            station.report_state(STORED, CAPACITY, True)
        walker.cancel()
        user.cancel()
        self.rows.append(("settle", label, gas(self.owner.settle(lines))))  # once a period each


def flows(bench: Bench, units: int = 5) -> None:
    """Gas of the rights and metered confirmation: one user supplied `units` in a period."""
    w3, company = bench.w3, bench.company
    light_client = deploy_light_client(w3, company, latest_header(w3), [company.address], 1)
    ledger = deploy_lock(w3, company, light_client.address, 1, LockTerms(total_supply=10**24, reserve=0))
    period = 900
    contract = deploy_dispatch(w3, company, K, 64, FlowTerms(ledger.address, 1000, 700, period, 300))
    owner = DispatchClient(w3, contract, company)
    station, user, station_meter, user_meter = (bench.client() for _ in range(4))
    for client in (station, user, station_meter, user_meter):
        client.contract = contract
    owner.register_station(station.signer.address, STORED, CAPACITY, 1, 1)
    owner.set_line(user.signer.address, 1, 50_000)
    rows = bench.rows
    rows.append(("bindMeter", "flows", gas(owner.bind_meter(user.signer.address, user_meter.signer.address, 100_000))))
    owner.bind_meter(station.signer.address, station_meter.signer.address, 100_000)
    send(w3, ledger.functions.transfer(user.signer.address, 10**9), company)
    rows.append(("deposit: ledger transferAndCall, credited", "flows", gas(user.deposit_rights(ledger, 10**6))))
    rows.append(("request: assignment + rights held", "flows", gas(user.request(Direction.SUPPLY, units))))
    claims = [gas(station.transfer_unit(user.signer.address)) for _ in range(units)]
    rows.append(("transferUnit: first unit of the period, claimed", "flows", claims[0]))
    rows.append(("transferUnit: a later unit of the period, claimed", "flows", claims[1]))
    number = contract.functions.periodAt(w3.eth.get_block("latest")["timestamp"]).call()
    w3.provider.make_request("evm_increaseTime", [period])
    w3.provider.make_request("evm_mine", [])
    rows.append(
        ("submitReading (user's meter)", "flows", gas(user_meter.submit_reading(number, Direction.SUPPLY, 5_000)))
    )
    station_reading = gas(station_meter.submit_reading(number, Direction.SUPPLY, 5_000))
    rows.append(("submitReading (station's meter)", "flows", station_reading))
    confirmed = gas(owner.confirm(user.signer.address, 1, number, Direction.SUPPLY))
    rows.append((f"confirm: {units} units of a connection paid", "flows", confirmed))
    rows.append(("settle: station pays its rights back", "flows", gas(owner.settle(1))))
    rows.append(("withdrawRights", "flows", gas(owner.withdraw_rights(1000 * units))))
    per_unit = claims[1] + (2 * station_reading + confirmed) / units
    rows.append((f"a unit with its readings and confirmation, {units} units a period", "flows", round(per_unit)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", default="1,8,32", help="lines per user, comma-separated")
    args = parser.parse_args()
    sizes = [int(n) for n in args.lines.split(",")]
    with anvil() as url:
        bench = Bench(url, max(sizes))
        for lines in sizes:
            bench.run(lines)
        flows(bench)
    table = markdown_table(["operation", "lines of the user", "gas"], [(o, n, f"{g:,}") for o, n, g in bench.rows], 2)
    text = "\n".join(
        [
            "# Gas of the storage stations' dispatch",
            "",
            f"Machine: {machine()}. Chain: anvil; `StationDispatch`, k = {K}; gas from receipts.",
            "",
            table,
            "",
            "An assignment costs a fixed part plus about one storage read pair (line, station) per",
            "unavailable station it walks past on the user's list; dropping a station's",
            "connections is one epoch bump, whatever their number. A unit is paid only once both",
            "meters confirm it: per unit, its claim plus its share of two readings and one",
            "confirmation of its (user, station, period) (last row, for 5 units a period).",
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stations_gas.md").write_text(text)
    write_csv(RESULTS / "stations_gas.csv", ["operation", "lines", "gas"], bench.rows)
    print(text)


if __name__ == "__main__":
    main()
