#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A hostile or broken server (libetpan 1.9.4's known defects among others)
# is a clean error within a bounded time: no hang, no crash, no huge memory.
. "$TESTS_SRCDIR/integration/lib.sh"

TOOL="$(dirname "$MAILSYNC")/tests/imap-tool"
PW='pw-Xyzzy-4711'
[ -x "$TOOL" ] || bail "imap-tool not built ($TOOL)"

# fake_config FILE [account lines...]: an account "f" for the fake server.
fake_config() {
	local cfg=$1
	shift
	fake_yaml "$cfg" none 3 "$T/mail" - "$@"
}

# run_tool ARGS...: imap-tool under timeout 30; sets RC, OUT, ERR, SECS.
run_tool() {
	t0=$(date +%s)
	OUT=$(timeout 30 "$TOOL" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	SECS=$(($(date +%s) - t0))
	grep -E 'Sanitizer|runtime error' "$T/err" >>"$T/sanitizer"
}

# hostile DESCRIPTION REGEX: the last run failed cleanly, saying REGEX.
hostile() {
	ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && echo 0 || echo 1)" \
		"$1: fails without hanging (exit $RC after ${SECS}s)"
	like "$ERR" "$2" "$1: the error says why"
	ok "$(printf '%s' "$ERR" | grep -Eq 'Sanitizer|runtime error|LeakSanitizer' && echo 1 || echo 0)" \
		"$1: no crash, no leak"
}

# 1. libetpan spins at 100% CPU on an EOF inside a literal.
fake_start '{"commands": {"UID FETCH": [
	"RAW:* 1 FETCH (UID 1 BODY[] {400}\r\nFrom: a@b\r\nSubject: cut\r\n", "EOF"]}}'
fake_config "$T/c1.yaml"
run_tool "$T/c1.yaml" f fetch INBOX 1
hostile "EOF inside a FETCH literal" 'closed the connection in the middle of a literal'

# 2. [PERMANENTFLAGS ...] in the greeting crashes libetpan.
fake_start '{"greeting": "* OK [PERMANENTFLAGS (\\Seen \\*)] hello"}'
fake_config "$T/c2.yaml"
run_tool "$T/c2.yaml" f list-folders
hostile "PERMANENTFLAGS in the greeting" 'greeting carries a PERMANENTFLAGS'
ok "$(grep -Eqi 'LOGIN|AUTHENTICATE' "$FAKE_REC" && echo 1 || echo 0)" \
	"PERMANENTFLAGS in the greeting: no credential was sent"

# 3. A malformed one in the SELECT reply crashes it too (a flag "\" alone,
# or "\\Seen": NULL list freed on its parser's error path).
fake_start '{"commands": {"SELECT": ["* 1 EXISTS",
	"* OK [PERMANENTFLAGS (\\)] broken", "* OK [UIDVALIDITY 7] x",
	"{tag} OK [READ-WRITE] done"]}}'
fake_config "$T/c3.yaml"
run_tool "$T/c3.yaml" f select INBOX
hostile "malformed PERMANENTFLAGS in SELECT" 'malformed PERMANENTFLAGS'

fake_start '{"commands": {"SELECT": ["* 1 EXISTS",
	"* OK [PERMANENTFLAGS (\\\\Seen \\\\*)] broken",
	"* OK [UIDVALIDITY 7] x", "{tag} OK [READ-WRITE] done"]}}'
fake_config "$T/c3a.yaml"
run_tool "$T/c3a.yaml" f select INBOX
hostile "doubled backslashes in PERMANENTFLAGS" 'malformed PERMANENTFLAGS'

fake_start '{"commands": {"SELECT": ["* 1 EXISTS",
	"* OK [PERMANENTFLAGS (\\Seen \\Answered", "* OK [UIDVALIDITY 7] x",
	"{tag} OK [READ-WRITE] done"]}}'
