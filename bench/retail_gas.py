"""Gas of the retail contracts: plans, making a contract, monthly readings and settlement.

    .venv/bin/python -m bench.retail_gas [--batches 1,10,100]

Runs anvil (30M-gas blocks, a block per transaction) and measures, from receipts: publishing a
plan of each price kind; proposing, accepting and signing (both signatures at once) a contract;
a meter's monthly reading; settling one month of one contract (``settle``) inside the bands, in
the month that completes the term (deposits released) and in a month that defaults; and
``settleBatch`` over N due contracts, per contract. Prints Markdown tables and writes
``bench/results/retail_gas.md`` and ``retail_gas.csv`` (operation,gas).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from eth_account import Account
from web3 import Web3

from bench.common import RESULTS, machine, markdown_table, write_csv
from devnet.nodes import ANVIL_FUNDED_KEY, AnvilTime, anvil
from p2pkit.market import deploy_market
from p2pkit.retail.clock import BillingClock
from p2pkit.retail.contracts import Party, deploy_retail, enrol
from p2pkit.retail.plans import PlanTerms, PriceKind
from p2pkit.retail.terms import Terms, sign_terms
from p2pkit.transactions import send, transfer

UNIT = 10**12
MONTH = 30 * 86_400
RATED_POWER_W = 10_000
GAS_MONEY = 10**18
PLANS = {
    "publishPlan (flat)": PlanTerms(PriceKind.FLAT, flat_price=40 * UNIT // 100),
    "publishPlan (time of use, 2 bands)": PlanTerms(
        PriceKind.TIME_OF_USE, bands=((360, 1080, 62 * UNIT // 100), (1080, 360, 54 * UNIT // 100))
    ),
    "publishPlan (3 tiers)": PlanTerms(
        PriceKind.TIERS, tiers=((3_000_000, 60 * UNIT // 100), (6_000_000, 57 * UNIT // 100), (0, 54 * UNIT // 100))
    ),
}


class Bench:
    def __init__(self, url: str):
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        self.operator = Account.from_key(ANVIL_FUNDED_KEY)
        self.grid = Account.create()
        self.market = deploy_market(self.w3, self.operator, self.grid.address)
        self.retail = deploy_retail(self.w3, self.operator, self.market, BillingClock.fixed(MONTH, MONTH // 6))
        self.contracts = self.retail.contracts.functions
        self.billing = BillingClock.of(self.retail.contracts)
        self.anvil_time = AnvilTime(self.w3)
        self.numbers = iter(range(1, 10**6))
        self.retailer = self.party("retailer", producer=True, retailer=True)
        self.gas: dict[str, int] = {}
        self.registers: dict[str, int] = {}

    def party(self, name: str, *, producer: bool, retailer: bool = False, wallet: int = 10_000 * UNIT) -> Party:
        party = Party(Account.create(), Account.create(), next(self.numbers))
        transfer(self.w3, self.operator, party.address, GAS_MONEY + wallet)
        transfer(self.w3, self.operator, party.meter.address, GAS_MONEY)
        enrol(
            self.w3,
            self.market,
            self.retail,
            self.operator,
            party,
            name=name,
            producer=producer,
            rated_power_w=RATED_POWER_W,
            retail_deposit=wallet,
            retailer=retailer,
        )
        return party

    def terms(self, buyer: Party, **overrides) -> Terms:
        return replace(
            Terms(
                buyer=buyer.address,
                seller=self.retailer.address,
                first_month=self.contracts.currentMonth().call() + 1,
                months=2,
                monthly_wh=1_000_000,
                direct_price=40 * UNIT // 100,
                catalogue_price=60 * UNIT // 100,
                penalty_rate=2 * UNIT // 100,
                buyer_deposit=100 * UNIT,
                seller_deposit=100 * UNIT,
            ),
            **overrides,
        )

    def measure(self, name: str, call, signer) -> dict:
        receipt = send(self.w3, call, signer)
        self.gas[name] = receipt["gasUsed"]
        return receipt

    def sign(self, terms: Terms, nonce: int):
        chain_id, address = self.w3.eth.chain_id, self.retail.contracts.address
        signatures = [sign_terms(p.account.key, terms, nonce, chain_id, address) for p in self.signers[terms.buyer]]
        return self.contracts.signContract(terms.as_abi(), nonce, *signatures)

    def post(self, party: Party, month: int, energy_wh: int) -> dict:
        """The party's meter posts the month, its registers continuing from its last reading."""
        opening = self.registers.get(party.address, 100_000_000)
        self.registers[party.address] = opening + energy_wh
        call = self.contracts.submitMonthlyReading(month, party.meter_number, opening, opening + energy_wh)
        return send(self.w3, call, party.meter)

    def run(self, batches: list[int]) -> None:
        for name, plan in PLANS.items():
            self.measure(name, self.retail.plans.functions.publishPlan(plan.as_abi()), self.retailer.account)
        buyer, poor = self.party("office", producer=False), self.party("shop", producer=False, wallet=100 * UNIT)
        self.signers = {p.address: (p, self.retailer) for p in (buyer, poor)}
        proposed = self.measure("propose", self.contracts.propose(self.terms(buyer).as_abi()), buyer.account)
        first_id = self.retail.contracts.events.ContractProposed().process_receipt(proposed)[0].args.id
        self.measure("accept", self.contracts.accept(first_id), self.retailer.account)
        self.measure("signContract (both signatures)", self.sign(self.terms(poor, months=1), 1), self.operator)
        month = self.terms(buyer).first_month
        self.anvil_time.wait_until(self.billing.month_end(month) + 60)
        self.gas["submitMonthlyReading (first month)"] = self.post(buyer, month, 1_000_000)["gasUsed"]
        self.post(self.retailer, month, 5_000_000)
        self.post(poor, month, 1_000_000)
        self.measure("settle (inside the bands)", self.contracts.settle(first_id), self.operator)
        self.measure(
            "settle (buyer short: default, deposits released)", self.contracts.settle(first_id + 1), self.operator
        )
        self.anvil_time.wait_until(self.billing.month_end(month + 1) + 60)
        self.gas["submitMonthlyReading (next month)"] = self.post(buyer, month + 1, 1_100_000)["gasUsed"]
        self.post(self.retailer, month + 1, 5_000_000)
        self.measure("settle (last month: deposits released)", self.contracts.settle(first_id), self.operator)
        for size in batches:
            self.batch(size)

    def batch(self, size: int) -> None:
        """settleBatch over `size` due contracts of as many buyers with one retailer."""
        buyers = [self.party("customer", producer=False) for _ in range(size)]
        self.signers.update({p.address: (p, self.retailer) for p in buyers})
        ids = []
        for nonce, buyer in enumerate(buyers, start=100):
            receipt = send(self.w3, self.sign(self.terms(buyer, months=3), nonce), self.operator)
            ids.append(self.retail.contracts.events.ContractActivated().process_receipt(receipt)[0].args.id)
        month = self.terms(buyers[0]).first_month
        self.anvil_time.wait_until(self.billing.month_end(month) + 60)
        for buyer in buyers:
            self.post(buyer, month, 1_000_000)
        if not self.contracts.monthlyReadingOf(self.retailer.address, month).call().present:
            self.post(self.retailer, month, 5_000_000)
        receipt = send(self.w3, self.contracts.settleBatch(ids[0], size), self.operator)
        self.gas[f"settleBatch of {size}, per contract"] = receipt["gasUsed"] // size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,10,100", help="batch sizes of settleBatch, comma-separated")
    args = parser.parse_args()
    batches = [int(size) for size in args.batches.split(",")]
    with anvil() as url:
        bench = Bench(url)
        bench.run(batches)
    rows = list(bench.gas.items())
    table = markdown_table(["operation", "gas"], [(name, f"{gas:,}") for name, gas in rows])
    text = "\n".join(
        [
            "# Gas of the retail contracts",
            "",
            f"Machine: {machine()}. Chain: anvil, 30M-gas blocks; gas from receipts.",
            "",
            table,
            "",
            "A settlement batch settles one month of each due contract; its gas grows linearly with",
            "the batch, so a keeper chooses the batch to fit its blocks (150 contracts: about",
            f"{150 * bench.gas.get(f'settleBatch of {batches[-1]}, per contract', 0):,} gas).",
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retail_gas.md").write_text(text)
    write_csv(RESULTS / "retail_gas.csv", ["operation", "gas"], rows)
    print(text)


if __name__ == "__main__":
    main()
