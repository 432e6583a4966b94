"""`python -m tflite_export.search`: see `tflite_export.search`."""

import sys

from tflite_export.search.cli import main

sys.exit(main())
