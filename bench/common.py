"""Shared helpers for benchmarks: a best-of-N timer and the results.json recorder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def timeit(fn: Callable[[], Any], repeat: int = 3, number: int = 1) -> float:
    """Best wall time in seconds of ``repeat`` runs of ``number`` calls, per call."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def record(
    name: str,
    value: float,
    unit: str,
    baseline: float | None = None,
    ratio: float | None = None,
    path: Path = RESULTS,
) -> dict[str, Any]:
    """Append one measurement to ``bench/results.json`` (a JSON list) and print it."""
    entry = {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data: list[dict[str, Any]] = []
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        data = json.loads(text) if text else []
    data.append(entry)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    extra = "" if ratio is None else f"  baseline {baseline:.4g} {unit}  ratio {ratio:.3g}"
    print(f"{name:<48} {value:>12.4g} {unit}{extra}")
    return entry
