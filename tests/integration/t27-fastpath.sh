#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A folder unchanged on both sides is not even selected; any change on
# either side (flags, new, removed, renamed) is still seen.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
mkfolder Archive
for i in 1 2 3; do seed_msg INBOX m$i; seed_msg Archive a$i; done
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"

settle() {	# wait out the timestamp guard, then a no-op run records stamps
	sleep 2.2
	ms -c "$T/c.yaml" -a
}
settle
ms -c "$T/c.yaml" --debug --json -a
is "$RC" 0 "no-change run exits 0"
like "$OUT" '"unchanged_folders":2' "both folders detected as unchanged"
like "$OUT" '"folder_details":\[\{"name":"Archive","detection":"unchanged","failed":false,"pulled":0,"pushed":0' "--json says how each folder was detected"
ok $(echo "$ERR" | grep -Eq ' C: [^ ]+ (SELECT|UID FETCH|FETCH) ' && echo 1 || echo 0) "no SELECT or FETCH sent for unchanged folders"
ok $(echo "$ERR" | grep -Eq ' C: [^ ]+ ENABLE ' && echo 1 || echo 0) "no ENABLE either: QRESYNC waits for a SELECT"
ok $(echo "$ERR" | grep -Eq ' C: [^ ]+ STATUS ' && echo 1 || echo 0) "no STATUS either: it came with the LIST"
like "$ERR" ' C: [^ ]+ LIST "" "\*" RETURN \(STATUS \(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ\)\)' "one LIST-STATUS for all folders"
is "$(echo "$ERR" | grep -Ec ' C: [^ ]+ (LIST|LSUB) ')" 1 "and no other LIST (the delimiter came with INBOX)"

settle
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m1
ms -c "$T/c.yaml" --json -a
is "$(local_flags "$T/mail/INBOX" m1)" "F" "a server flag change is seen (HIGHESTMODSEQ)"
like "$OUT" '\{"name":"INBOX","detection":"changes","failed":false,"pulled":0,"pushed":0,"flags":\{"server":0,"disk":1\}' "--json: INBOX listed by changes, one flag set on disk"

settle
f=$(local_file "$T/mail/Archive" a2)
mv "$f" "$T/mail/Archive/cur/$(basename "${f%%:2,*}"):2,S"
ms -c "$T/c.yaml" -a
is "$(server_flags Archive a2)" '\Seen' "a local rename is seen (directory stamp)"

settle
make_msg l1 >"$T/mail/Archive/new/1700000005.l1.host"
ms -c "$T/c.yaml" -a
is "$(server_ids Archive)" "a1 a2 a3 l1" "a new local file is seen"

settle
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m2
ms -c "$T/c.yaml" -a
is "$(local_ids "$T/mail/INBOX")" "m1 m3" "a server expunge is seen"

settle
rm "$(local_file "$T/mail/Archive" a3)"
ms -c "$T/c.yaml" -a
is "$(server_ids Archive)" "a1 a2 l1" "a local deletion is seen"

# A file added, then the directory's time set back as it was (rsync -t
# does that): its change time still tells.
settle
cur=$T/mail/Archive/cur
old=$(stat -c %y "$cur")
make_msg l2 >"$cur/1700000006.l2.host:2,S"
touch -d "$old" "$cur"
is "$(stat -c %y "$cur")" "$old" "the directory time is set back"
ms -c "$T/c.yaml" -a
is "$(server_ids Archive)" "a1 a2 l1 l2" "a file added behind a restored directory time is seen"

# Without LIST-STATUS: one STATUS per folder, and a change is still seen.
dovecot_stop
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE UIDPLUS MOVE CONDSTORE QRESYNC
}'
write_config "$T/c.yaml"
settle
ms -c "$T/c.yaml" --debug --json -a
like "$OUT" '"unchanged_folders":2' "without LIST-STATUS: both folders unchanged"
is "$(echo "$ERR" | grep -Ec ' C: [^ ]+ STATUS ')" 2 "one STATUS per folder"
settle
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox Archive header X-Test-Id a1
ms -c "$T/c.yaml" -a
is "$(local_flags "$T/mail/Archive" a1)" "F" "without LIST-STATUS: a server flag change is seen"
done_testing
