"""The redis-py client for a quota URL's topology, and what its errors mean.

* one server: ``redis.asyncio.Redis`` (``from_url``);
* Redis Cluster: ``redis.asyncio.cluster.RedisCluster``, which follows ``MOVED``
  and ``ASK`` itself and re-reads the slot map after a failover;
* Sentinel: ``redis.asyncio.sentinel.Sentinel(...).master_for(service)``, whose
  connections ask the Sentinels for the master's address and drop a connection
  to a master that became a replica (``READONLY``).

`kind` sorts an error: ``"failover"`` (a cluster or Sentinel is electing or
has elected another master: worth waiting for), ``"moved"`` (a plain URL that
points at a cluster node), ``"replica"`` (a plain URL at a read-only replica)
or ``"down"``. `explain` words it for a log line, without any password.
"""

from __future__ import annotations

import asyncio
from typing import Any

from greycloud.quota_url import QuotaOptions, redact_url


def connect(options: QuotaOptions) -> tuple[Any, list[Any]]:
    """A new asyncio client for ``options``' topology, and what to close with it.

    Connections open on first use.
    """
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    timeout = options.timeout
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        # One immediate retry: a pooled connection that died with a restarted server
        # (or a demoted master) is replaced at once. ``timeout`` bounds every call.
        "retry": Retry(NoBackoff(), 1),
    }
    if options.topology == "single":
        import redis.asyncio as aioredis

        return aioredis.from_url(options.connect_url, **common), []
    from redis.asyncio.connection import parse_url

    node: dict[str, Any] = dict(parse_url(options.connect_url))  # login, db, TLS, options
    for name in ("host", "port"):
        node.pop(name, None)
    tls = node.pop("connection_class", None) is not None
    if options.topology == "cluster":
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        node.pop("db", None)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in options.nodes],
            ssl=tls,
            **common,
            **node,
        )
        return cluster, []
    from redis.asyncio.sentinel import Sentinel

    sentinel_login: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "username": options.sentinel_username,
        "password": options.sentinel_password,
    }
    if tls:
        sentinel_login["ssl"] = True
    sentinel = Sentinel(list(options.nodes), sentinel_kwargs=sentinel_login)
    return sentinel.master_for(options.service_name, ssl=tls, **common, **node), [sentinel]


MASTER_CHECK_SECONDS = 1.0
"""How often a Sentinel client asks the Sentinels which master is current."""


async def check_master(client: Any, options: QuotaOptions) -> None:
    """Sentinel: ask the Sentinels for the master; if it changed, drop the old connections.

    After ``SENTINEL FAILOVER`` the old master accepts writes until the Sentinels
    demote it (seconds later), so an open connection would not notice by itself.
    Sentinels that do not answer change nothing: the master may be fine, and the
    next call on it tells.
    """
    if options.topology == "sentinel":
        pool = client.connection_pool
        try:
            await asyncio.wait_for(pool.get_master_address(), options.timeout)
        except error_types():
            pass


def master(client: Any, options: QuotaOptions, key: str) -> str | None:
    """``host:port`` of the master that last served ``key`` (None for one server).

    A change means another master took over: it may lack the last writes the
    old one had not replicated yet, even if no call saw an error.
    """
    if options.topology == "sentinel":
        address = client.connection_pool.master_address
        return None if address is None else f"{address[0]}:{address[1]}"
    if options.topology == "cluster":
        try:
            node = client.get_node_from_key(key)
        except Exception:  # no slot map yet
            return None
        return None if node is None else str(node.name)
    return None


def error_types() -> tuple[type[BaseException], ...]:
    """Every error a script call can raise that means "Redis did not do it"."""
    from redis.exceptions import RedisClusterException, RedisError

    return (asyncio.TimeoutError, OSError, RedisError, RedisClusterException)


def kind(exc: BaseException, options: QuotaOptions) -> str:
    """``"failover"``, ``"moved"``, ``"replica"`` or ``"down"`` (see the module docs)."""
    from redis import exceptions as e

    if isinstance(exc, e.AskError):  # MOVED too (a subclass)
        return "failover" if options.topology == "cluster" else "moved"
    if isinstance(exc, e.ReadOnlyError):
        return "failover" if options.follows_failover else "replica"
    if not options.follows_failover:
        return "down"
    if isinstance(exc, (e.AuthenticationError, e.AuthorizationError, e.NoPermissionError)):
        return "down"  # a wrong login: no election fixes that
    transient = (
        asyncio.TimeoutError,
        OSError,
        e.ConnectionError,  # incl. MasterNotFoundError, "previous master is now a slave"
        e.TimeoutError,
        e.ClusterDownError,
        e.TryAgainError,
        e.SlotNotCoveredError,
        e.RedisClusterUnreachableError,
    )
    if isinstance(exc, transient) or str(exc).startswith(("LOADING", "UNBLOCKED")):
        return "failover"
    return "down"


def explain(exc: BaseException, options: QuotaOptions, url: str) -> str:
    """``exc`` for a log line: its type, its text without passwords, and what to do."""
    text = str(exc) or type(exc).__name__
    text = text.replace(options.connect_url, redact_url(options.connect_url))
    for secret in options.secrets():
        text = text.replace(secret, "***")
    found = kind(exc, options)
    if found == "moved":
        scheme, _, rest = url.partition("://")
        text += (
            f"; {url} is a Redis Cluster node: use {scheme}+cluster://{rest} "
            "(the cluster client follows the slots)"
        )
    elif found == "replica":
        text += (
            f"; {url} is a read-only replica: point quota_url at the master, or at the "
            "Sentinels with redis+sentinel://host:26379/service_name so failovers are followed"
        )
    return f"{type(exc).__name__}: {text}"
