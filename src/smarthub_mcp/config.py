"""Settings: `config.toml` for shape, the environment for overrides and secrets.

Precedence, highest first: `SMARTHUB_<SECTION>__<KEY>` environment variables, then the TOML file
(path from `--config` or `SMARTHUB_CONFIG`), then the defaults below. Secrets are read from the
environment only (`Secrets`), never from the file. Unknown keys are errors, so a typo fails at
start-up instead of being silently ignored.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from smarthub_mcp.config_sections import (  # noqa: F401  (re-exported: config is where settings live)
    AuthConfig,
    BillingConfig,
    DatabaseConfig,
    EmailConfig,
    JobsConfig,
    LimitsConfig,
    LoggingConfig,
    ModelConfig,
    ModerationConfig,
    OAuthClientConfig,
    OAuthConfig,
    PackageConfig,
    PaymentsConfig,
    PriceConfig,
    PromoConfig,
    ProviderConfig,
    RateLimitConfig,
    RouteConfig,
    RouterConfig,
    Section,
    ServerConfig,
    StorageConfig,
    _default_models,
    _default_providers,
)
from smarthub_mcp.errors import ConfigError
from smarthub_mcp.redisurl import check_redis_url


class Settings(BaseSettings):
    """Everything the server reads at start-up, except secrets."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTHUB_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    billing: BillingConfig = Field(default_factory=BillingConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    models: dict[str, ModelConfig] = Field(default_factory=_default_models)
    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    packages: list[PackageConfig] = Field(default_factory=list)
    payments: PaymentsConfig = Field(default_factory=PaymentsConfig)
    promo: PromoConfig = Field(default_factory=PromoConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    moderation: ModerationConfig = Field(default_factory=ModerationConfig)
    oauth: OAuthConfig = Field(default_factory=OAuthConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


MIN_MEDIA_SECRET_CHARS = 32


def _long_enough(value: str | None) -> str | None:
    if value is not None and len(value) < MIN_MEDIA_SECRET_CHARS:
        raise ValueError(f"use at least {MIN_MEDIA_SECRET_CHARS} characters")
    return value


class Secrets(BaseSettings):
    """Secrets, from the environment only."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False)

    database_url: str = Field(
        "sqlite+aiosqlite:///./smarthub.db", validation_alias=AliasChoices("SMARTHUB_DATABASE_URL")
    )
    jwt_secret: str | None = Field(None, validation_alias=AliasChoices("SMARTHUB_JWT_SECRET"))
    redis_url: Annotated[str | None, AfterValidator(check_redis_url)] = Field(
        None, validation_alias=AliasChoices("SMARTHUB_REDIS_URL")
    )
    stripe_api_key: str | None = Field(None, validation_alias=AliasChoices("STRIPE_API_KEY"))
    stripe_webhook_secret: str | None = Field(None, validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET"))
    smtp_host: str | None = Field(None, validation_alias=AliasChoices("SMARTHUB_SMTP_HOST"))
    smtp_port: int = Field(587, validation_alias=AliasChoices("SMARTHUB_SMTP_PORT"))
    smtp_username: str | None = Field(None, validation_alias=AliasChoices("SMARTHUB_SMTP_USERNAME"))
    smtp_password: str | None = Field(None, validation_alias=AliasChoices("SMARTHUB_SMTP_PASSWORD"))
    smtp_starttls: bool = Field(False, validation_alias=AliasChoices("SMARTHUB_SMTP_STARTTLS"))
    media_signing_secret: Annotated[str | None, AfterValidator(_long_enough)] = Field(
        None, validation_alias=AliasChoices("SMARTHUB_MEDIA_SIGNING_SECRET")
    )
    """Signs the local backend's download links; without it, a key derived from the JWT signing key."""
    google_client_id: str | None = Field(None, validation_alias=AliasChoices("SMARTHUB_GOOGLE_CLIENT_ID"))
    google_client_secret: str | None = Field(None, validation_alias=AliasChoices("SMARTHUB_GOOGLE_CLIENT_SECRET"))
    """Google sign-in on the OAuth sign-in page, on when both are set (docs/oauth.md)."""


class AppConfig(BaseModel):
    """Settings and secrets together: what `build_app` and the CLI are handed."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    secrets: Secrets
    config_path: Path | None = None
    environ: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)
    """The environment the config was loaded from: provider keys are looked up here by name."""


def _describe(exc: ValidationError, *, source: str) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{where}: {msg}")
    return f"invalid configuration in {source}: " + "; ".join(problems)


JSON_HINT = (
    "not valid JSON (list and table settings take JSON in the environment, e.g."
    """ '["a.example.com"]' or '{"ann@example.com": {"requests_per_minute": 10}}')"""
)


class _OneVariable(EnvSettingsSource):
    """The settings' environment source over a single variable, to find the one that does not parse."""

    def __init__(self, name: str, value: str) -> None:
        self._only = {name.lower(): value}  # the source matches names case-insensitively, lowered
        super().__init__(Settings)

    def _load_env_vars(self) -> dict[str, str | None]:
        return dict(self._only)


def _describe_unparsable(exc: SettingsError, environ: Mapping[str, str]) -> str:
    """pydantic-settings names only the section ("server"); name the variable, as for any bad setting."""
    for name, value in environ.items():
        if not name.upper().startswith("SMARTHUB_"):
            continue
        try:
            _OneVariable(name, value)()
        except SettingsError:
            return f"invalid configuration in the environment: {name}: {JSON_HINT}"
    section = re.search(r'field "(\w+)"', str(exc))
    where = f"a SMARTHUB_{section.group(1).upper()}__... variable" if section else "a SMARTHUB_ variable"
    return f"invalid configuration in the environment: {where}: {JSON_HINT}"


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> AppConfig:
    """Read the TOML file (if any), apply the environment, validate. Raises ConfigError in one line."""
    environ = os.environ if env is None else env
    raw_path = path or environ.get("SMARTHUB_CONFIG")
    data: dict[str, Any] = {}
    config_path: Path | None = None
    if raw_path:
        config_path = Path(raw_path)
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {config_path}") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {config_path} is a directory") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {config_path} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_path} is not valid TOML: {exc}") from None
    # Short spellings for the two settings operators reach for most (the long form wins).
    for short, key in (("SMARTHUB_LOG_FORMAT", "format"), ("SMARTHUB_LOG_LEVEL", "level")):
        if environ.get(short):
            data.setdefault("logging", {})[key] = environ[short].strip()
    source = str(config_path) if config_path else "the environment"
    saved = None
    if env is not None:  # tests hand an explicit environment; pydantic-settings reads os.environ
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
    try:
        try:
            settings = Settings(**data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, source=source)) from None
        except SettingsError as exc:  # an override that should be JSON (a list or a table) is not
            raise ConfigError(_describe_unparsable(exc, environ)) from None
        try:
            secrets = Secrets()
        except ValidationError as exc:  # secrets never come from the file
            raise ConfigError(_describe(exc, source="the environment")) from None
    finally:
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)
    _check_consistency(settings)
    return AppConfig(settings=settings, secrets=secrets, config_path=config_path, environ=dict(environ))


