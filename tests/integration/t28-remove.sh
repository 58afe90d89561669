#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Folder removal propagates only where `remove` says, and never takes mail
# the state does not know with it.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
for f in Old Srv Keep; do mkfolder $f; done
seed_msg Old o1
seed_msg Old o2
seed_msg Srv s1
seed_msg Keep k1
write_config "$T/c.yaml" "remove: both"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"

rm -rf "$T/mail/Old"
dadm mailbox delete -u "$IMAP_USER" Srv
ms -c "$T/c.yaml" -a
is "$RC" 0 "removal run exits 0"
is "$(dadm mailbox list -u "$IMAP_USER" | grep -c '^Old$')" 0 "folder removed on disk is removed on the server"
check "folder removed on the server is removed on disk" test ! -e "$T/mail/Srv"
like "$OUT" "2 deleted on server, 1 deleted locally" "its messages count as deletions"

rm -rf "$T/mail/Keep"
seed_msg Keep k2
ms -c "$T/c.yaml" -a
is "$RC" 3 "a folder with new mail is not removed"
like "$ERR" "Keep.*1 new messages on the server" "the refusal names the folder and the new mail"
is "$(server_ids Keep)" "k1 k2" "nothing removed on the server"

write_config "$T/c.yaml" "remove: none"
ms -c "$T/c.yaml" -a
is "$RC" 3 "remove: none refuses"
is "$(server_ids Keep)" "k1 k2" "and removes nothing"
done_testing
