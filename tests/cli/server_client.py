# SPDX-License-Identifier: Apache-2.0
# server_client.py - the client side of the kiln server tests (t72NN-*.sh),
# standard library only and independent of Kiln's own code: a minimal pprof
# decoder (expected totals and profile type ids), Connect PushRequest
# encoders (binary protobuf and protojson), a pyroscope-go style multipart
# body, readers of render answers (flamebearer JSON, pprof, collapsed) and
# the per-profile check of an ack log. Run with -h for the subcommands.
import argparse
import base64
import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# ---- protobuf wire ----------------------------------------------------------


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b):
    """Yields (field number, wire type, value) of one message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        yield fn, wt, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _ints(wt, v):
    """A repeated integer field: packed (bytes) or one varint."""
    if wt == 0:
        return [_signed(v)]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(_signed(x))
    return out


def pprof_decode(data):
    """The parts of a pprof the tests compare: types, totals, labels, times."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    strs, stypes, samples, period_type = [], [], [], (0, 0)
    time_nanos = duration = 0
    for fn, wt, v in _fields(data):
        if fn == 1:
            vt = {f: x for f, _, x in _fields(v)}
            stypes.append((vt.get(1, 0), vt.get(2, 0)))
        elif fn == 2:
            vals, labels, nlocs = [], [], 0
            for f, w, x in _fields(v):
                if f == 1:
                    nlocs += len(_ints(w, x))
                elif f == 2:
                    vals += _ints(w, x)
                elif f == 3:
                    lab = {g: y for g, _, y in _fields(x)}
                    labels.append((lab.get(1, 0), lab.get(2, 0)))
            samples.append((vals, labels, nlocs))
        elif fn == 6:
            strs.append(bytes(v).decode("utf-8", "replace"))
        elif fn == 9:
            time_nanos = _signed(v)
        elif fn == 10:
            duration = _signed(v)
        elif fn == 11:
            vt = {f: x for f, _, x in _fields(v)}
            period_type = (vt.get(1, 0), vt.get(2, 0))
    types = [(strs[t], strs[u]) for t, u in stypes]
    totals, stacked = [0] * len(types), [0] * len(types)
    str_labels = set()
    for vals, labels, nlocs in samples:
        for k in range(len(types)):
            totals[k] += vals[k] if k < len(vals) else 0
            stacked[k] += vals[k] if k < len(vals) and nlocs else 0
        for key, s in labels:
            if s:
                str_labels.add(strs[key])
    return {
        "types": ["%s:%s" % t for t in types],
        "period_type": "%s:%s" % (strs[period_type[0]], strs[period_type[1]]),
        "totals": totals,
        "stacked_totals": stacked,  # samples with a stack: what folded text can hold
        "nsamples": len(samples),
        "time_nanos": time_nanos,
        "duration_nanos": duration,
        "string_labels": sorted(str_labels),
    }


def profile_name(types):
    """__name__ of a pprof's sample types (pyroscope-compat.md section 1)."""
    names = [t.split(":")[0] for t in types]
    if "wall" in names:
        return "wall"
    for needle, name in (("cpu", "process_cpu"), ("alloc_", "memory"), ("inuse_", "memory"),
                         ("space", "memory"), ("objects", "memory"), ("mutex_", "mutex"),
                         ("block_", "block"), ("goroutine", "goroutine")):
        for n in names:
            if needle in n:
                return name
    return names[0] if names else "unknown"


def info(path, stc=None):
    with open(path, "rb") as f:
        p = pprof_decode(f.read())
    if stc:
        ren = {k: v.get("display-name") for k, v in json.loads(stc).items()}
        p["types"] = [(ren.get(t.split(":")[0]) or t.split(":")[0]) + ":" + t.split(":")[1]
                      for t in p["types"]]
    name = profile_name(p["types"])
    p["ptypes"] = ["%s:%s:%s" % (name, t, p["period_type"]) for t in p["types"]]
    return p

# ---- request bodies ---------------------------------------------------------


def _pb_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return _pb_varint(field << 3 | 2) + _pb_varint(len(data)) + data


