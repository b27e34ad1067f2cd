"""``helm lint`` and ``helm template`` on the chart (helm built from helm.sh/helm/v3)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operator.controlplane import Unavailable, helm_binary
from tests.services import BUILD_HOW, unavailable

CHART = Path(__file__).resolve().parents[2] / "charts" / "scrm-operator"

# Every verb per resource, checked against the code that uses it (files/rbac-rules.yaml).
NAMESPACED_VERBS = {
    "scrm.io/scrmtenants": {"get", "list", "watch", "patch"},
    "scrm.io/senders": {"get", "list", "watch", "patch"},
    "scrm.io/scrmtenants/status": {"patch"},
    "scrm.io/senders/status": {"patch"},
    "configmaps": {"get", "list", "watch", "create", "patch"},
    "services": {"get", "list", "watch", "create", "patch"},
    "serviceaccounts": {"get", "create", "patch"},
    "apps/deployments": {"get", "list", "watch", "create", "patch", "delete"},
    "batch/jobs": {"get", "list", "create", "patch", "delete"},
    "autoscaling/horizontalpodautoscalers": {"get", "create", "patch", "delete"},
    "networking.k8s.io/networkpolicies": {"get", "create", "patch"},
    "networking.k8s.io/ingresses": {"get", "create", "patch", "delete"},
    "secrets": {"get", "create", "patch"},
    "pods": {"list", "watch"},
    "events": {"create"},
}
CLUSTER_VERBS = {"apiextensions.k8s.io/customresourcedefinitions": {"list", "watch"}}


def verbs_by_resource(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    """``group/resource`` (core: ``resource``) -> verbs; no resource may appear twice."""
    table: dict[str, set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                key = f"{group}/{resource}" if group else resource
                assert key not in table, f"{key} granted by two rules"
                table[key] = set(rule["verbs"])
    return table


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return helm_binary()
    except Unavailable as exc:
        unavailable("helm", exc, BUILD_HOW)


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
    assert verbs_by_resource(role["rules"]) == {
        **NAMESPACED_VERBS,
        **CLUSTER_VERBS,
        "kopf.dev/clusterkopfpeerings": {"list", "watch", "patch"},
    }
    assert not any(kind == "Role" for kind, _ in by_kind)
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


def test_helm_template_single_namespace_grants_a_role_there_and_a_minimal_cluster_role(
    helm: Path,
) -> None:
    out = run(
        helm, "template", "scrm", str(CHART), "--namespace", "ops", "--set", "watchNamespace=sales"
    )
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}
    role = docs["Role", "scrm-scrm-operator"]
    assert role["metadata"]["namespace"] == "sales"
    assert verbs_by_resource(role["rules"]) == {
        **NAMESPACED_VERBS,
        "kopf.dev/kopfpeerings": {"list", "watch", "patch"},
    }
    cluster_role = docs["ClusterRole", "scrm-scrm-operator"]
    assert verbs_by_resource(cluster_role["rules"]) == {
        **CLUSTER_VERBS,
        "namespaces": {"list", "watch"},  # kopf checks that its namespace exists
    }
    binding = docs["RoleBinding", "scrm-scrm-operator"]
    assert binding["metadata"]["namespace"] == "sales"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "scrm-scrm-operator",
    }
    subject = {"kind": "ServiceAccount", "name": "scrm-scrm-operator", "namespace": "ops"}
    assert binding["subjects"] == [subject]
    assert docs["ClusterRoleBinding", "scrm-scrm-operator"]["subjects"] == [subject]


def test_helm_template_passes_the_allow_lists_and_retry_settings_to_the_operator(
    helm: Path,
) -> None:
    out = run(
        helm,
        "template",
        "scrm",
        str(CHART),
        "--set",
        "allowedImageRepositories={registry.example/scrm,ghcr.io/scrm}",
        "--set",
        "retryMaxSeconds=120",
    )
    (deployment,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SCRM_OPERATOR_ALLOWED_IMAGE_REPOSITORIES"] == "registry.example/scrm,ghcr.io/scrm"
    assert env["SCRM_OPERATOR_ALLOWED_GRAPH_URLS"] == "https://graph.facebook.com"
    assert (
        env["SCRM_OPERATOR_ALLOWED_INTERNAL_URLS"]
        == "http://*.svc:8000,http://*.svc.cluster.local:8000"
    )
    assert env["SCRM_OPERATOR_RETRY_MAX_SECONDS"] == "120"
