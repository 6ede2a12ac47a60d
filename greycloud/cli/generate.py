"""``greycloud generate`` and ``greycloud count-tokens``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from greycloud.client import GreyCloudClient
from greycloud.config import GreyCloudConfig
from greycloud.rules import TEMPERATURE
from greycloud.tokens import estimate_tokens


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate`` and ``count-tokens`` to the command line."""
    generate = subparsers.add_parser("generate", help="generate text from a prompt")
    generate.add_argument("prompt", help="the prompt; use - to read it from stdin")
    generate.add_argument("--stream", action="store_true", help="print text as it arrives")
    generate.add_argument("--model", help="model name (default: the configured model)")
    generate.add_argument("--system", help="system instruction for this request")
    generate.add_argument(
        "--temperature",
        type=float,
        help=f"sampling temperature, {TEMPERATURE.requirement}",
    )
    generate.add_argument("--max-output-tokens", type=int, help="upper bound on output tokens")
    generate.add_argument("--retries", type=int, default=5, help="retries on transient errors")
    generate.set_defaults(handler=run_generate)

    count = subparsers.add_parser("count-tokens", help="count the tokens in files")
    count.add_argument("files", nargs="+", type=Path, metavar="FILE")
    count.add_argument("--model", help="model whose tokenizer to use")
    count.set_defaults(handler=run_count_tokens)


def _read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise ValueError("the prompt is empty: pass some text, or - to read it from stdin.")
    return text


def run_generate(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Print the model's answer to ``args.prompt``."""
    prompt = _read_prompt(args.prompt)
    options = {
        "model": args.model,
        "system_instruction": args.system,
        "temperature": args.temperature,
        "max_output_tokens": args.max_output_tokens,
    }
    with GreyCloudClient(config) as client:
        if args.stream:
            for chunk in client.generate_with_retry(
                prompt, args.retries, streaming=True, **options
            ):
                print(chunk, end="", flush=True)
            print()
        else:
            response = client.generate_with_retry(prompt, args.retries, **options)
            print(response.text or "")
    return 0


def run_count_tokens(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Print each file's token count and the total; ``~`` marks estimates."""
    texts: list[tuple[Path, str]] = []
    for path in args.files:
        if not path.is_file():
            raise ValueError(f"{path}: no such file.")
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text, so it cannot be counted.") from None
    total = 0
    approximate = False
    with GreyCloudClient(config) as client:
        for path, text in texts:
            if not text:
                count, mark = 0, ""
            else:
                try:
                    count, mark = client.count_tokens(text, model=args.model, fallback=False), ""
                except Exception as exc:
                    print(f"greycloud: countTokens failed for {path}: {exc}", file=sys.stderr)
                    count, mark = estimate_tokens(text), "~"
                    approximate = True
            total += count
            print(f"{mark}{count:>10}  {path}")
    if len(texts) > 1:
        print(f"{'~' if approximate else ''}{total:>10}  total")
    return 0
