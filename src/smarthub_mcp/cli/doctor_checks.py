"""What `smarthub doctor` checks: one function per part of a deployment, each answering findings.

A finding is `ok`, `warn` (works, but not as an operator would want in production) or `fail`
(something is missing or unreachable: the server would refuse to start, or a feature would answer
errors). Each problem carries the fix to apply. Checks never print a secret, never write to the
database, and make a network call to a paid provider only when asked (`online`).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import make_url

from smarthub_mcp.config import AppConfig, Settings
from smarthub_mcp.db import Database, normalize_url
from smarthub_mcp.errors import SmartHubError
from smarthub_mcp.migrations import check_reachable, pending
from smarthub_mcp.providers.adapters import ADAPTERS
from smarthub_mcp.providers.registry import build_provider, provider_key

Status = Literal["ok", "warn", "fail"]
CLI_CONNECTIONS = 4  # headroom for `smarthub db upgrade`, the CLI and a psql session next to the replicas
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str
    message: str
    fix: str = ""


def ok(check: str, message: str) -> Finding:
    return Finding("ok", check, message)


# --- configuration ---------------------------------------------------------------------------


def check_config(config: AppConfig) -> list[Finding]:
    settings, secrets = config.settings, config.secrets
    source = str(config.config_path) if config.config_path else "built-in defaults"
    found = [ok("config", f"settings from {source}: {len(settings.models)} model(s), "
                          f"{len(settings.providers)} provider(s)")]
    sqlite = make_url(normalize_url(secrets.database_url)).get_backend_name() == "sqlite"
    auth = settings.auth
    if auth.algorithm == "HS256" and not secrets.jwt_secret:
        if sqlite and auth.dev_mode:
            found.append(Finding("warn", "config", "no SMARTHUB_JWT_SECRET: dev mode generates one beside the"
                                 " SQLite file", "set SMARTHUB_JWT_SECRET (32+ random characters) in production"))
        else:
            found.append(Finding("fail", "config", "SMARTHUB_JWT_SECRET is not set; the server refuses to start",
                                 "set SMARTHUB_JWT_SECRET to 32+ random characters, the same on every replica"
                                 " (e.g. `openssl rand -hex 32`)"))
    elif auth.algorithm != "HS256":
        for name in ("private_key_file", "public_key_file"):
            path = getattr(auth, name)
            if name == "private_key_file" and not path:
                found.append(Finding("fail", "config", f"auth.algorithm is {auth.algorithm} but"
                                     " auth.private_key_file is not set", "set auth.private_key_file to a PEM key"))
            elif path and not Path(path).is_file():
                found.append(Finding("fail", "config", f"auth.{name} {path} does not exist",
                                     f"create the key or correct auth.{name}"))
    base = settings.server.public_base_url
    if "127.0.0.1" in base or "localhost" in base:
        found.append(Finding("warn", "config", f"server.public_base_url is {base}: emailed links and OAuth"
                             " metadata point at this machine", "set SMARTHUB_SERVER__PUBLIC_BASE_URL to the"
                             " address users reach (e.g. https://hub.example.com)"))
    return found


# --- database --------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    return Path(name).resolve() if name and name != ":memory:" else None


async def check_database(config: AppConfig, *, replicas: int) -> list[Finding]:
    url = config.secrets.database_url
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        # Opening it would create it: say what `serve` will do instead. SQLite creates the file,
        # not its directory.
        if not path.parent.is_dir():
            return [Finding("fail", "database", f"no directory {path.parent} for the database {path.name}",
                            f"create {path.parent}, writable by the server's user, or set SMARTHUB_DATABASE_URL")]
        if not os.access(path.parent, os.W_OK):
            return [Finding("fail", "database", f"no database at {path} and {path.parent} is not writable",
                            f"make {path.parent} writable by the server's user, or set SMARTHUB_DATABASE_URL")]
        return [Finding("warn", "database", f"no database at {path} yet", "`smarthub serve` creates and"
                        " upgrades it on start (or run `smarthub db upgrade` now)")]
    db = Database(url, pool_size=1, pool_timeout=PROBE_TIMEOUT_S)
    try:
        try:
            await check_reachable(db)
        except SmartHubError as exc:
            return [Finding("fail", "database", exc.message, "start the database server, or correct"
                            " SMARTHUB_DATABASE_URL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB)")]
        found = [ok("database", f"{db.dialect} answers")]
        missing = await pending(db)
        if missing:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
            fix = "run `smarthub db upgrade` (serve also upgrades SQLite on start)" if db.is_sqlite else (
                "run `smarthub db upgrade` once, before starting the replicas")
            found.append(Finding("warn" if db.is_sqlite else "fail", "database", f"schema behind: {names}", fix))
        else:
            found.append(ok("database", "schema up to date"))
        if not db.is_sqlite:
            found.append(await _connection_budget(db, config.settings, replicas))
        return found
    finally:
        await db.close()


async def _connection_budget(db: Database, settings: Settings, replicas: int) -> Finding:
    """Each replica opens up to 2 x pool_size connections (two pools); the server keeps some for
    superusers. Over budget, a busy hour ends in `too many clients` errors on every replica."""
    async with db.read() as conn:
        limit = int((await conn.execute(text("SHOW max_connections"))).scalar_one())
        reserved = int((await conn.execute(text("SHOW superuser_reserved_connections"))).scalar_one())
    pool = settings.database.pool_size
    need = replicas * 2 * pool + CLI_CONNECTIONS
    room = limit - reserved
    what = (f"{replicas} replica(s) x 2 pools x pool_size {pool} + {CLI_CONNECTIONS} for the CLI = {need}"
            f" connections; the server allows {room} ({limit} max_connections - {reserved} reserved)")
    if need <= room:
        return ok("database", what)
    fitting = max(1, (room - CLI_CONNECTIONS) // (2 * replicas))
    return Finding("fail", "database", what, f"set SMARTHUB_DATABASE__POOL_SIZE={fitting} (or lower), or raise"
                   " max_connections in postgresql.conf (or put PgBouncer in front)")


# --- Redis, SMTP -----------------------------------------------------------------------------


async def check_redis(config: AppConfig, *, replicas: int) -> list[Finding]:
    from smarthub_mcp.ratelimit import RateLimiter

    url = config.secrets.redis_url
    if not url:
        if replicas > 1:
            return [Finding("warn", "redis", "SMARTHUB_REDIS_URL is not set: each replica counts rate limits on"
                            " its own", "set SMARTHUB_REDIS_URL=redis://HOST:6379/0 so replicas share them")]
        return [ok("redis", "not configured: rate limits counted in memory (one process)")]
    limiter = RateLimiter.from_settings(config.settings, url)
    try:
        if await limiter.ping():
            return [ok("redis", "answers")]
    finally:
        await limiter.aclose()
    return [Finding("fail", "redis", "SMARTHUB_REDIS_URL is set but Redis does not answer: every tool call would"
                    " be refused (rate_limiter_unavailable)", "start Redis or correct SMARTHUB_REDIS_URL;"
                    " unset it to count limits in memory on a single process")]


async def check_smtp(config: AppConfig) -> list[Finding]:
    import aiosmtplib

    s = config.secrets
    if not s.smtp_host:
        return [Finding("warn", "smtp", "SMARTHUB_SMTP_HOST is not set: verification and reset emails are only"
                        " written to the log", "set SMARTHUB_SMTP_HOST (and _PORT, _USERNAME, _PASSWORD, _STARTTLS)")]
    client = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, start_tls=s.smtp_starttls, use_tls=False,
                             timeout=PROBE_TIMEOUT_S)
    try:
        await client.connect()
        if s.smtp_username and s.smtp_password:
            await client.login(s.smtp_username, s.smtp_password)
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        return [Finding("fail", "smtp", f"{s.smtp_host}:{s.smtp_port} refused: {type(exc).__name__}",
                        "check SMARTHUB_SMTP_HOST, _PORT, _STARTTLS and the credentials")]
    login = " and accepts the login" if s.smtp_username else ""
    return [ok("smtp", f"{s.smtp_host}:{s.smtp_port} answers{login}")]


# --- Stripe ----------------------------------------------------------------------------------


async def check_stripe(config: AppConfig, *, online: bool) -> list[Finding]:
    key, secret = config.secrets.stripe_api_key, config.secrets.stripe_webhook_secret
    packages = config.settings.packages
    if not key:
        if packages:
            return [Finding("fail", "stripe", f"{len(packages)} credit package(s) configured but STRIPE_API_KEY"
                            " is not set: purchases answer 503 payments_unavailable",
                            "set STRIPE_API_KEY (sk_live_... or sk_test_...) and STRIPE_WEBHOOK_SECRET")]
        return [ok("stripe", "payments off (no packages, no STRIPE_API_KEY)")]
    found: list[Finding] = []
    if not key.startswith(("sk_", "rk_")):
        found.append(Finding("fail", "stripe", "STRIPE_API_KEY does not look like a secret key",
                             "use the secret key (sk_...) or a restricted key (rk_...), not the publishable pk_"))
    if not secret:
        found.append(Finding("fail", "stripe", "STRIPE_WEBHOOK_SECRET is not set: no purchase would ever be"
                             " credited", "add the webhook endpoint <public URL>/api/v1/payments/stripe/webhook"
                             " in the Stripe dashboard and set STRIPE_WEBHOOK_SECRET to its signing secret"))
    elif not secret.startswith("whsec_"):
        found.append(Finding("fail", "stripe", "STRIPE_WEBHOOK_SECRET does not look like a signing secret",
                             "copy the endpoint's signing secret (whsec_...) from the Stripe dashboard"))
    if not packages:
        found.append(Finding("warn", "stripe", "Stripe is configured but no [[packages]] are",
                             "define credit packages in config.toml"))
    if online and not any(f.status == "fail" for f in found):
        found.append(await _stripe_call(config, key))
    elif not found:
        found.append(ok("stripe", "API key and webhook secret present (not called; --online to call Stripe)"))
    return found


async def _stripe_call(config: AppConfig, key: str) -> Finding:
    import stripe

    base = config.settings.payments.stripe_api_base
    client = stripe.StripeClient(key, base_addresses={"api": base} if base else None,
                                 http_client=stripe.HTTPXClient(timeout=PROBE_TIMEOUT_S), max_network_retries=0)
    try:
        await client.v1.balance.retrieve_async()  # read-only, free
    except stripe.AuthenticationError:
        return Finding("fail", "stripe", "Stripe refused STRIPE_API_KEY", "set a current secret key")
    except stripe.StripeError as exc:
        return Finding("fail", "stripe", f"Stripe call failed: {type(exc).__name__}",
                       "check the network path to api.stripe.com (or payments.stripe_api_base)")
    return ok("stripe", "Stripe accepts STRIPE_API_KEY; webhook secret present")


# --- storage ---------------------------------------------------------------------------------


async def check_storage(config: AppConfig) -> list[Finding]:
    storage = config.settings.storage
    if storage.backend == "local":
        return [_local_storage(storage.directory)]
    return [await _s3_storage(config)]


def _local_storage(configured: str) -> Finding:
    directory = Path(configured).resolve()
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != directory or not directory.is_dir():
        if existing.is_dir() and os.access(existing, os.W_OK):
            return ok("storage", f"local: {directory} will be created on the first write")
        return Finding("fail", "storage", f"local: {directory} does not exist and {existing} is not writable",
                       f"create {directory}, writable by the server's user (`install -d -o smarthub {directory}`)")
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Finding("fail", "storage", f"local: cannot write to {directory}: {type(exc).__name__}",
                       f"make {directory} writable by the server's user, or set storage.directory")
    return ok("storage", f"local: {directory} is writable")


async def _s3_storage(config: AppConfig) -> Finding:
    import anyio
    from botocore.exceptions import BotoCoreError, ClientError

    from smarthub_mcp.media.s3 import S3Storage
    from smarthub_mcp.media.wiring import build_storage

    settings = config.settings.storage
    built = build_storage(settings.model_copy(update={"timeout_seconds": PROBE_TIMEOUT_S}), config.environ,
                          public_base_url=config.settings.server.public_base_url, link_secret=lambda: b"")
    assert isinstance(built, S3Storage)
    try:
        await anyio.to_thread.run_sync(lambda: built.client.head_bucket(Bucket=settings.bucket))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "")) or "client error"
        return Finding("fail", "storage", f"s3: bucket {settings.bucket} refused: {code}",
                       "create the bucket, or give the access key s3:ListBucket, GetObject, PutObject, DeleteObject")
    except BotoCoreError as exc:
        return Finding("fail", "storage", f"s3: {settings.endpoint_url or 'AWS'} unreachable: {type(exc).__name__}",
                       "check storage.endpoint_url, storage.region and the network path, and the access keys")
    finally:
        await built.aclose()
    return ok("storage", f"s3: bucket {settings.bucket} reachable")


# --- providers -------------------------------------------------------------------------------


async def check_providers(config: AppConfig, *, online: bool) -> list[Finding]:
    settings, env = config.settings, config.environ
    used = {route.provider for model in settings.models.values() if model.enabled for route in model.routes}
    found: list[Finding] = []
    for name, provider in settings.providers.items():
        check = f"provider {name}"
        if not provider.enabled or name not in used:
            found.append(ok(check, "disabled" if not provider.enabled else "not routed by any enabled model"))
            continue
        adapter = ADAPTERS.get(provider.type)
        if adapter is None:
            found.append(Finding("warn", check, f"type {provider.type!r} has no adapter yet: its models are"
                                 " listed as unavailable", "route those models to a supported provider"))
            continue
        built = build_provider(name, provider, env)
        if isinstance(built, str):
            fix = (f"export {provider.api_key_env}=<the provider's API key>" if provider.api_key_env
                   else f"set providers.{name}.api_key_env to the variable holding its key")
            found.append(Finding("fail", check, f"{built}: its models are unavailable", fix))
            continue
        aclose = getattr(built, "aclose", None)
        if aclose is not None:
            await aclose()
        if adapter.key == "none":
            found.append(ok(check, f"{provider.type}: needs no key"))
        elif not online:
            found.append(ok(check, f"{provider.type}: key present (not called; --online to call it)"))
        else:
            found.append(await _provider_call(name, provider.type, provider.base_url,
                                              provider_key(name, provider, env) or ""))
    return found


async def _provider_call(name: str, type_: str, base_url: str | None, key: str) -> Finding:
    """A free call that needs a valid key: list models."""
    check = f"provider {name}"
    try:
        if type_ == "openai":
            import openai

            async with openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0,
                                          timeout=PROBE_TIMEOUT_S) as oai:
                await oai.models.list()
        elif type_ == "anthropic":
            import anthropic

            async with anthropic.AsyncAnthropic(api_key=key, base_url=base_url, max_retries=0,
                                                timeout=PROBE_TIMEOUT_S) as ant:
                await ant.models.list(limit=1)
        else:
            return ok(check, f"{type_}: key present (no free call to check it)")
    except Exception as exc:  # each SDK has its own errors; the class name is safe to show, the body is not
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            return Finding("fail", check, f"{type_}: the provider refused the key (HTTP {status})",
                           "set a valid key in the provider's api_key_env variable")
        return Finding("fail", check, f"{type_}: call failed: {type(exc).__name__}"
                       + (f" (HTTP {status})" if status else ""), "check base_url and the network path")
    return ok(check, f"{type_}: the provider accepts the key")
