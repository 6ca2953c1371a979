#!/usr/bin/env python3
"""Prints Markdown tables from benches/results/*.jsonl (the latest line per
measurement), with the ratios the goals are about. Used for BENCHMARKS.md."""
import json, pathlib, sys

root = pathlib.Path(__file__).parent / "results"

def load(name):
    p = root / f"{name}.jsonl"
    rows = {}
    if p.exists():
        for line in p.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("profile") != "release":
                    continue
                # Lines written before a benchmark took a concurrency ran at 1.
                r.setdefault("concurrency", 1)
                key = tuple(r.get(k) for k in ("format", "phase", "size", "latency_ms", "concurrency"))
                rows[key] = r  # the latest wins
    return list(rows.values())

def load_str(r):
    l = (r.get("machine") or {}).get("load")
    return "/".join(f"{x:.1f}" for x in l) if l else "n/a"

def f(x, n=0):
    return "n/a" if x is None else f"{x:,.{n}f}"

out = []
lk = load("looker_extract")
if lk:
    out.append("| format | rows | phase | rows/s | MB/s | peak RSS MiB | secs | load 1/5/15 |")
    out.append("|---|---:|---|---:|---:|---:|---:|---|")
    for r in sorted(lk, key=lambda r: (r["format"], r["size"], r["phase"])):
        mbs = r["mb_per_sec"] if r["bytes"] else None
        out.append(f"| {r['format']} | {r['size']:,} | {r['phase']} | {f(r['items_per_sec'])} | {f(mbs,1)} | {f(r['peak_rss_mib'],1)} | {r['secs']:.2f} | {load_str(r)} |")
    out.append("")
    out.append("| format | rows | client / in-memory decode | client / download | client MB/s (download bytes) |")
    out.append("|---|---:|---:|---:|---:|")
    by = {(r["format"], r["size"], r["phase"]): r for r in lk}
    for (fmt, size, ph), c in sorted(by.items()):
        if ph != "client":
            continue
        m, d = by.get((fmt, size, "memory")), by.get((fmt, size, "download"))
        rm = f"{100*c['items_per_sec']/m['items_per_sec']:.0f}%" if m else "n/a"
        rd = f"{100*c['items_per_sec']/d['items_per_sec']:.0f}%" if d else "n/a"
        mb = f"{d['bytes']/1e6/c['secs']:.1f}" if d else "n/a"
        out.append(f"| {fmt} | {size:,} | {rm} | {rd} | {mb} |")
    out.append("")

ac = load("acumatica_read")
if ac:
    out.append("| records | latency ms | concurrency | phase | records/s | MB/s | requests/record | peak RSS MiB | secs | load 1/5/15 |")
    out.append("|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for r in sorted(ac, key=lambda r: (r["size"], r["phase"] != "memory", r["latency_ms"], r["concurrency"], r["phase"])):
        mbs = r["mb_per_sec"] if r["bytes"] else None
        lat = "-" if r["phase"] == "memory" else r["latency_ms"]
        con = "-" if r["phase"] == "memory" else r["concurrency"]
        rpr = "-" if r["phase"] == "memory" else f"{r['requests_per_record']:.4f}"
        out.append(f"| {r['size']:,} | {lat} | {con} | {r['phase']} | {f(r['items_per_sec'])} | {f(mbs,1)} | {rpr} | {f(r['peak_rss_mib'],1)} | {r['secs']:.2f} | {load_str(r)} |")
    out.append("")

po = load("post_journals")
if po:
    out.append("| journals | latency ms | concurrency | docs/s | requests | of which lookups | requests/doc | rerun requests | peak RSS MiB | secs | load 1/5/15 |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in sorted(po, key=lambda r: (r["size"], r["latency_ms"], r.get("concurrency") or 1)):
        out.append(f"| {r['size']:,} | {r['latency_ms']} | {r.get('concurrency') or 1} | {f(r['items_per_sec'],1)} | {r['requests']} | {r['lookup_requests']} | {r['requests_per_document']:.3f} | {r['rerun_requests']} | {f(r['peak_rss_mib'],1)} | {r['secs']:.2f} | {load_str(r)} |")
    out.append("")

ratio_path = root / "looker_ratio.jsonl"
if ratio_path.exists():
    latest = {}
    for line in ratio_path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            latest[(r["format"], r["size"])] = r
    out.append("| format | rows | client / in-memory, median of alternating rounds | rounds | load 1/5/15 |")
    out.append("|---|---:|---:|---|---|")
    for (fmt, size), r in sorted(latest.items()):
        rounds = ", ".join(f"{100*x:.0f}%" for x in r["ratios"])
        load = "/".join(f"{x:.1f}" for x in r["load"])
        out.append(f"| {fmt} | {size:,} | {100*r['median']:.0f}% | {rounds} | {load} |")
    out.append("")

# Growth: time and memory at the larger size over the smaller (10x apart).
out.append("| benchmark | sizes | time ratio (ideal 10) | peak memory ratio (ideal 1) |")
out.append("|---|---|---:|---:|")
def growth(rows, label, keyf):
    groups = {}
    for r in rows:
        groups.setdefault(keyf(r), []).append(r)
    for k, rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        rs = sorted(rs, key=lambda r: r["size"])
        for a, b in zip(rs, rs[1:]):
            if b["size"] == 10 * a["size"]:
                mr = (b["peak_rss_mib"] / a["peak_rss_mib"]) if a.get("peak_rss_mib") and b.get("peak_rss_mib") else None
                out.append(f"| {label} {' '.join(str(x) for x in k)} | {a['size']:,} → {b['size']:,} | {b['secs']/a['secs']:.1f} | {f(mr,2)} |")
growth(lk, "looker", lambda r: (r["format"], r["phase"]))
growth(ac, "acumatica", lambda r: (r["phase"], f"{r['latency_ms']}ms", f"c{r['concurrency']}"))
growth(po, "post", lambda r: (f"{r['latency_ms']}ms", f"c{r.get('concurrency') or 1}"))
print("\n".join(out))
