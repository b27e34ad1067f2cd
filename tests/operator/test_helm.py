"""``helm lint`` and ``helm template`` on the chart (helm built from helm.sh/helm/v3)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.operator.controlplane import Unavailable, helm_binary
from tests.services import in_ci

CHART = Path(__file__).resolve().parents[2] / "charts" / "scrm-operator"
RULES = CHART / "files" / "rbac-rules.yaml"


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return helm_binary()
    except Unavailable as exc:
        if in_ci():
            pytest.fail(f"helm unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"helm unavailable: {exc}")


def run(helm: Path, *args: str) -> str:
    result = subprocess.run([str(helm), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_helm_lint_is_clean(helm: Path) -> None:
    assert "0 chart(s) failed" in run(helm, "lint", "--strict", str(CHART))


def test_helm_template_renders_operator_with_least_privilege(helm: Path) -> None:
    docs = [
        d
        for d in yaml.safe_load_all(
            run(
                helm,
                "template",
                "scrm-operator",
                str(CHART),
                "--namespace",
                "ops",
                "--include-crds",
            )
        )
        if d
    ]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    deployment = by_kind["Deployment", "scrm-operator"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["run", "--module=scrm_operator"]
    assert "--peering=scrm-operator" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    role = by_kind["ClusterRole", "scrm-operator"]
    assert role["rules"] == yaml.safe_load(RULES.read_text())
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])
    binding = by_kind["ClusterRoleBinding", "scrm-operator"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "scrm-operator", "namespace": "ops"}
    ]
    crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {"scrmtenants.scrm.io", "senders.scrm.io", "clusterkopfpeerings.kopf.dev"} <= crds
    assert ("ClusterKopfPeering", "scrm-operator") in by_kind


def test_helm_template_single_namespace_peers_in_that_namespace(helm: Path) -> None:
    out = run(helm, "template", "scrm", str(CHART), "--set", "watchNamespace=sales")
    (peering,) = [d for d in yaml.safe_load_all(out) if d and d["kind"].endswith("KopfPeering")]
    assert (peering["kind"], peering["metadata"]["namespace"]) == ("KopfPeering", "sales")


def test_helm_template_single_namespace_without_peering(helm: Path) -> None:
    out = run(
        helm,
        "template",
        "scrm",
        str(CHART),
        "--set",
        "watchNamespace=sales",
        "--set",
        "peering.enabled=false",
    )
    docs = [d for d in yaml.safe_load_all(out) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=sales" in args and "--standalone" in args
    assert not [d for d in docs if d["kind"] == "ClusterKopfPeering"]
