"""examples/quickstart.ipynb runs in a real Jupyter kernel and gets the numbers it promises."""

import json
import os
import sys
from pathlib import Path

import pytest

from fashion_data import needs_fashion

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
pytestmark = needs_fashion


def test_the_committed_notebook_has_no_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        assert not cell.get("outputs") and not cell.get("execution_count"), cell["source"][:80]


def test_quickstart_notebook_trains_every_width_and_exports_what_keras_computes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + sys.path)  # the kernel imports this checkout
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for out in cell.get("outputs", []) if out.get("name") == "stdout")
    summary = json.loads(printed.split("QUICKSTART ", 1)[1].splitlines()[0])
    top1 = {float(w): a for w, a in summary["top1"].items()}
    assert len(top1) == 8 and min(top1.values()) > 0.6, top1  # chance is 0.1
    assert top1[1.0] >= top1[0.25] - 0.02, top1
    assert len(summary["tflite_gap"]) == 3 and max(summary["tflite_gap"].values()) <= 1e-5, summary
    images = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the curves and the spectrum, inline
    stderr = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for o in cell.get("outputs", []) if o.get("name") == "stderr")
    assert "reader.cc" not in stderr and "Assets written" not in stderr, stderr[-2000:]
    assert (tmp_path / "quickstart_export" / "manifest.json").is_file()
