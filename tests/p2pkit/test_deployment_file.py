"""The deployment file: the market and the retail contracts beside it, read back as written; a
file of a market alone still loads; a damaged one is refused with its path."""

from __future__ import annotations

import json

import pytest

from p2pkit.market import Deployment

MARKET_ALONE = {
    "chain_id": 1,
    "market": "0x" + "11" * 20,
    "operator": "0x" + "33" * 20,
    "grid": "0x" + "22" * 20,
    "block": 7,
}
WITH_RETAIL = Deployment(**MARKET_ALONE, retail_plans="0x" + "44" * 20, bilateral_contracts="0x" + "55" * 20)


def test_deployment_with_retail_reads_back_as_written(tmp_path):
    path = tmp_path / "deployment.json"
    WITH_RETAIL.save(path)
    assert Deployment.load(path) == WITH_RETAIL


def test_file_of_a_market_alone_loads_without_retail(tmp_path):
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(MARKET_ALONE))
    deployment = Deployment.load(path)
    assert (deployment.retail_plans, deployment.bilateral_contracts) == (None, None)


@pytest.mark.parametrize(
    "fields",
    [
        {**MARKET_ALONE, "retail_plans": "0x" + "44" * 20},
        {**MARKET_ALONE, "retail_plans": "not an address", "bilateral_contracts": "0x" + "55" * 20},
        {key: value for key, value in MARKET_ALONE.items() if key != "market"},
    ],
)
def test_damaged_file_is_refused_naming_it(tmp_path, fields):
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(ValueError, match="not a deployment file"):
        Deployment.load(path)
