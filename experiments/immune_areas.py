"""Real benchmark 2: immune-cell-rich areas in H&E (the paper's Scenario 2 task).

    python experiments/immune_areas.py --stage all  # or: fit real render train predict evaluate

Truth: the pixels of immune nuclei (PUMA lymphocytes and plasma cells; NuCLS sTIL) whose
immune-nucleus concentration within radius 40 px at 20x exceeds 0.2 -- the mask rule of
scenes/scenario2.scene applied to the annotated nuclei by synthlang.engine.rules, the code that
makes the masks of rendered samples -- on the PUMA EVAL half (rows 512-1023, 20x) and the 5
NuCLS test tiles
(rescaled by 0.4). Models: the VN and the U-Net trained on the same data rendered from
experiments/scenes/puma_immune.scene (fitted on the PUMA FIT half), and the upper reference (the
same U-Net trained on the real labels of the PUMA FIT half). NuCLS tiles are Reinhard-normalised
to the PUMA FIT half before prediction. Outputs: experiments/out/immune/, tables
docs/results/immune.md.
"""

from __future__ import annotations

import sys

import benchmark as B
import common as C

TASK = B.Task(
    name="immune",
    title="Immune-cell-rich areas (Scenario 2 task) on real H&E",
    scene=C.SCENES / "puma_immune.scene",
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
    script="immune_areas.py",
)

if __name__ == "__main__":
    sys.exit(B.main(TASK))
