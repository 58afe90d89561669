#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Deletions propagate both ways; expunge decides between removing and marking.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
for i in 1 2 3 4 5 6 7; do seed_msg INBOX m$i; done
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"

setflags() {
	f=$(local_file "$T/mail/INBOX" "$1")
	base=$(basename "$f")
	mv "$f" "$T/mail/INBOX/cur/${base%%:2,*}:2,$2"
}
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m1
rm "$(local_file "$T/mail/INBOX" m2)"
dadm flags add -u "$IMAP_USER" '\Deleted' mailbox INBOX header X-Test-Id m3
setflags m4 T
# deleted on the server, flags changed on disk: the deletion wins
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m5
setflags m5 F
ms -c "$T/c.yaml" -a
is "$RC" 0 "deletion run exits 0"
is "$(local_ids "$T/mail/INBOX")" "m6 m7" "server-side removals and marks reach disk"
is "$(server_ids INBOX)" "m6 m7" "disk-side removals and marks reach the server"
like "$OUT" "3 deleted on server, 4 deleted locally" "summary counts deletions"

# expunge: none keeps deleted messages marked on both sides
write_config "$T/c.yaml" "expunge: none"
rm "$(local_file "$T/mail/INBOX" m6)"
ms -c "$T/c.yaml" -a
is "$RC" 0 "expunge none exits 0"
is "$(server_ids INBOX)" "m6 m7" "not expunged on the server"
is "$(server_flags INBOX m6)" '\Deleted' "marked deleted on the server"
dadm flags add -u "$IMAP_USER" '\Deleted' mailbox INBOX header X-Test-Id m7
ms -c "$T/c.yaml" -a
is "$(local_flags "$T/mail/INBOX" m7)" "T" "server mark becomes T on disk, file kept"
ms -c "$T/c.yaml" -a
is "$(local_ids "$T/mail/INBOX")" "m7" "rerun does not bring back the removed file"
is "$(server_ids INBOX)" "m6 m7" "rerun keeps the server as it was"

# a message new on the server and already deleted there is not copied
seed_msg INBOX m8 "x" '\Deleted'
write_config "$T/c.yaml" "expunge: disk"
ms -c "$T/c.yaml" -a
is "$RC" 0 "expunge disk exits 0"
is "$(local_ids "$T/mail/INBOX")" "" "new but deleted message not copied; T-marked file expunged on disk"
is "$(server_ids INBOX)" "m6 m7 m8" "server keeps its deleted messages with expunge: disk"

# direction pull: deletions on the server stay on disk (backup)
write_config "$T/c.yaml" "direction: pull" "propagate: [new, flags]"
seed_msg INBOX b1
ms -c "$T/c.yaml" -a
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id b1
ms -c "$T/c.yaml" -a
is "$RC" 0 "backup run exits 0"
check "backup keeps what the server deleted" test -n "$(local_file "$T/mail/INBOX" b1)"
ms -c "$T/c.yaml" -a
is "$(server_ids INBOX | grep -c b1)" 0 "nothing is pushed back in pull mode"
done_testing
