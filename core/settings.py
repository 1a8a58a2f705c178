"""One typed settings object for the whole platform.

Every setting is read from an environment variable with the prefix ``SWITCHYARD_`` (nested groups
use ``__``: ``SWITCHYARD_FETCH__CONCURRENCY=50``) or from an optional ``.env`` file in the working
directory. ``.env.example`` documents each of them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.crypto import check_key
from core.secrets import MIN_SECRET_LENGTH

PROJECT_ROOT = Path(__file__).resolve().parents[1]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEV_GATEWAY_TOKEN = "dev-gateway-token"  # accepted by the sandbox; refused outside development
DEV_PLATFORM_KEY = "dev-platform-key"  # accepted by the sandbox platforms; refused outside development
DEV_MICROBLOG_CLIENT_ID = "dev-microblog-client"  # the sandbox microblog's OAuth client
DEV_MICROBLOG_CLIENT_SECRET = "dev-microblog-secret"  # accepted by the sandbox; refused outside development
# a fixed Fernet key for development only: secrets stored with it are readable by anyone with the code
DEV_SECRET_KEY = "c3dpdGNoeWFyZC1kZXZlbG9wbWVudC1rZXktMzJieXQ="
PLATFORMS = ("weibo", "weixin", "xiaohongshu", "douyin", "bilibili")


class FetchSettings(BaseModel):
    """How user-given web addresses are fetched."""

    concurrency: int = Field(250, ge=1, le=1000, description="pages fetched at once per batch")
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(10.0, gt=0, le=600)
    page_deadline: float = Field(30.0, gt=0, le=900, description="whole fetch of one page, retries included")
    max_bytes: int = Field(5_000_000, ge=1024, description="body size cap, enforced while streaming")
    max_redirects: int = Field(5, ge=0, le=30)
    retries: int = Field(2, ge=0, le=10, description="extra tries after a transient error")
    backoff: float = Field(0.5, ge=0, le=60, description="first retry delay (s), doubled each time")
    user_agent: str = "Switchyard/0.1 (+word counts)"
    allowed_networks: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list,
        description="private/loopback networks that may be fetched anyway, comma-separated CIDRs",
    )

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        networks = []
        for number, part in enumerate(parts, 1):
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:  # its message repeats the value: settings errors never show one
                raise ValueError(f"item {number} is not a network in CIDR form, such as 10.0.0.0/8") from None
        return networks


class WebPagesSettings(BaseModel):
    """Word-count requests and their page jobs."""

    batch_size: int = Field(500, ge=1, le=5000, description="pages claimed and fetched per task run")
    lanes: int = Field(2, ge=1, le=16, description="batches in flight at once in one flow run")
    flush_every: int = Field(100, ge=1, description="outcomes written per database round trip")
    lease_seconds: int = Field(300, ge=5, description="a claimed page returns to the queue after this")
    max_attempts: int = Field(3, ge=1, le=20, description="claims of one page before it is failed")
    max_urls: int = Field(10_000, ge=1, description="URLs accepted in one request")
    helper_processes: int = Field(
        1, ge=0, le=16, description="processes that count a large request's pages beside the flow run's own"
    )
    helper_from: int = Field(2000, ge=1, description="pages a request needs before helper processes help")
    default_word: str = "python"


class GatewaySettings(BaseModel):
    """The SMS/notification gateway that mailings are sent through."""

    base_url: str = "http://127.0.0.1:8001/gateway"
    token: SecretStr = SecretStr(DEV_GATEWAY_TOKEN)
    concurrency: int = Field(200, ge=1, le=2000, description="requests in flight at once per sender")
    rate_limit: int = Field(0, ge=0, description="messages per second across all runs; 0 = off")
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(10.0, gt=0, le=600)
    max_text_length: int = Field(1000, ge=1, le=100_000, description="longest message text accepted")


class MailingSettings(BaseModel):
    """Mailing dispatch."""

    batch_size: int = Field(250, ge=1, le=20_000, description="messages a sender claims at once")
    senders: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        description="sender processes per dispatch run (default: the CPU count)",
    )
    senders_per_machine: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=256,
        description=(
            "sender processes of every dispatch run of one machine together, at most (default: the CPU "
            "count); a run that finds none free waits while messages are due"
        ),
    )
    lease_seconds: int = Field(
        15, ge=3, description="a claimed message returns to the queue after this unless renewed (every third)"
    )
    fan_out: int = Field(
        0,
        ge=0,
        le=64,
        description="helper runs a mailing's dispatch run starts, for other workers to share it",
    )
    fan_out_min: int = Field(5000, ge=1, description="messages due before a dispatch run fans out")
    retry_backoff: float = Field(2.0, gt=0, le=3600, description="first retry delay (s), doubled each time")
    max_retry_delay: float = Field(60.0, gt=0, description="longest delay between two tries")
    end_margin: float = Field(
        1.0, ge=0, le=600, description="no send starts later than this (s) before the end"
    )
    wait_for_retries: float = Field(30.0, ge=0, description="a run waits this long (s) for due retries")


class PlatformSettings(BaseModel):
    """One content platform's data API (its search endpoint lives under ``base_url``)."""

    base_url: str
    api_key: SecretStr = SecretStr(DEV_PLATFORM_KEY)
    concurrency: int = Field(8, ge=1, le=200, description="requests in flight to this platform at once")


