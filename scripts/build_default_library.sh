#!/usr/bin/env bash
# Rebuild the default colour/shape/patch library scenes/lib/he_stardist/ with `synthlang fit --auto`.
#
# Source image: stardist/data/images/histo.jpg from the stardist 0.9.2 wheel (BSD-3-Clause,
# Copyright (c) 2018-2025, Uwe Schmidt, Martin Weigert). A copy ships in
# scenes/lib/he_stardist/source/ with its licence; when it is missing this script downloads the
# wheel with pip (`pip download --no-deps stardist==0.9.2`) and extracts the image.
# The sha256 of the image is checked either way. The result is deterministic.
#
# Usage (from anywhere, with synthlang installed):  scripts/build_default_library.sh
set -euo pipefail
cd "$(dirname "$0")/.."

LIB=scenes/lib/he_stardist
SRC=$LIB/source/histo.jpg
SHA256=1b4f4cf440f22438d114ac629d102d2b403ff1d22ae8b00b1c674bfbca410a02
PYTHON=${PYTHON:-python}

if [ ! -f "$SRC" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$PYTHON" -m pip download --no-deps stardist==0.9.2 -d "$tmp"
    mkdir -p "$LIB/source"
    "$PYTHON" - "$tmp" "$SRC" <<'PY'
import sys, zipfile, tarfile, pathlib
folder, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for archive in folder.iterdir():
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            target.write_bytes(z.read("stardist/data/images/histo.jpg"))
            lic = [n for n in z.namelist() if n.endswith("LICENSE.txt")]
            if lic:
                (target.parent.parent / "LICENSE.stardist.txt").write_bytes(z.read(lic[0]))
        break
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as t:
            member = next(m for m in t.getmembers() if m.name.endswith("stardist/data/images/histo.jpg"))
            target.write_bytes(t.extractfile(member).read())
        break
else:
    sys.exit("no stardist wheel or sdist downloaded")
PY
fi

echo "$SHA256  $SRC" | sha256sum --check --quiet

"$PYTHON" -m synthlang.cli.fit "$SRC" --auto \
    --auto-rule lymphocyte_max_radius_um=3.2 round_ratio=0.6 \
    --only tumor lymphocyte stroma \
    --max-patches 60 --prefix stardist \
    --licence "BSD-3-Clause, Copyright (c) 2018-2025 Uwe Schmidt, Martin Weigert (stardist 0.9.2, stardist/data/images/histo.jpg); see LICENSE.stardist.txt" \
    -o "$LIB/he_stardist.scene"
