"""Helpers of the retail contract tests: terms of the worked examples, meters that post monthly
registers, and the conservation check."""

from __future__ import annotations

from dataclasses import replace

from p2pkit.retail.terms import Terms

UNIT = 10**15  # the tests' currency unit, in wei
KWH = 1000  # Wh


class TermsFactory:
    """Terms of the spec's worked examples: E 1000 kWh, p_d 0.40, p_c 0.60, r 0.02, 3 months
    from month 1, deposits 100 each; anything may be overridden."""

    def __init__(self, buyer: str, seller: str):
        self.base = Terms(
            buyer=buyer,
            seller=seller,
            first_month=1,
            months=3,
            monthly_wh=1000 * KWH,
            direct_price=40 * UNIT // 100,
            catalogue_price=60 * UNIT // 100,
            penalty_rate=2 * UNIT // 100,
            buyer_deposit=100 * UNIT,
            seller_deposit=100 * UNIT,
        )

    def __call__(self, **overrides) -> Terms:
        return replace(self.base, **overrides)


class Meters:
    """Each party's meter posting the energy of a month as two continuous registers."""

    def __init__(self, bilateral, clock, bound: dict[str, tuple]):
        self.bilateral = bilateral
        self.clock = clock
        self.bound = bound
        self.registers = dict.fromkeys(bound, 500000 * KWH)  # a meter that has run a while

    def post(self, party, month: int, energy_wh: int):
        key = getattr(party, "address", party)
        meter, number = self.bound[key]
        self.clock.at(month + 1, 10)
        opening = self.registers[key]
        closing = (opening + energy_wh) % 1_000_000_000
        receipt = self.bilateral.submitMonthlyReading(month, number, opening, closing, sender=meter)
        self.registers[key] = closing
        return receipt


def assert_conserved(bilateral, accounts):
    """deposited = wallets + held + withdrawn, the held deposits equal the contracts' deposits,
    and the contract's balance is deposited - withdrawn."""
    deposited, withdrawn, held = bilateral.totals()
    wallets = sum(bilateral.walletOf(a) for a in accounts)
    records = bilateral.contractsFrom(1, 10_000)
    contracts_hold = sum(r.terms.buyerDeposit + r.terms.sellerDeposit for r in records if r.state == 2)
    assert wallets + held + withdrawn == deposited
    assert held == contracts_hold
    assert bilateral.balance == deposited - withdrawn
