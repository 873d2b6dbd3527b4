"""The dispatch experiment: storage stations chosen by least line loss against a random available
station, on the same scripted demand, at five network sizes, with a min-cost bound beside them.

    .venv/bin/python scripts/dispatch_experiment.py [--out DIR] [--seed N] [--sizes 5] [--chain-sizes 2]

A discrete-event simulation (SimPy) per run: users arrive as a Poisson process; each asks for
energy (~Normal(10, 2) units over ~Normal(60, 10) s) or offers surplus (~Normal(5, 1) units over
~Normal(30, 5) s); each station starts with ~Normal(40, 8) of 100 units; loss rates between users
and stations are ~Normal(8 %, sd) with the spread sd growing with the network. Every size runs
three station lists; each list runs the same script under
- dispatch: the rules of ``StationDispatch.sol`` in their plain Python reference
  (``sim.station_dispatch``), at every size, and on the contract itself on an embedded chain at
  the smallest ``--chain-sizes`` sizes (its figures must equal the reference's, or the script fails);
- random: the same rules, choosing a random available station instead of the least loss;
- optimal: the units dispatch moved, per user and direction, given to the stations at least
  total loss with each station's energy (stored at the start plus what it absorbed) and room
  (free at the start plus what it supplied) as limits: a transportation problem, solved by
  SciPy's ``linprog`` (HiGHS; its optimum is integral). It ignores timing and availability, so it
  is a lower bound no on-line rule can beat.
A request no station can serve waits, asking again every ``RETRY_S`` seconds. Loss rates are
reported as fractions of the energy moved.

Writes ``DIR/dispatch.csv`` (users, stations, run, max_loss, min_loss, energy, loss_dispatch,
loss_random, loss_optimal, ratio = loss_dispatch / loss_random), ``DIR/dispatch_chain.csv``
(the runs on the contract: energy, loss, and whether they equal the reference) and
``DIR/dispatch.png``, and prints the table. A fixed seed makes reruns agree.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import simpy

from sim.station_dispatch import LOSS_SCALE, Direction, DispatchRefused, StationDispatch

ROOT = Path(__file__).resolve().parent.parent

SIZES = ((10, 2), (25, 6), (50, 17), (100, 30), (200, 70))
RUNS = 3
SEED = 20646
K = 10
CAPACITY = 100
HORIZON_S = 600  # users arrive during this window
END_S = 1800  # the simulation stops here; what is not moved by then is not served
RETRY_S = 5
COLUMNS = (
    "users",
    "stations",
    "run",
    "max_loss",
    "min_loss",
    "energy",
    "loss_dispatch",
    "loss_random",
    "loss_optimal",
    "ratio",
)


@dataclass(frozen=True)
class Ask:
    at: float
    direction: Direction
    units: int
    seconds: float


@dataclass(frozen=True)
class Network:
    users: int
    stations: int
    stored: tuple[int, ...]
    loss_ppm: tuple[tuple[int, ...], ...]  # [user][station]
    script: tuple[tuple[Ask, ...], ...]  # [user]: what it asks, in order


def network(users: int, stations: int, run: int, seed: int = SEED) -> Network:
    """One station list and its scripted demand, the same for every policy."""
    rng = random.Random(f"{seed}:{users}:{stations}:{run}")
    stored = tuple(min(CAPACITY, max(0, round(rng.gauss(40, 8)))) for _ in range(stations))
    spread = 0.01 + 0.0006 * stations
    loss = tuple(
        tuple(round(min(0.3, max(0.005, rng.gauss(0.08, spread))) * LOSS_SCALE) for _ in range(stations))
        for _ in range(users)
    )
    script = []
    for _ in range(users):
        asks, at = [], rng.expovariate(1 / HORIZON_S)
        while at < HORIZON_S:
            if rng.random() < 0.75:
                asks.append(Ask(at, Direction.SUPPLY, max(1, round(rng.gauss(10, 2))), max(5.0, rng.gauss(60, 10))))
            else:
                asks.append(Ask(at, Direction.ABSORB, max(1, round(rng.gauss(5, 1))), max(5.0, rng.gauss(30, 5))))
            at += rng.expovariate(1 / HORIZON_S)
        script.append(tuple(asks))
    return Network(users, stations, stored, loss, tuple(script))


class RandomChoice(StationDispatch):
    """The dispatch's rules with a random available station instead of the least loss."""

    def __init__(self, rng: random.Random, **options):
        super().__init__(**options)
        self.rng = rng

    def best_station(self, user, direction):
        candidates = [(n, loss) for n, loss in self.ordered_lines(user) if self.stations[n].available(direction)]
        return self.rng.choice(candidates) if candidates else (0, 0)


