#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The reference for event-time windows (tests/integration/event_window_test.c),
# straight from docs/windows.md's rules, with no panes: the records a batch
# read are the next ones of a one-partition topic ("records=N" in the
# driver's log); a record is late when every window that holds it ends at or
# before the watermark its batch started from (the greatest event time seen
# before the batch minus allowed_lateness); a batch emits each window whose
# end is after that watermark and at or before the one after the batch, with
# every record not dropped as late read so far whose event time is in it.
#
# usage: event_windows.py INPUT LOG JOB OUT LENGTH_MS SLIDE_MS LATENESS_MS MODE [LATE_OUT]
#   INPUT: the topic's records, a line each: JSON with "ts" (ms) and "w",
#          or "TS<TAB>WORD" (the Kafka timestamp, then the value)
#   MODE:  count (reduce_by_key_and_window sum of 1 per word), total
#          (count_by_window), records (window: every record)
#   LATE_OUT: the files sink of the window's `late:` records, if it has one:
#          each batch's late records, as they were read
# Exits 1 with the differences when the sink's batches are not the model's.
import json, os, re, sys

inp, log, job, out, L, S, late_ms, mode = sys.argv[1:9]
late_out = sys.argv[9] if len(sys.argv) > 9 else None
L, S, late_ms = int(L), int(S), int(late_ms)

recs = []
for line in open(inp):
    line = line.rstrip("\n")
    if line.startswith("{"):
        recs.append((json.loads(line)["ts"], line))
    else:
        ts, word = line.split("\t", 1)
        recs.append((int(ts), word))

batches = []
for m in re.finditer(r'msg="batch done" job=%s batch_ms=(\d+) records=(\d+)' % job,
                     open(log).read()):
    batches.append((int(m.group(1)), int(m.group(2))))
late_logged = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
    r'msg="late records dropped" job=%s batch_ms=(\d+) late=(\d+)' % job, open(log).read())}

def key_of(value):
    return json.loads(value)["w"] if value.startswith("{") else value

def part_lines(d):
    # the part files (a lost attempt may leave its hidden file, which readers skip)
    got = []
    if os.path.isdir(d):
        for f in sorted(f for f in os.listdir(d) if f.startswith("part-")):
            got += open(os.path.join(d, f)).read().splitlines()
    return got

def wm(m):
    return m - late_ms if m > late_ms else 0

kept, seen_max, at, bad = [], 0, 0, []
for bms, n in batches:
    before = wm(seen_max)
    late, late_values = 0, []
    for ts, value in recs[at:at + n]:
        seen_max = max(seen_max, ts)
        if before > 0 and ts // S * S + L <= before:
            late += 1
            late_values.append(value)
        else:
            kept.append((ts, value))
    at += n
    after = wm(seen_max)
    if late != late_logged.get(bms, 0):
        bad.append("batch %d: %d late, the log says %d" % (bms, late, late_logged.get(bms, 0)))
    want = []
    if after > before and kept:
        lo = min(ts for ts, _ in kept)
        st = (lo - L) // S * S + S
        st = max(st, (before - L) // S * S + S)
        while st + L <= after:
            inside = [v for ts, v in kept if st <= ts < st + L]
            if inside:
                if mode == "count":
                    counts = {}
                    for v in inside:
                        counts[key_of(v)] = counts.get(key_of(v), 0) + 1
                    want += ["%d %s\t%d" % (st, k, c) for k, c in counts.items()]
                elif mode == "total":
                    want.append("%d\t%d" % (st, len(inside)))
                else:
                    want += ["%d\t%s" % (st, v) for v in inside]
            st += S
    if late_out is not None:
        got = part_lines(os.path.join(late_out, "batch-%d" % bms))
        if sorted(got) != sorted(late_values):
            bad.append("batch %d: %d late records in the late sink, want %d" % (
                bms, len(got), len(late_values)))
    got = part_lines(os.path.join(out, "batch-%d" % bms))
    if sorted(got) != sorted(want):
        bad.append("batch %d: got %d lines, want %d\n  only got: %s\n  only want: %s" % (
            bms, len(got), len(want), sorted(set(got) - set(want))[:5],
            sorted(set(want) - set(got))[:5]))
if at != len(recs):
    bad.append("the batches read %d records of %d" % (at, len(recs)))
if bad:
    print("\n".join(bad[:20]))
    sys.exit(1)
print("%d batches, %d records, %d kept: as the model says" % (len(batches), len(recs), len(kept)))
