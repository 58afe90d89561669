#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Moves between folders travel as moves: UID MOVE on the server (the
# message keeps its Dovecot GUID), rename(2) on disk (the file keeps its
# inode), and no message body crosses the wire.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

guid() {	# guid FOLDER ID: the Dovecot GUID of that message
	dadm fetch -u "$IMAP_USER" guid mailbox "$1" header X-Test-Id "$2" | sed -n 's/^guid: //p'
}
inode() { stat -c %i "$1"; }

mkfolder Archive
mkfolder Lists
for i in 1 2 3 4 5; do seed_msg INBOX m$i; done
seed_bulk "$D/home/$IMAP_USER/Maildir/.Lists/cur" b 500
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"
is "$(server_count Lists)" 500 "bulk folder seeded"

# 1 and 500 messages moved on the server
ino1=$(inode "$(local_file "$T/mail/INBOX" m1)")
ino2=$(inode "$(local_file "$T/mail/Lists" b7)")
dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id m1
dadm move -u "$IMAP_USER" Archive mailbox Lists all
ms -c "$T/c.yaml" --json -a
is "$RC" 0 "server-side moves sync"
like "$OUT" '"pulled":\{"messages":0,"bytes":0\}' "no message body downloaded"
like "$OUT" '"moved":\{"server":0,"disk":501\}' "501 moves carried out on disk"
is "$(local_ids "$T/mail/INBOX")" "m2 m3 m4 m5" "moved out of INBOX on disk"
is "$(ls "$T/mail/Lists/cur" "$T/mail/Lists/new" | grep -c host)" 0 "moved out of Lists on disk"
is "$(find "$T/mail/Archive/cur" "$T/mail/Archive/new" -type f | wc -l)" 501 "all in Archive on disk"
is "$(inode "$(local_file "$T/mail/Archive" m1)")" "$ino1" "the file was renamed, not downloaded (m1)"
is "$(inode "$(local_file "$T/mail/Archive" b7)")" "$ino2" "the file was renamed, not downloaded (b7)"
ms -c "$T/c.yaml" -a
like "$OUT" "0 pulled .*0 pushed .*0 moved, 0 flag changes, 0 deleted on server, 0 deleted locally" "rerun is a no-op"

# moved on disk with mv: the server moves it, keeping its GUID
g2=$(guid INBOX m2)
mv "$(local_file "$T/mail/INBOX" m2)" "$T/mail/Archive/cur/"
ms -c "$T/c.yaml" --debug -a
is "$RC" 0 "local mv syncs"
is "$(server_ids INBOX)" "m3 m4 m5" "gone from INBOX on the server"
is "$(guid Archive m2)" "$g2" "same message on the server (UID MOVE, not APPEND)"
ok $(echo "$ERR" | grep -Eq ' C: [^ ]+ APPEND ' && echo 1 || echo 0) "no APPEND was sent"
like "$ERR" ' C: [^ ]+ UID MOVE ' "UID MOVE was sent"

# moved the way mutt saves: a new file, same bytes, old one deleted
g3=$(guid INBOX m3)
f=$(local_file "$T/mail/INBOX" m3)
cp "$f" "$T/mail/Archive/cur/1700000999.mutt.host:2,S"
rm "$f"
ms -c "$T/c.yaml" -a
is "$(guid Archive m3)" "$g3" "mutt-style move keeps the server message"
is "$(server_flags Archive m3)" '\Seen' "and brings the flag change along"
is "$(server_ids INBOX)" "m4 m5" "and leaves nothing behind"

# moved the way neomutt's save does it: a Content-Length header added
seed_msg INBOX m6
ms -c "$T/c.yaml" -a
g6=$(guid INBOX m6)
f=$(local_file "$T/mail/INBOX" m6)
{ printf 'Content-Length: %s\n' "$(wc -c <"$f")"; cat "$f"; } >"$T/mail/Archive/cur/1700000998.neomutt.host:2,"
rm "$f"
ms -c "$T/c.yaml" -a
is "$(guid Archive m6)" "$g6" "a copy with a client-added header is a move (server keeps its copy)"
is "$(server_ids INBOX)" "m4 m5" "nothing left behind in INBOX"
check "the disk keeps the client's copy" grep -q '^Content-Length:' "$T/mail/Archive/cur/1700000998.neomutt.host:2,"

