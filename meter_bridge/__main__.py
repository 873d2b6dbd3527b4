"""Entry point of ``python -m meter_bridge``."""

import sys

from meter_bridge.cli import main

sys.exit(main())
