"""`ape run deploy` against a real anvil: the market is there and the deployment file says where."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eth_account import Account
from web3 import Web3

from devnet.nodes import ANVIL_FUNDED_KEY, anvil
from p2pkit.continuous import book_of
from p2pkit.market import Deployment, attach
from p2pkit.retail.contracts import retail_at

ROOT = Path(__file__).resolve().parents[2]
APE = Path(sys.executable).with_name("ape")
GRID = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_deploy_script_deploys_market_book_and_retail_and_writes_the_deployment_file(tmp_path):
    keystore, password = tmp_path / "operator.json", tmp_path / "password"
    password.write_text("operator password\n")
    keystore.write_text(json.dumps(Account.encrypt(ANVIL_FUNDED_KEY, "operator password")))
    output = tmp_path / "deployment.json"
    with anvil() as url:
        subprocess.run(
            [
                str(APE),
                "run",
                "deploy",
                "--network",
                f"ethereum:anvil:{url}",
                "--keystore",
                str(keystore),
                "--password-file",
                str(password),
                "--grid",
                GRID,
                "--period-length",
                "120",
                "--margin",
                "0.002",
                "--price-floor",
                "0.0001",
                "--price-cap",
                "0.002",
                "--month-length",
                "600",
                "--output",
                str(output),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )
        deployment = Deployment.load(output)
        w3 = Web3(Web3.HTTPProvider(url))
        market = attach(w3, deployment.market)
        assert deployment.chain_id == 31337
        assert (deployment.operator, deployment.grid) == (Account.from_key(ANVIL_FUNDED_KEY).address, GRID)
        assert market.functions.operator().call() == deployment.operator
        assert market.functions.schedule().call().periodLength == 120
        parameters = market.functions.parameters().call()
        assert (parameters.margin, parameters.priceFloor, parameters.priceCap) == (2 * 10**15, 10**14, 2 * 10**15)
        assert w3.eth.get_transaction_count(deployment.operator) == 5  # market, book, naming it, retail's two
        assert deployment.block == 1
        assert book_of(w3, market).functions.market().call() == deployment.market
        retail = retail_at(w3, deployment.bilateral_contracts)
        assert retail.plans.address == deployment.retail_plans
        assert retail.contracts.functions.market().call() == deployment.market
        assert retail.plans.functions.market().call() == deployment.market
        assert retail.contracts.functions.billingClock().call().monthLength == 600
