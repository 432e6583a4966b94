"""The README's notebook section runs verbatim (its Python blocks in order, one namespace)."""

import re
from pathlib import Path

import keras
import pytest

from fashion_data import needs_fashion

ROOT = Path(__file__).resolve().parents[1]
pytestmark = needs_fashion


def notebook_blocks():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## In a notebook\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_notebook_section_runs_as_written(tmp_path, monkeypatch):
    blocks = notebook_blocks()
    assert len(blocks) == 2 and "SlimmableTrainer" in blocks[1]
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    names = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), names)
    assert len(names["history"].history["val_top1_w0.25"]) == 1
    assert [r["width"] for r in names["rows"]] == [0.25, 0.5, 0.75, 1.0]
    assert all(0.0 <= r["top1"] <= 1.0 for r in names["rows"])
    loaded = keras.models.load_model(tmp_path / "us_mbv1.keras")
    assert type(loaded).__name__ == "SlimmableModel"
    assert loaded.width_spec.get_config() == names["net"].width_spec.get_config()
    assert sorted(m["path"] for m in names["manifest"]["models"]) == sorted(
        f"w{w}_{p}.tflite" for w in ("0.25", "0.5", "1.0") for p in ("fp32", "int8"))
    with pytest.raises(ValueError, match="WidthEvaluation"):
        names["trainer"].fit(names["x_train"], names["y_train"], validation_data=(names["x_test"], names["y_test"]))