class ReferenceDriver:
    """The simulation's calls on a reference model (`StationDispatch` or `RandomChoice`)."""

    def __init__(self, model: StationDispatch, net: Network):
        self.model = model
        self.users = [f"0x{i + 1:040x}" for i in range(net.users)]
        self.stations = [f"0x{0xA000 + i:040x}" for i in range(net.stations)]
        for account, stored in zip(self.stations, net.stored):
            model.register_station(account, stored, CAPACITY, 1, 1)
        for user, row in zip(self.users, net.loss_ppm):
            for number, loss in enumerate(row, start=1):
                model.set_line(user, number, loss)

    def request(self, user: int, direction: Direction, units: int) -> bool:
        return self._try(self.model.request, self.users[user], direction, units)

    def reassign(self, user: int) -> bool:
        return self._try(self.model.reassign, self.users[user])

    def station_of(self, user: int) -> int:
        """The station of `user`'s connection in force, 0 if none."""
        address = self.users[user]
        return self.model.requests[address].station if self.model.in_force(address) else 0

    def is_open(self, user: int) -> bool:
        return self.users[user] in self.model.requests

    def unit(self, user: int, station: int) -> None:
        self.model.transfer_unit(self.stations[station - 1], self.users[user])

    def ledgers(self) -> list[tuple[int, int, int]]:
        """(supplied, absorbed, loss ppm x units) of every station."""
        return [(s.supplied, s.absorbed, s.loss_ppm_units) for s in self.model.stations.values()]

    @staticmethod
    def _try(call, *args) -> bool:
        try:
            call(*args)
        except DispatchRefused as refusal:
            if refusal.error != "NoStationAvailable":
                raise
            return False
        return True


class ContractDriver:
    """The simulation's calls on ``StationDispatch`` itself, on a fresh embedded chain: every
    user and station its own key, the company the chain's funded account."""

    def __init__(self, net: Network, units_per_connection: int = K):
        from eth_account import Account

        from devnet.embedded import dev_accounts, start_embedded_chain
        from p2pkit.stations import DispatchClient, deploy_dispatch
        from p2pkit.transactions import transfer

        self.w3 = start_embedded_chain()
        company = dev_accounts(self.w3)[0]
        self.contract = deploy_dispatch(self.w3, company, units_per_connection, max(net.stations, 1))
        keys = [Account.from_key(((0x5EED << 128) + i).to_bytes(32, "big")) for i in range(net.users + net.stations)]
        for key in keys:
            transfer(self.w3, company, key.address, 10**18)
        self.users = [DispatchClient(self.w3, self.contract, key) for key in keys[: net.users]]
        self.stations = [DispatchClient(self.w3, self.contract, key) for key in keys[net.users :]]
        owner = DispatchClient(self.w3, self.contract, company)
        for station, stored in zip(self.stations, net.stored):
            owner.register_station(station.signer.address, stored, CAPACITY, 1, 1)
        for user, row in zip(self.users, net.loss_ppm):
            for number, loss in enumerate(row, start=1):
                owner.set_line(user.signer.address, number, loss)

    def request(self, user: int, direction: Direction, units: int) -> bool:
        return self._try(self.users[user].request, direction, units)

    def reassign(self, user: int) -> bool:
        return self._try(self.users[user].reassign, self.users[user].signer.address)

    def station_of(self, user: int) -> int:
        address = self.users[user].signer.address
        if not self.contract.functions.connected(address).call():
            return 0
        return self.contract.functions.requestOf(address).call().station

    def is_open(self, user: int) -> bool:
        return self.contract.functions.requestOf(self.users[user].signer.address).call().open

    def unit(self, user: int, station: int) -> None:
        self.stations[station - 1].transfer_unit(self.users[user].signer.address)

    def ledgers(self) -> list[tuple[int, int, int]]:
        ledgers = [self.contract.functions.ledgerOf(n).call() for n in range(1, len(self.stations) + 1)]
        return [(ledger.supplied, ledger.absorbed, ledger.lossPpmUnits) for ledger in ledgers]

    @staticmethod
    def _try(call, *args) -> bool:
        from p2pkit.transactions import ContractRefused

        try:
            call(*args)
        except ContractRefused as refusal:
            if refusal.name != "NoStationAvailable":
                raise
            return False
        return True


