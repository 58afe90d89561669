#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A changed folder is listed from its changes (UID FETCH ... CHANGEDSINCE)
# only when the state's record is trustworthy, and gives the same result as
# the full listing: flag changes, expunges and new mail on the server, a
# flag change on disk.  With QRESYNC (Dovecot's default) the expunges come
# as VANISHED; with CONDSTORE alone a UID SEARCH finds them; a server
# without either, and one holding a message the state does not know
# (max-size), get the full listing.  -v tells which path each run took.
# A scripted server checks that VANISHED keeps the message count right.
# Where only flags changed on the server, the flags-only path (t62) is the
# one taken.
. "$TESTS_SRCDIR/integration/lib.sh"

settle() {	# wait out the timestamp guard, then a no-op run records stamps
	sleep 2.2
	ms -c "$T/c.yaml" -a
}

ids20="m01 m02 m03 m04 m05 m06 m07 m08 m09 m10 m11 m12 m13 m14 m15 m16 m17 m18 m19 m20"
want_ids="m01 m02 m03 m04 m06 m07 m08 m09 m10 m11 m12 m13 m14 m15 m16 m17 m18 m19 m20 n1 n2"

# all_flags WHERE: "id=flags" for every message, server or local
all_flags() {
	local id
	for id in $want_ids; do
		if [ "$1" = server ]; then
			printf '%s=%s;' "$id" "$(server_flags INBOX "$id")"
		else
			printf '%s=%s;' "$id" "$(local_flags "$T/mail/INBOX" "$id")"
		fi
	done
}

# scenario NAME: baseline, a no-op run, then changes on both sides and one
# run; checks both sides against what the full listing gives.
scenario() {
	local name=$1 f w
	for id in $ids20; do seed_msg INBOX "$id"; done
	write_config "$T/c.yaml"
	ms -c "$T/c.yaml" -a
	is "$RC" 0 "$name: initial sync"
	is "$(local_ids "$T/mail/INBOX")" "$ids20" "$name: baseline on disk"
	settle
	is "$RC" 0 "$name: no-op run"

	dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m03
	dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m04
	dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m05
	seed_msg INBOX n1
	seed_msg INBOX n2 "message n2" '\Answered'
	f=$(local_file "$T/mail/INBOX" m06)
	mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
	ms -c "$T/c.yaml" -a -v --debug
	printf '%s\n' "$ERR" >"$T/$name.err"
	is "$RC" 0 "$name: sync after changes on both sides"
	is "$(server_ids INBOX)" "$want_ids" "$name: server messages"
	is "$(local_ids "$T/mail/INBOX")" "$want_ids" "$name: local messages"
	w="m01=;m02=;m03=\\Flagged;m04=\\Seen;m06=\\Seen;m07=;m08=;m09=;m10=;m11=;m12=;m13=;m14=;m15=;m16=;m17=;m18=;m19=;m20=;n1=;n2=\\Answered;"
	is "$(all_flags server)" "$w" "$name: server flags"
	w="m01=;m02=;m03=F;m04=S;m06=S;m07=;m08=;m09=;m10=;m11=;m12=;m13=;m14=;m15=;m16=;m17=;m18=;m19=;m20=;n1=;n2=R;"
	is "$(all_flags local)" "$w" "$name: local flags"
}

# counts VIA CHANGED VANISHED: what -v says of the path, as a regex
counts() {
	if [ "$1" = QRESYNC ]; then
		printf '%s' "\\($2 changed, $3 vanished\\) via QRESYNC"
	else
		printf '%s' "\\($2 changed\\) via $1"
	fi
}

