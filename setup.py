"""The one build setting pyproject.toml cannot hold (everything else is there): setuptools' scratch
folders (`build/`, `slimkeras.egg-info/`) go to a fresh temporary folder, removed when the build
ends, instead of into the checkout. So `pip install .` works from a read-only checkout, a writable
one is left as it was, and no stale `build/lib` from an earlier build can slip into a wheel.
(A fixed path in `[tool.distutils.*]` could not be fresh per build, nor portable.)"""

import atexit
import os
import shutil
import tempfile

from setuptools import setup

scratch = tempfile.mkdtemp(prefix="slimkeras-build-")
atexit.register(shutil.rmtree, scratch, ignore_errors=True)
setup(options={"egg_info": {"egg_base": scratch}, "build": {"build_base": os.path.join(scratch, "build")}})
