"""The installable library: the flagfile lookup, the wheel's contents and metadata, an installed
wheel used from a folder outside the checkout (library import, a training run, a console script),
the requirements files (PyPI alone, no local versions), a build from a read-only checkout, and
TensorFlow's start-up lines when keras is imported before slimkeras."""

import ast
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from absl import flags
from packaging.requirements import Requirement

from training import config
from fashion_data import needs_fashion

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.xdist_group(__name__)
PACKAGES = ("slimkeras", "training", "tflite_export")
STARTUP_HOOK = ("_slimkeras_startup.py", "slimkeras_startup.pth")  # top-level files of the wheel
BUILD_ONLY = {"setuptools"}  # pinned in requirements-dev.txt: `make` builds the project with it
DEV = {"pytest", "pytest-timeout", "pytest-xdist", "nbclient", "nbformat", "ipykernel"}
OPTIONAL = {"torch"}  # pinned for the tests; an extra for users
TFDS = {"tensorflow-datasets", "importlib-resources"}  # pinned in requirements.txt; the [tfds] extra
EXTRAS = {"torch": OPTIONAL, "tfds": TFDS, "dev": DEV}
PYPI = "https://pypi.org/simple"


def _name(name):
    return name.lower().replace("_", "-")


def _pins(filename):
    """{normalized name: version} of a requirements file's own lines (`-r` includes left out)."""
    pins = {}
    for line in (ROOT / filename).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pins[_name(requirement.name)] = spec.version
    return pins


# -- flagfile lookup ------------------------------------------------------------------------------
@pytest.fixture
def shipped(tmp_path):
    directory = tmp_path / "shipped"
    directory.mkdir()
    (directory / "base.flags").write_text("# a comment\n--epochs=3\n\n// another\n  --lr=0.5  \n")
    (directory / "child.flags").write_text("--flagfile=base\n--epochs=4\n")
    return directory


