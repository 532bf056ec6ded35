"""Child processes in tests, the way a user runs them: `atriz dev` or `atriz serve` in a session
of its own, read until a line appears, and stopped with a check that nothing is left behind.

Found through /proc, so Linux only (as the services' process groups are)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from atriz_database.testing import BIN

__all__ = [
    "STOP_LIMIT",
    "live_members",
    "process_groups",
    "read_until",
    "start_atriz_dev",
    "stop",
    "wait_until_healthy",
]


def wait_until_healthy(port: int, process: subprocess.Popen[str]) -> None:
    for _ in range(150):
        if process.poll() is not None:
            raise AssertionError(f"exited early: {process.communicate()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the service never answered /health")


def read_until(process: subprocess.Popen[str], text: str) -> str:
    """Output up to the line containing `text` (the process must print it, or exit)."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"never printed {text!r}: {''.join(seen)}")


def processes() -> dict[int, tuple[str, int, int]]:
    """Every process on the machine: pid -> (state, parent pid, process group), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, parent, group = stat.rpartition(")")[2].split()[:3]
        found[int(entry.name)] = (state, int(parent), int(group))
    return found


def process_groups(root: int) -> set[int]:
    """The process groups of `root` and of every process descended from it."""
    table = processes()
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, (_, parent, _) in table.items() if parent in tree}
        grew = not below <= tree
        tree |= below
    return {table[pid][2] for pid in tree if pid in table}


def live_members(groups: set[int]) -> list[int]:
    """The processes of `groups` still running (a zombie has stopped; it only awaits reaping)."""
    return [
        pid for pid, (state, _, group) in processes().items() if group in groups and state != "Z"
    ]


def start_atriz_dev(env: dict[str, str]) -> subprocess.Popen[str]:
    # A session of its own, as a terminal gives a command, so that the test can find, and if
    # need be kill, everything `atriz dev` started through the process groups.
    return subprocess.Popen(  # noqa: S603 - the project's own script
        [str(BIN / "atriz"), "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


STOP_LIMIT = 10.0
"""Seconds within which `atriz dev` and every process under it must be gone after a stop signal."""


def stop(
    process: subprocess.Popen[str], signum: int = signal.SIGINT, *, group: bool = False
) -> str:
    """Send `signum` (to the process, or to its whole group as a terminal's Ctrl-C does) and
    return its output; fail unless it and every process it started are gone within 10 s.

    Whatever happens, nothing is left running: a leftover would hold the port and fail a later
    test with a ResourceWarning. The process must lead a session of its own (`start_new_session`),
    so that its groups are not the test's."""
    groups = process_groups(process.pid) - {os.getpgrp()}
    name = signal.Signals(signum).name
    started = time.monotonic()
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    try:
        # The pipe ends only when every process that inherited it, granian's too, has exited.
        out, _ = process.communicate(timeout=STOP_LIMIT)
    except subprocess.TimeoutExpired:
        out = None
    while live_members(groups) and time.monotonic() - started < STOP_LIMIT:
        time.sleep(0.05)
    left = live_members(groups)
    if out is None or left:
        for leftover in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leftover, signal.SIGKILL)
    if out is None:
        out, _ = process.communicate(timeout=STOP_LIMIT)
        raise AssertionError(f"still running {STOP_LIMIT:g} s after {name}: {left}\n{out}")
    assert not left, f"left running after {name}: {left}\n{out}"
    return out