def simulate(net: Network, driver) -> dict:
    """Run the script on `driver`; energy moved, loss rate, units per (user, direction)."""
    env = simpy.Environment()
    moved: dict[tuple[int, Direction], int] = defaultdict(int)

    def user_process(user: int):
        for ask in net.script[user]:
            if env.now < ask.at:
                yield env.timeout(ask.at - env.now)
            while not driver.request(user, ask.direction, ask.units):
                yield env.timeout(RETRY_S)
            step = ask.seconds / ask.units
            while driver.is_open(user):
                yield env.timeout(step)
                while not (station := driver.station_of(user)):
                    if not driver.reassign(user):
                        yield env.timeout(RETRY_S)
                driver.unit(user, station)
                moved[user, ask.direction] += 1

    for user in range(net.users):
        env.process(user_process(user))
    env.run(until=END_S)
    ledgers = driver.ledgers()
    energy = sum(s + a for s, a, _ in ledgers)
    loss = sum(units for _, _, units in ledgers) / LOSS_SCALE
    return {"energy": energy, "loss": loss / energy if energy else 0.0, "moved": dict(moved), "ledgers": ledgers}


def optimal_loss(net: Network, dispatched: dict) -> float:
    """Least loss rate at which the units dispatch moved could have been moved (see the module)."""
    import numpy as np
    from scipy.optimize import linprog

    total_loss = total_units = 0.0
    supplied = [s for s, _, _ in dispatched["ledgers"]]
    absorbed = [a for _, a, _ in dispatched["ledgers"]]
    for direction in Direction:
        demand = [dispatched["moved"].get((u, direction), 0) for u in range(net.users)]
        users = [u for u in range(net.users) if demand[u]]
        if not users:
            continue
        if direction == Direction.SUPPLY:
            limits = [net.stored[s] + absorbed[s] for s in range(net.stations)]
        else:
            limits = [CAPACITY - net.stored[s] + supplied[s] for s in range(net.stations)]
        n, m = len(users), net.stations
        cost = np.array([[net.loss_ppm[u][s] / LOSS_SCALE for s in range(m)] for u in users]).ravel()
        equal = np.zeros((n, n * m))
        for i in range(n):
            equal[i, i * m : (i + 1) * m] = 1
        upper = np.zeros((m, n * m))
        for s in range(m):
            upper[s, s::m] = 1
        result = linprog(
            cost, A_ub=upper, b_ub=limits, A_eq=equal, b_eq=[demand[u] for u in users], bounds=(0, None), method="highs"
        )
        if not result.success:
            raise RuntimeError(f"min-cost assignment failed: {result.message}")
        total_loss += result.fun
        total_units += sum(demand)
    return total_loss / total_units if total_units else 0.0


