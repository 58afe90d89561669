#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Refusals: delete guard, missing or empty root, vanished folder, lock held,
# unreachable server, bad password.  Nothing is lost in any of them.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
i=1
while [ $i -le 20 ]; do seed_msg INBOX m$i; i=$((i + 1)); done
mkfolder Archive
seed_msg Archive a1
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"

# delete guard: 15 of 20 removed locally
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do rm "$(local_file "$T/mail/INBOX" m$i)"; done
seed_msg INBOX n1
ms -c "$T/c.yaml" -a
is "$RC" 3 "delete guard exits 3"
like "$ERR" "refusing to delete 15 of 21 messages on server.*--force" "guard says what and how to force"
is "$(server_count INBOX)" 21 "no server deletion happened"
check "other work still done" test -n "$(local_file "$T/mail/INBOX" n1)"
ms -c "$T/c.yaml" --force -a
is "$RC" 0 "--force carries the deletions out"
is "$(server_count INBOX)" 6 "deleted with --force"

# missing and empty Maildir root
mv "$T/mail" "$T/mail.away"
ms -c "$T/c.yaml" -a
is "$RC" 3 "missing root is a refusal"
like "$ERR" "does not exist" "message names the missing root"
is "$(server_count INBOX)" 6 "server untouched with the root missing"
check "root not recreated" test ! -e "$T/mail"
mkdir "$T/mail"
ms -c "$T/c.yaml" -a
is "$RC" 3 "empty root is a refusal"
like "$ERR" "empty" "message says the root is empty"
is "$(server_count INBOX)" 6 "server untouched with the root empty"
rmdir "$T/mail"
mv "$T/mail.away" "$T/mail"

# a folder that vanished from the server is not a mass deletion
dadm mailbox delete -u "$IMAP_USER" Archive
ms -c "$T/c.yaml" -a
is "$RC" 3 "vanished server folder is a refusal"
like "$ERR" "Archive.*vanished from the server" "message names the folder"
is "$(local_ids "$T/mail/Archive")" "a1" "local copy of the folder kept"
mkfolder Archive

# lock held by another process
flock "$T/state/lock" sh -c 'echo "$$ $(date +%s)" >"$0"; sleep 5' "$T/state/lock" &
sleep 0.5
ms -c "$T/c.yaml" -a
is "$RC" 75 "locked channel exits 75"
like "$ERR" "locked by pid [0-9]+ \(since [0-9-]+ [0-9:]+\)" "message names the lock holder and since when"
wait

# unreachable server and bad password
sed "s/port: $IMAPS_PORT/port: $(free_port)/" "$T/c.yaml" >"$T/dead.yaml"
chmod 600 "$T/dead.yaml"
ms -c "$T/dead.yaml" -a
is "$RC" 75 "unreachable server exits 75"
like "$ERR" "127.0.0.1" "message names the server"
sed "s/password: $IMAP_PASS/password: wrong/" "$T/c.yaml" >"$T/bad.yaml"
chmod 600 "$T/bad.yaml"
ms -c "$T/bad.yaml" -a
is "$RC" 1 "bad password exits 1"
like "$ERR" "authentication failed" "message says authentication failed"
done_testing
