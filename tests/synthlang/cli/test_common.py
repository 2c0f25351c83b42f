"""Argparse value types shared by the subcommands (``synthlang.cli._common``)."""

from __future__ import annotations

import argparse

import pytest

from synthlang.cli._common import (
    fraction,
    non_negative_int,
    positive_fraction,
    positive_int,
    shard_arg,
)


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("0.25", 0.25), ("1", 1.0)])
def test_fraction_accepts_closed_unit_interval(text: str, value: float) -> None:
    assert fraction(text) == value


@pytest.mark.parametrize("text", ["-0.1", "1.5", "nan", "abc", ""])
def test_fraction_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        fraction(text)


def test_positive_fraction_excludes_zero() -> None:
    assert positive_fraction("1") == 1.0
    assert positive_fraction("1e-3") == pytest.approx(1e-3)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(0, 1\]"):
        positive_fraction("0")


def test_integer_types() -> None:
    assert positive_int("3") == 3
    assert non_negative_int("0") == 0
    for bad, fn in (("0", positive_int), ("-1", non_negative_int), ("1.5", positive_int)):
        with pytest.raises(argparse.ArgumentTypeError):
            fn(bad)


def test_shard_arg() -> None:
    assert shard_arg("2/4") == (2, 4)
    with pytest.raises(argparse.ArgumentTypeError):
        shard_arg("5/4")
