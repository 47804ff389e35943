"""What every benchmark shares: arguments, the readable table, the JSON last line and the dated result file.

A benchmark module (bench/NAME.py) defines

- `add_arguments(parser)`: its own options (`--json`, `--quick` and `--save` are added here);
- `async def measure(args) -> dict`: the figures, flat or nested, measured against a baseline in the same run;
- `def report(results) -> str`: the table a person reads.

`python -m bench NAME [--quick] [--json] [--save]` runs it (bench/__main__.py). With `--json` the last line of
output is one JSON object; with `--save` the same object also goes to bench/results/<date>-NAME.json with the
command, the date and the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import json
import os
import platform
import re
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = (
    "pipeline", "rails", "loop", "provenance", "audit", "streaming", "guard_model", "gpu_sim", "ratelimit", "writing",
    "processes",
)


def percentile(samples: list[float], q: float) -> float:
    """The sample at rank q (nearest rank), as the audit figures have always been taken."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain text table: the first column left-aligned, numbers right-aligned with one decimal."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
        return str(value)

    cells = [[cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def machine() -> str:
    """The machine in words: cores, CPU model, memory, GPU if torch sees one, and the load when the run started."""
    cpu = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = Path("/proc/cpuinfo").read_text()
        if "amx_bf16" in flags:
            cpu += ", AMX"
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    gpu = "no GPU"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}){memory}, {gpu}; load average {load}"


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def main(name: str, argv: list[str]) -> dict:
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; one of: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(f"bench.{name}")
    parser = argparse.ArgumentParser(prog=f"python -m bench {name}", description=(module.__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds): checks that it works, not figures")
    parser.add_argument("--json", action="store_true", help="end the output with one JSON object")
    parser.add_argument("--save", action="store_true", help=f"also write the JSON to {RESULTS}/<date>-{name}.json")
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    started_on = machine()
    results = asyncio.run(module.measure(args))
    print(module.report(results), flush=True)
    out = {
        "benchmark": name,
        # A database URL on the command line may carry a password: results are committed, so it is masked.
        "command": re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", " ".join(["python -m bench", name, *map(shlex.quote, argv)])),
        "date": datetime.date.today().isoformat(),
        "machine": started_on,
        **rounded(results),
    }
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{out['date']}-{name}.json"
        path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(out), flush=True)
    return out
