#!/usr/bin/env bash
# Every deploy file through its validator, and the locks through theirs; no container engine
# or cluster needed (CI runs it: .ci/run).
#
#   deploy/check.sh
#
# Tools come from the `deploy` extra in .venv (TOOLS=DIR for another bin folder);
# systemd-analyze from the system. WATCHER_PROD_VENV names a venv that deploy/install.sh
# made; without it one is made in a temporary folder (that is the clean-venv install test).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${TOOLS:-.venv/bin}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "-- lock: pinned with hashes, no URL or path, up to date with pyproject.toml"
UV="$TOOLS/uv" PYTHON="$TOOLS/python" deploy/lock.sh --check

venv="${WATCHER_PROD_VENV:-}"
if [[ -z "$venv" ]]; then
    echo "-- install: deploy/install.sh into a clean venv"
    venv="$tmp/venv"
    deploy/install.sh "$venv"
fi

echo "-- deploy/Dockerfile: hadolint"
"$TOOLS/hadolint" deploy/Dockerfile
echo "ok"

echo "-- deploy/compose.yaml: the Compose specification's schema"
"$TOOLS/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml

echo "-- deploy/kubernetes/: Kubernetes 1.30 and 1.37 schemas, strict"
for version in 1.30.0 1.37.0; do
    "$TOOLS/kubernetes-validate" --strict --quiet -k "$version" deploy/kubernetes/*.yaml
done
echo "ok"

# systemd-analyze verify wants ExecStart's program to exist, and only warns (exit 0) about
# unknown or malformed settings: it checks a copy whose commands point at the venv just
# installed, and any output is a failure.
echo "-- deploy/watcher.service: systemd-analyze verify, and security (exposure)"
sed "s|/opt/watcher/bin/watcher|$venv/bin/watcher|g" deploy/watcher.service \
    >"$tmp/watcher.service"
if ! out="$(systemd-analyze verify "$tmp/watcher.service" 2>&1)" || [[ -n "$out" ]]; then
    printf '%s\n' "$out" >&2
    echo "deploy/watcher.service: systemd-analyze verify failed" >&2
    exit 1
fi
# And its hardening does not slip: exposure 2.5 at most on systemd's 0-10 scale (1.5 now).
if ! out="$(systemd-analyze security --offline=true --threshold=25 "$tmp/watcher.service")"; then
    printf '%s\n' "$out" >&2
    echo "deploy/watcher.service: hardening below the threshold" >&2
    exit 1
fi
printf '%s\n' "$out" | tail -n 1

echo "-- the commands the deploy files run exist"
for args in "run --help" "db upgrade --help"; do
    # shellcheck disable=SC2086
    "$venv/bin/watcher" $args >/dev/null
done
echo "ok"
