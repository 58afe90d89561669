#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The folders of a channel synced at once, over as many sessions as the
# account's `connections` leave: every change in every folder reaches the
# other side once, moves between folders stay moves, the state is whole
# (the next run has nothing to do), a server that allows fewer sessions
# gets fewer, and a kill between two commits loses nothing.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

FOLDERS="F1 F2 F3 F4 F5 F6"
MD=$D/home/$IMAP_USER/Maildir
for f in $FOLDERS; do
	mkfolder "$f"
	seed_bulk "$MD/.$f/cur" "$f-" 40
done
seed_msg INBOX i1

logins() { grep -c "Login: user=<$IMAP_USER>" "$D/dovecot.log"; }

# conf NAME CONNECTIONS: a config syncing into $T/NAME
conf() {
	write_config "$T/$1.yaml"
	sed -i "s|$T/mail\$|$T/$1|; s|$T/state\$|$T/$1-state|" "$T/$1.yaml"
	sed -i "s|^    timeout: 10\$|    timeout: 10\n    connections: $2|" "$T/$1.yaml"
}

# same NAME: each folder holds on disk what it holds on the server
same() {
	local f bad=""
	for f in INBOX $FOLDERS; do
		[ "$(local_ids "$T/$1/$f")" = "$(server_ids "$f")" ] || bad="$bad $f"
	done
	is "$bad" "" "$1: every folder holds the server's messages on disk"
}

conf par 4
before=$(logins)
ms -c "$T/par.yaml" -a -v --debug
is "$RC" 0 "first pull over four sessions exits 0"
like "$ERR" 'test: 4 folders at once' "-v says how many folders sync at once"
is "$(($(logins) - before))" 4 "four sessions were opened"
# each extra session selected and fetched folders of its own
for n in 2 3 4; do
	like "$ERR" "test#$n C: [0-9]+ SELECT \"?F" "session $n selected a folder"
done
same par
is "$(find "$T/par" -path "$T/par/*/tmp/*" -type f | wc -l)" 0 \
	"nothing left in tmp/"

ms -c "$T/par.yaml" -a --json
is "$RC" 0 "the next run exits 0"
like "$OUT" '"pulled":\{"messages":0' "the next run pulls nothing"
like "$OUT" '"pushed":\{"messages":0' "and pushes nothing"

# Changes on both sides of every folder, and moves both ways
for f in F1 F2 F3; do seed_msg "$f" "new-$f"; done
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox F2 header X-Test-Id F2-3
dadm expunge -u "$IMAP_USER" mailbox F3 header X-Test-Id F3-5
dadm move -u "$IMAP_USER" F6 mailbox F1 header X-Test-Id F1-7
for f in F4 F5; do
	make_msg "loc-$f" >"$T/par/$f/new/1700000000.loc-$f.host"
done
old=$(local_file "$T/par/F5" F5-2)
mv "$old" "$T/par/F5/cur/$(basename "${old%:2,*}"):2,S"
mv "$(local_file "$T/par/F4" F4-9)" "$T/par/F2/cur/"
rm "$(local_file "$T/par/F6" F6-1)"
ms -c "$T/par.yaml" -a --json
is "$RC" 0 "changes on both sides: exit 0"
like "$OUT" '"pulled":\{"messages":3,' "three new server messages pulled"
like "$OUT" '"pushed":\{"messages":2,' "two new local messages pushed"
like "$OUT" '"moved":\{"server":1,"disk":1\}' "one move each way, as moves"
same par
is "$(local_flags "$T/par/F2" F2-3)" F "a server flag reached the disk"
like "$(server_flags F5 F5-2)" '^ *\\Seen$' "a disk flag reached the server"
is "$(echo " $(server_ids F6) " | grep -c ' F6-1 ')" 0 \
	"a local deletion reached the server"
# the per-folder report is in name order, whichever session did what
names=$(echo "$OUT" | grep -o '"name":"[^"]*"' | tr '\n' ' ')
is "$names" "$(for f in F1 F2 F3 F4 F5 F6 INBOX; do printf '"name":"%s" ' "$f"; done)" \
	"folder reports in name order"
ms -c "$T/par.yaml" -a --json
like "$OUT" '"pulled":\{"messages":0,.*"pushed":\{"messages":0,.*"deleted":\{"server":0,"disk":0\}' \
	"and the next run has nothing to do"

# the same server synced over one session gives the same folders
conf one 1
ms -c "$T/one.yaml" -a -v
is "$RC" 0 "one session: exit 0"
unlike=$(echo "$ERR" | grep -c 'folders at once')
is "$unlike" 0 "connections: 1 syncs one folder at a time"
same one

# A kill after each of several commits of a pull over four sessions: the
# next run completes it, every message once, nothing left in tmp/
for n in 3 8 15; do
	conf "crash$n" 4
	export MAILSYNC_CRASH_AFTER=$n
	ms -c "$T/crash$n.yaml" -a
	unset MAILSYNC_CRASH_AFTER
	is "$RC" 137 "crash after commit $n: killed"
	ms -c "$T/crash$n.yaml" -a
	is "$RC" 0 "crash after commit $n: the next run exits 0"
	same "crash$n"
	is "$(find "$T/crash$n" -path "$T/crash$n/*/tmp/*" -type f | wc -l)" 0 \
		"crash after commit $n: nothing left in tmp/"
done

# A connection cut or reset in the middle of a pull over four sessions,
# whichever session carried that byte: the run ends or goes on without it;
# the next run completes the pull, every message once, nothing in tmp/
for fault in cut:15000 reset:40000 cut:70000; do
	mode=${fault%:*} at=${fault#*:}
	name=fault$at
	conf "$name" 4
	proxy_start "$IMAPS_PORT" "$mode" s2c "$at"
	sed -i "s/port: $IMAPS_PORT\$/port: $PROXY_PORT/" "$T/$name.yaml"
	ms -c "$T/$name.yaml" -a
	fired=$(sed -n 's/.*fired=\([01]\).*/\1/p' "$PROXY_STATS")
	proxy_stop
	is "$fired" 1 "$mode at byte $at: the fault fired"
	diag "$mode at byte $at: the run with the fault exited $RC"
	case $RC in 0|1|75) ok 0 "$mode at byte $at: exit $RC, no crash" ;;
	*) ok 1 "$mode at byte $at: exit $RC, no crash" ;;
	esac
	sed -i "s/port: $PROXY_PORT\$/port: $IMAPS_PORT/" "$T/$name.yaml"
	ms -c "$T/$name.yaml" -a
	is "$RC" 0 "$mode at byte $at: the next run exits 0"
	same "$name"
	is "$(find "$T/$name" -path "$T/$name/*/tmp/*" -type f | wc -l)" 0 \
		"$mode at byte $at: nothing left in tmp/"
done

# A server that allows one session: the others are given up, and every
# folder still syncs over it.  (With two allowed, whether a third is
# refused depends on timing: a first pull's worker that runs out of
# folders closes its session at once, which may let a slow one in.)
dovecot_stop
rm -rf "$D/run"
dovecot_start 'protocol imap {
  mail_max_userip_connections = 1
}'
conf lim 4
ms -c "$T/lim.yaml" -a -v
is "$RC" 0 "connection limit: exit 0"
like "$ERR" 'syncing folders over one connection fewer: ' \
	"-v says a session was refused, and why"
same lim

done_testing
