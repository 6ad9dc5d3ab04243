"""Results: the JSON files, the compact tables on stdout, the targets and the PNG plot."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stats import ratio


def write_json(results: dict[str, Any], out_dir: Path, stamp: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, sort_keys=False) + "\n"
    paths = [out_dir / "latest.json", out_dir / f"bench-{stamp}.json"]
    for path in paths:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return paths


COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]

#: Rate below which a line no longer keeps up with the model.
KEEPS_UP = 0.99


def _f(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def _keeps_up(side: dict[str, Any] | None, added: dict[str, Any] | None) -> bool:
    if not side or not added or side["errors"]:
        return False
    rate = added.get("token_rate_ratio")
    return rate is not None and rate >= KEEPS_UP


def capacity(
    levels: list[dict[str, Any]], line: str, slots: int | None = None
) -> dict[str, Any] | None:
    """The largest measured concurrency at which `line` ("service" or "relay") still
    delivers ≥ 0.99× the model's per-stream rate without errors, with its token rates:
    `tokens_per_s` over the whole level (ramp-up and tail included) and
    `sustained_tokens_per_s`, the streams running at once (at most `slots`, the
    workers' run slots: more wait in the queue) × the per-stream rate p50."""
    added_key = "added" if line == "service" else "relay_added"
    best: dict[str, Any] | None = None
    for lv in sorted(levels, key=lambda x: x["concurrency"]):
        side = lv.get(line)
        if not _keeps_up(side, lv.get(added_key)):
            break
        assert side is not None
        running = lv["concurrency"] if slots is None else min(lv["concurrency"], slots)
        rate = (side.get("stream_rate_tps") or {}).get("p50")
        best = {
            "streams": lv["concurrency"],
            "tokens_per_s": side["throughput_tps"],
            "sustained_tokens_per_s": None if rate is None else round(running * rate, 1),
        }
    return best


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the performance targets are stated in (bench/README.md)."""
    levels = results["levels"]
    by_workers: dict[int, list[dict[str, Any]]] = {}
    for lv in levels:
        by_workers.setdefault(int(lv.get("workers", 1)), []).append(lv)
    out: dict[str, Any] = {"capacity": {}}
    per_worker = (results.get("parameters") or {}).get("worker_concurrency")
    for workers, lvs in sorted(by_workers.items()):
        slots = None if per_worker is None else workers * int(per_worker)
        out["capacity"][str(workers)] = {
            "service": capacity(lvs, "service", slots),
            "relay": capacity(lvs, "relay", slots),
        }
    one = {lv["concurrency"]: lv for lv in by_workers.get(min(by_workers, default=1), [])}
    points = (results.get("history") or {}).get("points", [])
    if len(points) >= 2:
        first, last = points[0], points[-1]

        def growth(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
            return {
                "turn_ms_ratio": ratio(b["turn_ms_p50"], a["turn_ms_p50"], digits=2),
                "cpu_ratio": ratio(_cpu_of(b), _cpu_of(a), digits=2),
                "ttft_ratio": ratio(b["ttft_ms_p50"], a["ttft_ms_p50"], digits=2),
                "wrote_bytes_ratio": ratio(_wrote_of(b), _wrote_of(a), digits=2),
            }

        out["conversation"] = {
            "turns": last["turns"],
            **growth(first, last),
            "read_last_50_ms_p50": last["read"]["read_ms"]["p50"],
            # Once the context budget is full, from a middle point on.
            f"from_turn_{points[-2]['turns']}": growth(points[-2], last),
        }
    idle = results.get("idle_streams")
    if idle:
        out["idle_streams"] = {k: idle.get(k) for k in ("open", "per_stream_kib")}
    if 1 in one:
        a = one[1]["added"]
        out["n1"] = {
            "added_ttft_ms_p50": a["added_ttft_ms_p50"],
            "added_ttft_ms_p99": a["added_ttft_ms_p99"],
            "relay_added_ttft_ms_p50": (one[1].get("relay_added") or {}).get("added_ttft_ms_p50"),
        }
    if 50 in one:
        lv = one[50]
        cpu = lv["cpu_ms_per_token"]
        out["n50"] = {
            "cpu_ms_per_token_service": cpu["service"]["total"],
            "cpu_ms_per_token_relay": (cpu.get("relay") or {}).get("total"),
            "cpu_service_over_relay": cpu.get("service_over_relay"),
            "added_ttft_ms_p99": lv["added"]["added_ttft_ms_p99"],
            "added_inter_token_ms_p99": lv["added"]["added_inter_token_ms_p99"],
            "token_rate_ratio": lv["added"]["token_rate_ratio"],
        }
    return out


def _cpu_of(point: dict[str, Any]) -> float | None:
    """A point's CPU per turn: the mean where recorded (older results: the median)."""
    value = point.get("cpu_ms_mean", point.get("cpu_ms_p50"))
    return None if value is None else float(value)


def _wrote_of(point: dict[str, Any]) -> float | None:
    if "wrote_bytes_p50" in point:
        return point["wrote_bytes_p50"]  # type: ignore[no-any-return]
    return _median_of(point["samples"], "wrote_bytes")


def _median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    values = sorted(r[key] for r in rows if r.get(key) is not None)
    return values[len(values) // 2] if values else None


def table(results: dict[str, Any]) -> str:
    p = results["parameters"]
    lines = [
        f"mockllm {p['tokens_per_s']:g} tok/s, {p['reply_tokens']} tokens, "
        f"TTFT {p['ttft_ms']:g} ms; worker concurrency {p['worker_concurrency']}; "
        f"{results['machine'].get('nproc')} cores. Added = line minus the direct stream.",
        "",
        f"{'wk':>2} {'conc':>4} {'err d/r/s':>9} | {'added TTFT p50/p99 ms':^27} | "
        f"{'added gap p99 ms':^15} | {'rate x':^11} | {'CPU ms/token':^17} | "
        f"{'worker ms/tok':^13}",
        f"{'':>2} {'':>4} {'':>9} | {'relay':^13} {'service':^13} | {'relay':>7} {'svc':>7} | "
        f"{'relay':>5} {'svc':>5} | {'relay':>5} {'svc':>5} {'x':>5} | {'relay':>6} {'svc':>6}",
    ]
    for lv in results["levels"]:
        b, r, s = lv["baseline"], lv.get("relay"), lv["service"]
        ra, sa = lv.get("relay_added") or {}, lv["added"]
        cpu = lv.get("cpu_ms_per_token", {})
        rc, sc = cpu.get("relay") or {}, cpu.get("service") or {}
        err = f"{b['errors']}/{r['errors'] if r else '-'}/{s['errors']}"
        lines.append(
            f"{lv.get('workers', 1):>2} {lv['concurrency']:>4} {err:>9} | "
            f"{_f(ra.get('added_ttft_ms_p50')):>6}/{_f(ra.get('added_ttft_ms_p99')):<6} "
            f"{_f(sa['added_ttft_ms_p50']):>6}/{_f(sa['added_ttft_ms_p99']):<6} | "
            f"{_f(ra.get('added_inter_token_ms_p99')):>7} "
            f"{_f(sa['added_inter_token_ms_p99']):>7} | "
            f"{_f(ra.get('token_rate_ratio'), '.3f'):>5} {_f(sa['token_rate_ratio'], '.3f'):>5} | "
            f"{_f(rc.get('total'), '.2f'):>5} {_f(sc.get('total'), '.2f'):>5} "
            f"{_f(cpu.get('service_over_relay'), '.2f'):>5} | "
            f"{_f(rc.get('worker'), '.3f'):>6} {_f(sc.get('worker'), '.3f'):>6}"
        )
    lines += [
        "",
        "service CPU ms per token by process, and the parts of its TTFT p50 (ms):",
        f"{'wk':>2} {'conc':>4} | {'gateway':>7} {'worker':>7} {'nats':>7} {'mongo':>7} "
        f"{'sessions':>8} | {'headers':>7} {'metadata':>8} {'token':>7} {'tok/evt':>7} "
        f"{'RSS MiB':>8} {'KiB/strm':>8}",
    ]
    for lv in results["levels"]:
        sc = lv.get("cpu_ms_per_token", {}).get("service") or {}
        s, m = lv["service"], lv["memory"]
        lines.append(
            f"{lv.get('workers', 1):>2} {lv['concurrency']:>4} | "
            + " ".join(f"{_f(sc.get(k), '.3f'):>7}" for k in ("gateway", "worker", "nats", "mongo"))
            + f" {_f(sc.get('sessions'), '.3f'):>8} | "
            f"{_f(s['headers_ms']['p50']):>7} {_f(s['metadata_ms']['p50']):>8} "
            f"{_f(s['ttft_ms']['p50']):>7} {_f(s['tokens_per_event'], '.2f'):>7} "
            f"{_f(m.get('total_peak_mib')):>8} {_f(m.get('per_stream_kib'), '.0f'):>8}"
        )
    probes = results.get("probes_ms") or {}
    if probes:
        names = list(next(iter(probes.values())).keys())
        lines += ["", "component probes, p50/p99 ms (bursts of `conc` simultaneous requests):"]
        lines.append(f"{'conc':>5} " + " ".join(f"{n[:24]:>24}" for n in names))
        for conc, row in probes.items():
            cells = [f"{_f(row[n]['p50'])}/{_f(row[n]['p99'])}" for n in names]
            lines.append(f"{conc:>5} " + " ".join(f"{c:>24}" for c in cells))
    hist = results.get("history") or {}
    if hist.get("points"):
        lines += [
            "",
            f"one conversation, {hist.get('sample_turns', 5)} turns at each point (unpaced model;"
            " turn 1: first turns of fresh conversations); medians, CPU the mean:",
            f"{'turns':>6} {'turn ms':>8} {'TTFT ms':>8} {'CPU ms':>7} {'wrote B':>8} "
            f"{'stored KiB':>10} {'docs':>5} {'read last 50 ms p50':>20}",
        ]
        for pt in hist["points"]:
            lines.append(
                f"{pt['turns']:>6} {_f(pt['turn_ms_p50']):>8} {_f(pt['ttft_ms_p50']):>8} "
                f"{_f(_cpu_of(pt)):>7} {_f(_wrote_of(pt), '.0f'):>8} "
                f"{_f(pt['stored_bytes'] / 1024):>10} {pt['stored_docs']:>5} "
                f"{_f(pt['read']['read_ms']['p50'], '.2f'):>20}"
            )
    idle = results.get("idle_streams") or {}
    if idle:
        lines += [
            "",
            f"idle open streams on one gateway: {idle.get('open')} of {idle.get('requested')}, "
            f"{_f(idle.get('per_stream_kib'))} KiB each",
        ]
    summary = results.get("summary") or {}
    if summary:
        lines += ["", "summary: " + json.dumps(summary)]
    if results.get("errors"):
        lines += ["", "errors: " + "; ".join(results["errors"])[:600]]
    return "\n".join(lines)


def write_plot(results: dict[str, Any], out_dir: Path) -> Path:
    """bench/results/latest.png: latency, rate and CPU per token against concurrency for
    the relay and the service, and the conversation-growth figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = results["levels"]
    worker_counts = sorted({int(lv.get("workers", 1)) for lv in levels})
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    p = results["parameters"]
    fig.suptitle(
        f"LLM service benchmark · {results['started_at']} · mockllm {p['tokens_per_s']:g} tok/s, "
        f"{p['reply_tokens']} tokens · {results['machine'].get('nproc')} cores"
    )
    styles = {1: "-", 2: "--", 3: ":", 4: "-."}

    def series(workers: int, get: Any) -> tuple[list[int], list[float | None]]:
        lvs = [lv for lv in levels if int(lv.get("workers", 1)) == workers]
        return [lv["concurrency"] for lv in lvs], [get(lv) for lv in lvs]

    def plot(ax: Any, title: str, ylabel: str, getters: dict[str, Any]) -> None:
        for workers in worker_counts:
            for (label, get), color in zip(getters.items(), COLORS, strict=False):
                xs, ys = series(workers, get)
                pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
                if pts:
                    ax.plot(
                        [x for x, _ in pts],
                        [y for _, y in pts],
                        styles.get(workers, "-"),
                        color=color,
                        marker="o",
                        label=f"{label} ({workers} worker{'s' if workers > 1 else ''})",
                    )
        ax.set_title(title)
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)

    def added(line: str, key: str) -> Any:
        return lambda lv: (lv.get(line) or {}).get(key)

    plot(
        axes[0][0],
        "Added time to first token",
        "ms",
        {
            "relay p50": added("relay_added", "added_ttft_ms_p50"),
            "relay p99": added("relay_added", "added_ttft_ms_p99"),
            "service p50": added("added", "added_ttft_ms_p50"),
            "service p99": added("added", "added_ttft_ms_p99"),
        },
    )
    axes[0][0].set_yscale("symlog", linthresh=10)
    plot(
        axes[0][1],
        "Added inter-token gap p99",
        "ms",
        {
            "relay": added("relay_added", "added_inter_token_ms_p99"),
            "service": added("added", "added_inter_token_ms_p99"),
        },
    )
    plot(
        axes[0][2],
        "Delivered per-stream rate / model's",
        "ratio",
        {
            "relay": added("relay_added", "token_rate_ratio"),
            "service": added("added", "token_rate_ratio"),
        },
    )
    axes[0][2].axhline(KEEPS_UP, color="grey", linewidth=0.8)

    def cpu(line: str, role: str) -> Any:
        return lambda lv: (lv.get("cpu_ms_per_token", {}).get(line) or {}).get(role)

    plot(
        axes[1][0],
        "CPU per relayed token, all processes",
        "ms",
        {"relay": cpu("relay", "total"), "service": cpu("service", "total")},
    )
    plot(
        axes[1][1],
        "CPU per token: worker and gateway",
        "ms",
        {
            "relay worker": cpu("relay", "worker"),
            "service worker": cpu("service", "worker"),
            "relay gateway": cpu("relay", "gateway"),
            "service gateway": cpu("service", "gateway"),
        },
    )
    ax = axes[1][2]
    points = (results.get("history") or {}).get("points", [])
    if points:
        xs = [pt["turns"] for pt in points]
        first = points[0]
        getters: list[tuple[Callable[[dict[str, Any]], float | None], str]] = [
            (lambda pt: pt["turn_ms_p50"], "turn time"),
            (lambda pt: pt["ttft_ms_p50"], "TTFT"),
            (_cpu_of, "CPU per turn"),
            (_wrote_of, "bytes written per turn"),
        ]
        for get, label in getters:
            base = get(first) or 1
            ax.plot(xs, [(get(pt) or 0) / base for pt in points], "o-", label=f"{label} / turn 1")
        ax.plot(
            xs,
            [pt["read"]["read_ms"]["p50"] for pt in points],
            "s--",
            label="read last 50 messages p50 (ms)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("turns of one conversation")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    ax.set_title("Conversation growth")
    fig.tight_layout()
    path = out_dir / "latest.png"
    tmp = out_dir / "latest.tmp.png"
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
    return path
