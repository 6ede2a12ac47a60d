"""``greycloud quota status``: what the shared (Redis) quota holds now, per quota key.

This command's own process runs no limiter. With ``quota_url`` set it reads
every quota key under the URL's prefix from Redis (read-only); without it each
process limits itself, and the language server's limiters are shown by
``greycloud-lsp daemon status``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import Any

from greycloud.config import GreyCloudConfig
from greycloud.quota_status import QuotaStatus, format_quotas, quota_json
from greycloud.quotas import QuotaKey, quota_key
from greycloud.rate_limiter import config_limits

PERIOD_SECONDS = 60.0
NOT_SHARED = (
    "No shared quota: quota_url (GREYCLOUD_QUOTA_URL) is not set, so each process limits "
    "itself and this command has no limiter to read. The language server's limiters: "
    "`greycloud-lsp daemon status`."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``quota status`` to the command line."""
    quota = subparsers.add_parser("quota", help="see the rate-limit quota in use")
    commands = quota.add_subparsers(dest="quota_command", metavar="ACTION", required=True)
    status = commands.add_parser(
        "status", help="requests and tokens used, in flight and waiting, per quota key"
    )
    status.add_argument("--json", action="store_true", help="print JSON for machines")
    status.add_argument("--model", help="the model whose limits to show (default: configured)")
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Print each quota's state in the shared Redis (or say there is none)."""
    if args.model:
        config = config.replace(model=args.model)
    if not config.quota_url:
        if args.json:
            print(json.dumps({"shared": False, "quotas": [], "note": NOT_SHARED}, indent=2))
        else:
            print(NOT_SHARED)
        return 0
    from redis.exceptions import RedisError

    from greycloud.quota_url import redact_url

    url = redact_url(config.quota_url)
    try:
        rows = asyncio.run(_read(config))
    except (asyncio.TimeoutError, OSError, RedisError) as exc:
        raise OSError(
            f"the shared quota at {url} is not answering ({type(exc).__name__}); "
            "check that Redis runs and quota_url points at it."
        ) from None
    quotas = [quota_json(key, status) for key, status in rows]
    if args.json:
        report = {"shared": True, "url": url, "periodSeconds": PERIOD_SECONDS, "quotas": quotas}
        print(json.dumps(report, indent=2))
    else:
        print(f"shared quota at {url}")
        print(format_quotas(quotas, "quotas"))
    return 0


async def _read(config: GreyCloudConfig) -> list[tuple[QuotaKey, QuotaStatus]]:
    """This configuration's quota first (with its limits), then every other key found."""
    from greycloud.shared_quota import RedisQuota

    assert config.quota_url is not None
    own = quota_key(config)
    rpm, tpm, concurrency = config_limits(config)
    rows: list[tuple[QuotaKey, QuotaStatus]] = []
    scanner = RedisQuota(config.quota_url, own)
    try:
        found = await scanner.known_keys()
    finally:
        await scanner.aclose()
    for key in [own, *(k for k in found if k != own and len(k) == 3)]:
        quota = RedisQuota(config.quota_url, key)
        quota.period = PERIOD_SECONDS
        try:
            status = await quota.read_status()
        finally:
            await quota.aclose()
        if key == own:
            limits: dict[str, Any] = {"rpm": rpm, "tpm": tpm, "max_concurrency": concurrency}
            status = dataclasses.replace(status, tpm_counts=config.tpm_counts, **limits)
        rows.append((key, status))
    return rows