fake_config "$T/c3b.yaml"
run_tool "$T/c3b.yaml" f select INBOX
hostile "unterminated PERMANENTFLAGS in SELECT" 'malformed PERMANENTFLAGS'

# A well-formed one outside a selected folder is hidden, not an error.
fake_start '{"commands": {"LIST": ["* OK [PERMANENTFLAGS (\\Seen)] early",
	"* LIST () \"/\" INBOX", "{tag} OK [PERMANENTFLAGS (\\Seen)] done"]}}'
fake_config "$T/c3c.yaml"
run_tool "$T/c3c.yaml" f list-folders
is "$RC:$OUT" "0:INBOX" "a well-formed PERMANENTFLAGS before SELECT is ignored"

# 4. Unbounded lines: a 5 MiB line without CRLF is refused at 1 MiB.
fake_start '{"commands": {"LIST": ["RAW:* LIST () \"/\" ", "BIG:5242880",
	"STALL"]}}'
fake_config "$T/c4.yaml"
run_tool "$T/c4.yaml" f list-folders
hostile "a 5 MiB line" 'line longer than 1048576 bytes'

# ... and endless short lines in one response (libetpan keeps them all).
fake_start "{\"commands\": {\"LIST\": [\"REPEAT:40000:* OK $(printf '%01000d' 0)\",
	\"STALL\"]}}"
fake_config "$T/c4b.yaml"
run_tool "$T/c4b.yaml" f list-folders
hostile "40 MB of untagged lines" 'more than 33554432 bytes in one response'

# 5. Unbounded literals: {4294967295} is refused before any allocation.
fake_start '{"commands": {"UID FETCH": [
	"RAW:* 1 FETCH (UID 1 BODY[] {4294967295}\r\n", "STALL"]}}'
fake_config "$T/c5.yaml"
run_tool "$T/c5.yaml" f fetch INBOX 1
hostile "a 4 GiB literal" 'literal of 4294967295 bytes'

# 6. A server that stalls at the greeting times out (timeout: 3).
fake_start '{"greeting": "STALL"}'
fake_config "$T/c6.yaml"
run_tool "$T/c6.yaml" f list-folders
hostile "a stalled greeting" 'no data from the server for 3 s'
ok "$([ "$SECS" -le 10 ] && echo 0 || echo 1)" "a stalled greeting: gives up after the timeout (${SECS}s)"
like "$ERR" '^imap-tool: TEMP:' "a stalled server is a temporary failure"

# A server that stalls in the middle of a literal, too.
fake_start '{"commands": {"UID FETCH": [
	"RAW:* 1 FETCH (UID 1 BODY[] {400}\r\nFrom: a@b\r\n", "STALL"]}}'
fake_config "$T/c6b.yaml"
run_tool "$T/c6b.yaml" f fetch INBOX 1
hostile "a stall inside a literal" 'no data from the server for 3 s'

# Other broken replies.
fake_start '{"greeting": "* BYE go away"}'
fake_config "$T/c7.yaml"
run_tool "$T/c7.yaml" f list-folders
hostile "a BYE greeting" 'refused the session: go away'

fake_start '{"greeting": "EOF"}'
fake_config "$T/c8.yaml"
run_tool "$T/c8.yaml" f list-folders
hostile "EOF instead of a greeting" 'closed the connection'

fake_start '{"commands": {"FETCH": [
	"* 1 FETCH (UID 5 FLAGS () RFC822.SIZE 10 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
	"* 2 FETCH (UID 5 FLAGS () RFC822.SIZE 10 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
	"{tag} OK done"]}, "exists": 2}'
fake_config "$T/c9.yaml"
run_tool "$T/c9.yaml" f list INBOX
hostile "a duplicate UID" 'listed UID 5 twice'

fake_start '{"commands": {"FETCH": [
	"* 1 FETCH (UID 0 FLAGS () RFC822.SIZE 10 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
	"{tag} OK done"]}}'
