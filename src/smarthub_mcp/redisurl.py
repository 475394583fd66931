"""Redis URLs: checked when the config loads, and shown in logs without their password."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

REDIS_URL_FORMS = "redis://HOST[:PORT][/DB], rediss://HOST[:PORT][/DB] or redis+unix:///PATH[?db=DB]"


def check_redis_url(value: str | None) -> str | None:
    """Refuse a Redis URL that could never connect, at start-up rather than on the first paid call.

    Parsed the way the client will parse it (redis-py builds a connection object, which opens no
    socket); whether the server answers is `/readyz`'s question. The URL is never echoed: it may
    hold a password.
    """
    if value is None or not value.strip():
        return None
    url = value.strip()
    scheme, sep, rest = url.removeprefix("async+").partition("://")
    if not sep or scheme not in ("redis", "rediss", "redis+unix"):
        raise ValueError(f"not a Redis URL; expected {REDIS_URL_FORMS}")
    client_url = f"unix://{rest}" if scheme == "redis+unix" else f"{scheme}://{rest}"
    if scheme != "redis+unix":
        parts = urlsplit(client_url)
        if not parts.hostname:
            raise ValueError(f"the Redis URL names no host; expected {REDIS_URL_FORMS}")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError("the Redis URL's database (after the host) must be a number, e.g. redis://HOST:6379/0")
    from redis.asyncio.connection import ConnectionPool

    try:
        ConnectionPool.from_url(client_url).make_connection()
    except TypeError as exc:  # an unknown ?option: redis-py passes it on as a keyword argument
        option = re.search(r"argument '(\w+)'", str(exc))
        raise ValueError(f"unknown Redis URL option {option.group(1) if option else ''!r}") from None
    except ValueError as exc:
        raise ValueError(f"not a usable Redis URL: {exc}") from None
    return url


def redis_location(url: str) -> str:
    """Where the URL points, for logs: host, port and database, never the password."""
    parts = urlsplit(url.removeprefix("async+"))
    if parts.scheme.endswith("unix"):
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"
