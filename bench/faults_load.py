#!/usr/bin/env python3
"""Load driver for bench/faults.sh: a steady rate of open-pixel hits and
authenticated GraphQL reads, with shell commands (a database restart,
killed backends) run at given moments. Standard library only.

  faults_load.py setup BASE_URL STATE_JSON
  faults_load.py load BASE_URL STATE_JSON SECONDS RATE [AT:COMMAND ...]
  faults_load.py sink PORT LOG_FILE DELAY_MS
  faults_load.py bulk BASE_URL STATE_JSON SINK_PORT COUNT
  faults_load.py upserts BASE_URL STATE_JSON BATCHES SIZE

`load` prints one JSON line: answers by kind and status, latency
percentiles, transport errors."""
import concurrent.futures as cf
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse

LEADS = "{ leads(first: 5) { totalCount edges { node { id } } } }"
local = threading.local()


def conn(base):
    c = getattr(local, "conn", None)
    if c is None:
        u = urllib.parse.urlparse(base)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        local.conn = c
    return c


def request(base, method, path, body=None, token=None):
    headers = {"User-Agent": "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)"}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    if token:
        headers["Authorization"] = "Bearer " + token
    for attempt in range(2):
        c = conn(base)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            local.conn = None
            c.close()
            if attempt:
                raise


def gql(base, query, variables=None, token=None):
    status, body = request(base, "POST", "/graphql", {"query": query, "variables": variables or {}}, token)
    data = json.loads(body)
    if status != 200 or data.get("errors"):
        raise SystemExit(f"{status}: {body[:500]!r}")
    return data["data"]


def setup(base, state_path):
    slug = "faults%d" % int(time.time())
    signed = gql(base, "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
                 {"input": {"email": f"owner@{slug}.example", "password": "correct-horse-battery",
                            "name": "Faults", "tenantName": "Faults", "tenantSlug": slug}})
    token = signed["signUp"]["accessToken"]
    gql(base, "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
        {"input": {"name": "sink", "host": "127.0.0.1", "port": 9, "tlsMode": "NONE",
                   "fromEmail": "sales@faults.test", "fromName": "Faults", "priority": 10}}, token)
    lead = gql(base, "mutation($input: CreateLeadInput!) { createLead(input: $input) { id } }",
               {"input": {"firstName": "Ada", "email": "ada@example.org"}}, token)["createLead"]["id"]
    template = gql(base, "mutation($input: CreateMessageTemplateInput!) { createMessageTemplate(input: $input) { id } }",
                   {"input": {"name": "Intro", "category": "INITIAL_OUTREACH", "subject": "Hello",
                              "htmlBody": "<html><body><p>Hi</p></body></html>"}}, token)["createMessageTemplate"]["id"]
    message = gql(base, "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id htmlBody } }",
                  {"input": {"leadId": lead, "templateId": template}}, token)["sendMessage"]
    html = message["htmlBody"]
    start = html.index("/t/o/") + 5
    pixel = "/t/o/" + "".join(c for c in _take(html[start:]))
    json.dump({"token": token, "pixel": pixel, "message": message["id"], "template": template},
              open(state_path, "w"))


def _take(s):
    for c in s:
        if c.isalnum() or c in "-_":
            yield c
        else:
            return


def load(base, state_path, seconds, rate, events):
    state = json.load(open(state_path))
    results = []
    lock = threading.Lock()

    def one(kind):
        t0 = time.monotonic()
        try:
            if kind == "pixel":
                status, _ = request(base, "GET", state["pixel"])
            else:
                status, body = request(base, "POST", "/graphql", {"query": LEADS}, state["token"])
                if status == 200 and json.loads(body).get("errors"):
                    status = "200-errors"
        except Exception as e:  # noqa: BLE001 - every failure is a figure
            status = type(e).__name__
        with lock:
            results.append((kind, status, time.monotonic() - t0))

    def run_events():
        t0 = time.monotonic()
        for at, command in events:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            subprocess.run(command, shell=True, check=False)

    runner = threading.Thread(target=run_events)
    runner.start()
    with cf.ThreadPoolExecutor(max_workers=64) as pool:
        t0 = time.monotonic()
        n = int(seconds * rate)
        for i in range(n):
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            pool.submit(one, "pixel" if i % 2 == 0 else "read")
    runner.join()
    out = {}
    for kind in ("pixel", "read"):
        mine = [r for r in results if r[0] == kind]
        lat = sorted(r[2] for r in mine)
        statuses = {}
        for r in mine:
            statuses[str(r[1])] = statuses.get(str(r[1]), 0) + 1
        pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None
        out[kind] = {"sent": len(mine), "statuses": statuses, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                     "max_ms": round(lat[-1] * 1000, 1) if lat else None}
    print(json.dumps(out))


