#!/usr/bin/env python3
"""End-to-end Looker extract, as a user runs it, next to the official Python
`looker_sdk` doing the same job against the same fake server in the same run.

    python3 benches/looker_e2e.py [rounds] [sizes...]   # default 5 rounds, 100000 1000000

(BENCH_NO_BUILD=1 skips the release build; BENCH_EXTRACT_BIN runs another build of the
example; BENCH_NOTE is recorded with the figures.)

- **ml-connector**: the `looker_extract` example (release build) pointed at
  the fake through LOOKERSDK_* variables: an async query task, JSON, every row
  written to a CSV file.
- **looker_sdk**: benches/py/looker_extract.py (run_inline_query json,
  json.loads, csv.writer), with the python from benches/pyenv.sh.

The fake (`bench serve looker <rows> <polls>`) runs in its own process for the
whole run; its tasks answer `running` to the first two status checks, as a
query that takes a moment would. Both clients run as child processes of this
script, one after the other, alternating which goes first, so a slow spell of
the shared VM hits both sides of a round. Wall time and peak RSS (`wait4`'s
ru_maxrss) are per process; each round's ratio is looker_sdk / ml-connector,
and the medians are reported and appended to benches/results/looker_e2e.jsonl.
CPU time (user + system, from wait4) is recorded next to wall time: on a
shared machine under load it is the steadier measure of the work each side
does. The Python script's own time after its imports is recorded too.
Both CSV files are checked to have the header plus every row."""
import datetime, json, os, pathlib, statistics, subprocess, sys, tempfile, time

root = pathlib.Path(__file__).resolve().parent.parent
args = sys.argv[1:]
rounds = int(args[0]) if args else 5
sizes = [int(s) for s in args[1:]] or [100_000, 1_000_000]
polls = os.environ.get("BENCH_TASK_POLLS", "2")
target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", str(root / "target")))
FIELDS = ",".join("gl_lines." + f for f in
                  ("id", "journal_id", "posting_date", "account", "debit", "credit", "description"))

if not os.environ.get("BENCH_NO_BUILD"):
    for pkg, ex in (("connector-examples", "looker_extract"), ("ml-connector-benches", "bench")):
        subprocess.run(["cargo", "build", "--release", "-p", pkg, "--example", ex], cwd=root,
                       check=True)
# BENCH_EXTRACT_BIN: another build of the example (e.g. an older commit's, for a before figure).
rust = pathlib.Path(os.environ.get("BENCH_EXTRACT_BIN",
                                   str(target / "release" / "examples" / "looker_extract")))
bench = target / "release" / "examples" / "bench"
python = subprocess.run(["bash", str(root / "benches" / "pyenv.sh")], check=True,
                        capture_output=True, text=True).stdout.strip()

def timed(cmd, env, cwd):
    """Runs cmd; returns (wall seconds, peak RSS MiB, stdout, CPU seconds: user + system)."""
    out = tempfile.TemporaryFile()
    started = time.monotonic()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.monotonic() - started
    err = p.stderr.read().decode(errors="replace")
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{text}\n{err}")
    return secs, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime

def lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)

