"""Fuzzing harness shared by ``tests/fuzz`` and ``benchmarks/fuzz_campaign.py``.

A *case* is a list of token-level edits of one file of a shipped scene (the
main scene or a library it imports). :func:`run_scene_case` writes the edited
scene tree into a work folder, compiles it with small limits and, when that
succeeds, renders and encodes one sample. The outcome is one of

* ``ok`` -- compiled and rendered, with valid arrays;
* ``error:<Class>`` -- a :class:`~synthlang.common.errors.SynthlangError` (compile
  errors must carry a span inside the sources);
* ``bug:<what>`` -- anything else: another exception, an error without a
  position, a NaN in an image, a wrong shape.

Hangs are caught by the callers (a watchdog in the tests, a killed worker
process in the campaign). Everything is deterministic given the case.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCENES = ROOT / "scenes"

MAIN_SCENES: dict[str, tuple[str, ...]] = {
    "scenario1.scene": ("scenario1.scene", "lib/if_melanoma.scene"),
    "scenario2.scene": ("scenario2.scene", "lib/he_melanoma.scene"),
    "scenario3.scene": (
        "scenario3.scene",
        "lib/he_stardist/he_stardist.scene",
        "lib/he_melanoma.scene",
    ),
}
"""Each shipped scene with the files it reads (the first is the scene itself)."""

SCENE_FILES = sorted({f for files in MAIN_SCENES.values() for f in files})
SMALL_SIDE = 48
"""The shipped scenes are 300 x 300; the fuzzer renders them at this size."""

TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"?'  # strings (also unterminated)
    r"|#[^\n]*"  # comments
    r"|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"  # numbers
    r"|[A-Za-z_][A-Za-z0-9_]*"  # names and keywords
    r"|==|!=|>=|<="
    r"|\s+"
    r"|.",
    re.DOTALL,
)

EXTREME_NUMBERS = (
    "0",
    "-1",
    "-0",
    "1e308",
    "-1e308",
    "1e999",
    "1e-320",
    "nan",
    "inf",
    "99999999999999999999999",
    "65536",
    "16384",
    "100000",
    "1e6",
    "0.5",
    "3.5",
    "1e-9",
    "2",
)
WEIRD_STRINGS = (
    '"trap.py"',
    '"folder.scene"',
    '"zero.scene"',
    '"fifo.scene"',
    '"loop.scene"',
    '"big.scene"',
    '""',
    '"/"',
    '"../../../../../../etc/passwd"',
    '"lib"',
    '"scenario1.scene"',
    '"lib/he_stardist/tumor_texture"',
    '"lib/he_stardist/tumor_nuclei"',
    '"lib/he_stardist/badlib"',
    '"lib/he_stardist/source"',
    '"\\n"',
)
VOCABULARY = (
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "x",
    "of",
    "let",
    "layer",
    "scene",
    "import",
    "place",
    "count",
    "fill",
    "inside",
    "overlap",
    "none",
    "with",
    "in",
    "not",
    "regions",
    "all",
    "as",
    "mask",
    "classes",
    ":",
    "polygon",
    "synthlang:he_melanoma",
    "where",
    "and",
    "or",
    "visible",
    "area",
    "degrade",
    "blur",
    "noise",
    "ellipse",
    "grown",
    "ribbon",
    "patch",
    "patches",
    "uniform",
    "normal",
    "randint",
    "choice",
    "truncnormal",
    "mvn",
    "rgb",
    "gaussian_field",
    "voronoi",
    "fast_marching",
    "contour",
    "true",
    "false",
    "=",
    "==",
    ">",
    "-",
    ".",
    "#",
    '"',
    "\n",
    "size",
    "attempts",
    "failures",
    "probability",
)
RANDOM_BYTES = (
    b"\x00",
    b"\xff",
    b"\xe9",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b"\r",
    b"\t",
    b'"',
    b"\\",
    b"{",
    b"(",
    b"\xef\xbb\xbf",
    b"\xf0\x9f\x98\x80",
    b"\x7f",
)
NUDGES = (0.0, 0.5, 2.0, 0.9, 1.1, 3.0, 10.0, 0.1, 1.5, 100.0, -1.0, 0.01)
"""Factors of the ``nudge`` edit: a number changed to a nearby, usually valid value."""
OPS = (
    "nudge",
    "delete",
    "duplicate",
    "swap",
    "number",
    "insert",
    "bytes",
    "truncate",
    "string",
    "name",
    "repeat",
)


@dataclass(frozen=True)
class Edit:
    """One token-level edit: an operation, a position and a payload selector."""

    op: str
    pos: int
    arg: int


@dataclass(frozen=True)
class SceneCase:
    """A fuzz case: a shipped scene, which of its files to edit, and the edits."""

    scene: str
    target: int
    edits: tuple[Edit, ...]
    seed: int = 0

    @property
    def target_file(self) -> str:
        """Relative path of the edited file."""
        files = MAIN_SCENES[self.scene]
        return files[self.target % len(files)]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able description (for reproducer folders)."""
        return {
            "scene": self.scene,
            "target": self.target_file,
            "seed": self.seed,
            "edits": [[e.op, e.pos, e.arg] for e in self.edits],
        }


