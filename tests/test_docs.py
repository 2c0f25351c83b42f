"""The documentation stays true: its scene examples compile and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthlang import compile_string
from synthlang.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs" / "tutorial.md"]


def _blocks(page: Path) -> list[str]:
    return re.findall(r"```scene\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def _fenced(page: Path, language: str) -> list[str]:
    """Lines inside ```LANGUAGE fences."""
    lines, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside and line[3:].strip() == language
            continue
        if inside:
            lines.append(line)
    return lines


EXAMPLES = [(page, i) for page in PAGES for i in range(len(_blocks(page)))]


@pytest.mark.parametrize(("page", "index"), EXAMPLES, ids=[f"{p.name}-{i}" for p, i in EXAMPLES])
def test_scene_examples_compile(page: Path, index: int) -> None:
    # examples import "lib/..." relative to scenes/, where a user's scene lives
    compile_string(_blocks(page)[index], filename=str(ROOT / "scenes" / "example.scene"))


def test_tutorial_has_examples() -> None:
    assert len(_blocks(ROOT / "docs" / "tutorial.md")) >= 4


@pytest.mark.parametrize("page", PAGES + [ROOT / "docs" / "fit.md"], ids=lambda p: p.name)
def test_documented_commands_exist(page: Path) -> None:
    indented = [ln.strip() for ln in page.read_text().splitlines() if ln.startswith("    ")]
    code = "\n".join(_fenced(page, "bash") + indented)
    used = set(re.findall(r"(?:^|&& |\$ )synthlang (\w+)", code, flags=re.M))
    assert used, f"{page.name} shows no synthlang command"
    assert used <= set(COMMANDS), f"{page.name} uses unknown commands {used - set(COMMANDS)}"


def test_readme_commands_match_ci() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(
        line.strip() for line in readme.splitlines() if "pytest" in line and "pip" in line
    )
    assert test_cmd in ci, "the README's test command must be what .ci/run runs"


DOC_PAGES = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "models").glob("*.md")]
)


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    missing = []
    for target in targets:
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # URLs and anchors
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"
