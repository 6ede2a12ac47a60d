"""Reading a shared-quota URL: its Redis topology, GreyCloud's options, a printable form.

Three topologies, one URL each (GreyCloud's options go in the query and are
removed before anything reaches redis-py; other query options are redis-py's)::

    redis://[[user]:password@]host[:port][/db]        one server (rediss:// TLS, unix:///path)
    redis+cluster://[[user]:password@]host[:port][,host[:port]...]
                                                      Redis Cluster, seed nodes (rediss+cluster://)
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]
                                                      Sentinel(s) (port 26379 by default) naming
                                                      the master (rediss+sentinel://)

    ?prefix=greycloud:&lease_seconds=30&timeout=1&fallback_share=1&failover_timeout=15
     &sentinel_username=...&sentinel_password=...     (the Sentinels' own login, if any)

The sentinel form is the one of the Redis-Sentinel-Url package and Prefect
(redis-py has no URL for Sentinel); the password is the data nodes', the
Sentinels' login comes from ``sentinel_username``/``sentinel_password``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
    "rediss+sentinel",
)
DEFAULT_PREFIX = "greycloud:"
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_TIMEOUT = 1.0
DEFAULT_FAILOVER_TIMEOUT = 15.0
SENTINEL_PORT = 26379
REDIS_PORT = 6379
_NUMBERS = ("lease_seconds", "timeout", "fallback_share", "failover_timeout")
_STRINGS = ("prefix", "sentinel_username", "sentinel_password")


def redact_url(url: str) -> str:
    """``url`` without its password or query (safe for logs and errors)."""
    try:
        parts = urlsplit(url)
        userinfo, at, hosts = parts.netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.partition(':')[0]}:***@{hosts}"
        else:
            netloc = parts.netloc
        return urlunsplit(parts._replace(netloc=netloc, query=""))
    except ValueError:
        return "<unparseable quota URL>"


@dataclass(frozen=True)
class QuotaOptions:
    """Settings parsed from a quota URL.

    ``connect_url`` is what redis-py reads: the whole URL for one server; for a
    cluster or Sentinel, the first node's URL (credentials, db, redis-py's own
    query options), while ``nodes`` lists every seed node or Sentinel.
    """

    connect_url: str = field(repr=False)
    topology: str = "single"  # "single", "cluster" or "sentinel"
    nodes: tuple[tuple[str, int], ...] = ()
    service_name: str = ""
    prefix: str = DEFAULT_PREFIX
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    timeout: float = DEFAULT_TIMEOUT
    fallback_share: float = 1.0
    failover_timeout: float = DEFAULT_FAILOVER_TIMEOUT
    sentinel_username: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)

    @property
    def follows_failover(self) -> bool:
        """A cluster or Sentinel URL: another master can take over, so errors may pass."""
        return self.topology != "single"

    def secrets(self) -> list[str]:
        """Passwords in this URL (to mask wherever a message might quote them)."""
        found = [urlsplit(self.connect_url).password, self.sentinel_password]
        return sorted({form for s in found if s for form in (s, unquote(s))}, key=len, reverse=True)

    @classmethod
    def parse(cls, url: str) -> QuotaOptions:
        """Split ``url``; bad values raise ``ValueError`` naming the option (never the password)."""
        shown = redact_url(url)
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"quota_url={shown!r} is not a Redis URL: use redis://host:6379/0, "
                "rediss://... (TLS), unix:///path/to/redis.sock, "
                "redis+cluster://host:6379 (Redis Cluster) or "
                "redis+sentinel://host:26379/service_name (Sentinel)."
            )
        ours: dict[str, Any] = {}
        theirs = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in _NUMBERS:
                try:
                    ours[name] = float(value)
                except ValueError:
                    message = f"quota_url={shown!r}: option {name}={value!r} is not a number."
                    raise ValueError(message) from None
            elif name in _STRINGS:
                ours[name] = value
            else:
                theirs.append((name, value))
        query = urlencode(theirs)
        scheme, _, topology = parts.scheme.partition("+")
        if not topology:
            options = cls(urlunsplit(parts._replace(query=query)), **ours)
        else:
            options = cls(**_topology(shown, parts, scheme, topology, query), **ours)
        _check(shown, options)
        return options


def _topology(shown: str, parts: Any, scheme: str, topology: str, query: str) -> dict[str, Any]:
    """The first node's redis-py URL, the node list and the service of a cluster/Sentinel URL."""
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    default_port = SENTINEL_PORT if topology == "sentinel" else REDIS_PORT
    nodes = tuple(_node(shown, text, default_port) for text in hostlist.split(","))
    path = [p for p in parts.path.split("/") if p]
    service = ""
    if topology == "sentinel":
        if not path:
            raise ValueError(
                f"quota_url={shown!r} names no master: use "
                "redis+sentinel://host:26379[,host:26379]/service_name[/db]."
            )
        service, path = unquote(path[0]), path[1:]
    if len(path) > 1 or (path and not path[0].isdigit()):
        raise ValueError(f"quota_url={shown!r}: the database must be a number (/0).")
    db = path[0] if path else "0"
    if topology == "cluster" and db != "0":
        raise ValueError(f"quota_url={shown!r}: Redis Cluster has only database 0.")
    host, port = nodes[0]
    netloc = f"{userinfo}{at}{_host(host)}:{port}"
    first = urlunsplit((scheme, netloc, f"/{db}", query, ""))
    return {"connect_url": first, "topology": topology, "nodes": nodes, "service_name": service}


def _node(shown: str, text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            host, port = text, str(default_port)
    if not host or not port.isdigit():
        raise ValueError(f"quota_url={shown!r}: {text!r} is not host:port.")
    return host, int(port)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check(shown: str, options: QuotaOptions) -> None:
    if options.lease_seconds <= 0 or options.timeout <= 0 or options.failover_timeout < 0:
        raise ValueError(
            f"quota_url={shown!r}: options lease_seconds and timeout must be greater than 0, "
            "failover_timeout 0 or more."
        )
    if not 0 < options.fallback_share <= 1:
        raise ValueError(
            f"quota_url={shown!r}: option fallback_share={options.fallback_share} must be "
            "in (0, 1]: "
            "the share of the quota one process uses while Redis is unreachable."
        )
