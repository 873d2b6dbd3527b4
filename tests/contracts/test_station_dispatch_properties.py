"""StationDispatch against its plain Python reference (sim/station_dispatch.py) on random station
lists and random sequences of requests, units, reports, re-assignments, cancellations, line
changes and settlements: every call is refused by both with the same custom error and its
arguments, or emits the same events with the same arguments, and the states agree at the end."""

from __future__ import annotations

from ape.exceptions import ContractLogicError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.station_dispatch import Direction, DispatchRefused, StationDispatch

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
        return ("refused", type(error).__name__, tuple(getattr(error, "inputs", {}).values()))
    return ("done", [(log.event_name, *log.event_arguments.values()) for log in receipt.events])


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
