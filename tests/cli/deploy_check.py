# SPDX-License-Identifier: Apache-2.0
# deploy_check.py - checks of the deployment files that cannot run here
# (tests/cli/t9001-deploy-files.sh): every YAML file parses, the Helm chart
# renders (a small renderer of the Go-template subset the chart uses: it
# refuses anything else, so the chart cannot drift past what is checked),
# the Kubernetes objects are consistent (probes, ports, volumes, Secrets,
# Services, the agent's LD_PRELOAD path), the Dockerfile passes a basic lint
# and its runtime stage installs the package of every library the built
# binaries need, and the systemd unit carries its hardening.
# The server settings each of them gives are then run by the real kiln server.
# Usage: deploy_check.py SRC BUILD SANITIZED KILN; prints failures, exits 1 on any.
import base64
import copy
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

SRC, BUILD, SANITIZED = sys.argv[1], sys.argv[2], sys.argv[3] in ("1", "ON", "TRUE", "true")
KILN = sys.argv[4]
failures = []
checks = 0
server_runs = []    # (where, KILN_* settings, args) run by the real server at the end


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
    return cond


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


VERSION = re.search(r'KILN_VERSION_STRING "([^"]+)"', read("include/kiln/version.h")).group(1)
MAJOR = VERSION.split(".")[0]


# --- a renderer of the Go-template subset used by deploy/helm ---------------
class TemplateError(Exception):
    pass


ACTION = re.compile(r"{{(-?)(.*?)(-?)}}", re.S)


def parse(text, name):
    """Text and actions -> a tree of nodes; defines go to a dict."""
    tokens, pos = [], 0
    for m in ACTION.finditer(text):
        tokens.append(("text", text[pos:m.start()]))
        tokens.append(("act", m.group(2).strip(), m.group(1) == "-", m.group(3) == "-"))
        pos = m.end()
    tokens.append(("text", text[pos:]))
    # whitespace trimming of {{- and -}}
    for i, t in enumerate(tokens):
        if t[0] != "act":
            continue
        if t[2] and i > 0:
            tokens[i - 1] = ("text", tokens[i - 1][1].rstrip())
        if t[3] and i + 1 < len(tokens):
            tokens[i + 1] = ("text", tokens[i + 1][1].lstrip())
    root, stack, defines = [], [], {}
    cur = root
    for t in tokens:
        if t[0] == "text":
            cur.append(("text", t[1]))
            continue
        a = t[1]
        if a.startswith("/*"):
            if not a.endswith("*/"):
                raise TemplateError(f"{name}: unterminated comment")
            continue
        word = a.split(None, 1)[0] if a else ""
        if word in ("if", "range", "define"):
            node = {"kind": word, "arg": a[len(word):].strip(), "body": [], "else": []}
            cur.append(node)
            stack.append((node, cur))
            cur = node["body"]
        elif word == "else":
            if not stack or stack[-1][0]["kind"] != "if" or a != "else":
                raise TemplateError(f"{name}: unsupported '{a}'")
            cur = stack[-1][0]["else"]
        elif word == "end":
            if not stack:
                raise TemplateError(f"{name}: 'end' without a block")
            node, cur = stack.pop()
            if node["kind"] == "define":
                cur.remove(node)
                defines[json.loads(node["arg"])] = node["body"]
        elif word in ("with", "template", "block", "tpl", "required", "fail", "lookup"):
            raise TemplateError(f"{name}: '{word}' is outside the checked subset")
        else:
            cur.append(("expr", a))
    if stack:
        raise TemplateError(f"{name}: unclosed '{stack[-1][0]['kind']}'")
    return root, defines


TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|[^\s()]+)')


def split_pipeline(expr):
    parts, cur, quoted = [], "", False
    for i, c in enumerate(expr):
        if c == '"' and (i == 0 or expr[i - 1] != "\\"):
            quoted = not quoted
        if c == "|" and not quoted:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += c
    parts.append(cur.strip())
    return parts


def to_str(v):
    if v is None:
        raise TemplateError("a value is missing (nil)")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def truthy(v):
    return bool(v)


