"""Drives one import against a running server (bench/imports.sh).

    python3 bench/imports.py make FILE ROWS        # writes the CSV
    python3 bench/imports.py run URL FILE SLUG DATABASE_URL
                                                   # signs up, imports, prints JSON

The file has ROWS data rows: 5% bad (an address that is not an email),
10% duplicates of an earlier row's email (the default policy skips them),
the rest new leads, with a first and last name, a city, a company (one per
50 rows) and tags. Deterministic: the same ROWS gives the same file.
"""

import csv
import json
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request


def make(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "first name", "last name", "city", "company", "tags"])
        for i in range(rows):
            if i % 20 == 7:
                email = f"not-an-email-{i}"
            elif i % 10 == 3 and i > 101:
                # Row i - 101 is a plain new lead (never bad, never a duplicate).
                email = f"lead{i - 101}@bench.example"
            else:
                email = f"lead{i}@bench.example"
            writer.writerow(
                [email, f"First{i}", f"Last{i}", ["Berlin", "Paris", "Köln"][i % 3],
                 f"Company {i // 50}", "imported; bench"]
            )


def call(url, body, token=None, content_type="application/json", method="POST"):
    headers = {"content-type": content_type}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read() or b"null")


def gql(base, query, variables=None, token=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    answer = call(f"{base}/graphql", body, token)
    if answer.get("errors"):
        raise SystemExit(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def raise_lead_limit(database_url, slug):
    """The plan's limit (1,000 leads on the free plan) would fail most rows."""
    sql = f"UPDATE tenants SET max_leads = 10000000 WHERE slug = '{slug}'"
    if database_url.startswith("sqlite:"):
        path = urllib.parse.urlparse(database_url).path
        with sqlite3.connect(path) as db:
            db.execute(sql)
    else:
        subprocess.run(["psql", database_url.split("?")[0], "-qAt", "-c", sql], check=True)


def run(base, path, slug, database_url):
    signed = gql(
        base,
        "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }",
        {"i": {"email": f"{slug}@bench.example", "password": "bench-password-123456",
               "name": "Bench", "tenantName": slug, "tenantSlug": slug}},
    )
    token = signed["signUp"]["accessToken"]
    raise_lead_limit(database_url, slug)
    with open(path, "rb") as f:
        data = f.read()
    uploaded_at = time.monotonic()
    created = call(f"{base}/imports?name=bench.csv", data, token, "text/csv")
    upload_secs = time.monotonic() - uploaded_at
    batch = created["id"]
    fields = "status rowsTotal rowsDone created updated duplicatesSkipped failed startedAt finishedAt suggestedMapping { column field }"
    state = gql(base, f"query($id: ID!) {{ import(id: $id) {{ {fields} }} }}", {"id": batch}, token)["import"]
    gql(
        base,
        "mutation($id: ID!, $m: [ImportColumnInput!]!) { startImport(id: $id, mapping: $m) { status } }",
        {"id": batch, "m": state["suggestedMapping"]},
        token,
    )
    started = time.monotonic()
    while True:
        state = gql(base, f"query($id: ID!) {{ import(id: $id) {{ {fields} }} }}", {"id": batch}, token)["import"]
        if state["status"] in ("COMPLETED", "CANCELLED", "FAILED"):
            break
        time.sleep(0.2)
    wall = time.monotonic() - started
    print(json.dumps(separators=(",", ":"), obj={
        "status": state["status"], "rows": state["rowsTotal"], "done": state["rowsDone"],
        "created": state["created"], "skipped": state["duplicatesSkipped"],
        "failed": state["failed"], "upload_secs": round(upload_secs, 3),
        "import_secs": round(wall, 3),
        "rows_per_sec": round(state["rowsDone"] / wall, 1) if wall > 0 else None,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
