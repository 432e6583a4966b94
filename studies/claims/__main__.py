"""`python -m studies.claims`: see `studies.claims.cli`."""

import sys

from studies.claims.cli import main

sys.exit(main())
