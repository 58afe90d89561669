#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Hostile server data against the real mailsync binary (the scripted fake
# server of fakeimap.py, and Dovecot where a synced state is needed):
# path-like and malformed folder names, bad UIDs and UIDVALIDITY, a server
# that suddenly reports an empty folder, BYE in the middle of a command, NO
# on APPEND, STORE and EXPUNGE, and hostile keywords.  Each is refused or
# skipped with a message naming it, nothing is written outside the Maildir
# root, nothing is deleted on a lie, and failed operations are retried by
# the next run.
. "$TESTS_SRCDIR/integration/lib.sh"

FAKE_LIFETIME=60
PW=pw-hostile

# fake_config NAME: config $CFG for the fake server, Maildir $M, state $S.
fake_config() {
	M=$T/m-$1
	S=$T/s-$1
	CFG=$T/c-$1.yaml
	fake_yaml "$CFG" none 3 "$M" "$S"
}

# run: mailsync -a on $CFG under timeout, in an empty directory; sets RC,
# OUT, ERR, OUTSIDE (files or directories made under $T outside $M, $S).
run() {
	mkdir -p "$T/cwd"
	: >"$T/marker"
	sleep 0.01
	OUT=$(cd "$T/cwd" && HOME=$T/cwd timeout 60 "$MAILSYNC" -c "$CFG" -a 2>"$T/stderr")
	RC=$?
	ERR=$(cat "$T/stderr")
	OUTSIDE=$(find "$T" -mindepth 1 -newer "$T/marker" ! -path "$M" ! -path "$M/*" \
		! -path "$S" ! -path "$S/*" ! -path "$T/fake*" ! -path "$T/dovecot*" \
		! -path "$T/stderr" ! -path "$T/cwd" ! -path "$T/marker" | head -5)
	grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
}
no_crash() {	# no_crash DESCRIPTION
	ok "$([ "$RC" -ne 124 ] && [ "$RC" -lt 128 ] && echo 0 || echo 1)" "$1: no hang, no crash (exit $RC)"
}
# ---- path-like and malformed folder names ------------------------------
L300=$(printf 'L%.0s' $(seq 300))
fake_start "{\"exists\": 0, \"commands\": {\"LIST\": [
	\"* LIST () \\\"/\\\" INBOX\", \"* LIST () \\\"/\\\" Good\",
	\"* LIST () \\\"/\\\" \\\"../x\\\"\", \"* LIST () \\\"/\\\" \\\"INBOX/../..\\\"\",
	\"* LIST () \\\"/\\\" \\\"/abs\\\"\", \"* LIST () \\\"/\\\" \\\"a//b\\\"\",
	\"* LIST () \\\"/\\\" \\\".\\\"\", \"* LIST () \\\"/\\\" cur\",
	\"* LIST () \\\"/\\\" Sub/tmp\", \"* LIST () \\\"/\\\" $L300\",
	\"* LIST () \\\"/\\\" &Jjo\", \"* LIST () NIL \\\"x/y\\\"\",
	\"* LIST () \\\"/\\\" .hidden\",
	\"RAW:* LIST () \\\"/\\\" {4}\\r\\nc\\u0001tl\\r\\n\",
	\"{tag} OK done\"]}}"
fake_config names
run
is "$RC" 1 "hostile folder names: exit 1"
for w in "folder '\\.\\./x': refused: '\\.\\.' component" \
	"folder 'INBOX/\\.\\./\\.\\.': refused: '\\.\\.' component" \
	"folder '\\.': refused: '\\.' component" \
	"folder 'cur': refused: reserved component 'cur'" \
	"folder 'Sub/tmp': refused: reserved component 'tmp'" \
	"folder 'LLLLLLLL.*': refused: component longer than 255 bytes" \
	"folder '\\.hidden': refused: component '\\.hidden' starts with '\\.'" \
	'skipping folder "/abs": it has an empty level' \
	'skipping folder "a//b": it has an empty level' \
	'skipping folder "&Jjo": invalid modified UTF-7' \
	'skipping folder "x/y": it contains ./. but the server has no hierarchy' \
	"skipping folder \"c.tl\": invalid modified UTF-7 name 'c.x01tl'"; do
	like "$ERR" "$w" "hostile folder name: $(echo "$w" | cut -c1-60)"