def run_all(sizes, chain_sizes: int, seed: int, runs: int = RUNS, log=print) -> tuple[list[dict], list[dict]]:
    rows, chain_rows = [], []
    for index, (users, stations) in enumerate(sizes):
        for run in range(1, runs + 1):
            net = network(users, stations, run, seed)
            options = {"units_per_connection": K, "max_lines_per_user": max(stations, 1)}
            dispatched = simulate(net, ReferenceDriver(StationDispatch(**options), net))
            rng = random.Random(f"{seed}:random:{users}:{stations}:{run}")
            randomly = simulate(net, ReferenceDriver(RandomChoice(rng, **options), net))
            flat = [loss for row in net.loss_ppm for loss in row]
            row = {
                "users": users,
                "stations": stations,
                "run": run,
                "max_loss": max(flat) / LOSS_SCALE,
                "min_loss": min(flat) / LOSS_SCALE,
                "energy": dispatched["energy"],
                "loss_dispatch": dispatched["loss"],
                "loss_random": randomly["loss"],
                "loss_optimal": optimal_loss(net, dispatched),
            }
            row["ratio"] = row["loss_dispatch"] / row["loss_random"] if row["loss_random"] else 0.0
            rows.append(row)
            log(format_row(row))
            if index < chain_sizes:
                on_chain = simulate(net, ContractDriver(net, K))
                agrees = on_chain["ledgers"] == dispatched["ledgers"]
                chain_rows.append(
                    {
                        "users": users,
                        "stations": stations,
                        "run": run,
                        "energy": on_chain["energy"],
                        "loss_dispatch": on_chain["loss"],
                        "equals_reference": agrees,
                    }
                )
                log(f"    on the contract: energy {on_chain['energy']}, loss {on_chain['loss']:.4%}, equal: {agrees}")
                if not agrees:
                    raise SystemExit("the contract's dispatch differs from the reference")
    return rows, chain_rows


def format_row(row: dict) -> str:
    return (
        f"{row['users']:>5} {row['stations']:>8} {row['run']:>3} {row['max_loss']:>8.2%} {row['min_loss']:>8.2%}"
        f" {row['energy']:>7} {row['loss_dispatch']:>9.3%} {row['loss_random']:>9.3%} {row['loss_optimal']:>9.3%}"
        f" {row['ratio']:>6.3f}"
    )


HEADER = (
    f"{'users':>5} {'stations':>8} {'run':>3} {'max loss':>8} {'min loss':>8} {'energy':>7}"
    f" {'dispatch':>9} {'random':>9} {'optimal':>9} {'ratio':>6}"
)


def write_outputs(out: Path, rows: list[dict], chain_rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "dispatch.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({key: _cell(row[key]) for key in COLUMNS} for row in rows)
    if chain_rows:
        with (out / "dispatch_chain.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(chain_rows[0]))
            writer.writeheader()
            writer.writerows({key: _cell(value) for key, value in row.items()} for row in chain_rows)
    chart(out / "dispatch.png", rows)


def _cell(value):
    return f"{value:.6f}" if isinstance(value, float) else value


def chart(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({(r["users"], r["stations"]) for r in rows})
    labels = [f"{u} users\n{s} stations" for u, s in sizes]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    for key, label in (("loss_random", "random"), ("loss_dispatch", "dispatch"), ("loss_optimal", "optimal")):
        means = []
        for size in sizes:
            values = [r[key] for r in rows if (r["users"], r["stations"]) == size]
            means.append(100 * sum(values) / len(values))
        axis.plot(labels, means, marker="o", label=label)
    axis.set_ylabel("loss rate (% of energy moved), mean of the station lists")
    axis.set_title("Station dispatch by line loss against random choice")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "dispatch")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--sizes", type=int, default=len(SIZES), help="how many of the five sizes, smallest first")
    parser.add_argument("--runs", type=int, default=RUNS, help="station lists per size (1-3)")
    parser.add_argument("--chain-sizes", type=int, default=2, help="sizes also run on the contract (embedded chain)")
    args = parser.parse_args(argv)
    if not 1 <= args.sizes <= len(SIZES) or not 0 <= args.chain_sizes <= args.sizes or not 1 <= args.runs <= RUNS:
        parser.error("--sizes must be 1-5, --runs 1-3 and --chain-sizes 0 to --sizes")
    print(HEADER)
    rows, chain_rows = run_all(SIZES[: args.sizes], args.chain_sizes, args.seed, args.runs)
    write_outputs(args.out, rows, chain_rows)
    print(f"wrote {args.out / 'dispatch.csv'}, {args.out / 'dispatch.png'}")


if __name__ == "__main__":
    main()
