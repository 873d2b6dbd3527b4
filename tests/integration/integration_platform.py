"""One trading period through the whole platform on a real node: backend, keeper, meter bridge.

As in the field: the backend runs against the node with the market a deployment file names and
the operator's keystore, so its keeper matches and settles on its own; the prosumers reach the
chain only through the backend's ``/rpc`` proxy and entrust one bid to the keeper, which reveals
it; four simulated DL/T 645 meters answer on one pseudo-terminal, and the meter bridge daemon,
in its own process, reads them at each period's start and posts the readings through ``/rpc``.

Everything runs on the wall clock, so the chain's block time must follow it (anvil with
``--block-time 1``, or a mining Geth). Before the backend starts, the test does the operator's
setup itself (funding, deployment, authorizations, meter bindings), the only time it signs as
the operator.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from integration_period import (
    DEPOSIT,
    EXPECTED_TRADES,
    GAS_MONEY,
    GRID_DEPOSIT,
    PROSUMERS,
    paper_bids,
    paper_prosumers,
    statistics_of,
)
from web3 import Web3
from werkzeug.serving import WSGIRequestHandler, make_server

from backend import create_app, keeper_of
from meter_bridge.simulator import BusThread, PowerProfile, SimulatedBus, VirtualMeter
from p2pkit.bids import EntrustedBid, entrust_message
from p2pkit.market import Deployment, MarketParameters, attach, deploy_market
from p2pkit.period import BlockTime, Ledger, PeriodDriver, SendTogether, Transaction
from p2pkit.schedule import Schedule

METER_PASSWORD = "meter keystore password"
ENTRUSTED = "EV charger"  # the prosumer whose bid the keeper reveals; the others reveal their own
SETTLEMENT_TIMEOUT = 120  # seconds after the settlement window opens


@dataclass
class PlatformOutcome:
    """What the chain shows once delivery period 1 is settled, read through the backend."""

    trades: list[tuple[str, str, int]]  # (seller, buyer, Wh)
    readings: dict[str, int]  # prosumer name -> Wh its meter posted for delivery period 1
    settled: dict[str, dict]  # prosumer name -> its Settled event's arguments
    ledger: Ledger
    keeper_status: dict
    daemon_log: str
    stats: dict[str, float]  # the test's transactions, submission to inclusion


def meter_address(meter_number: int) -> str:
    return f"{meter_number:012d}"


def simulated_meters(period_length: int) -> list[VirtualMeter]:
    """One meter per prosumer, its power constant at what gives its metered energy in a period:
    producers export (reverse register), consumers import (forward register)."""
    meters = []
    for _, producer, _, _, _, metered_wh, number in PROSUMERS:
        kw = metered_wh / 1000 * 3600 / period_length
        meters.append(VirtualMeter(meter_address(number), profile=PowerProfile((-kw if producer else kw,))))
    return meters


def bridge_config(folder: Path, rpc_url: str, market: str, meter_keys: list[LocalAccount]) -> Path:
    tables = []
    for key, (name, producer, _, _, _, _, number) in zip(meter_keys, PROSUMERS):
        keystore = folder / f"meter{number}.json"
        keystore.write_text(json.dumps(Account.encrypt(key.key, METER_PASSWORD, kdf="pbkdf2", iterations=2)))
        tables.append(
            f'[[meters]]\nname = "{name}"\naddress = "{meter_address(number)}"\nmeter_number = {number}\n'
            f'register = "{"reverse" if producer else "forward"}"\nkeystore = "{keystore}"\n'
            'password_env = "INTEGRATION_METER_PASSWORD"\n'
        )
    config = folder / "meter-bridge.toml"
    config.write_text(
        f'[bus]\nport = "{{port}}"\nreply_timeout = 0.5\n'
        f'[chain]\nrpc_url = "{rpc_url}"\nmarket_address = "{market}"\n'
        f'[daemon]\ndatabase = "{folder / "outbox.sqlite3"}"\ntick = 0.3\nmax_reading_delay = 5\n' + "\n".join(tables)
    )
    return config


class QuietRequestHandler(WSGIRequestHandler):
    """Serves like werkzeug's, without a log line per request (hundreds of /rpc calls)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@contextlib.contextmanager
