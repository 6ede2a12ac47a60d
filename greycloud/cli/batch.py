"""``greycloud batch``: submit a JSONL of requests, follow the job, download results."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from google.genai import types

from greycloud.batch import GreyCloudBatch, job_summary
from greycloud.config import GreyCloudConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``batch submit|status|wait|download|list|cancel`` to the command line."""
    batch = subparsers.add_parser("batch", help="batch prediction jobs over Cloud Storage")
    commands = batch.add_subparsers(dest="batch_command", metavar="ACTION", required=True)

    submit = commands.add_parser("submit", help="upload a JSONL of requests and start a job")
    submit.add_argument("requests", type=Path, metavar="REQUESTS.jsonl")
    submit.add_argument("--model", help="model for every request (default: from the file/config)")
    submit.add_argument("--bucket", help="bucket for input/output (default: BATCH_GCS_BUCKET)")
    submit.add_argument("--output-uri", help="gs:// prefix for results (any bucket)")
    submit.add_argument("--display-name", help="display name of the job")
    submit.set_defaults(handler=run_submit)

    status = commands.add_parser("status", help="print a job's state")
    status.add_argument("job", help="job resource name or numeric id")
    status.set_defaults(handler=run_status)

    wait = commands.add_parser("wait", help="wait for a job to finish, showing progress")
    wait.add_argument("job", help="job resource name or numeric id")
    wait.add_argument("--poll-interval", type=float, help="seconds between polls")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")
    wait.set_defaults(handler=run_wait)

    download = commands.add_parser("download", help="save a finished job's results as JSONL")
    download.add_argument("job", help="job resource name or numeric id")
    download.add_argument("output", type=Path, metavar="OUT")
    download.set_defaults(handler=run_download)

    listing = commands.add_parser("list", help="list batch jobs")
    listing.set_defaults(handler=run_list)

    cancel = commands.add_parser("cancel", help="cancel a running job")
    cancel.add_argument("job", help="job resource name or numeric id")
    cancel.set_defaults(handler=run_cancel)


def read_requests(path: Path) -> list[dict[str, Any]]:
    """Request objects from a local JSONL file (blank lines skipped)."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    requests: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg}).") from None
            if not isinstance(item, dict):
                raise ValueError(f"{path}:{number}: each line must be a JSON object.")
            requests.append(item)
    if not requests:
        raise ValueError(f"{path}: no requests in the file.")
    return requests


def run_submit(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Start a job and print its name."""
    job = GreyCloudBatch(config).create_batch_job(
        read_requests(args.requests),
        args.model,
        bucket_name=args.bucket,
        output_uri=args.output_uri,
        display_name=args.display_name,
    )
    print(job.name)
    return 0


def run_status(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Print ``NAME: STATE (counts)``."""
    print(job_summary(GreyCloudBatch(config).get_batch_job(args.job)))
    return 0


class _Progress:
    """One status line, rewritten in place on a terminal, a line per change otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.live = sys.stderr.isatty()
        self.last = ""

    def __call__(self, job: types.BatchJob) -> None:
        line = f"{job_summary(job)}  {time.monotonic() - self.started:.0f}s"
        if self.live:
            sys.stderr.write(f"\r\033[K{line}")
            sys.stderr.flush()
        elif job_summary(job) != self.last:
            print(line, file=sys.stderr)
        self.last = job_summary(job)

    def close(self) -> None:
        if self.live:
            sys.stderr.write("\n")


def run_wait(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Poll until the job ends; exit 0 on success, 1 on FAILED/CANCELLED/EXPIRED."""
    progress = _Progress()
    try:
        job = GreyCloudBatch(config).monitor_batch_job(
            args.job, args.poll_interval, timeout=args.timeout, on_poll=progress
        )
    finally:
        progress.close()
    print(job_summary(job))
    return 0


def run_download(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Save the predictions of a finished job to ``OUT``."""
    print(GreyCloudBatch(config).download_batch_results(args.job, args.output))
    return 0


def run_list(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """One summary line per job."""
    del args
    jobs = GreyCloudBatch(config).list_batch_jobs()
    for job in jobs:
        print(job_summary(job))
    if not jobs:
        print("no batch jobs")
    return 0


def run_cancel(args: argparse.Namespace, config: GreyCloudConfig) -> int:
    """Ask Vertex to cancel the job."""
    GreyCloudBatch(config).cancel_batch_job(args.job)
    print(f"cancelling {args.job}")
    return 0
