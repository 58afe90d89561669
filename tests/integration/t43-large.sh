#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Large messages, both ways.  From 4 MiB on a pulled message comes in
# pieces of 1 MiB (BODY.PEEK[]<offset.length>), each written to its file
# as it arrives, and a pushed one is read and sent in pieces of 1 MiB, so
# memory does not grow with the message.  It arrives byte for byte, with
# its flags, wherever a CRLF falls between two pieces and whether or not
# its size is a whole number of pieces; a server that sends more than a
# piece (or 16 times a message's listed size), or from the wrong offset,
# is a clean error that stores nothing.
. "$TESTS_SRCDIR/integration/lib.sh"

TOOL="$(dirname "$MAILSYNC")/tests/imap-tool"
PIECE=1048576

# gen_msg ID CRAT TOTAL: a message with LF line ends whose CRLF form is
# TOTAL bytes long, with the CR of a line end at wire offset CRAT (-1:
# anywhere), to stdout.
gen_msg() {
	python3 - "$@" <<'EOF'
import sys
mid, crat, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = ["From: Alice <alice@example.org>", "To: Bob <bob@example.org>",
         "Subject: large %s" % mid, "Message-ID: <%s@test>" % mid,
         "X-Test-Id: %s" % mid, ""]
wire = sum(len(l) + 2 for l in lines)
n = 0
while total - wire >= 272:
    if 0 <= crat - wire < 200:
        lines.append("c" * (crat - wire))  # its CR falls at crat
    else:
        n += 1
        lines.append(("line %d of %s " % (n, mid)).ljust(70, "x"))
    wire += len(lines[-1]) + 2
left = total - wire
if left >= 2:
    lines.append("e" * (left - 2))
elif left == 1:
    lines[-1] += "e"
text = "\n".join(lines) + "\n"
w = text.replace("\n", "\r\n")
assert len(w) == total, (len(w), total)
assert crat < 0 or w[crat:crat + 2] == "\r\n", crat
sys.stdout.write(text)
EOF
}

# wire_of FILE: its size with CRLF line ends.
wire_of() { echo $(($(wc -c <"$1") + $(tr -cd '\n' <"$1" | wc -c))); }

dovecot_start
gen_msg cut $((2 * PIECE - 1)) $((9 * PIECE + 12345)) >"$T/cut.eml"
gen_msg even -1 $((5 * PIECE)) >"$T/even.eml"
gen_msg small -1 $((4 * PIECE - 10)) >"$T/small.eml"
is "$(wire_of "$T/even.eml")" $((5 * PIECE)) "setup: a message of exactly 5 pieces"
for m in cut even small; do
	dadm save -u "$IMAP_USER" -m INBOX <"$T/$m.eml" || bail "doveadm save $m"
done
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id cut
seed_msg INBOX tiny

write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a --debug
is "$RC" 0 "pull of 3 large and 1 small message exits 0"
is "$(local_ids "$T/mail/INBOX")" "cut even small tiny" "all four pulled"
for m in cut even small; do
	is "$(cmp "$(local_file "$T/mail/INBOX" "$m")" "$T/$m.eml" && echo same)" \
		same "$m: byte for byte"
done
is "$(local_flags "$T/mail/INBOX" cut)" F "cut: its flag came along"
uid_cut=$(dadm search -u "$IMAP_USER" mailbox INBOX header X-Test-Id cut |
	awk '{print $2}')
uid_even=$(dadm search -u "$IMAP_USER" mailbox INBOX header X-Test-Id even |
	awk '{print $2}')
pieces() { printf '%s\n' "$ERR" | grep -Ec "C: [0-9]+ UID FETCH $1 \\(BODY.PEEK\\[\\]<[0-9]+\\.$PIECE>\\)"; }
is "$(pieces "$uid_cut")" 10 "cut: fetched in 10 pieces"
is "$(pieces "$uid_even")" 6 "even: 5 pieces and the empty one that ends it"
is "$(printf '%s\n' "$ERR" | grep -c 'BODY.PEEK\[\]<' )" 16 \
	"the smaller ones whole"
ok "$(printf '%s\n' "$ERR" | grep -Eq 'S: [0-9]+ (NO|BAD) ' && echo 1 || echo 0)" \
	"no command refused"
ms -c "$T/c.yaml" -a --json
is "$RC" 0 "a second run exits 0"
like "$OUT" '"pulled":\{"messages":0' "and pulls nothing again"

