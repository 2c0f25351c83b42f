"""The Python snippets of docs/dataset.md run against a rendered dataset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthlang.data.dataset import render_dataset
from synthlang.lang.compile import compile_file, compile_string
from tests.synthlang.data.conftest import ALL_FORMATS, CLASSES_SCENE

DOC = Path(__file__).resolve().parents[3] / "docs" / "dataset.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(SNIPPETS) >= 5
    monkeypatch.chdir(tmp_path)
    render_dataset(
        compile_string(CLASSES_SCENE), 8, "data/he_nuclei_classes", seed=3, formats=ALL_FORMATS
    )
    # the version-3 example: four channels, 16 bit
    example = DOC.parents[1] / "scenes" / "examples" / "if_multiplex.scene"
    render_dataset(compile_file(example), 1, "data/if_multiplex", seed=0)
    for i, code in enumerate(SNIPPETS):
        exec(compile(code, f"{DOC}:snippet{i}", "exec"), {"print": lambda *a: None})