def push_body(series, fmt):
    """series: [(labels dict, [raw profile bytes])] -> PushRequest bytes."""
    if fmt == "json":
        doc = {"series": [{
            "labels": [{"name": k, "value": v} for k, v in labels.items()],
            "samples": [{"rawProfile": base64.b64encode(r).decode(), "ID": ""} for r in raws],
        } for labels, raws in series]}
        return json.dumps(doc).encode()
    out = b""
    for labels, raws in series:
        s = b""
        for k, v in labels.items():
            s += _pb_bytes(1, _pb_bytes(1, k) + _pb_bytes(2, v))
        for r in raws:
            s += _pb_bytes(2, _pb_bytes(1, r))
        out += _pb_bytes(1, s)
    return out


BOUNDARY = "b7a1c3d5e9f0kilntest"


def multipart_body(profile, stc=None):
    """The body pyroscope-go uploads: a profile part and an optional sample_type_config."""
    parts = [("profile", "profile.pprof", profile)]
    if stc is not None:
        parts.append(("sample_type_config", "sample_type_config.json", stc.encode()))
    out = b""
    for name, fname, data in parts:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (BOUNDARY, name, fname)).encode()
        out += data + b"\r\n"
    return out + ("--%s--\r\n" % BOUNDARY).encode()

# ---- answers ------------------------------------------------------------------


def flamebearer_check(doc):
    """numTicks, the timeline's sum, the root's total and the sum of all selfs; raises
    ValueError unless every node's total is its self plus its children's totals."""
    fb = doc["flamebearer"]
    levels = []
    for lv in fb["levels"]:
        if len(lv) % 4:
            raise ValueError("a level is not made of 4-int nodes")
        x, nodes = 0, []
        for j in range(0, len(lv), 4):
            x += lv[j]  # the offset is relative to the end of the previous node
            nodes.append((x, lv[j + 1], lv[j + 2]))
            x += lv[j + 1]
        levels.append(nodes)
    for d in range(len(levels) - 1):
        kids, k = levels[d + 1], 0
        for px, pt, ps in levels[d]:
            inside = 0
            while k < len(kids) and kids[k][0] < px + pt:
                if kids[k][0] < px or kids[k][0] + kids[k][1] > px + pt:
                    raise ValueError("level %d: a node sticks out of its parent" % (d + 1))
                inside += kids[k][1]
                k += 1
            if ps + inside != pt:
                raise ValueError("level %d: total %d != self %d + children %d" %
                                 (d, pt, ps, inside))
        if k != len(kids):
            raise ValueError("level %d: a node without a parent" % (d + 1))
    root = levels[0][0][1] if levels and levels[0] else 0
    selfs = sum(n[2] for lv in levels for n in lv)
    tl = doc.get("timeline") or {}
    return fb["numTicks"], sum(tl.get("samples") or []), root, selfs


def collapsed_total(text):
    total = 0
    for line in text.splitlines():
        if line.strip():
            total += int(line.rsplit(" ", 1)[1])
    return total


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def http_post(url, body, headers, timeout=30):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


ENDPOINTS = ("raw", "gz", "multipart", "push-proto", "push-json", "push-gzip")


def ingest_case(url, ep, svc, path, p, t0):
    """Sends one fixture through one ingest endpoint; returns (status, body, query window)."""
    data = open(path, "rb").read()
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    name = urllib.parse.quote(svc + "{env=roundtrip}")
    win = (t0 - 60, t0 + 70)
    if ep == "raw":
        st, body = http_post("%s/ingest?format=pprof&name=%s&from=%d&until=%d" %
                             (url, name, t0, t0 + 10), raw,
                             {"Content-Type": "application/octet-stream"})
    elif ep == "gz":
        st, body = http_post("%s/pyroscope/ingest?format=pprof&name=%s&from=%d&until=%d"
                             "&spyName=nodespy&sampleRate=100" % (url, name, t0 * 1000,
                                                                  (t0 + 10) * 1000), data,
                             {"Content-Type": "application/octet-stream"})
    elif ep == "multipart":
        st, body = http_post("%s/ingest?name=%s&from=%d&until=%d&spyName=gospy" %
                             (url, name, t0 * 10**9, (t0 + 10) * 10**9),
                             multipart_body(data),
                             {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY})
    else:
        labels = {"__name__": profile_name(p["types"]), "service_name": svc, "env": "roundtrip"}
        fmt = "json" if ep == "push-json" else "proto"
        body = push_body([(labels, [data if ep != "push-proto" else raw])], fmt)
        hdr = {"Content-Type": "application/" + fmt}
        if ep == "push-gzip":
            body = gzip.compress(body)
            hdr["Content-Encoding"] = "gzip"
        st, body = http_post(url + "/push.v1.PusherService/Push", body, hdr)
        t = p["time_nanos"] // 10**9 if p["time_nanos"] >= 365 * 86400 * 10**9 else None
        t = t if t is not None else int(time.time())
        win = (t - 3600, t + 3600)
    return st, body, win


