#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Flag changes on either or both sides merge per flag against the state.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
for i in 1 2 3 4 5 6; do seed_msg INBOX m$i; done
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m5
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"

setflags() {	# setflags ID LETTERS: rename the local file to carry LETTERS
	f=$(local_file "$T/mail/INBOX" "$1")
	base=$(basename "$f")
	mv "$f" "$T/mail/INBOX/cur/${base%%:2,*}:2,$2"
}
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m1
setflags m2 F
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m3
setflags m3 S
dadm flags add -u "$IMAP_USER" 'work' mailbox INBOX header X-Test-Id m4
dadm flags remove -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m5
setflags m5 FS
dadm flags add -u "$IMAP_USER" '$Forwarded \Answered \Draft' mailbox INBOX header X-Test-Id m6
ms -c "$T/c.yaml" -a
is "$RC" 0 "flag sync exits 0"
is "$(local_flags "$T/mail/INBOX" m1)" "S" "server flag reaches disk"
is "$(server_flags INBOX m2)" '\Flagged' "disk flag reaches server"
is "$(local_flags "$T/mail/INBOX" m3)" "FS" "both changed: union on disk"
is "$(server_flags INBOX m3)" '\Flagged \Seen' "both changed: union on server"
is "$(local_flags "$T/mail/INBOX" m4)" "a" "keyword as a letter on disk"
check "dovecot-keywords maps the letter" grep -qx '0 work' "$T/mail/INBOX/dovecot-keywords"
is "$(local_flags "$T/mail/INBOX" m5)" "F" "removed on server, added on disk: both kept"
is "$(server_flags INBOX m5)" '\Flagged' "server has the merged flags"
is "$(local_flags "$T/mail/INBOX" m6)" "DPR" "draft, forwarded and answered map to D P R"

# a keyword set on disk goes to the server
setflags m2 Fa
ms -c "$T/c.yaml" -a
is "$(server_flags INBOX m2)" '\Flagged work' "keyword letter becomes the keyword"

ms -c "$T/c.yaml" -a
like "$OUT" "0 flag changes" "rerun is a no-op"

# --pull leaves disk-side changes unpropagated this run
setflags m1 ST
ms -c "$T/c.yaml" --pull -a
is "$(server_flags INBOX m1)" '\Seen' "--pull does not push flags"
ms -c "$T/c.yaml" -a
is "$(server_count INBOX)" 5 "later run propagates the deletion mark (expunged)"
done_testing