results = []
for rows in sizes:
    server = subprocess.Popen([str(bench), "serve", "looker", str(rows), polls],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = None
    for line in server.stdout:
        if line.startswith("URL "):
            url = line.split(" ", 1)[1].strip()
            break
    if not url:
        sys.exit("the fake did not start")
    env = dict(os.environ, LOOKERSDK_BASE_URL=url, LOOKERSDK_CLIENT_ID="demo-looker-client-id",
               LOOKERSDK_CLIENT_SECRET="demo-looker-client-secret", LOOKERSDK_VERIFY_SSL="false")
    env.pop("ML_CONNECTOR_CONFIG", None)
    ours, theirs, ours_mem, theirs_mem, ratios = [], [], [], [], []
    ours_cpu, theirs_cpu, cpu_ratios, py_inner = [], [], [], []
    with tempfile.TemporaryDirectory() as work:
        out_rust, out_py = os.path.join(work, "rust.csv"), os.path.join(work, "py.csv")
        common = ["--model", "finance", "--explore", "gl_lines", "--fields", FIELDS]
        jobs = {
            "rust": [str(rust), *common, "--out", out_rust],
            "py": [python, str(root / "benches" / "py" / "looker_extract.py"), *common,
                   "--out", out_py, "--rows", str(rows)],
        }
        for r in range(rounds):
            order = ("rust", "py") if r % 2 == 0 else ("py", "rust")
            got = {}
            for name in order:
                got[name] = timed(jobs[name], env, work)
            for path in (out_rust, out_py):
                n = lines(path)
                if n != rows + 1:
                    sys.exit(f"{path}: {n} lines, expected {rows + 1}")
            ours.append(got["rust"][0]); ours_mem.append(got["rust"][1])
            theirs.append(got["py"][0]); theirs_mem.append(got["py"][1])
            ratios.append(got["py"][0] / got["rust"][0])
            ours_cpu.append(got["rust"][3]); theirs_cpu.append(got["py"][3])
            cpu_ratios.append(got["py"][3] / max(got["rust"][3], 0.001))
            # The Python script's own time, after the interpreter started and imported the SDK.
            py_inner.append(json.loads(got["py"][2].strip().splitlines()[-1])["secs"])
            print(f"{rows:>9,} round {r + 1}: ml-connector {got['rust'][0]:.2f} s "
                  f"{got['rust'][1]:.0f} MiB, looker_sdk {got['py'][0]:.2f} s {got['py'][1]:.0f} MiB, "
                  f"ratio {ratios[-1]:.1f}x; CPU {got['rust'][3]:.2f} s vs {got['py'][3]:.2f} s "
                  f"({cpu_ratios[-1]:.1f}x); looker_sdk after its imports {py_inner[-1]:.2f} s",
                  flush=True)
    server.stdin.close()
    stats = None
    for line in server.stdout:
        if line.startswith("STATS "):
            stats = json.loads(line[6:])
    server.wait()
    r = {
        "at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "bench": "looker_e2e", "rows": rows, "columns": 7, "rounds": rounds, "task_polls": int(polls),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                 capture_output=True, text=True).stdout.strip(),
        "ml_connector_secs": [round(x, 3) for x in ours],
        "looker_sdk_secs": [round(x, 3) for x in theirs],
        "median_ml_connector_secs": round(statistics.median(ours), 3),
        "median_looker_sdk_secs": round(statistics.median(theirs), 3),
        "median_ratio": round(statistics.median(ratios), 2),
        "ml_connector_cpu_secs": [round(x, 3) for x in ours_cpu],
        "looker_sdk_cpu_secs": [round(x, 3) for x in theirs_cpu],
        "median_cpu_ratio": round(statistics.median(cpu_ratios), 2),
        "looker_sdk_after_imports_secs": [round(x, 3) for x in py_inner],
        "median_ratio_after_imports": round(statistics.median(
            [p / o for p, o in zip(py_inner, ours)]), 2),
        "peak_rss_mib_ml_connector": round(max(ours_mem), 1),
        "peak_rss_mib_looker_sdk": round(max(theirs_mem), 1),
        "load": os.getloadavg(),
        "note": os.environ.get("BENCH_NOTE", ""),
        "extract_bin": str(rust),
        "server": stats,
    }
    results.append(r)
    print(f"{rows:>9,}: median ml-connector {r['median_ml_connector_secs']} s "
          f"({r['peak_rss_mib_ml_connector']} MiB), looker_sdk {r['median_looker_sdk_secs']} s "
          f"({r['peak_rss_mib_looker_sdk']} MiB), median ratio {r['median_ratio']}x "
          f"(CPU {r['median_cpu_ratio']}x; looker_sdk without its imports "
          f"{r['median_ratio_after_imports']}x)", flush=True)
with open(root / "benches" / "results" / "looker_e2e.jsonl", "a") as f:
    for r in results:
        f.write(json.dumps(r) + "\n")
