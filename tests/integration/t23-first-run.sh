#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# First run with both sides full pairs equal messages instead of copying.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
for i in 1 2 3; do seed_msg INBOX m$i; done
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m1
mkdir -p "$T/mail/INBOX/cur" "$T/mail/INBOX/new" "$T/mail/INBOX/tmp"
make_msg m1 >"$T/mail/INBOX/cur/100.a.host:2,F"
make_msg m2 >"$T/mail/INBOX/cur/101.b.host:2,"
make_msg l1 >"$T/mail/INBOX/cur/102.c.host:2,S"
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "first run exits 0"
is "$(server_ids INBOX)" "l1 m1 m2 m3" "no duplicate on the server"
is "$(local_ids "$T/mail/INBOX")" "l1 m1 m2 m3" "no duplicate on disk"
is "$(server_flags INBOX m1)" '\Flagged \Seen' "paired: flags of both sides united (server)"
is "$(local_flags "$T/mail/INBOX" m1)" "FS" "paired: flags of both sides united (disk)"
check "paired file kept its name" test -e "$T/mail/INBOX/cur/100.a.host:2,FS"
ms -c "$T/c.yaml" -a
like "$OUT" "0 pulled .*0 pushed .*0 flag changes" "second run is a no-op"

# UIDVALIDITY change: the server folder is rebuilt with the same mail
# under new UIDs and a new UIDVALIDITY
dadm expunge -u "$IMAP_USER" mailbox INBOX all
for id in l1 m1 m2 m3; do make_msg $id | dadm save -u "$IMAP_USER" -m INBOX; done
dadm mailbox update -u "$IMAP_USER" --uid-validity 4242 INBOX || bail "uid-validity"
ms -c "$T/c.yaml" -a
is "$RC" 0 "run after UIDVALIDITY change exits 0"
like "$ERR" "UIDVALIDITY changed" "the change is reported"
is "$(server_ids INBOX)" "l1 m1 m2 m3" "nothing duplicated on the server"
is "$(local_ids "$T/mail/INBOX")" "l1 m1 m2 m3" "nothing duplicated or lost on disk"
done_testing
