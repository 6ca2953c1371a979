#!/usr/bin/env bash
# Runs every ml-connector benchmark in release mode, one measurement per
# process, and appends the JSON lines to benches/results/*.jsonl.
#
#   benches/run.sh            # all benchmarks, both sizes
#   BENCH_REPEAT=1 benches/run.sh looker   # one group, one run per phase
#
# Groups: looker, acumatica, post (default: all three), post_e2e and feed (end to end, on request). Figures measured on a
# shared machine carry its load average (in every JSON line and printed here).
set -euo pipefail
cd "$(dirname "$0")/.."
groups=("${@:-looker acumatica post}")
groups=(${groups[*]})
cargo build --release -p ml-connector-benches --example bench
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench"

run() {
    echo "== bench $* (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$bin" "$@"
}

for group in "${groups[@]}"; do
    case "$group" in
    looker)
        for rows in 100000 1000000; do
            for format in json csv; do
                for phase in download memory client; do
                    run looker "$format" "$rows" "$phase"
                done
            done
        done
        ;;
    acumatica)
        for n in 10000 100000; do
            run acumatica "$n" 0 1 memory
            for latency in 0 20; do
                for conc in 1 4; do
                    run acumatica "$n" "$latency" "$conc" download
                    run acumatica "$n" "$latency" "$conc" client
                done
            done
        done
        ;;
    post)
        for n in 100 1000; do
            run post "$n" 0
            run post "$n" 20
            run post "$n" 20 4
        done
        ;;
    post_e2e)
        # ml-connector run --once and plan next to the Python looker_sdk + requests script
        # (examples/post_e2e.rs, py/post_journals.py); rounds alternate, medians recorded.
        cargo build --release -p connector-examples --bin ml-connector -p ml-connector-benches --example post_e2e
        e2e="${CARGO_TARGET_DIR:-target}/release/examples/post_e2e"
        for n in 1000 10000; do
            for latency in 0 20; do
                for conc in 1 4; do
                    echo "== post_e2e $n $latency $conc (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
                    "$e2e" "$n" "$latency" "$conc" "${BENCH_ROUNDS:-3}"
                done
            done
        done
        ;;
    feed)
        # ml-connector run --once of a feed flow into SQLite and PostgreSQL next to a plain
        # Python requests loop and the client's own reads (examples/feed_e2e.rs, py/feed.py);
        # rounds rotate, medians recorded. BENCH_FEED_SIZES overrides the sizes.
        cargo build --release -p connector-examples --bin ml-connector -p ml-connector-benches --example feed_e2e
        feed="${CARGO_TARGET_DIR:-target}/release/examples/feed_e2e"
        for n in ${BENCH_FEED_SIZES:-10000 100000}; do
            echo "== feed_e2e $n (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
            "$feed" "$n" "${BENCH_ROUNDS:-3}"
        done
        ;;
    *)
        echo "unknown group $group (looker, acumatica, post, post_e2e, feed)" >&2
        exit 2
        ;;
    esac
done
