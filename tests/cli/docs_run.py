# SPDX-License-Identifier: Apache-2.0
# docs_run.py - the checks of tests/cli/t9200-docs.sh (the convention for code
# blocks is described there): runs every ```sh block and every ```console
# transcript of the given Markdown files against a real kiln server, compares
# transcripts with what the commands print, checks that every `kiln CMD` and
# its flags named in the docs exist in `kiln CMD --help`, and that every
# relative link (and #anchor) points at something that exists.
# Usage: docs_run.py SRC BUILD KILN FIXTURES FILE.md...; exits 1 on any failure.
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC, BUILD, KILN, FIXTURES = sys.argv[1:5]
FILES = sys.argv[5:]
RUN_LANGS = {"sh", "console"}
BLOCK_TIMEOUT = 30
CHECK_ONLY = os.environ.get("DOCS_CHECK_ONLY") == "1"	# links and commands only
failures = []

# A tiny program linked with libkiln: ./myapp and myapp.c in every work directory.
MYAPP_C = r"""#include <kiln/kiln.h>
#include <stdio.h>
#include <time.h>

static volatile unsigned long sink;

static void burn(double seconds)
{
	clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);

	while (clock() < end)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i * i;
}

int main(void)
{
	struct kiln_config cfg = KILN_CONFIG_INIT;

	cfg.application_name = "myapp";
	kiln_start(&cfg);		/* -KILN_EALREADY under LD_PRELOAD: fine */
	kiln_tag_push("vehicle", "car");
	burn(0.3);
	kiln_tag_pop();
	kiln_stop();
	puts("myapp: done");
	return 0;
}
"""


def fail(where, msg):
	failures.append(f"{where}: {msg}")


def parse_blocks(path):
	"""Yields (line number, info string, text) of every fenced block."""
	with open(path, encoding="utf-8") as f:
		lines = f.read().split("\n")
	blocks, i = [], 0
	while i < len(lines):
		m = re.match(r"^(\s*)(```+|~~~+)\s*(.*)$", lines[i])
		if not m:
			i += 1
			continue
		fence, info, start, body = m.group(2), m.group(3).strip(), i + 1, []
		i += 1
		while i < len(lines) and not lines[i].strip().startswith(fence):
			body.append(lines[i][len(m.group(1)):] if lines[i].startswith(m.group(1)) else lines[i])
			i += 1
		blocks.append((start, info, "\n".join(body)))
		i += 1
	return blocks


def prose(path):
	"""The file without its fenced blocks (for links and inline code)."""
	with open(path, encoding="utf-8") as f:
		text = f.read()
	return re.sub(r"(?ms)^\s*(```+|~~~+).*?^\s*\1\s*$", "", text)


class Server:
	"""A real kiln server on a free port with a fresh data directory."""

	def __init__(self, tmp):
		self.dir = tempfile.mkdtemp(dir=tmp, prefix="server.")
		port_file = os.path.join(self.dir, "port")
		self.log = open(os.path.join(self.dir, "log"), "w")
		self.proc = subprocess.Popen(
			[KILN, "server", "--listen", "127.0.0.1:0", "--self-profile=false",
			 "--port-file", port_file,
			 "--data-dir", os.path.join(self.dir, "data")],
			stdout=self.log, stderr=subprocess.STDOUT)
		deadline = time.time() + 20
		while time.time() < deadline and self.proc.poll() is None:
			if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
				break
			time.sleep(0.02)
		with open(port_file) as f:
			self.port = f.read().strip()
		self.url = f"http://127.0.0.1:{self.port}"

	def stop(self, where):
		self.proc.send_signal(signal.SIGTERM)
		try:
			rc = self.proc.wait(timeout=40)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			rc = "timeout"
		self.log.close()
		if rc != 0:
			with open(self.log.name) as f:
				fail(where, f"kiln server exited {rc}: {f.read()[-600:]}")


def rewrite(cmd, server):
	"""Points the documented default address at the test's server."""
	if server is None:
		return cmd
	for host in ("http://127.0.0.1:4040", "http://localhost:4040"):
		cmd = cmd.replace(host, server.url)
	return re.sub(r"\b(127\.0\.0\.1|localhost):4040\b", f"127.0.0.1:{server.port}", cmd)