fake_config "$T/c10.yaml"
run_tool "$T/c10.yaml" f list INBOX
hostile "UID 0" 'without a valid UID'

fake_start '{"commands": {"FETCH": [
	"* 1 FETCH (UID 3 FLAGS () RFC822.SIZE 10 INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
	"{tag} NO some messages could not be read"]}, "exists": 2}'
fake_config "$T/c11.yaml"
run_tool "$T/c11.yaml" f list INBOX
hostile "a partial listing with NO" 'FETCH INBOX: some messages could not be read'

fake_start '{"commands": {"SELECT": ["{tag} NO [NONEXISTENT] Mailbox does not exist"]}}'
fake_config "$T/c12.yaml"
run_tool "$T/c12.yaml" f select Archive
hostile "a missing folder" 'SELECT Archive: \[NONEXISTENT\] Mailbox does not exist'

fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN", "commands": {"UID STORE": ["{tag} OK done"]}}'
fake_config "$T/c13.yaml"
run_tool "$T/c13.yaml" f remove INBOX 1
hostile "no UIDPLUS" 'lacks UIDPLUS; not expunging'
ok "$(grep -q 'UID STORE 1 +FLAGS.SILENT (\\Deleted)' "$FAKE_REC" && ! grep -qi 'EXPUNGE' "$FAKE_REC" && echo 0 || echo 1)" \
	"no UIDPLUS: marked \\Deleted, never a plain EXPUNGE"

fake_start '{"auth": "no"}'
fake_config "$T/c14.yaml"
run_tool "$T/c14.yaml" f list-folders
hostile "a rejected password" 'authentication failed: \[AUTHENTICATIONFAILED\] Authentication failed\. \(check pass-cmd'
is "$(grep -c 'AUTHENTICATE' "$FAKE_REC")" 1 "a rejected password is tried once"

# Folder names that cannot map to canonical names are skipped, with a
# warning; the others follow the server's delimiter and modified UTF-7.
fake_start '{"commands": {"LIST": ["* LIST () \".\" INBOX",
	"* LIST () \".\" Archive.2024", "* LIST () \".\" \"a/b\"",
	"* LIST () \".\" &Jjo", "* LIST () \".\" Entw&APw-rfe",
	"* LIST () NIL \"x/y\"", "* LIST () NIL flat",
	"* LIST (\\NonExistent) \".\" Gone",
	"RAW:* LIST () \".\" {4}\r\nc\u0001tl\r\n",
	"* LIST () \".\" .hidden", "* LIST (\\Noselect) \".\" Parent",
	"{tag} OK done"]}}'
fake_config "$T/n1.yaml"
run_tool "$T/n1.yaml" f list-folders
is "$RC:$(echo "$OUT" | tr '\n' '|')" "0:Archive/2024|Entwürfe|INBOX|Parent (noselect)|flat|" \
	"server names: delimiter and modified UTF-7 mapped, bad ones skipped"
for w in '"a/b"' '"&Jjo"' '"x/y"' '"c.tl"' '"\.hidden"'; do
	like "$ERR" "warning: remote f: skipping folder $w" "a warning names the skipped folder $w"
done
ok "$(printf '%s' "$ERR" | grep -q Gone && echo 1 || echo 0)" "\\NonExistent names are ignored silently"
run_tool "$T/n1.yaml" f create "Neu/Sub"
ok "$([ "$RC" = 0 ] && grep -q 'CREATE "Neu.Sub"' "$FAKE_REC" && echo 0 || echo 1)" \
	"create maps '/' to the server's delimiter"
run_tool "$T/n1.yaml" f create "a.b"
like "$ERR" "folder name \"a.b\" contains the server's hierarchy delimiter '.'" \
	"a name with the server's delimiter inside a level is refused"

