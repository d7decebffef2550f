#!/usr/bin/env bash
# Build Cockpit as a one-folder app with PyInstaller (packaging/cockpit.spec) and smoke-test the
# result: dist/cockpit/cockpit --smoke, offscreen, in a throwaway COCKPIT_HOME, from outside the
# repository and without COCKPIT_RESOURCES, so the bundled resources/ is the one it reads.
#
#   bash packaging/build.sh            # after `make install` (or any `make` target)
#   VENV=/path/to/venv bash packaging/build.sh
#
# Linux only (see packaging/README.md for Windows and macOS). Work files go to build/pyinstaller,
# the app to dist/cockpit; both are in .gitignore. Exits non-zero with a message on any failure.
set -euo pipefail
export LC_NUMERIC=C  # $EPOCHREALTIME and printf with a '.' decimal point

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
WORK=$ROOT/build/pyinstaller
DIST=$ROOT/dist
APP=$DIST/cockpit/cockpit
LOG=$ROOT/build/pyinstaller.log
SMOKE_LIMIT_S=${SMOKE_LIMIT_S:-120}

fail() {
    echo "build.sh: FAILED: $*" >&2
    exit 1
}

[[ $(uname -s) == Linux ]] || fail "this script builds on Linux only; see packaging/README.md"
[[ -x $PY ]] || fail "no Python at $PY: run 'make install' first (it creates .venv)"
"$PY" -c 'import cockpit, PySide6' 2>/dev/null ||
    fail "cockpit is not installed in $VENV: run 'make install' first"

# PyInstaller is a build tool, not a dependency of the app: installed here, on demand.
if ! "$PY" -c 'import sys, PyInstaller; sys.exit(PyInstaller.__version__.split(".")[0] != "6")' \
    2>/dev/null; then
    echo "build.sh: installing PyInstaller 6 into $VENV"
    "$PY" -m pip install --disable-pip-version-check -q 'pyinstaller>=6,<7' ||
        fail "could not install PyInstaller ('pip install \"pyinstaller>=6,<7\"')"
fi
PYI_VERSION=$("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)')
VERSION=$("$PY" -c 'import cockpit; print(cockpit.__version__)')

echo "build.sh: building cockpit $VERSION with PyInstaller $PYI_VERSION (log: ${LOG#"$ROOT"/})"
mkdir -p "$(dirname "$LOG")"
build_start=$EPOCHREALTIME
if ! "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath "$WORK" --distpath "$DIST" packaging/cockpit.spec >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    fail "PyInstaller failed; the whole log is $LOG"
fi
build_s=$(awk -v a="$build_start" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')

[[ -x $APP ]] || fail "the build produced no executable at $APP"
for file in resources/nse/holidays.csv resources/nse/contract_specs.csv \
    resources/exchange/underlyings.csv resources/icons/cockpit.svg; do
    [[ -f $DIST/cockpit/_internal/$file ]] || fail "$file is not in the bundle"
done

# Every ELF file in the bundle must find its libraries, in the bundle or on the system: a Qt
# plugin that cannot load (xcb, wayland) fails only on a real display, which --smoke has not.
# Libraries PyInstaller never bundles (libGL, libxcb, libwayland-*: they must match the user's
# system) are only reported when this machine lacks them; any other one missing is a failure.
missing=$(find "$DIST/cockpit" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 |
    LD_LIBRARY_PATH=$DIST/cockpit/_internal xargs -0 -n 20 ldd 2>/dev/null |
    awk '/not found/ {print $1}' | sort -u || true)  # ldd fails on files that are not ELF
if [[ -n $missing ]]; then
    # shellcheck disable=SC2086 # one library name per word
    classified=$("$PY" -c '
import sys
from PyInstaller.depend.dylib import include_library
for name in sys.argv[1:]:
    print(("bundled" if include_library(name) else "system"), name)
' $missing)
    not_bundled=$(awk '$1 == "bundled" {print "  " $2}' <<<"$classified")
    [[ -z $not_bundled ]] ||
        fail "libraries the bundle needs but PyInstaller could not find here:"$'\n'"$not_bundled"
    echo "build.sh: note: left to the user's system and absent on this one:" \
        "$(awk '$1 == "system" {printf "%s ", $2}' <<<"$classified")"
fi

# Run the built app as a user would: not from the repository, no COCKPIT_RESOURCES, a fresh home.
smoke_home=$(mktemp -d)
trap 'rm -rf "$smoke_home"' EXIT
version_out=$(cd "$smoke_home" && env -u COCKPIT_RESOURCES -u PYTHONPATH \
    COCKPIT_HOME="$smoke_home/home" "$APP" --version 2>&1) ||
    fail "'cockpit --version' failed: $version_out"
[[ $version_out == "cockpit $VERSION" ]] ||
    fail "'cockpit --version' printed '$version_out', expected 'cockpit $VERSION'"

echo "build.sh: smoke test: $APP --smoke (offscreen, COCKPIT_HOME=$smoke_home/home)"
smoke_start=$EPOCHREALTIME
set +e
(cd "$smoke_home" && env -u COCKPIT_RESOURCES -u PYTHONPATH QT_QPA_PLATFORM=offscreen \
    COCKPIT_HOME="$smoke_home/home" timeout "$SMOKE_LIMIT_S" "$APP" --smoke \
    >"$smoke_home/stdout" 2>"$smoke_home/stderr")
smoke_rc=$?
set -e
smoke_wall_s=$(awk -v a="$smoke_start" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')
smoke_line=$(grep -m1 '^smoke: main window shown' "$smoke_home/stdout" || true)
if [[ $smoke_rc -ne 0 || -z $smoke_line ]]; then
    echo "--- stdout" >&2
    cat "$smoke_home/stdout" >&2
    echo "--- stderr (last 40 lines)" >&2
    tail -n 40 "$smoke_home/stderr" >&2
    [[ $smoke_rc -eq 124 ]] && fail "the built app's --smoke did not finish in ${SMOKE_LIMIT_S} s"
    [[ $smoke_rc -ne 0 ]] && fail "the built app's --smoke exited $smoke_rc"
    fail "the built app's --smoke exited 0 but never printed 'smoke: main window shown'"
fi

size=$(du -sh "$DIST/cockpit" | cut -f1)
files=$(find "$DIST/cockpit" -type f | wc -l)
echo "$smoke_line"
printf 'build.sh: OK: %s (%s in %s files); build %.1f s; smoke %.2f s wall clock\n' \
    "${APP#"$ROOT"/}" "$size" "$files" "$build_s" "$smoke_wall_s"
