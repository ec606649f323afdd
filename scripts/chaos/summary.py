#!/usr/bin/env python3
"""The fault scenarios' table (scripts/chaos.sh).

  summary.py row SCENARIO DIR RATE BEFORE FAULT   one tab-separated row from DIR's
                                                  results.json, audit.json and fault.txt
  summary.py table ROWS.tsv                        the rows as a Markdown table
  summary.py retry-after DIR                       exits 1 when a 429 or 503 in DIR's
                                                  results.json came without Retry-After

Recovery is the time from the fault until the last second whose 202s fell below 80 % of
the median second before the fault: 0 when the rate never dropped.
"""
import json
import re
import statistics
import sys

COLUMNS = ["scenario", "load", "fault", "sent", "202", "503/429", "of them without Retry-After",
           "other", "not sent (loadgen's own limit)", "unknown outcome",
           "lost", "duplicated", "ingest recovery s", "p99 in fault ms", "audit"]


def row(scenario, folder, rate, before, fault_s):
    rate, before, fault_s = float(rate), int(before), int(fault_s)
    results = json.load(open(f"{folder}/results.json"))
    try:
        audit = json.load(open(f"{folder}/audit.json"))
    except (OSError, ValueError):
        audit = {"passed": False, "checks": []}
    fault = open(f"{folder}/fault.txt").read().strip().splitlines()
    statuses = {}
    for phase in results["phase_stats"]:
        for code, n in phase["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    sent = sum(p["sent"] for p in results["phase_stats"])
    accepted = statuses.get("202", 0)
    honest = statuses.get("503", 0) + statuses.get("429", 0)
    no_retry_after = without_retry_after(results)
    # 4xx are the load's own invalid requests (the mix sends some on purpose).
    dropped = statuses.get("dropped", 0)
    other = sum(n for code, n in statuses.items()
                if code not in ("202", "503", "429", "dropped") and not code.startswith("4"))
    lost = duplicated = "?"
    for check in audit.get("checks", []):
        m = re.search(r"(\d+) missing.*?(\d+) duplicated", check.get("detail", ""))
        if m:
            lost, duplicated = m.group(1), m.group(2)
    timeline = results.get("timeline", [])
    normal = [s["accepted"] for s in timeline if s["t"] <= before and s["t"] > 1]
    floor = 0.8 * statistics.median(normal) if normal else 0.8 * rate
    low = [s["t"] for s in timeline if s["t"] > before and s["accepted"] < floor
           and s["phase"] != "before"]
    # The last second of the run is partial: not a dip.
    last_t = max((s["t"] for s in timeline), default=0)
    low = [t for t in low if t < last_t]
    recovery = max(low) - before if low else 0
    p99 = next((p["p99_ms"] for p in results["phase_stats"] if p["name"] == "fault"), None)
    load = f"{rate:.0f}/s open loop, {sum(int(p['duration']) for p in results['phases'])} s"
    values = [scenario, load, fault[0] if fault else "?", sent, accepted, honest, no_retry_after, other, dropped,
              len(results.get("uncertain", [])), lost, duplicated, recovery,
              f"{p99:.1f}" if p99 is not None else "?",
              "passed" if audit.get("passed") else "FAILED"]
    print("\t".join(str(v) for v in values))


def without_retry_after(results):
    return sum(p.get("refused_without_retry_after", 0) for p in results["phase_stats"])


def retry_after(folder):
    missing = without_retry_after(json.load(open(f"{folder}/results.json")))
    if missing:
        sys.exit(f"{missing} answers 429/503 came without Retry-After ({folder}/results.json)")


def table(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "row":
        row(*sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "retry-after":
        retry_after(sys.argv[2])
    else:
        sys.exit(__doc__)
