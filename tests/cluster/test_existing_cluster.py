"""The pieces of the kind mode (``SCRM_E2E_KUBECONFIG``) that run without a cluster:
settings from the environment, kubeconfig contexts, kubectl and helm command lines, the
port-forward output and process handling, the in-cluster simulator and the chart values."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cluster.cluster import (
    CHART,
    SIMULATOR_PORT,
    Existing,
    Image,
    parse_image,
    simulator_manifests,
)
from tests.cluster.portforward import PortForwards, forwarded_port, port_forward_command
from tests.operator.controlplane import Unavailable, helm_binary
from tests.services import BUILD_HOW, unavailable


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("scrm:dev", Image("scrm", "dev", "dev-next")),
        ("localhost:5000/scrm:dev", Image("localhost:5000/scrm", "dev", "dev-next")),
        ("localhost:5000/scrm", Image("localhost:5000/scrm", "latest", "latest-next")),
        ("scrm", Image("scrm", "latest", "latest-next")),
    ],
)
def test_image_references_split_into_repository_and_tag(reference: str, expected: Image) -> None:
    assert parse_image(reference) == expected


def _kubeconfig(path: Path) -> Path:
    def entry(name: str, server: str) -> dict[str, object]:
        return {"name": name, "cluster": {"server": server, "insecure-skip-tls-verify": True}}

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [entry("a", "https://10.9.0.1:6443"), entry("b", "https://b:7443")],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "kind-a", "context": {"cluster": "a", "user": "u"}},
                    {"name": "kind-b", "context": {"cluster": "b", "user": "u"}},
                ],
                "current-context": "kind-a",
            }
        )
    )
    return path


def test_without_a_kubeconfig_the_assembled_control_plane_is_used(tmp_path: Path) -> None:
    assert Existing.from_env({}) is None
    with pytest.raises(FileNotFoundError, match="nope"):
        Existing.from_env({"SCRM_E2E_KUBECONFIG": str(tmp_path / "nope")})


def test_settings_default_to_the_images_run_sh_builds(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path / "config")
    settings = Existing.from_env({"SCRM_E2E_KUBECONFIG": str(kubeconfig)})
    assert settings is not None
    assert settings.image == Image("scrm", "dev", "dev-next")
    assert settings.operator_image == Image("scrm-operator", "dev", "dev-next")
    assert settings.context is None
    env = {
        "SCRM_E2E_KUBECONFIG": str(kubeconfig),
        "SCRM_E2E_CONTEXT": "kind-b",
        "SCRM_E2E_IMAGE": "reg:5000/scrm:abc",
        "SCRM_E2E_NEXT_TAG": "def",
    }
    chosen = Existing.from_env(env)
    assert chosen is not None
    assert chosen.image == Image("reg:5000/scrm", "abc", "def")
    assert chosen.context == "kind-b"


def test_the_kubeconfig_context_chooses_the_api_server(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path / "config")
    current = Existing(kubeconfig, None, parse_image("scrm:dev"), parse_image("op:dev"))
    assert current.client().configuration.host == "https://10.9.0.1:6443"
    other = Existing(kubeconfig, "kind-b", parse_image("scrm:dev"), parse_image("op:dev"))
    assert other.client().configuration.host == "https://b:7443"
    assert other.kubectl("kubectl", "get", "pods") == [
        "kubectl",
        f"--kubeconfig={kubeconfig}",
        "--context=kind-b",
        "get",
        "pods",
    ]
    assert current.kubectl("kubectl", "version") == [
        "kubectl",
        f"--kubeconfig={kubeconfig}",
        "version",
    ]


def test_port_forward_command_and_its_output() -> None:
    assert port_forward_command(["kubectl", "--kubeconfig=k"], "ns", "acme-ws-1", 8001) == [
        "kubectl",
        "--kubeconfig=k",
        "--namespace=ns",
        "port-forward",
        "--address=127.0.0.1",
        "pod/acme-ws-1",
        ":8001",
    ]
    assert forwarded_port("Forwarding from 127.0.0.1:43567 -> 8001\n", 8001) == 43567
    assert forwarded_port("Forwarding from 127.0.0.1:43567 -> 8000\n", 8001) is None
    assert forwarded_port("Forwarding from [::1]:43567 -> 8001\n", 8001) is None
    assert forwarded_port("Handling connection for 43567\n", 8001) is None


FAKE_KUBECTL = """#!{python}
import sys, time
args = sys.argv[1:]
pod, remote = args[-2].split("/")[1], args[-1].lstrip(":")
if pod == "gone":
    print('error: pods "gone" not found', flush=True)
    sys.exit(1)