def backend_server(
    node_url: str, deployment: Path, operator_keystore: Path, password_file: Path, folder: Path
) -> Iterator:
    """The backend on a free loopback port, its keeper running; yields (base URL, app)."""
    environment = {"P2P_OPERATOR_KEY_FILE": str(operator_keystore), "P2P_OPERATOR_PASSWORD_FILE": str(password_file)}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        app = create_app(
            {
                "CHAIN": node_url,
                "DEPLOYMENT": str(deployment),
                "KEEPER_DB": str(folder / "keeper.sqlite3"),
                "KEEPER_POLL_INTERVAL": 0.5,
                "RPC_TIMEOUT": 30,
            }
        )
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        keeper_of(app).stop()
        server.shutdown()


@contextlib.contextmanager
def meter_bridge(config_template: Path, meters: list[VirtualMeter], folder: Path) -> Iterator[Path]:
    """The simulated meters on a pty and the daemon process reading them; yields its log."""
    log = folder / "meter-bridge.log"
    with BusThread(SimulatedBus(meters, echo=True)) as line:
        config = folder / "meter-bridge.run.toml"
        config.write_text(config_template.read_text().replace("{port}", line.port))
        with log.open("w") as log_file:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "meter_bridge", "run", "--config", str(config)],
                env={**os.environ, "INTEGRATION_METER_PASSWORD": METER_PASSWORD},
                stderr=log_file,
            )
        try:
            yield log
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def run_period_through_platform(
    node_url: str,
    operator: LocalAccount,
    operator_keystore: Path,
    password_file: Path,
    grid: LocalAccount,
    schedule: Schedule,
    setup_seconds: int,
    folder: Path,
) -> PlatformOutcome:
    """Set up, start backend and bridge, trade delivery period 1 and wait for its settlement."""
    node = Web3(Web3.HTTPProvider(node_url))
    operator_side = SendTogether(node)
    prosumers = paper_prosumers(deposit=0)  # they deposit through the backend, below
    schedule = replace(schedule, genesis_time=node.eth.get_block("latest")["timestamp"] + setup_seconds)
    market = deploy_market(node, operator, grid.address, schedule, MarketParameters())
    deployment = folder / "deployment.json"
    Deployment.of(node, market).save(deployment)
    setup = PeriodDriver(market, operator, sender=operator_side)
    setup.send(
        [Transaction(operator, to=p.address, value=DEPOSIT + GAS_MONEY) for p in prosumers]
        + [Transaction(operator, to=p.meter.address, value=GAS_MONEY) for p in prosumers]
        + [Transaction(grid, market.functions.deposit(), GRID_DEPOSIT)]
    )
    setup.enrol(prosumers)

    meter_keys = [p.meter for p in prosumers]
    with (
        backend_server(node_url, deployment, operator_keystore, password_file, folder) as (base_url, app),
        meter_bridge(
            bridge_config(folder, f"{base_url}/rpc", market.address, meter_keys),
            simulated_meters(schedule.period_length),
            folder,
        ) as daemon_log,
    ):
        proxied = Web3(Web3.HTTPProvider(f"{base_url}/rpc"))
        market = attach(proxied, market.address)
        prosumer_side = SendTogether(proxied)
        prosumer_side.latencies = operator_side.latencies  # one record of all
        # The prosumers' own driver never matches or settles: the keeper does.
        driver = PeriodDriver(market, operator, sender=prosumer_side, wait_until=BlockTime(proxied).wait_until)
        driver.send([Transaction(p.key, market.functions.deposit(), DEPOSIT) for p in prosumers])
        assert proxied.eth.get_block("latest")["timestamp"] < schedule.genesis_time + schedule.commit_end, (
            "setup took too long"
        )
        bids = paper_bids(prosumers)
        driver.commit(bids)
        delivery_period = driver.auction_delivery_period()
        entrusted_bid = next(bid for bid in bids if bid.prosumer.name == ENTRUSTED)
        entrust(base_url, proxied, market.address, entrusted_bid.prosumer.key, delivery_period, entrusted_bid.sealed)

        driver.wait_until(schedule.reveal_opens(delivery_period))
        driver.reveal([bid for bid in bids if bid.prosumer.name != ENTRUSTED], delivery_period)

        driver.wait_until(schedule.settlement_opens(delivery_period))
        keeper = keeper_of(app)
        deadline = time.monotonic() + SETTLEMENT_TIMEOUT
        # The keeper reports a transaction once it has its receipt, which may be after the
        # settlement's event is already on chain.
        while not (
            market.events.SettlementCompleted().get_logs(from_block=0, argument_filters={"deliveryPeriod": 1})
            and any(a["action"] == "settle" for a in keeper.status()["actions"])
        ):
            assert time.monotonic() < deadline, f"period 1 not settled; keeper: {keeper.status()}"
            time.sleep(1)
        outcome = read_outcome(driver, prosumers, keeper.status(), daemon_log.read_text())
    outcome.stats = statistics_of(operator_side.latencies)
    return outcome


