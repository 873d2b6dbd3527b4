"""Entry point of ``python -m relayer``."""

import sys

from relayer.cli import main

sys.exit(main())