# changes_path NAME VIA: the scenario and the runs after it rebuild the
# listing from the changes; VIA is the -v wording of the path.
changes_path() {
	local name=$1 via=$2
	scenario "$name"
	like "$ERR" "test INBOX: changes since modseq [0-9]+ $(counts "$via" 4 1)" \
	    "$name: the CHANGEDSINCE path was taken (-v)"
	ok $(echo "$ERR" | grep -Eq 'C: [^ ]+ (UID )?FETCH [0-9:*]+ \(UID FLAGS\)$' &&
	    echo 1 || echo 0) "$name: no full flag listing sent"
	# the run pushed a flag: the next one lists what changed since before
	# that push, its own change among them
	dadm flags add -u "$IMAP_USER" '\Draft' mailbox INBOX header X-Test-Id m07
	ms -c "$T/c.yaml" -a -v
	like "$ERR" "test INBOX: only flags changed on the server since modseq [0-9]+ \\(2 changed\\) via $via" \
	    "$name: after our own flag push: the changes since before it"
	is "$(local_flags "$T/mail/INBOX" m07)" "D" "$name: and the change is seen"
	is "$(server_flags INBOX m06)" '\Seen' "$name: our own pushed flag stays"
	is "$(local_flags "$T/mail/INBOX" m06)" "S" "$name: on both sides"
	# an upload and a deletion by this run, then another client's changes
	make_msg p1 >"$T/mail/INBOX/new/1700000001.p1.host"
	rm -f "$(local_file "$T/mail/INBOX" m11)"
	ms -c "$T/c.yaml" -a
	is "$(server_ids INBOX | tr ' ' '\n' | grep -c -x -e p1 -e m11)" 1 \
	    "$name: p1 uploaded, m11 deleted on the server"
	dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m12
	dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m13
	ms -c "$T/c.yaml" -a -v
	like "$ERR" "test INBOX: changes since modseq .* via $via" \
	    "$name: after our own upload and deletion: the changes since before them"
	is "$(server_ids INBOX | tr ' ' '\n' | grep -c -x -e p1 -e m11 -e m12)" 1 \
	    "$name: the server holds p1 once, no m11 or m12"
	is "$(local_ids "$T/mail/INBOX" | tr ' ' '\n' | grep -c -x -e p1 -e m11 -e m12)" 1 \
	    "$name: so does the disk"
	is "$(local_flags "$T/mail/INBOX" m13)" "F" "$name: the other client's flag arrived"
	ms -c "$T/c.yaml" -a
	is "$(local_ids "$T/mail/INBOX")" "$(server_ids INBOX)" "$name: both sides agree"
	settle
	dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m08
	ms -c "$T/c.yaml" -a -v --debug
	like "$ERR" "test INBOX: only flags changed on the server since modseq [0-9]+ \\(1 changed\\) via $via" \
	    "$name: a flag change alone: CHANGEDSINCE again"
	ok $(echo "$ERR" | grep -q 'UID SEARCH' && echo 1 || echo 0) \
	    "$name: same count, no expunge: no UID SEARCH"
	is "$(local_flags "$T/mail/INBOX" m08)" "S" "$name: and the change is seen"
}

# --- (a) QRESYNC: the changes and the expunges in one command ---
dovecot_start
changes_path qresync QRESYNC
dovecot_stop
# the scenario's run, kept by scenario in $T/qresync.err
ERR=$(cat "$T/qresync.err")
like "$ERR" 'C: [^ ]+ ENABLE QRESYNC' "qresync: enabled"
# the changes and the expunges come with the SELECT: one round trip
like "$ERR" 'C: [^ ]+ SELECT "INBOX" \(QRESYNC \([0-9]+ [0-9]+\)\)' \
    "qresync: SELECT with QRESYNC parameters sent"
ok $(echo "$ERR" | grep -q 'C: [^ ]* UID FETCH 1:\* (UID FLAGS) (CHANGEDSINCE' && echo 1 || echo 0) \
    "qresync: no UID FETCH CHANGEDSINCE after it"
like "$ERR" 'S: \* VANISHED \(EARLIER\) ' "qresync: the server named the expunge"
ok $(echo "$ERR" | grep -q 'UID SEARCH' && echo 1 || echo 0) \
    "qresync: no UID SEARCH for the expunge"

# --- (a2) CONDSTORE alone: an expunge costs a UID SEARCH ---
rm -rf "$T/dovecot" "$T/mail" "$T/state"
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE UIDPLUS MOVE CONDSTORE
}'
changes_path condstore CONDSTORE
dovecot_stop
ERR=$(cat "$T/condstore.err")
like "$ERR" 'C: [^ ]+ UID FETCH 1:\* \(UID FLAGS\) \(CHANGEDSINCE [0-9]+\)$' \
    "condstore: CHANGEDSINCE sent, without VANISHED"
like "$ERR" 'C: [^ ]+ UID SEARCH 1:' "condstore: the expunge made it look for the UIDs"
ok $(echo "$ERR" | grep -Eq 'QRESYNC|VANISHED' && echo 1 || echo 0) \
    "condstore: no QRESYNC used or offered"

# --- (b) a server without CONDSTORE: the full path, same result ---
rm -rf "$T/dovecot" "$T/mail" "$T/state"
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE UIDPLUS MOVE
}'
scenario plain
like "$ERR" 'test INBOX: full listing' "without CONDSTORE: full listing"
ok $(echo "$ERR" | grep -Eq 'CONDSTORE|QRESYNC|CHANGEDSINCE|HIGHESTMODSEQ' &&
    echo 1 || echo 0) "no CONDSTORE or QRESYNC used or offered"
dovecot_stop

# --- (c) a message the state does not know: the full path, nothing lost ---
rm -rf "$T/dovecot" "$T/mail" "$T/state"
dovecot_start
for id in s1 s2 s3; do seed_msg INBOX "$id"; done
make_msg big "big message" 400 | dadm save -u "$IMAP_USER" -m INBOX
write_config "$T/c.yaml" "max-size: 4k"
ms -c "$T/c.yaml" -a
is "$(local_ids "$T/mail/INBOX")" "s1 s2 s3" "max-size: the big one stays on the server"
settle
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id s1
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id s2
seed_msg INBOX s4
ms -c "$T/c.yaml" -a -v
is "$RC" 0 "sync with an unpaired server message"
like "$ERR" 'test INBOX: full listing' "unpaired server message: full listing"
is "$(local_ids "$T/mail/INBOX")" "s1 s3 s4" "changes arrived"
is "$(local_flags "$T/mail/INBOX" s1)" "F" "flag change arrived"
is "$(server_ids INBOX)" "big s1 s3 s4" "nothing lost on the server"
dovecot_stop

