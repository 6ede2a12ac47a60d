"""``greycloud cache``: create, list, extend and delete context caches."""

from __future__ import annotations

import argparse
from pathlib import Path

from google.genai import types

from greycloud.cache import DEFAULT_TTL_SECONDS, GreyCloudCache
from greycloud.config import GreyCloudConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cache create|list|extend|delete`` to the command line."""
    cache = subparsers.add_parser("cache", help="manage context caches")
    commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)

    create = commands.add_parser("create", help="cache local text files, gs:// files or text")
    create.add_argument("files", nargs="*", metavar="FILE", help="local text files or gs:// URIs")
    create.add_argument("--text", help="text to cache (with or instead of files)")
    create.add_argument(
        "--ttl", type=float, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default 3600)"
    )
    create.add_argument("--display-name", help="display name of the cache")
    create.add_argument("--system", help="system instruction stored in the cache")
    create.add_argument("--model", help="model the cache is for (default: configured model)")
    create.add_argument("--mime-type", help="MIME type for every gs:// file (default: guessed)")
    create.add_argument(
        "--min-tokens",
        type=int,
        help="size pre-check minimum (default: the model's, from greycloud.pricing; 0 skips it)",
    )
    create.set_defaults(handler=run_create)

    listing = commands.add_parser("list", help="list live caches")
    listing.set_defaults(handler=run_list)

    extend = commands.add_parser("extend", help="give a cache a new lifetime")
    extend.add_argument("name", help="cache resource name or id")
    extend.add_argument("--ttl", type=float, required=True, help="new lifetime in seconds from now")
    extend.set_defaults(handler=run_extend)

    delete = commands.add_parser("delete", help="delete one cache, or all with --all")
    delete.add_argument("name", nargs="?", help="cache resource name or id")
    delete.add_argument(
        "--all", action="store_true", help="delete every cache (see --display-name)"
    )
    delete.add_argument("--display-name", help="with --all: only caches with this display name")
    delete.set_defaults(handler=run_delete)


def _contents(files: list[str], text: str | None, mime_type: str | None) -> list[types.Part]:
    from greycloud.storage import guess_mime_type, is_gs_uri, parse_gs_uri

    parts: list[types.Part] = []
    for item in files:
        if is_gs_uri(item):
            uri = parse_gs_uri(item).uri
            mime = mime_type or guess_mime_type(uri, "text/plain")
            parts.append(types.Part.from_uri(file_uri=uri, mime_type=mime))
            continue
        path = Path(item)
        if not path.is_file():
            raise ValueError(f"{path}: no such file.")
        try:
            body = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                f"{path}: not UTF-8 text; upload it to Cloud Storage and pass its gs:// URI."
            ) from None
        parts.append(types.Part.from_text(text=f"--- {path.name} ---\n{body}"))
    if text:
        parts.append(types.Part.from_text(text=text))
    if not parts:
        raise ValueError("nothing to cache: give FILE arguments or --text.")
    return parts


def run_create(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Create a cache and print its name and size."""
    parts = _contents(args.files, args.text, args.mime_type)
    cache = GreyCloudCache(config).create_cache(
        [types.Content(role="user", parts=parts)],
        model=args.model,
        display_name=args.display_name,
        system_instruction=args.system,
        ttl_seconds=args.ttl,
        min_tokens=args.min_tokens,
    )
    tokens = cache.usage_metadata.total_token_count if cache.usage_metadata else None
    print(cache.name)
    print(f"tokens: {tokens if tokens is not None else 'unknown'}  expires: {cache.expire_time}")
    return 0


def run_list(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Print one line per cache: name, tokens, expiry, display name."""
    del args
    client = GreyCloudCache(config)
    caches = client.list_caches()
    if not caches:
        print("no caches")
        return 0
    for cache in caches:
        info = client.get_cache_info(cache)
        tokens = info["total_token_count"]
        print(
            f"{info['name']}  {tokens if tokens is not None else '?':>8} tokens  "
            f"expires {info['expire_time']}  {info['display_name'] or ''}".rstrip()
        )
    return 0


def run_extend(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Set a cache's TTL and print the new expiry."""
    cache = GreyCloudCache(config).update_cache_ttl(args.name, ttl_seconds=args.ttl)
    print(f"{cache.name} expires {cache.expire_time}")
    return 0


def run_delete(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Delete one cache, or every (matching) cache with ``--all``."""
    if args.all == bool(args.name):
        raise ValueError("give a cache NAME, or --all (optionally with --display-name).")
    if args.display_name and not args.all:
        raise ValueError("--display-name only applies with --all.")
    client = GreyCloudCache(config)
    if args.all:
        count = client.delete_all_caches(display_name_filter=args.display_name)
        print(f"deleted {count} cache{'s' if count != 1 else ''}")
    else:
        client.delete_cache(args.name)
        print(f"deleted {args.name}")
    return 0
