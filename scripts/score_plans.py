"""Score retailers' plans for one customer and advise one.

    .venv/bin/python scripts/score_plans.py PLANS.json CUSTOMER.json

Prints JSON: for every plan (in the order given) its four indices (psri reliability, spi price,
pdpi deviation, adi duration), its score and the customer's monthly bill under it, then the
advised plan's id as ``choice``. Numbers carry their full precision: exact where their decimal
expansion ends within 30 places, rounded half-even there otherwise. The formulas, the tie rules
and both files' formats: docs/retail.md (and p2pkit/retail/scoring_input.py).

Exit status: 0 scored; 2 a file is missing or malformed (the message names the field).
"""

from __future__ import annotations

import argparse
import sys

from p2pkit.retail.inputs import InputError, load_json
from p2pkit.retail.scoring import score_plans
from p2pkit.retail.scoring_input import customer_from_json, plans_from_json, scores_json

BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plans", help="PLANS.json")
    parser.add_argument("customer", help="CUSTOMER.json")
    args = parser.parse_args(argv)
    try:
        plans = plans_from_json(load_json(args.plans, args.plans))
        customer = customer_from_json(load_json(args.customer, args.customer))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    scores, choice = score_plans(plans, customer)
    print(scores_json(scores, choice))
    return 0


if __name__ == "__main__":
    sys.exit(main())
