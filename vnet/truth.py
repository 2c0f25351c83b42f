"""Reading what ``synthlang evaluate`` compares: prediction folders and truth folders.

:class:`PredictionSet` reads the outputs of ``synthlang predict`` (class maps, instance
maps, masks, probabilities; ``predict.json`` for the class names); :class:`TruthSet`
reads a dataset folder (format 1 or 2, ``docs/dataset.md``) or a folder of annotation
images, and decides how predicted and true classes correspond (:meth:`TruthSet.align`).
The rules are described in :mod:`vnet.metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthlang.common.errors import DataError
from vnet.instances import MIN_DISTANCE, split_instances

__all__ = ["PredictedImage", "TrueImage", "PredictionSet", "TruthSet", "IMAGE_EXTS"]

IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
_PREDICTION_KINDS = ("labels", "mask", "prob")


@dataclass
class PredictedImage:
    """One prediction: class map, instances, binary mask and where they came from."""

    labels: np.ndarray
    instances: np.ndarray
    mask: np.ndarray
    labels_path: Path
    denoised_path: Path

    @property
    def shape(self) -> tuple[int, ...]:
        """``(H, W)``."""
        return tuple(self.labels.shape)


@dataclass
class TrueImage:
    """One truth: class map, instances (None: unknown), binary mask, clean image."""

    labels: np.ndarray
    instances: np.ndarray | None
    mask: np.ndarray
    labels_path: Path
    clean_path: Path | None


def _read_gray(path: Path) -> np.ndarray:
    from vnet.data import read_gray

    return read_gray(path)


def _read_ids(path: Path) -> np.ndarray:
    from synthlang.common.imageio import read_label_image

    return np.asarray(read_label_image(path), dtype=np.int64)


def _same_size(
    arrays: Iterable[tuple[Path, np.ndarray]], against: tuple[Path, tuple[int, ...]]
) -> None:
    ref_path, shape = against
    for path, a in arrays:
        if a.shape != shape:
            raise DataError(
                f"{path}: size {a.shape[::-1]} differs from the truth {ref_path} {shape[::-1]}"
            )


def _class_list(value: object, where: Path) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise DataError(f"{where}: 'classes' must be a list of class names")
    return tuple(value)


class PredictionSet:
    """The predictions in a folder written by ``synthlang predict``.

    Parameters
    ----------
    folder : Path
        The folder.
    threshold : float
        Threshold of ``NAME_mask.png`` and ``NAME_prob.png``.
    min_distance : int
        Watershed marker distance for predictions without ``NAME_instances.png``.

    Raises
    ------
    DataError
        No predictions, or an unreadable ``predict.json``.
    """

    def __init__(self, folder: Path, threshold: float = 0.5, min_distance: int = MIN_DISTANCE):
        self.folder = folder
        self.threshold = threshold
        self.min_distance = min_distance
        self.files: dict[str, dict[str, Path]] = {}
        for kind in _PREDICTION_KINDS:
            for p in sorted(folder.glob(f"*_{kind}.png")):
                self.files.setdefault(p.name[: -len(f"_{kind}.png")], {})[kind] = p
        if not self.files:
            raise DataError(
                f"{folder}: holds no NAME_mask.png, NAME_prob.png or NAME_labels.png predictions"
            )
        self.classes: tuple[str, ...] | None = None
        summary = folder / "predict.json"
        if summary.is_file():
            try:
                data = json.loads(summary.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DataError(f"{summary}: not readable JSON ({exc})") from None
            if isinstance(data, dict):
                self.classes = _class_list(data.get("classes"), summary)
        if self.classes is None and not any("labels" in f for f in self.files.values()):
            self.classes = ("mask",)  # binary masks only: one class

    def names(self) -> list[str]:
        """The names of the predicted images, sorted."""
        return sorted(self.files)

    def read(self, name: str) -> PredictedImage:
        """Read one prediction (see :mod:`vnet.metrics` for what is used when)."""
        files = self.files[name]
        binary_path = files.get("mask", files.get("prob"))
        mask = _read_gray(binary_path) >= self.threshold if binary_path is not None else None
        if "labels" in files:
            labels_path = files["labels"]
            labels = _read_ids(labels_path)
            if mask is None:
                mask = labels > 0
        else:
            assert binary_path is not None and mask is not None
            labels_path, labels = binary_path, mask.astype(np.int64)
        checks = [(labels_path, labels), (binary_path or labels_path, mask)]
        inst_path = self.folder / f"{name}_instances.png"
        if inst_path.is_file():
            instances = _read_ids(inst_path)
            checks.append((inst_path, instances))
        else:
            split, _ = split_instances(np.clip(labels, 0, None), min_distance=self.min_distance)
            instances = split.astype(np.int64)
        _same_size(checks[1:], (labels_path, labels.shape))
        return PredictedImage(
            labels=labels,
            instances=instances,
            mask=np.asarray(mask, bool),
            labels_path=labels_path,
            denoised_path=_existing(self.folder / f"{name}_denoised.png"),
        )


def _existing(png: Path) -> Path:
    """``png``, or the TIFF of the same name where only that exists (images that are not RGB)."""
    tif = png.with_suffix(".tif")
    return tif if not png.is_file() and tif.is_file() else png


def _geojson_classes(folder: Path) -> list[str]:
    """The class names of the annotations in a folder of GeoJSON files, sorted."""
    from synthlang.slides.geojson import read_annotations

    names = {
        a.class_name
        for path in sorted(folder.glob("*.geojson"))
        for a in read_annotations(path)
        if a.class_name
    }
    return sorted(names)


def _find(folder: Path, stems: Sequence[str]) -> Path | None:
    for stem in stems:
        for ext in IMAGE_EXTS:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


class TruthSet:
    """The ground truth of a dataset folder or a folder of annotation images.

    Parameters
    ----------
    folder : Path
        The truth folder.
    threshold : float
        Threshold of binary truth masks.
    classes : sequence of str, optional
        Names of the class ids of annotation class maps.
    pred_classes : sequence of str, optional
        The prediction's classes (names annotation class maps when ``classes`` is
        not given and there are several).

    Attributes
    ----------
    kind : {"dataset", "annotations", "geojson"}
    classes : tuple of str or None
        The true classes (class id ``k`` is ``classes[k - 1]``); None: class maps
        whose classes are not named.
    """

    def __init__(
        self,
        folder: Path,
        threshold: float = 0.5,
        classes: Sequence[str] | None = None,
        pred_classes: Sequence[str] | None = None,
    ) -> None:
        self.folder = folder
        self.threshold = threshold
        self.version = 1
        self.classes: tuple[str, ...] | None = ("mask",)
        self.class_maps = False  # class maps (labels), not only a binary mask
        if (folder / "manifest.json").is_file() or (folder / "mask").is_dir():
            self.kind = "dataset"
            if (folder / "manifest.json").is_file():
                from synthlang.data.sampleio import read_manifest

                manifest = read_manifest(folder)
                self.version = int(manifest.get("format_version", 1))
                named = _class_list(manifest.get("classes"), folder / "manifest.json")
                if self.version >= 2 and named:
                    self.classes, self.class_maps = named, True
        elif any(folder.glob("*.geojson")):
            # QuPath exports (a pathologist's annotations or corrections), pixel coordinates
            self.kind = "geojson"
            self.class_maps = True
            given = classes or pred_classes or _geojson_classes(folder)
            self.classes = tuple(given) if given else None
        else:
            self.kind = "annotations"
            self.class_maps = any(folder.glob("*_labels.png"))
            if self.class_maps:
                several = pred_classes if pred_classes and len(pred_classes) > 1 else None
                names = classes or several
                self.classes = tuple(names) if names else None

    def _truth_path(self, name: str) -> Path | None:
        """The file that must exist for ``name`` to have a truth."""
        if self.kind == "dataset":
            sub = "labels" if self.class_maps else "mask"
            return _find(self.folder / sub, [name])
        if self.kind == "geojson":
            path = self.folder / f"{name}.geojson"
            return path if path.is_file() else None
        if self.class_maps:
            return _find(self.folder, [f"{name}_labels"])
        return _find(self.folder, [name, f"{name}_mask"])

    def match(self, names: Sequence[str]) -> list[str]:
        """The prediction names, all of which must have a truth.

        Raises
        ------
        DataError
            Naming the predictions without a truth and the truth names there are.
        """
        missing = [n for n in names if self._truth_path(n) is None]
        if missing:
            where = self.folder
            if self.kind == "dataset":
                where = self.folder / ("labels" if self.class_maps else "mask")
            available = sorted(
                {p.stem for p in where.iterdir() if p.suffix.lower() in IMAGE_EXTS}
                if where.is_dir()
                else set()
            )
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            avail = ", ".join(available[:5]) + (" ..." if len(available) > 5 else "")
            raise DataError(
                f"{len(missing)} prediction(s) have no truth mask in {where}: {shown} "
                f"(truth names there: {avail or 'none'}); names must match "
                "(NAME_mask.png <-> NAME.png)"
            )
        return list(names)

    def read(self, name: str, shape: tuple[int, ...]) -> TrueImage:
        """Read the truth of ``name``, checking it has the prediction's ``shape``."""
        path = self._truth_path(name)
        assert path is not None
        instances: np.ndarray | None = None
        clean: Path | None = None
        if self.kind == "geojson":
            from synthlang.slides.geojson import rasterize, read_annotations

            h, w = shape[:2]
            single = self.classes is None or len(self.classes) <= 1
            drawn, ids = rasterize(
                read_annotations(path),
                (0, 0, w, h),
                self.classes or (),
                unclassified=1 if single else None,
            )
            classes_map = drawn.astype(np.int64)
            return TrueImage(classes_map, ids.astype(np.int64), classes_map > 0, path, None)
        if self.kind == "dataset":
            # format 2 without classes: its labelled instances are none, the objects count
            sub = "objects" if self.version >= 2 and not self.class_maps else "instances"
            inst_path = self.folder / sub / f"{name}.png"
            clean = _existing(self.folder / "clean" / f"{name}.png")
            mask_path = self.folder / "mask" / f"{name}.png"
            mask = _read_gray(mask_path) >= self.threshold if mask_path.is_file() else None
            labels = _read_ids(path) if self.class_maps else None
        else:
            inst_path = self.folder / f"{name}_instances.png"
            mask = None if self.class_maps else _read_gray(path) >= self.threshold
            labels = _read_ids(path) if self.class_maps else None
        if labels is None:
            assert mask is not None
            labels = mask.astype(np.int64)
        if mask is None:
            mask = labels > 0
        for a in (labels, mask):
            if a.shape != shape:
                raise DataError(
                    f"the prediction of {name}: size {tuple(shape)[::-1]} differs from the "
                    f"truth {path} {a.shape[::-1]}"
                )
        if inst_path.is_file():
            ids = _read_ids(inst_path)
            if ids.shape != labels.shape:
                raise DataError(
                    f"{inst_path}: size {ids.shape[::-1]} differs from the truth mask "
                    f"{path} {labels.shape[::-1]}"
                )
            instances = np.where(labels > 0, ids, 0)
        return TrueImage(labels, instances, np.asarray(mask, bool), path, clean)

    def align(
        self, pred_classes: Sequence[str] | None
    ) -> tuple[list[str], np.ndarray | None, np.ndarray | None]:
        """The rows to score and the lookups from predicted and true class ids to rows.

        Per class when both sides have several classes (matched by name; a prediction
        without names is taken to use the truth's ids); otherwise the nuclei of every
        class form one row (the lookups are then None: any id > 0 is the row).

        Raises
        ------
        DataError
            Both sides name several classes, but not the same ones.
        """
        truth, pred = self.classes, tuple(pred_classes) if pred_classes else None
        if truth is None or len(truth) == 1 or (pred is not None and len(pred) == 1):
            if truth is not None and len(truth) == 1:
                return [truth[0]], None, None
            return ["+".join(truth) if truth else "nuclei (any class)"], None, None
        k = len(truth)
        truth_lut = np.arange(k + 1, dtype=np.int64)
        if pred is None or pred == truth:
            return list(truth), truth_lut, truth_lut
        if set(pred) != set(truth):
            raise DataError(
                f"the predicted classes {list(pred)} are not the true classes {list(truth)}; "
                "evaluate a model trained on the same classes"
            )
        pred_lut = np.array([0, *(truth.index(c) + 1 for c in pred)], dtype=np.int64)
        return list(truth), pred_lut, truth_lut
