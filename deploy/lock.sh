#!/usr/bin/env bash
# The hash-locked dependency sets, generated from pyproject.toml with uv:
#   requirements/lock.txt   [project] dependencies and everything they need, each pinned
#                           with the sha256 of every file of its release (not the project
#                           itself: deploy/install.sh installs it from the tree, --no-deps)
#   requirements/build.txt  [build-system] requires (setuptools), to build the project
#                           --no-build-isolation, so the build fetches nothing unhashed
# for CPython 3.11 on Linux (the image's Python). Pins already in the files are kept while
# pyproject.toml allows them; --upgrade moves every one to the newest allowed.
#
#   deploy/lock.sh             regenerate (after editing pyproject.toml's dependencies)
#   deploy/lock.sh --upgrade   regenerate, newest versions allowed
#   deploy/lock.sh --check     CI: exit 1 when the files are not what regeneration gives
#
# No index URL, find-links or path is written: uv asks its default index (uv.toml and UV_*
# index settings are ignored here, so every machine locks alike) and the header names this
# script. Needs uv (the `deploy` extra) and the index.
set -euo pipefail
cd "$(dirname "$0")/.."

UV="${UV:-}"
if [[ -z "$UV" ]]; then
    if [[ -x .venv/bin/uv ]]; then UV=.venv/bin/uv; else UV=uv; fi
fi
if ! command -v "$UV" >/dev/null; then
    echo "deploy/lock.sh: no uv: install the deploy extra (.venv/bin/pip install -e '.[deploy]')" >&2
    exit 2
fi
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
for var in UV_INDEX UV_INDEX_URL UV_DEFAULT_INDEX UV_EXTRA_INDEX_URL UV_FIND_LINKS \
    UV_NO_INDEX UV_INDEX_STRATEGY UV_CONSTRAINT UV_OVERRIDE UV_PRERELEASE UV_RESOLUTION \
    UV_EXCLUDE_NEWER UV_CONFIG_FILE UV_PYTHON; do
    unset "$var"
done

mode="write"
upgrade=()
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    --upgrade) upgrade=(--upgrade) ;;
    *) echo "usage: deploy/lock.sh [--check | --upgrade]" >&2; exit 2 ;;
esac

compile() { # compile OUTPUT_DIR: both locks into OUTPUT_DIR (pins there are kept)
    local out="$1"
    local common=(--no-config --quiet --generate-hashes --python-version 3.11
        --python-platform linux --custom-compile-command deploy/lock.sh "${upgrade[@]}")
    "$UV" pip compile pyproject.toml "${common[@]}" --output-file "$out/lock.txt"
    "$PYTHON" -c 'import sys, tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' |
        "$UV" pip compile - "${common[@]}" --output-file "$out/build.txt"
}

if [[ "$mode" == write ]]; then
    mkdir -p requirements
    compile requirements
    "$PYTHON" deploy/lockcheck.py verify
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for name in lock.txt build.txt; do
    if [[ -f "requirements/$name" ]]; then cp "requirements/$name" "$tmp/$name"; fi
done
"$PYTHON" deploy/lockcheck.py verify
compile "$tmp"
status=0
for name in lock.txt build.txt; do
    if ! "$PYTHON" deploy/lockcheck.py compare "requirements/$name" "$tmp/$name"; then
        status=1
    fi
done
if [[ "$status" != 0 ]]; then
    echo "requirements/ is out of date with pyproject.toml: run deploy/lock.sh and commit" >&2
fi
exit "$status"
