"""`python -m training.reproduce`: see `training.reproduce.cli`."""

import sys

from training.reproduce.cli import main

sys.exit(main())
