"""Child processes in tests, the way a user runs them: `atriz dev` or `atriz serve` in a session
of its own, read until a line appears, and stopped with a check that nothing is left behind.

Found through /proc, so Linux only (as the services' process groups are)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import weakref
from pathlib import Path

import httpx

from atriz_database.testing import BIN

__all__ = [
    "STOP_LIMIT",
    "follow_output",
    "live_members",
    "process_groups",
    "read_until",
    "seen_output",
    "start_atriz_dev",
    "stop",
    "wait_until_healthy",
]


class _OutputPump:
    """Reads a child's output as it comes, from its start: a pipe nobody reads fills up (64 KiB)
    and then blocks every process writing to it, the services' log lines included."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None, "started with stdout=PIPE"
        self._source = process.stdout
        self._lines: list[str] = []
        self._taken = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._source:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        self._source.close()
        with self._changed:
            self._changed.notify_all()

    def take_until(self, text: str, timeout: float) -> str | None:
        """Output not yet taken, up to the line holding `text`; None if it ended, or `timeout`
        passed, without one."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(self._taken, len(self._lines)):
                    if text in self._lines[index]:
                        taken, self._taken = self._lines[self._taken : index + 1], index + 1
                        return "".join(taken)
                remaining = deadline - time.monotonic()
                if not self._thread.is_alive() or remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def take_rest(self, timeout: float) -> str | None:
        """All output not yet taken, once the output has ended (every holder of the pipe has
        exited); None if it has not ended within `timeout`."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        with self._changed:
            rest, self._taken = self._lines[self._taken :], len(self._lines)
        return "".join(rest)

    def seen(self) -> str:
        with self._changed:
            return "".join(self._lines)


_pumps: weakref.WeakKeyDictionary[subprocess.Popen[str], _OutputPump] = weakref.WeakKeyDictionary()


def follow_output(process: subprocess.Popen[str]) -> None:
    """Start reading `process`'s output (stdout=PIPE) now, so that it never blocks on a full
    pipe; `read_until` and `stop` read what was collected."""
    _pump(process)


def seen_output(process: subprocess.Popen[str]) -> str:
    """Everything `process` has printed so far (read or not)."""
    return _pump(process).seen()


def _pump(process: subprocess.Popen[str]) -> _OutputPump:
    if process not in _pumps:
        _pumps[process] = _OutputPump(process)
    return _pumps[process]


def wait_until_healthy(port: int, process: subprocess.Popen[str]) -> None:
    for _ in range(150):
        if process.poll() is not None:
            raise AssertionError(f"exited early: {_pump(process).seen()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the service never answered /health")


def read_until(process: subprocess.Popen[str], text: str, timeout: float = 120.0) -> str:
    """Output not yet read, up to the line containing `text` (printed within `timeout`)."""
    pump = _pump(process)
    found = pump.take_until(text, timeout)
    if found is None:
        raise AssertionError(f"never printed {text!r}: {pump.seen()}")
    return found


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
    process = subprocess.Popen(  # noqa: S603 - the project's own script
        [str(BIN / "atriz"), "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    follow_output(process)
    return process


STOP_LIMIT = 10.0
"""Seconds within which `atriz dev` and every process under it must be gone after a stop signal."""


def stop(
    process: subprocess.Popen[str], signum: int = signal.SIGINT, *, group: bool = False
) -> str:
    """Send `signum` (to the process, or to its whole group as a terminal's Ctrl-C does) and
    return its output not yet read; fail unless it and every process it started are gone within
    10 s.

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
    pump = _pump(process)
    # The pipe ends only when every process that inherited it, granian's too, has exited.
    out = pump.take_rest(STOP_LIMIT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=max(0.0, STOP_LIMIT - (time.monotonic() - started)))
    while live_members(groups) and time.monotonic() - started < STOP_LIMIT:
        time.sleep(0.05)
    left = live_members(groups)
    if out is None or left:
        for leftover in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leftover, signal.SIGKILL)
    if out is None:
        raise AssertionError(f"still running {STOP_LIMIT:g} s after {name}: {left}\n{pump.seen()}")
    assert not left, f"left running after {name}: {left}\n{out}"
    return out