HOLD_MARGIN_SECONDS = 30


def longest_call_seconds(settings: Settings) -> float:
    """How long one call may run: the router starts no attempt after its budget, and an attempt
    started just before then may take the slowest provider's whole timeout."""
    slowest = max((p.timeout_seconds for p in settings.providers.values()), default=0.0)
    return settings.router.budget_seconds + slowest


def _check_consistency(settings: Settings) -> None:
    """Rules that span sections: every route names a configured provider; a hold outlives its call."""
    needed = longest_call_seconds(settings) + HOLD_MARGIN_SECONDS
    if settings.billing.hold_ttl_seconds < needed:
        raise ConfigError(
            f"invalid configuration: billing.hold_ttl_seconds ({settings.billing.hold_ttl_seconds}) must be at"
            f" least {int(needed + 0.999)}: router.budget_seconds plus the slowest provider's timeout_seconds"
            f" plus {HOLD_MARGIN_SECONDS} s, or a call could outlive its hold and be delivered uncharged"
        )
    for name, model in settings.models.items():
        for route in model.routes:
            if route.provider not in settings.providers:
                raise ConfigError(
                    f"invalid configuration: models.{name}.routes: unknown provider {route.provider!r}"
                )
    if settings.storage.backend == "s3" and not settings.storage.bucket:
        raise ConfigError("invalid configuration: storage.bucket is required when storage.backend is \"s3\"")
    ids = [p.id for p in settings.packages]
    if len(ids) != len(set(ids)):
        raise ConfigError("invalid configuration: packages: duplicate package id")
