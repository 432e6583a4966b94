"""`python -m slimkeras.official`: see slimkeras.official.cli."""

import sys

from slimkeras.official.cli import main

sys.exit(main())
