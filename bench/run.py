"""`make bench` / `python -m bench.run`: the performance contract of docs/design.md §7.

Starts NATS, the Mongo-compatible server, mockllm at a fixed token rate and the
services as real processes; at each concurrency level streams replies directly from
mockllm (the baseline) and then through the gateway; then grows one conversation to
measure checkpoint storage and history reads. Writes bench/results/latest.json, a
timestamped copy and latest.png, and prints a table. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from tests.support.broker import identity_from_env
from tests.support.mockllm import start_mockllm
from tests.support.otlp_receiver import otlp_receiver
from tests.support.procs import Proc, free_port, start_mongo, start_nats
from tests.support.stack import Stack, running_stack, wait_for_responders

from bench import history, idle, probes
from bench.api import Conversation, create_conversations, create_users
from bench.load import (
    RELAY_ROLES,
    SERVICE_ROLES,
    LevelRun,
    compare,
    cpu_ms_per_token,
    describe,
    run_level,
)
from bench.procinfo import CpuMeter, RssSampler, machine_info
from bench.report import summarize, table, write_json, write_plot
from bench.stats import ratio
from bench.streams import StreamResult, baseline_stream, relay_stream, service_stream
from llmsvc.common import subjects

RESULTS_DIR = Path(__file__).resolve().parent / "results"
READY_SUBJECTS = [subjects.AUTH_USER_GET, subjects.SESSIONS_GET, subjects.AGENT_HISTORY]
MODEL = "mock-model"
WARMUP_REQUESTS = 3


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"expected integers separated by commas: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark the service against mockllm (docs/design.md §7).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--levels",
        type=_int_list,
        default=[1, 10, 50, 100],
        help="concurrency levels (concurrent streams)",
    )
    p.add_argument("--tokens-per-s", type=float, default=50.0, help="mockllm token rate")
    p.add_argument("--reply-tokens", type=int, default=64, help="mockllm reply length")
    p.add_argument("--ttft-ms", type=float, default=0.0, help="mockllm time to first token")
    p.add_argument(
        "--latency-levels-below",
        type=int,
        default=10,
        help="levels with fewer streams than this measure latency with short replies",
    )
    p.add_argument(
        "--latency-reply-tokens",
        type=int,
        default=20,
        help="reply length at those levels (a [mock:tokens=N] directive, on every line)",
    )
    p.add_argument(
        "--requests-factor",
        type=int,
        default=2,
        help="requests per level = max(factor x concurrency, --min-requests)",
    )
    p.add_argument("--min-requests", type=int, default=10)
    p.add_argument(
        "--level-time-limit",
        type=float,
        default=60.0,
        help="seconds after which a level starts no new request",
    )
    p.add_argument(
        "--request-timeout", type=float, default=60.0, help="seconds any one request may take"
    )
    p.add_argument(
        "--arrival",
        choices=["stagger", "burst"],
        default="stagger",
        help="stagger: clients start spread over one reply's duration, so "
        "requests arrive evenly; burst: all clients start at once (waves)",
    )
    p.add_argument("--users", type=int, default=10, help="users owning the conversations")
    p.add_argument(
        "--workers",
        type=_int_list,
        default=[1],
        help="agent-worker processes (and relay workers); a list runs the levels for each",
    )
    p.add_argument(
        "--worker-concurrency",
        type=int,
        default=None,
        help="WORKER_CONCURRENCY of each worker; None keeps the service's own default",
    )
    p.add_argument(
        "--history-turns",
        type=_int_list,
        default=[1, 100, 1000],
        help="conversation lengths at which a turn's cost and history reads are measured",
    )
    p.add_argument("--history-reads", type=int, default=7, help="reads per length")
    p.add_argument("--skip-history", action="store_true")
    p.add_argument("--skip-relay", action="store_true", help="do not measure the bare relay")
    p.add_argument(
        "--idle-streams",
        type=int,
        default=2000,
        help="idle open streams held on one gateway to measure memory per stream (0: skip)",
    )
    p.add_argument(
        "--probe-levels",
        type=_int_list,
        default=[1, 10],
        help="concurrency of the component probes (gateway floor, RPCs)",
    )
    p.add_argument("--probe-rounds", type=int, default=20)
    p.add_argument("--skip-probes", action="store_true")
    p.add_argument("--nats-url", default=None, help="use this NATS instead of starting one")
    p.add_argument("--mongo-uri", default=None, help="use this Mongo instead of starting one")
    p.add_argument(
        "--max-total-s", type=float, default=900.0, help="hard limit for the whole benchmark"
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="turn tracing on in every service (OTLP/HTTP to a receiver in this process "
        "that counts the spans and drops them), to measure what tracing costs",
    )
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    p.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep process logs and data (kept anyway when something failed)",
    )
    return p.parse_args(argv)


def message_for(args: argparse.Namespace, concurrency: int, i: int) -> str:
    """The user message of request `i` at one level; levels of few streams ask for short
    replies: they measure time to first token, and long ones would only take time."""
    text = f"bench c{concurrency} r{i}"
    if concurrency < args.latency_levels_below:
        text += f" [mock:tokens={args.latency_reply_tokens}]"
    return text


def reply_tokens_at(args: argparse.Namespace, concurrency: int) -> int:
    if concurrency < args.latency_levels_below:
        return int(args.latency_reply_tokens)
    return int(args.reply_tokens)


def requests_for(args: argparse.Namespace, concurrency: int) -> int:
    return int(max(args.requests_factor * concurrency, args.min_requests))


def spread_s(args: argparse.Namespace, concurrency: int) -> float:
    """How long one reply streams: the window over which staggered clients start."""
    if args.arrival != "stagger" or args.tokens_per_s <= 0:
        return 0.0
    return float(args.ttft_ms / 1000 + reply_tokens_at(args, concurrency) / args.tokens_per_s)


def effective_worker_concurrency(args: argparse.Namespace) -> int:
    if args.worker_concurrency is not None:
        return int(args.worker_concurrency)
    from llmsvc.agent_worker.settings import WorkerSettings

    env = os.environ.get("WORKER_CONCURRENCY")
    default = WorkerSettings.model_fields["worker_concurrency"].default
    return int(env) if env and env.isdigit() else int(default)


def _client(base_url: str = "", *, max_conn: int, timeout_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=10.0),
        limits=httpx.Limits(max_connections=max_conn, max_keepalive_connections=max_conn),
    )


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid(proc: Proc) -> int:
    assert proc.popen is not None, f"{proc.name} was not started"
    return proc.popen.pid


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        results: dict[str, Any],
        stack: Stack,
        model_url: str,
        relay_url: str | None,
        *,
        workers: int,
    ) -> None:
        self.args = args
        self.workers = workers
        self.relay_url = relay_url
        self.results = results
        self.stack = stack
        self.model_url = model_url
        worker_pids = {n: _pid(p) for n, p in stack.procs.items() if n.startswith("worker")}
        self.mem_pids = {"gateway": _pid(stack.procs["gateway"]), **worker_pids}
        self.cpu_pids = {n: _pid(p) for n, p in stack.procs.items()}
        self.cpu_pids["bench_client"] = os.getpid()
        self.first_rss_kib: int | None = None

    def add_cpu_pid(self, name: str, proc: Proc | None) -> None:
        if proc is not None and proc.popen is not None:
            self.cpu_pids[name] = proc.popen.pid

    def check_alive(self) -> None:
        dead = [n for n, p in self.stack.procs.items() if not p.alive]
        if dead:
            raise RuntimeError(f"service process(es) exited: {', '.join(dead)}")

    async def run(self, *, extras: bool) -> None:
        args = self.args
        total = sum(requests_for(args, c) for c in args.levels) + WARMUP_REQUESTS + 1
        timeout = args.request_timeout
        async with _client(self.stack.gateway_url, max_conn=32, timeout_s=timeout) as api:
            t0 = time.monotonic()
            users = await create_users(api, max(1, args.users), tag=str(int(time.time())))
            convs = await create_conversations(api, users, total)
            self.results["setup"] = {
                "users": len(users),
                "sessions": len(convs),
                "seconds": round(time.monotonic() - t0, 2),
            }
        self.users = users
        history_conv, convs = convs[0], convs[1:]
        warm, convs = convs[:WARMUP_REQUESTS], convs[WARMUP_REQUESTS:]
        await self.warm_up(warm)
        if extras and not args.skip_probes:
            self.check_alive()
            print("component probes …", flush=True)
            async with _client(self.stack.gateway_url, max_conn=64, timeout_s=timeout) as api:
                self.results["probes_ms"] = await probes.measure(
                    api,
                    self.stack.env["NATS_URL"],
                    warm,
                    levels=args.probe_levels,
                    rounds=max(1, args.probe_rounds),
                    timeout_s=timeout,
                )
        for concurrency in args.levels:
            n = requests_for(args, concurrency)
            level_convs, convs = convs[:n], convs[n:]
            self.check_alive()
            level = await self.level(concurrency, level_convs)
            self.results["levels"].append(level)
            await asyncio.sleep(0.5)
        if extras and not args.skip_history:
            self.check_alive()
            async with _client(self.stack.gateway_url, max_conn=4, timeout_s=timeout) as api:
                self.results["history"] = await history.measure(
                    api,
                    history_conv,
                    mongo_uri=self.stack.env["MONGO_URI"],
                    agent_db=f"{self.stack.env['MONGO_DB']}_agent",
                    turn_points=sorted(set(args.history_turns)),
                    reads=max(1, args.history_reads),
                    timeout_s=timeout,
                    cpu=CpuMeter(self.cpu_pids, solo=frozenset({"bench_client"})),
                    roles=SERVICE_ROLES,
                )

        if extras and args.idle_streams > 0:
            self.check_alive()
            await self.idle_streams(args.idle_streams)

    async def idle_streams(self, n: int) -> None:
        """Last: it stops this stack's workers, so the held streams stay idle."""
        print(f"{n} idle streams on one gateway …", flush=True)
        for name, proc in self.stack.procs.items():
            if name.startswith("worker"):
                proc.stop()
        self.results["idle_streams"] = await idle.measure(
            self.stack.gateway_url,
            self.users,
            streams=n,
            gateway_pid=_pid(self.stack.procs["gateway"]),
            nats_url=self.stack.env["NATS_URL"],
        )

    async def warm_up(self, convs: list[Conversation]) -> None:
        timeout = self.args.request_timeout
        async with _client(max_conn=4, timeout_s=timeout) as direct:
            for i in range(WARMUP_REQUESTS):
                await baseline_stream(direct, self.model_url, MODEL, f"warm-up {i}", timeout)
        errors: list[str | None] = []
        if self.relay_url:
            async with _client(self.relay_url, max_conn=4, timeout_s=timeout) as rc:
                for i in range(WARMUP_REQUESTS):
                    res = await relay_stream(rc, f"warm-up {i}", timeout)
                    if not res.ok:
                        errors.append(f"relay: {res.error}")
        async with _client(self.stack.gateway_url, max_conn=4, timeout_s=timeout) as api:
            for i, conv in enumerate(convs):
                res = await service_stream(
                    api, conv.headers, conv.session_id, f"warm-up {i}", timeout
                )
                if not res.ok:
                    errors.append(res.error)
        if errors:
            self.results["errors"].append(f"warm-up errors: {errors}")

    async def level(self, concurrency: int, convs: list[Conversation]) -> dict[str, Any]:
        """One concurrency level, three lines in turn on the same machine: the model
        streamed directly, the bare relay, the service."""
        args = self.args
        n = len(convs)
        timeout = args.request_timeout
        max_conn = concurrency + 8
        lines = "direct, relay, service" if self.relay_url else "direct, service"
        print(
            f"workers {self.workers}, level {concurrency}: {n} requests each: {lines} …",
            flush=True,
        )
        cpu = CpuMeter(self.cpu_pids, solo=frozenset({"bench_client"}))

        async with _client(max_conn=max_conn, timeout_s=timeout) as direct:

            async def direct_request(i: int) -> StreamResult:
                msg = message_for(self.args, concurrency, i)
                return await baseline_stream(direct, self.model_url, MODEL, msg, timeout)

            base_run, base_cpu = await self.phase(direct_request, concurrency, n, cpu)
        relay: dict[str, Any] | None = None
        relay_cpu: dict[str, Any] | None = None
        relay_run = None
        if self.relay_url:
            await asyncio.sleep(0.3)
            async with _client(self.relay_url, max_conn=max_conn, timeout_s=timeout) as rc:

                async def relay_request(i: int) -> StreamResult:
                    msg = message_for(self.args, concurrency, i)
                    return await relay_stream(rc, msg, timeout)

                relay_run, relay_cpu = await self.phase(relay_request, concurrency, n, cpu)
            relay = describe(relay_run)
        await asyncio.sleep(0.3)

        rss = RssSampler(self.mem_pids)
        async with _client(self.stack.gateway_url, max_conn=max_conn, timeout_s=timeout) as api:

            async def service_request(i: int) -> StreamResult:
                conv = convs[i]
                msg = message_for(self.args, concurrency, i)
                return await service_stream(api, conv.headers, conv.session_id, msg, timeout)

            rss.start()
            svc_run, svc_cpu = await self.phase(service_request, concurrency, n, cpu)
            memory = await rss.stop()

        baseline, service = describe(base_run), describe(svc_run)
        before, peak = memory["total_before_kib"], memory["total_peak_kib"]
        memory["total_before_mib"] = round(before / 1024, 1)
        memory["total_peak_mib"] = round(peak / 1024, 1)
        memory["per_stream_kib"] = round(max(0, peak - before) / concurrency, 1)
        # Freed memory is mostly kept by the allocator: a level's own growth understates
        # what its streams need once earlier levels have raised the high-water mark.
        first = self.first_rss_kib if self.first_rss_kib is not None else before
        self.first_rss_kib = first
        memory["per_stream_kib_since_first_level"] = round(max(0, peak - first) / concurrency, 1)
        runs = [base_run, svc_run] + ([relay_run] if relay_run else [])
        samples = sorted({r.error for run in runs for r in run.results if r.error})
        cpu_ms: dict[str, Any] = {
            "service": cpu_ms_per_token(svc_cpu, service["tokens"], SERVICE_ROLES)
        }
        if relay is not None and relay_cpu is not None:
            cpu_ms["relay"] = cpu_ms_per_token(relay_cpu, relay["tokens"], RELAY_ROLES)
            cpu_ms["service_over_relay"] = ratio(
                cpu_ms["service"]["total"], cpu_ms["relay"]["total"], digits=3
            )
        return {
            "concurrency": concurrency,
            "workers": self.workers,
            "baseline": baseline,
            "relay": relay,
            "service": service,
            "added": compare(baseline, service),
            "relay_added": compare(baseline, relay) if relay is not None else None,
            "cpu_ms_per_token": cpu_ms,
            "memory": memory,
            "cpu_cores": {"baseline": base_cpu, "relay": relay_cpu, "service": svc_cpu},
            "error_samples": samples[:5],
        }

    async def phase(
        self,
        request: Callable[[int], Awaitable[StreamResult]],
        concurrency: int,
        n: int,
        cpu: CpuMeter,
    ) -> tuple[LevelRun, dict[str, Any]]:
        args = self.args
        spread = spread_s(args, concurrency)
        cpu.start()
        run = await run_level(
            request,
            concurrency=concurrency,
            n_requests=n,
            time_limit_s=args.level_time_limit,
            hard_limit_s=args.level_time_limit + spread + args.request_timeout + 10,
            spread_s=spread,
        )
        return run, cpu.stop()


