"""Shared helpers of the ``synthlang fit`` tests: synthetic annotated images, library parsing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage.draw import disk, ellipse

from synthlang.common.imageio import read_image, write_png
from synthlang.fit import FitOptions, fit_files

BG = np.array([0.9, 0.62, 0.8])
TUMOR = np.array([0.45, 0.25, 0.6])
LYMPH = np.array([0.2, 0.1, 0.4])
NOISE_VAR = 4e-4  # per channel, independent


PUMA = "puma_melanoma/training_set_metastatic_roi_094"
PUMA_NAMES = ["nuclei_tumor=tumor", "nuclei_lymphocyte=lymphocyte"]


def make_synthetic(tmp: Path, seed: int = 0, name: str = "img") -> dict[str, Any]:
    """A 192 x 192 image: 9 tumour ellipses (semi-axes 10, 6), 12 lymphocyte disks (r 4)."""
    rng = np.random.default_rng(seed)
    shape = (192, 192)
    img = np.empty(shape + (3,))
    img[:] = BG
    inst = np.zeros(shape, np.int32)
    cls = np.zeros(shape, np.uint8)
    ident = 0
    means: dict[str, list[np.ndarray]] = {"tumor": [], "lymphocyte": []}
    for i in range(3):
        for j in range(3):
            ident += 1
            rr, cc = ellipse(32 + 64 * i, 32 + 64 * j, 6, 10, shape=shape, rotation=0.3 * ident)
            m = TUMOR + rng.normal(0, 0.01, 3)
            img[rr, cc] = m
            inst[rr, cc] = ident
            cls[rr, cc] = 1
            means["tumor"].append(m)
    for row in (64, 128):
        for j in range(6):
            ident += 1
            rr, cc = disk((row, 16 + 32 * j), 4, shape=shape)
            m = LYMPH + rng.normal(0, 0.01, 3)
            img[rr, cc] = m
            inst[rr, cc] = ident
            cls[rr, cc] = 2
            means["lymphocyte"].append(m)
    img = img + rng.normal(0, np.sqrt(NOISE_VAR), img.shape)
    img = np.clip(img, 0, 1).astype(np.float32)
    paths = {
        "image": tmp / f"{name}.png",
        "inst": tmp / f"{name}_inst.png",
        "cls": tmp / f"{name}_cls.png",
        "map": tmp / "class_map.json",
    }
    write_png(paths["image"], img)
    write_png(paths["inst"], inst)
    write_png(paths["cls"], cls)
    paths["map"].write_text(json.dumps({"class_png_values": {"1": "tumor", "2": "lymphocyte"}}))
    return {
        **paths,
        "img": read_image(paths["image"]),
        "inst_arr": inst,
        "cls_arr": cls,
        "means": {k: np.array(v) for k, v in means.items()},
    }


def lets_of(text: str) -> dict[str, str]:
    return dict(re.findall(r"^let (\w+) = (.*)$", text, flags=re.M))


def numbers_of(expr: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", expr)]


def mvn_of(expr: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nums = numbers_of(expr)
    assert len(nums) == 21, expr
    return np.array(nums[:3]), np.array(nums[3:12]).reshape(3, 3), np.array(nums[12:]).reshape(3, 3)


def fit_synthetic(data: dict[str, Any], out: Path, **kw: Any) -> tuple[str, Any]:
    opts = FitOptions(**kw)
    result = fit_files(
        [data["image"]],
        out,
        opts,
        labels=[data["inst"]],
        class_labels=[data["cls"]],
        classes_json=data["map"],
    )
    return out.read_text(), result


def check_library(folder: Path, kind: str, size: int | None) -> dict:
    index = json.loads((folder / "index.json").read_text())
    assert index["format"] == "synthlang-patches" and index["version"] == 1
    assert index["kind"] == kind and index["patch_size"] == size
    k = index["cohorts"]
    assert 1 <= k and index["items"]
    files = sorted(p.name for p in folder.glob("*.png"))
    assert files == sorted(item["file"] for item in index["items"])
    for item in index["items"]:
        assert 0 <= item["cohort"] < k
        im = Image.open(folder / item["file"])
        a = np.asarray(im).astype(np.float64) / 255
        if kind == "nuclei":
            assert im.mode == "RGBA"
            alpha = a[..., 3] > 0.5
            assert alpha.any() and not alpha[0].any() and not alpha[:, 0].any()  # margin
            mean = a[..., :3][alpha].mean(axis=0)
            assert item["area"] == int(alpha.sum())
        else:
            assert im.mode == "RGB" and im.size == (size, size)
            mean = a.reshape(-1, 3).mean(axis=0)
        assert mean == pytest.approx(item["mean"], abs=1 / 255)
    # cohorts are numbered by increasing brightness of their mean colour
    bright = [
        np.mean([np.mean(it["mean"]) for it in index["items"] if it["cohort"] == j])
        for j in range(k)
    ]
    assert bright == sorted(bright)
    assert index["cohort_counts"] == [
        sum(1 for it in index["items"] if it["cohort"] == j) for j in range(k)
    ]
    return index


def disks_on_pink(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    img = np.empty((200, 200, 3))
    img[:] = (0.92, 0.62, 0.8)
    img += rng.normal(0, 0.02, img.shape)
    centres = []
    for r in range(20, 200, 40):
        for c in range(20, 200, 40):
            rc = (r + int(rng.integers(-5, 6)), c + int(rng.integers(-5, 6)))
            rr, cc = disk(rc, rng.uniform(4, 7), shape=img.shape[:2])
            img[rr, cc] = (0.3, 0.15, 0.5) + rng.normal(0, 0.03, (len(rr), 3))
            centres.append(rc)
    return np.clip(img, 0, 1).astype(np.float32), centres
