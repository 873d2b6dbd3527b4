"""The whole platform in one command (``make demo``): market, retail, page, meters and prosumers,
and the sister chains with their relayer.

Starts the backend (``python -m backend serve``) on an embedded chain with the market and the
retail contracts deployed and its keeper running, creates the paper's five users (wind,
controllable source, EV charger, ordinary load; the public grid), gives every prosumer a meter
box of its own (a simulated DL/T 645-2007 meter on its own pseudo-terminal and a meter bridge
daemon polling it), and lets the prosumers bid every period from their day profiles, on an
accelerated clock; in each continuous window after the auction they re-price what it left of
their bids to the other side's best price, and now and then send a small market order. Retail
runs beside the market: a retailer publishes three plans (flat, time of use, monthly tiers), and
two bilateral contracts are signed (wind sells to the EV charger,
the controllable source to the ordinary load) for three billing months. Billing months are
compressed to ``--month-length`` seconds (fixed-length months, which the billing clock allows);
the meters freeze their registers at each month's end, the meter bridges post the monthly
readings and the keeper settles each month. The market's chain is also the sister chains'
trading chain: a scheduling chain runs beside it in the backend, the relayer daemon (``python -m
relayer run``) between the two through the backend's proxies, and every prosumer gets tokens to
convert to energy rights and back from the page. Two storage stations stand on the scheduling
chain, each a station daemon (``python -m station run``) driving a simulated battery, with its
own simulated meter; every prosumer has a line to both, and the EV charger buys energy from
them while the wind turbine sells its surplus to them, dispatched by least line loss. The page
shows all of it live; import one of
the printed keys (or create an account) to trade alongside them. Every key is new for this run,
the operator's and the grid's included, and the backend listens on 127.0.0.1 only: the embedded
chain is for this machine. Ctrl-C stops everything.

    .venv/bin/python scripts/demo.py [--port 8000] [--period-length 60] [--month-length 300]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from devnet import sister, stations
from devnet.nodes import stop_processes, wait_for_rpc
from meter_bridge.simulator import launch
from p2pkit.artifacts import artifact_path
from p2pkit.bids import SealedBid
from p2pkit.continuous import Trader, book_of
from p2pkit.keyfiles import write_private_file
from p2pkit.market import Deployment, attach
from p2pkit.period import Bid, PeriodDriver, Prosumer
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import Party, Retail, enrol, retail_at
from p2pkit.retail.plans import PlanTerms, PriceKind
from p2pkit.retail.terms import Terms, sign_terms
from p2pkit.schedule import Phase
from p2pkit.stations import Direction
from p2pkit.transactions import ContractRefused, TransactionReverted, send
from sim.profiles import PAPER_PROSUMERS, PERIODS_PER_DAY, day, rated_power_for_period

ROOT = Path(__file__).resolve().parent.parent
ETHER = 10**18
DEPOSIT = 50 * ETHER
GAS_MONEY = 5 * ETHER
SISTER_TOKENS = 1_000
METER_PASSWORD = "demo meter key"
REFERENCE_PERIOD = 900  # profiles are in quarter hours
MAX_READING_DELAY = 20  # seconds after a period starts within which a meter box reads its meter
MONTHLY_READ_DELAY = 5  # seconds after a billing month's end before a meter box reads its frozen registers
RETAIL_WALLET = 20 * ETHER  # each prosumer's retail wallet, out of which contracts are paid
CONTRACT_DEPOSIT = 2 * ETHER
CONTRACT_MONTHS = 3
RETAILER_NUMBER = 160
# Gas given to the retail transactions, above what each needs (bench/retail_gas.py): estimating a
# plan's or a contract's gas through /rpc can outlast the embedded chain's time for one request
# on a busy machine.
RETAIL_GAS = 600_000
MILLI_ETHER = ETHER // 1000
# In the continuous window a prosumer with nothing resting sends a market order of this many Wh
# one period in this many.
MARKET_ORDER_EVERY = 3
MARKET_ORDER_WH = 50
# Who asks the storage stations for what (name, direction, units), whenever it has no request open.
STATION_ASKS = (("EV charger", Direction.SUPPLY, 8), ("wind", Direction.ABSORB, 6))
STATION_ASK_EVERY = 15  # seconds
STATION_METER_READ_EVERY = 90  # seconds between reads of each station's meter
BOOK_LOOK_INTERVAL = 3  # seconds between a prosumer's looks at whether its window is open
# The retailer's offer, prices in wei per kWh: flat; day and night; cheaper blocks of energy.
DEMO_PLANS = (
    PlanTerms(PriceKind.FLAT, flat_price=600 * MILLI_ETHER // 1000, months=6, reliability=((6, 300),)),
    PlanTerms(
        PriceKind.TIME_OF_USE,
        bands=((360, 1080, 650 * MILLI_ETHER // 1000), (1080, 360, 500 * MILLI_ETHER // 1000)),
        deviation_band_bps=300,
        months=12,
        reliability=((2, 90), (4, 120)),
    ),
    PlanTerms(
        PriceKind.TIERS,
        tiers=(
            (100_000, 640 * MILLI_ETHER // 1000),
            (300_000, 580 * MILLI_ETHER // 1000),
            (0, 540 * MILLI_ETHER // 1000),
        ),
        deviation_band_bps=800,
        deviation_multiplier_bps=30_000,
        months=24,
        reliability=((10, 240),),
    ),
)
# (seller, buyer) by name: each buyer's contract with a producer of the demo.
DEMO_CONTRACTS = (("wind", "EV charger"), ("controllable source", "ordinary load"))


def start_meter_box(
    folder: Path,
    rpc_url: str,
    market: str,
    name: str,
    number: int,
    key,
    producer: bool,
    quarter_kwh: list[float],
    speed: float,
    retail_address: str,
    billing: BillingClock,
) -> list[subprocess.Popen]:
    """A simulated meter on its own pty and a meter bridge daemon polling it (its log in
    ``folder/<name>.log``). The meter freezes its registers at the ends of the billing months,
    which its sped-up clock sees ``speed`` times longer, and the daemon posts them to the
    bilateral contracts at ``retail_address``."""
    address = f"{number:012d}"
    now = time.time()
    months = f"{billing.month_length * speed:.0f}@{now + (billing.genesis_time - now) * speed:.0f}"
    # The register follows the prosumer's metered day: one power step per quarter hour.
    power = "/".join(f"{(-1 if producer else 1) * kwh * 4:.3f}" for kwh in quarter_kwh)
    register = "reverse" if producer else "forward"
    simulator, pty = launch(
        "--meter",
        f"{address},{register}=1000,power={power},step={REFERENCE_PERIOD}",
        "--speed",
        str(speed),
        "--months",
        months,
        stderr=None,
    )
    keystore = folder / f"{name}.json"
    write_private_file(keystore, Web3.to_json(Account.encrypt(key.key, METER_PASSWORD)))
    write_private_file(folder / f"{name}.password", METER_PASSWORD)
    config = folder / f"{name}.toml"
    config.write_text(
        f'[bus]\nport = "{pty}"\n\n'
        f'[chain]\nrpc_url = "{rpc_url}"\nmarket_address = "{market}"\nretail_address = "{retail_address}"\n'
        f'artifact = "{artifact_path()}"\n\n'
        f'[daemon]\ndatabase = "{folder / (name + ".sqlite3")}"\n'
        f"max_reading_delay = {MAX_READING_DELAY}.0\nmonthly_read_delay = {MONTHLY_READ_DELAY}.0\ntick = 1.0\n\n"
        f'[[meters]]\nname = "{name}"\naddress = "{address}"\nmeter_number = {number}\nregister = "{register}"\n'
        f'keystore = "{keystore}"\npassword_file = "{folder / (name + ".password")}"\n'
    )
    with open(folder / f"{name}.log", "w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "meter_bridge", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    return [simulator, daemon]


def start_backend(
    folder: Path, host: str, port: int, period_length: int, month_length: int, relayer: str
) -> subprocess.Popen:
    """The backend on a new embedded chain, answering at ``http://host:port/``, with billing
    months of ``month_length`` seconds and the sister chains' scheduling chain beside it, relayed
    by ``relayer``; it writes the operator's and the grid's keys and the deployment file to
    ``folder``, its log to ``folder/backend.log``."""
    with open(folder / "backend.log", "w") as log:
        backend = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "serve",
                "--chain",
                "embedded",
                "--host",
                host,
                "--port",
                str(port),
                "--keys-out",
                str(folder),
                "--deployment-out",
                str(folder / "deployment.json"),
            ],
            env={
                **os.environ,
                "P2P_PERIOD_LENGTH": str(period_length),
                "P2P_RETAIL_MONTH_LENGTH": str(month_length),
                # Long enough for the meter boxes to read and post, short enough to see a missing
                # reading settled by the integrity rule within the demo.
                "P2P_RETAIL_READING_GRACE": str(max(120, 2 * period_length)),
                **sister.backend_environment(relayer),
                **stations.BACKEND_ENVIRONMENT,
            },
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_rpc(f"http://{host}:{port}/rpc", backend, timeout=120)
    except RuntimeError as error:
        stop_processes([backend])
        raise SystemExit(f"{error}; its log: {folder / 'backend.log'}") from None
    return backend


def send_retail(w3: Web3, call, signer, value: int = 0) -> None:
    """A retail transaction with RETAIL_GAS, which must succeed (no estimate refuses it first)."""
    receipt = send(w3, call, signer, value=value, gas=RETAIL_GAS)
    if receipt["status"] != 1:
        raise SystemExit(f"{call.fn_name} failed in block {receipt['blockNumber']}")


def start_retail(
    w3: Web3, market, retail: Retail, operator, users: dict[str, Prosumer], monthly_wh: dict[str, int]
) -> list[str]:
    """A retailer admitted with the demo's plans, and the demo's bilateral contracts signed by
    both parties at once for the months after this one; what was done, to print."""
    driver = PeriodDriver(market, operator)
    retailer = Party(Account.create(), Account.create(), RETAILER_NUMBER)
    driver.fund(operator, [(retailer.address, GAS_MONEY), (retailer.meter.address, GAS_MONEY)])
    enrol(w3, market, retail, operator, retailer, name="City Retail", producer=False, rated_power_w=10_000)
    send_retail(w3, retail.plans.functions.setRetailer(retailer.address, True), operator)
    plan_ids = []
    for plan in DEMO_PLANS:
        send_retail(w3, retail.plans.functions.publishPlan(plan.as_abi()), retailer.account)
        plan_ids.append(retail.plans.functions.planCount().call())
    done = [f"retailer City Retail ({retailer.address}) publishes plans {', '.join(map(str, plan_ids))}"]
    contracts = retail.contracts.functions
    for seller_name, buyer_name in DEMO_CONTRACTS:
        seller, buyer = users[seller_name], users[buyer_name]
        for party in (seller, buyer):
            send_retail(w3, contracts.deposit(), party.key, value=RETAIL_WALLET)
        terms = sign_demo_contract(w3, retail, operator, seller, buyer, monthly_wh[buyer_name])
        done.append(
            f"contract {contracts.contractCount().call()}: {seller_name} sells {buyer_name} "
            f"{terms.monthly_wh / 1000:g} kWh a month for {CONTRACT_MONTHS} months from month {terms.first_month}"
        )
    return done


def sign_demo_contract(w3: Web3, retail: Retail, operator, seller: Prosumer, buyer: Prosumer, monthly_wh: int) -> Terms:
    """A contract from next month, signed by both parties and sent by the operator. A contract
    must start after the month its transaction is mined in: if a month ends between reading the
    month and mining, the refused terms are drawn again for the month after."""
    contracts = retail.contracts.functions
    for _ in range(2):
        terms = Terms(
            buyer=buyer.address,
            seller=seller.address,
            first_month=contracts.currentMonth().call() + 1,
            months=CONTRACT_MONTHS,
            monthly_wh=monthly_wh,
            direct_price=500 * MILLI_ETHER // 1000,
            catalogue_price=700 * MILLI_ETHER // 1000,
            penalty_rate=20 * MILLI_ETHER // 1000,
            buyer_deposit=CONTRACT_DEPOSIT,
            seller_deposit=CONTRACT_DEPOSIT,
        )
        chain_id, address = w3.eth.chain_id, retail.contracts.address
        signatures = [sign_terms(p.key.key, terms, 1, chain_id, address) for p in (buyer, seller)]
        receipt = send(w3, contracts.signContract(terms.as_abi(), 1, *signatures), operator, gas=RETAIL_GAS)
        if receipt["status"] == 1:
            return terms
    raise SystemExit(f"signContract failed in block {receipt['blockNumber']}")


def bid_every_period(
    driver: PeriodDriver, prosumer: Prosumer, quarters: list, book: Contract | None, stop: threading.Event
) -> None:
    """One simulated prosumer: commits in the commit window, reveals in the reveal window, and
    trades once in each continuous window (``Trader.concede``).

    Each step is tried once a period: a refusal or a lost connection is reported and the
    prosumer goes on with the next phase (a commit retried with a new salt could not be
    revealed if the first one was mined after all)."""
    sealed: dict[int, Bid | None] = {}
    traded: set[int] = set()
    next_look = 0.0  # when to look at the continuous book again
    trader = Trader(driver.w3, book, prosumer.key) if book is not None else None
    while not stop.wait(0.5):
        try:
            now = driver.contract.functions.currentPhase().call()
            if now.phase == Phase.COMMIT and now.period not in sealed:
                quarter = quarters[now.period % PERIODS_PER_DAY]
                sealed[now.period] = bid = Bid(prosumer, SealedBid(quarter.declared_wh, quarter.price_wei_per_kwh))
                driver.commit([bid])
            elif now.phase == Phase.REVEAL and sealed.get(now.period):
                bid, sealed[now.period] = sealed[now.period], None
                driver.reveal([bid], now.period + 1)
            elif trader is not None and now.phase > Phase.REVEAL and now.period + 1 not in traded:
                if time.monotonic() < next_look:
                    continue
                next_look = time.monotonic() + BOOK_LOOK_INTERVAL
                state = book.functions.book().call()
                if state.deliveryPeriod == now.period + 1 and state.open:
                    traded.add(now.period + 1)
                    # What the auction left is re-priced to the other side's best price; with
                    # nothing left, one period in MARKET_ORDER_EVERY brings a small market order.
                    market_turn = (now.period + prosumer.meter_number) % MARKET_ORDER_EVERY == 0
                    trader.concede(
                        now.period + 1, producer=prosumer.producer, market_wh=MARKET_ORDER_WH if market_turn else None
                    )
        except (ContractRefused, TransactionReverted) as refusal:  # e.g. mined just after its window closed
            print(f"{prosumer.name}: {refusal}", file=sys.stderr)
        except (requests.RequestException, Web3Exception) as error:  # e.g. a timeout under heavy load
            print(f"{prosumer.name}: the chain did not take this step ({error}); going on", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; elsewhere anyone who reaches it shares the chain)",
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--period-length", type=int, default=60, help="seconds per trading period (default 60)")
    parser.add_argument(
        "--month-length", type=int, help="seconds per billing month of the retail contracts (default 5 periods)"
    )
    args = parser.parse_args()
    month_length = args.month_length or 5 * args.period_length

    folder = Path(tempfile.mkdtemp(prefix="p2p-demo-"))
    relayer_keystore, relayer_password, relayer = sister.new_relayer_key(folder)
    processes = [start_backend(folder, args.host, args.port, args.period_length, month_length, relayer)]
    stop = threading.Event()
    bidders: list[threading.Thread] = []
    station_processes: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        page = f"http://{args.host}:{args.port}/"
        rpc_url = page + "rpc"
        operator = Account.from_key((folder / "operator.key").read_text().strip())
        # Everything below reaches the chain as a prosumer's page does: through the backend's /rpc.
        w3 = Web3(Web3.HTTPProvider(rpc_url))
        deployment = Deployment.load(folder / "deployment.json")
        market = attach(w3, deployment.market)
        retail = retail_at(w3, deployment.bilateral_contracts)
        billing = BillingClock.of(retail.contracts)
        driver = PeriodDriver(market, operator)
        book = book_of(w3, market)
        users = []
        monthly_wh: dict[str, int] = {}
        speed = REFERENCE_PERIOD / args.period_length
        for number, profile in enumerate(PAPER_PROSUMERS, start=161):
            prosumer = Prosumer(
                profile.name,
                profile.producer,
                profile.green,
                Account.create(),
                Account.create(),
                number,
                deposit=DEPOSIT,
                # The simulated meter plays a quarter hour of the day in each (shorter) period.
                rated_power_w=rated_power_for_period(profile, args.period_length, MAX_READING_DELAY),
            )
            driver.fund(
                operator,
                [(prosumer.address, DEPOSIT + RETAIL_WALLET + GAS_MONEY), (prosumer.meter.address, GAS_MONEY)],
            )
            driver.enrol([prosumer])
            quarters = day(profile)
            name = profile.name.split()[0].lower()
            processes += start_meter_box(
                folder,
                rpc_url,
                market.address,
                name,
                number,
                prosumer.meter,
                profile.producer,
                [q.actual_wh / 1000 for q in quarters],
                speed,
                retail.contracts.address,
                billing,
            )
            # A billing month plays month_length / period_length quarters of the day.
            monthly_wh[profile.name] = round(
                sum(q.actual_wh for q in quarters) / len(quarters) * month_length / args.period_length
            )
            users.append(prosumer)
            bidders.append(
                threading.Thread(target=bid_every_period, args=(driver, prosumer, quarters, book, stop), daemon=True)
            )
            write_private_file(folder / f"{name}.key", prosumer.key.key.to_0x_hex())
            sister.give_sister_funds(page.rstrip("/"), operator, prosumer.address, SISTER_TOKENS, GAS_MONEY)

        processes.append(
            sister.start_relayer(page.rstrip("/"), relayer_keystore, relayer_password, folder / "relayer.log")
        )
        retail_done = start_retail(w3, market, retail, operator, {user.name: user for user in users}, monthly_wh)
        station_processes, running_stations = stations.start_stations(
            page.rstrip("/"), operator, folder, [user.address for user in users], speed
        )
        by_name = {user.name: user for user in users}
        asks = [(by_name[name].key, direction, units) for name, direction, units in STATION_ASKS]
        scheduling_w3 = Web3(Web3.HTTPProvider(page + "rpc/scheduling"))
        dispatch_address = requests.get(page + "api/stations", timeout=30).json()["dispatch"]
        bidders += [
            threading.Thread(
                target=stations.ask_now_and_then,
                args=(scheduling_w3, dispatch_address, asks, stop, STATION_ASK_EVERY),
                daemon=True,
            ),
            threading.Thread(
                target=stations.log_station_meters, args=(running_stations, stop, STATION_METER_READ_EVERY), daemon=True
            ),
        ]
        for bidder in bidders:
            bidder.start()
        print(f"\nThe market is live at {page}")
        print(f"Retail: billing months of {month_length} s; " + "; ".join(retail_done))
        print(f"Period length {args.period_length} s; the paper's four prosumers bid every period.")
        print(
            f"Each prosumer also holds {SISTER_TOKENS} tokens on the trading chain (the market's) to convert to"
            " energy rights on the scheduling chain and back; the relayer carries them (log: relayer.log)."
        )
        print(
            f"Keys to import into the page, new for this run (logs beside them): {folder}/<name>.key for the "
            f"prosumers ({', '.join(user.name.split()[0].lower() for user in users)}), "
            f"{folder}/operator.key for the operator view, {folder}/grid.key for the grid"
        )
        print(
            "Storage stations: "
            + "; ".join(
                f"{s.name} (#{s.station_id}, meter on {s.meter_port}, log {s.log.name})" for s in running_stations
            )
            + f"; {STATION_ASKS[0][0]} buys energy from them, {STATION_ASKS[1][0]} sells its surplus to them."
        )
        print(f"The backend listens on {args.host}; an embedded chain is meant for this machine alone.")
        print("Ctrl-C stops everything.\n", flush=True)
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for bidder in bidders:  # a bid in flight still needs the backend
            if bidder.ident is not None:
                bidder.join(timeout=30)
        stop_processes(station_processes)  # each reports its station offline through the backend first
        stop_processes(processes)
        for process in processes:
            if process.stdout:
                process.stdout.close()
        print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