def entrust(base_url: str, w3: Web3, market: str, bidder: LocalAccount, delivery_period: int, sealed) -> None:
    """What the page does when a prosumer ticks "let the keeper reveal for me"."""
    bid = EntrustedBid(bidder.address, delivery_period, sealed.quantity_wh, sealed.price, sealed.salt)
    signed = bidder.sign_message(encode_defunct(text=entrust_message(market, w3.eth.chain_id, bid)))
    reply = requests.post(
        f"{base_url}/api/entrust",
        json={
            "bidder": bid.bidder,
            "delivery_period": bid.delivery_period,
            "quantity_wh": bid.quantity_wh,
            "price_wei": bid.price,
            "salt": "0x" + bid.salt.hex(),
            "signature": "0x" + signed.signature.hex().removeprefix("0x"),
        },
        timeout=30,
    )
    assert reply.status_code == 202, reply.text


def read_outcome(driver: PeriodDriver, prosumers: list, keeper_status: dict, daemon_log: str) -> PlatformOutcome:
    names = {driver.account(p.address).id: p.name for p in prosumers}
    events = driver.contract.events
    return PlatformOutcome(
        trades=[
            (names[e.args.sellerId], names[e.args.buyerId], e.args.quantityWh)
            for e in events.Trade().get_logs(from_block=0)
        ],
        readings={
            names[e.args.prosumerId]: e.args.energyWh
            for e in events.ReadingPosted().get_logs(from_block=0)
            if e.args.deliveryPeriod == 1
        },
        settled={names[e.args.prosumerId]: dict(e.args) for e in events.Settled().get_logs(from_block=0)},
        ledger=driver.ledger(),
        keeper_status=keeper_status,
        daemon_log=daemon_log,
        stats={},
    )


def assert_settled_through_platform(outcome: PlatformOutcome) -> None:
    """The paper's trades, the keeper's reveal, matching and settlement, each prosumer settled on
    the reading its meter posted, and no money created or lost."""
    assert outcome.trades == EXPECTED_TRADES
    sent = {action["action"] for action in outcome.keeper_status["actions"] if action["outcome"] == "sent"}
    assert sent >= {"revealFor", "matchBids", "settle"}, outcome.keeper_status
    for name, *_, metered_wh, _ in PROSUMERS:
        # 10 Wh register resolution, plus the power over the poll's lateness at each period start
        assert abs(outcome.readings[name] - metered_wh) <= 20, (name, outcome.readings, outcome.daemon_log[-3000:])
    assert sorted(outcome.settled) == sorted(spec[0] for spec in PROSUMERS)
    for name, event in outcome.settled.items():
        assert event["metered"] and event["actualWh"] == outcome.readings[name]
    assert outcome.ledger.conserved, outcome.ledger
