"""Drives the official Looker Python SDK `looker_sdk` (PyPI), unchanged,
against the Looker fake: log in (API3 client id/secret), read an explore
(lookml_model_explore), run an inline query, create a saved query and run
it, run an async query task (create_query_task, query_task,
query_task_results), log out.

Run by tests/tests/real_clients.rs with the interpreter named by
ML_CONNECTOR_TEST_PYTHON. The SDK reads LOOKERSDK_BASE_URL,
LOOKERSDK_CLIENT_ID, LOOKERSDK_CLIENT_SECRET and LOOKERSDK_VERIFY_SSL from the
environment; ML_TEST_MODEL and ML_TEST_EXPLORE name the explore. Prints one
JSON object (the facts the Rust test checks) on the last line; any failure
raises, so the exit status is not 0.
"""

import json
import os
import time

import looker_sdk
from looker_sdk import models40 as models


def main():
    model = os.environ["ML_TEST_MODEL"]
    explore_name = os.environ["ML_TEST_EXPLORE"]
    out = {}

    sdk = looker_sdk.init40()
    me = sdk.me()
    out["user_id"] = me.id
    out["logged_in"] = sdk.auth.is_authenticated

    explore = sdk.lookml_model_explore(lookml_model_name=model, explore_name=explore_name)
    dimensions = [d.name for d in explore.fields.dimensions]
    out["explore"] = {"name": explore.name, "model": explore.model_name, "dimensions": dimensions}
    key, status = dimensions[0], f"{explore_name}.status"
    fields = [key, status]

    query = models.WriteQuery(model=model, view=explore_name, fields=fields, sorts=[key], limit="500")
    inline = json.loads(sdk.run_inline_query(result_format="json", body=query))
    out["inline"] = [[row[key], row[status]] for row in inline]

    saved = sdk.create_query(
        body=models.WriteQuery(
            model=model,
            view=explore_name,
            fields=fields,
            filters={status: "Active"},
            sorts=[key],
            limit="500",
        )
    )
    out["saved_query_id"] = saved.id
    rows = json.loads(sdk.run_query(query_id=saved.id, result_format="json"))
    out["saved_run"] = [[row[key], row[status]] for row in rows]

    task = sdk.create_query_task(
        body=models.WriteCreateQueryTask(query_id=saved.id, result_format=models.ResultFormat.json)
    )
    out["task_id"] = task.id
    deadline = time.monotonic() + 60
    statuses = []
    while True:
        current = sdk.query_task(query_task_id=task.id)
        statuses.append(current.status)
        if current.status == "complete":
            break
        if current.status in ("error", "killed", "expired") or time.monotonic() > deadline:
            raise SystemExit(f"query task {task.id} ended as {current.status}")
        time.sleep(0.05)
    out["task_statuses"] = statuses
    results = sdk.query_task_results(query_task_id=task.id)
    if isinstance(results, str):
        results = json.loads(results)
    data = results["data"] if isinstance(results, dict) and "data" in results else results
    out["task_rows"] = [[row[key], row[status]] for row in data]

    sdk.auth.logout()
    out["logged_out"] = not sdk.auth.is_authenticated
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