def run(cmd, cwd, env, strict=True):
	"""bash [-e -o pipefail] -c cmd in its own process group, which is killed
	afterwards: nothing a block starts outlives it."""
	args = ["bash", "-e", "-o", "pipefail", "-c", cmd] if strict else ["bash", "-c", cmd]
	p = subprocess.Popen(args, cwd=cwd, env=env,
			     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
			     stderr=subprocess.STDOUT, start_new_session=True)
	try:
		out, _ = p.communicate(timeout=BLOCK_TIMEOUT)
		rc = p.returncode
	except subprocess.TimeoutExpired:
		rc = "timeout"
	try:
		os.killpg(p.pid, signal.SIGKILL)
	except ProcessLookupError:
		pass
	if rc == "timeout":
		out, _ = p.communicate()
	return rc, out.decode("utf-8", "replace")


def split_console(text):
	"""[(command, expected output)] of a transcript: `$ ` starts a command;
	a line ending in `\\` or `|`, or an open quote, continues it."""
	items, cmd, out = [], None, []
	lines = text.split("\n")
	i = 0
	while i < len(lines):
		line = lines[i]
		if line.startswith("$ "):
			if cmd is not None:
				items.append((cmd, "\n".join(out)))
			cmd, out = line[2:], []
			while i + 1 < len(lines) and (cmd.rstrip().endswith(("\\", "|")) or
						      cmd.count("'") % 2 == 1):
				i += 1
				cmd += "\n" + lines[i]
		elif cmd is not None:
			out.append(line)
		i += 1
	if cmd is not None:
		items.append((cmd, "\n".join(out)))
	return items


def matches(expected, actual, loose):
	"""`...` alone on a line matches any lines, inside a line any text.
	loose (```console json): whitespace is ignored everywhere."""
	if loose:
		exp = re.sub(r"\s+", "", expected)
		act = re.sub(r"\s+", "", actual)
		pat = ".*?".join(re.escape(p) for p in exp.split("..."))
		return re.fullmatch(pat, act, re.S) is not None
	exp = [l.rstrip() for l in expected.rstrip("\n").split("\n")] if expected.strip() else []
	act = actual.rstrip("\n")
	pat = ""
	for line in exp:
		if line.strip() == "...":
			pat += r"(?:[^\n]*\n)*?"
		else:
			pat += "[^\n]*?".join(re.escape(p) for p in line.split("...")) + r"\n"
	act_lines = "".join(l.rstrip() + "\n" for l in act.split("\n")) if act else ""
	return re.fullmatch(pat, act_lines, re.S) is not None


def check_c(where, body, tmp):
	"""A complete C example using the API must compile and link against libkiln."""
	out = os.path.join(tmp, "example")
	p = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", f"-I{SRC}/include", "-x", "c", "-",
			    "-x", "none", "-o", out, f"-L{BUILD}/lib", "-lkiln"], input=body.encode(),
			   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	if p.returncode != 0:
		fail(where, f"the C example does not build:\n{p.stdout.decode()[-1500:]}")


def check_env_names(rel, known):
	"""Every KILN_* name in the docs exists somewhere in the code."""
	with open(os.path.join(SRC, rel), encoding="utf-8") as f:
		text = f.read()
	for name in sorted(set(re.findall(r"\bKILN_[A-Z0-9_]*[A-Z0-9]\b", text))):
		if name not in known:
			fail(rel, f"{name} appears in no source, script or build file")


def known_env_names():
	names = set()
	for top in ("src", "include", "scripts", "examples", "packaging", "deploy", "bench",
		    "tests", "CMakeLists.txt", "Makefile", "web"):
		path = os.path.join(SRC, top)
		walk = [(os.path.dirname(path), [], [top])] if os.path.isfile(path) else os.walk(path)
		for d, _, files in walk:
			for fn in files:
				if fn.endswith((".md", ".png", ".gz", ".zst")) or fn in ("docs_run.py",
											     "t9200-docs.sh"):
					continue
				try:
					with open(os.path.join(d, fn), encoding="utf-8", errors="replace") as f:
						names.update(re.findall(r"KILN_[A-Z0-9_]*[A-Z0-9]", f.read()))
				except OSError:
					pass
	return names


