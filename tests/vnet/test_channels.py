"""Networks of C input channels: dataset folders, training draws, prediction on TIFFs.

A 4-channel dataset trains a 4-channel network; ``synthlang predict`` reads 4-channel TIFFs
with it (no colour normalisation, a false-colour overlay, a 16-bit TIFF of u_T); an image
whose channel count is not the network's gets one clear message and exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from synthlang.cli.main import main
from synthlang.common.channelio import encode_image, quantize, read_channels, read_raw_channels
from synthlang.data.dataset import render_dataset
from synthlang.lang.compile import compile_string
from tests.vnet.helpers import write_tiny_vn
from vnet import CoupledVN, VNConfig
from vnet.data import FolderSource, TrainingSamples
from vnet.predict import load_model, predict_array

SCENE = """
scene four { size 32 x 40 channels [dapi, cd45, gp100, ki67] }
layer bg { fill color mvn(mean [0.05, 0.05, 0.05, 0.05], cov [[1e-4, 0, 0, 0], [0, 1e-4, 0, 0],
                          [0, 0, 1e-4, 0], [0, 0, 0, 1e-4]]) }
layer cell { ellipse(semi_axes uniform(4, 6)) place count 4 color mvn(mean [0.6, 0.3, 0, 0])
             blend additive }
mask cell
"""
NAMES = ["dapi", "cd45", "gp100", "ki67"]


def checkpoint(path: Path, channels: int, source: dict | None = None) -> Path:
    return write_tiny_vn(path, source, in_channels=channels)


@pytest.fixture(scope="module")
def four_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("four") / "ds"
    render_dataset(compile_string(SCENE), 2, out, seed=1)
    return out


def test_folder_source_and_training_draws(four_folder: Path) -> None:
    source = FolderSource(four_folder)
    noisy, clean, mask = source(1)
    assert noisy.shape == clean.shape == (32, 40, 4) and mask.shape == (32, 40)
    assert source.info()["channels"] == NAMES
    draws = TrainingSamples(source, 2, seed=0, crop=16, flips=True, total=4)
    u0, g_u, g_m = draws[3]
    assert u0.shape == g_u.shape == (4, 16, 16) and g_m.shape == (1, 16, 16)


def test_predict_array_keeps_the_channels() -> None:
    cfg = VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, in_channels=4)
    model = CoupledVN(cfg).eval()
    image = np.random.default_rng(0).random((30, 50, 4)).astype(np.float32)
    u, m = predict_array(model, image, tile=16, overlap=4, margin=4)
    assert u.shape == (30, 50, 4) and m.shape == (30, 50)
    with pytest.raises(ValueError, match=r"\(H, W, 4\)"):
        predict_array(model, image[..., :3])


def test_predict_reads_four_channel_tiffs(
    four_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = checkpoint(tmp_path / "four.pt", 4, {"channels": NAMES})
    model, _ = load_model(ckpt)
    assert model.config.in_channels == 4
    out = tmp_path / "pred"
    image = four_folder / "noisy" / "000000.tif"
    assert main(["predict", str(ckpt), str(image), "--out", str(out), "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "000000_denoised.tif" in names and "000000_overlay.png" in names
    denoised = read_raw_channels(out / "000000_denoised.tif")
    assert denoised.shape == (32, 40, 4) and denoised.dtype == np.uint16
    # a 16-bit TIFF input is read at full precision
    fine = np.random.default_rng(1).random((20, 24, 4))
    (tmp_path / "fine.tif").write_bytes(encode_image(quantize(fine, 16)))
    assert np.abs(read_channels(tmp_path / "fine.tif") - fine).max() <= 0.5 / 65535 + 1e-7
    assert main(["predict", str(ckpt), str(tmp_path / "fine.tif"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "takes 4 channels (dapi, cd45, gp100, ki67): the inputs are used as they are" in err


def test_wrong_channel_counts_get_one_message_and_status_2(
    four_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rgb = checkpoint(tmp_path / "rgb.pt", 3)
    four = checkpoint(tmp_path / "four.pt", 4, {"channels": NAMES})
    tif = four_folder / "noisy" / "000000.tif"
    out = str(tmp_path / "pred")
    assert main(["predict", str(rgb), str(tif), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert f"{tif}: the image has 4 channels, but {rgb} takes 3 channels (RGB)" in err
    png = tmp_path / "rgb.png"
    png.write_bytes(encode_image(np.zeros((20, 20, 3), np.uint8)))
    assert main(["predict", str(four), str(png), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "the image has 3 channels, but" in err and "takes 4 channels (dapi" in err
    for flags in (["--normalize", "reinhard"], ["--reference", str(png)]):
        assert main(["predict", str(four), str(tif), "--out", out, *flags]) == 2
        err = capsys.readouterr().err
        assert "colour normalisation works on RGB images" in err and err.count("error:") == 1
    assert main(["predict", str(four), str(tif), "--out", out, "--whole-nuclei"]) == 2
    err = capsys.readouterr().err
    assert "--whole-nuclei: nuclei are found by colour deconvolution of RGB H&E images" in err
    assert "give --no-whole-nuclei" in err and err.count("error:") == 1
    assert main(["predict", str(four), str(tif), "--out", out, "--neighbour-nuclei"]) == 2
    err = capsys.readouterr().err
    assert "--neighbour-nuclei: nuclei are found by colour deconvolution" in err


def test_training_refuses_data_of_other_channels(four_folder: Path) -> None:
    """The first draw is checked against the network's input channels."""
    from vnet.train import _check_first_sample

    draws = TrainingSamples(FolderSource(four_folder), 2, seed=0, crop=None, flips=False, total=2)
    net = CoupledVN(VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3))
    from synthlang.common.errors import DataError

    with pytest.raises(DataError, match="have 4 channels, but the network takes 3"):
        _check_first_sample(draws, 0, net)
    assert torch.is_tensor(draws[0][0])
