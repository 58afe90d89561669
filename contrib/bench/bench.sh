#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Benchmark mailsync against mbsync (isync) on a generated corpus served by a
# throwaway Dovecot on loopback; prints a markdown table.  See README here.
#
# usage: contrib/bench/bench.sh [--messages N] [--reps R] [--quick] [--s7] [--s7-messages N] [--out FILE]
#
# Environment: MAILSYNC (default: _build/mailsync of this checkout), MBSYNC
# (default: mbsync on PATH), TMPDIR (where the corpus and Maildirs go; it
# needs about 5 times the corpus size, or 13 KiB a message of S7 when that is
# more, and write_bytes is only meaningful on a disk file system, not tmpfs),
# BENCH_TIMEOUT (seconds one run may take before it is killed and counted
# FAILED; default 3600).

set -u

usage() {
	sed -n '6p' "$0" | sed 's/^# //' >&2
	exit 2
}

N=
QUICK=0
REPS=3
S7=0
N7=200000
OUTFILE=
while [ $# -gt 0 ]; do
	case "$1" in
	--messages) [ $# -ge 2 ] || usage; N=$2; shift 2 ;;
	--messages=*) N=${1#*=}; shift ;;
	--reps) [ $# -ge 2 ] || usage; REPS=$2; shift 2 ;;
	--reps=*) REPS=${1#*=}; shift ;;
	--quick) QUICK=1; shift ;;
	--s7) S7=1; shift ;;
	--s7-messages) [ $# -ge 2 ] || usage; S7=1; N7=$2; shift 2 ;;
	--s7-messages=*) S7=1; N7=${1#*=}; shift ;;
	--out) [ $# -ge 2 ] || usage; OUTFILE=$2; shift 2 ;;
	--out=*) OUTFILE=${1#*=}; shift ;;
	-h|--help) usage ;;
	*) echo "bench.sh: unknown argument: $1" >&2; usage ;;
	esac
done
if [ -z "$N" ]; then
	if [ "$QUICK" = 1 ]; then N=2000; else N=20000; fi