def run_file(rel, tmp, env0, myapp):
	path = os.path.join(SRC, rel)
	blocks = [b for b in parse_blocks(path)]
	runnable = [b for b in blocks if b[1].split(" ")[0] in RUN_LANGS]
	for start, info, body in blocks:
		lang = info.split(" ")[0] if info else ""
		if not lang:
			fail(f"{rel}:{start}", "fenced block without an info string (sh, console, text, ...)")
		if lang == "sh" and re.search(r"(?m)^\$ ", body):
			fail(f"{rel}:{start}", "```sh block with `$ ` prompts: use ```console")
		if lang == "console" and not body.lstrip().startswith("$ "):
			fail(f"{rel}:{start}", "```console block must start with a `$ ` command")
	for start, info, body in blocks:
		if info.split(" ")[0] == "c" and "#include <kiln/kiln.h>" in body:
			check_c(f"{rel}:{start}", body, tmp)
	if not runnable:
		return 0
	work = os.path.join(tmp, "work", rel.replace("/", "_"))
	os.makedirs(work)
	for name in sorted(os.listdir(os.path.join(FIXTURES, "pprof"))):
		if name.endswith(".pb.gz"):
			os.symlink(os.path.join(FIXTURES, "pprof", name), os.path.join(work, name))
	shutil.copy(myapp, os.path.join(work, "myapp"))
	os.symlink(BUILD, os.path.join(work, "build"))			# as in the repository root
	os.symlink(os.path.join(SRC, "include"), os.path.join(work, "include"))
	with open(os.path.join(work, "myapp.c"), "w") as f:
		f.write(MYAPP_C)
	needs_server = any(re.search(r"(127\.0\.0\.1|localhost):4040|\$K\b|\$\{K\}", b[2])
			   for b in runnable)
	server = Server(tmp) if needs_server else None
	env = dict(env0)
	if server:
		env["K"] = server.url
	n = 0
	for start, info, body in runnable:
		where = f"{rel}:{start}"
		if info.split(" ")[0] == "sh":
			rc, out = run(rewrite(body, server), work, env)
			n += 1
			if rc != 0:
				fail(where, f"```sh block exited {rc}:\n{out[-1500:]}")
			continue
		loose = "json" in info.split(" ")[1:]
		for cmd, expected in split_console(body):
			rc, out = run(rewrite(cmd, server), work, env, strict=False)
			n += 1
			if rc == "timeout":
				fail(where, f"`{cmd}` timed out")
			elif not matches(expected, out, loose):
				fail(where, f"`{cmd}` printed:\n{out[-2000:]}\n--- expected:\n{expected}")
	if server:
		server.stop(rel)
	return n


def help_of(cmd, cache):
	if cmd not in cache:
		args = [KILN, "--help"] if cmd == "" else [KILN, cmd, "--help"]
		p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
		cache[cmd] = (p.returncode, p.stdout.decode("utf-8", "replace"))
	return cache[cmd]


def check_commands(rel, cache):
	"""`kiln CMD` and the flags after it, in code (inline and blocks)."""
	path = os.path.join(SRC, rel)
	snippets = []
	for start, info, body in parse_blocks(path):
		if info.split(" ")[0] in ("sh", "console", "text", "sh-norun", ""):
			snippets += re.sub(r"\\\n", " ", body).split("\n")
	snippets += re.findall(r"`([^`\n]+)`", prose(path))
	rc, top = help_of("", cache)
	commands = set(re.findall(r"(?m)^\s+([a-z][a-z-]+)\s", top))
	for s in snippets:
		# simple commands: split at shell separators, drop prompts, sudo, VAR=x
		for part in re.split(r"\$\(|[|;&()`]", s):
			words = part.split()
			while words and (words[0] in ("$", "sudo", "time", "exec", "nohup") or
					 re.match(r"^[A-Za-z_]\w*=", words[0])):
				words.pop(0)
			if len(words) < 2 or not (words[0] == "kiln" or words[0].endswith("/bin/kiln")):
				continue
			cmd = words[1]
			if cmd in ("--help", "-h", "--version"):
				continue
			if not re.fullmatch(r"[a-z][a-z-]*", cmd):
				continue
			if cmd not in commands:
				fail(rel, f"`kiln {cmd}` is not a command of `kiln --help` (in `{s.strip()}`)")
				continue
			_, text = help_of(cmd, cache)
			for w in words[2:]:
				if w == "--" or w.startswith("#"):
					break
				m = re.match(r"^(--?[a-zA-Z][\w-]*)", w)
				if not m or m.group(1) in ("--help", "-h"):
					continue
				flag = m.group(1)
				alts = [flag] + (["-" + flag] if not flag.startswith("--") else [])
				if not any(re.search(r"(?<![\w-])" + re.escape(a) + r"(?![\w-])", text)
					   for a in alts):
					fail(rel, f"`kiln {cmd} {flag}`: {flag} is not in `kiln {cmd} --help`")
	if rel == "docs/server.md":
		_, text = help_of("server", cache)
		for flag in set(re.findall(r"`(--[a-z][\w-]*)", prose(path))):
			if flag == "--help":
				continue
			if not re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text):
				fail(rel, f"{flag} is not in `kiln server --help`")