done
is "$OUTSIDE" "" "hostile folder names: nothing written outside the Maildir root"
is "$(ls "$M" | tr '\n' ' ')" "Good INBOX " "hostile folder names: only the good folders exist on disk"
no_crash "hostile folder names"

# A NUL inside a literal must not shorten the name to another folder.
fake_start '{"exists": 0, "commands": {"LIST": ["* LIST () \"/\" INBOX",
	"RAW:* LIST () \"/\" {4}\r\nn\u0000ul\r\n", "{tag} OK done"]}}'
fake_config nul
run
no_crash "a NUL in a folder name"
ok "$([ ! -e "$M/n" ] && echo 0 || echo 1)" \
	"a folder name with a NUL (literal {4} n\\0ul) is refused, not truncated to folder 'n'"
like "$ERR" "NUL byte" "the error says the server sent a NUL in a folder name"
is "$OUTSIDE" "" "a NUL in a folder name: nothing written outside the root"

# ---- bad UIDs and UIDVALIDITY -------------------------------------------
DATE='INTERNALDATE \"01-Jan-2024 00:00:00 +0000\"'
fake_start "{\"exists\": 1, \"commands\": {\"FETCH\": [
	\"* 1 FETCH (UID 0 FLAGS () $DATE RFC822.SIZE 10)\", \"{tag} OK done\"]}}"
fake_config uid0
run
is "$RC" 1 "UID 0: exit 1"
like "$ERR" "folder INBOX: .*without a valid UID" "UID 0: an error for the folder"
is "$(find "$M" -type f | wc -l)" 0 "UID 0: nothing pulled"

fake_start "{\"exists\": 2, \"commands\": {\"FETCH\": [
	\"* 1 FETCH (UID 5 FLAGS () $DATE RFC822.SIZE 10)\",
	\"* 2 FETCH (UID 5 FLAGS () $DATE RFC822.SIZE 10)\", \"{tag} OK done\"]}}"
fake_config dupuid
run
is "$RC" 1 "duplicate UIDs: exit 1"
like "$ERR" "folder INBOX: .*listed UID 5 twice" "duplicate UIDs: an error for the folder"
is "$(find "$M" -type f | wc -l)" 0 "duplicate UIDs: nothing pulled"

fake_start '{"exists": 0, "commands": {"SELECT": ["* 0 EXISTS",
	"* OK [UIDVALIDITY 0] zero", "* OK [UIDNEXT 1] next",
	"{tag} OK [READ-WRITE] done"]}}'
fake_config uidv0
run
is "$RC" 1 "UIDVALIDITY 0: exit 1"
like "$ERR" "folder INBOX: .*(no valid UIDVALIDITY|sent no UIDVALIDITY)" "UIDVALIDITY 0: an error for the folder"

fake_start '{"exists": 0, "commands": {"SELECT": ["* 0 EXISTS",
	"* OK [UIDNEXT 1] next", "{tag} OK [READ-WRITE] done"]}}'
fake_config uidvnone
run
is "$RC" 1 "no UIDVALIDITY at all: exit 1"
like "$ERR" "folder INBOX: .*UIDVALIDITY" "no UIDVALIDITY at all: an error for the folder"

# ---- BYE in the middle of a command --------------------------------------
fake_start "{\"exists\": 2, \"commands\": {\"FETCH\": [
	\"* 1 FETCH (UID 1 FLAGS () $DATE RFC822.SIZE 10)\",
	\"* BYE shutting down for maintenance\", \"EOF\"]}}"
fake_config bye
run
no_crash "BYE in the middle of FETCH"
ok "$([ "$RC" = 75 ] || [ "$RC" = 1 ] && echo 0 || echo 1)" "BYE in the middle of FETCH: a clean failure (exit $RC)"
like "$ERR" "shutting down for maintenance|closed the connection" "BYE in the middle of FETCH: the error says why"
is "$(find "$M" -type f | wc -l)" 0 "BYE in the middle of FETCH: nothing pulled"

