"""Results: the JSON files, the compact table on stdout and the SVG plot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.svgplot import PALETTE, Chart, Series, render


def write_json(results: dict[str, Any], out_dir: Path, stamp: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, sort_keys=False) + "\n"
    paths = [out_dir / "latest.json", out_dir / f"bench-{stamp}.json"]
    for path in paths:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return paths


CPU_NAMES = ["worker", "gateway", "nats", "mongo", "sessions", "mockllm", "bench_client"]


def _f(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(results: dict[str, Any]) -> str:
    p = results["parameters"]
    lines = [
        f"mockllm {p['tokens_per_s']:g} tok/s, {p['reply_tokens']} tokens, "
        f"TTFT {p['ttft_ms']:g} ms; worker concurrency "
        f"{p['worker_concurrency'] or 'default'} x {p['workers']} worker(s); "
        f"{results['machine'].get('nproc')} cores",
        "",
        f"{'conc':>5} {'reqs':>5} {'err b/s':>8} | {'TTFT ms base p50/p99':>21} "
        f"{'svc p50/p99':>15} {'added p50/p99':>15} | {'gap ms svc p50/p99':>19} "
        f"{'rate x':>7} | {'RSS MiB gw+wk':>15} {'KiB/strm':>9}",
    ]
    for lv in results["levels"]:
        b, s, a, m = lv["baseline"], lv["service"], lv["added"], lv["memory"]
        err = f"{b['errors']}/{s['errors']}"
        own, cumulative = m.get("per_stream_kib"), m.get("per_stream_kib_since_first_level")
        per_stream = f"{_f(own, '.0f')}/{_f(cumulative, '.0f')}"
        lines.append(
            f"{lv['concurrency']:>5} {s['requests']:>5} {err:>8} | "
            f"{_f(b['ttft_ms']['p50']):>10}/{_f(b['ttft_ms']['p99']):<10} "
            f"{_f(s['ttft_ms']['p50']):>7}/{_f(s['ttft_ms']['p99']):<7} "
            f"{_f(a['added_ttft_ms_p50']):>7}/{_f(a['added_ttft_ms_p99']):<7} | "
            f"{_f(s['inter_token_ms']['p50']):>9}/{_f(s['inter_token_ms']['p99']):<9} "
            f"{_f(a['token_rate_ratio'], '.3f'):>7} | "
            f"{_f(m.get('total_before_mib')):>7}/{_f(m.get('total_peak_mib')):<7} "
            f"{per_stream:>9}"
        )
    lines += [
        "",
        "service TTFT p50 by part (ms) and CPU in cores during the service phase:",
        f"{'conc':>5} {'headers':>8} {'metadata':>9} {'token':>7} {'tok/evt':>7} "
        f"{'tok/s svc/direct':>17} | " + " ".join(f"{n:>7}" for n in CPU_NAMES),
    ]
    for lv in results["levels"]:
        s, b = lv["service"], lv["baseline"]
        cores = lv.get("cpu_cores", {}).get("service", {}).get("cores", {})
        workers = sum(v for k, v in cores.items() if k.startswith("worker"))
        cpu = {**cores, "worker": round(workers, 3) if workers else None}
        tps = f"{_f(s['throughput_tps'], '.0f')}/{_f(b['throughput_tps'], '.0f')}"
        lines.append(
            f"{lv['concurrency']:>5} {_f(s['headers_ms']['p50']):>8} "
            f"{_f(s['metadata_ms']['p50']):>9} {_f(s['ttft_ms']['p50']):>7} "
            f"{_f(s['tokens_per_event'], '.2f'):>7} {tps:>17} | "
            + " ".join(f"{_f(cpu.get(n), '.2f'):>7}" for n in CPU_NAMES)
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
    reads = {r["turns"]: r for r in hist.get("history_reads", [])}
    turns = {t["turn"]: t for t in hist.get("turns", [])}
    if reads:
        lines += [
            "",
            f"{'turns':>6} {'history read ms p50':>20} {'msgs':>5} "
            f"{'checkpoint KiB':>15} {'docs':>5} {'turn ms':>8}",
        ]
        for n, r in sorted(reads.items()):
            t = turns.get(n, {})
            kib = t.get("checkpoint_bytes")
            lines.append(
                f"{n:>6} {_f(r['read_ms']['p50'], '.2f'):>20} {r['messages']:>5} "
                f"{_f(None if kib is None else kib / 1024):>15} "
                f"{t.get('checkpoint_docs', '-'):>5} {_f(t.get('turn_ms')):>8}"
            )
    if results.get("errors"):
        lines += ["", "errors: " + "; ".join(results["errors"])[:600]]
    return "\n".join(lines)


def _growth_mib(memory: dict[str, Any]) -> float | None:
    before, peak = memory.get("total_before_kib"), memory.get("total_peak_kib")
    if not isinstance(before, int) or not isinstance(peak, int):
        return None
    return round(max(0, peak - before) / 1024, 2)


def charts(results: dict[str, Any]) -> list[Chart]:
    levels = results["levels"]
    conc = [float(lv["concurrency"]) for lv in levels]
    first_mib = levels[0]["memory"].get("total_before_mib") if levels else None

    def col(side: str, metric: str, q: str) -> list[float | None]:
        return [lv[side][metric][q] for lv in levels]

    def pair(metric: str) -> list[Series]:
        return [
            Series("direct p50", conc, col("baseline", metric, "p50"), PALETTE[0]),
            Series("direct p99", conc, col("baseline", metric, "p99"), PALETTE[0], True),
            Series("service p50", conc, col("service", metric, "p50"), PALETTE[1]),
            Series("service p99", conc, col("service", metric, "p99"), PALETTE[1], True),
        ]

    out = [
        Chart("Time to first token", "ms", pair("ttft_ms"), conc, "concurrent streams"),
        Chart("Inter-token gap", "ms", pair("inter_token_ms"), conc, "concurrent streams"),
        Chart(
            "Delivered token rate, service / direct",
            "ratio",
            [
                Series(
                    "per-stream rate p50",
                    conc,
                    [lv["added"]["token_rate_ratio"] for lv in levels],
                    PALETTE[2],
                ),
                Series(
                    "aggregate throughput",
                    conc,
                    [lv["added"]["throughput_ratio"] for lv in levels],
                    PALETTE[3],
                    True,
                ),
            ],
            conc,
            "concurrent streams",
            note="errors (service): " + ", ".join(str(lv["service"]["errors"]) for lv in levels),
        ),
        Chart(
            "Gateway + worker RSS growth during the level",
            "MiB (peak - before)",
            [
                Series(
                    "gateway + worker",
                    conc,
                    [_growth_mib(lv["memory"]) for lv in levels],
                    PALETTE[4],
                ),
            ],
            conc,
            "concurrent streams",
            note="KiB/stream: "
            + ", ".join(_f(lv["memory"].get("per_stream_kib"), ".0f") for lv in levels)
            + f"; {_f(first_mib)} MiB before the first",
        ),
    ]
    hist = results.get("history") or {}
    turns = [t for t in hist.get("turns", []) if t.get("checkpoint_bytes") is not None]
    if turns:
        xs = [float(t["turn"]) for t in turns]
        out.append(
            Chart(
                "Checkpoint storage of one conversation",
                "KiB",
                [Series("BSON bytes", xs, [t["checkpoint_bytes"] / 1024 for t in turns])],
                None,
                "turns",
                note=f"{turns[-1]['checkpoint_docs']} docs at {turns[-1]['turn']} turns",
            )
        )
    reads = hist.get("history_reads", [])
    all_turns = hist.get("turns", [])
    if reads or all_turns:
        out.append(
            Chart(
                "History read and turn time",
                "ms",
                [
                    Series(
                        "GET history p50",
                        [float(r["turns"]) for r in reads],
                        [r["read_ms"]["p50"] for r in reads],
                        PALETTE[0],
                    ),
                    Series(
                        "turn (unpaced model)",
                        [float(t["turn"]) for t in all_turns],
                        [t.get("turn_ms") for t in all_turns],
                        PALETTE[1],
                        True,
                    ),
                ],
                None,
                "turns",
            )
        )
    return out


def write_plot(results: dict[str, Any], out_dir: Path) -> Path:
    p = results["parameters"]
    subtitle = (
        f"{results['started_at']} · mockllm {p['tokens_per_s']:g} tok/s, "
        f"{p['reply_tokens']} tokens, TTFT {p['ttft_ms']:g} ms · "
        f"{results['machine'].get('nproc')} cores · Python {results['machine'].get('python')}"
    )
    svg = render(charts(results), title="LLM service benchmark", subtitle=subtitle)
    path = out_dir / "latest.svg"
    tmp = path.with_suffix(".svg.tmp")
    tmp.write_text(svg)
    os.replace(tmp, path)
    return path