class Renderer:
    def __init__(self, defines, values, chart, release):
        self.defines = defines
        self.top = {"Values": values, "Chart": chart, "Release": release}

    def value(self, tok, dot, env):
        if tok.startswith('"'):
            return json.loads(tok)
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok == ".":
            return dot
        if tok.startswith("$"):
            name, _, rest = tok.partition(".")
            if name not in env:
                raise TemplateError(f"undefined variable {name}")
            obj, path = env[name], rest
        elif tok.startswith("."):
            obj, path = dot, tok[1:]
        else:
            raise TemplateError(f"unknown word '{tok}'")
        for key in filter(None, path.split(".")):
            if not isinstance(obj, dict) or key not in obj:
                raise TemplateError(f"{tok}: no key '{key}'")
            obj = obj[key]
        return obj

    def call(self, fn, args, piped, dot, env):
        v = [self.value(a, dot, env) for a in args] + piped
        if fn == "include":
            if v[0] not in self.defines:
                raise TemplateError(f"include of undefined '{v[0]}'")
            return self.run(self.defines[v[0]], v[1], env)
        if fn == "toYaml":
            return yaml.safe_dump(v[0], default_flow_style=False, sort_keys=True).rstrip("\n")
        if fn == "nindent":
            return "\n" + "\n".join(" " * v[0] + line for line in to_str(v[1]).split("\n"))
        if fn == "indent":
            return "\n".join(" " * v[0] + line for line in to_str(v[1]).split("\n"))
        if fn == "quote":
            return json.dumps(to_str(v[0]))
        if fn == "default":
            return v[1] if truthy(v[1]) else v[0]
        if fn == "not":
            return not truthy(v[0])
        if fn == "trunc":
            return to_str(v[1])[:v[0]]
        if fn == "trimSuffix":
            s = to_str(v[1])
            return s[:-len(v[0])] if v[0] and s.endswith(v[0]) else s
        if fn == "b64enc":
            return base64.b64encode(to_str(v[0]).encode()).decode()
        raise TemplateError(f"function '{fn}' is outside the checked subset")

    FUNCS = ("include", "toYaml", "nindent", "indent", "quote", "default", "not", "trunc",
             "trimSuffix", "b64enc")

    def pipeline(self, expr, dot, env):
        result, first = None, True
        for cmd in split_pipeline(expr):
            toks = TOKEN.findall(cmd)
            if not toks:
                raise TemplateError(f"empty command in '{expr}'")
            if toks[0] in self.FUNCS:
                result = self.call(toks[0], toks[1:], [] if first else [result], dot, env)
            elif first and len(toks) == 1:
                result = self.value(toks[0], dot, env)
            else:
                raise TemplateError(f"cannot evaluate '{cmd}'")
            first = False
        return result

    def run(self, nodes, dot, env):
        out = []
        for n in nodes:
            if isinstance(n, tuple) and n[0] == "text":
                out.append(n[1])
            elif isinstance(n, tuple):
                out.append(to_str(self.pipeline(n[1], dot, env)))
            elif n["kind"] == "if":
                branch = n["body"] if truthy(self.pipeline(n["arg"], dot, env)) else n["else"]
                out.append(self.run(branch, dot, env))
            elif n["kind"] == "range":
                m = re.fullmatch(r"\$(\w+),\s*\$(\w+)\s*:=\s*(.+)", n["arg"])
                if not m:
                    raise TemplateError(f"range form '{n['arg']}' is outside the subset")
                coll = self.pipeline(m.group(3), dot, env)
                items = sorted(coll.items()) if isinstance(coll, dict) else enumerate(coll)
                for k, val in items:
                    sub = dict(env, **{"$" + m.group(1): k, "$" + m.group(2): val})
                    out.append(self.run(n["body"], dot, sub))
        return "".join(out)


