"""Reach the Prefect API (and a Redis dedup index) before starting work, so a wrong `PREFECT_API_URL` or `--index`
is one clear error, not a traceback from deep inside the first flow run (or minutes of client retries)."""

from __future__ import annotations

import os

from lmforge.pipeline.errors import LmforgeError

#: Seconds to wait for `GET /health` of a configured server.
HEALTH_TIMEOUT_S = 10.0


def api_url() -> str | None:
    """The configured server URL (env first, then the active Prefect profile), or None for the embedded mode."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def check_api(need_server: bool = False) -> str | None:
    """Raise LmforgeError unless the configured Prefect API answers `/health`. Returns its URL (None = embedded).

    With `need_server`, the embedded mode is an error too (deployments and workers need a server).
    """
    url = api_url()
    if not url:
        if need_server:
            raise LmforgeError(
                "no Prefect server configured: deployments need one. Start it with `prefect server start` "
                "(or the compose file in infra/) and set PREFECT_API_URL=http://HOST:4200/api"
            )
        return None
    import httpx

    health = url.rstrip("/") + "/health"
    try:
        response = httpx.get(health, timeout=HEALTH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise LmforgeError(
            f"Prefect API at {url} is unreachable ({type(exc).__name__}: {exc}); start the server "
            "(`prefect server start`) or fix/unset PREFECT_API_URL to run embedded"
        ) from None
    if response.status_code != 200:
        raise LmforgeError(
            f"Prefect API at {url} answered {health} with HTTP {response.status_code}; "
            "check that PREFECT_API_URL ends in /api"
        )
    return url


def check_index(index: str | None, config_index: str | None = None) -> None:
    """Raise a clear error before any work unless the dedup index (`--index`, else the config's `dedup.index`) is the
    local one or a Redis server that answers PING."""
    spec, where = (index, "--index") if index else (config_index, "dedup.index")
    if not spec:
        return
    from lmforge.pipeline.dedup.redis_index import client, shown_url, split_url
    from lmforge.pipeline.errors import ConfigError

    if not spec.startswith(("redis://", "rediss://")):
        raise ConfigError(f"{where}: {shown_url(spec)!r} is neither empty (local index) nor a redis:// URL")
    import redis

    url, _prefix = split_url(spec)
    try:
        client(url, socket_timeout=HEALTH_TIMEOUT_S, socket_connect_timeout=HEALTH_TIMEOUT_S).ping()
    except ValueError as exc:
        raise ConfigError(f"{where}: {shown_url(spec)!r} is not a valid Redis URL ({exc})") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise LmforgeError(
            f"dedup index {shown_url(url)} is unreachable ({exc}); start Redis, or fix {where} (empty: the local index)"
        ) from None
    except redis.exceptions.ResponseError as exc:  # it answers, but not to this URL: no such database, ACLs
        raise ConfigError(f"{where}: Redis at {shown_url(url)} refused the connection ({exc}); fix {where}") from None
