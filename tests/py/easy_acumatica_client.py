"""Drives the community client `easy_acumatica` (PyPI), unchanged, against the
Acumatica fake: sign in, read the endpoint schema (swagger.json, which the
client builds its models and services from, one entity's $adHocSchema, and
the generic-inquiry OData metadata it reads at start-up),
list, filter, read by key, create a balanced journal from the generated
models, sign out.

Run by tests/tests/real_clients.rs with the interpreter named by
ML_CONNECTOR_TEST_PYTHON. Settings come from the environment (the variables
easy_acumatica itself documents): ACUMATICA_URL, ACUMATICA_USERNAME,
ACUMATICA_PASSWORD, ACUMATICA_TENANT, plus ML_TEST_PERIOD (MMYYYY, an open
period), ML_TEST_ACCOUNTS ("debit,credit" account CDs), ML_TEST_BRANCH and
ML_TEST_VENDOR. Prints one JSON object (the facts the Rust test checks) on
the last line; any failure raises, so the exit status is not 0.
"""

import json
import os
import tempfile

from easy_acumatica import AcumaticaClient
from easy_acumatica.odata import QueryOptions


def main(cache_dir):
    env = os.environ
    period = env["ML_TEST_PERIOD"]
    debit_account, credit_account = env["ML_TEST_ACCOUNTS"].split(",")
    branch = env["ML_TEST_BRANCH"]
    vendor_id = env["ML_TEST_VENDOR"]
    out = {}

    client = AcumaticaClient(
        base_url=env["ACUMATICA_URL"],
        username=env["ACUMATICA_USERNAME"],
        password=env["ACUMATICA_PASSWORD"],
        tenant=env["ACUMATICA_TENANT"],
        cache_methods=False,
        # Keep the client's own cache away from the user's home directory.
        cache_dir=cache_dir,
        auto_load_env=False,
    )
    out["endpoint_version"] = client.endpoint_version

    # Schema: the services and models the client generated from swagger.json.
    out["services"] = sorted(client.list_services())
    jt_fields = sorted(f for f in client.get_model_info("JournalTransaction")["fields"])
    out["journal_model_fields"] = jt_fields
    line_fields = sorted(client.get_model_info("JournalTransactionDetail")["fields"])
    out["journal_line_model_fields"] = line_fields
    out["inquiries"] = client.list_inquiries()
    adhoc = client.journal_transaction.get_ad_hoc_schema()
    out["journal_custom_fields"] = sorted(
        f"{view}.{field}" for view, fields in adhoc.get("custom", {}).items() for field in fields
    )

    # List.
    vendors = client.vendor.get_list(options=QueryOptions(top=3, select=["VendorID", "VendorName"]))
    out["vendors_listed"] = [v["VendorID"]["value"] for v in vendors]

    # Filter.
    active = client.vendor.get_list(
        options=QueryOptions(filter="Status eq 'Active'", select=["VendorID", "Status"])
    )
    out["active_vendors"] = sorted(v["VendorID"]["value"] for v in active)
    out["active_statuses"] = sorted({v["Status"]["value"] for v in active})

    # Get by key.
    vendor = client.vendor.get_by_keys(VendorID=vendor_id)
    out["vendor_by_key"] = {"id": vendor["VendorID"]["value"], "name": vendor["VendorName"]["value"]}

    # Create a balanced journal from the models built from the schema.
    models = client.models
    amount = 125.5
    batch = models.JournalTransaction(
        Module="GL",
        BranchID=branch,
        TransactionDate=f"{period[2:]}-{period[:2]}-15T00:00:00",
        PostPeriod=period,
        Description="easy_acumatica real-client test",
        Hold=False,
        Details=[
            models.JournalTransactionDetail(
                BranchID=branch,
                Account=debit_account,
                DebitAmount=amount,
                CreditAmount=0.0,
                TransactionDescription="debit line",
            ),
            models.JournalTransactionDetail(
                BranchID=branch,
                Account=credit_account,
                DebitAmount=0.0,
                CreditAmount=amount,
                TransactionDescription="credit line",
            ),
        ],
    )
    saved = client.journal_transaction.put_entity(batch, options=QueryOptions(expand=["Details"]))
    lines = saved.get("Details", [])
    out["journal"] = {
        "module": saved["Module"]["value"],
        "batch_nbr": saved["BatchNbr"]["value"],
        "status": saved["Status"]["value"],
        "lines": len(lines),
        "debit": sum(l.get("DebitAmount", {}).get("value") or 0 for l in lines),
        "credit": sum(l.get("CreditAmount", {}).get("value") or 0 for l in lines),
    }

    # Read it back by its keys.
    again = client.journal_transaction.get_by_keys(Module="GL", BatchNbr=out["journal"]["batch_nbr"])
    out["journal_read_back"] = again["BatchNbr"]["value"]

    out["logout_status"] = client.logout()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="easy_acumatica_") as cache:
        main(cache)
