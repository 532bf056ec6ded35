"""One command for the faults and the load: runs every script under `scripts/faults/` and the
mixed workload of `scripts/load/`, and writes one Markdown report with their figures.

    uv run python scripts/fault_and_load_report.py [--load-seconds 30] [--out reports/<time>]

Each script starts and stops what it needs (a PostgreSQL of its own, the services), so they run
one after another. The report lists each fault's verdict and output, then the load's table,
invariants and latency plots. Exit status 0 when every script passed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
FAULTS = (
    "postgres_restart.py",
    "pool_exhausted.py",
    "service_killed.py",
    "migrator_killed.py",
    "consumers_killed.py",
    "core_down.py",
)


def run(script: Path, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own scripts
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-seconds", default="30")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path("reports") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Faults and load, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", ""]
    failed = 0
    for name in FAULTS:
        code, output, took = run(SCRIPTS / "faults" / name)
        failed += code != 0
        verdict = "passed" if code == 0 else "**FAILED**"
        print(f"{name}: {verdict} in {took:.0f} s")
        lines += [
            f"## {name}: {verdict} ({took:.0f} s)",
            "",
            "```",
            output.strip()[-4000:],
            "```",
            "",
        ]
    code, output, took = run(
        SCRIPTS / "load" / "mixed_workload.py", "--seconds", args.load_seconds, "--out", str(out)
    )
    failed += code != 0
    print(f"mixed_workload.py: {'passed' if code == 0 else 'FAILED'} in {took:.0f} s")
    load = out / "load.md"
    lines += [f"## Load: {'passed' if code == 0 else '**FAILED**'}", ""]
    lines += (
        [load.read_text(encoding="utf-8").split("\n", 1)[1]]
        if load.exists()
        else ["```", output[-4000:], "```"]
    )
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"report: {report}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
