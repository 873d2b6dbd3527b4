"""StationDispatch against its plain Python reference (sim/station_dispatch.py) on random station
lists and random sequences of requests, units, reports, re-assignments, cancellations, line
changes and settlements: every call is refused by both with the same custom error and its
arguments, or emits the same events with the same arguments, and the states agree at the end;
then the flows (rights, readings, confirmations, settlements in time), and rights conserved."""

from __future__ import annotations

from ast import literal_eval

from ape.exceptions import ContractLogicError
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from station_flows_support import RIGHTS_SUPPLY, deploy_ledger

from p2pkit.artifacts import load_artifact
from p2pkit.transactions import decode_error, revert_data
from sim.station_dispatch import Direction, DispatchRefused, StationDispatch, Terms

MAX_LINES = 4

station_lists = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 15), st.integers(1, 8), st.integers(1, 8)),
    min_size=1,
    max_size=4,
)
# Loss rates in steps of 1 % so that ties between stations are frequent; None: no line.
line_tables = st.lists(
    st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=4, max_size=4), min_size=3, max_size=3
)
steps = st.lists(
    st.tuples(
        st.sampled_from(["request", "unit", "unit", "unit", "report", "reassign", "cancel", "line", "settle"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(0, 40),
    ),
    min_size=1,
    max_size=25,
)


def outcome(call, *args, sender):
    """('refused', error, arguments) or ('done', events) of a contract call."""
    try:
        receipt = call(*args, sender=sender)
    except ContractLogicError as error:
        if type(error) is ContractLogicError:  # left undecoded by Ape: decoded with the dispatch's ABI
            return ("refused", *dispatch_error(error))
        return ("refused", type(error).__name__, tuple(getattr(error, "inputs", {}).values()))
    return ("done", [(log.event_name, *log.event_arguments.values()) for log in receipt.events])


def dispatch_error(error: ContractLogicError) -> tuple[str, tuple]:
    message = error.revert_message or ""
    data = revert_data(error) or (
        literal_eval(message) if message.startswith(("b'", 'b"')) else bytes.fromhex(message.removeprefix("0x"))
    )
    name, arguments = decode_error(data, load_artifact("StationDispatch")["abi"])
    return name, tuple(to_checksum_address(a) if isinstance(a, str) and len(a) == 42 else a for a in arguments)


def expected(reference, method, *args):
    mark = len(reference.events)
    try:
        getattr(reference, method)(*args)
    except DispatchRefused as refusal:
        return ("refused", refusal.error, refusal.arguments)
    return ("done", reference.events[mark:])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 4), stations=station_lists, lines=line_tables, script=steps)
