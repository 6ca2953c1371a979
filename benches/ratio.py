#!/usr/bin/env python3
"""Client-over-in-memory ratio of the Looker extract, measured robustly on a
noisy machine: the two phases run alternately, one process each, for several
rounds, and the median of the per-round ratios is reported (a slow spell of
the machine then hits both phases of a round, not one phase of the run).

    python3 benches/ratio.py [rounds]        # default 7 rounds, all four configs

Each phase process runs RATIO_REPEAT times (default 3) and reports its
fastest run, as benches/run.sh does.

The fake server runs at BENCH_SERVER_NICE (default 0, the same priority as
the client; see benches/src/child.rs). Appends one JSON line per config to benches/results/looker_ratio.jsonl."""
import json, os, pathlib, statistics, subprocess, sys, tempfile, datetime

root = pathlib.Path(__file__).resolve().parent.parent
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
# Runs per phase within one process; the bench keeps the fastest.
repeat = int(os.environ.get("RATIO_REPEAT", "3"))
target = os.environ.get("CARGO_TARGET_DIR", str(root / "target"))
subprocess.run(["cargo", "build", "--release", "-p", "ml-connector-benches", "--example", "bench"],
               cwd=root, check=True)
bench = pathlib.Path(target) / "release" / "examples" / "bench"

def once(fmt, rows, phase, scratch):
    env = dict(os.environ, BENCH_REPEAT=str(repeat), BENCH_RESULTS_DIR=scratch)
    out = subprocess.run([str(bench), "looker", fmt, str(rows), phase], env=env,
                         capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["secs"]

results = []
with tempfile.TemporaryDirectory() as scratch:
    for fmt in ("json", "csv"):
        for rows in (100_000, 1_000_000):
            ratios = []
            for _ in range(rounds):
                memory = once(fmt, rows, "memory", scratch)
                client = once(fmt, rows, "client", scratch)
                ratios.append(memory / client)
            r = {
                "at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "bench": "looker_ratio", "format": fmt, "size": rows, "rounds": rounds, "repeat": repeat,
                "ratios": [round(x, 3) for x in ratios],
                "median": round(statistics.median(ratios), 3),
                "load": os.getloadavg(),
                "server_nice": int(os.environ.get("BENCH_SERVER_NICE", "0")),
            }
            results.append(r)
            print(f"{fmt} {rows:>9,}: median {100*r['median']:.0f}% "
                  f"(rounds {', '.join(f'{100*x:.0f}%' for x in ratios)})", flush=True)
with open(root / "benches" / "results" / "looker_ratio.jsonl", "a") as f:
    for r in results:
        f.write(json.dumps(r) + "\n")
