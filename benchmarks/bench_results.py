"""Where the benchmark scripts keep their JSON results (``benchmarks/results/``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(name: str, results: Any, *, timestamped: bool = False) -> Path:
    """Write ``results`` to ``results/<name>.json`` (``<name>-<time>.json`` to keep runs)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = f"-{time.strftime('%Y%m%d-%H%M%S')}" if timestamped else ""
    path = RESULTS / f"{name}{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    return path
