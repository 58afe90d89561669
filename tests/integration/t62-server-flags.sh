#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A folder where only flags changed on the server since the last run is
# synced from the changes alone (no listing of either side), and gives what
# the full path gives; whatever that path cannot vouch for (the disk
# changed too, a file named otherwise than its flags say, a deletion mark,
# mail arrived) goes to the full path.  A crash in it loses nothing.
. "$TESTS_SRCDIR/integration/lib.sh"

settle() {	# wait out the timestamp guard, then a no-op run records stamps
	sleep 2.2
	ms -c "$T/c.yaml" -a
}
DELTA='only flags changed on the server since modseq [0-9]+'

dovecot_start
mkfolder Archive
for i in 01 02 03 04 05 06 07 08; do seed_msg INBOX "m$i"; done
for i in 1 2 3; do seed_msg Archive "a$i"; done
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"
settle

# --- the path itself ---
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m01
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m02
dadm flags add -u "$IMAP_USER" '\Answered' mailbox Archive header X-Test-Id a1
ms -c "$T/c.yaml" -a -v --debug
is "$RC" 0 "server flag changes: exit 0"
like "$ERR" "test INBOX: $DELTA \\(2 changed\\) via QRESYNC" "INBOX: from its changes (-v)"
like "$ERR" "test Archive: $DELTA \\(1 changed\\) via QRESYNC" "Archive: from its changes (-v)"
ok $(echo "$ERR" | grep -Eq 'full listing|C: [^ ]+ UID FETCH 1:\* \(UID FLAGS\)$' &&
    echo 1 || echo 0) "no listing of the server's flags"
is "$(local_flags "$T/mail/INBOX" m01)" F "m01 flagged on disk"
is "$(local_flags "$T/mail/INBOX" m02)" S "m02 seen on disk"
is "$(local_flags "$T/mail/Archive" a1)" R "a1 answered on disk"
is "$(local_flags "$T/mail/INBOX" m03)" "" "the others unchanged"
ms -c "$T/c.yaml" -a -v
like "$ERR" "test INBOX: unchanged on both sides" "the next run finds nothing to do"

# the same change on both sides meanwhile is no conflict
settle
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m03
ms -c "$T/c.yaml" -a -v
like "$ERR" "test INBOX: $DELTA \\(1 changed\\)" "a flag change alone, again"
is "$(local_flags "$T/mail/INBOX" m03)" S "m03 seen on disk"

# --- the disk changed too: the full path, both changes kept ---
settle
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m04
f=$(local_file "$T/mail/INBOX" m05)
mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
ms -c "$T/c.yaml" -a -v
ok $(echo "$ERR" | grep -q "test INBOX: $DELTA" && echo 1 || echo 0) \
    "a disk change too: not the flags-only path"
is "$(local_flags "$T/mail/INBOX" m04)" F "the server's change arrived"
is "$(server_flags INBOX m05)" '\Seen' "the disk's change was pushed"

# --- a file not named as its flags say (letters in another order) ---
f=$(local_file "$T/mail/INBOX" m06)
mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,SF"
ms -c "$T/c.yaml" -a
is "$(server_flags INBOX m06)" '\Flagged \Seen' "letters in another order read right"
settle
dadm flags add -u "$IMAP_USER" '\Answered' mailbox INBOX header X-Test-Id m06
ms -c "$T/c.yaml" -a -v
like "$ERR" "test INBOX: server flags changed, but a file is not where its flags put it" \
    "such a file: listed"
is "$(local_flags "$T/mail/INBOX" m06)" FRS "and its flags are right"
is "$(ls "$T/mail/INBOX/cur" | grep -c "$(basename "${f%%:2,*}")")" 1 "one file for it"

# --- a deletion mark: the full path (with its delete-limit) ---
settle
dadm flags add -u "$IMAP_USER" '\Deleted' mailbox INBOX header X-Test-Id m07
ms -c "$T/c.yaml" -a -v
like "$ERR" "test INBOX: server flags changed, but a message is marked deleted" \
    "a deletion mark: listed"
ms -c "$T/c.yaml" -a
is "$(local_ids "$T/mail/INBOX")" "$(server_ids INBOX)" "both sides agree after it"

# --- mail arrived meanwhile: the status says so, the full path ---
settle
dadm flags add -u "$IMAP_USER" '\Seen' mailbox Archive header X-Test-Id a2
seed_msg Archive a4
ms -c "$T/c.yaml" -a -v
ok $(echo "$ERR" | grep -q "test Archive: $DELTA" && echo 1 || echo 0) \
    "new mail: not the flags-only path"
is "$(local_ids "$T/mail/Archive")" "a1 a2 a3 a4" "the new mail arrived"
is "$(local_flags "$T/mail/Archive" a2)" S "and the flag change"

# --- --dry-run shows the changes and makes none; --push leaves them ---
settle
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m08
ms -c "$T/c.yaml" -a --dry-run
is "$RC" 0 "--dry-run: exit 0"
like "$OUT" 'test INBOX: flags local [^ ]+ \+F' "--dry-run prints the flag change"
is "$(local_flags "$T/mail/INBOX" m08)" "" "--dry-run changes nothing"
ms -c "$T/c.yaml" -a --push -v
ok $(echo "$ERR" | grep -q "test INBOX: $DELTA" && echo 1 || echo 0) \
    "--push: not the flags-only path"
is "$(local_flags "$T/mail/INBOX" m08)" "" "--push leaves the server's change"
ms -c "$T/c.yaml" -a --pull
is "$(local_flags "$T/mail/INBOX" m08)" F "--pull brings it"

# --- a crash after each commit of such a run loses nothing ---
n=1
while [ $n -le 3 ]; do
	settle
	dadm flags remove -u "$IMAP_USER" '\Flagged' mailbox INBOX all
	dadm flags add -u "$IMAP_USER" '\Draft' mailbox Archive all
	MAILSYNC_CRASH_AFTER=$n "$MAILSYNC" -q -c "$T/c.yaml" -a 2>/dev/null
	ms -c "$T/c.yaml" -a
	is "$RC" 0 "crash after commit $n: the next run exits 0"
	is "$(local_flags "$T/mail/INBOX" m01)$(local_flags "$T/mail/INBOX" m04)" "" \
	    "crash after commit $n: the server's removals arrived"
	is "$(local_flags "$T/mail/Archive" a3)" D "crash after commit $n: and its additions"
	is "$(local_ids "$T/mail/INBOX")" "$(server_ids INBOX)" \
	    "crash after commit $n: INBOX the same on both sides"
	is "$(find "$T/mail/INBOX/cur" "$T/mail/INBOX/new" -type f | wc -l | tr -d ' ')" \
	    "$(server_count INBOX)" "crash after commit $n: one file a message"
	dadm flags remove -u "$IMAP_USER" '\Draft' mailbox Archive all
	dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX all
	ms -c "$T/c.yaml" -a
	n=$((n + 1))
done
done_testing
