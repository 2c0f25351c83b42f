#!/usr/bin/env bash
# Rebuild the shipped libraries fitted from open (CC0) data:
#   scenes/lib/puma_melanoma/  from the PUMA FIT half (rows 0-511 of ROI 094 only; never the EVAL half)
#   scenes/lib/nucls_breast/   from the 10 NuCLS train tiles (never the test tiles)
# The raw images are not in the repository: they are read from ../shared/realdata (or
# $SYNTHLANG_REALDATA); see each library's README.md for source, licence and split.
# Deterministic (seed 0).  Usage, from anywhere with synthlang installed:
#   scripts/build_open_libraries.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${SYNTHLANG_REALDATA:-../shared/realdata}
if [ ! -d "$REAL/puma_melanoma" ] || [ ! -d "$REAL/nucls" ]; then
    echo "error: the real data is not at $REAL (set SYNTHLANG_REALDATA)" >&2
    exit 2
fi

P=$REAL/puma_melanoma
N=training_set_metastatic_roi_094
rm -rf scenes/lib/puma_melanoma && mkdir -p scenes/lib/puma_melanoma
synthlang fit "$P/$N.tif" \
    --labels "$P/${N}_inst.png" --class-labels "$P/${N}_class.png" --classes "$P/class_map.json" \
    --crop 0:512,: --scale 0.5 --pixel-size 0.25 \
    --morphology "$P/puma_all205_nuclei_morphology.csv.gz" \
    --class-names nuclei_tumor=tumor nuclei_lymphocyte=lymphocyte nuclei_histiocyte=histiocyte \
    --only tumor lymphocyte histiocyte --min-objects 3 --cohorts 3 --max-patches 55 \
    --prefix puma --licence "CC0 1.0 (PUMA challenge data, Schuiveling et al., GigaScience 2025)" \
    -o scenes/lib/puma_melanoma/puma_melanoma.scene

T=$REAL/nucls/square256/train
imgs=() npzs=()
for i in 1 2 3 4 5 6 7 8 9 10; do imgs+=("$T/train_$i.png"); npzs+=("$T/train_${i}_labels.npz"); done
rm -rf scenes/lib/nucls_breast && mkdir -p scenes/lib/nucls_breast
synthlang fit "${imgs[@]}" --npz "${npzs[@]}" \
    --pixel-size 0.2 --scale 0.4 --min-objects 5 --cohorts 3 --max-patches 55 \
    --prefix nucls --licence "CC0 1.0 (NuCLS, Amgad et al., GigaScience 2022)" \
    -o scenes/lib/nucls_breast/nucls_breast.scene
