"""A throw-away Kubernetes control plane for tests, started like controller-runtime's envtest:
etcd + kube-apiserver on loopback with generated certificates, RBAC authorization and an
admin client certificate (O=system:masters). No scheduler, kubelet or controllers run, so
Pods stay unscheduled and nothing is garbage-collected.

Binaries: ``$KUBEBUILDER_ASSETS`` (envtest's convention), else the cache of
``e2e/controlplane/build.sh``, which is run to build them when ``go`` is available.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "e2e" / "controlplane" / "build.sh"
START_TIMEOUT = float(os.environ.get("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT", "60"))


class Unavailable(RuntimeError):
    """The binaries are missing and could not be built."""


def _versions() -> dict[str, str]:
    lines = (BUILD.parent / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _cache(variable: str, kind: str) -> Path:
    default = Path.home() / ".cache" / "scrm" / kind
    return Path(os.environ.get(variable) or default)


def _build(target: str) -> Path:
    """Run build.sh (it reuses what exists); its last output line is the result."""
    if shutil.which("go") is None:
        raise Unavailable(f"{target} binaries are not built and go is missing")
    result = subprocess.run(
        ["bash", str(BUILD), target], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise Unavailable(f"{BUILD} {target} failed: {result.stderr[-2000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def binaries_dir() -> Path:
    """Directory with ``etcd`` and ``kube-apiserver``: KUBEBUILDER_ASSETS, else the build
    cache, else built now."""
    v = _versions()
    cached = _cache("SCRM_CONTROLPLANE_CACHE", "controlplane")
    for candidate in (
        os.environ.get("KUBEBUILDER_ASSETS"),
        cached / f"{v['KUBE_VERSION']}-etcd{v['ETCD_VERSION']}",
    ):
        if candidate and all((Path(candidate) / b).is_file() for b in ("etcd", "kube-apiserver")):
            return Path(candidate)
    return _build("controlplane")


CLUSTER_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kwok-stages.yaml",
)


def cluster_binaries_dir() -> Path:
    """Directory with the control plane, controllers, scheduler and kwok (build.sh cluster):
    the build cache, else built now. KUBEBUILDER_ASSETS has no controllers, so it is not used."""
    v = _versions()
    cached = _cache("SCRM_CONTROLPLANE_CACHE", "controlplane")
    directory = cached / f"{v['KUBE_VERSION']}-etcd{v['ETCD_VERSION']}"
    if all((directory / b).is_file() for b in CLUSTER_BINARIES):
        return directory
    return _build("cluster")


def helm_binary() -> Path:
    cached = _cache("SCRM_HELM_CACHE", "helm") / _versions()["HELM_VERSION"] / "helm"
    return cached if cached.is_file() else _build("helm")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class KeyPair:
    cert: Path
    key: Path


class TinyCA:
    """A self-signed CA issuing short-lived certificates (envtest's TinyCA)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(subject, self.key.public_key())
            .issuer_name(subject)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name}.crt"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _builder(subject: x509.Name, public_key: rsa.RSAPublicKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(
        self, name: str, common_name: str, org: str | None = None, server: bool = False
    ) -> KeyPair:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if org:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        builder = self._builder(x509.Name(attrs), key.public_key()).issuer_name(self.cert.subject)
        if server:
            sans: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        pair = KeyPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        return pair


def _wait(
    url: str, what: str, process: subprocess.Popen[bytes], context: ssl.SSLContext | None, log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}: {log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not healthy within {START_TIMEOUT}s: {log.read_text()[-3000:]}")


class ControlPlane:
    """``start()`` returns once both processes are healthy; ``kubeconfig`` is then usable.

    ``service_accounts``: keep the ServiceAccount admission plugin (a pod's account must
    exist); only useful when a controller-manager creates the ``default`` accounts."""

    def __init__(self, workdir: Path, binaries: Path, service_accounts: bool = False) -> None:
        self.dir = workdir
        self.bin = binaries
        self.service_accounts = service_accounts
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kubeconfig = workdir / "kubeconfig"
        self.ca: TinyCA | None = None
        self.client_ca: TinyCA | None = None
        self.signer: KeyPair | None = None
        self.url = ""

    def _spawn(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.dir / f"{name}.log"
        process = subprocess.Popen(
            [str(self.bin / name), *args],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process, log

    def start(self) -> None:
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd, etcd_log = self._spawn(
            "etcd",
            [
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        _wait(f"{etcd_url}/health", "etcd", etcd, None, etcd_log)

        certs = self.dir / "certs"
        certs.mkdir()
        serving_ca = TinyCA(certs, "serving-ca")
        serving = serving_ca.issue("apiserver", "kube-apiserver", server=True)
        client_ca = TinyCA(certs, "client-ca")
        admin = client_ca.issue("admin", "admin", org="system:masters")
        signer = client_ca.issue("sa-signer", "sa-signer")
        self.ca, self.client_ca, self.signer = serving_ca, client_ca, signer
        admission = [] if self.service_accounts else ["--disable-admission-plugins=ServiceAccount"]
        self.url = f"https://127.0.0.1:{api_port}"
        apiserver, api_log = self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--secure-port={api_port}",
                "--bind-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                *admission,
                "--authorization-mode=RBAC",
                f"--client-ca-file={client_ca.path}",
                f"--service-account-issuer={self.url}/",
                f"--service-account-key-file={signer.cert}",
                f"--service-account-signing-key-file={signer.key}",
                "--v=1",
            ],
        )
        context = ssl.create_default_context(cafile=str(serving_ca.path))
        context.load_cert_chain(str(admin.cert), str(admin.key))
        _wait(f"{self.url}/readyz", "kube-apiserver", apiserver, context, api_log)
        self.write_kubeconfig(self.kubeconfig, admin)

    def user(self, name: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a client-certificate user (CN=name, O=groups) for RBAC tests."""
        assert self.client_ca is not None
        pair = self.client_ca.issue(f"user-{name}", name, org=",".join(groups) or None)
        path = self.dir / f"kubeconfig-{name}"
        self.write_kubeconfig(path, pair)
        return path

    def write_kubeconfig(self, path: Path, pair: KeyPair) -> None:
        assert self.ca is not None
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: envtest\n  cluster:\n"
            f"    server: {self.url}\n    certificate-authority: {self.ca.path}\n"
            "users:\n- name: user\n  user:\n"
            f"    client-certificate: {pair.cert}\n    client-key: {pair.key}\n"
            "contexts:\n- name: envtest\n  context: {cluster: envtest, user: user}\n"
            "current-context: envtest\n"
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
