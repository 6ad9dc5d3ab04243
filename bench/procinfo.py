"""What the processes cost: resident memory (VmRSS) and CPU time from /proc, and a
description of the machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                kids.extend(int(k) for k in (task / "children").read_text().split())
    return kids


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (a console script may run its server in a child)."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < 256:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def rss_kib(pid: int) -> int | None:
    """VmRSS of one process in KiB, None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_rss_kib(pid: int) -> int | None:
    values = [v for p in tree(pid) if (v := rss_kib(p)) is not None]
    return sum(values) if values else None


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of one process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def tree_cpu_s(pid: int) -> float | None:
    values = [v for p in tree(pid) if (v := cpu_s(p)) is not None]
    return sum(values) if values else None


@dataclass
class CpuMeter:
    """CPU seconds each named process (with its descendants, except for the `solo`
    names) spent between `start()` and `stop()`, as a fraction of one core."""

    pids: Mapping[str, int]
    #: Names measured without descendants (this process: its children are the stack).
    solo: frozenset[str] = frozenset()
    _start: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0

    def _cpu(self, name: str, pid: int) -> float | None:
        return cpu_s(pid) if name in self.solo else tree_cpu_s(pid)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = {n: c for n, p in self.pids.items() if (c := self._cpu(n, p)) is not None}

    def stop(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self._t0, 1e-9)
        cores: dict[str, float] = {}
        for name, pid in self.pids.items():
            now = self._cpu(name, pid)
            if now is not None and name in self._start:
                cores[name] = round((now - self._start[name]) / wall, 3)
        return {"wall_s": round(wall, 3), "cores": cores}


@dataclass
class RssSampler:
    """Samples the summed VmRSS of process trees every `interval_s` while running."""

    pids: Mapping[str, int]
    interval_s: float = 0.1
    before: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    _task: asyncio.Task[None] | None = None

    def sample(self) -> dict[str, int]:
        return {n: v for n, p in self.pids.items() if (v := tree_rss_kib(p)) is not None}

    def _record(self, values: dict[str, int]) -> None:
        for name, kib in values.items():
            self.peak[name] = max(self.peak.get(name, 0), kib)
        self.peak_total = max(self.peak_total, sum(values.values()))

    async def _loop(self) -> None:
        while True:
            self._record(self.sample())
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self.before = self.sample()
        self._record(self.before)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        after = self.sample()
        self._record(after)
        return {
            "before_kib": dict(self.before),
            "peak_kib": dict(self.peak),
            "after_kib": after,
            "total_before_kib": sum(self.before.values()),
            "total_peak_kib": self.peak_total,
        }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_total_kib"] = int(line.split()[1])
                break
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    return info
