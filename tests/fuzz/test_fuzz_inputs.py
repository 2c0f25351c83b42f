"""Fuzzing the other inputs a user gets from anyone: images, label images, GeoJSON and npz
files for ``synthlang fit``, and dataset folders for the readers. Every outcome is a result or
a SynthlangError naming the file; never another exception, never a hang."""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthlang.common.errors import SynthlangError
from synthlang.common.imageio import write_png
from synthlang.data.dataset import render_dataset
from synthlang.data.sampleio import iter_samples, read_manifest
from synthlang.fit import FitOptions, fit_files
from tests.conftest import deadline

EXAMPLES = int(os.environ.get("SYNTHLANG_FUZZ_EXAMPLES", "120")) // 2
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
SIDE = 40

# --------------------------------------------------------------------------- byte mutations

patches = st.lists(
    st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)), max_size=4
)
byte_edits = st.tuples(patches, st.one_of(st.none(), st.integers(0, 1 << 20)))


def mutate_bytes(data: bytes, edit: tuple[list[tuple[int, bytes]], int | None]) -> bytes:
    """Overwrite a few byte runs, then maybe truncate."""
    out = bytearray(data)
    runs, cut = edit
    for pos, junk in runs:
        p = pos % max(len(out), 1)
        out[p : p + len(junk)] = junk
    if cut is not None:
        out = out[: cut % (len(out) + 1)]
    return bytes(out)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def replace_somewhere(data: Any, index: int, value: Any) -> Any:
    """Replace the ``index``-th node (pre-order) of a JSON document by ``value``."""
    counter = [index]

    def walk(node: Any) -> Any:
        if counter[0] == 0:
            counter[0] = -1
            return value
        counter[0] -= 1
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(data)


def expect_clean(call: Any) -> Any:
    """Run ``call`` under a watchdog; only SynthlangErrors may escape."""
    with deadline(20):
        try:
            return call()
        except SynthlangError as exc:
            assert str(exc)
            return exc


# --------------------------------------------------------------------------- fit inputs


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@functools.cache
def fit_inputs() -> dict[str, bytes]:
    """A small annotated image in every annotation format, as bytes (not a fixture, so that
    Hypothesis does not print it with every failing example)."""
    rng = np.random.default_rng(0)
    img = np.full((SIDE, SIDE, 3), 0.85, np.float32)
    lab = np.zeros((SIDE, SIDE), np.uint16)
    features = []
    k = 0
    for r in range(6, SIDE, 12):
        for c in range(6, SIDE, 12):
            k += 1
            img[r - 4 : r + 4, c - 4 : c + 4] = (0.3 + 0.03 * (k % 5), 0.2, 0.5)
            lab[r - 4 : r + 4, c - 4 : c + 4] = k
            ring = [[c - 4, r - 4], [c + 4, r - 4], [c + 4, r + 4], [c - 4, r + 4], [c - 4, r - 4]]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {"classification": {"name": "tumor" if k % 2 else "immune"}},
                }
            )
    img = np.clip(img + rng.normal(0, 0.02, img.shape).astype(np.float32), 0, 1)
    buf = io.BytesIO()
    np.savez_compressed(buf, inst_map=lab.astype(np.int32), inst_class4=np.arange(k + 1) % 4)
    return {
        "image": _png(np.rint(img * 255).astype(np.uint8)),
        "labels": _png(lab),
        "geojson": json.dumps({"type": "FeatureCollection", "features": features}).encode(),
        "npz": buf.getvalue(),
    }


def run_fit(tmp_path: Path, files: dict[str, bytes], kind: str) -> Any:
    """Write the inputs to a fresh folder and run fit with annotation ``kind``."""
    work = tmp_path / f"w{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    names = {"image": "a.png", "labels": "a_inst.png", "geojson": "a.geojson", "npz": "a.npz"}
    for key, data in files.items():
        (work / names[key]).write_bytes(data)
    sources: dict[str, Any] = {"auto": True} if kind == "auto" else {kind: [work / names[kind]]}
    return expect_clean(
        lambda: fit_files([work / "a.png"], work / "lib.scene", FitOptions(), **sources)
    )


def test_unmutated_fit_inputs_work(tmp_path: Path) -> None:
    for kind in ("labels", "geojson", "npz", "auto"):
        result = run_fit(tmp_path, fit_inputs(), kind)
        assert not isinstance(result, SynthlangError), f"{kind}: {result}"


@SETTINGS
@given(
    target=st.sampled_from(["image", "labels", "geojson", "npz"]),
    edit=byte_edits,
)
def test_fit_with_damaged_files(tmp_path: Path, target: str, edit: Any) -> None:
    files = dict(fit_inputs())
    files[target] = mutate_bytes(files[target], edit)
    kind = target if target != "image" else "labels"
    run_fit(tmp_path, files, kind)


@SETTINGS
@given(index=st.integers(0, 200), value=json_values)
def test_fit_with_odd_geojson(tmp_path: Path, index: int, value: Any) -> None:
    doc = replace_somewhere(json.loads(fit_inputs()["geojson"]), index, value)
    run_fit(tmp_path, {**fit_inputs(), "geojson": json.dumps(doc).encode()}, "geojson")