def slug(heading):
	s = heading.strip().lower()
	s = re.sub(r"[`*_~]|\[|\]\([^)]*\)", "", s)
	s = re.sub(r"[^\w\- ]", "", s)
	return s.replace(" ", "-")


def anchors(path):
	with open(path, encoding="utf-8") as f:
		text = prose(path)
	return {slug(h) for h in re.findall(r"(?m)^#{1,6}\s+(.*?)\s*$", text)}


def check_links(rel):
	path = os.path.join(SRC, rel)
	for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose(path)):
		if re.match(r"^[a-z]+:", target):
			continue
		file_part, _, frag = target.partition("#")
		dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part \
			else path
		if not os.path.exists(dest):
			fail(rel, f"link ({target}): {os.path.relpath(dest, SRC)} does not exist")
		elif frag and dest.endswith(".md") and frag not in anchors(dest):
			fail(rel, f"link ({target}): no heading #{frag} in {os.path.relpath(dest, SRC)}")


def check_paths(rel):
	"""Repository paths named in inline code (`src/store/wal.c`) exist."""
	for span in re.findall(r"`([^`\n]+)`", prose(os.path.join(SRC, rel))):
		m = re.fullmatch(r"((?:src|tests|bench|web|scripts|packaging|deploy|include|examples|"
				 r"docs|tools)/[\w./-]*)(?:[:(].*)?", span.strip())
		if m and not os.path.exists(os.path.join(SRC, m.group(1))):
			fail(rel, f"`{span}`: {m.group(1)} does not exist")


def main():
	tmp = tempfile.mkdtemp(prefix="kiln-docs.")
	try:
		bindir = os.path.dirname(os.path.abspath(KILN))
		libdir = os.path.join(BUILD, "lib")
		pcdir = os.path.join(tmp, "pkgconfig")
		os.makedirs(pcdir)
		with open(os.path.join(pcdir, "kiln.pc"), "w") as f:
			f.write(f"Name: kiln\nDescription: Kiln agent (build tree)\nVersion: 0\n"
				f"Cflags: -I{SRC}/include -I{BUILD}/include\n"
				f"Libs: -L{libdir} -Wl,-rpath,{libdir} -lkiln\n")
		env = dict(os.environ)
		env.update(PATH=bindir + ":" + env.get("PATH", ""), FIXTURES=FIXTURES,
			   KILN_LIB=os.path.join(libdir, "libkiln.so"), KILN_SRC=SRC,
			   LD_LIBRARY_PATH=libdir, PKG_CONFIG_PATH=pcdir, TZ="UTC")
		# the agent's children must not inherit the sanitizer's preload expectations
		env.pop("LD_PRELOAD", None)
		myapp = os.path.join(tmp, "myapp")
		with open(myapp + ".c", "w") as f:
			f.write(MYAPP_C)
		cc = subprocess.run(["cc", "-o", myapp, myapp + ".c", f"-I{SRC}/include",
				     f"-I{BUILD}/include", f"-L{libdir}", f"-Wl,-rpath,{libdir}", "-lkiln"],
				    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
		if cc.returncode != 0:
			print("FAIL: cannot build myapp:", cc.stdout.decode()[-800:])
			return 1
		cache, ran, known = {}, 0, known_env_names()
		for rel in FILES:
			t0 = time.time()
			n = 0 if CHECK_ONLY else run_file(rel, tmp, env, myapp)
			ran += n
			check_commands(rel, cache)
			check_links(rel)
			check_env_names(rel, known)
			check_paths(rel)
			print(f"{rel}: {n} commands run in {time.time() - t0:.1f} s")
		for f in failures:
			print("FAIL:", f)
		print(f"{len(FILES)} files, {ran} commands run, {len(failures)} failures")
		return 1 if failures else 0
	finally:
		shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
	sys.exit(main())
