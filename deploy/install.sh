#!/usr/bin/env bash
# The production install, from the hash-locked sets only (deploy/Dockerfile runs it; CI runs
# it into a clean virtual environment):
#
#   deploy/install.sh [VENV]     VENV: created when missing (default /opt/watcher)
#
# 1. requirements/build.txt and requirements/lock.txt with --require-hashes: every file pip
#    takes must match a sha256 recorded in the lock, whatever index or mirror pip is set to
#    use; wheels only (--only-binary :all:), so no third-party build code runs here.
# 2. the project from this source tree with --no-deps --no-build-isolation --no-index: its
#    dependencies are step 1's, its build backend (setuptools) is the locked one in the venv,
#    and nothing at all is fetched (an isolated build would download setuptools unhashed).
#    It compiles watcher/matching/_probe.c: needs gcc and Python's headers.
# 3. pip check (the locked set is complete and consistent) and `watcher --version`.
#
# PIP_NO_CACHE_DIR=1 (the Dockerfile's) keeps downloads out of the image. PYTHON picks the
# interpreter that creates the venv (default python3; the locks are made for CPython 3.11).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-/opt/watcher}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)

"${pip[@]}" install --require-hashes --only-binary :all: \
    -r "$src/requirements/build.txt" -r "$src/requirements/lock.txt"
# setuptools builds under build/ and *.egg-info/ in the tree by default: stale files there
# (a module since deleted) would end up in the wheel, so it builds in a temporary folder.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
printf '[build]\nbuild_base = %s/build\n[egg_info]\negg_base = %s\n' "$build" "$build" \
    >"$build/setup.cfg"
DIST_EXTRA_CONFIG="$build/setup.cfg" \
    "${pip[@]}" install --no-deps --no-build-isolation --no-index "$src"
"${pip[@]}" check
"$venv/bin/watcher" --version