with open("{calls}", "a") as calls:
    calls.write(pod + "\\n")
print("Forwarding from 127.0.0.1:4" + remote + " -> " + remote, flush=True)
for n in range(5000):  # a line per connection: the pipe must be drained
    print("Handling connection for 4" + remote, flush=True)
time.sleep(0.5 if pod == "short" else 60)
"""


def test_port_forwards_start_once_per_pod_restart_when_ended_and_report_failures(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls"
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable, calls=calls))
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
    forwards = PortForwards([str(kubectl), "--kubeconfig=k"], tmp_path / "forward.log")
    try:
        endpoint = {"addresses": ["10.244.1.7"], "targetRef": {"kind": "Pod", "name": "ws-1"}}
        assert forwards.dial("ns", endpoint, 8001) == ("127.0.0.1", 48001)
        assert forwards.dial("ns", endpoint, 8001) == ("127.0.0.1", 48001)
        assert calls.read_text().split() == ["ws-1"]  # one kubectl per pod and port

        assert forwards.local_port("ns", "short", 8000) == 48000
        process, _ = forwards.running[("ns", "short", 8000)]
        process.wait(10)  # its pod went away
        assert forwards.local_port("ns", "short", 8000) == 48000
        assert calls.read_text().split() == ["ws-1", "short", "short"]

        with pytest.raises(OSError, match='pods "gone" not found'):
            forwards.local_port("ns", "gone", 8000)
        with pytest.raises(OSError, match="names no pod"):
            forwards.dial("ns", {"addresses": ["10.0.0.9"]}, 8001)
    finally:
        forwards.stop()
    assert all(p.poll() is not None for p, _ in forwards.running.values())


def test_the_in_cluster_simulator_reads_its_secret_from_a_secret() -> None:
    image = Image("scrm", "dev", "dev-next")
    secret, deployment, service = simulator_manifests(
        "ns", image, "http://acme-api.ns.svc:8000/webhooks/whatsapp", "s3cret", (0.2, 1.0)
    )
    assert secret["kind"] == "Secret" and secret["stringData"] == {"appSecret": "s3cret"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "scrm:dev"
    assert "s3cret" not in yaml.safe_dump(deployment)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WEBHOOK_URL"] == "http://acme-api.ns.svc:8000/webhooks/whatsapp"
    assert env["RETRY_DELAYS"] == "0.2,1.0"
    compile(container["command"][2], "graph-sim", "exec")  # the script is valid Python
    assert service["spec"]["ports"][0]["port"] == SIMULATOR_PORT
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_chart_renders_with_the_kind_values(tmp_path: Path) -> None:
    try:
        helm = helm_binary()
    except Unavailable as exc:
        unavailable("helm", exc, BUILD_HOW)
    kubeconfig = _kubeconfig(tmp_path / "config")
    settings = Existing(kubeconfig, None, parse_image("scrm:dev"), parse_image("scrm-op:dev"))
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(settings.operator_values()))
    result = subprocess.run(
        [str(helm), "template", "scrm-operator", str(CHART), "--values", str(values)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "scrm-op:dev"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SCRM_OPERATOR_ALLOWED_IMAGE_REPOSITORIES"] == "scrm"
    assert env["SCRM_OPERATOR_ALLOWED_GRAPH_URLS"] == f"http://*.svc:{SIMULATOR_PORT}"
