#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# check_ingest.py - checks what receiver.py recorded against Pyroscope's
# /ingest protocol as the agent speaks it (pyroscope-compat.md sections 1
# and 6). Prints one "FAIL: ..." line per broken expectation, then
# "checked N requests"; exit 1 if anything failed.
# Usage: check_ingest.py DIR NAME RATE [HEADER=VALUE...]
#   NAME   expected name parameter, e.g. 'prog_tags{region=eu,env=test}'
#   RATE   expected sampleRate ('-' = do not check)
#   HEADER=VALUE  headers every request must carry (e.g. X-Scope-OrgID=team-a)
import glob
import json
import os
import re
import sys

d, name, rate = sys.argv[1], sys.argv[2], sys.argv[3]
want_headers = dict(a.split("=", 1) for a in sys.argv[4:])
fails = []
reqs = []
for path in glob.glob(os.path.join(d, "req-*.json")):
    n = int(re.search(r"req-(\d+)\.json$", path).group(1))
    with open(path) as f:
        reqs.append((n, json.load(f)))
reqs.sort()
if not reqs:
    fails.append("no request recorded")
by_type = {}
for n, r in reqs:
    q = {k: v[0] for k, v in r["query"].items()}
    h = {k.lower(): v for k, v in r["headers"].items()}
    where = "request %d" % n
    if r["path"] != "/ingest":
        fails.append("%s: path %s" % (where, r["path"]))
    if q.get("name") != name:
        fails.append("%s: name %r, want %r" % (where, q.get("name"), name))
    if q.get("spyName") != "kiln":
        fails.append("%s: spyName %r" % (where, q.get("spyName")))
    if rate != "-" and q.get("sampleRate") != rate:
        fails.append("%s: sampleRate %r, want %s" % (where, q.get("sampleRate"), rate))
    fr, un = q.get("from", ""), q.get("until", "")
    if not (re.fullmatch(r"\d{19}", fr) and re.fullmatch(r"\d{19}", un) and int(fr) <= int(un)):
        fails.append("%s: from/until not ns or out of order: %r %r" % (where, fr, un))
    if "format" in q:
        fails.append("%s: format given (multipart needs none)" % where)
    if r.get("parts") != ["profile", "sample_type_config"]:
        fails.append("%s: parts %r" % (where, r.get("parts")))
        continue
    with open(os.path.join(d, "req-%d.profile" % n), "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            fails.append("%s: profile is not gzip" % where)
    with open(os.path.join(d, "req-%d.sample_type_config" % n)) as f:
        try:
            cfg = json.load(f)
        except ValueError as e:
            fails.append("%s: sample_type_config: %s" % (where, e))
            cfg = {}
    if "delay" in cfg and cfg["delay"].get("display-name") != "mutex_duration":
        fails.append("%s: lock delay not renamed mutex_duration" % where)
    if "contentions" in cfg and cfg["contentions"].get("display-name") != "mutex_count":
        fails.append("%s: lock contentions not renamed mutex_count" % where)
    for k, v in want_headers.items():
        if h.get(k.lower()) != v:
            fails.append("%s: header %s %r, want %r" % (where, k, h.get(k.lower()), v))
    kind = ",".join(sorted(cfg))
    # one type's windows follow each other without gaps or overlaps
    prev = by_type.get(kind)
    if prev is not None and prev != int(fr):
        fails.append("%s: from %s does not continue the last until %d" % (where, fr, prev))
    by_type[kind] = int(un)
for f in fails:
    print("FAIL: " + f)
print("checked %d requests" % len(reqs))
sys.exit(1 if fails else 0)