# Memory: a 24 MiB message costs no more than one of 1 MiB (in a build
# with sanitizers too: their quarantine is turned off for this).
maxrss() {
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}
mkfolder Big
mkfolder One
gen_msg huge -1 $((24 * PIECE)) >"$T/huge.eml"
gen_msg one -1 $((PIECE)) >"$T/one.eml"
dadm save -u "$IMAP_USER" -m Big <"$T/huge.eml" || bail "doveadm save huge"
dadm save -u "$IMAP_USER" -m One <"$T/one.eml" || bail "doveadm save one"
rss_one=$(maxrss "$MAILSYNC" -c "$T/c.yaml" test:One)
rss_huge=$(maxrss "$MAILSYNC" -c "$T/c.yaml" test:Big)
is "$(cmp "$(local_file "$T/mail/Big" huge)" "$T/huge.eml" && echo same)" same \
	"24 MiB: byte for byte"
diag "peak RSS: 1 MiB message ${rss_one} KiB, 24 MiB message ${rss_huge} KiB"
ok "$([ "$rss_huge" -lt $((rss_one + 8192)) ] && echo 0 || echo 1)" \
	"24 MiB: peak memory within 8 MiB of a 1 MiB pull"

# Pushing: a file of 24 MiB costs no more than one of 1 MiB; one whose
# CRLF line ends (some tools write them) put a CR and its LF in two
# pieces arrives as it is, announced at its exact size.
rm -rf "$T/mail" "$T/state"
mkdir -p "$T/mail/INBOX/cur" "$T/mail/INBOX/new" "$T/mail/INBOX/tmp" \
	"$T/mail/Up/cur" "$T/mail/Up/new" "$T/mail/Up/tmp" \
	"$T/mail/Up1/cur" "$T/mail/Up1/new" "$T/mail/Up1/tmp"
gen_msg pushcrlf $((PIECE - 1)) $((6 * PIECE + 777)) | sed 's/$/\r/' \
	>"$T/mail/INBOX/cur/1700000301.pushcrlf.host:2,S"
gen_msg pushlf $((3 * PIECE - 1)) $((5 * PIECE)) \
	>"$T/mail/INBOX/cur/1700000302.pushlf.host:2,F"
