#!/usr/bin/env python3
"""Follows one order through Jaeger: HTTP request -> Kafka publish -> consume -> database.

  trace_check.py [--producer URL] [--jaeger URL] [--producer-only] [--timeout SECONDS]

Sends POST /v1/orders to a running producer-svc with a `traceparent` whose trace id this
script chose, then reads that trace back from Jaeger's query API (/api/traces/{id}) until
the expected spans arrive or the timeout passes, and checks:

  producer-svc  server span `POST /v1/orders`, child of the caller's span
                  -> `publish <topic>` below it: kind producer, messaging.system=kafka,
                     messaging.destination.name, messaging.destination.partition.id,
                     messaging.kafka.offset, messaging.message.id = the order id
  consumer-svc  `process <topic>` span whose parent or link is the publish span: kind consumer,
                  messaging.system=kafka, the same topic, partition, offset and message id
                  as the publish span, and a link to its batch's span
                the batch the record was applied in: a `process <topic>` span in a trace of
                  its own, kind consumer, with messaging.batch.message_count and a link to the
                  publish span -> the transaction's statements below it (BEGIN, INSERT orders,
                  …, COMMIT) with db.system=postgresql (or db.system.name), each naming its
                  operation and query text

Prints the order's trace (and the batch's) as indented span trees, then
`trace-check: N passed, M failed`.
With --producer-only the consumer-svc checks are skipped (for runs without a consumer).
Only the Python standard library is used. Both services need SURGE__OTLP__ENDPOINT set
to Jaeger's OTLP/HTTP address (http://127.0.0.1:4318 locally).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def post_order(producer: str, trace_id: str, parent_id: str) -> tuple[int, dict]:
    body = json.dumps({"sku": "TRACE-CHECK", "quantity": 1, "customer_id": f"trace-{trace_id[:8]}"}).encode()
    request = urllib.request.Request(
        producer.rstrip("/") + "/v1/orders",
        data=body,
        method="POST",
        headers={
            "content-type": "application/json",
            "traceparent": f"00-{trace_id}-{parent_id}-01",
            "idempotency-key": f"trace-check-{trace_id}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")}


def _spans(data: list[dict]) -> list[dict]:
    """Spans of Jaeger v1 JSON traces, each with `service` and a `tagmap` dict added."""
    spans = []
    for trace in data:
        processes = trace.get("processes", {})
        for span in trace.get("spans", []):
            span["service"] = processes.get(span.get("processID"), {}).get("serviceName", "?")
            span["tagmap"] = {t["key"]: t.get("value") for t in span.get("tags", [])}
            spans.append(span)
    return spans


def fetch_trace(jaeger: str, trace_id: str) -> list[dict]:
    """Spans of one trace (Jaeger's /api/traces/{id})."""
    url = f"{jaeger.rstrip('/')}/api/traces/{trace_id}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = json.load(response).get("data") or []
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
    return _spans(data)


def find_batch_trace(jaeger: str, operation: str, publish_id: str, since_us: int) -> list[dict]:
    """Spans of the consumer-svc trace whose batch span links to `publish_id`, if found.

    A batch span starts a trace of its own and reaches the order's trace only through a
    link (a FOLLOWS_FROM reference into another trace), so it is searched by operation."""
    query = urllib.parse.urlencode({
        "service": "consumer-svc",
        "operation": operation,
        "start": since_us,
        "end": int(time.time() * 1e6) + 60_000_000,
        "limit": 200,
    })
    with urllib.request.urlopen(f"{jaeger.rstrip('/')}/api/traces?{query}", timeout=10) as response:
        data = json.load(response).get("data") or []
    for trace in data:
        spans = _spans([trace])
        if any(is_batch(s) and publish_id in linked(s) for s in spans):
            return spans
    return []


def is_batch(span: dict) -> bool:
    return "messaging.batch.message_count" in span["tagmap"]


def parents(span: dict) -> list[str]:
    return [r["spanID"] for r in span.get("references", []) if r.get("refType") == "CHILD_OF"]


def linked(span: dict) -> list[str]:
    """Parent and links: Jaeger shows OTLP links as FOLLOWS_FROM references."""
    return [r["spanID"] for r in span.get("references", [])]


def descendants(spans: list[dict], root: dict) -> list[dict]:
    out, frontier = [], [root["spanID"]]
    while frontier:
        current = frontier.pop()
        for span in spans:
            if current in parents(span):
                out.append(span)
                frontier.append(span["spanID"])
    return out


def tree(spans: list[dict], heading: str) -> str:
    by_id = {s["spanID"]: s for s in spans}
    lines: list[str] = []

    def attrs(span: dict) -> str:
        keep = [k for k in sorted(span["tagmap"])
                if k.startswith(("messaging.", "db.", "http.", "server.", "span.kind", "otel.status"))]
        return ", ".join(f"{k}={span['tagmap'][k]}" for k in keep)

    def walk(span: dict, depth: int) -> None:
        link = ""
        refs = [r for r in span.get("references", []) if r.get("refType") == "FOLLOWS_FROM"]
        if refs:
            link = " (link to " + ", ".join(r["spanID"] for r in refs) + ")"
        lines.append(f"{'  ' * depth}{span['service']}: {span['operationName']} "
                     f"[{span.get('duration', 0) / 1000:.1f} ms]{link}  {attrs(span)}")
        children = [s for s in spans if span["spanID"] in parents(s)]
        for child in sorted(children, key=lambda s: s.get("startTime", 0)):
            walk(child, depth + 1)

    roots = [s for s in spans if not any(p in by_id for p in parents(s))]
    lines.append(heading)
    for root in sorted(roots, key=lambda s: s.get("startTime", 0)):
        walk(root, 1)
    return "\n".join(lines)


class Checks:
    def __init__(self) -> None:
        self.results: list[tuple[bool, str]] = []

    def check(self, ok: bool, what: str) -> bool:
        self.results.append((bool(ok), what))
        return bool(ok)

    @property
    def failed(self) -> int:
        return sum(1 for ok, _ in self.results if not ok)


def evaluate(spans: list[dict], caller_id: str, order_id: str, producer_only: bool) -> Checks:
    c = Checks()
    server = next((s for s in spans if s["service"] == "producer-svc" and s["operationName"] == "POST /v1/orders"), None)
    if not c.check(server is not None, "producer-svc has a server span `POST /v1/orders`"):
        return c
    c.check(server["tagmap"].get("span.kind") == "server", "the request span is of kind server")
    c.check(caller_id in parents(server), "the request span continues the caller's traceparent")
    c.check(str(server["tagmap"].get("http.response.status_code")) == "202", "the request span records status 202")

    below = descendants(spans, server)
    publish = next((s for s in below if s["operationName"].startswith("publish")), None)
    if not c.check(publish is not None, "a `publish` span is below the request span"):
        return c
    tags = publish["tagmap"]
    c.check(tags.get("span.kind") == "producer", "publish is of kind producer")
    c.check(tags.get("messaging.system") == "kafka", "publish has messaging.system=kafka")
    c.check(bool(tags.get("messaging.destination.name")), "publish names its destination topic")
    c.check("messaging.destination.partition.id" in tags, "publish records the partition")
    c.check("messaging.kafka.offset" in tags, "publish records the offset")
    c.check(tags.get("messaging.message.id") == order_id, "publish carries the order id as message id")
    if producer_only:
        return c

    process = next((s for s in spans if s["service"] == "consumer-svc" and s["operationName"].startswith("process")
                    and publish["spanID"] in linked(s)), None)
    if not c.check(process is not None, "consumer-svc has a `process` span parented on or linked to publish"):
        return c
    ptags = process["tagmap"]
    c.check(ptags.get("span.kind") == "consumer", "process is of kind consumer")
    c.check(ptags.get("messaging.system") == "kafka", "process has messaging.system=kafka")
    c.check(process["operationName"] == f"process {tags.get('messaging.destination.name')}"
            and ptags.get("messaging.destination.name") == tags.get("messaging.destination.name"),
            "process is named after the topic publish wrote to")
    c.check(str(ptags.get("messaging.destination.partition.id")) == str(tags.get("messaging.destination.partition.id"))
            and str(ptags.get("messaging.kafka.offset")) == str(tags.get("messaging.kafka.offset")),
            "process records the partition and offset publish was acknowledged at")
    c.check(ptags.get("messaging.message.id") == order_id, "process carries the order id as message id")
    c.check(bool(set(linked(process)) - {publish["spanID"]}),
            "process links to its batch's span")
    return c


def is_postgresql(span: dict) -> bool:
    return (span["tagmap"].get("db.system") or span["tagmap"].get("db.system.name")) == "postgresql"


def names_statement(span: dict) -> bool:
    tags = span["tagmap"]
    return bool(tags.get("db.operation.name") or tags.get("db.operation")) and bool(
        tags.get("db.query.text") or tags.get("db.statement"))


def evaluate_batch(c: Checks, batch_spans: list[dict], publish_id: str) -> None:
    batch = next((s for s in batch_spans if is_batch(s) and publish_id in linked(s)), None)
    if not c.check(batch is not None, "the record's batch has a `process` span linked to publish"):
        return
    c.check(batch["tagmap"].get("span.kind") == "consumer", "the batch span is of kind consumer")
    db = [s for s in descendants(batch_spans, batch) if is_postgresql(s)]
    statements = {s["operationName"] for s in db}
    c.check({"BEGIN", "INSERT orders", "COMMIT"} <= statements,
            "the transaction's BEGIN, INSERT orders and COMMIT are below the batch span")
    c.check(bool(db) and all(names_statement(s) for s in db),
            "every database span below the batch names its operation and query text")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--producer", default=os.environ.get("SURGE_PRODUCER_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--jaeger", default=os.environ.get("SURGE_JAEGER_URL", "http://127.0.0.1:16686"))
    parser.add_argument("--producer-only", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    trace_id, caller_id = secrets.token_hex(16), secrets.token_hex(8)
    since_us = int(time.time() * 1e6) - 5_000_000
    try:
        status, body = post_order(args.producer, trace_id, caller_id)
    except (urllib.error.URLError, OSError) as error:
        print(f"trace-check: producer-svc unreachable at {args.producer}: {error}")
        print("trace-check: 0 passed, 1 failed")
        return 1
    order_id = str(body.get("order_id", ""))
    print(f"POST /v1/orders -> {status}, order {order_id or '?'}, trace {trace_id}")
    print(f"  {args.jaeger.rstrip('/')}/trace/{trace_id}")

    deadline = time.monotonic() + args.timeout
    batch_spans: list[dict] = []
    while True:
        try:
            spans = fetch_trace(args.jaeger, trace_id)
        except (urllib.error.URLError, OSError, ValueError) as error:
            spans = []
            print(f"  Jaeger not answering yet: {error}")
        checks = evaluate(spans, caller_id, order_id, args.producer_only)
        publish = next((s for s in spans if s["service"] == "producer-svc"
                        and s["operationName"].startswith("publish")), None)
        if not args.producer_only and publish is not None:
            try:
                batch_spans = find_batch_trace(args.jaeger, "process " + str(publish["tagmap"].get(
                    "messaging.destination.name")), publish["spanID"], since_us)
            except (urllib.error.URLError, OSError, ValueError):
                batch_spans = []
            evaluate_batch(checks, batch_spans, publish["spanID"])
        if (checks.failed == 0 and status == 202) or time.monotonic() > deadline:
            break
        time.sleep(1.0)

    print(tree(spans, f"(caller span {caller_id})") if spans else f"(no spans of trace {trace_id} in Jaeger)")
    if batch_spans:
        print(tree(batch_spans, f"(batch trace {batch_spans[0]['traceID']}, linked to the publish span)"))
    checks.check(status == 202, "the order was accepted (202)")
    for ok, what in checks.results:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    passed = len(checks.results) - checks.failed
    print(f"trace-check: {passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
