#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A changed folder is listed with CONDSTORE (UID FETCH ... CHANGEDSINCE)
# only when the state's record is trustworthy, and gives the same result as
# the full listing: flag changes, expunges and new mail on the server, a
# flag change on disk; a server without CONDSTORE, and one holding a message
# the state does not know (max-size), get the full listing.
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
	is "$RC" 0 "$name: sync after changes on both sides"
	is "$(server_ids INBOX)" "$want_ids" "$name: server messages"
	is "$(local_ids "$T/mail/INBOX")" "$want_ids" "$name: local messages"
	w="m01=;m02=;m03=\\Flagged;m04=\\Seen;m06=\\Seen;m07=;m08=;m09=;m10=;m11=;m12=;m13=;m14=;m15=;m16=;m17=;m18=;m19=;m20=;n1=;n2=\\Answered;"
	is "$(all_flags server)" "$w" "$name: server flags"
	w="m01=;m02=;m03=F;m04=S;m06=S;m07=;m08=;m09=;m10=;m11=;m12=;m13=;m14=;m15=;m16=;m17=;m18=;m19=;m20=;n1=;n2=R;"
	is "$(all_flags local)" "$w" "$name: local flags"
}

# --- (a) CONDSTORE: the changes only ---
dovecot_start
scenario condstore
like "$ERR" 'test INBOX: changes since modseq [0-9]+ \(4 changed\)' \
    "the CHANGEDSINCE path was taken (-v)"
like "$ERR" 'C: [^ ]+ UID FETCH 1:\* \(UID FLAGS\) \(CHANGEDSINCE [0-9]+\)' \
    "CHANGEDSINCE sent"
ok $(echo "$ERR" | grep -Eq 'C: [^ ]+ (UID )?FETCH [0-9:*]+ \(UID FLAGS\)$' &&
    echo 1 || echo 0) "no full flag listing sent"
like "$ERR" 'C: [^ ]+ UID SEARCH 1:' "the expunge made it look for the UIDs"
# the run pushed a flag: the next one lists what changed since before that
# push, its own change among them
dadm flags add -u "$IMAP_USER" '\Draft' mailbox INBOX header X-Test-Id m07
ms -c "$T/c.yaml" -a -v
like "$ERR" 'test INBOX: changes since modseq [0-9]+ \(2 changed\)' \
    "after our own flag push: the changes since before it"
is "$(local_flags "$T/mail/INBOX" m07)" "D" "and the change is seen"
is "$(server_flags INBOX m06)" '\Seen' "our own pushed flag stays"
is "$(local_flags "$T/mail/INBOX" m06)" "S" "on both sides"
# an upload and a deletion by this run, then another client's changes
make_msg p1 >"$T/mail/INBOX/new/1700000001.p1.host"
rm -f "$(local_file "$T/mail/INBOX" m11)"
ms -c "$T/c.yaml" -a
is "$(server_ids INBOX | tr ' ' '\n' | grep -c -x -e p1 -e m11)" 1 \
    "p1 uploaded, m11 deleted on the server"
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m12
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m13
ms -c "$T/c.yaml" -a -v
like "$ERR" 'test INBOX: changes since modseq' \
    "after our own upload and deletion: the changes since before them"
is "$(server_ids INBOX | tr ' ' '\n' | grep -c -x -e p1 -e m11 -e m12)" 1 \
    "the server holds p1 once, no m11 or m12"
is "$(local_ids "$T/mail/INBOX" | tr ' ' '\n' | grep -c -x -e p1 -e m11 -e m12)" 1 \
    "so does the disk"
is "$(local_flags "$T/mail/INBOX" m13)" "F" "the other client's flag arrived"
ms -c "$T/c.yaml" -a
is "$(local_ids "$T/mail/INBOX")" "$(server_ids INBOX)" "both sides agree"
settle
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m08
ms -c "$T/c.yaml" -a -v --debug
like "$ERR" 'test INBOX: changes since modseq [0-9]+ \(1 changed\)' \
    "a flag change alone: CHANGEDSINCE again"
ok $(echo "$ERR" | grep -q 'UID SEARCH' && echo 1 || echo 0) \
    "same count, no expunge: no UID SEARCH"
is "$(local_flags "$T/mail/INBOX" m08)" "S" "and the change is seen"
dovecot_stop

# --- (b) a server without CONDSTORE: the full path, same result ---
rm -rf "$T/dovecot" "$T/mail" "$T/state"
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE UIDPLUS MOVE
}'
scenario plain
like "$ERR" 'test INBOX: full listing' "without CONDSTORE: full listing"
ok $(echo "$ERR" | grep -Eq 'CONDSTORE|CHANGEDSINCE|HIGHESTMODSEQ' &&
    echo 1 || echo 0) "no CONDSTORE used or offered"
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
done_testing
