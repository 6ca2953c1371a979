"""What a user would run instead of the feed's read side: a plain `requests` loop that pages
JournalTransaction with $top/$skip and $expand=Details, and unwraps each record (every
`{"value": x}` to `x`, the detail lines too). It writes nothing, so it is a floor for a
script that would also write a warehouse.

    python feed.py --acumatica URL --version 24.200.001 [--page-size 500]

Acumatica settings from ACUMATICA_CLIENT_ID, ACUMATICA_CLIENT_SECRET, ACUMATICA_USERNAME,
ACUMATICA_PASSWORD. Prints {"records": n, "lines": n, "requests": n} as JSON.
"""

import argparse
import json
import os
import sys

import requests


def token(session, base):
    resp = session.post(
        f"{base}/identity/connect/token",
        data={
            "grant_type": "password",
            "client_id": os.environ["ACUMATICA_CLIENT_ID"],
            "client_secret": os.environ["ACUMATICA_CLIENT_SECRET"],
            "username": os.environ["ACUMATICA_USERNAME"],
            "password": os.environ["ACUMATICA_PASSWORD"],
            "scope": "api",
        },
        timeout=60,
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


def unwrap(record):
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out[k] = v.get("value")
        elif isinstance(v, list):
            out[k] = [unwrap(x) if isinstance(x, dict) else x for x in v]
        else:
            out[k] = v
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--acumatica", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--page-size", type=int, default=500)
    args = p.parse_args()

    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {token(session, args.acumatica)}", "Accept": "application/json"}
    )
    url = f"{args.acumatica}/entity/Default/{args.version}/JournalTransaction"
    records = lines = requests_made = skip = 0
    while True:
        resp = session.get(
            url,
            params={"$expand": "Details", "$top": args.page_size, "$skip": skip},
            timeout=300,
        )
        resp.raise_for_status()
        requests_made += 1
        page = [unwrap(r) for r in resp.json()]
        records += len(page)
        lines += sum(len(r.get("Details") or []) for r in page)
        if len(page) < args.page_size:
            break
        skip += args.page_size
    json.dump({"records": records, "lines": lines, "requests": requests_made}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
