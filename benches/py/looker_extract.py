#!/usr/bin/env python3
"""What a user would run instead of the `looker_extract` example: the official
`looker_sdk` (from PyPI, see benches/pyenv.sh) running the query inline in JSON,
`json.loads` of the body, and the rows written to a CSV file with the standard
`csv` module, the same columns in the same order as the example writes.

    LOOKERSDK_BASE_URL=... LOOKERSDK_CLIENT_ID=... LOOKERSDK_CLIENT_SECRET=... \\
        python benches/py/looker_extract.py --model finance --explore gl_lines \\
        --fields gl_lines.id,gl_lines.debit --out out.csv [--rows N]

`run_inline_query` with `limit=-1` is how the SDK's own examples read a whole
result; the SDK has no streaming and no task poller (FACTS 4, 6.6), so this is
what a Python user writes. Prints one JSON line: rows written and seconds."""
import argparse, csv, json, sys, time

import looker_sdk
from looker_sdk import models40 as models

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--explore", required=True)
p.add_argument("--fields", required=True)
p.add_argument("--out", required=True)
p.add_argument("--rows", type=int, default=None, help="expected row count (checked)")
a = p.parse_args()
fields = [f.strip() for f in a.fields.split(",") if f.strip()]

started = time.monotonic()
sdk = looker_sdk.init40()
body = sdk.run_inline_query(
    result_format="json",
    body=models.WriteQuery(model=a.model, view=a.explore, fields=fields, limit="-1"),
    transport_options={"timeout": 3600},
)
rows = json.loads(body)
with open(a.out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(fields)
    for row in rows:
        w.writerow(["" if row.get(k) is None else row.get(k) for k in fields])
secs = time.monotonic() - started
if a.rows is not None and len(rows) != a.rows:
    sys.exit(f"expected {a.rows} rows, got {len(rows)}")
print(json.dumps({"rows": len(rows), "secs": round(secs, 3)}))