def start_relay(
    workdir: Path, *, nats_url: str, model_url: str, workers: int, concurrency: int
) -> list[Proc]:
    """The bare relay (`bench.relay`): its worker(s) first (they create its streams),
    then its gateway. Each relay worker runs as many jobs at once as a service worker."""
    env = {
        **os.environ,
        "WORKER_CONCURRENCY": str(concurrency),
        "NATS_URL": nats_url,
        "OPENAI_BASE_URL": model_url,
        "OPENAI_MODEL": MODEL,
    }
    procs: list[Proc] = []
    for i in range(1, workers + 1):
        name = "relay_worker" if i == 1 else f"relay_worker{i}"
        argv = [sys.executable, "-m", "bench.relay.worker"]
        procs.append(Proc(name, argv, env=env, log_path=workdir / f"{name}.log").start())
    port = free_port()
    argv = [sys.executable, "-m", "bench.relay.gateway"]
    gateway = Proc(
        "relay_gateway",
        argv,
        env={**env, "PORT": str(port)},
        log_path=workdir / "relay_gateway.log",
        port=port,
    )
    return [gateway.start(), *procs]


async def run_all(args: argparse.Namespace, results: dict[str, Any], workdir: Path) -> None:
    started: list[Proc] = []
    stack: Stack | None = None
    exits = contextlib.ExitStack()
    try:
        nats_url, mongo_uri = args.nats_url, args.mongo_uri
        nats_proc = mongo_proc = None
        broker = None
        if not nats_url:
            nats_proc, broker = start_nats(workdir)
            started.append(nats_proc)
            nats_url = f"nats://127.0.0.1:{nats_proc.port}"
            # This process and its helpers (relay, probes) connect as the harness; each
            # service gets its own identity from the stack.
            os.environ["NATS_NKEY_SEED_FILE"] = str(broker.seed_file("harness"))
        if not mongo_uri:
            mongo_proc = start_mongo(workdir)
            started.append(mongo_proc)
            mongo_uri = f"mongodb://127.0.0.1:{mongo_proc.port}/?directConnection=true"
        mock = start_mockllm(
            workdir,
            MOCKLLM_TOKENS_PER_S=args.tokens_per_s,
            MOCKLLM_REPLY_TOKENS=args.reply_tokens,
            MOCKLLM_TTFT_MS=args.ttft_ms,
        )
        started.append(mock)
        model_url = f"http://127.0.0.1:{mock.port}/v1"
        # The stack copies this process's environment into the services' own.
        if args.trace:
            receiver = otlp_receiver(decode=False)
            spans = exits.enter_context(receiver)
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = spans.url
            exits.callback(
                lambda: results.__setitem__(
                    "tracing", {"exports": spans.exports, "bytes": spans.bytes_received}
                )
            )
        if args.worker_concurrency is not None:
            os.environ["WORKER_CONCURRENCY"] = str(args.worker_concurrency)
        for index, workers in enumerate(args.workers):
            with contextlib.ExitStack() as per_count:
                stack = per_count.enter_context(
                    running_stack(
                        _mkdir(workdir / f"stack-w{workers}"),
                        nats_url=nats_url,
                        mongo_uri=mongo_uri,
                        model_url=model_url,
                        broker=broker,
                    )
                )
                for i in range(2, workers + 1):
                    stack.add(f"worker{i}", "llm-agent-worker")
                relay_procs: list[Proc] = []
                if not args.skip_relay:
                    relay_procs = start_relay(
                        workdir,
                        nats_url=nats_url,
                        model_url=model_url,
                        workers=workers,
                        concurrency=effective_worker_concurrency(args),
                    )
                    for proc in relay_procs:
                        per_count.callback(proc.stop)
                await wait_for_responders(
                    nats_url, READY_SUBJECTS, timeout_s=60, identity=identity_from_env()
                )
                relay_url = f"http://127.0.0.1:{relay_procs[0].port}" if relay_procs else None
                bench = Bench(args, results, stack, model_url, relay_url, workers=workers)
                for proc in relay_procs:
                    bench.add_cpu_pid(proc.name, proc)
                bench.add_cpu_pid("nats", nats_proc)
                bench.add_cpu_pid("mongo", mongo_proc)
                bench.add_cpu_pid("mockllm", mock)
                # Probes and conversation growth do not depend on the worker count.
                await bench.run(extras=index == 0)
    except BaseException as exc:
        results["errors"].append(f"{type(exc).__name__}: {exc}"[:500])
        results["traceback"] = traceback.format_exc()[-3000:]
        if stack is not None:
            results["logs_tail"] = stack.logs()[-6000:]
        if not isinstance(exc, Exception):
            raise
    finally:
        for proc in reversed(started):
            with contextlib.suppress(Exception):
                proc.stop()
        exits.close()  # after the services stopped: they export what they buffered


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="llmsvc-bench-"))
    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "parameters": {
            "levels": args.levels,
            "tokens_per_s": args.tokens_per_s,
            "reply_tokens": args.reply_tokens,
            "ttft_ms": args.ttft_ms,
            "requests_per_level": {str(c): requests_for(args, c) for c in args.levels},
            "level_time_limit_s": args.level_time_limit,
            "request_timeout_s": args.request_timeout,
            "arrival": args.arrival,
            "latency_levels_below": args.latency_levels_below,
            "latency_reply_tokens": args.latency_reply_tokens,
            "users": args.users,
            "workers": args.workers,
            "worker_concurrency": effective_worker_concurrency(args),
            "history_turns": args.history_turns,
            "history_reads": args.history_reads,
            "tracing": args.trace,
        },
        "levels": [],
        "probes_ms": None,
        "history": None,
        "errors": [],
    }
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(args.max_total_s):
            await run_all(args, results, workdir)
    except TimeoutError:
        results["errors"].append(f"benchmark stopped at --max-total-s {args.max_total_s:g}")
    results["duration_s"] = round(time.monotonic() - t0, 1)
    for err in (results.get("history") or {}).get("errors", []):
        results["errors"].append(f"history: {err}")
    if results["errors"] or args.keep_workdir:
        results["workdir"] = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    with contextlib.suppress(OSError):
        results["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["summary"] = summarize(results)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = write_json(results, args.out, stamp)
    try:
        paths.append(write_plot(results, args.out))
    except Exception as exc:  # a plot failure must not lose the numbers
        print(f"plot failed: {exc!r}", file=sys.stderr)
    print()
    print(table(results))
    print()
    print("wrote " + ", ".join(str(p) for p in paths))
    if "workdir" in results:
        print(f"process logs: {results['workdir']}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
