#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# receiver.py - a stand-in ingest endpoint for the agent's push tests
# (tests/cli/t62*-agent-*.sh). It records every request it gets in DIR:
#   req-N.json   {"path", "query" (decoded, lists), "headers", "status"}
#   req-N.<part> every multipart part's body (profile, sample_type_config),
#                or req-N.body for a body that is not multipart
# and answers as MODE says:
#   ok         200, empty body
#   slow:S     sleep S seconds, then 200
#   status:C   always HTTP status C (e.g. 500, 429, 400)
#   flaky:K    503 for the first K requests, then 200
#   garbage    a reply that is not HTTP at all, then close
# Usage: receiver.py DIR MODE PORTFILE   (binds 127.0.0.1:0, writes the port)
import email.parser
import email.policy
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUT, MODE, PORTFILE = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()
count = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            count[0] += 1
            n = count[0]
        url = urllib.parse.urlsplit(self.path)
        status = 200
        if MODE.startswith("slow:"):
            time.sleep(float(MODE[5:]))
        elif MODE.startswith("status:"):
            status = int(MODE[7:])
        elif MODE.startswith("flaky:"):
            status = 503 if n <= int(MODE[6:]) else 200
        elif MODE == "garbage":
            self.wfile.write(b"\x00\x01 this is not http\r\n\r\n")
            self.close_connection = True
            status = 0
        rec = {
            "path": url.path,
            "query": urllib.parse.parse_qs(url.query, keep_blank_values=True),
            "headers": {k: v for k, v in self.headers.items()},
            "status": status,
        }
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            parts = []
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True)
                parts.append(name)
                with open(os.path.join(OUT, "req-%d.%s" % (n, name)), "wb") as f:
                    f.write(data)
            rec["parts"] = parts
        else:
            with open(os.path.join(OUT, "req-%d.body" % n), "wb") as f:
                f.write(body)
        with open(os.path.join(OUT, "req-%d.json" % n), "w") as f:
            json.dump(rec, f)
        if status:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
