"""Real benchmark 1: tumour nuclei in H&E (the paper's Scenario 3 task).

    python experiments/tumor_nuclei.py --stage all  # or: fit real render train predict evaluate

Truth: the tumour-nucleus pixels (PUMA class 1; NuCLS class tumor_any) of the PUMA EVAL half
(rows 512-1023, downsampled by 2 to the paper's 20x) and of the 5 NuCLS test tiles (rescaled by
0.4 from about 0.2 um/px to 20x), made with the mask rule of scenes/scenario3.scene
(`mask visible(tumor_nucleus)`) through synthlang.engine.rules. Models: the VN and the U-Net
trained on the same data rendered from experiments/scenes/puma_tumor.scene (fitted on the PUMA
FIT half),
and the upper reference (the same U-Net trained on the real labels of the PUMA FIT half).
NuCLS tiles are Reinhard-normalised to the PUMA FIT half before prediction (the paper's recipe
for slides of another stain). Outputs: experiments/out/tumor/, tables docs/results/tumor.md.

Second variant (`--task tumor_nucls`): the same pipeline with experiments/scenes/nucls_tumor.scene,
fitted on the NuCLS train tiles, scored on the NuCLS test tiles (no normalisation); its upper
reference is the U-Net trained on the real labels of the NuCLS train tiles. Outputs:
experiments/out/tumor_nucls/, docs/results/tumor_nucls.md.
"""

from __future__ import annotations

import sys

import benchmark as B
import common as C

TASK = B.Task(
    name="tumor",
    title="Tumour nuclei (Scenario 3 task) on real H&E",
    scene=C.SCENES / "puma_tumor.scene",
    n_train=C.N_TRAIN,
    n_val=20,
    models=[
        B.Model("vn", "VN (synthetic, PUMA-fitted scene)", C.VN_ARGS),
        B.Model("unet", "U-Net (same synthetic data)", C.UNET_ARGS),
        B.Model(
            "upper", "upper reference: U-Net on real PUMA FIT labels", C.UPPER_ARGS, "puma_fit"
        ),
    ],
    eval_sets={"puma_eval": [], "nucls_test": ["--reference", "REF"]},
    val_sets={"puma_fit": []},
    paper=B.PAPER_SCENARIO3,
    script="tumor_nuclei.py",
)

#: the second tissue with its own fitted scene: NuCLS train -> nucls_tumor.scene -> NuCLS test
TASK_NUCLS = B.Task(
    name="tumor_nucls",
    title="Tumour nuclei (Scenario 3 task) on real H&E breast carcinoma, NuCLS-fitted scene",
    scene=C.SCENES / "nucls_tumor.scene",
    n_train=C.N_TRAIN,
    n_val=20,
    models=[
        B.Model("vn", "VN (synthetic, NuCLS-fitted scene)", C.VN_ARGS),
        B.Model("unet", "U-Net (same synthetic data)", C.UNET_ARGS),
        B.Model(
            "upper",
            "upper reference: U-Net on real NuCLS train labels",
            C.UPPER_ARGS,
            "nucls_train",
        ),
    ],  # fmt: skip
    eval_sets={"nucls_test": []},
    val_sets={"nucls_train": []},
    truth_task="tumor",
    script="tumor_nuclei.py",
)

if __name__ == "__main__":
    sys.exit(B.main([TASK, TASK_NUCLS]))
