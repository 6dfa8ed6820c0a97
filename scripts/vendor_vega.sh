#!/usr/bin/env bash
# Reproduce book/_static/vega/ from the pinned npm package: the Vega runtime that the interactive
# figures (ce_lib/interactive.py, book/_static/vega/ce_interactive.js) run on, served by the
# site itself so that the figures work offline.
#
#   bash scripts/vendor_vega.sh        # needs node + npm and the npm registry
#
# Only Vega is vendored: the specifications are Vega (not Vega-Lite) JSON built in Python, so
# neither vega-lite (the compiler) nor vega-embed is needed in the browser. The script installs
# the exact version into a temporary folder, copies the minified browser build, Vega's LICENSE
# and the license of every package bundled into that build (THIRD_PARTY_LICENSES.txt), and
# writes VERSIONS (package, version, npm integrity, sha256 of the copied file). The loader
# ce_interactive.js is written by hand and kept in git; this script does not touch it.
set -euo pipefail

VEGA_VERSION=6.2.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/book/_static/vega"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

command -v npm >/dev/null || { echo "npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$DEST"
(
    cd "$TMP"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --ignore-scripts --save-exact "vega@$VEGA_VERSION" >/dev/null
)
cp "$TMP/node_modules/vega/build/vega.min.js" "$DEST/vega.min.js"
cp "$TMP/node_modules/vega/LICENSE" "$DEST/LICENSE"

python3 - "$TMP" "$DEST" "$VEGA_VERSION" <<'PY'
import hashlib
import json
import sys
from pathlib import Path

tmp, dest, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
modules = tmp / "node_modules"
lock = json.loads((tmp / "package-lock.json").read_text())["packages"]
# Installed with vega but not part of its browser build: d3-dsv's command-line tools and types.
NOT_BUNDLED = {"commander", "iconv-lite", "rw", "safer-buffer"}
parts = []
for pkg_json in sorted(modules.glob("*/package.json")) + sorted(modules.glob("@*/*/package.json")):
    pkg = json.loads(pkg_json.read_text())
    name = pkg["name"]
    if name in NOT_BUNDLED or name.startswith("@types/") or name == "vega":
        continue
    texts = sorted(p for p in pkg_json.parent.iterdir() if p.name.upper().startswith("LICEN"))
    body = texts[0].read_text(encoding="utf-8").strip() if texts else f"License: {pkg.get('license')}"
    parts.append(f"{name}@{pkg['version']} ({pkg.get('license')})\n\n{body}\n")
header = (
    f"vega.min.js (vega {version}) bundles the following packages; their licenses follow.\n"
    "Vega's own license is in LICENSE. Versions are those npm resolved within vega's\n"
    "dependency ranges when scripts/vendor_vega.sh ran (the bundle was built by Vega's\n"
    "maintainers from the same packages).\n"
)
(dest / "THIRD_PARTY_LICENSES.txt").write_text(
    header + "\n" + ("\n" + "=" * 78 + "\n\n").join(parts), encoding="utf-8"
)
sha = hashlib.sha256((dest / "vega.min.js").read_bytes()).hexdigest()
integrity = lock["node_modules/vega"]["integrity"]
(dest / "VERSIONS").write_text(
    "# Written by scripts/vendor_vega.sh; do not edit.\n"
    f"vega {version} (npm) {integrity}\n"
    f"vega.min.js sha256 {sha}\n",
    encoding="utf-8",
)
PY
echo "vendored vega $VEGA_VERSION into $DEST"