def test_dispatch_equals_the_reference(
    station_dispatch_contract, operator, accounts, ev, load, stranger, k, stations, lines, script
):
    contract = station_dispatch_contract.deploy(k, MAX_LINES, ("0x" + "00" * 20, 0, 0, 900, 300), sender=operator)
    reference = StationDispatch(k, MAX_LINES)
    users = [ev, load, stranger]
    station_accounts = accounts[12 : 12 + len(stations)]
    for account, (stored, headroom, supply, absorb) in zip(station_accounts, stations):
        capacity = max(stored + headroom, supply, absorb, 1)
        assert outcome(
            contract.registerStation, account, stored, capacity, supply, absorb, sender=operator
        ) == expected(reference, "register_station", account.address, stored, capacity, supply, absorb)
    for user, row in zip(users, lines):
        for number, loss in enumerate(row[: len(stations)], start=1):
            if loss is not None:
                hint = contract.insertHint(user, number, loss * 10_000)
                contract.setLine(user, number, loss * 10_000, hint, sender=operator)
                reference.set_line(user.address, number, loss * 10_000)

    for kind, a, b, c in script:
        user = users[a % len(users)]
        station = station_accounts[b % len(station_accounts)]
        number = b % len(station_accounts) + 1
        if kind == "request":
            direction = Direction(c % 2)
            got = outcome(contract.request, int(direction), c % 25 + 1, sender=user)
            want = expected(reference, "request", user.address, direction, c % 25 + 1)
        elif kind == "unit":
            open_request = reference.requests.get(user.address)
            if open_request is not None and open_request.station and c % 4:
                station = station_accounts[open_request.station - 1]
            got = outcome(contract.transferUnit, user, sender=station)
            want = expected(reference, "transfer_unit", station.address, user.address)
        elif kind == "report":
            capacity = reference.stations[number].capacity + (c % 3) - 1
            stored = min(c, max(capacity, 0))
            online = c % 5 != 0
            got = outcome(contract.reportState, stored, capacity, online, sender=station)
            want = expected(reference, "report_state", station.address, stored, capacity, online)
        elif kind == "reassign":
            got = outcome(contract.reassign, user, sender=operator)
            want = expected(reference, "reassign", user.address)
        elif kind == "cancel":
            got = outcome(contract.cancel, sender=user)
            want = expected(reference, "cancel", user.address)
        elif kind == "line":
            if c % 3 == 0:
                got = outcome(contract.removeLine, user, number, sender=operator)
                want = expected(reference, "remove_line", user.address, number)
            else:
                got = outcome(contract.setLine, user, number, c * 5_000, 0, sender=operator)
                want = expected(reference, "set_line", user.address, number, c * 5_000)
        else:
            got = outcome(contract.settle, number, sender=operator)
            want = expected(reference, "settle", number)
        assert got == want, (kind, a, b, c)

    for user in users:
        request = contract.requestOf(user)
        mirror = reference.requests.get(user.address)
        assert request.open == (mirror is not None)
        if mirror is not None:
            assert (request.station, request.lossPpm, request.remaining, request.unitsOnConnection) == (
                mirror.station,
                mirror.loss_ppm,
                mirror.remaining,
                mirror.units_on_connection,
            )
        assert contract.connected(user) == reference.in_force(user.address)
        stations_in_order, losses = contract.linesOf(user)
        assert list(zip(stations_in_order, losses)) == reference.ordered_lines(user.address)
    for number, mirror in reference.stations.items():
        state, ledger = contract.stationOf(number), contract.ledgerOf(number)
        assert (state.stored, state.capacity, state.online, state.supplyEpoch, state.absorbEpoch) == (
            mirror.stored,
            mirror.capacity,
            mirror.online,
            *mirror.epochs,
        )
        assert (ledger.supplied, ledger.absorbed, ledger.lossPpmUnits) == (
            mirror.supplied,
            mirror.absorbed,
            mirror.loss_ppm_units,
        )
        assert [ledger.supplyConnections, ledger.absorbConnections] == mirror.connections


FLOW_PERIOD, FLOW_GRACE = 100_000, 50_000
FLOW_PRICES = (3, 2)
flow_steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                *("deposit", "request", "unit", "unit", "unit", "reading", "reading", "confirm", "confirm"),
                *("later", "settle", "withdraw", "cancel", "report"),
            ]
        ),
        st.integers(0, 4),
        st.integers(0, 3),
        st.integers(0, 40),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stations=station_lists, lines=line_tables, script=flow_steps)