# read on the server, then archived: a move plus a flag change
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m4
dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id m4
ms -c "$T/c.yaml" -a
is "$(local_flags "$T/mail/Archive" m4)" "S" "move plus flag change on disk"
is "$(local_ids "$T/mail/INBOX")" "m5" "m4 left INBOX"

# into a folder that does not exist yet on the server
mkdir -p "$T/mail/New/cur" "$T/mail/New/new" "$T/mail/New/tmp"
g5=$(guid INBOX m5)
mv "$(local_file "$T/mail/INBOX" m5)" "$T/mail/New/cur/"
ms -c "$T/c.yaml" -a
is "$RC" 0 "move into a new folder syncs"
is "$(guid New m5)" "$g5" "the new folder was created and the message moved"

# the same Message-ID twice: ambiguous, copy and delete, nothing lost
seed_msg INBOX d1
seed_msg Lists d1
ms -c "$T/c.yaml" -a
dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id d1
ms -c "$T/c.yaml" -a
is "$RC" 0 "ambiguous move syncs"
is "$(local_ids "$T/mail/Lists")" "d1" "the other copy is kept"
is "$(local_ids "$T/mail/Archive" | tr ' ' '\n' | grep -c '^d1$')" 1 "the moved copy arrives once"

# moved on both sides to different folders: both places keep a copy
mkfolder Other
seed_msg INBOX c1
ms -c "$T/c.yaml" -a
dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id c1
mkdir -p "$T/mail/Other/cur" "$T/mail/Other/new" "$T/mail/Other/tmp"
mv "$(local_file "$T/mail/INBOX" c1)" "$T/mail/Other/cur/"
ms -c "$T/c.yaml" -a
is "$RC" 0 "conflicting moves sync"
ok $([ -n "$(local_file "$T/mail/Archive" c1)" ] && [ -n "$(local_file "$T/mail/Other" c1)" ] && echo 0 || echo 1) "disk has it in both places"
is "$(server_ids Other | grep -c c1)" 1 "server has it in Other"
is "$(server_ids Archive | tr ' ' '\n' | grep -c '^c1$')" 1 "server has it in Archive once"

# a crash after every state transition of a run with moves both ways
move_scenario() {
	IMAP_USER=$1
	mkfolder Archive
	for i in 1 2 3 4; do seed_msg INBOX k$i; done
	write_config "$T/c-$1.yaml"
	sed -i "s|$T/mail\$|$T/mail-$1|; s|$T/state\$|$T/state-$1|" "$T/c-$1.yaml"
	"$MAILSYNC" -q -c "$T/c-$1.yaml" -a || bail "baseline failed"
	dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id k1
	dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id k2
	mv "$(local_file "$T/mail-$1/INBOX" k3)" "$T/mail-$1/Archive/cur/"
}
moves_result() {
	echo "server: $(server_ids INBOX) / $(server_ids Archive)" \
	    "disk: $(local_ids "$T/mail-$IMAP_USER/INBOX") / $(local_ids "$T/mail-$IMAP_USER/Archive")"
}
want="server: k4 / k1 k2 k3 disk: k4 / k1 k2 k3"
n=1
while [ $n -le 20 ]; do
	move_scenario mv$n
	MAILSYNC_CRASH_AFTER=$n "$MAILSYNC" -q -c "$T/c-mv$n.yaml" -a 2>/dev/null
	rc=$?
	"$MAILSYNC" -q -c "$T/c-mv$n.yaml" -a
	is "$(moves_result)" "$want" "moves: crash after transition $n, then rerun"
	[ $rc -ne 137 ] && break
	n=$((n + 1))
done
ok $([ $n -gt 2 ] && [ $n -le 20 ] && echo 0 || echo 1) "moves crashed at each of $((n - 1)) transitions"
done_testing