def sink(port, log_path, delay_ms):
    """A plain SMTP server that accepts every message, holds its final
    reply for `delay_ms` (so some messages are always mid-transfer when the
    server is killed) and appends each message's Message-ID to `log_path`
    when it has taken the message."""
    import socketserver

    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()

    class Session(socketserver.StreamRequestHandler):
        def reply(self, line):
            self.wfile.write(line.encode() + b"\r\n")
            self.wfile.flush()

        def handle(self):
            self.reply("220 faults sink")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                verb = line.decode("latin-1").strip().upper()
                if verb.startswith("DATA"):
                    self.reply("354 go ahead")
                    message_id = None
                    in_headers = True
                    while True:
                        data = self.rfile.readline()
                        if not data:
                            return  # the client went away mid-transfer
                        if data in (b".\r\n", b".\n"):
                            break
                        text = data.decode("latin-1").rstrip("\r\n")
                        if in_headers and text == "":
                            in_headers = False
                        elif in_headers and text.lower().startswith("message-id:"):
                            message_id = text.split(":", 1)[1].strip().strip("<>")
                    time.sleep(delay_ms / 1000)
                    with lock:
                        log.write(f"{message_id}\n")
                    self.reply("250 2.0.0 queued")
                elif verb.startswith("QUIT"):
                    self.reply("221 bye")
                    return
                elif verb.startswith("EHLO"):
                    self.reply("250 faults-sink")
                else:
                    self.reply("250 ok")

    class Server(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    Server(("127.0.0.1", port), Session).serve_forever()


def bulk(base, state_path, sink_port, count):
    """Adds `count` leads and one bulk send of them through a sender at the
    sink; prints how many messages were queued."""
    state = json.load(open(state_path))
    token = state["token"]
    sender = gql(base, "mutation($input: CreateSenderAccountInput!) { createSenderAccount(input: $input) { id } }",
                 {"input": {"name": "live sink", "host": "127.0.0.1", "port": sink_port, "tlsMode": "NONE",
                            "fromEmail": "sales@faults.test", "fromName": "Faults", "priority": 1,
                            "dailyLimit": 100000, "hourlyLimit": 100000}}, token)["createSenderAccount"]["id"]
    inputs = [{"firstName": f"R{i}", "email": f"r{i}@send.faults.example"} for i in range(count)]
    leads = gql(base, "mutation($i: [CreateLeadInput!]!) { upsertLeads(inputs: $i) { lead { id } } }",
                {"i": inputs}, token)["upsertLeads"]
    ids = [r["lead"]["id"] for r in leads if r.get("lead")]
    result = gql(base, "mutation($input: SendBulkMessagesInput!) { sendBulkMessages(input: $input) { queued skipped { code message } } }",
                 {"input": {"templateId": state["template"], "leadIds": ids, "senderId": sender,
                            "tracking": False}}, token)["sendBulkMessages"]
    print(json.dumps(result))


def upserts(base, state_path, batches, size):
    """Sends `batches` upsertLeads batches of `size` leads one after
    another (batch n's emails are at bN.faults.test) until the server goes
    away; prints how many were answered."""
    state = json.load(open(state_path))
    answered = 0
    for n in range(batches):
        inputs = [{"firstName": f"L{i}", "email": f"l{i}@b{n}.faults.test"} for i in range(size)]
        try:
            status, _ = request(base, "POST", "/graphql",
                                {"query": "mutation($i: [CreateLeadInput!]!) { upsertLeads(inputs: $i) { __typename } }",
                                 "variables": {"i": inputs}}, state["token"])
        except Exception:  # noqa: BLE001 - the server was killed
            break
        answered += status == 200
    print(answered)


if __name__ == "__main__":
    cmd, base, state = sys.argv[1:4]
    if cmd == "sink":
        sink(int(base), state, int(sys.argv[4]))
    elif cmd == "setup":
        setup(base, state)
    elif cmd == "bulk":
        bulk(base, state, int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "upserts":
        upserts(base, state, int(sys.argv[4]), int(sys.argv[5]))
    else:
        events = [(float(a.split(":", 1)[0]), a.split(":", 1)[1]) for a in sys.argv[6:]]
        load(base, state, float(sys.argv[4]), float(sys.argv[5]), events)
