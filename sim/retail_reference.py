"""The monthly settlement of bilateral contracts in plain Python: the reference the contract is
tested against (BilateralContracts.sol must give the same payments, shortfalls and states on
any terms, readings, wallets and deposits).

The rules, with E the monthly contracted energy, a and g the buyer's and the seller's metered
energy, p_d the direct price, p_c the catalogue price and r the penalty rate:

1. a > upper x E: the buyer pays the seller upper x E at p_d, the third party the excess at
   excess factor x p_c;
2. a < lower x E: the buyer pays the seller a at p_d and a penalty (lower x E - a) x r;
3. g < lower x E: the seller pays the third party (lower x E - g) x (p_c - p_d) (nothing when
   p_c <= p_d);

inside the bands the buyer pays a at p_d. Amounts are exact fractions until each is rounded down
to the wei, once. A missing buyer reading counts as whichever of 0 and the meter's capacity costs
the buyer more (the capacity on a tie); a missing seller reading as 0 fed in. Payments, in order
buyer -> seller, buyer -> third party, seller -> third party, come from the payer's wallet, then
from its deposit; what cannot be paid is the payer's shortfall and ends the contract in default.
At the end of the term, or at a default, the deposits left return to the wallets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import floor

from p2pkit.retail.terms import Amounts, ContractState, MonthResult, Terms

BPS = 10_000
WH_PER_KWH = 1000


def rules(terms: Terms, buyer_wh: int, seller_wh: int) -> Amounts:
    """The three rules for one month's energies (Wh)."""
    contracted = Fraction(terms.monthly_wh, WH_PER_KWH)  # kWh
    used, fed_in = Fraction(buyer_wh, WH_PER_KWH), Fraction(seller_wh, WH_PER_KWH)
    upper = contracted * Fraction(terms.upper_band_bps, BPS)
    lower = contracted * Fraction(terms.lower_band_bps, BPS)
    direct = penalty = excess_charge = compensation = 0
    if used > upper:
        direct = floor(upper * terms.direct_price)
        excess_charge = floor((used - upper) * Fraction(terms.excess_factor_bps, BPS) * terms.catalogue_price)
    else:
        direct = floor(used * terms.direct_price)
        if used < lower:
            penalty = floor((lower - used) * terms.penalty_rate)
    if fed_in < lower and terms.catalogue_price > terms.direct_price:
        compensation = floor((lower - fed_in) * (terms.catalogue_price - terms.direct_price))
    return Amounts(direct, penalty, excess_charge, compensation)


def capacity_wh(rated_power_w: int, month_seconds: int) -> int:
    """What a meter can measure in a month: floor(rated power x month length), in Wh."""
    return rated_power_w * month_seconds // 3600


def worst_for_buyer(terms: Terms, capacity: int, seller_wh: int) -> int:
    """The buyer energy that costs the buyer most, 0 or the capacity (the capacity on a tie)."""
    at_zero = rules(terms, 0, seller_wh).buyer_total
    at_capacity = rules(terms, capacity, seller_wh).buyer_total
    return 0 if at_zero > at_capacity else capacity


@dataclass
class Ledger:
    """The retail contract's wallets; deposits held live in the contracts."""

    wallets: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    deposited: int = 0
    withdrawn: int = 0

    def deposit(self, account: str, amount: int) -> None:
        self.wallets[account] += amount
        self.deposited += amount

    def withdraw(self, account: str, amount: int) -> None:
        if not 0 < amount <= self.wallets[account]:
            raise ValueError(f"{account} cannot withdraw {amount} from {self.wallets[account]}")
        self.wallets[account] -= amount
        self.withdrawn += amount

    def pay(self, payer: str, payee: str, amount: int, deposit: int) -> tuple[int, int]:
        """Pay from the payer's wallet, then from ``deposit``; returns (paid, deposit left)."""
        from_wallet = min(amount, self.wallets[payer])
        from_deposit = min(amount - from_wallet, deposit)
        self.wallets[payer] -= from_wallet
        self.wallets[payee] += from_wallet + from_deposit
        return from_wallet + from_deposit, deposit - from_deposit


@dataclass
class Contract:
    """An active contract of the reference: terms with the third party resolved."""

    terms: Terms
    state: ContractState = ContractState.ACTIVE
    settled_months: int = 0
    buyer_deposit: int = 0
    seller_deposit: int = 0
    buyer_shortfall: int = 0
    seller_shortfall: int = 0

    @property
    def next_month(self) -> int:
        return self.terms.first_month + self.settled_months


def activate(ledger: Ledger, terms: Terms) -> Contract:
    """Lock both deposits; refused (ValueError) when a wallet holds less than its deposit."""
    for account, amount in ((terms.buyer, terms.buyer_deposit), (terms.seller, terms.seller_deposit)):
        if ledger.wallets[account] < amount:
            raise ValueError(f"{account} holds {ledger.wallets[account]}, its deposit is {amount}")
    ledger.wallets[terms.buyer] -= terms.buyer_deposit
    ledger.wallets[terms.seller] -= terms.seller_deposit
    return Contract(terms, buyer_deposit=terms.buyer_deposit, seller_deposit=terms.seller_deposit)


def settle_month(
    ledger: Ledger, contract: Contract, buyer_wh: int | None, seller_wh: int | None, buyer_capacity_wh: int
) -> MonthResult:
    """Settle the contract's next month from its readings (None: missing)."""
    if contract.state is not ContractState.ACTIVE:
        raise ValueError(f"contract is {contract.state.name}, not active")
    t = contract.terms
    seller_metered, buyer_metered = seller_wh is not None, buyer_wh is not None
    seller_wh = seller_wh if seller_metered else 0
    buyer_wh = buyer_wh if buyer_metered else worst_for_buyer(t, buyer_capacity_wh, seller_wh)
    asked = rules(t, buyer_wh, seller_wh)
    to_seller, contract.buyer_deposit = ledger.pay(
        t.buyer, t.seller, asked.direct + asked.penalty, contract.buyer_deposit
    )
    to_third, contract.buyer_deposit = ledger.pay(t.buyer, t.third_party, asked.excess_charge, contract.buyer_deposit)
    seller_paid, contract.seller_deposit = ledger.pay(
        t.seller, t.third_party, asked.compensation, contract.seller_deposit
    )
    result = MonthResult(
        buyer_wh,
        seller_wh,
        buyer_metered,
        seller_metered,
        asked,
        to_seller,
        to_third,
        seller_paid,
        asked.buyer_total - to_seller - to_third,
        asked.compensation - seller_paid,
    )
    contract.settled_months += 1
    if result.buyer_shortfall or result.seller_shortfall:
        contract.state = ContractState.DEFAULTED
        contract.buyer_shortfall, contract.seller_shortfall = result.buyer_shortfall, result.seller_shortfall
        release(ledger, contract)
    elif contract.settled_months == t.months:
        contract.state = ContractState.COMPLETED
        release(ledger, contract)
    return result


def release(ledger: Ledger, contract: Contract) -> None:
    ledger.wallets[contract.terms.buyer] += contract.buyer_deposit
    ledger.wallets[contract.terms.seller] += contract.seller_deposit
    contract.buyer_deposit = contract.seller_deposit = 0


def held(contracts) -> int:
    """Deposits the contracts hold together."""
    return sum(c.buyer_deposit + c.seller_deposit for c in contracts)


def with_third_party(terms: Terms, grid: str) -> Terms:
    """The terms as the contract stores them: a zero third party is the market's grid."""
    return terms if int(terms.third_party, 16) else replace(terms, third_party=grid)