# ---- NO on APPEND: not recorded, retried ----------------------------------
fake_start '{"exists": 0, "commands": {"APPEND": [
	"{tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]}}'
fake_config appno
mkdir -p "$M/INBOX/cur" "$M/INBOX/new" "$M/INBOX/tmp"
make_msg a1 >"$M/INBOX/new/1700000001.a1.host"
run
is "$RC" 1 "NO on APPEND: exit 1"
like "$ERR" "folder INBOX: .*OVERQUOTA.*Quota exceeded" "NO on APPEND: the server's text is shown"
is "$(grep -c 'APPEND' "$FAKE_REC")" 1 "NO on APPEND: one APPEND sent"
: >"$FAKE_REC"
run
is "$(grep -c 'APPEND' "$FAKE_REC")" 1 "NO on APPEND: the next run tries again (not recorded as done)"
check "NO on APPEND: the local message is kept" test -f "$M/INBOX/new/1700000001.a1.host"

# ---- hostile keywords ------------------------------------------------------
kws='\\Seen a/b x:y caf\u00e9 $Junk good'
i=0
while [ $i -lt 200 ]; do kws="$kws kw$i"; i=$((i + 1)); done
make_msg k1 | sed 's/$/\r/' >"$T/k1.eml"
ksize=$(wc -c <"$T/k1.eml")
kbody=$(sed 's/\\/\\\\/g; s/"/\\"/g' "$T/k1.eml" | awk '{ printf "%s\\n", $0 }' | sed 's/\r/\\r/g')
fake_start "{\"exists\": 1, \"commands\": {\"FETCH\": [
	\"* 1 FETCH (UID 1 FLAGS ($kws) $DATE RFC822.SIZE $ksize)\", \"{tag} OK done\"],
	\"UID FETCH\": [\"RAW:* 1 FETCH (UID 1 BODY[] {$ksize}\\r\\n$kbody)\\r\\n\", \"{tag} OK done\"]}}"
fake_config kw
run
no_crash "hostile keywords"
f=$(find "$M/INBOX/cur" "$M/INBOX/new" -type f 2>/dev/null | head -1)
if [ -n "$f" ]; then
	ok 0 "hostile keywords: the message was pulled (exit $RC)"
	like "$(basename "$f")" '^[^/:]+:2,[A-Z]*[a-z]*$' "hostile keywords: the file name carries only flag letters"
	n=$(echo "${f##*:2,}" | tr -cd 'a-z' | wc -c)
	ok "$([ "$n" -le 26 ] && echo 0 || echo 1)" "hostile keywords: at most 26 keyword letters ($n)"
	kf=$M/INBOX/dovecot-keywords
	ok "$([ -f "$kf" ] && ! LC_ALL=C grep -q '[^ -~]' "$kf" && echo 0 || echo 1)" \
		"hostile keywords: dovecot-keywords is printable ASCII (no non-ASCII keyword)"
	ok "$(awk '$1 < 0 || $1 > 25 || NF != 2 { bad = 1 } END { exit bad }' "$kf" && echo 0 || echo 1)" \
		"hostile keywords: dovecot-keywords maps at most letters 0-25, one keyword a line"
	like "$ERR" "26|keyword" "hostile keywords: a warning about the keywords that got no letter"
else
	ok "$([ "$RC" = 1 ] && echo 0 || echo 1)" "hostile keywords: refused as a whole (exit $RC)"
fi
is "$OUTSIDE" "" "hostile keywords: nothing written outside the root"

