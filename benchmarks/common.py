"""Shared helpers: machine description, result files, a throwaway Confide instance."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confide.core.config import Settings
from confide.core.migrate import upgrade
from confide.runtime import Runtime

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline: float
    baseline_name: str
    ratio: float
    goal: str
    goal_met: bool
    notes: str = ""
    # Further measurements of the same run (counts, other percentiles, raw inputs).
    details: dict[str, Any] = field(default_factory=dict)


def sized(full: int, quick: int, is_quick: bool) -> int:
    """The size of a benchmark: ``--quick`` runs smaller ones while developing."""
    return quick if is_quick else full


def machine() -> dict[str, object]:
    memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_bytes / 2**30, 1),
        "python": sys.version.split()[0],
    }


def write_result(result: Result, command: str) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{result.name}.json"
    payload = {
        **asdict(result),
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


@asynccontextmanager
async def temporary_runtime(**overrides: object) -> AsyncIterator[Runtime]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), **overrides)  # type: ignore[arg-type]
        rt = Runtime.from_settings(settings)
        await upgrade(rt.db)
        await rt.prepare()
        try:
            yield rt
        finally:
            await rt.close()