def render_chart(chart_dir, overrides):
    chart = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml")))
    values = yaml.safe_load(open(os.path.join(chart_dir, "values.yaml")))
    values = copy.deepcopy(values)
    for path, v in overrides.items():
        obj = values
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[k]
        check(keys[-1] in obj, f"helm override {path}: no such value")
        obj[keys[-1]] = v
    tdir = os.path.join(chart_dir, "templates")
    parsed, defines = {}, {}
    for f in sorted(os.listdir(tdir)):
        nodes, d = parse(open(os.path.join(tdir, f)).read(), f)
        defines.update(d)
        parsed[f] = nodes
    chart_ctx = {"Name": chart["name"], "Version": chart["version"],
                 "AppVersion": chart["appVersion"]}
    release = {"Name": "kiln", "Namespace": "profiling", "Service": "Helm"}
    r = Renderer(defines, values, chart_ctx, release)
    out = {}
    for f, nodes in parsed.items():
        out[f] = r.run(nodes, r.top, {})
    return out


# --- checks of Kubernetes objects -------------------------------------------
def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def image_ok(image, where):
    check(isinstance(image, str) and ":" in image.rsplit("/", 1)[-1], f"{where}: image "
          f"'{image}' has no tag")
    check(not str(image).endswith(":latest"), f"{where}: image '{image}' uses latest")