def test_bare_names_find_shipped_flagfiles_and_paths_win(shipped, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.find_flagfile("base", shipped) == str(shipped / "base.flags")
    assert config.find_flagfile("base.flags", shipped) == str(shipped / "base.flags")
    (tmp_path / "base.flags").write_text("--epochs=9\n")
    assert config.find_flagfile("base.flags", shipped) == "base.flags"
    assert config.shipped_flagfiles(shipped) == ["base", "child"]


@pytest.mark.parametrize("value", ["nope", "nope.flags", "sub/base.flags", ""])
def test_unknown_flagfile_names_the_shipped_ones(shipped, tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(config.ConfigError, match=r"^--flagfile=.* shipped: base, child\.$"):
        config.find_flagfile(value, shipped)


def test_expansion_matches_absl_reading_the_same_files_by_path(shipped, tmp_path, monkeypatch):
    monkeypatch.chdir(shipped)  # absl opens nested flagfiles relative to the working folder
    (shipped / "child.flags").write_text("--flagfile=base.flags\n--epochs=4\n")
    args = ["--seed=1", "--flagfile=child.flags", "-flagfile", "base.flags", "--", "--flagfile=x"]
    absl_reading = flags.FlagValues().read_flags_from_files(args)
    monkeypatch.chdir(tmp_path)  # by name, from elsewhere
    by_name = ["--seed=1", "--flagfile=child", "-flagfile", "base", "--", "--flagfile=x"]
    assert config.expand_flagfiles(by_name, shipped) == absl_reading
    assert absl_reading == ["--seed=1", "--epochs=3", "--lr=0.5", "--epochs=4", "--epochs=3", "--lr=0.5",
                            "--", "--flagfile=x"]


def test_nested_unknown_names_and_cycles_are_config_errors(shipped):
    (shipped / "bad.flags").write_text("--flagfile=missing\n")
    (shipped / "loop.flags").write_text("--flagfile=loop\n")
    for args, message in ((["--flagfile=bad"], "--flagfile=missing is neither"),
                          (["--flagfile=loop"], "includes itself"), (["--flagfile"], "needs a flagfile")):
        with pytest.raises(config.ConfigError, match=message):
            config.expand_flagfiles(args, shipped)


def test_parse_reads_a_shipped_flagfile_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.parse(["prog", "--flagfile=s_mbv1_fashion", "--epochs=2"])
    assert cfg.mode == "slimmable" and cfg.width_mult_list == [0.25, 0.5, 0.75, 1.0]
    assert cfg.lr == 0.2 and cfg.epochs == 2 and cfg.model_dir == "runs/s_mbv1_fashion"


# -- the wheel ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Builds the wheel from a copy of the sources (only the files a build reads), with a
    `tensorflow` that fails on import: the version must be read without importing slimkeras."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md", "_slimkeras_startup.py", "slimkeras_startup.pth"):
        shutil.copy(ROOT / name, source / name)
    trap = work / "trap" / "tensorflow"
    trap.mkdir(parents=True)
    (trap / "__init__.py").write_text("raise RuntimeError('tensorflow imported while building')\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"),
         str(source)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(trap.parent)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = (work / "dist").glob("slimkeras-*.whl")
    return path


def _source_version():
    tree = ast.parse((ROOT / "slimkeras" / "__init__.py").read_text())
    (value,) = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__version__"]]
    return value


def test_wheel_holds_exactly_the_three_packages_the_flagfiles_and_the_start_up_hook(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    version = _source_version()
    assert wheel.name == f"slimkeras-{version}-py3-none-any.whl"
    assert {n.split("/")[0] for n in names} == {*PACKAGES, f"slimkeras-{version}.dist-info", *STARTUP_HOOK}
    sources = {str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")
               if "__pycache__" not in p.parts} | {"_slimkeras_startup.py"}
    assert {n for n in names if n.endswith(".py")} == sources  # a folder without __init__.py is missed
    flagfiles = {f"training/flags/{p.name}" for p in (ROOT / "training" / "flags").glob("*.flags")}
    assert len(flagfiles) >= 10 and flagfiles <= set(names)


def test_wheel_metadata_matches_the_pinned_requirements(wheel):
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"slimkeras-{_source_version()}.dist-info/METADATA").decode()
    assert re.search(r"^Name: slimkeras$", metadata, re.M)
    assert re.search(rf"^Version: {re.escape(_source_version())}$", metadata, re.M)
    requires = [Requirement(line) for line in re.findall(r"^Requires-Dist: (.*)$", metadata, re.M)]
    runtime = {_name(r.name): r for r in requires if r.marker is None}
    pins = {**_pins("requirements.txt"), **_pins("requirements-dev.txt"), **_pins("requirements-torch.txt")}
    assert set(runtime) == set(_pins("requirements.txt")) - TFDS
    provided = re.findall(r"^Provides-Extra: (.*)$", metadata, re.M)
    assert set(EXTRAS) <= set(provided), provided  # others may add extras of their own
    for extra, names in EXTRAS.items():
        extra_requires = {_name(r.name): r for r in requires
                          if r.marker is not None and r.marker.evaluate({"extra": extra})}
        assert set(extra_requires) == names, (extra, extra_requires)
        runtime.update(extra_requires)
    assert set(pins) - BUILD_ONLY == set(runtime)
    for name, requirement in runtime.items():  # every pin lies in the range users get
        assert requirement.specifier.contains(pins[name]), (name, requirement, pins[name])


def test_every_console_script_is_a_main_in_the_wheel(wheel):
    with zipfile.ZipFile(wheel) as z:
        entry_points = configparser.ConfigParser()
        entry_points.read_string(z.read(f"slimkeras-{_source_version()}.dist-info/entry_points.txt").decode())
        scripts = dict(entry_points["console_scripts"])
        names = set(z.namelist())
        assert set(scripts) == {"slimkeras-train", "slimkeras-export", "slimkeras-bench", "slimkeras-switch",
                                "slimkeras-search", "slimkeras-import", "slimkeras-web"}
        for script, target in scripts.items():
            module, function = target.split(":")
            path = module.replace(".", "/") + ".py"
            assert path in names, f"{script} = {target}: no {path} in the wheel"
            tree = ast.parse(z.read(path))
            assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, target


# -- installed, used from outside the checkout ----------------------------------------------------
@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(site folder, environment): the wheel installed without dependencies into a folder; the
    environment's PYTHONPATH holds that folder only, so the checkout cannot be imported."""
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                             str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return site, {**os.environ, "PYTHONPATH": str(site)}


def test_installed_library_imports_from_its_install_folder(installed, tmp_path):
    site, env = installed
    code = ("import json, slimkeras, training, tflite_export; print(json.dumps([slimkeras.__version__, "
            "slimkeras.__file__, training.__file__, tflite_export.__file__]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    version, *files = json.loads(result.stdout.splitlines()[-1])
    assert version == _source_version()
    assert all(Path(f).is_relative_to(site) for f in files), files


@needs_fashion
def test_installed_training_runs_a_shipped_flagfile_from_another_folder(installed, tmp_path):
    _, env = installed
    result = subprocess.run(
        [sys.executable, "-m", "training.main", "--flagfile=us_mbv1_fashion", "--model_dir=run", "--epochs=1",
         "--steps_per_epoch=2", "--batch_size=32", "--train_limit=256", "--eval_limit=128",
         "--calibration_images=64", "--eval_widths=0.25,1.0", "--verbose=0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    # The range comes from the flagfile alone (no default): the shipped file was read.
    assert results["mode"] == "universal" and results["width_spec"]["width_range"] == [0.25, 1.0]
    assert [r["width"] for r in results["results"]] == [0.25, 1.0]
    assert all(0.0 <= r["top1"] <= 1.0 for r in results["results"])
    assert (tmp_path / "run" / "final.keras").is_file()


def test_installed_console_script_gives_help_and_one_error_line(installed, tmp_path):
    site, env = installed
    script = site / "bin" / "slimkeras-train"
    helped = subprocess.run([str(script), "--helpfull"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "us_mbv1_fashion" in helped.stdout and "--width_mult_range" in helped.stdout
    failed = subprocess.run([str(script), "--flagfile=no_such_job"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "error: --flagfile=no_such_job is neither a file nor a shipped flagfile; shipped: "
        + ", ".join(sorted(p.stem for p in (ROOT / "training" / "flags").glob("*.flags"))) + "."]


# -- the requirements files -----------------------------------------------------------------------
def test_requirements_txt_is_the_runtime_set_in_public_versions():
    for filename in ("requirements.txt", "requirements-dev.txt", "requirements-torch.txt"):
        for line in (ROOT / filename).read_text().splitlines():
            assert "+" not in line.split("#")[0], f"{filename}: a local version only its own index serves: {line}"
    runtime = _pins("requirements.txt")
    assert {"tensorflow", "keras", "ai-edge-litert", "numpy"} <= set(runtime)
    assert not set(runtime) & (DEV | OPTIONAL | BUILD_ONLY) and not any("pytest" in n for n in runtime)
    dev_lines = [line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    assert dev_lines[0] == "-r requirements.txt" and set(_pins("requirements-dev.txt")) == DEV | BUILD_ONLY
    assert set(_pins("requirements-torch.txt")) == OPTIONAL
    recipe = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt -r requirements-dev.txt -r requirements-torch.txt" in recipe  # make installs all three


def _pip_without_local_folders(args, **kwargs):
    """pip with no configuration file (this machine's point at local wheel folders) and --isolated (no
    PIP_* variables): only what the command line names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return subprocess.run([sys.executable, "-m", "pip", *args, "--isolated"], capture_output=True, text=True,
                          env={**env, "PIP_CONFIG_FILE": os.devnull}, **kwargs)


@pytest.fixture(scope="module")
def pypi():
    try:
        urllib.request.urlopen(f"{PYPI}/pip/", timeout=20).close()
    except OSError as e:
        pytest.skip(f"PyPI ({PYPI}) is unreachable from here: {e}")
    return PYPI


def test_pinned_requirements_resolve_from_pypi_alone(pypi, tmp_path):
    report = tmp_path / "report.json"
    result = _pip_without_local_folders(
        ["install", "--dry-run", "--ignore-installed", "--no-deps", "--only-binary=:all:", "--index-url", pypi,
         "-r", "requirements.txt", "-r", "requirements-dev.txt", "--report", str(report)],
        cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = json.loads(report.read_text())["install"]
    assert {_name(i["metadata"]["name"]): i["metadata"]["version"] for i in install} == {
        **_pins("requirements.txt"), **_pins("requirements-dev.txt")}
    assert not [i["download_info"]["url"] for i in install if i["download_info"]["url"].startswith("file:")]
    # torch's pin is on PyPI too (as a CUDA build; requirements-torch.txt says where the CPU build is).
    # Listed, not downloaded: the wheel is over 500 MB.
    (version,) = _pins("requirements-torch.txt").values()
    listed = _pip_without_local_folders(["index", "versions", "torch", "--only-binary=:all:", "--index-url", pypi],
                                        timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("Available versions:")]
    assert version in line.removeprefix("Available versions:").replace(",", " ").split()


# -- a build from a read-only checkout ------------------------------------------------------------
def _copy_sources(source):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md", "_slimkeras_startup.py", "slimkeras_startup.pth"):
        shutil.copy(ROOT / name, source / name)


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in [folder, *folder.rglob("*")]}


def _run_read_only(source, args, **kwargs):
    """Runs args with `source` read-only: write bits off, and (root ignores those) a read-only bind
    mount where this machine lets root make one; a snapshot compared afterwards catches the rest."""
    paths = [source, *source.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~0o222)
    prefix = []
    if os.geteuid() == 0 and shutil.which("unshare"):
        mount = ["unshare", "-m", "sh", "-c",
                 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"', str(source)]
        if subprocess.run([*mount, "true"], capture_output=True).returncode == 0:
            prefix = mount
    try:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, **kwargs)
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | 0o200)


@pytest.mark.parametrize("build", ["no-build-isolation", "isolated", "editable"])
def test_install_from_a_read_only_checkout_writes_nothing_into_it(build, tmp_path, request):
    source = tmp_path / "checkout"
    _copy_sources(source)
    before = _snapshot(source)
    target = tmp_path / "site"
    # --ignore-installed: an install elsewhere (--prefix, --target) must not uninstall this venv's own.
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed"]
    env = dict(os.environ)
    if build == "isolated":  # setuptools from PyPI, into a fresh build environment
        pip += ["--isolated", "--index-url", request.getfixturevalue("pypi"), "--target", str(target), str(source)]
        env = {**{k: v for k, v in env.items() if not k.startswith("PIP_")}, "PIP_CONFIG_FILE": os.devnull}
    elif build == "editable":
        pip += ["--no-build-isolation", "--prefix", str(target), "-e", str(source)]
    else:
        pip += ["--no-build-isolation", "--target", str(target), str(source)]
    result = _run_read_only(source, pip, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _snapshot(source) == before  # no build/, no slimkeras.egg-info
    if build == "editable":  # the install points at the checkout
        (site,) = target.glob("lib/python*/site-packages")
        code = ("import importlib.util, json, site, sys; site.addsitedir(sys.argv[1]); "
                "print(json.dumps([importlib.util.find_spec(p).origin for p in sys.argv[2:]]))")
        # -S: this venv's own (editable) install stays out; only the one under test is seen.
        found = subprocess.run([sys.executable, "-S", "-c", code, str(site), *PACKAGES], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
        assert found.returncode == 0, found.stderr[-3000:]
        assert json.loads(found.stdout) == [str(source / p / "__init__.py") for p in PACKAGES]
    else:
        assert {p.name for p in target.iterdir()} >= {*PACKAGES, "bin"}
        assert (target / "training" / "flags" / "us_mbv1_fashion.flags").is_file()


# -- TensorFlow's start-up lines when keras is imported first ---------------------------------------
def _python(code):
    """A user's interpreter: no TF_CPP_MIN_LOG_LEVEL (conftest sets one for the tests)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


USE_A_DEVICE = "import tensorflow as tf\ntf.constant(1.0)\nprint(len(tf.config.list_physical_devices('GPU')))\n"


def _assert_quiet(stderr, gpus):
    from _slimkeras_startup import NOISE

    if gpus:  # a GPU's own lines ("Created device ...") may follow; the CPU-only ones may not
        assert not [line for line in stderr.splitlines() if any(n in line for n in NOISE)], stderr
    else:
        assert stderr == "", stderr


KERAS_FIRST = ("import sys\nimport keras\nsys.stderr.write('<keras imported>\\n')\nsys.stderr.flush()\n"
               "import slimkeras\n" + USE_A_DEVICE)


def test_keras_imported_first_prints_nothing():
    """TensorFlow prints its start-up lines to descriptor 2 while `import keras` imports it; the
    start-up hook in site-packages (a wheel installs it, `make` copies it beside the editable
    install) catches them, and from `import slimkeras` on nothing comes, not even cuInit's line."""
    import sysconfig

    hook = Path(sysconfig.get_paths()["purelib"]) / "slimkeras_startup.pth"
    assert hook.is_file(), f"{hook} is missing: `make setup` copies it beside an editable install"
    result = _python(KERAS_FIRST)
    before, after = result.stderr.split("<keras imported>\n")
    gpus = int(result.stdout.split()[-1])
    _assert_quiet(before, gpus)
    _assert_quiet(after, gpus)


def test_the_wheels_start_up_hook_is_what_makes_keras_first_quiet(wheel, tmp_path):
    """From the wheel alone: its .pth, processed as site-packages' are, quiets `import keras`; without
    it (or with SLIMKERAS_QUIET_STARTUP=0) TensorFlow's lines are there."""
    import sysconfig

    from _slimkeras_startup import NOISE

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    purelib = sysconfig.get_paths()["purelib"]
    # -S: no site-packages processing, so only the wheel's .pth (through addsitedir) can install the hook.
    prelude = f"import sys, site\nsys.path.append({purelib!r})\n"
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")}
    outcomes = {}
    for case, extra in (("hook", f"site.addsitedir({str(target)!r})\n"), ("none", f"sys.path.insert(0, {str(target)!r})\n")):
        result = subprocess.run([sys.executable, "-S", "-c", prelude + extra + KERAS_FIRST], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        outcomes[case] = result.stderr.split("<keras imported>\n")[0]
    assert not any(n in outcomes["hook"] for n in NOISE), outcomes["hook"]
    assert any(n in outcomes["none"] for n in NOISE), "TensorFlow printed nothing: the test proves nothing"


def test_slimkeras_imported_before_keras_prints_nothing():
    result = _python("import slimkeras\nimport keras\n" + USE_A_DEVICE)
    _assert_quiet(result.stderr, int(result.stdout.split()[-1]))
