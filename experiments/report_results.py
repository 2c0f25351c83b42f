"""Write docs/results.md, the reproduction report, from the JSON results of the experiments.

    python experiments/report_results.py

Reads docs/results/tumor.json and docs/results/immune.json (``experiments/tumor_nuclei.py``,
``experiments/immune_areas.py``), models/scenario{1,2,3}.json (``experiments/shipped_models.py``)
docs/results/vn_psnr_study.json (``experiments/vn_psnr_study.py``) and
docs/results/vn_vs_unet_time.json (``experiments/vn_vs_unet_time.py``). Every number in the
report comes from one of these files; the command that produced it is written next to it. No
training, no data access; missing inputs are named in the report instead of numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark as B  # noqa: E402
import common as C  # noqa: E402
from common import pct  # noqa: E402

MODELS = C.REPO / "models"
REPORT = C.REPO / "docs" / "results.md"

#: the issue's goals on the PUMA EVAL half
GOALS = {"tumor": 0.6, "immune": 0.7}
TASK_CMD = {
    "tumor": "python experiments/tumor_nuclei.py --stage all",
    "immune": "python experiments/immune_areas.py --stage all",
}
SHIPPED_CMD = "python experiments/shipped_models.py --stage all"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _minutes(info: dict[str, Any]) -> float:
    return (info.get("train_elapsed") or info["seconds"]) / 60


def glance(tasks: dict[str, dict | None]) -> list[str]:
    lines = [
        "| task (truth) | set | VN Dice | U-Net Dice | upper reference Dice | all background "
        "accuracy | goal | goal met | VN vs U-Net |",
        "| --- " * 9 + "|",
    ]
    for name, res in tasks.items():
        if res is None:
            lines.append(f"| {name} | - | not run: `{TASK_CMD[name]}` | | | | | | |")
            continue
        for set_name in ("puma_eval", "nucls_test"):
            r = res["real"].get(set_name)
            if not r:
                continue
            vn, un, up = r["vn"]["dice"], r["unet"]["dice"], r["upper"]["dice"]
            goal = GOALS[name] if set_name == "puma_eval" else None
            met = "-" if goal is None else ("yes" if vn >= goal else f"no ({goal - vn:.3f} short)")
            if goal is not None and vn < goal <= un:
                met += f"; U-Net {un:.3f}"
            diff = vn - un
            lines.append(
                f"| {_short(res)} | {set_name} | **{vn:.3f}** | {un:.3f} | {up:.3f} "
                f"| {pct(r['background']['accuracy'])} | "
                f"{'Dice >= ' + format(goal, '.1f') if goal else '-'} | {met} | "
                f"{'ahead' if diff > 0 else 'behind'} by {abs(diff):.3f} |"
            )
    return lines


def _short(res: dict[str, Any]) -> str:
    return res["title"].split(" (")[0]


def real_section(name: str, res: dict | None) -> list[str]:
    if res is None:
        return [f"Not measured yet: run `{TASK_CMD[name]}`.", ""]
    other = "immune nuclei marked as tumour" if name == "tumor" else (
        "tumour nuclei marked as immune-rich")  # fmt: skip
    head = (
        "| model | pixel accuracy | Dice | IoU | truth nuclei found | false objects / predicted "
        f"| {other} |"
    )
    lines = [f"Command: `{TASK_CMD[name]}`; scene `{res['scene']}`. Full tables and per-image "
             f"numbers: [docs/results/{name}.md](results/{name}.md), "
             f"[docs/results/{name}.json](results/{name}.json).", ""]  # fmt: skip
    for set_name, rows in res["real"].items():
        lines += [f"**{B.SET_TITLES.get(set_name, set_name)}**", "", head, "| --- " * 7 + "|"]
        lines.append(B._fmt_row("all background", rows["background"], other))
        for key, t in rows.items():
            if key != "background":
                lines.append(B._fmt_row(res["models"][key]["label"], t, other))
        lines.append("")
        picture = C.RESULTS / f"{name}_{set_name}.png"
        if picture.exists():
            lines += [f"![{name} {set_name}](results/{picture.name})", "",
                      "*Columns: input, truth, VN, U-Net, upper reference (mask tinted red, "
                      "outline yellow).*", ""]  # fmt: skip
    if res.get("paper"):
        lines += ["**The paper's own figures** (pixel accuracy on its three annotated melanoma "
                  "images u1, u2, u3, Scenario 3; Effland et al., Sect. Results). Their images are "
                  "not available, so these rows are a reference, not the same measurement:", "",
                  "| model | u1 | u2 | u3 |", "| --- | --- | --- | --- |"]  # fmt: skip
        for key, v in res["paper"].items():
            name = "VN" if key == "vn" else "U-Net"
            lines.append(f"| {name} (paper) | {v['u1']:.2f} % | {v['u2']:.2f} % | "
                         f"{v['u3']:.2f} % |")  # fmt: skip
        lines.append("")
    lines += ["Synthetic validation set (20 samples rendered with `--seed 99` from the same "
              "scene):", "", "| model | pixel accuracy | Dice | IoU | PSNR u_T (dB) |",
              "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for key, t in res["synthetic_val"].items():
        ps = "-" if t.get("psnr") is None else f"{t['psnr']:.2f}"
        lines.append(f"| {res['models'][key]['label']} | {pct(t['accuracy'])} | {t['dice']:.3f} "
                     f"| {t['iou']:.3f} | {ps} |")  # fmt: skip
    lines += [
        "",
        "Training (2 shared CPU cores, one torch thread per run):",
        "",
        "| model | command | iterations | training time |",
        "| --- | --- | --- | --- |",
    ]
    for key, info in res["train"].items():
        note = " (interrupted once, continued with `--resume`)" if info.get("resumed") else ""
        lines.append(f"| {res['models'][key]['label']} | `{info['command']}`{note} | "
                     f"{info['iterations']} | {_minutes(info):.1f} min |")  # fmt: skip
    return [*lines, ""]


def shipped_section(cards: dict[int, dict | None]) -> list[str]:
    lines = [
        f"Command: `{SHIPPED_CMD}` (render 400 samples with `--seed 1`, train, export, predict and "
        "evaluate on 20 held-out samples rendered with `--seed 99`). Each model is trained only "
        "on the repository's own scenes; model cards: [models/](../models/README.md).",
        "",
        "| scenario | iterations | training time | pixel accuracy (all background) | Dice | IoU "
        "| objects found | PSNR u_T / input (dB) |",
        "| --- " * 8 + "|",
    ]
    for k, res in cards.items():
        if res is None:
            lines.append(f"| {k} | not run: `python experiments/shipped_models.py --scenario {k}` "
                         "| | | | | | |")  # fmt: skip
            continue
        s, bg, tr = res["synthetic_test"], res["synthetic_background"], res["train"]
        lines.append(
            f"| [{k}](../models/scenario{k}.md) | {tr['iterations']} | "
            f"{tr['train_elapsed'] / 60:.0f} min | {pct(s['accuracy'])} ({pct(bg['accuracy'])}) "
            f"| {s['dice']:.3f} | {s['iou']:.3f} | {s['hit']} / {s['truth_objects']} | "
            f"{s['psnr']:.2f} / {s['psnr_input']:.2f} |"
        )
    lines.append("")
    real = [(k, r) for k, r in cards.items() if r and r.get("real")]
    if real:
        lines += [
            "The shipped models on the real sets (they never saw real data; H&E inputs are "
            "Reinhard-normalised with the `--reference` named in the card):",
            "",
            "| model | task | set | pixel accuracy | Dice | truth nuclei found |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for k, res in real:
            for set_name, r in res["real"].items():
                lines.append(f"| scenario{k}.pt | {r['task']} | {set_name} | "
                             f"{pct(r['accuracy'])} | {r['dice']:.3f} | "
                             f"{r['hit']} / {r['truth_objects']} |")  # fmt: skip
        lines.append("")
    return lines


def fig3_section(res: dict | None) -> list[str]:
    if res is None:
        return ["Not run yet: `python experiments/shipped_models.py --scenario 1`.", ""]
    tr, tc, mc = res["train"], res["train_config"], res["model_config"]
    lines = [
        f"Command: `{tr['command']}` (inside `python experiments/shipped_models.py --scenario 1`). "
        f"Device: CPU (2 cores shared with other jobs, one torch thread); {tr['iterations']} "
        f"iterations in {tr['train_elapsed'] / 60:.0f} min. Configuration: N_t = {mc['steps']}, "
        f"the paper's kernel sizes, zero mean of K^u off (as the paper for Scenario 1), "
        f"lambda_init {mc['lambda_init']}, Adam {tc['lr']:g}, batch {tc['batch_size']} of "
        f"{tc['crop']} x {tc['crop']} random crops with flips from {tc['n_samples']} rendered "
        "samples. This is the largest configuration the CPU time of this project allowed; the "
        "paper's (N_t = 10, batch 8 of 300 x 300, lr 1e-4) costs about 5 minutes per iteration "
        "on this CPU (`benchmarks/vnet_step.py`, docs/vnet.md), 1500 iterations about five days.",
        "",
        "![Fig. 3 reproduction: loss, mask accuracy, PSNR of u_T](../models/scenario1_curves.png)",
        "",
        "| iterations | loss (Eq. 3) | mask accuracy | PSNR u_T (dB) | PSNR u0 (dB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for w in res.get("curve", []):
        lines.append(f"| {w['first']}-{w['last']} | {w['loss']:.1f} | {pct(w['accuracy'])} | "
                     f"{w['psnr']:.2f} | {w['psnr_input']:.2f} |")  # fmt: skip
    lines += ["", "(training batches, averaged over each window of 100 iterations)", ""]
    return lines


def comparison(tasks: dict[str, dict | None]) -> list[str]:
    lines = []
    for res in tasks.values():
        if res is None:
            continue
        for set_name, rows in res["real"].items():
            vn, un = rows["vn"], rows["unet"]
            lines.append(
                f"* {_short(res)}, {set_name}: Dice VN {vn['dice']:.3f} vs U-Net "
                f"{un['dice']:.3f}; pixel accuracy {pct(vn['accuracy'])} vs {pct(un['accuracy'])}; "
                f"false objects {vn['false_objects']} vs {un['false_objects']}; nuclei of the "
                f"other class marked {vn['other_marked']} vs {un['other_marked']} "
                f"(of {vn['other_objects']}); training {_minutes(res['train']['vn']):.0f} vs "
                f"{_minutes(res['train']['unet']):.0f} min."
            )
    return [*lines, ""]


def psnr_section(study: dict | None) -> list[str]:
    if study is None:
        return ["Not run: `python experiments/vn_psnr_study.py`.", ""]
    lines = [
        "Command: `python experiments/vn_psnr_study.py` (Scenario 1 data, 48 x 48 crops, "
        "held-out PSNR every 50 iterations).",
        "",
        "| variant | iterations | held-out PSNR u_T (dB) | PSNR u0 (dB) | accuracy m_T |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in study.values():
        last = r["curve"][-1]
        lines.append(f"| `{r['variant']}` ({_variant(r)}) | {r['iterations']} | {last['psnr']:.2f} "
                     f"| {last['psnr_input']:.2f} | {pct(last['accuracy'])} |")  # fmt: skip
    return [*lines, ""]


def equal_time_section(res: dict | None) -> list[str]:
    """VN and U-Net at equal CPU time (``experiments/vn_vs_unet_time.py``)."""
    if res is None:
        return ["Not run: `python experiments/vn_vs_unet_time.py --stage all`.", ""]
    lines = [
        "Command: `python experiments/vn_vs_unet_time.py --stage all --budget 1800` "
        "(tables and figure: [results/vn_vs_unet_time.md](results/vn_vs_unet_time.md)).",
        "",
        "| CPU time | VN step | VN held-out Dice | VN PUMA EVAL Dice | VN PSNR gain "
        "| U-Net step | U-Net held-out Dice | U-Net PUMA EVAL Dice |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    vn = {p["cpu_budget"]: p for p in res["points"].get("vn", [])}
    un = {p["cpu_budget"]: p for p in res["points"].get("unet", [])}
    for t in sorted(set(vn) & set(un)):
        a, b = vn[t], un[t]
        lines.append(
            f"| {t / 60:g} min | {a['step']} | {a['synthetic_dice']:.3f} | "
            f"{a['puma_eval_dice']:.3f} | {a['psnr_gain']:+.2f} dB | {b['step']} | "
            f"{b['synthetic_dice']:.3f} | {b['puma_eval_dice']:.3f} |"
        )
    return [*lines, "", "![VN and U-Net at equal CPU time](results/vn_vs_unet_time.png)", ""]


def _variant(r: dict[str, Any]) -> str:
    kw = r["vn_config"]
    return f"lambda_init {kw.get('lambda_init', 0.1)}, lr {r['lr']:g}"


def main() -> int:
    tasks = {n: _load(C.RESULTS / f"{n}.json") for n in ("tumor", "immune")}
    cards = {k: _load(MODELS / f"scenario{k}.json") for k in (1, 2, 3)}
    study = _load(C.RESULTS / "vn_psnr_study.json")
    prose = (C.EXPERIMENTS / "results_prose.md").read_text(encoding="utf-8")
    parts = dict(
        glance="\n".join(glance(tasks)),
        fig3="\n".join(fig3_section(cards[1])),
        shipped="\n".join(shipped_section(cards)),
        tumor="\n".join(real_section("tumor", tasks["tumor"])),
        immune="\n".join(real_section("immune", tasks["immune"])),
        comparison="\n".join(comparison(tasks)),
        psnr="\n".join(psnr_section(study)),
        equal_time="\n".join(equal_time_section(_load(C.RESULTS / "vn_vs_unet_time.json"))),
    )
    REPORT.write_text(prose.format(**parts), encoding="utf-8")
    C.say(f"wrote {C.rel(REPORT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
