"""Settle one bilateral contract month by month on a fresh embedded chain: a what-if run.

    .venv/bin/python scripts/settle_contract.py CONTRACT.json

CONTRACT.json (money in currency units of 1 ether, energy in kWh)::

    {"terms": {"monthly_kwh": 1000, "direct_price": 0.40, "catalogue_price": 0.60,
               "penalty_per_kwh": 0.02, "months": 3, "buyer_deposit": 100, "seller_deposit": 100},
     "wallets": {"buyer": 2000, "seller": 100},
     "months": [{"buyer_kwh": 1100, "seller_kwh": 1000}, {"buyer_kwh": 900, "seller_kwh": null}]}

Optional in ``terms``: ``upper_band`` (1.05), ``lower_band`` (0.95), ``excess_factor`` (1.10) and
``third_party`` (an address; the market's grid by default, its wallet starting empty); optional
``rated_kw`` ``{"buyer": kW, "seller": kW}``, the rated power of each party's meter (by
default twice the largest monthly energy of the file, the contracted one included, over 28
days). A reading ``null`` is missing: the month is settled after the reading deadline by the
integrity rule (the buyer's as the worst for the buyer, the seller's as nothing fed in).

It deploys the market and the retail contracts on a fresh embedded chain with calendar billing
months (UTC+8), registers the buyer and the seller (admitted as a retailer) with their meters,
fills their retail wallets, has both sign the terms (EIP-712) for the coming months, posts each
month's registers through each party's bound meter, settles every month and prints JSON: per
month ``buyer_to_seller``, ``buyer_to_third_party``, ``seller_to_third_party`` (paid), the
``shortfall`` of each party and ``default``; then ``balances`` (wallet plus deposit held) of
buyer, seller and third party, and the contract's ``state``.

Exit status: 0 settled; 2 the file is missing or malformed, or the contract refuses its terms
(the message names the field or the refusal).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from fractions import Fraction
from math import ceil
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from devnet.embedded import TimeTravel, dev_accounts, start_embedded_chain
from p2pkit.market import ZERO_ADDRESS, deploy_market
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import Party, deploy_retail, enrol
from p2pkit.retail.inputs import InputError, decimal_text, get, items, load_json, number
from p2pkit.retail.terms import ContractState, MonthResult, Terms, sign_terms
from p2pkit.transactions import ContractRefused, send, transfer

ETHER = 10**18
WH_PER_KWH = 1000
BPS = 10_000
GAS_MONEY = 10 * ETHER
FIRST_REGISTER_WH = 100_000_000  # 100,000.00 kWh: meters that have run for a while
BAD_INPUT = 2


@dataclass(frozen=True)
class Contract:
    """CONTRACT.json in chain units."""

    monthly_wh: int
    direct_price: int
    catalogue_price: int
    penalty_rate: int
    months: int
    buyer_deposit: int
    seller_deposit: int
    upper_band_bps: int
    lower_band_bps: int
    excess_factor_bps: int
    third_party: str | None
    wallets: tuple[int, int]  # buyer, seller
    readings: list[tuple[int | None, int | None]]  # (buyer Wh, seller Wh), None: missing
    rated_power_w: tuple[int, int]


def wei(value: Fraction, field: str) -> int:
    amount = value * ETHER
    if amount.denominator != 1:
        raise InputError(field, "has more decimals than a wei")
    return int(amount)


def wh(value: Any, field: str) -> int:
    energy = number(value, field) * WH_PER_KWH
    if energy.denominator != 1:
        raise InputError(field, "has more decimals than a Wh (0.001 kWh)")
    return int(energy)


def bps(terms: dict, key: str, default: int) -> int:
    if key not in terms:
        return default
    value = number(terms[key], f"terms.{key}", positive=True) * BPS
    if value.denominator != 1 or value >= 2**16:
        raise InputError(f"terms.{key}", "must be a factor of at most 4 decimals below 6.5536")
    return int(value)


def contract_from_json(document: Any) -> Contract:
    terms = get(document, "terms", "terms")
    money = {
        key: wei(number(get(terms, key, f"terms.{key}"), f"terms.{key}"), f"terms.{key}")
        for key in ("direct_price", "catalogue_price", "penalty_per_kwh", "buyer_deposit", "seller_deposit")
    }
    for key in ("direct_price", "catalogue_price"):
        if money[key] == 0:
            raise InputError(f"terms.{key}", "must be above 0")
    months = get(terms, "months", "terms.months")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise InputError("terms.months", f"must be a whole number of months from 1 to 120, not {months}")
    monthly_wh = wh(get(terms, "monthly_kwh", "terms.monthly_kwh"), "terms.monthly_kwh")
    if monthly_wh == 0:
        raise InputError("terms.monthly_kwh", "must be above 0")
    third_party = terms.get("third_party")
    if third_party is not None and not Web3.is_address(third_party):
        raise InputError("terms.third_party", "must be an address (0x and 40 hex digits)")
    wallets = get(document, "wallets", "wallets")
    amounts = tuple(
        wei(number(get(wallets, key, f"wallets.{key}"), f"wallets.{key}"), f"wallets.{key}")
        for key in ("buyer", "seller")
    )
    for key, amount, deposit in (("buyer", amounts[0], "buyer_deposit"), ("seller", amounts[1], "seller_deposit")):
        if amount < money[deposit]:
            raise InputError(f"wallets.{key}", f"must hold at least the {deposit.replace('_', ' ')}")
    entries = items(get(document, "months", "months"), "months")
    if len(entries) > months:
        raise InputError("months", f"lists {len(entries)} months, the term has {months}")
    readings = [
        tuple(
            None if get(entry, key, f"months[{i}].{key}") is None else wh(entry[key], f"months[{i}].{key}")
            for key in ("buyer_kwh", "seller_kwh")
        )
        for i, entry in enumerate(entries)
    ]
    largest = max([monthly_wh] + [energy for month in readings for energy in month if energy is not None])
    default_w = ceil(2 * largest / (28 * 24))
    rated = document.get("rated_kw", {})
    rated_power_w = tuple(
        int(number(rated[key], f"rated_kw.{key}", positive=True) * 1000) if key in rated else default_w
        for key in ("buyer", "seller")
    )
    return Contract(
        monthly_wh,
        money["direct_price"],
        money["catalogue_price"],
        money["penalty_per_kwh"],
        months,
        money["buyer_deposit"],
        money["seller_deposit"],
        bps(terms, "upper_band", 10_500),
        bps(terms, "lower_band", 9_500),
        bps(terms, "excess_factor", 11_000),
        third_party,
        amounts,
        readings,
        rated_power_w,
    )


def units(amount: int) -> Fraction:
    return Fraction(amount, ETHER)


def settle(contract: Contract) -> dict:
    """Run the contract on a fresh embedded chain; the report as a dict of exact fractions."""
    w3 = start_embedded_chain()
    time_travel = TimeTravel(w3)
    funder = dev_accounts(w3)[0]  # eth-tester's, with ether enough for any wallets of the file
    operator, grid = Account.create(), Account.create()
    transfer(w3, funder, operator.address, GAS_MONEY)
    market = deploy_market(w3, operator, grid.address)
    retail = deploy_retail(w3, operator, market, BillingClock.calendar())
    buyer, seller = (Party(Account.create(), Account.create(), number) for number in (1, 2))
    third_party = contract.third_party or grid.address
    for party, wallet in ((buyer, contract.wallets[0]), (seller, contract.wallets[1])):
        transfer(w3, funder, party.address, GAS_MONEY + wallet)
        transfer(w3, funder, party.meter.address, GAS_MONEY)
    for party, name, wallet, rated_power_w in zip(
        (buyer, seller), ("buyer", "seller"), contract.wallets, contract.rated_power_w
    ):
        enrol(
            w3,
            market,
            retail,
            operator,
            party,
            name=name,
            producer=party is seller,
            rated_power_w=rated_power_w,
            retail_deposit=wallet,
            retailer=party is seller,
        )
    contracts = retail.contracts.functions
    billing = BillingClock.of(retail.contracts)
    terms = Terms(
        buyer=buyer.address,
        seller=seller.address,
        third_party=contract.third_party or ZERO_ADDRESS,
        first_month=contracts.currentMonth().call() + 1,
        months=contract.months,
        monthly_wh=contract.monthly_wh,
        direct_price=contract.direct_price,
        catalogue_price=contract.catalogue_price,
        penalty_rate=contract.penalty_rate,
        upper_band_bps=contract.upper_band_bps,
        lower_band_bps=contract.lower_band_bps,
        excess_factor_bps=contract.excess_factor_bps,
        buyer_deposit=contract.buyer_deposit,
        seller_deposit=contract.seller_deposit,
    )
    signatures = [
        sign_terms(p.account.key, terms, 1, w3.eth.chain_id, retail.contracts.address) for p in (buyer, seller)
    ]
    send(w3, contracts.signContract(terms.as_abi(), 1, *signatures), operator)
    contract_id = contracts.contractCount().call()

    registers = {buyer.address: FIRST_REGISTER_WH, seller.address: FIRST_REGISTER_WH}
    report = []
    for offset, month_readings in enumerate(contract.readings):
        month = terms.first_month + offset
        time_travel.next_block_at(billing.month_end(month) + 60)
        for party, energy in zip((buyer, seller), month_readings):
            opening = registers[party.address]
            registers[party.address] = closing = opening + (energy or 0)
            if energy is not None:
                send(w3, contracts.submitMonthlyReading(month, party.meter_number, opening, closing), party.meter)
        if None in month_readings:
            time_travel.next_block_at(billing.reading_deadline(month) + 1)
        receipt = send(w3, contracts.settle(contract_id), operator)
        (event,) = retail.contracts.events.MonthSettled().process_receipt(receipt, errors=DISCARD)
        result = MonthResult.of(event.args.result)
        defaulted = retail.contracts.events.ContractDefaulted().process_receipt(receipt, errors=DISCARD)
        report.append(
            {
                "month": billing.label(month),
                "buyer_kwh": Fraction(result.buyer_wh, WH_PER_KWH),
                "buyer_metered": result.buyer_metered,
                "seller_kwh": Fraction(result.seller_wh, WH_PER_KWH),
                "seller_metered": result.seller_metered,
                "buyer_to_seller": units(result.buyer_to_seller),
                "buyer_to_third_party": units(result.buyer_to_third_party),
                "seller_to_third_party": units(result.seller_to_third_party),
                "shortfall": {"buyer": units(result.buyer_shortfall), "seller": units(result.seller_shortfall)},
                "default": bool(defaulted),
            }
        )
        if defaulted:
            break
    record = contracts.contractOf(contract_id).call()
    held = {buyer.address: record.terms.buyerDeposit, seller.address: record.terms.sellerDeposit}
    balances = {
        name: units(contracts.walletOf(address).call() + held.get(address, 0))
        for name, address in (("buyer", buyer.address), ("seller", seller.address), ("third_party", third_party))
    }
    return {"months": report, "balances": balances, "state": ContractState(record.state).name.lower()}


def as_json(value: Any) -> str:
    """JSON text with every fraction as an exact decimal number."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {as_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(as_json(v) for v in value) + "]"
    if isinstance(value, Fraction):
        return decimal_text(value)
    return json.dumps(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contract", help="CONTRACT.json")
    args = parser.parse_args(argv)
    try:
        contract = contract_from_json(load_json(args.contract, args.contract))
        report = settle(contract)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    except ContractRefused as refusal:
        print(f"error: the contracts refuse the terms: {refusal}", file=sys.stderr)
        return BAD_INPUT
    print(as_json(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