def roundtrip(args):
    """Every fixture through every ingest endpoint, read back through every query form."""
    t0 = (int(time.time()) - 7200) // 10 * 10
    fails, checks, cases = [], 0, []

    def fail(msg):
        fails.append(msg)
        if len(fails) <= 20:
            print("FAIL: " + msg, file=sys.stderr)

    for i, path in enumerate(args.files):
        p = info(path)
        for ep in args.endpoints.split(","):
            svc = "rt%d-%s" % (i, ep)
            st, body, win = ingest_case(args.url, ep, svc, path, p, t0)
            checks += 1
            if st != 200:
                fail("%s via %s: status %d: %s" % (path, ep, st, body[:200]))
                continue
            cases.append((path, ep, svc, p, win))
    os.makedirs(args.export_dir, exist_ok=True)
    manifest = open(os.path.join(args.export_dir, "manifest"), "w")
    for path, ep, svc, p, win in cases:
        for k, ptype in enumerate(p["ptypes"]):
            want = p["totals"][k]
            what = "%s via %s, %s" % (os.path.basename(path), ep, ptype)
            q = {"query": '%s{service_name="%s"}' % (ptype, svc), "from": str(win[0]),
                 "until": str(win[1])}
            for fmt in ("json", "pprof", "collapsed"):
                qq = dict(q, format=fmt)
                st, body = http_get_status(args.url + "/pyroscope/render?" +
                                           urllib.parse.urlencode(qq))
                checks += 1
                if st != 200:
                    fail("%s: render format=%s: status %d: %s" % (what, fmt, st, body[:200]))
                    continue
                try:
                    if fmt == "json":
                        ticks, tl, root, selfs = flamebearer_check(json.loads(body))
                        if not ticks == root == selfs == tl == want:
                            fail("%s: json numTicks %d, root %d, selfs %d, timeline %d; "
                                 "want %d" % (what, ticks, root, selfs, tl, want))
                    elif fmt == "pprof":
                        got = pprof_decode(body)
                        if got["types"] != [p["types"][k]] or got["totals"] != [want]:
                            fail("%s: pprof %s = %s; want [%s] = [%d]" %
                                 (what, got["types"], got["totals"], p["types"][k], want))
                        out = os.path.join(args.export_dir, "%s.%d.pb.gz" % (svc, k))
                        with open(out, "wb") as f:
                            f.write(body)
                        print("%s %d %s %d %s" % (out, want, path, k, what.replace(" ", "_")),
                              file=manifest)
                    else:
                        # folded text has no line for a sample without a stack
                        got = collapsed_total(body.decode())
                        if got != p["stacked_totals"][k]:
                            fail("%s: collapsed total %d, want %d (samples with a stack)" %
                                 (what, got, p["stacked_totals"][k]))
                except (ValueError, KeyError, IndexError, TypeError) as e:
                    fail("%s: render format=%s: unreadable answer (%s): %s" %
                         (what, fmt, e, body[:200]))
            if k == 0:
                # the v0 path answers the same
                st, body = http_get_status(args.url + "/render?" +
                                           urllib.parse.urlencode(dict(q, format="json")))
                checks += 1
                if st != 200 or json.loads(body)["flamebearer"]["numTicks"] != want:
                    fail("%s: /render (v0): status %d, %s" % (what, st, body[:200]))
    manifest.close()
    # every service and profile type is listed
    for label, want in (("service_name", {c[2] for c in cases}),
                        ("__profile_type__", {t for c in cases for t in c[3]["ptypes"]})):
        st, body = http_get_status(args.url + "/pyroscope/label-values?" + urllib.parse.urlencode(
            {"label": label, "from": str(t0 - 86400 * 3650), "until": str(t0 + 86400)}))
        checks += 1
        got = set(json.loads(body)) if st == 200 else set()
        if not want <= got:
            fail("label-values %s: missing %s" % (label, sorted(want - got)[:10]))
    print("%d checks over %d ingested profiles, %d failed" % (checks, len(cases), len(fails)))
    return 1 if fails else 0