label_dtypes = st.sampled_from(["uint8", "uint16", "int32", "float32", "bool", "int64", "float64"])


@SETTINGS
@given(
    dtype=label_dtypes,
    rows=st.integers(0, 50),
    cols=st.integers(0, 50),
    fill=st.sampled_from(["zeros", "ids", "random", "negative", "nan", "huge"]),
    as_npz=st.booleans(),
)
def test_fit_with_odd_label_arrays(
    tmp_path: Path,
    dtype: str,
    rows: int,
    cols: int,
    fill: str,
    as_npz: bool,
) -> None:
    rng = np.random.default_rng(rows * 51 + cols)
    a = np.zeros((rows, cols), np.float64)
    if fill == "ids":
        a = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) % 7
    elif fill == "random":
        a = rng.integers(0, 1000, (rows, cols)).astype(np.float64)
    elif fill == "negative":
        a = -rng.integers(0, 5, (rows, cols)).astype(np.float64)
    elif fill == "nan":
        a = np.full((rows, cols), np.nan)
    elif fill == "huge":
        a = np.full((rows, cols), 1e12)
    with np.errstate(invalid="ignore", over="ignore"):
        arr = a.astype(dtype)
    if as_npz:
        buf = io.BytesIO()
        np.savez(buf, inst_map=arr, inst_class4=np.arange(5))
        run_fit(tmp_path, {**fit_inputs(), "npz": buf.getvalue()}, "npz")
        return
    from PIL import Image

    buf = io.BytesIO()
    try:
        if arr.dtype == bool:
            Image.fromarray(arr).save(buf, format="PNG")
        elif arr.dtype in (np.float32, np.float64):
            Image.fromarray(arr.astype(np.float32), mode="F").save(buf, format="TIFF")
        elif arr.dtype == np.int64:
            Image.fromarray(arr.astype(np.int32), mode="I").save(buf, format="TIFF")
        else:
            Image.fromarray(arr).save(buf, format="PNG")
    except (ValueError, SystemError, OSError):  # Pillow cannot write it: nothing to read
        return
    run_fit(tmp_path, {**fit_inputs(), "labels": buf.getvalue()}, "labels")


# --------------------------------------------------------------------------- dataset folders


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthlang.lang.compile import compile_string
    from tests.conftest import TINY_SCENE

    out = tmp_path_factory.mktemp("dataset") / "ds"
    render_dataset(compile_string(TINY_SCENE), 2, out, seed=1)
    return out


DATASET_FILES = [
    "manifest.json",
    "noisy/000000.png",
    "clean/000001.png",
    "mask/000000.png",
    "instances/000001.png",
    "instances/000000.json",
]


def read_everything(folder: Path) -> Any:
    def run() -> Any:
        read_manifest(folder)
        samples = list(iter_samples(folder))
        for s in samples:
            assert s["noisy"].ndim == 3 and s["noisy"].shape[2] == 3
            assert s["mask"].shape == s["noisy"].shape[:2] == s["instance_map"].shape
        return samples

    return expect_clean(run)


def copy_dataset(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / f"ds{len(list(tmp_path.iterdir()))}"
    shutil.copytree(src, dst)
    return dst


@SETTINGS
@given(target=st.sampled_from(DATASET_FILES), edit=byte_edits)
def test_dataset_readers_with_damaged_files(
    dataset_folder: Path, tmp_path: Path, target: str, edit: Any
) -> None:
    folder = copy_dataset(dataset_folder, tmp_path)
    path = folder / target
    path.write_bytes(mutate_bytes(path.read_bytes(), edit))
    read_everything(folder)


@SETTINGS
@given(
    target=st.sampled_from(["manifest.json", "instances/000000.json"]),
    index=st.integers(0, 60),
    value=json_values,
)
def test_dataset_readers_with_odd_json(
    dataset_folder: Path, tmp_path: Path, target: str, index: int, value: Any
) -> None:
    folder = copy_dataset(dataset_folder, tmp_path)
    path = folder / target
    doc = replace_somewhere(json.loads(path.read_text()), index, value)
    path.write_text(json.dumps(doc))
    read_everything(folder)


@pytest.mark.parametrize("target", DATASET_FILES)
@pytest.mark.parametrize("kind", ["missing", "folder", "fifo", "other-size"])
def test_dataset_readers_with_replaced_files(
    dataset_folder: Path, tmp_path: Path, target: str, kind: str
) -> None:
    folder = copy_dataset(dataset_folder, tmp_path)
    path = folder / target
    path.unlink()
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes")
        os.mkfifo(path)
    elif kind == "other-size":
        if path.suffix != ".png":
            pytest.skip("images only")
        write_png(path, np.zeros((5, 7, 3) if "noisy" in target or "clean" in target else (5, 7)))
    result = read_everything(folder)
    assert isinstance(result, SynthlangError), f"{kind} {target} was accepted"
    assert str(folder) in str(result)
