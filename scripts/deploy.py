"""Deploy the EnergyMarket, its continuous book (ContinuousBook, named by the market) and the
retail contracts beside it (RetailPlans, BilateralContracts) to any network of ape-config.yaml
and write the deployment file.

    ape run deploy --network ethereum:local:test
    ape run deploy --network ethereum:anvil:node --output deployment.json
    ape run deploy --network ethereum:geth-pow:node \\
        --keystore chain/keys/operator.json --password-file chain/keys/password \\
        --grid "$(jq -r .address chain/keys/grid.json)" --period-length 900 --output chain/deployment.json

The operator (who signs the deployment and runs the market) is the keystore given, else Ape's
first test account (on anvil, anvil's first funded account: both use the same mnemonic). The
grid defaults to Ape's second test account. The retail contracts bill calendar months in UTC+8
unless ``--utc-offset`` or ``--month-length`` (fixed-length months, for demos and replays) say
otherwise; ``--no-retail`` leaves them out, ``--no-continuous`` the book (``--gate-lead``: its
gate closure, seconds before a delivery period starts). The deployment file (chain id, market,
operator, grid, block, the retail contracts) is what the backend and the meter bridge read to
find the contracts.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click
from ape import accounts
from ape.cli import ConnectedProviderCommand, ape_cli_context
from ape.contracts import ContractContainer
from ape_accounts import KeyfileAccount
from ethpm_types import ContractType

from p2pkit.artifacts import ape_contract_type
from p2pkit.continuous import BOOK
from p2pkit.market import WEI_PER_ETHER, Deployment, MarketParameters
from p2pkit.retail.clock import DEFAULT_GRACE, UTC_PLUS_8, BillingClock
from p2pkit.retail.contracts import CONTRACTS, PLANS
from p2pkit.schedule import Schedule

DEFAULTS = MarketParameters()


def wei(ether: str) -> int:
    return int(Decimal(ether) * WEI_PER_ETHER)


def container(name: str) -> ContractContainer:
    """A contract of the build every part of the platform uses (p2pkit/artifacts), not Ape's own."""
    return ContractContainer(ContractType.model_validate(ape_contract_type(name)))


def operator_account(keystore: Path | None, password_file: Path | None):
    """The deploying account: an encrypted keystore, else Ape's first test account."""
    if keystore is None:
        return accounts.test_accounts[0]
    if password_file is None:
        raise click.UsageError("--keystore needs --password-file (or P2P_OPERATOR_PASSWORD_FILE)")
    account = KeyfileAccount(keyfile_path=keystore)
    account.set_autosign(True, passphrase=password_file.read_text().strip())
    return account


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the EnergyMarket")
@ape_cli_context()
@click.option(
    "--keystore",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Operator's encrypted keystore (default: Ape's first test account).",
)
@click.option(
    "--password-file",
    envvar="P2P_OPERATOR_PASSWORD_FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the keystore's password [env P2P_OPERATOR_PASSWORD_FILE].",
)
@click.option("--grid", help="The public grid's address (default: Ape's second test account).")
@click.option(
    "--period-length",
    default=900,
    show_default=True,
    type=click.IntRange(min=10),
    help="Seconds per market period; the phases scale with it.",
)
@click.option("--margin", default="0.001", show_default=True, help="Ether locked per open bid.")
@click.option(
    "--price-floor",
    default=str(Decimal(DEFAULTS.price_floor) / WEI_PER_ETHER),
    show_default=True,
    help="Lowest price a bid may name, ether per kWh.",
)
@click.option(
    "--price-cap",
    default=str(Decimal(DEFAULTS.price_cap) / WEI_PER_ETHER),
    show_default=True,
    help="Highest price a bid may name, ether per kWh.",
)
@click.option("--retail/--no-retail", default=True, show_default=True, help="Deploy the retail contracts too.")
@click.option(
    "--continuous/--no-continuous",
    default=True,
    show_default=True,
    help="Deploy the continuous book (trading after the auction) and have the market name it.",
)
@click.option(
    "--gate-lead",
    type=int,
    default=0,
    show_default=True,
    help="Seconds before a delivery period starts at which its continuous book closes.",
)
@click.option(
    "--month-length",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Retail billing months of this many seconds from the deployment; 0: calendar months.",
)
@click.option(
    "--utc-offset",
    default=UTC_PLUS_8,
    show_default=True,
    type=click.IntRange(-14 * 3600, 14 * 3600),
    help="Calendar months: seconds east of UTC of the local time they follow.",
)
@click.option(
    "--reading-grace",
    default=DEFAULT_GRACE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds after a month's end during which its meter readings are accepted.",
)
@click.option(
    "--output",
    default="deployment.json",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment file to write.",
)
def cli(
    cli_ctx,
    keystore,
    password_file,
    grid,
    period_length,
    margin,
    price_floor,
    price_cap,
    retail,
    continuous,
    gate_lead,
    month_length,
    utc_offset,
    reading_grace,
    output,
):
    operator = operator_account(keystore, password_file)
    grid = grid or accounts.test_accounts[1].address
    schedule = Schedule.scaled(period_length)
    parameters = MarketParameters(margin=wei(margin), price_floor=wei(price_floor), price_cap=wei(price_cap))
    market = container("EnergyMarket").deploy(grid, schedule.as_abi(), parameters.as_abi(), sender=operator)
    if continuous:
        book = container(BOOK).deploy(market.address, gate_lead, sender=operator)
        market.setContinuousBook(book.address, sender=operator)
        cli_ctx.logger.success(f"ContinuousBook at {book.address}, named by the market")
    plans = contracts = None
    if retail:
        clock = (
            BillingClock.fixed(month_length, reading_grace)
            if month_length
            else BillingClock.calendar(utc_offset, reading_grace)
        )
        plans = container(PLANS).deploy(market.address, sender=operator)
        contracts = container(CONTRACTS).deploy(market.address, plans.address, clock.as_abi(), sender=operator)
    deployment = Deployment(
        chain_id=cli_ctx.chain_manager.chain_id,
        market=market.address,
        operator=operator.address,
        grid=market.grid(),
        block=cli_ctx.provider.get_receipt(market.txn_hash).block_number,
        retail_plans=plans.address if plans else None,
        bilateral_contracts=contracts.address if contracts else None,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    deployment.save(output)
    cli_ctx.logger.success(f"EnergyMarket at {market.address} (block {deployment.block}); wrote {output}")
    if contracts:
        cli_ctx.logger.success(f"RetailPlans at {plans.address}, BilateralContracts at {contracts.address}")
