"""Write the model cards (models/scenarioK.md) from the JSON results.

    python experiments/write_report.py

Reads models/scenario{1,2,3}.json (written by experiments/shipped_models.py); writes only
Markdown. No training, no data access. The report docs/results.md is written by
``experiments/report_results.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402
from common import pct  # noqa: E402

MODELS = C.REPO / "models"

SCENARIO_TEXT = {
    1: ("Scenario 1: immune cells near tumour cells (immunofluorescence)",
        "immune cells (CD45, red) whose tumour-cell concentration within 40 px exceeds 0.3",
        "multiplex immunofluorescence (DAPI blue, CD45 red, gp100 green) at the scene's scale"),
    2: ("Scenario 2: immune-cell-rich areas (H&E)",
        "immune cells whose immune-cell concentration within 40 px exceeds 0.2",
        "H&E melanoma at 20x (about 0.5 um/px)"),
    3: ("Scenario 3: tumour nuclei (H&E)",
        "the visible pixels of tumour nuclei (not covered by immune cells)",
        "H&E melanoma at 20x (about 0.5 um/px)"),
}  # fmt: skip


def real_rows(res: dict[str, Any]) -> list[str]:
    rows = []
    names = {
        "puma_eval": "PUMA EVAL half (melanoma, 20x)",
        "nucls_test": "NuCLS test (breast, 5 tiles)",
    }
    for set_name, r in res.get("real", {}).items():
        bg = r["background"]
        flags = " ".join(r["predict_flags"]).replace(str(C.REPO) + "/", "")
        flags = flags.replace(str(C.OUT), "experiments/out")
        rows.append(
            f"| {names.get(set_name, set_name)} | {pct(r['accuracy'])} (all background "
            f"{pct(bg['accuracy'])}) | {r['dice']:.3f} | {r['iou']:.3f} | "
            f"{r['hit']} / {r['truth_objects']} | {r['other_marked']} / {r['other_objects']} | "
            f"`{flags or '-'}` |"
        )
    return rows


def card(k: int, res: dict[str, Any]) -> str:
    title, task, domain = SCENARIO_TEXT[k]
    tc = res["train_config"]
    mc = res["model_config"]
    syn = res["synthetic_test"]
    bg = res["synthetic_background"]
    tr = res["train"]
    lines = [
        f"# models/scenario{k}.pt -- {title}",
        "",
        "A coupled variational network (Effland et al.) trained by this project's own code only "
        f"on data rendered from the repository's `scenes/scenario{k}.scene` (with `scenes/lib/`; "
        "no third-party slide data except the BSD-3 stardist image behind "
        "`scenes/lib/he_stardist/`).",
        "",
        f"* **Task (mask):** {task}.",
        f"* **Input domain:** {domain}. RGB in [0, 1]; any image size (tiled).",
        "* **Output:** `m_T` (mask probability, thresholded at 0.5) and the denoised image `u_T`.",
        f"* **Size:** {res['parameters']:,} parameters, {res['size_bytes'] / 1024:.0f} KiB "
        "(weights and configuration only; the Adam state was stripped by "
        "`experiments/shipped_models.py --stage export`).",
        "",
        "## Use",
        "",
        "```bash",
        f"synthlang predict models/scenario{k}.pt slide.png --out pred/"
        + ("    # H&E: add --reference REF.png to Reinhard-normalise first" if k != 1 else ""),
        "```",
        "",
        "Input colours: the checkpoint stores `normalize = none` as `predict`'s default, so images "
        "are used as given unless `--reference` or `--normalize` says otherwise (Macenko "
        "normalisation to the training statistics cost the Scenario 3 model 9 points of pixel "
        "accuracy on its own held-out samples: 84.8 % instead of 93.7 %).",
        "",
        "## How it was made",
        "",
        "```bash",
        res["render"],
        tr["command"],
        "```",
        "",
        f"Preset `{_preset_name(tr['command'])}`: N_t = {mc['steps']} steps, kernels "
        f"(K^u {mc['n_fu']} x {mc['k_u']}x{mc['k_u']}, K^m {mc['n_fm']} x {mc['k_m']}x{mc['k_m']}, "
        f"K {mc['n_f']} x {mc['k']}x{mc['k']}, {mc['n_w']} RBFs), zero mean of K^u "
        f"{'on' if mc['zero_mean'] else 'off'}, lambda_init {mc['lambda_init']}; loss weights "
        f"(image, mask) {tuple(tc.get('loss_weights', (1 / 6, 1 / 2)))} (docs/vnet.md, "
        '"Denoising"); Adam '
        f"{tc['lr']:g}, batch {tc['batch_size']}, random {tc['crop']} x {tc['crop']} crops with "
        f"flips of {tc['n_samples']} rendered samples, {tr['iterations']} iterations; "
        f"{tr['train_elapsed'] / 60:.0f} min of training on 2 shared CPU cores (one torch thread).",
        "",
        f"Training curve (loss of Eq. 3, accuracy of m_T, PSNR of u_T against the iteration): "
        f"![curves](scenario{k}_curves.png)",
        "",
        "## Synthetic metrics",
        "",
        "20 held-out samples rendered with `--seed 99` (never trained on), "
        "`synthlang evaluate` (pixel scores pooled over the images):",
        "",
        "| | pixel accuracy | Dice | IoU | objects found | false objects | PSNR |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| this model | {pct(syn['accuracy'])} | {syn['dice']:.3f} | {syn['iou']:.3f} | "
        f"{syn['hit']} / {syn['truth_objects']} | {syn['false_objects']} / {syn['pred_objects']} | "
        f"u_T {syn['psnr']:.2f} dB |",
        f"| all background / input | {pct(bg['accuracy'])} | 0 | 0 | 0 | 0 | "
        f"u0 {syn['psnr_input']:.2f} dB |",
        "",
    ]
    rr = real_rows(res)
    if rr:
        lines += [
            "## Real metrics",
            "",
            "Measured by `python experiments/shipped_models.py --stage evaluate` on the real "
            "benchmark of the same task (truth and sets: `docs/results.md`); this model never saw "
            "real data, and the H&E inputs are Reinhard-normalised to the reference image "
            "named in the last column.",
            "",
            "| set | pixel accuracy | Dice | IoU | truth nuclei found "
            "| nuclei of the other class marked | predict flags |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rr,
            "",
        ]
    else:
        lines += ["## Real metrics", "", _no_real(k), ""]
    lines += [
        "## Limits",
        "",
        _limits(k) + _real_caveat(res),
        "",
    ]
    return "\n".join(lines)


def _preset_name(cmd: str) -> str:
    parts = cmd.split()
    return parts[parts.index("--preset") + 1] if "--preset" in parts else "default"


def _no_real(k: int) -> str:
    if k == 1:
        return (
            "None: no annotated immunofluorescence data is available to this project, so the "
            "model is measured on synthetic data only."
        )
    return "The real data (../shared/realdata) was not available when this card was written."


def _limits(k: int) -> str:
    common = (
        "Trained on synthetic images only; expect it to work where the real tissue looks like "
        f"`scenes/scenario{k}.scene` (colours, sizes at the scene's pixel scale). "
    )
    if k == 1:
        return common + "The IF colours come from `scenes/lib/if_melanoma.scene`."
    if k == 2:
        return common + (
            "Colours are `scenes/lib/he_melanoma.scene` (measured on PUMA melanoma); immune cells "
            "are flat-coloured ellipses, tumour cells flat ellipses -- no real textures."
        )
    return common + (
        "Nucleus cut-outs and textures come from one BSD-3 stardist H&E image "
        "(`scenes/lib/he_stardist/`, tumour nuclei smaller than melanoma nuclei at 20x), so "
        "normalise real slides to `scenes/lib/he_stardist/source/histo.jpg` with `--reference`."
    )


def _real_caveat(res: dict[str, Any]) -> str:
    """A sentence on how the model did on real melanoma, from its measured numbers."""
    r = res.get("real", {}).get("puma_eval")
    if not r:
        return ""
    other = "immune nuclei marked as tumour" if r["task"] == "tumor" else (
        "tumour nuclei marked as immune-rich")  # fmt: skip
    return (
        f" On the real PUMA EVAL half it reaches Dice {r['dice']:.3f} ({other}: "
        f"{r['other_marked']} of {r['other_objects']}). For real slides, fit a library to "
        "annotated images of your own (`synthlang fit`, docs/fit.md) and train on a scene that "
        "imports it, as the real benchmarks in docs/results.md do."
    )


def main() -> int:
    for k in (1, 2, 3):
        js = MODELS / f"scenario{k}.json"
        if not js.exists():
            C.say(f"{C.rel(js)} missing: run experiments/shipped_models.py first")
            continue
        res = json.loads(js.read_text(encoding="utf-8"))
        (MODELS / f"scenario{k}.md").write_text(card(k, res), encoding="utf-8")
        C.say(f"wrote models/scenario{k}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
