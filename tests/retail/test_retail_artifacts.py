"""The compiled retail contracts: within Geth's code size limit, and the Python views of their
structs in step with the ABI."""

from dataclasses import fields

import pytest

from p2pkit.artifacts import load_artifact
from p2pkit.retail.terms import TERMS_TYPE, MonthResult, Terms, camel_case

EIP_170_LIMIT = 24_576


@pytest.mark.parametrize("name", ["RetailPlans", "BilateralContracts"])
def test_deployed_code_fits_the_eip_170_limit(name):
    assert len(bytes.fromhex(load_artifact(name)["deployedBytecode"][2:])) < EIP_170_LIMIT


def abi_struct(function: str, argument: int = 0) -> list[dict]:
    abi = load_artifact("BilateralContracts")["abi"]
    (entry,) = [e for e in abi if e.get("name") == function]
    return entry["inputs"][argument]["components"]


def test_signed_type_lists_the_terms_struct_then_the_nonce():
    struct = [{"name": c["name"], "type": c["type"]} for c in abi_struct("propose")]
    assert [*struct, {"name": "nonce", "type": "uint256"}] == TERMS_TYPE


def test_python_terms_follow_the_structs_order():
    assert [camel_case(f.name) for f in fields(Terms)] == [c["name"] for c in abi_struct("propose")]


def test_month_result_follows_the_events_struct():
    (event,) = [e for e in load_artifact("BilateralContracts")["abi"] if e.get("name") == "MonthSettled"]
    (result,) = [i for i in event["inputs"] if i["name"] == "result"]
    assert [camel_case(f.name) for f in fields(MonthResult)] == [c["name"] for c in result["components"]]