def _sandbox_platform(name: str) -> PlatformSettings:
    return PlatformSettings(base_url=f"http://127.0.0.1:8001/platforms/{name}")


class PlatformsSettings(BaseModel):
    """The five content platforms briefs collect from."""

    weibo: PlatformSettings = Field(default_factory=lambda: _sandbox_platform("weibo"))
    weixin: PlatformSettings = Field(default_factory=lambda: _sandbox_platform("weixin"))
    xiaohongshu: PlatformSettings = Field(default_factory=lambda: _sandbox_platform("xiaohongshu"))
    douyin: PlatformSettings = Field(default_factory=lambda: _sandbox_platform("douyin"))
    bilibili: PlatformSettings = Field(default_factory=lambda: _sandbox_platform("bilibili"))

    def of(self, platform: str) -> PlatformSettings:
        """The settings of ``platform`` (one of `PLATFORMS`)."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
        return getattr(self, platform)


class NetworkSettings(BaseModel):
    """The photo network the growth domain acts on (its private v1 API lives under ``base_url``)."""

    backend: Literal["http", "instagrapi"] = Field(
        "http", description="the network's HTTP API (the sandbox in development) or instagrapi"
    )
    base_url: str = "http://127.0.0.1:8001/network"
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(
        10.0, gt=0, le=600, description="an action unanswered this long has an unknown outcome"
    )
    concurrency: int = Field(20, ge=1, le=1000, description="connections per client (one logged-in account)")
    page_size: int = Field(200, ge=1, le=200, description="users asked for per followers/followings page")


class MicroblogSettings(BaseModel):
    """The microblog channels post to (its v2 API and OAuth 2.0 endpoints live under ``base_url``)."""

    base_url: str = "http://127.0.0.1:8001/microblog"
    client_id: str = DEV_MICROBLOG_CLIENT_ID
    client_secret: SecretStr = SecretStr(DEV_MICROBLOG_CLIENT_SECRET)
    scopes: str = Field(
        "tweet.read tweet.write users.read offline.access",
        description="OAuth scopes asked for, space-separated",
    )
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(
        10.0, gt=0, le=600, description="a post or repost unanswered this long has an unknown outcome"
    )
    concurrency: int = Field(10, ge=1, le=1000, description="connections per client (one channel)")


class ChannelsSettings(BaseModel):
    """Channels' automatic reposts: how much of a home timeline one poll reads, and how many
    channels one run polls side by side."""

    polls_at_once: int = Field(20, ge=1, le=500, description="channels one poll_and_repost run polls at once")
    posts_per_poll: int = Field(
        200, ge=1, le=3200, description="newest timeline posts one poll reads at most (pages of 100)"
    )
    wait_hours: float = Field(
        24.0, gt=0, le=720, description='a post waiting for "N likes" is given up after this long'
    )
    poll_lease_seconds: int = Field(
        120, ge=10, description="a channel held by a lost run is polled again after this"
    )


class BriefSettings(BaseModel):
    """Brief jobs: collection from the platforms and the keyword analysis."""

    max_keywords: int = Field(10, ge=1, le=100, description="keywords accepted in one job")
    max_articles: int = Field(
        1000, ge=1, le=100_000, description="articles collected per keyword and platform"
    )
    page_size: int = Field(
        50, ge=1, le=50, description="articles asked for per search page (every platform serves 50)"
    )
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(10.0, gt=0, le=600)
    retries: int = Field(4, ge=0, le=20, description="extra tries of one page after a transient error")
    backoff: float = Field(0.5, ge=0, le=60, description="first retry delay (s), doubled each time")
    lease_seconds: int = Field(900, ge=30, description="a job held by a lost run is picked up after this")
    max_attempts: int = Field(
        5, ge=2, le=50, description="claims of one job (both stages) before it is failed"
    )
    store_every: int = Field(500, ge=1, description="articles written per database round trip")
    analysis_processes: int = Field(2, ge=1, le=32, description="processes segmenting text with jieba")
    top_words: int = Field(200, ge=10, le=10_000, description="words in the tables and the content cloud")
    font_path: Path | None = Field(None, description="a CJK font for the word clouds; default: found")

    @field_validator("font_path", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class JobLogic(BaseModel):
    """The growth job logic's knobs (the old "job logic config" table): defaults from settings, changed
    in the dashboard (kept in the database, see ``db/growth/config.py``)."""

    model_config = ConfigDict(extra="forbid")

    followers_per_like_job: int = Field(4, ge=1, le=1000, description="followers one like job likes")
    likes_per_follower: int = Field(2, ge=1, le=50, description="recent posts liked per follower")
    like_every_minutes: int = Field(30, ge=1, le=10_080, description="least minutes between two like jobs")
    follow_batch: int = Field(20, ge=1, le=500, description="follows or unfollows per batch (one task run)")
    candidates_per_job: int = Field(100, ge=1, le=10_000, description="candidates a follow job collects")
    unfollows_per_job: int = Field(50, ge=1, le=10_000, description="users one unfollow job unfollows")
    block_hours: float = Field(24.0, gt=0, le=720, description="hours an action-blocked answer freezes it")
    throttle_retries: int = Field(3, ge=0, le=20, description="429 answers in a row before a batch stops")


class GrowthSettings(JobLogic):
    """Growth automation: the job logic's defaults, and how runs work."""

    model_config = ConfigDict(extra="ignore")

    jobs_at_once: int = Field(8, ge=1, le=200, description="jobs one run works side by side")
    action_concurrency: int = Field(
        1, ge=1, le=50, description="actions of one job in flight at once (pacing still spaces them)"
    )
    lease_seconds: int = Field(300, ge=10, description="a claimed job returns to the queue after this")
    max_attempts: int = Field(20, ge=1, le=1000, description="lost claims of a job, then failed")
    gate_seconds: float = Field(
        1.0, gt=0, le=60, description="a batch re-reads its account's state and blocks at least this often"
    )
    syncs_at_once: int = Field(20, ge=1, le=200, description="accounts synced side by side in one run")
    enforce_quotas: bool = Field(True, description="off only for benchmarks: no per-account quotas at all")


