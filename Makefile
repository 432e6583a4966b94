# slimkeras: `make test` sets everything up on a fresh Debian machine and runs the tests;
# `make train` sets up and runs the main job (US-MobileNet v1 on Fashion-MNIST).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
JUNIT := /usr/share/java/junit-platform-console-standalone.jar
CHROMIUM := /usr/bin/chromium
WEB_MODULES := web_demo/node_modules/.package-lock.json

.PHONY: setup test test-all train system-packages clean

setup: $(STAMP) system-packages

# The pinned requirements (runtime, the tests' tools, torch: one resolve), then the project itself
# (editable; --no-deps keeps the pins in force, --no-build-isolation builds with the pinned
# setuptools, offline). TORCH_INDEX=https://download.pytorch.org/whl/cpu takes torch's CPU build from
# PyTorch's index where no local wheel folder has it (PyPI's Linux torch is a CUDA build of several
# GB). An existing venv is kept: `venv` run again by another python3 rewrites its pyvenv.cfg and breaks it.
TORCH_INDEX ?=
$(STAMP): requirements.txt requirements-dev.txt requirements-torch.txt pyproject.toml setup.py slimkeras_startup.pth
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt -r requirements-torch.txt \
	  $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	# An editable install leaves the start-up hook out (a wheel has it): copy it into site-packages.
	$(PY) -c "import shutil, sysconfig; shutil.copy('slimkeras_startup.pth', sysconfig.get_paths()['purelib'])"
	touch $(STAMP)

# Debian packages: Fashion-MNIST (the offline default data), JUnit (the Android core's tests),
# Chromium, Node.js and npm (the browser demo's tests; npm never downloads a browser).
system-packages:
	@if [ ! -f $(FASHION) ] || [ ! -f $(JUNIT) ] || [ ! -x $(CHROMIUM) ] || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist junit5 chromium nodejs npm >/dev/null; \
	  else \
	    echo "Run as root, or: sudo apt-get install -y dataset-fashion-mnist junit5 chromium nodejs npm"; exit 1; \
	  fi; \
	fi

# pytest in TEST_WORKERS processes (pytest-xdist); a module marked xdist_group runs whole in one
# worker, so its module-scoped fixture (test_export's trained run, ...) is built once. Much of the
# suite's time is single-threaded graph tracing: 2 workers on 2 cores finish sooner than one.
TEST_WORKERS ?= 2

# The browser demo's pinned npm packages (LiteRT.js; puppeteer-core drives Debian's Chromium).
$(WEB_MODULES): web_demo/package.json web_demo/package-lock.json | system-packages
	cd web_demo && npm ci --no-audit --no-fund

test: setup $(WEB_MODULES)
	bash android_demo/core/run_tests.sh
	cd web_demo && node --test test/
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-all: setup $(WEB_MODULES)
	bash android_demo/core/run_tests.sh
	cd web_demo && node --test test/
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m ""

train: setup
	$(PY) -m training.main --flagfile=us_mbv1_fashion

clean:
	rm -rf $(VENV) android_demo/core/build build *.egg-info
