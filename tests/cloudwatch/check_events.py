#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Check what the fake CloudWatch server stored (events.jsonl) against what
cw-feed produced.

  check_events.py EVENTS RANGES...      RANGES: FIRST:COUNT (ids FIRST..FIRST+COUNT-1)

Prints one line of key=value: expected, received (distinct flow ids), missing,
duplicates, unexpected, out_of_order (ids arriving before a smaller one),
skipdata_records, skipdata_dropped (sum of droppedRecords), skipdata_reasons,
emf_records, emf_flows (sum of the per-direction EMF totals)."""
import json
import sys


def main():
    events, ranges = sys.argv[1], sys.argv[2:]
    want = set()
    for r in ranges:
        first, count = (int(x) for x in r.split(":"))
        want.update(range(first, first + count))
    seen, dups, order, last = set(), 0, 0, -1
    skip_n = skip_dropped = emf_n = emf_flows = 0
    reasons = set()
    with open(events) as f:
        for line in f:
            rec = json.loads(line)
            if "_aws" in rec:
                emf_n += 1
                if "Policy" not in rec:
                    emf_flows += rec["AcceptedFlows"] + rec["RejectedFlows"] + rec["AuditFlows"]
                continue
            if rec.get("logStatus") == "SKIPDATA":
                skip_n += 1
                skip_dropped += rec["droppedRecords"]
                reasons.add(rec.get("reason", "").replace(" ", "_"))
                continue
            i = rec["id"]
            if i in seen:
                dups += 1
                continue
            if i < last:
                order += 1
            last = max(last, i)
            seen.add(i)
    print("expected=%d received=%d missing=%d duplicates=%d unexpected=%d out_of_order=%d "
          "skipdata_records=%d skipdata_dropped=%d skipdata_reasons=%s emf_records=%d emf_flows=%d"
          % (len(want), len(seen & want), len(want - seen), dups, len(seen - want), order,
             skip_n, skip_dropped, ",".join(sorted(reasons)) or "-", emf_n, emf_flows))


main()