# ---- against a synced state: a folder that suddenly looks empty, NO on
# STORE and on EXPUNGE.  Dovecot holds the real mailbox; the fake server
# replays its UIDVALIDITY and listing and answers the changes.
dovecot_start
IMAP_USER=real
i=1
while [ $i -le 20 ]; do seed_msg INBOX m$i; i=$((i + 1)); done
write_config "$T/real.yaml"
M=$T/mail
"$MAILSYNC" -q -c "$T/real.yaml" -a || bail "baseline sync with Dovecot failed"
UV=$(dadm -f flow mailbox status -u real uidvalidity INBOX | sed 's/.*uidvalidity=//')
# fake_as_real JSON-COMMANDS: a fake with Dovecot's UIDVALIDITY, reached
# by a copy of the real config (same Maildir and state)
fake_as_real() {
	fake_start "{\"commands\": {$1}}"
	CFG=$T/as-real.yaml
	sed "s/port: $IMAPS_PORT/port: $FAKE_PORT/; s/tls: imaps/tls: none/" \
		"$T/real.yaml" >"$CFG"
	chmod 600 "$CFG"
	S=$T/state
}
listing() {
	dadm fetch -u real 'uid flags size.virtual' mailbox INBOX all |
		awk '/^uid:/ { u = $2 }
		/^flags:/ { $1 = ""; f = $0; gsub(/\\Recent/, "", f) }
		/^size.virtual:/ { n++; printf "%d %d %d %s\n", n, u, $2, f }' |
		sed 's/\\/\\\\/g' |
		while read -r n u sz f; do
			printf '"* %d FETCH (UID %d FLAGS (%s) %s RFC822.SIZE %d)", ' \
				"$n" "$u" "$f" "$DATE" "$sz"
		done
}
select_reply() {	# select_reply EXISTS UIDNEXT
	printf '"SELECT": ["* %s EXISTS", "* OK [UIDVALIDITY %s] v", "* OK [UIDNEXT %s] n", "{tag} OK [READ-WRITE] done"]' "$1" "$UV" "$2"
}

# 20 synced, and now the server says 0 with the same UIDVALIDITY
fake_as_real "$(select_reply 0 21)"
run
is "$RC" 3 "a server folder suddenly empty: refused (exit 3)"
like "$ERR" "refus" "a server folder suddenly empty: the refusal says so"
is "$(local_ids "$M/INBOX" | wc -w)" 20 "a server folder suddenly empty: no local deletion"

# NO on STORE: a flag set on disk stays to be sent
f=$(local_file "$M/INBOX" m1)
mv "$f" "$M/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
fake_as_real "$(select_reply 20 21), \"FETCH\": [$(listing) \"{tag} OK done\"],
	\"UID STORE\": [\"{tag} NO [CANNOT] Flags are read-only today\"]"
run
is "$RC" 1 "NO on STORE: exit 1"
like "$ERR" "Flags are read-only today" "NO on STORE: the server's text is shown"
grep -q 'UID STORE' "$FAKE_REC"
ok $? "NO on STORE: a STORE was sent"
ms -c "$T/real.yaml" -a
is "$RC" 0 "NO on STORE, then Dovecot again: exit 0"
is "$(echo $(server_flags INBOX m1)) / $(local_flags "$M/INBOX" m1)" '\Seen / S' \
	"NO on STORE: the flag is sent by the next run, and kept on disk"

# NO on EXPUNGE: a message deleted on disk is still to be deleted
rm "$(local_file "$M/INBOX" m2)"
fake_as_real "$(select_reply 20 21), \"FETCH\": [$(listing) \"{tag} OK done\"],
	\"UID STORE\": [\"{tag} OK done\"],
	\"UID EXPUNGE\": [\"{tag} NO [EXPUNGEISSUED] Cannot expunge now\"]"
run
is "$RC" 1 "NO on EXPUNGE: exit 1"
like "$ERR" "Cannot expunge now" "NO on EXPUNGE: the server's text is shown"
ms -c "$T/real.yaml" -a
is "$RC" 0 "NO on EXPUNGE, then Dovecot again: exit 0"
is "$(server_ids INBOX | tr ' ' '\n' | grep -cx m2)$(local_ids "$M/INBOX" | tr ' ' '\n' | grep -cx m2)" 00 \
	"NO on EXPUNGE: the next run deletes it on the server, not resurrected on disk"
is "$(server_count INBOX):$(local_ids "$M/INBOX" | wc -w)" 19:19 "NO on EXPUNGE: nothing else lost"

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no sanitizer report in any run"
done_testing