def test_flows_equal_the_reference_and_conserve_rights(
    station_dispatch_contract,
    sister_light_client_contract,
    sister_lock_contract,
    chain,
    operator,
    accounts,
    ev,
    load,
    stranger,
    stations,
    lines,
    script,
):
    """Rights, holds, claims, readings and confirmations against the reference, with time moving
    through periods and reading deadlines; the ledger's balance of the dispatch is, to the wei,
    what the reference says the dispatch holds."""
    ledger = deploy_ledger(sister_light_client_contract, sister_lock_contract, operator, stranger)
    terms = (ledger.address, *FLOW_PRICES, FLOW_PERIOD, FLOW_GRACE)
    contract = station_dispatch_contract.deploy(2, MAX_LINES, terms, sender=operator)
    reference = StationDispatch(
        2, MAX_LINES, Terms(*FLOW_PRICES, FLOW_PERIOD, FLOW_GRACE), operator.address, contract.genesis()
    )
    users = [ev, load]
    station_accounts = accounts[12 : 12 + len(stations)]
    meters = accounts[20:27]  # one per user and station, then unbound ones
    for account, (stored, headroom, supply, absorb) in zip(station_accounts, stations):
        capacity = max(stored + headroom, supply, absorb, 1)
        contract.registerStation(account, stored, capacity, supply, absorb, sender=operator)
        reference.register_station(account.address, stored, capacity, supply, absorb)
    for user, row in zip(users, lines):
        for number, loss in enumerate(row[: len(stations)], start=1):
            if loss is not None:
                contract.setLine(user, number, loss * 10_000, 0, sender=operator)
                reference.set_line(user.address, number, loss * 10_000)
    for meter, account in zip(meters, [*users, *station_accounts]):
        contract.bindMeter(account, meter, 40_000, sender=operator)  # 11,111 Wh a period at most
        reference.bind_meter(account.address, meter.address, 40_000)
    for user in users:
        ledger.transfer(user, 500, sender=operator)

    now = contract.genesis() + 10
    for kind, a, b, c in script:
        now += 1
        chain.pending_timestamp = max(now, chain.pending_timestamp)
        now = chain.pending_timestamp
        user = users[a % len(users)]
        station = station_accounts[b % len(station_accounts)]
        number = b % len(station_accounts) + 1
        period = max(reference.period_at(now) - c % 3, 0)
        direction = c % 2
        if kind == "later":
            now += FLOW_GRACE * (1 + c % 2)
            continue
        if kind == "deposit":
            payer = operator if a == 4 else user
            amount = c * 3
            try:
                receipt = ledger.transferAndCall(contract, amount, sender=payer)
            except ContractLogicError as error:
                got = ("refused", type(error).__name__)
                want = ("refused", "InsufficientBalance") if amount > ledger.balanceOf(payer) else ("done",)
            else:
                got = ("done", [(log.event_name, *log.event_arguments.values()) for log in receipt.events])
                want = expected(reference, "deposit", payer.address, amount)
                want = ("done", [("Transfer", payer.address, contract.address, amount), *want[1]])
        elif kind == "request":
            got = outcome(contract.request, direction, c % 9 + 1, sender=user)
            want = expected(reference, "request", user.address, Direction(direction), c % 9 + 1)
        elif kind == "unit":
            open_request = reference.requests.get(user.address)
            if open_request is not None and open_request.station and c % 4:
                station = station_accounts[open_request.station - 1]
            got = outcome(contract.transferUnit, user, sender=station)
            want = expected(reference, "transfer_unit", station.address, user.address, now)
        elif kind == "reading":
            meter = meters[(a + b) % (len(users) + len(station_accounts) + 1)]
            energy = c * 250
            got = outcome(contract.submitReading, period, direction, energy, sender=meter)
            want = expected(reference, "submit_reading", meter.address, period, direction, energy, now)
        elif kind == "confirm":
            got = outcome(contract.confirm, user, number, period, direction, sender=stranger)
            want = expected(reference, "confirm", user.address, number, period, direction, now)
        elif kind == "settle":
            got = outcome(contract.settle, number, sender=operator)
            want = expected(reference, "settle", number, now)
        elif kind == "withdraw":
            holder = operator if a == 4 else user
            got = outcome(contract.withdrawRights, c, sender=holder)
            want = expected(reference, "withdraw", holder.address, c)
            if want[0] == "done":
                want = ("done", [*want[1], ("Transfer", contract.address, holder.address, c)])
        elif kind == "cancel":
            got = outcome(contract.cancel, sender=user)
            want = expected(reference, "cancel", user.address)
        else:
            capacity = reference.stations[number].capacity
            stored, online = min(c, capacity), c % 5 != 0
            got = outcome(contract.reportState, stored, capacity, online, sender=station)
            want = expected(reference, "report_state", station.address, stored, capacity, online)
        assert got == want, (kind, a, b, c, now)

    for holder in (*users, operator):
        assert (contract.rightsOf(holder), contract.heldOf(holder)) == (
            reference.rights.get(holder.address, 0),
            reference.held.get(holder.address, 0),
        )
    for number in reference.stations:
        assert contract.earnedOf(number) == reference.earned.get(number, 0)
    for (user, number, period, direction), units in reference.claims.items():
        assert contract.claimedUnits(user, number, period, direction) == units
    assert ledger.balanceOf(contract) == reference.rights_here()
    in_accounts = sum(ledger.balanceOf(holder) for holder in (*users, operator, stranger, contract))
    assert in_accounts + ledger.reserve() == RIGHTS_SUPPLY
