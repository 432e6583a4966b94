"""`python -m tflite_export.switch`: see `tflite_export.switch.cli`."""

import sys

from tflite_export.switch.cli import main

sys.exit(main())
