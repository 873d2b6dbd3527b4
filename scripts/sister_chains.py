"""Run a scenario of transfers between the two sister chains and report each one (JSON).

    .venv/bin/python scripts/sister_chains.py SCENARIO.json [--chains embedded|anvil|geth]
        [--block-time 1] [--output result.json]

SCENARIO.json names the rate (rights per token), the confirmations an unlock waits for, every
account's starting balances on both chains and the steps (``purchase_rights``,
``tokens_to_rights``, ``rights_to_tokens``); ``relayer/scenario.py`` describes them. Both chains
start fresh: ``embedded``, two eth-tester chains in this process (a block is mined on both while
a transfer waits for confirmations); ``anvil``, two anvil nodes mining a block every
``--block-time`` seconds; ``geth``, the two Geth proof-of-work networks of ``devnet.geth``. An
in-process relayer carries headers and proofs. The output has the contracts and the accounts'
addresses, the starting holdings, and per step: the lock's chain, transaction, block and lock
id, the unlock's transaction and block, the confirmations the unlock waited for (the light
client's best header above the lock's block), the wall time from the step's first transaction
to its unlock, and every account's balances on both chains and the locks' holdings after it.

Exit status: 0 done, 2 a scenario or option that cannot run (the message names the field),
1 a transfer that did not complete (the relayer's last actions are printed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from web3 import Web3

from devnet.embedded import dev_accounts, embedded_chain
from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from p2pkit.transactions import transfer
from relayer.scenario import Backend, ScenarioError, ScenarioRun, TransferTimeout, parse_scenario

TRADING_CHAIN_ID = 46611
SCHEDULING_CHAIN_ID = 46612


class ChainsUnavailable(RuntimeError):
    """The chains asked for cannot be started on this machine."""


@contextlib.contextmanager
def embedded_chains() -> Iterator[Backend]:
    trading, scheduling = embedded_chain(TRADING_CHAIN_ID), embedded_chain(SCHEDULING_CHAIN_ID)

    def advance() -> None:
        for w3 in (trading, scheduling):
            w3.provider.ethereum_tester.mine_blocks(1)

    yield Backend("embedded", trading, scheduling, dev_accounts(trading)[0], advance=advance)


@contextlib.contextmanager
def anvil_chains(block_time: float) -> Iterator[Backend]:
    from eth_account import Account

    timing = ["--block-time", f"{block_time:g}"] if block_time > 0 else []
    with (
        anvil("--chain-id", str(TRADING_CHAIN_ID), *timing) as trading_url,
        anvil("--chain-id", str(SCHEDULING_CHAIN_ID), *timing) as scheduling_url,
    ):
        trading, scheduling = Web3(Web3.HTTPProvider(trading_url)), Web3(Web3.HTTPProvider(scheduling_url))
        advance = None
        if block_time <= 0:

            def advance() -> None:
                for w3 in (trading, scheduling):
                    w3.provider.make_request("anvil_mine", ["0x1"])

        yield Backend(
            f"anvil ({block_time:g} s blocks)" if block_time > 0 else "anvil",
            trading,
            scheduling,
            Account.from_key(ANVIL_FUNDED_KEY),
            advance=advance,
        )


@contextlib.contextmanager
def geth_chains() -> Iterator[Backend]:
    """The Geth proof-of-work pair of ``devnet.geth`` (``geth_sister_pair``), fresh in a temporary
    folder. The trading chain's operator funds the scenario on both chains: the scheduling
    chain's operator first sends it half of its ether there. Geth's progress goes to stderr."""
    import devnet.geth

    def progress(*parts) -> None:
        print(*parts, file=sys.stderr)

    try:
        with (
            tempfile.TemporaryDirectory(prefix="sister-geth-") as folder,
            devnet.geth.geth_sister_pair(Path(folder), log=progress) as networks,
        ):
            trading = Web3(Web3.HTTPProvider(networks.trading.rpc_urls[0]))
            scheduling = Web3(Web3.HTTPProvider(networks.scheduling.rpc_urls[0]))
            funder = networks.trading.operator
            scheduling_operator = networks.scheduling.operator
            if scheduling_operator.address != funder.address:
                transfer(
                    scheduling,
                    scheduling_operator,
                    funder.address,
                    scheduling.eth.get_balance(scheduling_operator.address) // 2,
                )
            yield Backend("geth", trading, scheduling, funder, poll_interval=1.0, timeout=1800.0)
    except devnet.geth.GethUnavailable as error:
        raise ChainsUnavailable(f"--chains geth: {error}") from None


def chains(kind: str, block_time: float) -> contextlib.AbstractContextManager[Backend]:
    if kind == "embedded":
        return embedded_chains()
    if kind == "anvil":
        return anvil_chains(block_time)
    return geth_chains()


def load(path: Path):
    try:
        return parse_scenario(json.loads(path.read_text()))
    except OSError as error:
        raise ScenarioError(str(path), f"cannot be read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise ScenarioError(str(path), f"not JSON ({error})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path, help="the scenario, JSON")
    parser.add_argument("--chains", choices=("embedded", "anvil", "geth"), default="embedded")
    parser.add_argument(
        "--block-time", type=float, default=1.0, help="anvil's seconds per block (0: a block per transaction)"
    )
    parser.add_argument("--output", type=Path, help="write the result here as well as to stdout")
    parser.add_argument("--verbose", action="store_true", help="log the relayer's actions to stderr")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if options.verbose else logging.ERROR, stream=sys.stderr)
    try:
        scenario = load(options.scenario)
    except ScenarioError as error:
        print(f"sister_chains: {error}", file=sys.stderr)
        return 2

    def progress(report: dict) -> None:
        print(
            f"step {report['step']} {report['action']}: unlocked after {report['confirmations']} confirmations, "
            f"{report['wall_seconds']:.1f} s",
            file=sys.stderr,
        )

    try:
        with chains(options.chains, options.block_time) as backend:
            result = ScenarioRun(scenario, backend).run(on_step=progress)
    except ChainsUnavailable as error:
        print(f"sister_chains: {error}", file=sys.stderr)
        return 2
    except TransferTimeout as error:
        print(f"sister_chains: {error}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=1)
    if options.output:
        options.output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
