"""Rendered samples of every shipped scene are byte-identical to recorded hashes.

The hashes in ``golden_renders.json`` were recorded before the code was restructured
(issue 12); a change of any pixel of any output of these samples fails here. Refresh them
only for an intended change of the rendered output::

    python tests/scenes/test_golden_renders.py --write

A sample may have a list of accepted hashes, one per CPU family: numpy computes some float
functions (float32 ``power``, float64 ``exp`` / ``log``) in separate AVX-512 loops whose last
bits differ from its other loops, so ``scenes/he_tumor_nuclei.scene`` (gamma, stain vectors)
renders other bytes on AVX-512 machines than on AVX2 ones (2026-12-07; the paper's scenes
do not). ``--write`` keeps such a list when this machine's hash is in it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import synthlang

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden_renders.json")
SCENES = {
    "scenes/scenario1.scene": (0, 7),
    "scenes/scenario2.scene": (0, 7),
    "scenes/scenario3.scene": (0, 7),
    "scenes/he_tumor_nuclei.scene": (3,),
}


def sample_digest(scene_path: str, seed: int) -> str:
    """SHA-256 over every output array and the instance records of one sample."""
    scene = synthlang.compile_file(ROOT / scene_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = synthlang.render(scene, seed)
    h = hashlib.sha256()
    for name in ("noisy", "clean", "mask", "instance_map", "layer_map", "regions"):
        arr = getattr(sample, name)
        if arr is None:
            h.update(name.encode() + b":none")
            continue
        arr = np.ascontiguousarray(arr)
        h.update(f"{name}:{arr.dtype}:{arr.shape}".encode())
        h.update(arr.tobytes())
    # the instance records as they were recorded (fields added later are not part of it)
    records = [
        (r.id, r.category, r.layer, r.center, r.area, r.visible_area, r.parent, r.classified)
        for r in sample.instances
    ]
    h.update(repr(records).encode())
    h.update(json.dumps(sample.counts, sort_keys=True).encode())
    h.update(repr(sample.shortfalls).encode())
    return h.hexdigest()


def ir_digest(scene_path: str) -> str:
    """SHA-256 of the compiled IR's meaning (as ``scene_hash``; paths relative to the repository).

    Optional fields added to the IR later are left out while unset, as in ``scene_hash``.
    """
    from synthlang.ir.scene import _strip_spans

    scene = synthlang.compile_file(ROOT / scene_path)
    text = json.dumps(_strip_spans(scene.model_dump(mode="json")), sort_keys=True)
    return hashlib.sha256(text.replace(str(ROOT), "<root>").encode()).hexdigest()


CASES = [(path, seed) for path, seeds in SCENES.items() for seed in seeds]


@pytest.mark.parametrize(("path", "seed"), CASES, ids=[f"{p}@{s}" for p, s in CASES])
def test_render_matches_golden(path: str, seed: int) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert sample_digest(path, seed) in _accepted(golden[f"{path}@{seed}"])


def _accepted(entry: str | list[str]) -> list[str]:
    """The recorded hashes of a sample (one, or one per CPU family)."""
    return [entry] if isinstance(entry, str) else list(entry)


@pytest.mark.parametrize("path", list(SCENES))
def test_ir_matches_golden(path: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert ir_digest(path) == golden[f"{path}:ir"]


if __name__ == "__main__":  # pragma: no cover - refresh the recorded hashes
    if "--write" not in sys.argv:
        raise SystemExit("usage: python tests/scenes/test_golden_renders.py --write")
    old = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    table: dict[str, str | list[str]] = {}
    for p, s in CASES:
        key, digest = f"{p}@{s}", sample_digest(p, s)
        known = _accepted(old.get(key, []))
        table[key] = old[key] if len(known) > 1 and digest in known else digest
    table.update({f"{p}:ir": ir_digest(p) for p in SCENES})
    GOLDEN.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(table)} hashes to {GOLDEN}")