def check_objects(docs, where, secrets_external=False):
    by_kind = {}
    for d in docs:
        check(isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
              and d.get("metadata", {}).get("name"), f"{where}: object without "
              f"apiVersion/kind/metadata.name: {str(d)[:80]}")
        by_kind.setdefault(d["kind"], []).append(d)
    secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
    services = by_kind.get("Service", [])
    sts_list = by_kind.get("StatefulSet", [])
    check(len(sts_list) == 1, f"{where}: {len(sts_list)} StatefulSets, expected 1")

    def secret_refs(container, what):
        for e in container.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if not ref or secrets_external:
                continue
            s = secrets.get(ref["name"])
            if check(s is not None, f"{what}: env {e['name']} names Secret '{ref['name']}' "
                     "that is not defined"):
                keys = set(s.get("stringData", {})) | set(s.get("data", {}))
                check(ref["key"] in keys, f"{what}: Secret {ref['name']} has no key "
                      f"{ref['key']}")

    server_port = None
    for sts in sts_list:
        what = f"{where}: StatefulSet {sts['metadata']['name']}"
        spec = sts["spec"]
        check(spec.get("replicas") == 1, f"{what}: replicas must be 1 (one server per store)")
        pod = spec["template"]
        labels = pod["metadata"]["labels"]
        check(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
              f"{what}: selector does not match the pod labels")
        heads = [s for s in services if s["metadata"]["name"] == spec.get("serviceName")]
        check(heads and heads[0]["spec"].get("clusterIP") == "None",
              f"{what}: serviceName must name a headless Service")
        psec = pod["spec"].get("securityContext", {})
        check(psec.get("runAsNonRoot") is True, f"{what}: pod must run as non-root")
        c = [c for c in pod["spec"]["containers"] if c["name"] == "kiln"]
        if not check(len(c) == 1, f"{what}: no container 'kiln'"):
            continue
        c = c[0]
        image_ok(c.get("image"), what)
        check(c.get("args", [None])[0] == "server", f"{what}: args must start with 'server'")
        env = env_of(c)
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if check("http" in ports, f"{what}: no port named http"):
            server_port = ports["http"]
            check(env.get("KILN_LISTEN", {}).get("value", "").endswith(f":{server_port}"),
                  f"{what}: KILN_LISTEN does not listen on containerPort {server_port}")
        for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz")):
            get = c.get(probe, {}).get("httpGet", {})
            check(get.get("path") == path, f"{what}: {probe} must GET {path}")
            check(get.get("port") in ("http", server_port), f"{what}: {probe} port")
        res = c.get("resources", {})
        for k in ("cpu", "memory"):
            check(k in res.get("limits", {}), f"{what}: no {k} limit")
            check(k in res.get("requests", {}), f"{what}: no {k} request")
        check(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False,
              f"{what}: allowPrivilegeEscalation must be false")
        data_dir = env.get("KILN_DATA_DIR", {}).get("value")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])]
        check(data_dir in mounts and mounts[data_dir] in claims,
              f"{what}: KILN_DATA_DIR {data_dir} is not a mounted volumeClaimTemplate")
        if c.get("securityContext", {}).get("readOnlyRootFilesystem"):
            check("/tmp" in mounts, f"{what}: read-only root without a /tmp volume")
        for t in spec.get("volumeClaimTemplates", []):
            check(t["spec"]["resources"]["requests"].get("storage"),
                  f"{what}: claim {t['metadata']['name']} without a size")
        secret_refs(c, what)
        settings = {}
        for e in c.get("env", []):
            if "value" in e:
                settings[e["name"]] = str(e["value"])
            elif e.get("valueFrom", {}).get("secretKeyRef"):
                settings[e["name"]] = "secret-token-for-" + e["name"].lower()
        server_runs.append((what, settings, c.get("args", [])))
        front = [s for s in services if s["spec"].get("clusterIP") != "None"]
        check(front, f"{where}: no client Service")
        for s in front:
            sel = s["spec"]["selector"]
            check(all(labels.get(k) == v for k, v in sel.items()),
                  f"{where}: Service {s['metadata']['name']} does not select the server pods")
            check(all(p.get("targetPort") in ("http", server_port) for p in s["spec"]["ports"]),
                  f"{where}: Service {s['metadata']['name']} targetPort")

    for dep in by_kind.get("Deployment", []):
        what = f"{where}: Deployment {dep['metadata']['name']}"
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        image_ok(c.get("image"), what)
        env = env_of(c)
        preload = env.get("LD_PRELOAD", {}).get("value", "")
        if not check(preload, f"{what}: no LD_PRELOAD"):
            continue
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        vol = mounts.get(os.path.dirname(preload))
        check(vol, f"{what}: LD_PRELOAD {preload} is not on a mounted volume")
        inits = [i for i in pod.get("initContainers", [])
                 if any(m["name"] == vol for m in i.get("volumeMounts", []))]
        if check(inits, f"{what}: no init container fills volume {vol}"):
            i = inits[0]
            image_ok(i.get("image"), what + " init")
            ipath = [m["mountPath"] for m in i["volumeMounts"] if m["name"] == vol][0]
            cmd = " ".join(i.get("command", []) + i.get("args", []))
            check(f"{ipath}/{os.path.basename(preload)}" in cmd,
                  f"{what}: the init container does not write {os.path.basename(preload)}")
            check(f"/usr/local/lib/libkiln.so.{MAJOR}" in cmd,
                  f"{what}: the init container must copy the installed libkiln.so.{MAJOR}")
            if sts_list:
                server_image = sts_list[0]["spec"]["template"]["spec"]["containers"][0]["image"]
                check(i.get("image") == server_image,
                      f"{what}: the agent must come from the server's image {server_image}")
        addr = env.get("KILN_SERVER_ADDRESS", {}).get("value", "")
        m = re.fullmatch(r"http://([a-z0-9.-]+):(\d+)", addr)
        if check(m, f"{what}: KILN_SERVER_ADDRESS '{addr}'"):
            svc = [s for s in services if s["metadata"]["name"] == m.group(1).split(".")[0]]
            check(svc and any(p["port"] == int(m.group(2)) for p in svc[0]["spec"]["ports"]),
                  f"{what}: KILN_SERVER_ADDRESS {addr} names no Service port")
        check("KILN_APPLICATION_NAME" in env, f"{what}: no KILN_APPLICATION_NAME")
        for k in ("cpu", "memory"):
            check(k in c.get("resources", {}).get("limits", {}), f"{what}: no {k} limit")
        secret_refs(c, what)
    return by_kind


def load_docs(text, where):
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        check(False, f"{where}: YAML: {e}")
        return []


# --- 1. every YAML file parses ----------------------------------------------
deploy = os.path.join(SRC, "deploy")
yaml_files = []
for dirpath, _, files in os.walk(deploy):
    for f in files:
        if f.endswith((".yaml", ".yml")) and "/templates" not in dirpath:
            yaml_files.append(os.path.join(dirpath, f))
check(len(yaml_files) >= 6, f"only {len(yaml_files)} YAML files under deploy/")
for p in yaml_files:
    load_docs(open(p).read(), os.path.relpath(p, SRC))