def tokens(data: bytes) -> list[bytes]:
    """Split scene text into tokens (whitespace and comments kept), losslessly."""
    text = data.decode("utf-8", errors="surrogateescape")
    out = [m.group(0) for m in TOKEN.finditer(text)]
    return [t.encode("utf-8", errors="surrogateescape") for t in out]


def _solid(toks: Sequence[bytes]) -> list[int]:
    return [i for i, t in enumerate(toks) if t.strip() and not t.startswith(b"#")]


def apply_edit(toks: list[bytes], edit: Edit) -> list[bytes]:
    """Apply one edit to a token list (a new list is returned)."""
    toks = list(toks)
    solid = _solid(toks)
    if not toks:
        return [VOCABULARY[edit.arg % len(VOCABULARY)].encode()]
    op = edit.op
    if op == "truncate":
        data = b"".join(toks)
        cut = edit.pos % (len(data) + 1)
        return tokens(data[:cut]) if cut else []
    if op == "bytes":
        i = edit.pos % (len(toks) + 1)
        rng = random.Random(edit.arg)
        junk = b"".join(rng.choice(RANDOM_BYTES) for _ in range(rng.randint(1, 4)))
        return toks[:i] + [junk] + toks[i:]
    if op == "insert":
        i = edit.pos % (len(toks) + 1)
        word = VOCABULARY[edit.arg % len(VOCABULARY)].encode()
        return toks[:i] + [b" " + word + b" "] + toks[i:]
    if not solid:
        return toks
    i = solid[edit.pos % len(solid)]
    if op == "delete":
        del toks[i]
    elif op == "duplicate":
        toks.insert(i, toks[i] + b" ")
    elif op == "swap":
        j = solid[edit.arg % len(solid)]
        toks[i], toks[j] = toks[j], toks[i]
    elif op == "repeat":
        j = min(len(toks), i + 1 + edit.arg % 6)
        times = 1 + (edit.arg // 6) % 80
        toks[i:j] = toks[i:j] * times
    elif op in ("number", "nudge", "string", "name"):
        is_number = lambda t: t[:1].isdigit() or (t[:1] == b"." and t[1:2].isdigit())  # noqa: E731
        kinds = {
            "number": is_number,
            "nudge": is_number,
            "string": lambda t: t.startswith(b'"'),
            "name": lambda t: t[:1].isalpha() or t[:1] == b"_",
        }
        matching = [k for k in solid if kinds[op](toks[k])]
        if not matching:
            return toks
        k = matching[edit.pos % len(matching)]
        if op == "number":
            toks[k] = EXTREME_NUMBERS[edit.arg % len(EXTREME_NUMBERS)].encode()
        elif op == "nudge":
            value = float(toks[k]) * NUDGES[edit.arg % len(NUDGES)]
            toks[k] = (str(int(value)) if value.is_integer() else f"{value:.6g}").encode()
        elif op == "string":
            toks[k] = WEIRD_STRINGS[edit.arg % len(WEIRD_STRINGS)].encode()
        else:
            names = sorted({toks[m] for m in solid if kinds["name"](toks[m])})
            toks[k] = names[edit.arg % len(names)]
    return toks


def mutate(data: bytes, edits: Sequence[Edit]) -> bytes:
    """Apply ``edits`` in order to a file's bytes."""
    toks = tokens(data)
    for edit in edits:
        toks = apply_edit(toks, edit)
    return b"".join(toks)


OP_WEIGHTS = {
    "nudge": 40,
    "number": 15,
    "name": 10,
    "string": 6,
    "swap": 6,
    "delete": 6,
    "duplicate": 5,
    "insert": 6,
    "repeat": 4,
    "bytes": 5,
    "truncate": 5,
}
"""How often the campaign draws each edit: mostly edits that keep the syntax."""


def random_case(rng: random.Random) -> SceneCase:
    """Draw a case (used by the campaign; the tests draw with Hypothesis)."""
    scene = rng.choice(sorted(MAIN_SCENES))
    n = rng.choice((1, 1, 1, 1, 2, 2, 3, 5))
    ops = list(OP_WEIGHTS)
    weights = [OP_WEIGHTS[o] for o in ops]
    edits = tuple(
        Edit(rng.choices(ops, weights)[0], rng.randrange(1 << 16), rng.randrange(1 << 16))
        for _ in range(n)
    )
    return SceneCase(scene, rng.randrange(4), edits, seed=rng.randrange(1 << 16))


# --------------------------------------------------------------------------- the work folder


def original(rel: str) -> bytes:
    """A shipped scene file, resized to :data:`SMALL_SIDE` for speed."""
    data = (SCENES / rel).read_bytes()
    return data.replace(b"size 300 x 300", f"size {SMALL_SIDE} x {SMALL_SIDE}".encode())


def prepare_workdir(work: Path) -> None:
    """Lay out a copy of ``scenes/`` (libraries linked) plus traps that edits can point at.

    Traps: a Python file, a folder named ``.scene``, links to ``/dev/zero``
    and in a loop, a named pipe, a file above the fuzz source limit, and a
    patch library whose index is garbage.
    """
    work.mkdir(parents=True, exist_ok=True)
    for rel in SCENE_FILES:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
    lib = SCENES / "lib" / "he_stardist"
    for child in lib.iterdir():
        if child.is_dir():
            link = work / "lib" / "he_stardist" / child.name
            if not link.exists():
                link.symlink_to(child, target_is_directory=True)
    (work / "trap.py").write_text("import os\nos.system('echo pwned')\n")
    (work / "folder.scene").mkdir(exist_ok=True)
    bad = work / "lib" / "he_stardist" / "badlib"
    bad.mkdir(exist_ok=True)
    (bad / "index.json").write_text('{"format": "synthlang-patches", "kind": "nuclei", "items": 7}')
    for name, target in (("zero.scene", "/dev/zero"), ("loop.scene", "loop.scene")):
        link = work / name
        if not link.is_symlink():
            link.symlink_to(target)
    fifo = work / "fifo.scene"
    if not fifo.exists() and hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
    (work / "big.scene").write_bytes(b"let big = 1\n" * (FUZZ_SOURCE_BYTES // 12 + 10))


def write_case(work: Path, case: SceneCase) -> Path:
    """Write the scene files of ``case`` (all originals, then the edited one); return the scene."""
    for rel in MAIN_SCENES[case.scene]:
        (work / rel).write_bytes(original(rel))
    target = case.target_file
    (work / target).write_bytes(mutate(original(target), case.edits))
    return work / case.scene


# --------------------------------------------------------------------------- running a case

FUZZ_SOURCE_BYTES = 200_000


def fuzz_limits() -> Any:
    """Small limits, so that every scene that compiles renders in well under a second."""
    from synthlang.common.limits import Limits

    return Limits(
        max_side=128,
        max_pixels=96 * 96,
        max_count=2_000,
        max_import_depth=8,
        max_source_bytes=FUZZ_SOURCE_BYTES,
        max_render_bytes=256 * 1024**2,
    )


def _check_sample(sample: Any, size: tuple[int, int]) -> str | None:
    """Why a rendered sample is invalid (None when it is fine)."""
    rows, cols = size
    for name, shape in (
        ("noisy", (rows, cols, 3)),
        ("clean", (rows, cols, 3)),
        ("mask", (rows, cols)),
    ):
        a = getattr(sample, name)
        if a.shape != shape or a.dtype != np.float32:
            return f"{name} has shape {a.shape} {a.dtype}, expected {shape} float32"
        if not np.all(np.isfinite(a)):
            return f"{name} has NaN or infinite values"
        if a.size and (a.min() < 0 or a.max() > 1):
            return f"{name} has values outside [0, 1]: {a.min()}..{a.max()}"
    if sample.instance_map.shape != (rows, cols):
        return f"instance_map has shape {sample.instance_map.shape}"
    return None


def classify(exc: BaseException, *, stage: str, sources: Sequence[Path]) -> str:
    """The outcome of a case that raised ``exc`` during ``stage`` (compile or render)."""
    from synthlang.common.errors import SynthlangError

    if not isinstance(exc, SynthlangError):
        return f"bug:{stage}:{type(exc).__name__}"
    name = type(exc).__name__
    if stage == "compile":
        span = exc.span
        if span is None:
            return f"bug:compile:{name} without a position"
        if span.line < 1 or span.column < 1:
            return f"bug:compile:{name} with a bad position {span}"
        str(exc)  # rendering the message must work
    else:
        str(exc)
    return f"error:{name}"


def run_scene_case(
    work: Path,
    case: SceneCase,
    *,
    render: bool = True,
    on_compiled: Callable[[], None] | None = None,
) -> tuple[str, str]:
    """Run one case in the prepared folder ``work``.

    Parameters
    ----------
    work : Path
        A folder prepared with :func:`prepare_workdir`.
    case : SceneCase
        The case.
    render : bool, optional
        Render (and PNG-encode) one sample when the scene compiles.
    on_compiled : callable, optional
        Called between compiling and rendering (tests use it to reset a watchdog).

    Returns
    -------
    outcome : str
        ``ok``, ``error:<Class>`` or ``bug:<what>``.
    detail : str
        The error message or traceback ("" for ``ok``).
    """
    from synthlang.data.sampleio import encode_sample
    from synthlang.engine.render import render as render_sample
    from synthlang.engine.sampling import sample_seed
    from synthlang.lang.compile import compile_file

    path = write_case(work, case)
    sources = [work / rel for rel in MAIN_SCENES[case.scene]]
    limits = fuzz_limits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # placement shortfalls
        warnings.simplefilter("error", RuntimeWarning)  # numeric trouble is a bug
        try:
            scene = compile_file(path, limits=limits)
        except Exception as exc:
            return classify(exc, stage="compile", sources=sources), _describe(exc)
        if not render:
            return "ok", ""
        if on_compiled is not None:
            on_compiled()
        try:
            from synthlang.ir.budget import check_render_bytes

            check_render_bytes(scene, limits)
            sample = render_sample(scene, seed=sample_seed(case.seed, 0))
            problem = _check_sample(sample, scene.size)
            if problem is not None:
                return "bug:render:invalid sample", problem
            encoded = encode_sample(scene, index=0, seed=case.seed, n=1)
            json.loads(encoded.files["json"])
            from PIL import Image

            with Image.open(io.BytesIO(encoded.files["noisy"])) as img:
                img.load()
        except Exception as exc:
            return classify(exc, stage="render", sources=sources), _describe(exc)
    return "ok", ""


def _describe(exc: BaseException) -> str:
    from synthlang.common.errors import SynthlangError

    if isinstance(exc, SynthlangError):
        return str(exc)
    return "".join(traceback.format_exception(exc))


def save_reproducer(folder: Path, work: Path, case: SceneCase, outcome: str, detail: str) -> Path:
    """Copy the edited scene files and the case description into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel in MAIN_SCENES[case.scene]:
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / rel, dest)
    (folder / "case.json").write_text(
        json.dumps({**case.to_json(), "outcome": outcome}, indent=1) + "\n"
    )
    (folder / "detail.txt").write_text(detail)
    return folder