def http_get_status(url, timeout=60):
    try:
        return http_get(url, timeout)
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check_acks(args):
    """Every acknowledged profile of a loadgen ack log is queryable with its exact total."""
    checked = bad = 0
    for line in open(args.acklog):
        f = line.split()
        if len(f) < 7 or f[1] != "200":
            continue
        name, frm, until = f[2], int(f[3]), int(f[4])
        want = dict(x.rsplit("=", 1) for x in f[6:])[args.type]
        svc = name.split("{")[0]
        # strictly inside the profile's window: neighbours only touch its ends
        q = {"query": '%s{service_name="%s"}' % (args.ptype, svc),
             "from": str(frm // 10**9 + 1), "until": str(until // 10**9 - 1), "format": "json"}
        st, body = http_get_status(args.url + "/pyroscope/render?" + urllib.parse.urlencode(q))
        got = json.loads(body)["flamebearer"]["numTicks"] if st == 200 else None
        checked += 1
        if st != 200 or got != int(want):
            bad += 1
            if bad <= 5:
                print("profile %s (%s %d..%d): render numTicks %s, acknowledged %s" %
                      (f[0], name, frm, until, got, want), file=sys.stderr)
    print("%d acknowledged profiles checked, %d wrong" % (checked, bad))
    return 1 if bad or not checked else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("info", help="JSON facts of a pprof file")
    a.add_argument("file")
    a.add_argument("--stc", help="sample_type_config JSON applied to the type names")
    a = sub.add_parser("push", help="a PushRequest body for pprof files on stdout")
    a.add_argument("--format", choices=["proto", "json"], default="proto")
    a.add_argument("--label", action="append", default=[], help="name=value")
    a.add_argument("files", nargs="+")
    a = sub.add_parser("multipart", help="a pyroscope-go multipart body on stdout")
    a.add_argument("--stc")
    a.add_argument("file")
    a = sub.add_parser("pprof-totals", help="type:unit=total per sample type")
    a.add_argument("file")
    a = sub.add_parser("fb", help="numTicks timeline_sum root_total sum_of_selfs")
    a.add_argument("file")
    a = sub.add_parser("collapsed", help="sum of the counts of folded lines")
    a.add_argument("file")
    a = sub.add_parser("check-acks", help="query each acknowledged profile of an ack log")
    a.add_argument("--url", required=True)
    a.add_argument("--ptype", required=True)
    a.add_argument("--type", required=True, help="the ack log column, e.g. cpu:nanoseconds")
    a.add_argument("acklog")
    a = sub.add_parser("roundtrip", help="ingest fixtures through each endpoint, query back")
    a.add_argument("--url", required=True)
    a.add_argument("--endpoints", default=",".join(ENDPOINTS))
    a.add_argument("--export-dir", required=True, help="where pprof exports are kept")
    a.add_argument("files", nargs="+")
    args = ap.parse_args()

    if args.cmd == "info":
        print(json.dumps(info(args.file, args.stc)))
    elif args.cmd == "push":
        raws = [open(f, "rb").read() for f in args.files]
        labels = dict(x.split("=", 1) for x in args.label)
        sys.stdout.buffer.write(push_body([(labels, raws)], args.format))
    elif args.cmd == "multipart":
        sys.stdout.buffer.write(multipart_body(open(args.file, "rb").read(), args.stc))
    elif args.cmd == "pprof-totals":
        p = pprof_decode(open(args.file, "rb").read())
        print(" ".join("%s=%d" % x for x in zip(p["types"], p["totals"])))
    elif args.cmd == "fb":
        print("%d %d %d %d" % flamebearer_check(json.load(open(args.file))))
    elif args.cmd == "collapsed":
        print(collapsed_total(open(args.file).read()))
    elif args.cmd == "roundtrip":
        return roundtrip(args)
    elif args.cmd == "check-acks":
        return check_acks(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