make_msg pushsmall1 >"$T/mail/INBOX/cur/1700000300.pushsmall1.host:2,S"
make_msg pushsmall2 >"$T/mail/INBOX/cur/1700000303.pushsmall2.host:2,"
gen_msg pushhuge -1 $((24 * PIECE)) >"$T/mail/Up/cur/1700000303.pushhuge.host:2,"
gen_msg pushone -1 $((PIECE)) >"$T/mail/Up1/cur/1700000304.pushone.host:2,"
ms -c "$T/c.yaml" test:INBOX --debug
is "$RC" 0 "push of two large and two small messages exits 0"
for m in pushcrlf pushlf; do
	f=$(ls "$T"/mail/INBOX/cur/*."$m".*)
	wire=$(python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
print(len(d) + d.count(b"\n") - d.count(b"\r\n"))' "$f")
	is "$(dadm fetch -u "$IMAP_USER" size.virtual mailbox INBOX header X-Test-Id "$m" |
		sed -n 's/^size.virtual: //p')" "$wire" "$m: stored at its size with CRLF line ends"
	dadm fetch -u "$IMAP_USER" text mailbox INBOX header X-Test-Id "$m" |
		sed '1s/^text://' | sed '1{/^$/d}' | tr -d '\r' >"$T/$m.server"
	is "$(tr -d '\r' <"$f" | cmp - "$T/$m.server" && echo same)" same \
		"$m: its bytes, line ends aside"
	is "$(printf '%s\n' "$ERR" | grep -Fc "{$wire")" 1 "$m: announced as {$wire}"
done
is "$(server_flags INBOX pushlf)" '\Flagged' "pushlf: its flag went along"
is "$(server_ids INBOX | tr ' ' '\n' | grep -c '^push')" 4 \
	"the small ones between them too (MULTIAPPEND commands closed first)"
is "$(server_flags INBOX pushsmall1)" '\Seen' "and their flags"
rss_one=$(maxrss "$MAILSYNC" -c "$T/c.yaml" test:Up1)
rss_huge=$(maxrss "$MAILSYNC" -c "$T/c.yaml" test:Up)
is "$(server_ids Up)" pushhuge "24 MiB pushed"
is "$(dadm fetch -u "$IMAP_USER" size.virtual mailbox Up header X-Test-Id pushhuge |
	sed -n 's/^size.virtual: //p')" $((24 * PIECE)) "24 MiB: whole on the server"
diag "peak RSS pushing: 1 MiB message ${rss_one} KiB, 24 MiB message ${rss_huge} KiB"
ok "$([ "$rss_huge" -lt $((rss_one + 8192)) ] && echo 0 || echo 1)" \
	"24 MiB pushed: peak memory within 8 MiB of a 1 MiB push"

# --verify hashes both copies in pieces: the 24 MiB message costs no more
# than one of 1 MiB, and a byte changed in its last piece is found.
ms -c "$T/c.yaml" --verify test:Up
is "$RC" 0 "24 MiB: --verify finds both copies identical"
rss_one=$(maxrss "$MAILSYNC" -c "$T/c.yaml" --verify test:Up1)
rss_huge=$(maxrss "$MAILSYNC" -c "$T/c.yaml" --verify test:Up)
diag "peak RSS of --verify: 1 MiB message ${rss_one} KiB, 24 MiB message ${rss_huge} KiB"
ok "$([ "$rss_huge" -lt $((rss_one + 8192)) ] && echo 0 || echo 1)" \
	"24 MiB: --verify's peak memory within 8 MiB of a 1 MiB one"
f=$(local_file "$T/mail/Up" pushhuge)
python3 -c 'import sys
with open(sys.argv[1], "r+b") as fp:
	fp.seek(-10, 2)
	c = fp.read(1)
	fp.seek(-10, 2)
	fp.write(b"y" if c != b"y" else b"z")' "$f"
ms -c "$T/c.yaml" --verify test:Up
is "$RC" 1 "a byte changed near the end: --verify exits 1"
like "$OUT" 'content differs' "and says the content differs"
dovecot_stop

# Hostile pieces, from the scripted server (imap-tool fetch F UID
# SIZE fetches as a sync does, by the listed size).
PW='pw-Xyzzy-4711'
: >"$T/sanitizer"
run_tool() {
	OUT=$(timeout 30 "$TOOL" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	grep -E 'Sanitizer|runtime error' "$T/err" >>"$T/sanitizer"
}
# refused NAME SIZE REGEX SCENARIO: imap-tool fetch INBOX 5 SIZE
# against SCENARIO fails (not by the timeout) and says REGEX.
refused() {
	fake_start "$4"
	fake_yaml "$T/f.yaml" none 3 "$T/fmail" -
	run_tool "$T/f.yaml" f fetch INBOX 5 "$2"
	ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && echo 0 || echo 1)" \
		"$1: fails (exit $RC)"
	like "$ERR" "$3" "$1: says why"
}
refused "a piece larger than asked" 5000000 \
	'literal of 1048577 bytes \(limit 1048576\)' \
	'{"commands": {"UID FETCH": [
	"RAW:* 1 FETCH (UID 5 BODY[]<0> {1048577}\r\n", "BIG:1048577",
	"RAW:)\r\n", "{tag} OK done"]}}'
is "$(printf '%s' "$OUT" | wc -c | tr -d ' ')" 0 "a piece larger than asked: nothing handed on"
refused "a piece from the wrong offset" 5000000 'wrong offset' \
	'{"commands": {"UID FETCH": [
	"RAW:* 1 FETCH (UID 5 BODY[]<7> {10}\r\n0123456789)\r\n",
	"{tag} OK done"]}}'
# A message listed under 4 MiB comes whole, but not at any size: a server
# 16 times off is refused before the literal is read.
refused "100 MiB for a message listed at 3 MB" 3000000 \
	'literal of 104857600 bytes \(limit 67108864\)' \
	'{"commands": {"UID FETCH": [
	"RAW:* 1 FETCH (UID 5 BODY[] {104857600}\r\n", "STALL"]}}'
refused "a message gone" 5000000 'no such message' \
	'{"commands": {"UID FETCH": ["{tag} OK nothing"]}}'

# The limit on literals (512 MiB) is for each FETCH response: one command
# for a batch of messages may bring more, handed over one by one.
fake_start "$(python3 -c '
import json
big = []
for uid in range(100, 620):
    big += ["RAW:* %d FETCH (UID %d BODY[] {1048576}\r\n" % (uid, uid),
            "BIG:1048576", "RAW:)\r\n"]
big += ["RAW:* 1 FETCH (UID 5 BODY[] {5}\r\nhello)\r\n", "{tag} OK done"]
print(json.dumps({"commands": {"UID FETCH": big}}))')"
fake_yaml "$T/f4.yaml" none 10 "$T/fmail" -
run_tool "$T/f4.yaml" f fetch INBOX 5 5
is "$RC" 0 "520 MiB of literals in one FETCH command: accepted"
is "$OUT" hello "and the message asked for handed on"
# ... but not other responses that libetpan would keep until the end.
refused "40 MB of other untagged lines in a FETCH" 5 \
	'more than 33554432 bytes in one response' \
	"{\"commands\": {\"UID FETCH\": [\"REPEAT:40000:* OK $(printf '%01000d' 0)\",
	\"STALL\"]}}"
is "$(cat "$T/sanitizer")" "" "scripted servers: no crash, no leak in any run"

done_testing