class SandboxSettings(BaseModel):
    """The local stand-in for the outside world."""

    host: str = "127.0.0.1"
    port: int = Field(8001, ge=0, le=65535)
    latency_ms: int = Field(0, ge=0, le=60_000, description="added to every answer")
    fault_rate: float = Field(0.0, ge=0, le=1, description="share of answers replaced by HTTP 500")
    seed: int = 42
    gateway_token: str = Field(DEV_GATEWAY_TOKEN, description="Bearer token the gateway stand-in accepts")
    gateway_error_rate: float = Field(0.0, ge=0, le=1, description="share of valid sends answered HTTP 500")
    gateway_throttle_rate: float = Field(0.0, ge=0, le=1, description="share answered 429, Retry-After: 1")
    gateway_malformed_rate: float = Field(0.0, ge=0, le=1, description="share answered 200 with a bad body")
    gateway_timeout_rate: float = Field(0.0, ge=0, le=1, description="share never answered")
    gateway_idempotency: bool = Field(
        False, description="answer a repeated Idempotency-Key as sent without delivering it again"
    )
    platform_key: str = Field(DEV_PLATFORM_KEY, description="API key the platform stand-ins accept")
    platform_articles: int = Field(400, ge=0, le=100_000, description="articles per keyword and platform")
    platform_latency_ms: int = Field(0, ge=0, le=60_000, description="added to every platform answer")
    platform_max_page_size: int = Field(
        50, ge=1, le=50, description="items a search page holds at most, whatever size is asked for"
    )
    platform_error_rate: float = Field(0.0, ge=0, le=1, description="share of searches answered HTTP 500")
    platform_throttle_rate: float = Field(0.0, ge=0, le=1, description="share answered 429, Retry-After: 1")
    platform_timeout_rate: float = Field(0.0, ge=0, le=1, description="share never answered")
    platform_malformed_rate: float = Field(0.0, ge=0, le=1, description="share of items malformed")
    platform_fail_past_end: bool = Field(False, description="answer HTTP 500 for pages past a search's end")
    network_latency_ms: int = Field(0, ge=0, le=60_000, description="added to every photo network answer")
    network_error_rate: float = Field(0.0, ge=0, le=1, description="share of network calls answered HTTP 500")
    network_throttle_rate: float = Field(0.0, ge=0, le=1, description="share answered 429, Retry-After: 1")
    network_challenge_rate: float = Field(0.0, ge=0, le=1, description="share answered challenge_required")
    network_timeout_rate: float = Field(
        0.0, ge=0, le=1, description="share of likes, follows and unfollows applied and never answered"
    )
    network_block_after: int = Field(
        0, ge=0, description="actions of one kind per account before each answers feedback_required; 0 = off"
    )
    network_password: str = Field("sandbox-password", description="the password every network account has")
    microblog_client_id: str = Field(
        DEV_MICROBLOG_CLIENT_ID, description="the OAuth client the microblog knows"
    )
    microblog_client_secret: str = Field(DEV_MICROBLOG_CLIENT_SECRET, description="that client's secret")
    microblog_token_seconds: int = Field(7200, ge=1, le=10**7, description="lifetime of an access token")
    microblog_posts_per_minute: float = Field(
        2.0, gt=0, le=6000, description="new posts a home timeline gets per minute (on average)"
    )
    microblog_latency_ms: int = Field(0, ge=0, le=60_000, description="added to every microblog answer")
    microblog_error_rate: float = Field(
        0.0, ge=0, le=1, description="share of calls answered 503, not applied"
    )
    microblog_timeout_rate: float = Field(0.0, ge=0, le=1, description="share never answered, not applied")
    microblog_applied_error_rate: float = Field(
        0.0, ge=0, le=1, description="share of posts and reposts applied, then answered 503"
    )
    microblog_applied_timeout_rate: float = Field(
        0.0, ge=0, le=1, description="share of posts and reposts applied, then never answered"
    )
    microblog_post_limit: int = Field(100, ge=0, description="posts per user per window")
    microblog_repost_limit: int = Field(50, ge=0, description="reposts per user per window")
    microblog_read_limit: int = Field(180, ge=0, description="calls per user per window of each read group")
    microblog_window_seconds: int = Field(900, ge=1, description="the rate-limit window of each group")
    microblog_shared_limit: int = Field(300, ge=0, description="posts and reposts together per shared window")
    microblog_shared_window_seconds: int = Field(10_800, ge=1, description="the shared window")
    smtp_port: int = Field(8025, ge=0, le=65535, description="the SMTP stand-in's port (same host)")
    smtp_user: str = Field("", description="the one user the SMTP stand-in accepts (empty: no login)")
    smtp_password: str = Field("", description="that user's password")
    smtp_keep: int = Field(500, ge=1, le=100_000, description="messages the SMTP stand-in keeps (the last)")
    microblog_repost_again: Literal["ok", "forbidden"] = Field(
        "ok", description="a second repost of one post: 200 retweeted (as X answers) or 403"
    )


