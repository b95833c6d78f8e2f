#!/usr/bin/env bash
# `make wheel-check`: the package a user gets from `pip install volo-adapt` works on its own.
# Builds the wheel from the files git tracks (a copy, so the checkout gets no build/ or *.egg-info), checks that it
# holds every source file of volo_adapt/ and cli/ and every preset of configs/, installs it with the CPU torch pins
# into a fresh virtual environment in a temp folder, then, from a folder outside the checkout, runs
# `volo --version`, `volo train --dry-run` for every preset (by name, so from the installed package) and a
# two-batch smoke training. Any failure stops it with a non-zero exit; the temp folder is removed either way.
# PY: the Python that makes the environments (default python3).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-python3}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/volo-wheel-check.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS
step() { echo "wheel-check [$((SECONDS - start)) s]: $*"; }

step "copying the tracked tree to $TMP/src"
mkdir -p "$TMP/src"
# tracked and new (not ignored) files, as a commit would hold them; a file deleted but not yet committed is skipped
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
    | tar -C "$ROOT" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$TMP/src" -xf -

step "building the wheel"
"$PY" -m venv "$TMP/venv"
VPY="$TMP/venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip wheel -q --no-deps -w "$TMP/dist" "$TMP/src"
WHEEL="$(ls "$TMP"/dist/volo_adapt-*.whl)"
echo "  $(basename "$WHEEL")"

step "checking the wheel's contents"
(cd "$TMP/src" && git -C "$ROOT" ls-files -co --exclude-standard -- 'volo_adapt/*' 'cli/*' 'configs/*' \
    | while read -r f; do [ -e "$f" ] && echo "$f"; done) >"$TMP/expected.txt"
"$VPY" - "$WHEEL" "$TMP/expected.txt" <<'EOF'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
expected = [ln.strip() for ln in open(sys.argv[2], encoding="utf-8") if ln.strip()]
want = [f.replace("configs/", "volo_adapt/presets/", 1) if f.startswith("configs/") else f for f in expected]
missing = [w for w in want if w not in names]
if missing:
    sys.exit("wheel-check: the wheel lacks " + ", ".join(missing) + " (pyproject.toml [tool.setuptools] packages?)")
print(f"  all {len(want)} files of volo_adapt/, cli/ and configs/ are in the wheel")
EOF

step "installing the wheel (pip install -c constraints.txt)"
"$VPY" -m pip install -q -c "$ROOT/constraints.txt" "$WHEEL"

step "running the installed volo from $TMP/work"
mkdir -p "$TMP/work"
cd "$TMP/work"
export VOLO_CACHE="$TMP/cache"  # the built-in demo set is generated here, not in ~/.cache
VOLO="$TMP/venv/bin/volo"
version="$("$VOLO" --version)"
want_version="volo-adapt $(basename "$WHEEL" | cut -d- -f2)"
[ "$version" = "$want_version" ] || { echo "wheel-check: volo --version printed '$version', not '$want_version'"; exit 1; }
echo "  $version"
"$VPY" - "$TMP/venv" "$ROOT/configs" <<'EOF'
import sys
from pathlib import Path

from volo_adapt.config import PRESETS_DIR

venv, configs = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
if venv not in PRESETS_DIR.resolve().parents:
    sys.exit(f"wheel-check: PRESETS_DIR is {PRESETS_DIR}, outside the installed package in {venv}")
got, want = sorted(p.name for p in PRESETS_DIR.glob("*.yaml")), sorted(p.name for p in configs.glob("*.yaml"))
if got != want:
    sys.exit(f"wheel-check: installed presets {got} != configs/ {want}")
print(f"  {len(got)} presets in {PRESETS_DIR}")
EOF
for preset in "$ROOT"/configs/*.yaml; do
    name="$(basename "$preset" .yaml)"
    step "volo train --dry-run --config $name"
    "$VOLO" train --dry-run --config "$name" --out "$TMP/dry-$name" >"$TMP/dry-$name.log" \
        || { cat "$TMP/dry-$name.log"; echo "wheel-check: volo train --dry-run --config $name failed"; exit 1; }
done

step "volo train --config smoke --set train.max_steps=2"
"$VOLO" train --config smoke --set train.max_steps=2 --out "$TMP/run"
[ -f "$TMP/run/checkpoints/last.ckpt" ] || { echo "wheel-check: the smoke run wrote no last.ckpt"; exit 1; }
step "passed"
