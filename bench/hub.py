"""A workshop on one machine: many learners, each with a private lab engine, starting at once.

    .venv/bin/python bench/hub.py                       # 100 bare engines; updates bench/README.md
    .venv/bin/python bench/hub.py --engines 20 --no-readme
    .venv/bin/python bench/hub.py --learners 10 50 100  # the real thing (root); bench/README.md

On a JupyterHub every learner gets a private lab engine, and at the start of a
workshop they all open lesson 00 in the same minute.

``--engines N`` starts N bare engines at the same moment (as N notebooks calling
``labkit.connect()`` would) and reports how long until the last one answers, their
memory, their CPU once idle, and a ping to each afterwards.

``--learners N ...`` runs the real thing (bench/classroom.py): a JupyterHub with the
workshop's configuration, N learner accounts, all N servers requested at once through
the hub's REST API, lesson 00 run in a kernel in each, then a cell's round trip while
all N kernels work at once, and the memory of each learner's server, kernel and engine.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine as bench  # bench/engine.py: the helpers both share

from labkit.engine import control

START, END = "<!-- hub:start -->", "<!-- hub:end -->"


def _timed_start(env: dict[str, str]) -> tuple[control.Started, float]:
    t0 = time.perf_counter()
    started = control.start(env)
    return started, time.perf_counter() - t0


def run(engines: int, idle_seconds: float) -> str:
    root = Path(tempfile.mkdtemp(prefix="lkhub", dir="/tmp"))
    envs = [{"LABKIT_HOME": str(root / f"l{i}")} for i in range(engines)]
    try:
        print(f"starting {engines} engines at once ...", flush=True)
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(engines) as pool:
            results = list(pool.map(_timed_start, envs))
        all_up = time.perf_counter() - t0
        waits = sorted(w for _, w in results)
        # /_ping answers before the model has loaded; a list call waits for it.
        with cf.ThreadPoolExecutor(engines) as pool:
            list(pool.map(lambda r: bench.http(str(r[0].socket), "GET", "/images/json"), results))
        all_loaded = time.perf_counter() - t0
        time.sleep(1.0)
        rss = [bench.rss_mb(s.pid) or 0.0 for s, _ in results]
        print(f"CPU while idle, {idle_seconds:g} s ...", flush=True)
        idle = bench.idle_cpu_percent({str(s.pid): s.pid for s, _ in results}, idle_seconds)
        pings = []
        for started, _ in results:
            t1 = time.perf_counter()
            status, _ = bench.http(str(started.socket), "GET", "/_ping")
            pings.append(time.perf_counter() - t1)
            if status != 200:
                raise RuntimeError(f"an engine answered /_ping with {status}")
    finally:
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(control.stop, envs))
        shutil.rmtree(root, ignore_errors=True)
    idle_total = sum(v or 0.0 for v in idle.values())
    m = bench.machine_info(None)
    return "\n".join(
        [
            f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['system']}, Python {m['python']}.",
            f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| engines started at the same moment | {engines} |",
            f"| until the last one answered /_ping | {all_up:.1f} s |",
            f"| until the last one had loaded its model (answered /images/json) "
            f"| {all_loaded:.1f} s |",
            f"| a learner's wait for /_ping (median; slowest) | {statistics.median(waits):.1f} s; "
            f"{waits[-1]:.1f} s |",
            f"| memory (RSS), all together; each | {sum(rss):,.0f} MB; "
            f"{statistics.mean(rss):.1f} MB |",
            f"| CPU while all idle, share of one CPU | {idle_total:.1f} % |",
            f"| then one ping to each (median) | {statistics.median(pings) * 1000:.2f} ms |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", type=int, default=100, help="engines started at once")
    parser.add_argument(
        "--learners",
        type=int,
        nargs="+",
        metavar="N",
        help="the real hub instead: N learners with a JupyterLab server each (root only)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="--learners: cells per kernel")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args(argv)
    if args.learners:
        import classroom  # bench/classroom.py: needs the hub's environment and root

        if min(args.learners) < 1 or args.rounds < 1:
            parser.error("--learners and --rounds must be at least 1")
        return classroom.main(args.learners, args.rounds, not args.no_readme)
    if args.engines < 1:
        parser.error("--engines must be at least 1")
    text = run(args.engines, args.idle_seconds)
    print()
    print(text)
    if not args.no_readme:
        bench.write_readme(text, START, END, "A workshop on one machine")
        print(f"\nwritten to {bench.README.relative_to(bench.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