def _split_addresses(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ReportSettings(BaseModel):
    """The daily report: when it is built (the day before, in ``timezone``), and how it is e-mailed."""

    time: str = Field("07:00", description="local time (HH:MM) the report of the day before is built")
    timezone: str = Field("UTC", description="the report's days begin and end at midnight here")
    send: bool = Field(True, description="e-mail each report (off: built, kept and published only)")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(8025, ge=1, le=65535)
    smtp_starttls: bool = Field(False, description="upgrade the connection with STARTTLS before login")
    smtp_user: str = Field("", description="log in with this user (empty: no login)")
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout: float = Field(10.0, gt=0, le=600, description="connect and each SMTP command (s)")
    sender: str = Field("switchyard@example.test", description="the From address")
    recipients: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["ops@example.test"], description="To addresses, comma-separated"
    )

    @field_validator("time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be a time of day as HH:MM, such as 07:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, such as Europe/Moscow or UTC") from None
        return value

    @field_validator("recipients", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_addresses(value)

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for number, address in enumerate(value, 1):
            if not re.fullmatch(r"[^@\s,]+@[^@\s,]+", address):
                raise ValueError(f"recipient {number} is not an e-mail address")
        return value

    @property
    def cron(self) -> str:
        """The deployment's cron line: every day at ``time`` (in ``timezone``)."""
        hours, minutes = self.time.split(":")
        return f"{int(minutes)} {int(hours)} * * *"


class DashboardSettings(BaseModel):
    """The Streamlit dashboard as its users reach it."""

    public_url: str = Field(
        "http://127.0.0.1:8501",
        description="the dashboard's address in a browser (a connected channel comes back there)",
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class ServeSettings(BaseModel):
    """The embedded ``serve()`` process (deployments/serve.py) and crash detection of flow runs."""

    limit: int = Field(8, ge=1, le=256, description="flow-run processes serve() runs at once")
    heartbeat_seconds: int = Field(
        30,
        ge=30,
        le=3600,
        description="a flow run reports it is alive this often (s); Prefect's minimum is 30",
    )
    missed_heartbeats: int = Field(
        3, ge=2, le=20, description="a Running flow run silent for this many heartbeats is marked Crashed"
    )
    pending_seconds: int = Field(
        300,
        ge=30,
        le=86_400,
        description="a flow run submitted (Pending) this long without starting is marked Crashed",
    )
    skip_idle_sweeps: bool = Field(
        True,
        description="skip an every-minute sweep's run before its process starts when it has nothing to do",
    )
    poll_seconds: float = Field(
        5.0,
        ge=0.1,
        le=60,
        description="serve() asks the Prefect server for runs to start this often (s), announced at once",
    )
    start_announced: bool = Field(
        True,
        description="serve() asks for runs to start when the Prefect server announces a new or ended run",
    )
    warm_starts: bool = Field(
        True, description="flow runs forked from a process with Prefect and the flows imported (else spawned)"
    )


class WorkerSettings(BaseModel):
    """The process worker (deployments/worker.py, started by `make worker` and `make cluster`)."""

    warm_starts: bool = Field(
        True,
        description="flow runs forked from a process with Prefect and the pool's flows imported "
        "(else Prefect's own start: a new interpreter per run)",
    )


class ApiSettings(BaseModel):
    """The service API (api/app.py, served by uvicorn): where it listens and how fast a key may call it."""

    host: str = Field("127.0.0.1", description="the address uvicorn binds (the Procfile passes it too)")
    port: int = Field(8000, ge=1, le=65535, description="the port uvicorn listens on")
    rate_limit_per_minute: int = Field(
        600, ge=1, le=1_000_000, description="requests one API key may make per minute, across workers"
    )
    stats_seconds: float = Field(
        1.0, ge=0, le=60, description="a mailing's statistics are made at most this often per process"
    )


class Settings(BaseSettings):
    """Switchyard settings."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHYARD_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    prefect_ui_url: str = "http://127.0.0.1:4200"
    run_start_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="the dashboard, CLI and API try this long to start a run (s); then the stored work "
        "is left to its sweep",
    )
    secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEV_SECRET_KEY)],
        description="Fernet keys for secrets stored in the database, comma-separated, newest first",
    )
    fetch: FetchSettings = FetchSettings()
    webpages: WebPagesSettings = WebPagesSettings()
    gateway: GatewaySettings = GatewaySettings()
    mailing: MailingSettings = MailingSettings()
    platforms: PlatformsSettings = PlatformsSettings()
    network: NetworkSettings = NetworkSettings()
    microblog: MicroblogSettings = MicroblogSettings()
    channels: ChannelsSettings = ChannelsSettings()
    briefs: BriefSettings = BriefSettings()
    growth: GrowthSettings = GrowthSettings()
    sandbox: SandboxSettings = SandboxSettings()
    serve: ServeSettings = ServeSettings()
    worker: WorkerSettings = WorkerSettings()
    dashboard: DashboardSettings = DashboardSettings()
    report: ReportSettings = ReportSettings()
    api: ApiSettings = ApiSettings()

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for number, key in enumerate(value, 1):
                raw = key.get_secret_value() if isinstance(key, SecretStr) else str(key)
                try:
                    check_key(raw)
                except ValueError as exc:
                    raise ValueError(f"key {number}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'switchyard.db'}"
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:/// or postgresql+psycopg2:// URL")
        return self

    @model_validator(mode="after")
    def _real_secrets_outside_development(self) -> Settings:
        if self.environment == "development":
            return self
        secrets = {"gateway.token": (self.gateway.token, DEV_GATEWAY_TOKEN)} | {
            f"platforms.{platform}.api_key": (self.platforms.of(platform).api_key, DEV_PLATFORM_KEY)
            for platform in PLATFORMS
        }
        secrets["microblog.client_secret"] = (self.microblog.client_secret, DEV_MICROBLOG_CLIENT_SECRET)
        for name, (secret, placeholder) in secrets.items():
            variable = "SWITCHYARD_" + name.upper().replace(".", "__")
            if secret.get_secret_value() == placeholder:
                raise ValueError(f"{name} is the development placeholder: set {variable}")
            if len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(f"{name} is shorter than {MIN_SECRET_LENGTH} characters: set {variable}")
        if self.report.smtp_user and not self.report.smtp_password.get_secret_value():
            raise ValueError("report.smtp_user has no password: set SWITCHYARD_REPORT__SMTP_PASSWORD")
        if self.report.smtp_user and not self.report.smtp_starttls:
            raise ValueError("report.smtp_user logs in in clear: set SWITCHYARD_REPORT__SMTP_STARTTLS=true")
        if any(key.get_secret_value() == DEV_SECRET_KEY for key in self.secret_keys):
            raise ValueError("secret_keys holds the development key: set SWITCHYARD_SECRET_KEYS")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_batch(self) -> Settings:
        """A batch must end before its claims lapse, or another run would fetch its pages again."""
        rounds = -(-self.webpages.batch_size // self.fetch.concurrency)
        longest = rounds * self.fetch.page_deadline
        if self.webpages.lease_seconds <= longest:
            raise ValueError(
                f"webpages.lease_seconds ({self.webpages.lease_seconds}) must exceed the longest batch: "
                f"{rounds} rounds of fetch.page_deadline ({self.fetch.page_deadline:g} s) = {longest:g} s; "
                "raise the lease or fetch.concurrency, or lower webpages.batch_size"
            )
        return self


class SettingsError(ValueError):
    """Settings that cannot be used: each bad setting named with what is wrong, never its value."""


def field_errors(error: ValidationError) -> list[str]:
    """One line per error: the field's name and pydantic's message, without the input value (it
    may be a secret: pydantic's own text shows the raw input, tokens included)."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def describe_settings_errors(error: ValidationError) -> str:
    """Every bad setting on its own line, named, never its value."""
    return "invalid settings (values not shown):\n" + "\n".join(f"  {line}" for line in field_errors(error))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; raises SettingsError naming what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_settings_errors(exc)) from None  # the raw error shows the input
