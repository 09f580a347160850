"""Creates the benchmark's dynamic segments and waits for their upkeep.

    python3 bench/segments.py URL TOKEN STAGE_ID COUNT

Each segment is "stage + tag + score + engagement in the last 30 days"
(issue 17's benchmark audience): stage STAGE_ID, tag vip, score at least
50 (then 45, 40, ... for the next ones) and an open or click in the last
30 days. After creating them it polls /metrics until segment upkeep has
stopped moving members (its first whole re-check of each new segment) and
prints one JSON line: the first segment's id, its count and how long the
re-checks took.
"""

import json
import sys
import time
import urllib.request


def post(url, token, query, variables):
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]


def moved(metrics_url):
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("promohub_segment_members_moved_total"):
                return float(line.split()[-1])
    return 0.0


def main():
    url, token, stage, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    metrics_url = url.rsplit("/", 1)[0] + "/metrics"
    before = moved(metrics_url)
    started = time.monotonic()
    ids = []
    for i in range(count):
        created = post(
            url,
            token,
            "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id } }",
            {
                "input": {
                    "name": f"Engaged qualified vip {i + 1}",
                    "kind": "DYNAMIC",
                    "filter": {
                        "stageId": {"eq": stage},
                        "tags": {"contains": "vip"},
                        "score": {"gte": max(50 - 5 * i, 0)},
                        "engaged": {"kinds": ["OPENED", "CLICKED"], "inLastDays": 30},
                    },
                }
            },
        )
        ids.append(created["createSegment"]["id"])
    # Upkeep re-checks each new segment over all the tenant's leads in the
    # background; done when the members moved stop growing for 3 s.
    last, still_since = moved(metrics_url), time.monotonic()
    while time.monotonic() - started < 600:
        time.sleep(0.5)
        now = moved(metrics_url)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 3 and (now > before or count == 0):
            break
    settled = still_since - started
    first = ids[0] if ids else ""
    members = None
    if first:
        members = post(
            url, token, "query($id: ID!) { segment(id: $id) { count } }", {"id": first}
        )["segment"]["count"]
    print(
        json.dumps(
            {
                "segments": count,
                "segment_id": first,
                "count": members,
                "members_moved": last - before,
                "recheck_secs": round(settled, 2),
            },
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main()