# --- (d) with QRESYNC, VANISHED keeps the message count (a scripted
# server: libetpan counts only EXPUNGE off EXISTS) ---
TOOL="$(dirname "$MAILSYNC")/tests/imap-tool"
[ -x "$TOOL" ] || bail "imap-tool not built ($TOOL)"
qr_caps='"caps": "IMAP4rev1 AUTH=PLAIN UIDPLUS ENABLE CONDSTORE QRESYNC", "exists": 3'
qr_enable='"ENABLE": ["* ENABLED QRESYNC", "{tag} OK enabled"]'
# fake_run NOOP-OR-FETCH-REPLY ARGS...: imap-tool against a fake server
fake_run() {
	fake_start "{$qr_caps, \"commands\": {$qr_enable, $1}}"
	shift
	PW=pw-fake
	fake_yaml "$T/f.yaml" none 3 "$T/fmail" -
	OUT=$(timeout 30 "$TOOL" "$T/f.yaml" f "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	grep -E 'Sanitizer|runtime error' "$T/err" >>"$T/sanitizer"
}
: >"$T/sanitizer"
# a NOOP (re-selecting) hears of one message gone before an EXISTS, which
# counts it already, and of two after
fake_run '"NOOP": ["* VANISHED 1", "* 4 EXISTS", "* VANISHED 2:3", "{tag} OK done"]' \
    select INBOX INBOX INBOX
is "$RC" 0 "fake QRESYNC server: selected"
like "$(cat "$FAKE_REC")" 'ENABLE QRESYNC' "fake QRESYNC server: enabled"
is "$(echo "$OUT" | sed -n 's/.* exists //p' | tr '\n' ' ')" "3 2 2 " \
    "VANISHED counts off the messages after the last EXISTS only"
# an expunge during the listing shifts the sequence numbers: listed again,
# up to the new end
fake_run '"FETCH": ["* 1 FETCH (UID 1 FLAGS ())", "* VANISHED 3", "{tag} OK done"]' \
    list INBOX
like "$ERR" 'kept being expunged' "VANISHED while listing: listed again"
is "$(grep -o 'FETCH [0-9:]*' "$FAKE_REC" | tr '\n' ' ')" \
    "FETCH 1:3 FETCH 1:2 FETCH 1 " "each time up to the new end"
# more vanished than there were: the listing is refused, not read as
# deletions
fake_run '"NOOP": ["* VANISHED 1:9", "{tag} OK done"]' select INBOX INBOX
ok "$([ "$RC" -ne 0 ] && echo 0 || echo 1)" "more VANISHED than messages: fails"
like "$ERR" 'more messages vanished than the folder held' "and says why"
# after "mark all as read" in a large folder every message changed: the
# answer (700,000 lines, 36 MB) is taken line by line, not refused as
# more than libetpan may hold at once
fake_run '"SELECT": ["* 700000 EXISTS", "* OK [UIDVALIDITY 1234] v",
	"* OK [UIDNEXT 700001] n", "* OK [HIGHESTMODSEQ 900] m",
	"{tag} OK [READ-WRITE] done"],
	"UID FETCH": ["REPEAT:700000:* {n} FETCH (UID {n} MODSEQ (800) FLAGS (\\Seen))",
	"{tag} OK done"]' changed INBOX 5
is "$RC" 0 "700,000 changed messages: read"
is "$OUT" "700000 changed, 0 vanished ranges" "700,000 changed messages: all of them"
# ... and after 200,000 scattered messages were expunged, the one line
# that names them (1.3 MB) is read, past the 1 MiB a line may have
fake_run '"SELECT": ["* 700000 EXISTS", "* OK [UIDVALIDITY 1234] v",
	"* OK [UIDNEXT 700001] n", "* OK [HIGHESTMODSEQ 900] m",
	"{tag} OK [READ-WRITE] done"],
	"UID FETCH": ["* VANISHED (EARLIER) '"$(seq -s, 2 2 400000)"'",
	"{tag} OK done"]' changed INBOX 5
is "$RC" 0 "200,000 scattered UIDs vanished: read"
is "$OUT" "0 changed, 200000 vanished ranges" "200,000 scattered UIDs vanished: all of them"
fake_run '"NOOP": ["* VANISHED 2:*", "{tag} OK done"]' select INBOX INBOX
like "$ERR" 'malformed VANISHED' "a VANISHED with \"*\" is refused"
is "$(cat "$T/sanitizer")" "" "scripted server: no crash, no leak"
done_testing
