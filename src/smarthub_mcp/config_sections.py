"""The sections of `Settings` (config.py): one model per TOML table, with defaults and help text."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from smarthub_mcp.config_base import Section
from smarthub_mcp.config_media import JobsConfig, ModerationConfig, StorageConfig  # noqa: F401 (re-exported)
from smarthub_mcp.credits import MICRO, Credits


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    public_base_url: str = "http://127.0.0.1:8000"
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers the MCP endpoint accepts besides loopback; needed behind a proxy.",
    )
    max_body_bytes: int = Field(1_000_000, ge=1024)
    forwarded_allow_ips: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Proxies whose X-Forwarded-For gives the client IP (login throttle, sign-up cap); '*' trusts any.",
    )
    keep_alive_seconds: int = Field(
        75, ge=1, le=3600,
        description="How long an idle keep-alive connection stays open. Behind a proxy, keep it above the proxy's"
        " own idle timeout for its upstream connections (the shipped Caddyfile: 30 s), so that the proxy closes"
        " an idle connection first and never sends a request down one this server is closing.",
    )
    shutdown_drain_seconds: float = Field(
        0, ge=0, le=300,
        description="On SIGTERM, first answer /readyz with 503 for this long while still serving, so a load"
        " balancer that health-checks /readyz moves new requests to other replicas before this one stops"
        " accepting. Set it above the balancer's check interval (the shipped Caddyfile checks every 2 s).",
    )
    shutdown_grace_seconds: int = Field(
        30, ge=1, le=3600,
        description="On SIGTERM the server stops accepting and lets calls in flight finish for this long; calls"
        " still running then are cancelled and their holds released. Keep it below the supervisor's own stop"
        " timeout (compose stop_grace_period, systemd TimeoutStopSec, Kubernetes terminationGracePeriodSeconds).",
    )


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class AuthConfig(Section):
    dev_mode: bool = Field(True, description="Generate and persist a JWT secret when none is configured.")
    issuer: str = "smarthub-mcp"
    audience: str = "smarthub-mcp"
    algorithm: Literal["HS256", "RS256", "EdDSA"] = "HS256"
    private_key_file: str | None = None
    public_key_file: str | None = None
    access_token_ttl_seconds: int = Field(900, ge=30)
    refresh_token_ttl_seconds: int = Field(30 * 86400, ge=60)
    leeway_seconds: int = Field(10, ge=0, le=300)
    password_min_length: int = Field(10, ge=8, le=128)
    require_verified_email: bool = False
    signup_grant: Credits = 1 * MICRO
    verification_ttl_seconds: int = Field(2 * 86400, ge=60)
    reset_ttl_seconds: int = Field(3600, ge=60)
    login_max_failures: int = Field(5, ge=1)
    login_lockout_seconds: int = Field(900, ge=1)
    signups_per_ip_per_hour: int = Field(20, ge=0, description="Sign-ups from one client IP an hour (0: no limit).")
    emails_per_address_per_hour: int = Field(
        3, ge=0, description="Reset and resent verification emails to one address an hour (0: no limit)."
    )


class DatabaseConfig(Section):
    pool_size: int = Field(
        16, ge=1, le=500,
        description="PostgreSQL connections per pool. A replica has two pools (transactions, and the one-statement"
        " hot path), so it opens at most 2 x pool_size connections.",
    )
    pool_timeout_seconds: float = Field(
        5.0, gt=0, description="How long a request waits for a free connection before answering 503 database_busy."
    )
    idle_seconds: float = Field(
        60.0, gt=0, description="An idle hot-path connection is closed after this long (the server gets it back)."
    )


class BillingConfig(Section):
    hold_ttl_seconds: int = Field(
        900, ge=5,
        description="How long a call's hold survives unsettled: the safety net for a crashed process. A running"
        " call keeps its hold alive; at least the router's budget plus the slowest provider's timeout plus 30 s.",
    )
    sweep_interval_seconds: float = Field(
        30.0, gt=0, description="How often the sweeper releases holds past their own expiry."
    )
    low_balance_fixed: Credits = 0
    low_balance_percent: int = Field(10, ge=0, le=100)


class RouteConfig(Section):
    provider: str
    upstream: str
    weight: int = Field(1, ge=0)
    priority: int = 0


class PriceConfig(Section):
    input_per_million: Credits = 0
    output_per_million: Credits = 0
    per_call_minimum: Credits = 0
    per_image: dict[str, Credits] = Field(default_factory=dict)
    per_second: dict[str, Credits] = Field(default_factory=dict)
    markup_percent: int = Field(0, ge=0, le=1000)


class ModelConfig(Section):
    kind: Literal["chat", "image", "video"]
    description: str = ""
    max_output_tokens: int = Field(4096, ge=1)
    context_window: int = Field(128_000, ge=1)
    enabled: bool = True
    routes: list[RouteConfig] = Field(min_length=1)
    price: PriceConfig = Field(default_factory=PriceConfig)
    durations: list[int] = Field(
        default_factory=list, description="Video: the lengths offered, in seconds; the first is the default (what a"
        " request without a duration is priced for, being what the provider makes)."
    )
    aspect_ratios: list[str] = Field(
        default_factory=list, description="Video: the aspect ratios offered (e.g. 16:9); the first is the default."
    )


class ProviderConfig(Section):
    type: str = Field(
        pattern=r"^[a-z][a-z0-9-]{0,39}$",
        description="Adapter type (providers/adapters.py): demo, demo-image, demo-video, openai, anthropic, fal, "
        "kie, stability, kling, runway. A type without an adapter is listed as unavailable, with the reason.",
    )
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="Name of the environment variable holding the key.")
    secret_key_env: str | None = Field(
        None, description="Name of the environment variable holding a second secret, for providers that sign with "
        "a key pair (kling: api_key_env names the access key, this the secret key).",
    )
    timeout_seconds: float = Field(60.0, gt=0)
    media_timeout_seconds: float = Field(
        180.0, gt=0,
        description="How long one image or video request may take to answer (they are slower than chat). A"
        " request sent and not answered in time is not sent again: the provider may still make and bill it.",
    )
    max_retries: int = Field(0, ge=0, le=10)
    max_concurrency: int = Field(64, ge=1)
    enabled: bool = True
    demo_queue_seconds: float | None = Field(
        None, ge=0, le=600, description="Demo providers only: how long a queued demo job takes to be ready (the"
        " demo-image `-queued` upstreams: 2 s by default; demo-video: 3 s). Shorter for quick demos and tests,"
        " longer to watch progress.",
    )


class RateLimitConfig(Section):
    requests_per_minute: int = Field(60, ge=0)
    tokens_per_minute: int = Field(200_000, ge=0)


class LimitsConfig(Section):
    roles: dict[str, RateLimitConfig] = Field(
        default_factory=lambda: {
            "admin": RateLimitConfig(requests_per_minute=600, tokens_per_minute=2_000_000),
            "manager": RateLimitConfig(requests_per_minute=300, tokens_per_minute=1_000_000),
            "user": RateLimitConfig(),
            "guest": RateLimitConfig(requests_per_minute=10, tokens_per_minute=20_000),
        }
    )
    users: dict[str, RateLimitConfig] = Field(default_factory=dict, description="Overrides by user email.")


class RouterConfig(Section):
    """How hard the router tries before giving up, and when it takes a failing route out."""

    max_attempts: int = Field(3, ge=1, le=20, description="Routes tried per call, the first included.")
    budget_seconds: float = Field(60.0, gt=0, description="No new attempt starts after this long.")
    circuit_failures: int = Field(3, ge=1, description="Consecutive retryable failures that open a route's circuit.")
    circuit_cooldown_seconds: float = Field(30.0, gt=0, description="How long an open route is skipped.")


class PackageConfig(Section):
    id: str
    name: str
    credits: Credits
    price_minor: int = Field(ge=1)
    currency: str = "usd"


class PaymentsConfig(Section):
    success_url: str = "http://127.0.0.1:8000/payments/success?session_id={CHECKOUT_SESSION_ID}"
    cancel_url: str = "http://127.0.0.1:8000/payments/cancel"
    stripe_api_base: str | None = None
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="Seconds a signed delivery's timestamp may be from our clock, past or future."
    )


class PromoConfig(Section):
    new_user_days: int = Field(
        30, ge=0, description="A 'new users only' code is for accounts younger than this that never bought credits."
    )
    max_failures: int = Field(10, ge=1, description="Refused redemptions a user may make per window.")
    failure_window_seconds: int = Field(900, ge=1)


class EmailConfig(Section):
    sender: str = "SmartHub MCP <no-reply@localhost>"
    retry_interval_seconds: float = Field(
        30.0, gt=0, description="How often each replica looks for failed emails due a retry."
    )
    retry_backoff_seconds: float = Field(
        30.0, gt=0, description="Wait before the first retry; each later wait is four times the one before."
    )
    max_attempts: int = Field(
        5, ge=1, le=20, description="Sends tried per email, the first included, before giving up."
    )
    pending_grace_seconds: float = Field(
        300.0,
        ge=60,
        description="Age at which an email still 'pending' (its sender stopped before recording an"
        " outcome) is taken over by the retry worker. Keep it well above the longest SMTP send"
        " (15 s per SMTP step): a live first send overtaken by it may go out twice.",
    )


class OAuthClientConfig(Section):
    """A client registered in config.toml (for example a Custom GPT action made once by an operator)."""

    client_id: str = Field(min_length=1, max_length=200)
    client_name: str = ""
    redirect_uris: list[str] = Field(min_length=1)
    secret_env: str | None = Field(
        None, description="Environment variable holding the client secret; none makes it a public client (PKCE)."
    )
    scope: str | None = Field(None, description="Space-separated scopes it may ask for; none: every scope.")


class OAuthConfig(Section):
    """The OAuth 2.1 authorization server for ChatGPT connectors, Claude connectors and GPT actions."""

    enabled: bool = Field(True, description="Serve /authorize, /token, /revoke, /register and the AS metadata.")
    registration_enabled: bool = Field(True, description="Dynamic Client Registration at /register.")
    registrations_per_ip_per_hour: int = Field(
        30, ge=0, description="Clients one network address may register an hour (0: no limit); a connector"
        " registers once, so this only stops floods of registrations."
    )
    metadata_documents_enabled: bool = Field(True, description="Client ID Metadata Documents (https client ids).")
    metadata_document_fetches_per_ip_per_hour: int = Field(
        60, ge=0, description="New metadata documents one network address may make the server fetch an hour (0:"
        " no limit). A fetch is the server reaching out on a stranger's word; a document fetched before (a"
        " connector's own, re-read when its cache time runs out) is not counted."
    )
    metadata_documents_allow_loopback: bool = Field(
        False, description="Tests only: fetch metadata documents over http and from loopback addresses."
    )
    metadata_documents_ca_file: str | None = Field(
        None, description="A PEM bundle trusted (besides the system's) when fetching metadata documents."
    )
    metadata_document_max_bytes: int = Field(5120, ge=256, le=65536, description="Largest metadata document read.")
    metadata_document_timeout_seconds: float = Field(5.0, gt=0, le=30, description="Time allowed for one fetch.")
    metadata_document_cache_seconds: int = Field(
        3600, ge=0, le=86400, description="How long a fetched document is kept (less when its Cache-Control says so)."
    )
    code_ttl_seconds: int = Field(120, ge=10, le=600, description="Lifetime of an authorization code.")
    request_ttl_seconds: int = Field(900, ge=60, description="Time a person has to sign in and consent.")
    access_token_ttl_seconds: int = Field(3600, ge=60, description="Lifetime of an OAuth access token.")
    refresh_token_ttl_seconds: int = Field(60 * 86400, ge=3600, description="Lifetime of an OAuth refresh token.")
    session_ttl_seconds: int = Field(
        14 * 86400, ge=300, description="Lifetime of the browser sign-in session (cookie smarthub_session)."
    )
    clients: list[OAuthClientConfig] = Field(default_factory=list, description="Pre-registered clients.")
    google_discovery_url: str = Field(
        "https://accounts.google.com/.well-known/openid-configuration",
        description="Google's OpenID configuration (sign-in with Google is on when SMARTHUB_GOOGLE_CLIENT_ID"
                    " and SMARTHUB_GOOGLE_CLIENT_SECRET are set).",
    )


def _default_models() -> dict[str, ModelConfig]:
    return {
        "demo-chat": ModelConfig(
            kind="chat",
            description="Deterministic offline chat model, for trying SmartHub without any keys.",
            routes=[RouteConfig(provider="demo", upstream="demo-chat-1")],
            price=PriceConfig(input_per_million=1, output_per_million=2, per_call_minimum="0.0001"),  # in credits
        ),
        **_demo_image_models(),
    }


DEMO_IMAGE_PRICES = {"1024x1024": "0.01", "1024x768": "0.01", "768x1024": "0.01", "512x512": "0.005"}


def _demo_image_models() -> dict[str, ModelConfig]:
    return {
        "demo-image": ModelConfig(
            kind="image",
            description="Offline demo images (a gradient with your prompt on it), for trying SmartHub without keys.",
            routes=[RouteConfig(provider="demo-image", upstream="demo-image-1")],
            price=PriceConfig(per_image=DEMO_IMAGE_PRICES),
        ),
        "demo-video": ModelConfig(
            kind="video",
            description="Offline demo videos (a short MP4 with your prompt on it), to try video jobs without keys.",
            routes=[RouteConfig(provider="demo-video", upstream="demo-video-1")],
            price=PriceConfig(per_second={"std": "0.002", "pro": "0.004"}),
            durations=[5, 10],
            aspect_ratios=["16:9", "9:16", "1:1"],
        ),
        "demo-image-slow": ModelConfig(
            kind="image",
            description="The demo images through a queue: a job that runs a few seconds, to try progress and jobs.",
            routes=[RouteConfig(provider="demo-image", upstream="demo-image-queued")],
            price=PriceConfig(per_image=DEMO_IMAGE_PRICES),
        ),
    }


def _default_providers() -> dict[str, ProviderConfig]:
    return {"demo": ProviderConfig(type="demo"), "demo-image": ProviderConfig(type="demo-image"),
            "demo-video": ProviderConfig(type="demo-video")}
