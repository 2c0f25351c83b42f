"""Fuzzing the scene language: edited shipped scenes compile and render, or fail with a
SynthlangError that says where; never another exception, never a hang.

Hypothesis draws cases of ``tests/fuzz/harness.py`` (token edits of scenario1-3 and the
libraries they import, rendered at 48 x 48). Examples are derandomized so CI is repeatable;
``SYNTHLANG_FUZZ_EXAMPLES=2000`` runs more; ``benchmarks/fuzz_campaign.py`` runs many more.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import deadline
from tests.fuzz.harness import (
    MAIN_SCENES,
    OP_WEIGHTS,
    WEIRD_STRINGS,
    Edit,
    SceneCase,
    prepare_workdir,
    run_scene_case,
)

EXAMPLES = int(os.environ.get("SYNTHLANG_FUZZ_EXAMPLES", "120"))
CASE_SECONDS = 20.0
"""A case (compile + one 48 x 48 render) takes well under a second; longer is a hang."""

WEIGHTED_OPS = [op for op, w in OP_WEIGHTS.items() for _ in range(w)]
edits = st.builds(
    Edit,
    st.sampled_from(WEIGHTED_OPS),
    st.integers(0, 1 << 16),
    st.integers(0, 1 << 16),
)
cases = st.builds(
    SceneCase,
    st.sampled_from(sorted(MAIN_SCENES)),
    st.integers(0, 3),
    st.lists(edits, min_size=1, max_size=4).map(tuple),
    st.integers(0, 1 << 16),
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-scenes")
    prepare_workdir(folder)
    return folder


def check(work: Path, case: SceneCase) -> str:
    with deadline(CASE_SECONDS):
        outcome, detail = run_scene_case(work, case)
    assert not outcome.startswith("bug"), f"{outcome} for {case.to_json()}:\n{detail}"
    return outcome


@pytest.mark.parametrize("scene", sorted(MAIN_SCENES))
def test_unedited_scenes_render(work: Path, scene: str) -> None:
    assert check(work, SceneCase(scene, 0, ())) == "ok"


@pytest.mark.parametrize("string", range(len(WEIRD_STRINGS)), ids=WEIRD_STRINGS)
def test_every_trap_path_fails_cleanly(work: Path, string: int) -> None:
    """Imports and library paths pointing at a .py file, a folder, /dev/zero, a FIFO, a
    symlink loop, a huge file, a broken library, ... (each string in each position)."""
    for scene in sorted(MAIN_SCENES):
        for pos in range(4):
            check(work, SceneCase(scene, 0, (Edit("string", pos, string),)))


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # the per-case watchdog above is the time limit
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases)
def test_edited_scenes_fail_cleanly_or_render(work: Path, case: SceneCase) -> None:
    check(work, case)
