"""The whole onboarding path on a real control plane (issue 15), everything real but the
nodes: the example Secrets, ScrmTenant and Sender applied as an admin would; the operator
(installed by its chart, running under its ServiceAccount's token) creates the RabbitMQ
topology and Deployments; controllers and scheduler make Pods that the process kubelet runs;
an agent signs in through the api Service and gets, over a ws pod, the frame of a signed
webhook from the Graph API simulator. The tests run in file order on one tenant.

The same module runs on an existing cluster (``SCRM_E2E_KUBECONFIG``, e.g. kind): every
difference is behind ``Target`` in tests/cluster/cluster.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
import yaml
from kubernetes import client
from scrm_operator.names import external_name

from runtime.bus.management import management_api
from runtime.bus.naming import queue_name
from runtime.whatsapp.simulator.media import tiny_png
from tests.cluster.cluster import Operator, Target, wait_until
from tests.operator.controlplane import REPO
from tests.support import wait_for

TENANT, SENDER = "acme", "acme-main"
APP_SECRET = secrets.token_hex(16)
ADMIN_EMAIL, ADMIN_PASSWORD = "owner@acme.example", "correct horse battery staple 15"
GROUP, VERSION = "scrm.io", "v1alpha1"
CUSTOMER_TEXT = re.compile(r"msg-[0-9a-f]{10}")


@dataclass
class Onboarded:
    """The tenant under test and the handles the tests share."""

    cluster: Target
    namespace: str
    graph: str  # where the test drives the simulator
    sender: dict[str, Any]
    api_url: str = ""
    ws_url: str = ""
    token: str = ""

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.cluster.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.cluster.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.cluster.api)

    def ready(self, plural: str, name: str) -> dict[str, Any]:
        body = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name
        )
        conditions = (body.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), {})

    def running_pods(self, component: str) -> list[client.V1Pod]:
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"app.kubernetes.io/component={component}"
        ).items
        return [p for p in pods if p.metadata.deletion_timestamp is None]


def _examples(cluster: Target, namespace: str, database_url: str, graph: str) -> list[dict]:
    """examples/*.yaml as an admin would apply them, pointed at the cluster's services and
    the runtime image under test."""
    values = {
        "acme-database": {"url": database_url},
        "rabbitmq-admin": cluster.rabbitmq_secret(),
        "acme-whatsapp": {"appSecret": APP_SECRET, "verifyToken": secrets.token_hex(8)},
        "acme-wa-token": {"token": "acme-graph-token"},
    }
    docs = [
        doc
        for name in ("secrets.yaml", "tenant.yaml", "sender.yaml")
        for doc in yaml.safe_load_all((REPO / "examples" / name).read_text())
        if doc
    ]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "Secret":
            doc["stringData"] = values[doc["metadata"]["name"]]
        if doc["kind"] == "ScrmTenant":
            doc["spec"]["whatsapp"]["graphBaseUrl"] = graph
            image = cluster.image
            doc["spec"]["image"] = {"repository": image.repository, "tag": image.tag}
            internal = cluster.operator_api_url(namespace, f"{TENANT}-api", "http")
            if internal is not None:
                doc["spec"]["api"]["internalUrl"] = internal
    return docs


def _apply(cluster: Target, doc: dict[str, Any]) -> None:
    ns = doc["metadata"]["namespace"]
    if doc["kind"] == "Secret":
        client.CoreV1Api(cluster.api).create_namespaced_secret(ns, doc)
        return
    plural = {"ScrmTenant": "scrmtenants", "Sender": "senders"}[doc["kind"]]
    client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(
        GROUP, VERSION, ns, plural, doc
    )


@pytest.fixture(scope="module")
def database(kube_cluster: Target) -> Iterator[str]:
    """An empty database for the tenant (its URL as pods reach it): its migration Job
    creates the schema."""
    base, tenant_url = kube_cluster.postgres()
    name = f"scrm_cluster_{secrets.token_hex(4)}"
    server = "postgresql://" + base.split("://", 1)[1]

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield tenant_url(name)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def onboarded(kube_cluster: Target, operator: Operator, database: str) -> Iterator[Onboarded]:
    namespace = f"scrm-demo-{secrets.token_hex(3)}"
    api = f"{TENANT}-api"
    api_url = kube_cluster.service_url(namespace, api, "http")
    webhooks = kube_cluster.in_cluster_url(namespace, api, "http", 8000) + "/webhooks/whatsapp"
    core = client.CoreV1Api(kube_cluster.api)
    core.create_namespace({"metadata": {"name": namespace}})
    delays = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
    with kube_cluster.graph(namespace, webhooks, APP_SECRET, delays) as graph_urls:
        graph = graph_urls.for_test
        docs = _examples(kube_cluster, namespace, database, graph_urls.in_cluster)
        (sender,) = [d for d in docs if d["kind"] == "Sender"]
        number = {
            "id": sender["spec"]["phoneNumberId"],
            "display_phone_number": sender["spec"]["displayNumber"],
            "waba_id": sender["spec"]["wabaId"],
            "access_token": "acme-graph-token",
            "verified_name": "Acme Indonesia",
        }
        httpx.post(f"{graph}/_sim/phone_numbers", json=number).raise_for_status()
        for doc in docs:
            _apply(kube_cluster, doc)
        yield Onboarded(kube_cluster, namespace, graph, sender, api_url=api_url)
    # Stop the pods before their database is dropped: the namespace controller deletes
    # everything in it, the kubelet ends the processes.
    core.delete_namespace(namespace)
    wait_until(
        lambda: not core.list_namespaced_pod(namespace).items,
        "the namespace's pods to be gone",
        within=120,
    )


def _create_admin(world: Onboarded) -> None:
    """``scrm create-admin`` as a one-off Pod from the api's template (its env, its Secrets),
    run to completion by the process kubelet."""
    template = world.apps.read_namespaced_deployment(f"{TENANT}-api", world.namespace)
    pod = client.ApiClient().sanitize_for_serialization(template.spec.template)
    (container,) = pod["spec"]["containers"]
    container["args"] = ["create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD]
    for key in ("ports", "readinessProbe", "livenessProbe"):
        container.pop(key, None)
    pod["metadata"] = {"name": "create-admin", "labels": {"app": "create-admin"}}
    pod["spec"]["restartPolicy"] = "Never"
    world.core.create_namespaced_pod(world.namespace, pod)
    phase = wait_until(
        lambda: (
            world.core.read_namespaced_pod("create-admin", world.namespace).status.phase
            in ("Succeeded", "Failed")
            and world.core.read_namespaced_pod("create-admin", world.namespace).status.phase
        ),
        "the create-admin pod to finish",
    )
    assert phase == "Succeeded"


async def _sign_in(world: Onboarded) -> str:
    async with httpx.AsyncClient(base_url=world.api_url, timeout=10) as http:
        response = await http.post(
            "/api/auth/login",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "tenant": TENANT},
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _socket_url(world: Onboarded, cursor: int | None = None) -> str:
    query = {"token": world.token} | ({} if cursor is None else {"cursor": str(cursor)})
    return f"{world.ws_url}/ws?{urllib.parse.urlencode(query)}"


async def _open_socket(world: Onboarded) -> Any:
    """A fresh socket (live frames only), read up to its ``ready`` frame."""
    socket = await websockets.connect(_socket_url(world))
    async with asyncio.timeout(15):
        while json.loads(await socket.recv()).get("type") != "ready":
            pass
    return socket


async def _customer_says(world: Onboarded, text: str, wa_id: str = "6281299990000") -> None:
    async with httpx.AsyncClient(base_url=world.graph, timeout=10) as sim:
        response = await sim.post(
            f"/_sim/customers/{wa_id}/messages",
            json={"phone_number_id": world.sender["spec"]["phoneNumberId"], "text": text},
        )
    assert response.status_code == 200, response.text


async def _frame_with(socket: Any, text: str, within: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await socket.recv())
            if text in json.dumps(frame):
                return dict(frame)


def test_onboarding_runs_pods_and_delivers_a_webhook_frame(onboarded: Onboarded) -> None:
    world = onboarded
    ready = wait_until(
        lambda: world.ready("scrmtenants", TENANT).get("status") == "True",
        "the ScrmTenant to be Ready (pods running, migration Job complete)",
        within=180,
    )
    assert ready
    for component, count in (("api", 2), ("ws", 2), ("sender-worker", 2)):
        pods = world.running_pods(component)
        assert len(pods) == count, [p.metadata.name for p in pods]
        assert all(world.cluster.runs(p) for p in pods)
    wait_until(
        lambda: world.ready("senders", SENDER).get("status") == "True",
        "the Sender to be published to the api",
        within=60,
    )
    _create_admin(world)
    world.ws_url = world.cluster.service_url(world.namespace, f"{TENANT}-ws", "http", "ws")

    async def scenario() -> None:
        world.token = await _sign_in(world)
        socket = await _open_socket(world)
        text = f"halo {secrets.token_hex(4)}"
        await _customer_says(world, text)
        frame = await _frame_with(socket, text)
        assert isinstance(frame["seq"], int)
        await socket.close()

    asyncio.run(scenario())


async def _messages_of(http: httpx.AsyncClient, phone: str) -> list[dict[str, Any]]:
    """The messages of the customer's conversation (newest first), none before it exists."""
    listed = (await http.get("/api/conversations")).json()["items"]
    found = [c for c in listed if c["contact"]["phone"] == f"+{phone}"]
    if not found:
        return []
    response = await http.get(f"/api/conversations/{found[0]['id']}/messages")
    return list(response.json()["items"])


def test_media_pods_share_every_file_through_the_database(onboarded: Onboarded) -> None:
    """The operator's default media store: a customer's photo fetched by one api pod is
    served by each api pod, and an agent's photo uploaded through the api Service is sent
    by a sender-worker pod (separate processes: a pod's own directory would fail both)."""
    world = onboarded
    assert world.token, "the first test signs in"
    assert world.cluster.proxy is not None
    api_pods = world.cluster.proxy.endpoints(world.namespace, f"{TENANT}-api", "http")
    assert len(api_pods) == 2, api_pods
    phone = f"62812{secrets.randbelow(10**7):07d}"
    photo, reply = tiny_png((200, 40, 40)), tiny_png((40, 40, 200))
    headers = {"Authorization": f"Bearer {world.token}"}

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=world.graph, timeout=10) as sim,
            httpx.AsyncClient(base_url=world.api_url, headers=headers, timeout=10) as api,
        ):
            sent = await sim.post(
                f"/_sim/customers/{phone}/messages",
                json={
                    "phone_number_id": world.sender["spec"]["phoneNumberId"],
                    "type": "image",
                    "data_base64": base64.b64encode(photo).decode(),
                    "mime_type": "image/png",
                },
            )
            assert sent.status_code == 200, sent.text

            async def stored() -> dict[str, Any] | None:
                media = [m["media"] for m in await _messages_of(api, phone) if m["media"]]
                return media[0] if media and media[0]["status"] == "stored" else None

            media = await wait_for(stored, within=60)
            for host, port in api_pods:
                served = await api.get(f"http://{host}:{port}{media['url']}")
                assert (served.status_code, served.content) == (200, photo), (host, port)

            conversation = (await api.get("/api/conversations")).json()["items"]
            (opened,) = [c for c in conversation if c["contact"]["phone"] == f"+{phone}"]
            queued = await api.post(
                f"/api/conversations/{opened['id']}/media",
                files={"file": ("reply.png", reply, "image/png")},
            )
            assert queued.status_code == 202, queued.text

            async def handed_over() -> dict[str, Any] | None:
                mine = [m for m in await _messages_of(api, phone) if m["id"] == queued.json()["id"]]
                return mine[0] if mine and mine[0]["status"] not in ("queued", "sending") else None

            outcome = await wait_for(handed_over, within=60)
            # "failed" if the sender-worker could not read the file the api kept
            assert outcome["status"] in ("sent", "delivered", "read"), outcome
            at_meta = (await sim.get("/_sim/messages")).json()["data"]
            (image,) = [m for m in at_meta if m["callback_data"] == queued.json()["id"]]
            assert image["type"] == "image"

    asyncio.run(scenario())


class Agent:
    """The signed-in agent's socket through the ws Service: on a close (its pod going away)
    it reconnects with its cursor, as the web UI does, and keeps every frame's text."""

    def __init__(self, world: Onboarded, cursor: int | None = None) -> None:
        self.world = world
        # None: live frames only; 0: everything from the start; then the last seen or the one
        # ``ready`` caught it up to, as the web UI keeps it
        self.cursor = cursor
        self.seqs: list[int] = []
        self.texts: set[str] = set()
        self.sessions = 0  # sockets that reached ``ready``
        self.connected = asyncio.Event()
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                async with websockets.connect(_socket_url(self.world, self.cursor)) as socket:
                    async for raw in socket:
                        self._take(str(raw))
            except (OSError, websockets.WebSocketException, TimeoutError):
                await asyncio.sleep(0.2)  # closed by its pod, or no ready ws endpoint yet

    def _take(self, raw: str) -> None:
        """Catch-up frames (before ``ready``) and live ones alike."""
        frame = json.loads(raw)
        if frame.get("type") == "ready":
            self.cursor = frame.get("cursor", self.cursor)  # caught up to there
            self.sessions += 1
            self.connected.set()
        elif "seq" in frame:
            self.seqs.append(int(frame["seq"]))
            self.cursor = max(self.cursor or 0, self.seqs[-1])
            self.texts.update(CUSTOMER_TEXT.findall(raw))

    async def has(self, texts: set[str], within: float = 90) -> None:
        async def arrived() -> bool:
            return texts <= self.texts

        try:
            await wait_for(arrived, within=within, interval=0.1)
        except AssertionError:
            async with httpx.AsyncClient(base_url=self.world.graph) as sim:
                deliveries = (await sim.get("/_sim/webhooks")).json()["data"]
            states = sorted(d["state"] for d in deliveries)
            missing = sorted(texts - self.texts)
            raise AssertionError(
                f"{len(missing)} of {len(texts)} texts never reached the agent "
                f"(e.g. {missing[:3]}); {self.sessions} sockets, {len(self.seqs)} frames, "
                f"last seqs {self.seqs[-5:]}; webhook deliveries: {states.count('delivered')} "
                f"delivered of {len(states)} ({set(states)})"
            ) from None


@contextlib.asynccontextmanager
async def traffic(world: Onboarded, pause: float = 0.25) -> AsyncIterator[tuple[Agent, set[str]]]:
    """A connected agent and a customer writing every ``pause`` seconds until the block ends;
    yields the agent and the set of texts sent so far (growing)."""
    agent = Agent(world)
    sent: set[str] = set()
    listening = asyncio.create_task(agent.run())
    stop = asyncio.Event()

    async def customer() -> None:
        while not stop.is_set():
            text = f"msg-{secrets.token_hex(5)}"
            await _customer_says(world, text)
            sent.add(text)
            await asyncio.sleep(pause)

    await asyncio.wait_for(agent.connected.wait(), 30)  # live frames from here on
    writing = asyncio.create_task(customer())
    try:
        yield agent, sent
    finally:
        stop.set()
        await writing
        await agent.has(sent)
        agent.stopping.set()
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    assert agent.seqs == sorted(set(agent.seqs)), "frames out of order or repeated"


def _patch_tenant(world: Onboarded, spec: dict[str, Any]) -> int:
    body = world.custom.patch_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "scrmtenants", TENANT, {"spec": spec}
    )
    return int(body["metadata"]["generation"])


def _converged(world: Onboarded, generation: int) -> bool:
    body = world.custom.get_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "scrmtenants", TENANT
    )
    status = body.get("status") or {}
    ready = world.ready("scrmtenants", TENANT)
    return status.get("observedGeneration") == generation and ready.get("status") == "True"


def _ready_pods(world: Onboarded, component: str, count: int) -> bool:
    pods = world.running_pods(component)
    return len(pods) == count and all(
        any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        for p in pods
    )


def _ws_endpoints(world: Onboarded) -> list[tuple[str, int]]:
    return world.cluster.proxy.endpoints(world.namespace, f"{TENANT}-ws", "http")


async def _ws_queues(world: Onboarded) -> set[str]:
    api = management_api(world.cluster.rabbitmq_management())
    vhost = urllib.parse.quote(external_name(world.namespace, TENANT), safe="")
    async with httpx.AsyncClient(auth=api.auth) as http:
        response = await http.get(f"{api.url}/api/queues/{vhost}")
    assert response.status_code == 200, response.text
    return {q["name"] for q in response.json() if ".ws." in q["name"]}


def test_ws_scales_2_4_1_without_a_lost_frame_or_an_orphan_queue(onboarded: Onboarded) -> None:
    world = onboarded
    assert world.token, "the first test signs in"

    async def scenario() -> None:
        async with traffic(world) as (_, sent):
            _patch_tenant(world, {"ws": {"autoscaling": {"minReplicas": 4}}})
            await asyncio.to_thread(
                wait_until,
                lambda: _ready_pods(world, "ws", 4) and len(_ws_endpoints(world)) == 4,
                "4 ready ws pods in the Service's endpoints",
                120,
            )
            # One socket per ws pod (the proxy takes the 4 endpoints in turn), each reading
            # from the start: 3 of them are on pods the scale-down removes.
            spread = [Agent(world, cursor=0) for _ in range(4)]
            tasks = [asyncio.create_task(a.run()) for a in spread]
            for a in spread:
                await asyncio.wait_for(a.connected.wait(), 30)
            _patch_tenant(world, {"ws": {"autoscaling": {"minReplicas": 1, "maxReplicas": 1}}})
            await asyncio.to_thread(
                wait_until, lambda: _ready_pods(world, "ws", 1), "1 ws pod left", 180
            )
        for a in spread:
            await a.has(sent)

        async def came_back() -> bool:
            """The sockets of the 3 removed pods came back on the survivor (a removed pod
            closes them during its shutdown, which may end after the survivor is alone)."""
            return sum(a.sessions - 1 for a in spread) >= 3

        await wait_for(came_back, within=90, interval=0.5)
        for a in spread:
            a.stopping.set()
        for task in tasks:
            task.cancel()
        (survivor,) = world.running_pods("ws")
        expected = {queue_name(TENANT, survivor.metadata.name)}

        async def only_the_survivors_queue() -> bool:
            return await _ws_queues(world) == expected

        await wait_for(only_the_survivors_queue, within=60, interval=0.5)

    asyncio.run(scenario())


def test_rolling_update_of_the_api_image_loses_no_webhook(onboarded: Onboarded) -> None:
    world = onboarded

    async def scenario() -> None:
        old = {p.metadata.name for p in world.running_pods("api")}
        async with traffic(world) as (_, sent):
            generation = _patch_tenant(world, {"image": {"tag": world.cluster.image.next_tag}})
            await asyncio.to_thread(
                wait_until,
                lambda: (
                    _converged(world, generation)
                    and _ready_pods(world, "api", 2)
                    and not old & {p.metadata.name for p in world.running_pods("api")}
                ),
                "the api pods to be replaced",
                180,
            )
        async with httpx.AsyncClient(base_url=world.graph) as sim:
            deliveries = (await sim.get("/_sim/webhooks")).json()["data"]
        states = {d["state"] for d in deliveries}
        assert states == {"delivered"}, states
        assert len(sent) >= 5

    asyncio.run(scenario())
    for pod in world.running_pods("api"):
        assert pod.spec.containers[0].image.endswith(f":{world.cluster.image.next_tag}")


def test_operator_killed_mid_update_converges_after_restart(
    onboarded: Onboarded, operator: Operator
) -> None:
    world = onboarded
    generation = _patch_tenant(world, {"api": {"replicas": 3}})
    operator.kill()
    operator.start()
    wait_until(
        lambda: _converged(world, generation) and _ready_pods(world, "api", 3),
        "the restarted operator to converge on 3 api pods",
        within=120,
    )


def _tenant_objects(world: Onboarded) -> list[str]:
    """``Kind/name`` of every object labelled as the tenant's in its namespace."""
    ns, selector = world.namespace, f"scrm.io/tenant={TENANT}"
    batch = client.BatchV1Api(world.cluster.api)
    scaling = client.AutoscalingV2Api(world.cluster.api)
    listings = {
        "Deployment": world.apps.list_namespaced_deployment,
        "Service": world.core.list_namespaced_service,
        "HorizontalPodAutoscaler": scaling.list_namespaced_horizontal_pod_autoscaler,
        "Job": batch.list_namespaced_job,
        "Pod": world.core.list_namespaced_pod,
        "ConfigMap": world.core.list_namespaced_config_map,
        "Secret": world.core.list_namespaced_secret,
        "ServiceAccount": world.core.list_namespaced_service_account,
    }
    return [
        f"{kind}/{item.metadata.name}"
        for kind, listing in listings.items()
        for item in listing(ns, label_selector=selector).items
    ]


def _ws_pod_names(world: Onboarded) -> set[str]:
    pods = world.core.list_namespaced_pod(
        world.namespace, label_selector="app.kubernetes.io/component=ws"
    )
    return {p.metadata.name for p in pods.items}


def test_deleting_the_tenant_stops_ws_pods_by_sigterm_then_removes_children_vhost_user_queues(
    onboarded: Onboarded,
) -> None:
    """The operator deletes the Deployments and keeps the vhost and user until the pods are
    gone: a ws pod's shutdown still reaches its broker and ends well within its grace
    period, by SIGTERM (where the kubelet says how: the process kubelet), not SIGKILL."""
    world = onboarded
    (ws,) = world.running_pods("ws")
    grace = ws.spec.termination_grace_period_seconds
    assert grace == 60
    world.custom.delete_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "scrmtenants", TENANT
    )
    deleted = time.monotonic()
    wait_until(
        lambda: ws.metadata.name not in _ws_pod_names(world),
        "the ws pod to stop within its grace period",
        within=grace,
    )
    stopped_after = time.monotonic() - deleted
    endings = world.cluster.endings()
    if endings is not None:
        ending = endings.get((world.namespace, ws.metadata.name))
        assert ending is not None and ending.signal == "SIGTERM", (ending, stopped_after)
    try:
        wait_until(lambda: not _tenant_objects(world), "the tenant's children to go", 120)
    except AssertionError:
        left = _tenant_objects(world)
        raise AssertionError(f"children left after the tenant's deletion: {left}") from None
    api = management_api(world.cluster.rabbitmq_management())
    name = urllib.parse.quote(external_name(world.namespace, TENANT), safe="")
    base, auth = f"{api.url}/api", api.auth
    for what in ("vhosts", "users"):
        wait_until(
            lambda what=what: httpx.get(f"{base}/{what}/{name}", auth=auth).status_code == 404,
            f"the tenant's RabbitMQ {what[:-1]} to be deleted",
        )
    assert not any(
        q["name"].startswith(f"scrm.{TENANT}.")
        for q in httpx.get(f"{base}/queues", auth=auth).json()
        if q["vhost"] == external_name(world.namespace, TENANT)
    )