fi
case "$N$REPS$N7" in
*[!0-9]*) echo "bench.sh: --messages, --reps and --s7-messages take numbers" >&2; exit 2 ;;
esac
[ "$N" -ge 100 ] || { echo "bench.sh: --messages must be at least 100" >&2; exit 2; }
[ "$N7" -ge 100 ] || { echo "bench.sh: --s7-messages must be at least 100" >&2; exit 2; }
[ "$REPS" -ge 1 ] || { echo "bench.sh: --reps must be at least 1" >&2; exit 2; }
case "$OUTFILE" in
''|/*) ;;
*) OUTFILE=$(pwd)/$OUTFILE ;;
esac

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
: "${MAILSYNC:=$TOP/_build/mailsync}"
case "$MAILSYNC" in
/*) ;;
*) MAILSYNC=$(pwd)/$MAILSYNC ;;
esac
: "${MBSYNC:=mbsync}"
TESTS_SRCDIR=$TOP/tests
export MAILSYNC TESTS_SRCDIR

for p in python3 "$MBSYNC" dovecot doveadm openssl /usr/bin/time; do
	command -v "$p" >/dev/null 2>&1 || {
		echo "bench.sh: $p is required (apt-get install isync dovecot-imapd python3 openssl time)" >&2
		exit 1
	}
done

# shellcheck source=../../tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"
# lib.sh speaks TAP on stdout; the benchmark reports on stderr instead.
bail() { echo "bench.sh: $*" >&2; exit 1; }
skip_all() { bail "$*"; }

say() { printf '[bench] %s\n' "$*" >&2; }

# Change sizes scale with the corpus: 1% of the messages get flagged (S3),
# N/40 are moved (S4, marked by the generator) and N/100 are new (S5); at the
# default 20,000 that is 200, 500 and 200.
NNEW=$((N / 100))
PASS=secret
PY=$T/benchlib.py
RES=$T/results
mkdir -p "$RES" "$T/logs" "$T/run"

cat >"$PY" <<'PYEOF'
# Helpers for bench.sh: corpus generation, measured runs, checks, the table.
import base64
import bisect
import email.utils
import imaplib
import json
import os
import random
import re
import signal
import ssl
import statistics
import subprocess
import sys
import threading
import time

SEED = 20240229
FOLDERS = [
	("INBOX", 0.25), ("Archive", 0.30), ("Sent", 0.12), ("Work", 0.08),
	("Work/Projects", 0.07), ("Lists/dev", 0.09), ("Lists/announce", 0.05),
	("Receipts", 0.04),
]
NAMES = ["Alice Martin", "Bob Chen", "Carol Diaz", "Dan Okafor", "Eve Novak",
	"Frank Weber", "Grace Kim", "Heidi Larsen", "Ivan Petrov", "Judy Singh"]


def pools(rng):
	syll = ["ka", "lo", "mi", "ne", "ru", "sta", "ver", "on", "ti", "bel",
		"qua", "dor", "pe", "an", "is", "ex", "mor", "gen", "tal", "fu"]
	words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4)))
		for _ in range(400)]
	lines = []
	size = 0
	while size < 1 << 20:
		line = []
		n = 0
		while n < 66:
			w = rng.choice(words)
			line.append(w)
			n += len(w) + 1
		s = " ".join(line) + "\n"
		if rng.random() < 0.12:
			s += "\n"
		lines.append(s)
		size += len(s)
	text = "".join(lines).encode()
	b64 = base64.encodebytes(rng.randbytes(3 << 20))
	return words, text, b64


def line_starts(buf):
	starts = [0]
	i = buf.find(b"\n")
	while i >= 0:
		starts.append(i + 1)
		i = buf.find(b"\n", i + 1)
	return starts


def take(rng, buf, starts, length):
	# Whole lines from a random point, about length bytes.
	limit = len(buf) - length - 200
	s = starts[bisect.bisect_left(starts, rng.randrange(max(1, limit)))]
	e = buf.find(b"\n", s + max(1, length))
	return buf[s:e + 1] if e >= 0 else buf[s:]


def target_size(rng):
	u = rng.random()
	if u < 0.90:
		lo, hi = 2 << 10, 20 << 10
	elif u < 0.985:
		lo, hi = 20 << 10, 200 << 10
	else:
		lo, hi = 200 << 10, 2 << 20
	return int(lo * (hi / lo) ** rng.random())


def target_small(rng):
	# S7's corpus: 1-4 KiB each, so that a large one stays affordable.
	return int(1024 * 4 ** rng.random())


class Maker:
	def __init__(self, seed):
		self.rng = random.Random(seed)
		self.words, self.text, self.b64 = pools(self.rng)
		self.tstarts = line_starts(self.text)
		self.bstarts = line_starts(self.b64)

	def message(self, mid, ts, size, extra=""):
		rng = self.rng
		frm, to = rng.sample(NAMES, 2)
		subj = " ".join(rng.choice(self.words)
		    for _ in range(rng.randint(2, 8)))
		hdr = ("Return-Path: <%s@example.org>\n"
		    "Received: from mx.example.org (mx.example.org [192.0.2.7])\n"
		    "\tby imap.example.org with ESMTPS id %s\n"
		    "\tfor <%s@example.org>; %s\n"
		    "From: %s <%s@example.org>\n"
		    "To: %s <%s@example.org>\n"
		    "Subject: %s\n"
		    "Date: %s\n"
		    "Message-ID: <%s@bench.example.org>\n"
		    "X-Test-Id: %s\n%s"
		    "MIME-Version: 1.0\n") % (
		    frm.split()[0].lower(), mid, to.split()[0].lower(),
		    email.utils.formatdate(ts), frm, frm.split()[0].lower(),
		    to, to.split()[0].lower(), subj,
		    email.utils.formatdate(ts), mid, mid, extra)
		hdr = hdr.encode()
		room = max(200, size - len(hdr))
		if size < 20 << 10:
			body = take(rng, self.text, self.tstarts, room - 80)
			return hdr + (b"Content-Type: text/plain; charset=utf-8\n"
			    b"Content-Transfer-Encoding: 8bit\n\n") + body
		bnd = ("=_bench_%s" % mid).encode()
		intro = take(rng, self.text, self.tstarts, rng.randint(300, 3000))
		att = take(rng, self.b64, self.bstarts,
		    max(100, room - len(intro) - 400))
		return hdr + b"Content-Type: multipart/mixed; boundary=\"" + \
		    bnd + b"\"\n\nThis is a multi-part message in MIME format.\n" \
		    b"\n--" + bnd + b"\nContent-Type: text/plain; charset=utf-8\n" \
		    b"\n" + intro + b"\n--" + bnd + \
		    b"\nContent-Type: application/octet-stream\n" \
		    b"Content-Disposition: attachment; filename=\"" + \
		    mid.encode() + b".bin\"\n" \
		    b"Content-Transfer-Encoding: base64\n\n" + att + \
		    b"\n--" + bnd + b"--\n"


def server_dir(root, folder):
	# Dovecot's default Maildir++ layout: INBOX is the root.
	if folder == "INBOX":
		return root
	return os.path.join(root, "." + folder.replace("/", "."))


def write_file(d, sub, name, data, ts):
	path = os.path.join(d, sub, name)
	fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
	try:
		os.write(fd, data)
	finally:
		os.close(fd)
	os.utime(path, (ts, ts))


def cmd_gen(root, n, kind="mixed"):
	"""gen ROOT N [small]: write the corpus as a Dovecot Maildir++ tree;
	small: every message 1-4 KiB."""
	n = int(n)
	size = target_small if kind == "small" else target_size
	mk = Maker(SEED)
	rng = random.Random(SEED + 1)
	names = [f for f, _ in FOLDERS]
	weights = [w for _, w in FOLDERS]
	plan = [(rng.choices(names, weights)[0], size(rng), rng.random())
	    for _ in range(n)]
	archive = [i for i, p in enumerate(plan) if p[0] == "Archive"]
	nmove = n // 40
	step = max(1, len(archive) // max(1, nmove))
	moveset = set(archive[::step][:nmove])
	for f in names:
		d = server_dir(root, f)
		for sub in ("cur", "new", "tmp"):
			os.makedirs(os.path.join(d, sub), exist_ok=True)
		if f != "INBOX":
			open(os.path.join(d, "maildirfolder"), "w").close()
	t0 = 1640995200		# 2022-01-01
	span = 2 * 365 * 86400
	total = 0
	for i, (folder, size, u) in enumerate(plan):
		mid = "m%06d" % i
		sets = []
		if i % 100 == 37:
			sets.append("flagset")
		if i in moveset:
			sets.append("moveset")
		extra = "X-Bench-Set: %s\n" % " ".join(sets) if sets else ""
		ts = t0 + i * span // n + mk.rng.randrange(3600)
		data = mk.message(mid, ts, size, extra)
		flags = ""
		if u < 0.03 and i % 100 != 37:
			flags += "F"
		if u < 0.85:
			if u > 0.79:
				flags += "R"
			flags += "S"
		name = "%d.M%dP1.bench,S=%d,W=%d:2,%s" % (ts, i, len(data),
		    len(data) + data.count(b"\n"), flags)
		write_file(server_dir(root, folder), "cur", name, data, ts)
		total += len(data)
	print("%d %d" % (n, total))


def cmd_new(rep, count, *dirs):
	"""new REP COUNT MAILDIR...: the same new messages into each INBOX/new."""
	rep = int(rep)
	mk = Maker(SEED + 1000 + rep)
	ts = 1720000000 + rep * 86400
	for j in range(int(count)):
		mid = "n%02d%05d" % (rep, j)
		data = mk.message(mid, ts + j, target_size(mk.rng) if j % 10
		    else 4096)
		name = "%d.N%dP%d.bench" % (ts + j, j, rep)
		for d in dirs:
			inbox = os.path.join(d, "INBOX")
			for sub in ("tmp", "new"):
				os.makedirs(os.path.join(inbox, sub), exist_ok=True)
			write_file(inbox, "tmp", name, data, ts + j)
			os.rename(os.path.join(inbox, "tmp", name),
			    os.path.join(inbox, "new", name))


def cmd_measure(out, log, *cmd):
	"""measure OUT LOG CMD...: run CMD; OUT gets rc, wall, cpu, rss, io."""
	limit = int(os.environ.get("BENCH_TIMEOUT", "3600"))
	# The command's output and time(1)'s report must not count as its
	# file system writes: the output goes through a pipe, the report to
	# tmpfs where there is one.
	shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else \
	    os.path.dirname(out)
	tfile = os.path.join(shm, "bench-time.%d" % os.getpid())
	rfd, wfd = os.pipe()
	t0 = time.monotonic()
	pid = os.fork()
	if pid == 0:
		# GNU time, not this process, forks the command: a process keeps
		# the peak RSS of the image it exec'ed from, and Python's would
		# hide a small tool's.
		try:
			os.setpgid(0, 0)
			os.close(rfd)
			os.dup2(wfd, 1)
			os.dup2(wfd, 2)
			nul = os.open(os.devnull, os.O_RDONLY)
			os.dup2(nul, 0)
			os.execv("/usr/bin/time", ["time", "-f", "%U %S %M",
			    "-o", tfile, "--"] + list(cmd))
		except OSError as e:
			os.write(2, ("exec /usr/bin/time: %s\n" % e).encode())
		os._exit(127)
	os.close(wfd)

	def drain():
		with open(log, "wb") as fp:
			while True:
				b = os.read(rfd, 65536)
				if not b:
					break
				fp.write(b)
		os.close(rfd)
	reader = threading.Thread(target=drain)
	reader.start()
	timed_out = []

	def expire(signum, frame):
		timed_out.append(1)
		try:
			os.killpg(pid, signal.SIGKILL)
		except OSError:
			pass
	signal.signal(signal.SIGALRM, expire)
	signal.alarm(limit)
	# Read the I/O counters while time(1) is a zombie: they include those
	# of the command it reaped.
	os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
	signal.alarm(0)
	wall = time.monotonic() - t0
	wbytes = -1
	try:
		with open("/proc/%d/io" % pid) as fp:
			for line in fp:
				k, v = line.split(":")
				if k == "write_bytes":
					wbytes = int(v)
	except OSError:
		pass
	_, status, _ = os.wait4(pid, 0)
	reader.join()
	rc = os.waitstatus_to_exitcode(status)
	cpu, rss = 0.0, 0
	try:
		with open(tfile) as fp:
			lines = fp.read().splitlines()
		os.unlink(tfile)
		for line in lines:
			if line.startswith("Command terminated by signal"):
				rc = 128 + int(line.split()[-1])
		u, s, m = lines[-1].split()
		cpu, rss = float(u) + float(s), int(m)
	except (OSError, ValueError, IndexError):
		pass
	if timed_out:
		rc = 124
		with open(log, "a") as fp:
			fp.write("killed after %d s (BENCH_TIMEOUT)\n" % limit)
	with open(out, "w") as fp:
		fp.write("%d %.3f %.3f %d %d\n" % (rc, wall, cpu, rss, wbytes))
	return 0


# mbsync -Dd logs each call of its drivers; a message fetched from the server
# (the far side) for copying is one fetch_msg there.
MBSYNC_FETCH = re.compile(rb"^F: \[ *\d+\] Enter fetch_msg,")
MBSYNC_DEBUG = re.compile(rb"^[FN]: \[ *\d+\] Enter load_box,")


def cmd_bodies(tool, log):
	"""bodies TOOL LOG: the message bodies fetched from the server in a run
	logged with mailsync --json (its "pulled" count) or with mbsync -Dd;
	nothing when the log does not tell."""
	n = 0
	told = False
	with open(log, "rb") as fp:
		for line in fp:
			if tool == "mailsync":
				if line.startswith(b'{"channel":'):
					obj = json.loads(line)
					n += obj["pulled"]["messages"]
					told = True
			elif MBSYNC_FETCH.match(line):
				n += 1
			elif MBSYNC_DEBUG.match(line):
				told = True
	if told:
		print(n)
	return 0


def cmd_stored(root):
	"""stored ROOT: bytes of the message files in a Maildir tree."""
	total = 0
	for dirpath, dirnames, _ in os.walk(root):
		for sub in ("cur", "new"):
			if sub in dirnames:
				for e in os.scandir(os.path.join(dirpath, sub)):
					total += e.stat().st_size
		dirnames[:] = [d for d in dirnames
		    if d not in ("cur", "new", "tmp")]
	print(total)
	return 0


def doveadm(conf, *args):
	return subprocess.run(["doveadm", "-c", conf] + list(args),
	    capture_output=True, text=True, check=True).stdout


def cmd_check(conf, user, root):
	"""check CONF USER ROOT: per-folder counts and flagged count agree."""
	srv = {}
	out = doveadm(conf, "-f", "tab", "mailbox", "status", "-u", user,
	    "messages", "*")
	for line in out.splitlines()[1:]:
		name, _, cnt = line.rpartition("\t")
		srv[name] = int(cnt)
	sflag = len(doveadm(conf, "search", "-u", user, "mailbox", "*",
	    "flagged").splitlines())
	loc = {}
	lflag = 0
	for dirpath, dirnames, _ in os.walk(root):
		if "cur" not in dirnames:
			continue
		name = os.path.relpath(dirpath, root)
		cnt = 0
		for sub in ("cur", "new"):
			for e in os.scandir(os.path.join(dirpath, sub)):
				cnt += 1
				fl = e.name.rpartition(":2,")[2] \
				    if ":2," in e.name else ""
				if "F" in fl:
					lflag += 1
		loc[name] = cnt
		dirnames[:] = [d for d in dirnames
		    if d not in ("cur", "new", "tmp")]
	bad = []
	for f in sorted(set(srv) | set(loc)):
		if srv.get(f, 0) != loc.get(f, 0):
			bad.append("%s %s/%s" % (f, loc.get(f, "-"),
			    srv.get(f, "-")))
	if sflag != lflag:
		bad.append("flagged %d/%d" % (lflag, sflag))
	if bad:
		msg = "local/server counts differ: " + ", ".join(bad)
		print(msg if len(msg) < 200 else msg[:196] + " ...")
		return 1
	return 0


def login(port, user, password, ca):
	ctx = ssl.create_default_context(cafile=ca)
	im = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx)
	im.login(user, password)
	return im


def folders(im):
	typ, data = im.list('""', "*")
	names = []
	for item in data:
		if isinstance(item, tuple):
			item = item[0]
		m = re.match(rb'\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.*)$',
		    item)
		if not m or b"\\Noselect" in m.group(1):
			continue
		n = m.group(2)
		if n.startswith(b'"'):
			n = n[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
		names.append(n.decode())
	return names


def cmd_fetch(port, user, password, ca, what):
	"""fetch PORT USER PASS CA body|meta: one session over every folder."""
	im = login(port, user, password, ca)
	items = "(BODY.PEEK[])" if what == "body" else \
	    "(FLAGS RFC822.SIZE INTERNALDATE " \
	    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
	n = 0
	for f in folders(im):
		typ, data = im.select('"%s"' % f, readonly=True)
		if typ != "OK" or int(data[0]) == 0:
			continue
		typ, data = im.uid("FETCH", "1:*", items)
		if typ != "OK":
			raise SystemExit("UID FETCH in %s failed" % f)
		n += sum(1 for d in data if isinstance(d, tuple))
		del data
	im.logout()
	print(n)
	return 0


def log_size(path):
	try:
		return os.path.getsize(path)
	except OSError:
		return 0


def wait_until(cond, limit, step=0.02):
	"""Poll cond() every step seconds for at most limit seconds; the time
	from the call to the first true result, or None."""
	t0 = time.monotonic()
	while True:
		if cond():
			return time.monotonic() - t0
		if time.monotonic() - t0 > limit:
			return None
		time.sleep(step)


def quiet(log, still=2.5, limit=60):
	"""Wait until the watcher has logged nothing for `still` seconds (with
	-v it logs every sync, including the one that echoes a change)."""
	t0 = time.monotonic()
	size, since = log_size(log), time.monotonic()
	while time.monotonic() - t0 < limit:
		time.sleep(0.1)
		n = log_size(log)
		if n != size:
			size, since = n, time.monotonic()
		elif time.monotonic() - since >= still:
			return


def test_id(path):
	with open(path, "rb") as fp:
		head = fp.read(8192)
	m = re.search(rb"^X-Test-Id: *(\S+)", head, re.M)
	return m.group(1).decode() if m else None


def bases(inbox):
	"""The message file names of a Maildir folder, without flags."""
	return {e.rpartition(":2,")[0] or e for sub in ("cur", "new")
	    for e in os.listdir(os.path.join(inbox, sub))}


def proc_usage(pid):
	"""CPU seconds, peak RSS in KiB and bytes written of a live process."""
	with open("/proc/%d/stat" % pid) as fp:
		f = fp.read().rpartition(")")[2].split()
	cpu = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
	rss = wb = -1
	with open("/proc/%d/status" % pid) as fp:
		for line in fp:
			if line.startswith("VmHWM:"):
				rss = int(line.split()[1])
	try:
		with open("/proc/%d/io" % pid) as fp:
			for line in fp:
				if line.startswith("write_bytes:"):
					wb = int(line.split()[1])
	except OSError:
		pass
	return cpu, rss, wb


WATCH_KINDS = ("srv_flag", "srv_new", "disk_flag", "disk_new")


def cmd_watch(out, log, mailsync, conf, root, dconf, user, port, password,
    ca, trials):
	"""watch OUT LOG MAILSYNC CONF ROOT DCONF USER PORT PASS CA TRIALS:
	run mailsync -w and time TRIALS changes of each kind until they show
	on the other side.  OUT gets a line per kind (its latencies, -1 for a
	change not seen within 30 s) and "proc CPU_S RSS_KIB WBYTES RC"."""
	trials = int(trials)
	limit = int(os.environ.get("BENCH_TIMEOUT", "3600"))
	inbox = os.path.join(root, "INBOX")
	res = {k: [] for k in WATCH_KINDS}
	errf = open(log, "wb")
	proc = subprocess.Popen([mailsync, "-v", "-w", "-c", conf, "-a"],
	    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf,
	    start_new_session=True)
	errf.close()
	usage = (-1.0, -1, -1)
	rc = -1
	try:
		def ready():
			with open(log, "rb") as fp:
				t = fp.read()
			if proc.poll() is not None:
				raise SystemExit("mailsync -w exited with %d" %
				    proc.returncode)
			watching = rb"watching .* with (NOTIFY|IDLE)"
			synced = rb" \S+: \d+ folders?,"
			return re.search(watching, t) and re.search(synced, t)
		if wait_until(ready, limit, 0.2) is None:
			raise SystemExit("mailsync -w did not start watching")
		quiet(log)
		# messages to flag: unflagged ones of INBOX, with their UIDs
		im = login(port, user, password, ca)
		typ, sel = im.select("INBOX", readonly=True)
		if typ != "OK":
			raise SystemExit("EXAMINE INBOX failed")
		cand = []
		for e in sorted(os.listdir(os.path.join(inbox, "cur"))):
			if "F" in e.rpartition(":2,")[2] or ":2," not in e:
				continue
			mid = test_id(os.path.join(inbox, "cur", e))
			if mid is None:
				continue
			typ, data = im.uid("SEARCH", "HEADER", "X-Test-Id", mid)
			uids = data[0].split() if typ == "OK" else []
			if len(uids) == 1:
				cand.append((e, mid, uids[0].decode()))
			if len(cand) == 2 * trials:
				break
		if len(cand) < 2 * trials:
			raise SystemExit("too few unflagged messages in INBOX")

		def local_flagged(base):
			return any(e.startswith(base + ":2,") and
			    "F" in e.rpartition(":2,")[2]
			    for e in os.listdir(os.path.join(inbox, "cur")))

		# imaplib hands out every FETCH the server sent since the last
		# look, other messages' too: only the one for uid counts.
		def server_flagged(uid):
			im.noop()
			typ, data = im.uid("FETCH", uid, "(FLAGS)")
			want = ("UID %s " % uid).encode()
			return typ == "OK" and any(want in d and
			    b"\\Flagged" in d for d in data
			    if isinstance(d, bytes))

		# STATUS of the selected folder tells what the session last
		# saw; NOOP brings the news (EXISTS).
		exists = [int(sel[-1])]

		def server_count():
			im.noop()
			n = im.response("EXISTS")[1][-1]
			if n is not None:
				exists[0] = int(n)
			return exists[0]

		def message(mid):
			return ("From: Bench <bench@example.org>\n"
			    "To: You <you@example.org>\nSubject: watch %s\n"
			    "Date: %s\nMessage-ID: <%s@bench.example.org>\n"
			    "X-Test-Id: %s\n\nA new message.\n" % (mid,
			    email.utils.formatdate(), mid, mid)).encode()

		for t in range(trials):
			quiet(log)
			name, mid, uid = cand[2 * t]
			base = name.rpartition(":2,")[0]
			doveadm(dconf, "flags", "add", "-u", user, "\\Flagged",
			    "mailbox", "INBOX", "uid", uid)
			res["srv_flag"].append(wait_until(
			    lambda: local_flagged(base), 30))

			quiet(log)
			before = bases(inbox)
			subprocess.run(["doveadm", "-c", dconf, "save", "-u",
			    user, "-m", "INBOX"], input=message("ws%02d" % t),
			    check=True)
			res["srv_new"].append(wait_until(
			    lambda: len(bases(inbox) - before) > 0, 30))

			quiet(log)
			name, mid, uid = cand[2 * t + 1]
			flags = name.rpartition(":2,")[2]
			new = name.rpartition(":2,")[0] + ":2," + \
			    "".join(sorted(flags + "F"))
			os.rename(os.path.join(inbox, "cur", name),
			    os.path.join(inbox, "cur", new))
			res["disk_flag"].append(wait_until(
			    lambda: server_flagged(uid), 30))

			quiet(log)
			n0 = server_count()
			fn = "%d.W%dP%d.bench" % (time.time(), t, os.getpid())
			write_file(inbox, "tmp", fn, message("wd%02d" % t),
			    time.time())
			os.rename(os.path.join(inbox, "tmp", fn),
			    os.path.join(inbox, "new", fn))
			res["disk_new"].append(wait_until(
			    lambda: server_count() > n0, 30))
			sys.stderr.write("[bench] W trial %d: %s\n" % (t + 1,
			    " ".join("%s %s" % (k, "-" if res[k][-1] is None
			    else "%.2fs" % res[k][-1]) for k in WATCH_KINDS)))
		im.logout()
		usage = proc_usage(proc.pid)
	finally:
		if proc.poll() is None:
			proc.send_signal(signal.SIGTERM)
			try:
				rc = proc.wait(30)
			except subprocess.TimeoutExpired:
				os.killpg(proc.pid, signal.SIGKILL)
				proc.wait()
		else:
			rc = proc.returncode
		with open(out, "w") as fp:
			for k in WATCH_KINDS:
				lat = ("-1" if x is None else "%.3f" % x
				    for x in res[k])
				fp.write("%s %s\n" % (k, " ".join(lat)))
			fp.write("proc %.3f %d %d %d\n" % (usage + (rc,)))
	return 0


def watch_cells(resdir, notes):
	"""The W row's cells, from RESDIR/W."""
	lat = {}
	proc = None
	try:
		with open(os.path.join(resdir, "W")) as fp:
			for line in fp:
				f = line.split()
				if f and f[0] == "proc":
					proc = (float(f[1]), int(f[2]),
					    int(f[3]), int(f[4]))
				elif f:
					lat[f[0]] = [float(x) for x in f[1:]]
	except (OSError, ValueError, IndexError):
		pass
	cells = []
	for k in WATCH_KINDS:
		v = lat.get(k, [])
		if not v or min(v) < 0:
			cells.append("FAILED")
			notes.append("mailsync W %s FAILED (%s)" % (k,
			    "%d of %d changes not seen within 30 s" % (
			    sum(1 for x in v if x < 0), len(v)) if v
			    else "not run"))
		else:
			cells.append("%.2f" % statistics.median(v))
	if proc is not None and proc[3] != 0:
		notes.append("mailsync W: exit %d after SIGTERM" % proc[3])
	if proc is None or proc[0] < 0:
		return cells, "—", "—", "—"
	return cells, "%.2f" % proc[0], "%.1f" % (proc[1] / 1024.0), \
	    "—" if proc[2] < 0 else "%.1f" % (proc[2] / 1048576.0)


def read_result(path):
	try:
		with open(path) as fp:
			rc, wall, cpu, rss, wb = fp.read().split()
	except (OSError, ValueError):
		return None
	return int(rc), float(wall), float(cpu), int(rss), int(wb)


def read_check(base):
	try:
		with open(base + ".check") as fp:
			return fp.read().strip()
	except OSError:
		return ""


def run_failure(base, what):
	"""Why the run recorded at BASE does not count, or None."""
	res = read_result(base)
	chk = read_check(base)
	if res is None:
		return "%s: not run" % what
	if res[0] != 0:
		return "%s: exit %d%s" % (what, res[0],
		    (": " + chk) if chk else "")
	if chk:
		return "%s: %s" % (what, chk)
	return None


MIB = 1048576.0


def timed_cells(resdir, key, tool, reps, notes):
	"""Median wall s, median CPU s, peak RSS MiB, median FS write MiB of
	the repetitions, or None when one of them failed."""
	runs = []
	for r in range(1, reps + 1):
		base = os.path.join(resdir, "%s.%s.%d" % (key, tool, r))
		why = run_failure(base, "rep %d" % r)
		if why:
			notes.append("%s %s FAILED (%s)" % (tool, key, why))
			return None
		runs.append(read_result(base))
	return (statistics.median(x[1] for x in runs),
	    statistics.median(x[2] for x in runs),
	    max(x[3] for x in runs) / 1024.0,
	    statistics.median(x[4] for x in runs) / MIB)


def counted_cells(resdir, key, tool, notes):
	"""MiB to the tool, MiB from it and bodies fetched in the count run,
	or None."""
	base = os.path.join(resdir, "%s.%s.count" % (key, tool))
	why = run_failure(base, "count run")
	if why is None:
		try:
			with open(base + ".wire") as fp:
				tin, tout, _ = (int(x)
				    for x in fp.read().split())
			with open(base + ".bodies") as fp:
				bodies = int(fp.read())
		except (OSError, ValueError):
			why = "count run: no counts"
	if why:
		notes.append("%s %s wire/bodies FAILED (%s)" % (tool, key, why))
		return None
	return tin / MIB, tout / MIB, bodies


def mib(v):
	# Three significant digits or so: a resync moves kilobytes.
	return "%.1f" % v if v >= 10 else "%.2f" % v if v >= 1 else "%.3f" % v


def read_ints(path):
	try:
		with open(path) as fp:
			return [int(x) for x in fp.read().split()]
	except (OSError, ValueError):
		return None


def stored_line(resdir, timed):
	parts = []
	for tool in ("mailsync", "mbsync"):
		c = timed[("S1", tool)]
		st = read_ints(os.path.join(resdir, "S1.%s.stored" % tool))
		if c is None or not st or st[0] <= 0:
			parts.append("%s —" % tool)
			continue
		parts.append("%s %.1f MiB written / %.1f MiB stored = %.2f%s"
		    % (tool, c[3], st[0] / MIB, c[3] * MIB / st[0],
		    " (target <= 1.5)" if tool == "mailsync" else ""))
	print("S1 FS writes / bytes of mail stored (the message files of the "
	    "Maildir, last repetition): %s." % "; ".join(parts))


def s7_lines(resdir, timed, nmsg, n7, notes):
	gen = read_ints(os.path.join(resdir, "S7.gen"))
	init = []
	for tool in ("mailsync", "mbsync"):
		base = os.path.join(resdir, "S7init.%s.1" % tool)
		why = run_failure(base, "initial sync")
		if why:
			notes.append("%s S7 FAILED (%s)" % (tool, why))
			init.append("%s FAILED" % tool)
		else:
			init.append("%s %.1f s" % (tool, read_result(base)[1]))
	print("S7 setup, not timed: %s; initial syncs %s (mbsync with FSync "
	    "no)." % ("%d messages of 1-4 KiB, %.0f MiB, generated in %d s" %
	    (gen[0], gen[1] / MIB, gen[2]) if gen and len(gen) == 3 else
	    "corpus FAILED", ", ".join(init)))
	rel = ["%s %.2fx" % (t, timed[("S7", t)][0] / timed[("S2", t)][0])
	    for t in ("mailsync", "mbsync")
	    if timed[("S7", t)] and timed[("S2", t)] and
	    timed[("S2", t)][0] > 0]
	print("S7 / S2 median (no-change resync, %d vs %d messages): %s." % (
	    n7, nmsg, ", ".join(rel) if rel else "—"))


STATUS_LINE = re.compile(
    rb'^(?:"((?:[^"\\]|\\.)*)"|(\S+)) \((.*)\)$')


def cmd_s3floor(port, user, password, ca, statefile, out):
	"""s3floor PORT USER PASS CA STATEFILE OUT|-: what S3 asks of the
	server at least, in one session: LIST-STATUS, then SELECT (QRESYNC
	(uidvalidity modseq)), which answers with the changes, in each folder
	whose HIGHESTMODSEQ moved since the last call (kept in STATEFILE).  OUT gets a result line as measure
	writes it, with the session's own time (no interpreter start); "-"
	only records the modseqs."""
	try:
		with open(statefile) as fp:
			before = json.load(fp)
	except (OSError, ValueError):
		before = {}
	t0 = time.monotonic()
	im = login(port, user, password, ca)
	im.enable("QRESYNC")
	typ, _ = im._simple_command("LIST", '""', '"*"', "RETURN",
	    "(STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ))")
	if typ != "OK":
		raise SystemExit("LIST-STATUS failed")
	_, lines = im._untagged_response(typ, [None], "STATUS")
	now, uidv = {}, {}
	for line in lines or []:
		m = STATUS_LINE.match(line or b"")
		if not m:
			continue
		name = (m.group(1) or m.group(2)).decode()
		f = m.group(3).split()
		now[name] = int(f[f.index(b"HIGHESTMODSEQ") + 1])
		uidv[name] = int(f[f.index(b"UIDVALIDITY") + 1])
	for name, modseq in sorted(now.items()):
		if out == "-" or before.get(name, modseq) == modseq:
			continue
		typ, _ = im._simple_command("SELECT", '"%s"' % name,
		    "(QRESYNC (%d %d))" % (uidv[name], before[name]))
		if typ != "OK":
			raise SystemExit("SELECT (QRESYNC) %s failed" % name)
	im.logout()
	wall = time.monotonic() - t0
	with open(statefile, "w") as fp:
		json.dump(now, fp)
	if out != "-":
		with open(out, "w") as fp:
			fp.write("0 %.3f 0 0 -1\n" % wall)
	return 0


def floor_cells(resdir, base, key, reps, timed):
	"""Median wall and CPU s of the floor runs BASE.1..REPS, and the text
	giving each tool's KEY time as a multiple of it; None when none
	counts."""
	runs = [read_result(os.path.join(resdir, "%s.%d" % (base, r)))
	    for r in range(1, reps + 1)]
	runs = [x for x in runs if x is not None and x[0] == 0]
	if not runs:
		return None, None, None
	fw = statistics.median(x[1] for x in runs)
	fc = statistics.median(x[2] for x in runs)
	rel = "".join(", %s %s = %.2fx floor" % (t, key,
	    timed[(key, t)][0] / fw) for t in ("mailsync", "mbsync")
	    if timed[(key, t)] and fw > 0)
	return fw, fc, rel


def cmd_table(resdir, reps, nmsg, n7):
	"""table RESDIR REPS N N7: the markdown table and notes; N7 is S7's
	corpus size, 0 when S7 did not run."""
	reps, nmsg, n7 = int(reps), int(nmsg), int(n7)
	scen = [
		("S1", "S1 initial pull (empty Maildir)"),
		("S1nf", "S1 vs mbsync FSync no"),
		("S2", "S2 no-change resync"),
		("S3", "S3 1%% flags changed on server (%d msgs)" %
		    (nmsg // 100)),
		("S4", "S4 %d msgs moved between folders on server" %
		    (nmsg // 40)),
		("S5", "S5 %d new local msgs pushed" % (nmsg // 100)),
		("S6", "S6 = S1 via 20 ms RTT proxy"),
		("S8", "S8 = S3 via 20 ms RTT proxy"),
	]
	if n7:
		scen.append(("S7", "S7 = S2 on %d small msgs" % n7))
	tools = ("mailsync", "mbsync")
	notes = []
	timed = {}
	for key, _ in scen:
		for tool in tools:
			if key != "S1nf" or tool == "mbsync":
				timed[(key, tool)] = timed_cells(resdir, key,
				    tool, reps, notes)
	# The FSync no row sets the same mailsync runs against mbsync's.
	timed[("S1nf", "mailsync")] = timed[("S1", "mailsync")]
	print("| scenario | mailsync median s | mbsync median s | ratio "
	    "| mailsync CPU s | mbsync CPU s | RSS MiB each | "
	    "FS write MiB each | wire MiB in/out each | "
	    "bodies fetched each |")
	print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

	def f(c, i, fmt):
		return "FAILED" if c is None else fmt % c[i]
	for key, label in scen:
		a, b = timed[(key, "mailsync")], timed[(key, "mbsync")]
		ratio = "—" if a is None or b is None or b[0] <= 0 else \
		    "%.2f" % (a[0] / b[0])
		if key == "S1nf":
			wire = bodies = "—"
		else:
			ca, cb = (counted_cells(resdir, key, t, notes)
			    for t in tools)
			wire = ", ".join("FAILED" if c is None else
			    "%s/%s" % (mib(c[0]), mib(c[1])) for c in (ca, cb))
			bodies = " / ".join(f(c, 2, "%d") for c in (ca, cb))
		print("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s "
		    "| %s | %s |" % (
		    label, f(a, 0, "%.2f"), f(b, 0, "%.2f"), ratio,
		    f(a, 1, "%.2f"), f(b, 1, "%.2f"), f(a, 2, "%.1f"),
		    f(b, 2, "%.1f"), f(a, 3, "%.1f"), f(b, 3, "%.1f"),
		    wire, bodies))
	lat, cpu, rss, wb = watch_cells(resdir, notes)
	print("| W: watch latency, s (server flag / server new / disk flag "
	    "/ disk new) | %s | n/a | — | %s | n/a | %s / n/a | %s / n/a "
	    "| — | — |" % (" / ".join(lat), cpu, rss, wb))
	print()
	fw, fc, rel = floor_cells(resdir, "floor", "S1", reps, timed)
	if fw is None:
		print("S1 floor: FAILED")
	else:
		print("S1 floor (one imaplib session, UID FETCH 1:* "
		    "BODY.PEEK[] per folder, data discarded): median %.2f s, "
		    "CPU %.2f s%s." % (fw, fc, rel))
	print()
	fw, fc, rel = floor_cells(resdir, "S3floor", "S3", reps, timed)
	if fw is None:
		print("S3 floor: FAILED")
	else:
		print("S3 floor (one imaplib session: LIST-STATUS, then SELECT "
		    "(QRESYNC ...) in each changed folder; the "
		    "session's own time, without the interpreter's start): "
		    "median %.3f s%s." % (fw, rel))
	print()
	stored_line(resdir, timed)
	if n7:
		print()
		s7_lines(resdir, timed, nmsg, n7, notes)
	if notes:
		print()
		for n in notes:
			print("- " + n)
	return 0


def main():
	cmds = {"gen": cmd_gen, "new": cmd_new, "measure": cmd_measure,
	    "check": cmd_check, "fetch": cmd_fetch, "s3floor": cmd_s3floor,
	    "watch": cmd_watch,
	    "bodies": cmd_bodies, "stored": cmd_stored, "table": cmd_table}
	if len(sys.argv) < 2 or sys.argv[1] not in cmds:
		sys.stderr.write("benchlib.py: unknown command\n")
		return 2
	return cmds[sys.argv[1]](*sys.argv[2:]) or 0


if __name__ == "__main__":
	sys.exit(main())
PYEOF

# ---- server and corpus -------------------------------------------------
say "starting Dovecot"
# mbsync 1.4 matches the host name against DNS subjectAltNames and the CN
# only, never IP addresses: the harness certificate, with CN 127.0.0.1 (a
# later -subj wins), lets both tools use Host 127.0.0.1.
make_cert "$T" cert -subj "/CN=127.0.0.1"
# shellcheck disable=SC2119
dovecot_start
CERT=$T/cert.pem

say "generating $N messages (seed fixed)"
start=$(date +%s)
CORPUS=$T/corpus
mkdir -p "$CORPUS"
read -r _ CORPUS_BYTES < <(python3 "$PY" gen "$CORPUS" "$N") ||
	bail "corpus generation failed"
CORPUS_MIB=$(awk -v b="$CORPUS_BYTES" 'BEGIN { printf "%.0f", b / 1048576 }')
# One server account per tool (and one for the floor): identical hard-linked
# copies, so that what one tool pushes (S5) is never pulled by the other.
# Dovecot never rewrites a message file, so sharing inodes is safe.
for u in ms mb rw; do
	mkdir -p "$D/home/$u"
	cp -al "$CORPUS" "$D/home/$u/Maildir" || bail "cp -al failed"
done
chown -R "$mail_uid:$mail_gid" "$D/home" "$CORPUS"
say "corpus: $N messages, $CORPUS_MIB MiB, in $(($(date +%s) - start)) s"

# Let Dovecot build its indexes and caches for each account before anything
# is timed, and bring the message files into the page cache.
say "warming up Dovecot"
for u in ms mb rw; do
	python3 "$PY" fetch "$IMAPS_PORT" "$u" "$PASS" "$CERT" meta >/dev/null ||
		bail "warm-up fetch for $u failed"
done
python3 "$PY" fetch "$IMAPS_PORT" rw "$PASS" "$CERT" body >/dev/null ||
	bail "warm-up body fetch failed"

# ---- proxies -------------------------------------------------------------
# start_proxy DELAY_MS COUNT_FILE: delayproxy.py in front of Dovecot's IMAPS
# port, writing its byte counts to COUNT_FILE on SIGUSR1; sets PX_PID and
# PX_PORT.  Both proxies live until the end.
px_pids=
start_proxy() {
	local fifo=$T/proxy.$1.port
	mkfifo "$fifo" || bail "mkfifo failed"
	python3 "$BENCH_DIR/delayproxy.py" --count "$2" 0 127.0.0.1 \
		"$IMAPS_PORT" "$1" >"$fifo" &
	PX_PID=$!
	px_pids="$px_pids $PX_PID"
	read -r PX_PORT <"$fifo" || bail "delayproxy.py did not start"
}
stop_proxies() {
	local p
	for p in $px_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	px_pids=
}
at_exit stop_proxies

# proxy_take PID COUNT_FILE [DEST]: the proxy's counts since the last take,
# into DEST (or dropped); fails when it does not write them within 15 s.
proxy_take() {
	local i=0
	rm -f "$2"
	kill -USR1 "$1" 2>/dev/null || return 1
	while [ ! -e "$2" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && return 1
		sleep 0.05
	done
	if [ -n "${3:-}" ]; then mv "$2" "$3"; else rm -f "$2"; fi
}

# The counting runs of every scenario but S6 and S8 go through a
# pass-through proxy (no delay); S6's and S8's through the delay proxy.
CPX_FILE=$T/count.0
start_proxy 0 "$CPX_FILE"
CPX_PID=$PX_PID CPX_PORT=$PX_PORT
DPX_FILE=$T/count.10
start_proxy 10 "$DPX_FILE"
DPX_PID=$PX_PID DPX_PORT=$PX_PORT

# ---- tool configurations -----------------------------------------------
# ms_config FILE DIR PORT USER, mb_config FILE DIR PORT USER [no]: the
# mbsync one with FSync no when the fifth argument is "no".
ms_config() {
	cat >"$1" <<YAML
accounts:
  bench:
    host: 127.0.0.1
    port: $3
    tls: imaps
    user: $4
    password: $PASS
    ca-file: $CERT
    timeout: 120
channels:
  bench:
    account: bench
    maildir: $2/mail
    state-dir: $2/state
YAML
	chmod 600 "$1"
}

mb_config() {
	{
		if [ "${5:-}" = no ]; then printf 'FSync no\n\n'; fi
		cat <<RC
IMAPAccount bench
Host 127.0.0.1
Port $3
User $4
Pass $PASS
SSLType IMAPS
CertificateFile $CERT

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path $2/mail/
Inbox $2/mail/INBOX
SubFolders Verbatim

Channel bench
Far :bench-far:
Near :bench-near:
Patterns *
Create Both
Expunge Both
SyncState *
RC
	} >"$1"
	chmod 600 "$1"
}

MS_DIR=$T/run/ms
MB_DIR=$T/run/mb
ms_config "$T/ms.yaml" "$MS_DIR" "$IMAPS_PORT" ms
mb_config "$T/mb.rc" "$MB_DIR" "$IMAPS_PORT" mb
# the same Maildirs and state through the counting proxy
ms_config "$T/msc.yaml" "$MS_DIR" "$CPX_PORT" ms
mb_config "$T/mbc.rc" "$MB_DIR" "$CPX_PORT" mb

# checked RES LOG USER DIR WHAT: whether the run recorded in RES (by
# benchlib.py measure, its output in LOG) exited 0 and left USER's server
# account and the Maildir DIR/mail agreeing; RES.check gets the reason when
# not, else stays empty.
checked() {
	local res=$1 log=$2 user=$3 dir=$4 what=$5 rc wall
	read -r rc wall _ <"$res"
	if [ "$rc" != 0 ]; then
		tail -3 "$log" | tr '\n' ' ' | cut -c1-200 >"$res.check"
		say "$what: FAILED, exit $rc ($(cat "$res.check"))"
		return 1
	fi
	if ! python3 "$PY" check "$DOVECOT_CONF" "$user" "$dir/mail" >"$res.check" 2>&1; then
		say "$what: ${wall}s, WRONG RESULT: $(cat "$res.check")"
		return 1
	fi
	: >"$res.check"
}

# account TOOL: the tool's server account for S1..S6.
account() { if [ "$1" = mailsync ]; then echo ms; else echo mb; fi; }

# run_one SCEN REP TOOL CONFIG DIR [USER]: one measured run plus its check;
# USER is the server account, by default the tool's for S1..S6.
run_one() {
	local scen=$1 rep=$2 tool=$3 conf=$4 dir=$5 user=${6:-} res log wall
	res=$RES/$scen.$tool.$rep
	log=$T/logs/$scen.$tool.$rep.log
	# Runs from cron are minutes apart: the last change is never this
	# recent.  Both tools otherwise pay for a very recent one: mbsync sleeps
	# until the clock leaves the second of the last directory change, and
	# mailsync does not trust a Maildir directory time under 2 s old (it
	# lists that folder in full instead of skipping it).
	sleep 2.2
	if [ "$tool" = mailsync ]; then
		python3 "$PY" measure "$res" "$log" "$MAILSYNC" -c "$conf" -a -q
	else
		python3 "$PY" measure "$res" "$log" "$MBSYNC" -c "$conf" -a -q
	fi
	[ -n "$user" ] || user=$(account "$tool")
	checked "$res" "$log" "$user" "$dir" "$scen rep $rep $tool" || return
	read -r _ wall _ <"$res"
	say "$scen rep $rep $tool: ${wall}s"
}

# run_count SCEN TOOL CONFIG DIR PROXY_PID COUNT_FILE [USER]: one more run,
# not timed, through the proxy CONFIG points at: RES.wire gets the bytes
# each way (see delayproxy.py --count), RES.bodies the message bodies
# fetched from the server, from mailsync --json or mbsync -Dd (which would
# slow a timed run).
run_count() {
	local scen=$1 tool=$2 conf=$3 dir=$4 pid=$5 cfile=$6 user=${7:-}
	local res log tin tout bodies
	res=$RES/$scen.$tool.count
	log=$T/logs/$scen.$tool.count.log
	proxy_take "$pid" "$cfile" || bail "the counting proxy does not answer"
	sleep 2.2
	if [ "$tool" = mailsync ]; then
		python3 "$PY" measure "$res" "$log" "$MAILSYNC" -c "$conf" \
			-a -q --json
	else
		python3 "$PY" measure "$res" "$log" "$MBSYNC" -c "$conf" -a -Dd
	fi
	proxy_take "$pid" "$cfile" "$res.wire" ||
		bail "the counting proxy does not answer"
	python3 "$PY" bodies "$tool" "$log" >"$res.bodies"
	[ -n "$user" ] || user=$(account "$tool")
	checked "$res" "$log" "$user" "$dir" "$scen count run $tool" || return
	read -r tin tout _ <"$res.wire"
	read -r bodies <"$res.bodies" || bodies="(not in the log)"
	say "$scen count run $tool: $tin bytes in, $tout out, $bodies bodies"
}

# Maildirs of finished runs go to a trash directory that is emptied only
# before S7 and at the end: ext4 does not hand out freshly freed inodes
# again for a while (recently_deleted in its inode allocator), so a run
# right after deleting 20,000 files spent most of its time in
# open(O_CREAT) looking for a free one.  Both tools paid for it in S1 and
# S6; a real first sync does not.
TRASH=$T/trash
mkdir -p "$TRASH"
discard() { if [ -e "$1" ]; then mv "$1" "$TRASH/$(date +%s%N)"; fi; }
# fresh DIR: an empty Maildir root (mbsync requires it to exist) and no state.
fresh() { discard "$1"; mkdir -p "$1/mail"; }

# ---- S1: initial pull, and its floor -----------------------------------
# Each repetition also times mbsync with FSync no, into a directory of its
# own, for the row "S1 vs mbsync FSync no".
mb_config "$T/mbnf.rc" "$T/run/mbnf" "$IMAPS_PORT" mb no
for rep in $(seq "$REPS"); do
	fresh "$MS_DIR"
	run_one S1 "$rep" mailsync "$T/ms.yaml" "$MS_DIR"
	fresh "$MB_DIR"
	run_one S1 "$rep" mbsync "$T/mb.rc" "$MB_DIR"
	fresh "$T/run/mbnf"
	run_one S1nf "$rep" mbsync "$T/mbnf.rc" "$T/run/mbnf"
	discard "$T/run/mbnf"
	python3 "$PY" measure "$RES/floor.$rep" "$T/logs/floor.$rep.log" \
		python3 "$PY" fetch "$IMAPS_PORT" rw "$PASS" "$CERT" body
	read -r _ wall _ <"$RES/floor.$rep"
	say "S1 rep $rep floor: ${wall}s"
done
python3 "$PY" stored "$MS_DIR/mail" >"$RES/S1.mailsync.stored"
python3 "$PY" stored "$MB_DIR/mail" >"$RES/S1.mbsync.stored"
# Into directories of their own: S1's result stays the base for S2..S5.
ms_config "$T/ms1c.yaml" "$T/run/ms1c" "$CPX_PORT" ms
mb_config "$T/mb1c.rc" "$T/run/mb1c" "$CPX_PORT" mb
fresh "$T/run/ms1c"
run_count S1 mailsync "$T/ms1c.yaml" "$T/run/ms1c" "$CPX_PID" "$CPX_FILE"
discard "$T/run/ms1c"
fresh "$T/run/mb1c"
run_count S1 mbsync "$T/mb1c.rc" "$T/run/mb1c" "$CPX_PID" "$CPX_FILE"
discard "$T/run/mb1c"

# ---- S6: S1 through a 10 ms each way proxy -----------------------------
# Run right after S1 so that it pulls the very same corpus; into its own
# directories, so S1's result stays the base for S2..S5.
ms_config "$T/ms6.yaml" "$T/run/ms6" "$DPX_PORT" ms
mb_config "$T/mb6.rc" "$T/run/mb6" "$DPX_PORT" mb
s6() {	# s6 REP|count TOOL CONFIG DIR
	fresh "$4"
	if [ "$1" = count ]; then
		run_count S6 "$2" "$3" "$4" "$DPX_PID" "$DPX_FILE"
	else
		run_one S6 "$1" "$2" "$3" "$4"
	fi
	discard "$4"
}
for rep in $(seq "$REPS") count; do
	s6 "$rep" mailsync "$T/ms6.yaml" "$T/run/ms6"
	s6 "$rep" mbsync "$T/mb6.rc" "$T/run/mb6"
done

# ---- S2..S5: resyncs of each tool's own synced Maildir -----------------
# Each ends with a counting run of both tools, after one more change of the
# scenario's kind.
both() {	# both SCEN REP|count
	if [ "$2" = count ]; then
		run_count "$1" mailsync "$T/msc.yaml" "$MS_DIR" \
			"$CPX_PID" "$CPX_FILE"
		run_count "$1" mbsync "$T/mbc.rc" "$MB_DIR" \
			"$CPX_PID" "$CPX_FILE"
	else
		run_one "$1" "$2" mailsync "$T/ms.yaml" "$MS_DIR"
		run_one "$1" "$2" mbsync "$T/mb.rc" "$MB_DIR"
	fi
}

for rep in $(seq "$REPS") count; do
	both S2 "$rep"
done

# The changes of repetition N; the counting run has N = REPS + 1.
s3_change() {	# \Flagged added on odd repetitions, removed on even ones
	local op=add u
	[ $(($1 % 2)) = 1 ] || op=remove
	for u in ms mb rw; do
		dadm flags "$op" -u "$u" '\Flagged' mailbox '*' \
			header X-Bench-Set flagset || bail "doveadm flags $op failed"
	done
}
s4_change() {	# Archive to Work on odd repetitions, back on even ones
	local from=Archive to=Work u
	[ $(($1 % 2)) = 1 ] || { from=Work to=Archive; }
	for u in ms mb; do
		dadm move -u "$u" "$to" mailbox "$from" \
			header X-Bench-Set moveset || bail "doveadm move failed"
	done
}
s5_change() {	# new messages, different ones each repetition
	python3 "$PY" new "$1" "$NNEW" "$MS_DIR/mail" "$MB_DIR/mail" ||
		bail "writing new messages failed"
}
# S3's floor session on the floor's account (rw): its modseqs first.
s3floor() {	# s3floor OUT|-
	python3 "$PY" s3floor "$IMAPS_PORT" rw "$PASS" "$CERT" \
		"$T/s3floor.json" "$1" || say "S3 floor: FAILED"
}
s3floor -
for scen in S3 S4 S5; do
	for rep in $(seq "$REPS") count; do
		if [ "$rep" = count ]; then
			"${scen,,}_change" $((REPS + 1))
		else
			"${scen,,}_change" "$rep"
		fi
		both "$scen" "$rep"
		if [ "$scen" = S3 ] && [ "$rep" != count ]; then
			s3floor "$RES/S3floor.$rep"
			read -r _ wall _ <"$RES/S3floor.$rep"
			say "S3 rep $rep floor: ${wall}s"
		fi
	done
done

# ---- S8: S3 through the 10 ms each way proxy ---------------------------
# The same Maildirs as S2..S5, as a remote server would see them; the
# changes of S3 go on (odd repetitions add, even ones remove).  The proxy
# stands for a remote server, where mailsync syncs changed folders at once
# over 4 sessions unless told otherwise; on a loopback address it uses one
# unless `connections` is set, so the config says what a remote host gets
# by default.  (S6 keeps the one session it always measured.)
remote_config() {	# remote_config FILE: `connections: 4` in a ms_config
	sed -i 's|^    timeout: 120$|    timeout: 120\n    connections: 4|' "$1"
}
ms_config "$T/ms8.yaml" "$MS_DIR" "$DPX_PORT" ms
remote_config "$T/ms8.yaml"
mb_config "$T/mb8.rc" "$MB_DIR" "$DPX_PORT" mb
for rep in $(seq "$REPS") count; do
	if [ "$rep" = count ]; then
		s3_change $((2 * REPS + 2))
		run_count S8 mailsync "$T/ms8.yaml" "$MS_DIR" \
			"$DPX_PID" "$DPX_FILE"
		run_count S8 mbsync "$T/mb8.rc" "$MB_DIR" \
			"$DPX_PID" "$DPX_FILE"
	else
		s3_change $((REPS + 1 + rep))
		run_one S8 "$rep" mailsync "$T/ms8.yaml" "$MS_DIR"
		run_one S8 "$rep" mbsync "$T/mb8.rc" "$MB_DIR"
	fi
done

# ---- W: watch latency ----------------------------------------------------
# mbsync has no watch mode.  mailsync -w on its synced Maildir; each change
# is timed from when it is made (doveadm returned, rename done) until the
# other side shows it, polled every 20 ms, after the watcher has been quiet
# for 2.5 s; a change not seen within 30 s fails the row.
WTRIALS=$((REPS > 5 ? REPS : 5))
say "W: mailsync -w, $WTRIALS changes of each kind"
sleep 2.2
python3 "$PY" watch "$RES/W" "$T/logs/W.log" "$MAILSYNC" "$T/ms.yaml" \
	"$MS_DIR/mail" "$DOVECOT_CONF" ms "$IMAPS_PORT" "$PASS" "$CERT" \
	"$WTRIALS" || say "W: FAILED"

# ---- S7: S2 on a large corpus of small messages ------------------------
# Accounts ms7 and mb7 on the same server.  The main scenarios' mail goes
# first, so that the disk holds one benchmark's mail at a time.  Neither the
# generation nor the initial syncs are timed; mbsync's uses FSync no, which
# leaves the same Maildir and state sooner.
if [ "$S7" = 1 ]; then
	rm -rf "$TRASH" "$T/run" "$CORPUS" "$D/home/ms" "$D/home/mb" "$D/home/rw"
	say "S7: generating $N7 small messages"
	start=$(date +%s)
	mkdir -p "$D/home/ms7" "$D/home/mb7"
	read -r _ bytes < <(python3 "$PY" gen "$D/home/ms7/Maildir" "$N7" small) ||
		bail "S7 corpus generation failed"
	cp -al "$D/home/ms7/Maildir" "$D/home/mb7/Maildir" || bail "cp -al failed"
	chown -R "$mail_uid:$mail_gid" "$D/home/ms7" "$D/home/mb7"
	echo "$N7 $bytes $(($(date +%s) - start))" >"$RES/S7.gen"
	say "S7 corpus: $N7 messages, $bytes bytes, in $(($(date +%s) - start)) s"
	ms_config "$T/ms7.yaml" "$T/run/ms7" "$IMAPS_PORT" ms7
	mb_config "$T/mb7.rc" "$T/run/mb7" "$IMAPS_PORT" mb7
	mb_config "$T/mb7nf.rc" "$T/run/mb7" "$IMAPS_PORT" mb7 no
	ms_config "$T/ms7c.yaml" "$T/run/ms7" "$CPX_PORT" ms7
	mb_config "$T/mb7c.rc" "$T/run/mb7" "$CPX_PORT" mb7
	fresh "$T/run/ms7"
	fresh "$T/run/mb7"
	run_one S7init 1 mailsync "$T/ms7.yaml" "$T/run/ms7" ms7
	run_one S7init 1 mbsync "$T/mb7nf.rc" "$T/run/mb7" mb7
	for rep in $(seq "$REPS"); do
		run_one S7 "$rep" mailsync "$T/ms7.yaml" "$T/run/ms7" ms7
		run_one S7 "$rep" mbsync "$T/mb7.rc" "$T/run/mb7" mb7
	done
	run_count S7 mailsync "$T/ms7c.yaml" "$T/run/ms7" \
		"$CPX_PID" "$CPX_FILE" ms7
	run_count S7 mbsync "$T/mb7c.rc" "$T/run/mb7" \
		"$CPX_PID" "$CPX_FILE" mb7
fi
stop_proxies

# ---- report ------------------------------------------------------------
ms_version=$("$MAILSYNC" --version 2>/dev/null | head -1)
report() {
	echo "# mailsync vs mbsync benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -sr);" \
		"corpus $N messages in 8 folders, $CORPUS_MIB MiB;" \
		"$REPS repetitions, medians."
	echo "mailsync: $MAILSYNC (${ms_version:-version unknown});" \
		"mbsync: $("$MBSYNC" -v 2>&1 | head -1); Dovecot $(dovecot --version | cut -d' ' -f1)."
	echo
	python3 "$PY" table "$RES" "$REPS" "$N" "$((S7 ? N7 : 0))"
}
if [ -n "$OUTFILE" ]; then
	report | tee "$OUTFILE"
else
	report
fi
