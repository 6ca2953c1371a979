"""What a user would run instead of `ml-connector run --once` of a post flow: read the
journal lines from Looker with the official looker_sdk (one inline query, JSON), group them
by journal, and PUT each journal to Acumatica with requests. No ledger, no lookup, no
exactly-once: a rerun posts everything again.

    python post_journals.py --acumatica URL --version 24.200.001 \
        --journal-filter '>3000' --concurrency 4

Looker settings come from LOOKERSDK_* (looker_sdk.init40); Acumatica's from
ACUMATICA_TENANT, ACUMATICA_CLIENT_ID, ACUMATICA_CLIENT_SECRET, ACUMATICA_USERNAME,
ACUMATICA_PASSWORD. Prints {"posted": n, "rows": n} as JSON.
"""

import argparse
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import looker_sdk
import requests
from looker_sdk import models40

FIELDS = [
    "gl_lines.id",
    "gl_lines.journal_id",
    "gl_lines.period",
    "gl_lines.posting_date",
    "gl_lines.branch",
    "gl_lines.account",
    "gl_lines.subaccount",
    "gl_lines.description",
    "gl_lines.amount",
]


def read_rows(journal_filter):
    sdk = looker_sdk.init40()
    body = models40.WriteQuery(
        model="finance",
        view="gl_lines",
        fields=FIELDS,
        filters={"gl_lines.journal_id": journal_filter},
        sorts=["gl_lines.id"],
        limit="-1",
    )
    return json.loads(sdk.run_inline_query("json", body), parse_float=Decimal)


def journals(rows):
    """Rows grouped by journal, in order, as Acumatica JournalTransaction bodies."""
    grouped = {}
    for r in rows:
        grouped.setdefault(r["gl_lines.journal_id"], []).append(r)
    for journal_id, lines in grouped.items():
        first = lines[0]
        period = first["gl_lines.period"]
        details = []
        for l in lines:
            amount = Decimal(str(l["gl_lines.amount"]))
            line = {
                "Account": {"value": l["gl_lines.account"]},
                "Subaccount": {"value": l["gl_lines.subaccount"].replace("-", "")},
                "BranchID": {"value": l["gl_lines.branch"]},
                "TransactionDescription": {"value": l["gl_lines.description"]},
            }
            if amount >= 0:
                line["DebitAmount"] = {"value": str(amount)}
            else:
                line["CreditAmount"] = {"value": str(-amount)}
            details.append(line)
        yield {
            "Module": {"value": "GL"},
            "BranchID": {"value": first["gl_lines.branch"]},
            "LedgerID": {"value": "ACTUAL"},
            "PostPeriod": {"value": period},
            "TransactionDate": {"value": first["gl_lines.posting_date"] + "T00:00:00"},
            "Description": {"value": f"GL journal {journal_id} {period} {first['gl_lines.branch']}"},
            "Details": details,
        }


def token(base):
    resp = requests.post(
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--acumatica", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--journal-filter", required=True)
    p.add_argument("--concurrency", type=int, default=1)
    args = p.parse_args()

    rows = read_rows(args.journal_filter)
    url = f"{args.acumatica}/entity/Default/{args.version}/JournalTransaction"
    headers = {
        "Authorization": f"Bearer {token(args.acumatica)}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    local = threading.local()

    def put(body):
        # One session per thread (connection reuse, as a careful script would).
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        resp = session.put(url, data=json.dumps(body), headers=headers, timeout=300)
        resp.raise_for_status()
        return 1

    bodies = list(journals(rows))
    if args.concurrency <= 1:
        posted = sum(put(b) for b in bodies)
    else:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            posted = sum(pool.map(put, bodies))
    json.dump({"posted": posted, "rows": len(rows)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
