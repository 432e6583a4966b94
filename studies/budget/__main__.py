"""`python -m studies.budget`: see `studies.budget.cli`."""

import sys

from studies.budget.cli import main

sys.exit(main())
