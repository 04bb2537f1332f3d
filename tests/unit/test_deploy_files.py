"""The deploy files (deploy/) and the hash-locked sets (requirements/) agree with the code:
every command they run is a real CLI command, the shapes the README promises are there,
the locks pin every dependency with hashes and record no URL or path. deploy/check.sh runs
the validators proper (hadolint, the Compose schema, Kubernetes schemas, systemd)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from watcher.cli import _parser

# PyYAML comes with the test extra (schemathesis needs it), its type stubs do not.
yaml = importlib.import_module("yaml")

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"


def _lockcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lockcheck", DEPLOY / "lockcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lockcheck"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _manifests() if doc["kind"] == kind]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _assert_cli(command: list[str]) -> None:
    assert command[0] == "watcher", command
    _parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command


def test_locks_pin_every_dependency_with_hashes() -> None:
    done = subprocess.run(
        [sys.executable, str(DEPLOY / "lockcheck.py"), "verify"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_lockcheck_refuses_urls_paths_unhashed_and_the_project(tmp_path: Path) -> None:
    lockcheck = _lockcheck()
    (tmp_path / "requirements").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\n'
        '[project]\ndependencies = ["attrs>=1", "numpy>=99", "six"]\n'
    )
    digest = "0" * 64
    (tmp_path / "requirements" / "build.txt").write_text(
        f"setuptools==80.0 --hash=sha256:{digest}\n"
    )
    (tmp_path / "requirements" / "lock.txt").write_text(
        "--index-url https://mirror.example.internal/simple\n"
        f"attrs==26.1.0 \\\n    --hash=sha256:{digest}\n"
        f"numpy==2.4.6 --hash=sha256:{digest}\n"
        "six==1.16.0\n"
        f"watcher==0.1.0 --hash=sha256:{digest}\n"
        f"local @ file:///srv/wheels/local.whl --hash=sha256:{digest}\n"
    )
    problems = "\n".join(lockcheck.verify(tmp_path))
    assert "records an index, URL or path: --index-url" in problems
    assert "records an index, URL or path: local @ file:" in problems
    assert "six has no sha256 hash" in problems
    assert "the project itself is locked" in problems
    assert "'numpy>=99' but the lock pins numpy==2.4.6" in problems
    assert "attrs" not in problems


def test_lockcheck_compare_sees_a_moved_pin_or_hash(tmp_path: Path) -> None:
    lockcheck = _lockcheck()
    lock = (ROOT / "requirements" / "lock.txt").read_text()
    first = re.search(r"--hash=sha256:([0-9a-f]{64})", lock)
    assert first is not None
    same, moved, rehashed = (tmp_path / name for name in ("same", "moved", "rehashed"))
    same.write_text(re.sub(r"(?m)^\s*#.*\n", "", lock))  # comments may differ
    moved.write_text(re.sub(r"(?m)^numpy==\S+", "numpy==1.26.0", lock))
    rehashed.write_text(lock.replace(first.group(1), "f" * 64))
    real = ROOT / "requirements" / "lock.txt"
    assert lockcheck.compare(real, same) == []
    assert any("numpy" in p and "1.26.0" in p for p in lockcheck.compare(real, moved))
    assert any("other hashes" in p for p in lockcheck.compare(real, rehashed))


def test_urls_in_deploy_files_are_local_or_examples() -> None:
    names = ["Dockerfile", "Dockerfile.dockerignore", "compose.yaml", "watcher.service"]
    names += ["install.sh", "lock.sh", "check.sh"]
    files = [DEPLOY / name for name in names] + list(K8S.glob("*.yaml"))
    files += list((ROOT / "requirements").glob("*.txt"))
    hosts = set()
    for path in files:
        text = re.sub(r"\$\{[^}]*\}", "", path.read_text())  # compose's variables
        hosts |= set(re.findall(r"\b[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?([^/\s'\"]*)", text))
    # "" is SQLite's (sqlite+aiosqlite:////var/lib/...): a file, no host.
    allowed = {"", "127.0.0.1:%s", "127.0.0.1:8080", "db:5432", "index.example.internal"}
    assert hosts <= allowed, hosts


def test_dockerfile_runs_the_service_as_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"(?m)^FROM ", text)) == 2
    assert "RUN bash deploy/install.sh /opt/watcher" in text
    cmd = re.search(r"(?m)^CMD (\[.*\])$", text)
    assert cmd is not None
    _assert_cli(json.loads(cmd.group(1)))
    user = re.findall(r"(?m)^USER (\S+)$", text)
    assert user
    assert not user[-1].startswith(("0", "root"))
    assert "/healthz" in text.split("HEALTHCHECK", 1)[1]


def test_compose_runs_the_upgrade_once_then_two_replicas() -> None:
    services = _compose()["services"]
    _assert_cli(services["migrate"]["command"])
    assert services["migrate"]["command"] == ["watcher", "db", "upgrade"]
    replicas = [s for name, s in services.items() if name.startswith("watcher-")]
    assert len(replicas) == 2
    for service in replicas:
        _assert_cli(service["command"])
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        env = service["environment"]
        assert env["WATCHER_API_TOKEN"].startswith("${WATCHER_API_TOKEN:?")
    # No secret written in the file: each is a variable, passed through or interpolated.
    for service in services.values():
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|DATABASE_URL", key):
                assert value is None or "${" in value, (key, value)


def test_kubernetes_deployment_job_and_network_policy() -> None:
    (deployment,) = _by_kind("Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    _assert_cli(container["command"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    secret_refs = {
        var["name"] for var in container["env"] if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert {"WATCHER_DATABASE_URL", "WATCHER_API_TOKEN"} <= secret_refs
    (job,) = _by_kind("Job")
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    assert job_container["command"] == ["watcher", "db", "upgrade"]
    _assert_cli(job_container["command"])
    assert _by_kind("Service")
    assert _by_kind("NetworkPolicy")
    catalogs = [doc for doc in _by_kind("ConfigMap") if "catalog.toml" in doc["data"]]
    assert catalogs


@pytest.mark.parametrize(
    "setting",
    [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "StateDirectory=watcher",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/opt/watcher/bin/watcher run",
    ],
)
def test_systemd_unit_is_hardened(setting: str) -> None:
    lines = (DEPLOY / "watcher.service").read_text().splitlines()
    assert setting in lines
    if setting.startswith("ExecStart="):
        _assert_cli(["watcher", *setting.split()[1:]])
