"""The two build settings pyproject.toml cannot hold (everything else is there):

- setuptools' scratch folders (`build/`, `slimkeras.egg-info/`) go to a fresh temporary folder,
  removed when the build ends, instead of into the checkout. So `pip install .` works from a
  read-only checkout, a writable one is left as it was, and no stale `build/lib` from an earlier
  build can slip into a wheel. (A fixed path in `[tool.distutils.*]` could not be fresh per
  build, nor portable.)
- `slimkeras_startup.pth` goes to the top of the wheel (site-packages), where Python runs it at
  start-up: it imports `_slimkeras_startup`, which keeps TensorFlow's start-up lines quiet when
  `import keras` comes before `import slimkeras`. (An editable install leaves it out; the
  Makefile copies it.)"""

import atexit
import os
import shutil
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

STARTUP_HOOK = "slimkeras_startup.pth"


class BuildWithStartupHook(build_py):
    """build_py, and the start-up hook beside the packages."""

    def run(self):
        super().run()
        self.copy_file(STARTUP_HOOK, os.path.join(self.build_lib, STARTUP_HOOK))


scratch = tempfile.mkdtemp(prefix="slimkeras-build-")
atexit.register(shutil.rmtree, scratch, ignore_errors=True)
setup(options={"egg_info": {"egg_base": scratch}, "build": {"build_base": os.path.join(scratch, "build")}},
      cmdclass={"build_py": BuildWithStartupHook})
