"""``synthlang blocks``: the reference printed from the IR declarations."""

from __future__ import annotations

import pytest

from synthlang.cli.main import main
from synthlang.lang.blocks import SIGNATURES


def test_blocks_prints_every_block(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blocks"]) == 0
    out = capsys.readouterr().out
    for sig in SIGNATURES.values():
        assert f"### `{sig.usage()}`" in out


def test_blocks_prints_one_with_its_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blocks", "polygon"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### `polygon(vertices, radius, [irregularity], [angle], [scale])`")
    assert (
        "| `vertices` | a number or a distribution | required | >= 3, <= 64, whole numbers |" in out
    )
    assert "| `irregularity` | a number or a distribution | 0.3 | in [0, 1] |" in out
    assert "ellipse" not in out


def test_blocks_refuses_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blocks", "polygn"]) == 2
    err = capsys.readouterr().err
    assert "`polygn` is not a building block; did you mean `polygon`?" in err
