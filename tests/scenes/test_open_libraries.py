"""The libraries fitted from open data regenerate from the commands in their headers.

``scenes/lib/puma_melanoma`` and ``scenes/lib/nucls_breast`` are derived from third-party
CC0 data that is not in the repository; these tests rerun the recorded ``synthlang fit``
command where the data is available and check that the numbers and the cut-outs are the same,
and (always) that the recorded commands use only the fitting splits.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBS = {
    "puma_melanoma": ROOT / "scenes" / "lib" / "puma_melanoma" / "puma_melanoma.scene",
    "nucls_breast": ROOT / "scenes" / "lib" / "nucls_breast" / "nucls_breast.scene",
}


def _command(scene: Path) -> list[str]:
    """The ``synthlang fit`` argv recorded in a library's header."""
    for line in scene.read_text(encoding="utf-8").splitlines():
        if line.startswith("# command: "):
            return shlex.split(line[len("# command: ") :])
    raise AssertionError(f"{scene}: no '# command:' line")


def _lets(text: str) -> dict[str, str]:
    """``let`` name -> expression of a library file."""
    return dict(re.findall(r"^let (\w+) = (.*)$", text, flags=re.M))


@pytest.mark.parametrize("name", sorted(LIBS))
def test_recorded_command_uses_only_fit_splits(name: str) -> None:
    argv = _command(LIBS[name])
    inputs = [a for a in argv if a.endswith((".tif", ".png", ".npz")) and "/" in a]
    assert inputs
    if name == "puma_melanoma":
        # only the top half (rows 0-511) of the ROI; the EVAL half is never read
        assert argv[argv.index("--crop") + 1] == "0:512,:"
    else:
        assert all("/train/" in a for a in inputs)
        assert not any("/test/" in a for a in argv)


@pytest.mark.parametrize("name", sorted(LIBS))
def test_library_regenerates(name: str, realdata: Path, tmp_path: Path) -> None:
    scene = LIBS[name]
    argv = _command(scene)
    out = tmp_path / scene.name
    argv[argv.index("-o") + 1] = str(out)
    assert argv[:2] == ["synthlang", "fit"]
    subprocess.run(
        [sys.executable, "-m", "synthlang", *argv[1:]],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert _lets(out.read_text(encoding="utf-8")) == _lets(scene.read_text(encoding="utf-8"))
    for folder in scene.parent.iterdir():
        if folder.is_dir():
            for png in folder.glob("*.png"):
                assert (tmp_path / folder.name / png.name).read_bytes() == png.read_bytes()