# APPEND without UIDPLUS: the new UID is found by Message-ID and size
# among the UIDs from the UIDNEXT seen before.
make_msg ap1 >"$T/ap1.eml"
wire=$(($(wc -c <"$T/ap1.eml") + $(wc -l <"$T/ap1.eml")))
hl=$(printf 'Message-ID: <ap1@test>\r\n\r\n' | wc -c)
hdr="BODY[HEADER.FIELDS (MESSAGE-ID)] {$hl}\\r\\nMessage-ID: <ap1@test>\\r\\n\\r\\n)\\r\\n"
fake_start "{\"caps\": \"IMAP4rev1 AUTH=PLAIN\", \"commands\": {
	\"APPEND\": [\"{tag} OK done\"], \"NOOP\": [\"* 2 EXISTS\", \"{tag} OK done\"],
	\"UID FETCH\": [
	\"RAW:* 1 FETCH (UID 1 RFC822.SIZE $wire $hdr\",
	\"RAW:* 2 FETCH (UID 5 RFC822.SIZE 99 $hdr\",
	\"RAW:* 3 FETCH (UID 7 RFC822.SIZE $wire $hdr\",
	\"{tag} OK done\"]}}"
fake_config "$T/ap.yaml"
run_tool "$T/ap.yaml" f append INBOX '\Seen' "$T/ap1.eml"
is "$RC:$OUT" "0:7" "APPEND without UIDPLUS: the UID found by Message-ID and size"
ok "$(grep -q 'UID FETCH 2:\*' "$FAKE_REC" && echo 0 || echo 1)" \
	"... searched from the UIDNEXT seen before the APPEND"
ok "$(grep -q 'APPEND "INBOX" (\\Seen) "[ 0-9][0-9]-[A-Z][a-z][a-z]-20' "$FAKE_REC" && echo 0 || echo 1)" \
	"... the APPEND carried the flags and the date"

# LIST-STATUS: a STATUS that came with the LIST stands in for one; an
# incomplete one, or one whose name came as a literal, does not (the
# folder gets a STATUS of its own); one for a folder not listed is unused;
# nested folders keep their \Noselect parents.
fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN UIDPLUS LIST-STATUS", "commands": {
	"LIST": ["* LIST (\\HasNoChildren) \"/\" INBOX",
	"* STATUS INBOX (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 7)",
	"* LIST (\\HasNoChildren) \"/\" \"A b\"",
	"* STATUS \"A b\" (MESSAGES 1 UIDNEXT 2)",
	"* LIST (\\HasNoChildren) \"/\" Lists/dev",
	"RAW:* STATUS {9}\\r\\nLists/dev (MESSAGES 3 UIDNEXT 2 UIDVALIDITY 7)\\r\\n",
	"* STATUS Nowhere (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 7)",
	"{tag} OK done"],
	"STATUS": ["* STATUS x (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 8)",
	"{tag} OK done"]}}'
fake_config "$T/ls.yaml"
run_tool "$T/ls.yaml" f list-status
is "$RC" 0 "LIST-STATUS: exits 0"
is "$(echo "$OUT" | tr '\n' '|')" "A b 2 3 8 0|INBOX 5 9 7 0|Lists/dev 2 3 8 0|" \
	"LIST-STATUS: INBOX from the LIST, the broken ones asked again"
is "$(grep -c ' STATUS ' "$FAKE_REC")" 2 "LIST-STATUS: STATUS sent for the two broken ones only"
run_tool "$T/ls.yaml" f list-folders
is "$(echo "$OUT" | tr '\n' '|')" "A b|INBOX|Lists (noselect)|Lists/dev|" \
	"LIST-STATUS: the parent of a nested folder is listed, \\Noselect"

# A server that refuses connections is "unreachable": temporary.
port=$(free_port)
FAKE_PORT=$port
fake_config "$T/c15.yaml"
run_tool "$T/c15.yaml" f list-folders
hostile "connection refused" "cannot connect to 127.0.0.1 port $port"
like "$ERR" '^imap-tool: TEMP:' "an unreachable server is a temporary failure"

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no crash or leak in any run (ASan/UBSan)"
done_testing
