"""Fixtures of the ``synthlang fit`` tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.synthlang.fit.helpers import make_synthetic


@pytest.fixture
def synthetic(tmp_path: Path) -> dict[str, Any]:
    return make_synthetic(tmp_path)