# --- 2. the plain manifests ---------------------------------------------------
kdir = os.path.join(deploy, "kubernetes")
kdocs = []
for f in sorted(os.listdir(kdir)):
    if f.endswith(".yaml"):
        kdocs += load_docs(open(os.path.join(kdir, f)).read(), f"kubernetes/{f}")
kinds = check_objects(kdocs, "kubernetes")
for k in ("StatefulSet", "Service", "Secret", "Deployment"):
    check(k in kinds, f"kubernetes: no {k}")

# --- 3. the Helm chart, rendered with several values -------------------------
chart_dir = os.path.join(deploy, "helm", "kiln")
chart = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml")))
check(chart.get("apiVersion") == "v2", "Chart.yaml: apiVersion must be v2")
check(chart.get("appVersion") == VERSION, f"Chart.yaml: appVersion != {VERSION}")
cases = [
    ("defaults", {}, {"StatefulSet": 1, "Service": 2, "Secret": 1}),
    ("agent example", {"agentExample.enabled": True},
     {"StatefulSet": 1, "Service": 2, "Secret": 1, "Deployment": 1}),
    ("no auth, storage class", {"auth.enabled": False, "persistence.storageClass": "fast",
                                "agentExample.enabled": True, "image.tag": "0.1.0-rc1"},
     {"StatefulSet": 1, "Service": 2, "Deployment": 1}),
    ("existing secret", {"auth.existingSecret": "my-tokens", "server.port": 4100},
     {"StatefulSet": 1, "Service": 2}),
]
for name, overrides, want in cases:
    try:
        rendered = render_chart(chart_dir, overrides)
    except TemplateError as e:
        check(False, f"helm ({name}): {e}")
        continue
    docs = []
    for f, text in rendered.items():
        if f.endswith(".yaml"):
            docs += load_docs(text, f"helm ({name}) {f}")
        elif f == "NOTES.txt":
            check("svc" in text, f"helm ({name}): NOTES.txt renders no address")
    got = {}
    for d in docs:
        got[d["kind"]] = got.get(d["kind"], 0) + 1
    check(got == want, f"helm ({name}): objects {got}, expected {want}")
    by_kind = check_objects(docs, f"helm ({name})",
                            secrets_external=bool(overrides.get("auth.existingSecret")))
    sts = by_kind.get("StatefulSet", [{}])[0]
    c = sts.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])[0]
    env = env_of(c)
    tag = overrides.get("image.tag", VERSION)
    check(c.get("image", "").endswith(":" + tag), f"helm ({name}): image tag is not {tag}")
    check(env.get("KILN_RETENTION", {}).get("value") == "30d",
          f"helm ({name}): server.settings not passed as KILN_* variables")
    auth = overrides.get("auth.enabled", True)
    check(("KILN_INGEST_TOKEN" in env) == auth, f"helm ({name}): tokens vs auth.enabled")
    if overrides.get("auth.existingSecret"):
        ref = env["KILN_INGEST_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
        check(ref == "my-tokens", f"helm ({name}): existingSecret not used")
    claims = sts.get("spec", {}).get("volumeClaimTemplates", [{}])
    check(claims[0].get("spec", {}).get("storageClassName") ==
          (overrides.get("persistence.storageClass") or None),
          f"helm ({name}): storageClassName")

# --- 4. the Dockerfile ----------------------------------------------------------
def instructions(text):
    out, cur = [], ""
    for line in text.split("\n"):
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        cur += " " + s.rstrip("\\").strip() if cur else s.rstrip("\\").strip()
        if not s.endswith("\\"):
            out.append(cur)
            cur = ""
    return [(i.split(None, 1)[0].upper(), i.split(None, 1)[1] if " " in i else "") for i in out]


docker = read("deploy/Dockerfile")
ins = instructions(docker)
check(ins and ins[0][0] in ("FROM", "ARG"), "Dockerfile: must start with FROM (or ARG)")
stages = [i for i, (op, _) in enumerate(ins) if op == "FROM"]
check(len(stages) >= 2, "Dockerfile: must be multi-stage")
for i in stages:
    image = ins[i][1].split()[0]
    check(":" in image and not image.endswith(":latest"),
          f"Dockerfile: FROM {image} must name a tag other than latest")
    check(image.startswith("debian:bookworm"), f"Dockerfile: FROM {image} is not Debian 12")
final = ins[stages[-1]:]
users = [a for op, a in final if op == "USER"]
check(users and users[-1].split(":")[0] not in ("root", "0"),
      "Dockerfile: the final stage must switch to a non-root USER")
health = [a for op, a in final if op == "HEALTHCHECK"]
check(health and "/ready" in health[0], "Dockerfile: no HEALTHCHECK on /ready")
check(any(op == "VOLUME" and "/var/lib/kiln" in a for op, a in final),
      "Dockerfile: no VOLUME /var/lib/kiln")
check(any(op == "EXPOSE" and "4040" in a for op, a in final), "Dockerfile: no EXPOSE 4040")
check(any(op == "COPY" and "--from=" in a for op, a in final), "Dockerfile: no COPY --from")
check(any(op == "RUN" and "install-deps.sh" in a for op, a in ins),
      "Dockerfile: the build stage must use scripts/install-deps.sh")
check(any(op == "RUN" and "make install" in a for op, a in ins),
      "Dockerfile: the build stage must use make install")
for op, a in ins:
    if op != "RUN":
        continue
    check(not re.search(r"\b(curl|wget)\b[^|;&]*\|\s*(ba|z)?sh\b", a),
          f"Dockerfile: pipes a download into a shell: {a[:80]}")
    if "apt-get install" in a:
        check("--no-install-recommends" in a, "Dockerfile: apt-get install without "
              "--no-install-recommends")
        check("rm -rf /var/lib/apt/lists" in a, "Dockerfile: apt lists left in the layer")
    check("sudo " not in a, "Dockerfile: sudo in RUN")
copied = [a for op, a in ins if op in ("ADD",)]
check(not copied, "Dockerfile: use COPY, not ADD")
ignore = read("deploy/Dockerfile.dockerignore").split()
check("build-*" in ignore and "build" in ignore, "Dockerfile.dockerignore: build trees")
# the runtime stage installs the package of every library the binaries need
runtime_pkgs = set()
for op, a in final:
    if op == "RUN" and "apt-get install" in a:
        tail = a.split("apt-get install", 1)[1].split("&&")[0]
        runtime_pkgs |= {w for w in tail.split() if not w.startswith("-")}
binaries = [os.path.join(BUILD, "lib", "libkiln.so")]
if not SANITIZED:
    binaries.append(os.path.join(BUILD, "bin", "kiln"))
have_tools = all(subprocess.run(["sh", "-c", f"command -v {t}"], capture_output=True)
                 .returncode == 0 for t in ("readelf", "dpkg"))
if have_tools:
    needed = {}
    for b in binaries:
        out = subprocess.run(["readelf", "-d", b], capture_output=True, text=True).stdout
        for lib in re.findall(r"\(NEEDED\).*\[(.+)\]", out):
            needed.setdefault(lib, os.path.basename(b))
    check(len(needed) >= 4, f"readelf found only {sorted(needed)}")
    # one dpkg -S for all: each call reads the whole package database
    q = subprocess.run(["dpkg", "-S"] + ["*/" + lib for lib in needed],
                       capture_output=True, text=True)
    owners = {}
    for line in q.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        for p in pkg.split(", "):
            owners.setdefault(os.path.basename(path), set()).add(p.split(":")[0])
    for lib, b in sorted(needed.items()):
        pkgs = owners.get(lib, set())
        if not pkgs or pkgs & {"libc6", "libgcc-s1"}:
            continue
        check(pkgs & runtime_pkgs, f"Dockerfile: runtime stage lacks {' or '.join(pkgs)} "
              f"({lib}, needed by {b})")
else:
    print("note: readelf or dpkg missing: runtime packages not checked")
# the agent note of the manifests lists the same libraries as libkiln needs
agent_note = read("deploy/kubernetes/example-app.yaml")
for pkg in ("libcurl4", "libdw1", "libmicrohttpd12", "libprotobuf-c1", "zlib1g", "libstdc++6"):
    check(pkg in runtime_pkgs and pkg in agent_note,
          f"{pkg}: in the Dockerfile's runtime stage and example-app.yaml's note")

# --- 5. the systemd unit --------------------------------------------------------
unit = read("packaging/kiln-server.service.in")
keys = {}
for line in unit.split("\n"):
    if "=" in line and not line.startswith(("#", "[")):
        k, v = line.split("=", 1)
        keys.setdefault(k.strip(), []).append(v.strip())
want = {
    "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes",
    "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
    "StateDirectory": "kiln", "SystemCallFilter": "@system-service",
    "RestrictNamespaces": "yes", "CapabilityBoundingSet": "",
}
for k, v in want.items():
    check(v in keys.get(k, []), f"kiln-server.service: {k}={v} missing")
check(keys.get("DynamicUser") == ["yes"] or keys.get("User"), "unit: no own user")
check(keys.get("User", ["root"])[0] not in ("root", "0"), "unit: runs as root")
fams = " ".join(keys.get("RestrictAddressFamilies", [])).split()
check(fams and set(fams) <= {"AF_INET", "AF_INET6", "AF_UNIX"},
      "unit: RestrictAddressFamilies must be set to IP and Unix sockets only")
check(keys.get("MemoryMax"), "unit: no MemoryMax")
exec_start = keys.get("ExecStart", [""])[0]
check(exec_start.endswith("/kiln server --data-dir /var/lib/kiln"),
      f"unit: ExecStart '{exec_start}'")
check("@KILN_BINDIR_ABS@/kiln" in exec_start, "unit: ExecStart must use the install bindir")

# --- 6. the real server accepts the settings of every deployment ------------
docker_env = {}
for op, a in final:
    if op == "ENV":
        for m in re.finditer(r"(KILN_\w+)=(\S+)", a):
            docker_env[m.group(1)] = m.group(2)
cmd = [a for op, a in final if op == "CMD"]
server_runs.append(("Dockerfile", docker_env, json.loads(cmd[-1]) if cmd else []))
unit_env = {}
for v in keys.get("Environment", []):
    for kv in v.split():
        k, _, val = kv.partition("=")
        unit_env[k] = val
server_runs.append(("kiln-server.service", unit_env, exec_start.split()[1:]))


def http(url, data=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def run_server(what, settings, args):
    check(args[:1] == ["server"], f"{what}: does not run 'kiln server' ({args})")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        env.update(settings)
        # this machine's stand-ins for the deployment's address and volume
        env["KILN_LISTEN"], env["KILN_DATA_DIR"] = "127.0.0.1:0", tmp + "/data"
        args = [a if a != "/var/lib/kiln" else tmp + "/data" for a in args]
        port_file, log = tmp + "/port", open(tmp + "/log", "w+")
        proc = subprocess.Popen([KILN] + args + ["--port-file", port_file], env=env,
                                stdout=log, stderr=subprocess.STDOUT)

        def log_tail():
            log.seek(0)
            return log.read()[-300:]

        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and \
                    not (os.path.exists(port_file) and open(port_file).read().strip()):
                time.sleep(0.05)
            if proc.poll() is not None or not os.path.exists(port_file):
                check(False, f"{what}: kiln server with its settings did not start "
                      f"(exit {proc.returncode}): {log_tail()}")
                return
            base = "http://127.0.0.1:" + open(port_file).read().strip()
            status = None
            while time.monotonic() < deadline and status != 200:
                status, body = http(base + "/ready")
                if status != 200:
                    time.sleep(0.05)
            check(status == 200 and body.strip() == "ready", f"{what}: /ready {status}")
            check(http(base + "/healthz")[0] == 200, f"{what}: /healthz")
            authed = any(k.endswith("_TOKEN") for k in settings)
            got = http(base + "/ingest?name=deploy_check.cpu", b"a;b 1\n")[0]
            check(got == (401 if authed else 200), f"{what}: unauthenticated ingest {got}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            if rc != 0:
                check(False, f"{what}: kiln server exited {rc} after SIGTERM: {log_tail()}")
            log.close()


for what, settings, args in server_runs:
    run_server(what, settings, args)
check(len(server_runs) >= 7, f"only {len(server_runs)} server configurations run")

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print(f"{checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
