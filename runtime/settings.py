"""Runtime configuration, read from ``SCRM_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the api and ws processes need; secrets are ``SecretStr`` so they never log."""

    model_config = SettingsConfigDict(env_prefix="SCRM_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./scrm.db"
    # Set by the operator: ``scrm migrate`` makes sure this tenant exists.
    tenant_slug: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    tenant_name: str | None = None
    default_phone_region: str = Field(default="ID", pattern=r"^[A-Z]{2}$")
    amqp_url: str | None = None
    delivery_mode: Literal["fanout", "routed"] = "fanout"
    # How the relay cuts routed rounds (runtime.bus.routing.RoutedPublish): "cc" fewest
    # messages, a pod may receive others' events and skip them; "audience" a pod receives only
    # its events, in more messages; "pods" one message per set of pods that need the events
    # (the relay reads which pod holds which key from the management API below).
    bus_routed_publish: Literal["cc", "audience", "pods"] = "cc"
    # RabbitMQ management API (``http://user:password@host:15672``): where a relay publishing
    # ``pods`` reads the exchange's bindings, every ``bus_pod_map_refresh_seconds``.
    bus_management_url: SecretStr | None = None
    bus_pod_map_refresh_seconds: float = Field(default=1.0, gt=0, le=60)
    # Under load (its last round woken by several commits) the relay waits this long after a
    # wake-up so concurrent commits share one round; under light load it starts at once.
    relay_linger_seconds: float = Field(default=0.003, ge=0, le=1)
    # Rounds an event may fail alone (while others get through) before it is dead-lettered.
    relay_max_attempts: int = Field(default=3, ge=1, le=100)
    # Inbound webhooks (runtime/ingest): the writer's linger so concurrent requests share one
    # commit (under load only: the last group held several bodies), webhooks per processing
    # round, failed rounds before one is set aside, and whether this process applies them at
    # all (false: it only accepts; others process).
    ingest_linger_seconds: float = Field(default=0.002, ge=0, le=1)
    ingest_batch_size: int = Field(default=500, ge=1, le=10_000)
    ingest_max_attempts: int = Field(default=3, ge=1, le=100)
    ingest_process: bool = True
    # Outbound (runtime/outbound): whether this process works the send queue, rows claimed
    # per round, the poll for rows due later, the wait for Meta's answer to one send, how long
    # a ``sending`` row may stay before recovery calls it ``unknown`` (longer than any send
    # can take), how long an ``unknown`` may wait for a status webhook before it is shown as
    # "not confirmed", the pair limit's burst, deferrals before a retryable refusal fails, and
    # how late past its slot a send may still go (later: it is queued again, so that a stalled
    # worker does not bunch its sends; a number's slots are spaced (1 + this) / rate apart so
    # that no 1-s window holds more than its rate: 0.025 s costs 2.4 % of the rate).
    outbound_work: bool = True
    outbound_batch_size: int = Field(default=200, ge=1, le=5_000)
    outbound_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    outbound_send_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    outbound_sending_lease_seconds: float = Field(default=60.0, gt=0)
    outbound_unconfirmed_after_seconds: float = Field(default=600.0, gt=0)
    outbound_pair_burst: int = Field(default=45, ge=1, le=45)
    outbound_max_deferrals: int = Field(default=8, ge=1, le=50)
    outbound_late_tolerance_seconds: float = Field(default=0.025, gt=0, le=10)
    # Sender health (runtime/outbound/health.py, in the processes that work the send queue):
    # how often each sender's Graph phone-number fields are polled (a refused send asks for
    # one at once), how often the monitor looks for due polls and alert webhooks, and the
    # alert webhook's timeout and attempts before it gives up.
    sender_health_poll_seconds: float = Field(default=300.0, gt=0)
    sender_health_tick_seconds: float = Field(default=5.0, gt=0, le=60)
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    alert_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    # Campaigns (runtime/campaigns): whether this process feeds running campaigns into the
    # send queue, how often it looks for due recipients, and at most how many per round.
    campaign_work: bool = True
    campaign_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    campaign_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Media (runtime/media): where bytes are kept ("local": ``media_dir``; "database": the
    # media_blobs tables, seen by every replica; "s3": an S3-compatible bucket, path-style,
    # signed with SigV4), and the background fetch of inbound media: attempts before a
    # fetch is given up (failed), the poll for due fetches.
    media_store: Literal["local", "database", "s3"] = "local"
    media_dir: str = "./media"
    media_s3_endpoint: str | None = None
    media_s3_bucket: str | None = None
    media_s3_region: str = "us-east-1"
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: SecretStr | None = None
    media_fetch_work: bool = True
    media_fetch_max_attempts: int = Field(default=8, ge=1, le=50)
    media_fetch_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    media_fetch_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    ws_send_buffer: int = Field(default=1024, ge=1, le=1_000_000)  # frames per socket
    ws_heartbeat_seconds: float = Field(default=25.0, gt=0)
    ws_replay_page: int = Field(default=500, ge=1, le=10_000)  # events per catch-up query
    pod_name: str | None = None

    jwt_secret: SecretStr = Field(min_length=32)
    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    # Failed sign-ins are counted per client address and per (typed e-mail, client address)
    # within a window; at the limit that key is refused (429) until the window has passed.
    login_throttle_window_seconds: int = Field(default=900, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    login_max_failures_per_email_and_address: int = Field(default=5, gt=0)

    # Fernet key (urlsafe base64, 32 bytes) used to encrypt sender access tokens at rest.
    encryption_key: SecretStr

    graph_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v25.0"
    whatsapp_app_secret: SecretStr
    whatsapp_verify_token: SecretStr

    # Where Kubernetes Secrets referenced as "name/key" are mounted (one file per key).
    secrets_dir: str = "/var/run/secrets/scrm"

    # Shared secret the operator uses for the internal (cluster-only) endpoints.
    internal_token: SecretStr | None = None

    # Request body limits (webhooks have Meta's 3 MB cap): contact imports, every other route.
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    max_json_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_import_rows: int = Field(default=500_000, gt=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]
