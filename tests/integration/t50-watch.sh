#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Watch mode: changes on either side reach the other within seconds (with
# NOTIFY, then with IDLE after the server restarts without it), the watcher
# survives a server restart, sleeps when idle, reloads on SIGHUP and ends
# cleanly on SIGTERM.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
seed_msg INBOX m1
mkfolder Archive
write_config "$T/c.yaml"
cat >>"$T/c.yaml" <<YAML
hooks:
  post-sync: 'echo "post \$MAILSYNC_NEW \$MAILSYNC_CHANGED" >>$T/hooks.log'
YAML

has_local() {
	case " $(local_ids "$T/mail/$1") " in *" $2 "*) return 0 ;; esac
	return 1
}
has_server() {
	case " $(server_ids "$1") " in *" $2 "*) return 0 ;; esac
	return 1
}
local_flags_are() { [ "$(local_flags "$T/mail/$1" "$2")" = "$3" ]; }
server_flags_are() { [ "$(server_flags "$1" "$2")" = "$3" ]; }
logged() { grep -q -- "$1" "$T/w.err"; }
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$IMAPS_PORT") 2>/dev/null; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WPID/stat"; }

"$MAILSYNC" -v -w -c "$T/c.yaml" test >"$T/w.out" 2>"$T/w.err" &
WPID=$!
stop_watch() { kill -TERM "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; }
at_exit stop_watch

wait_for 20 has_local INBOX m1
ok $? "the watcher's first sync pulls what is there"
# the summary follows the files by a moment
wait_for 10 logged 'test: 2 folders'
like "$(cat "$T/w.err")" \
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8} test: 2 folders, 1 pulled" \
	"a time-stamped summary line per sync on stderr"

wait_for 10 logged "watching every folder with NOTIFY"
ok $? "Dovecot offers NOTIFY: one connection watches every folder"

# (a) new mail on the server
seed_msg INBOX w1
wait_for 10 has_local INBOX w1
ok $? "a message added on the server reaches the disk (NOTIFY)"
diag "latency: $WAITED s (server new message -> disk, NOTIFY)"
wait_for 5 grep -qx "post 1 1" "$T/hooks.log"
ok $? "post-sync runs after a watch-mode sync that changed something"
seed_msg Archive a1
wait_for 10 has_local Archive a1
ok $? "NOTIFY covers folders besides INBOX"
diag "latency: $WAITED s (server new message in Archive -> disk, NOTIFY)"

# (b) a flag set on the server
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id w1
wait_for 10 local_flags_are INBOX w1 F
ok $? "a flag set on the server reaches the disk"
diag "latency: $WAITED s (server flag -> disk, NOTIFY)"

# (c) a new file on disk
make_msg d1 >"$T/mail/INBOX/tmp/d1"
mv "$T/mail/INBOX/tmp/d1" "$T/mail/INBOX/new/d1"
wait_for 10 has_server INBOX d1
ok $? "a message written on disk reaches the server (inotify)"
diag "latency: $WAITED s (disk new message -> server)"

# (d) a flag changed on disk by a rename
sleep 1.5	# let the echo sync of (c) pass: it may rename the file
f=$(local_file "$T/mail/INBOX" m1)
mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
wait_for 10 server_flags_are INBOX m1 '\Seen'
ok $? "a flag changed on disk reaches the server"
diag "latency: $WAITED s (disk flag -> server)"

# a normal run between the watcher's syncs takes the lock and goes
sleep 2
ms -c "$T/c.yaml" test
is "$RC" 0 "a normal run while the watcher waits runs between its syncs"

# SIGHUP: a broken config is refused, a good one is taken
cp "$T/c.yaml" "$T/good.yaml"
echo "bogus: [" >>"$T/c.yaml"
kill -HUP "$WPID"
wait_for 10 logged "SIGHUP: keeping the old configuration"
ok $? "SIGHUP with a broken config keeps the old one and says so"
cp "$T/good.yaml" "$T/c.yaml"
kill -HUP "$WPID"
wait_for 10 logged "configuration reloaded"
ok $? "SIGHUP with a good config reloads it"
seed_msg INBOX w2
wait_for 10 has_local INBOX w2
ok $? "still watching after the reload"

# (e) the server restarts, now without NOTIFY: the watcher falls back
# to IDLE on the `watch` folders (INBOX)
conf=$DOVECOT_CONF
dovecot_stop
i=0
while [ -e "$D/run/master.pid" ] &&
    kill -0 "$(cat "$D/run/master.pid")" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && bail "dovecot did not stop"
	sleep 0.1
done
# either the watching connection or a sync in progress notices first
wait_for 20 logged "retrying in\|next try in"
ok $? "the lost connection is reported"
DOVECOT_CONF=$conf
# Dovecot's own list, less NOTIFY
echo "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
LITERAL+ UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED CONDSTORE QRESYNC \
ESEARCH SEARCHRES LIST-STATUS BINARY MOVE" >>"$DOVECOT_CONF"
dovecot -c "$DOVECOT_CONF" || bail "dovecot did not restart"
wait_for 10 port_open || bail "dovecot did not listen again"
seed_msg INBOX w3
wait_for 20 has_local INBOX w3
ok $? "after a server restart the watcher reconnects and syncs"
wait_for 10 logged "connected to the server again"
ok $? "the reconnection is reported"
wait_for 10 logged "watching 1 folder with IDLE"
ok $? "without NOTIFY, IDLE on the watch folders"
sleep 1.5	# the echo sync of w3
seed_msg INBOX w4
wait_for 10 has_local INBOX w4
ok $? "a message added on the server reaches the disk (IDLE)"
diag "latency: $WAITED s (server new message -> disk, IDLE)"
dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id w4
wait_for 10 local_flags_are INBOX w4 S
ok $? "a flag set on the server reaches the disk (IDLE)"
diag "latency: $WAITED s (server flag -> disk, IDLE)"

# (f) no busy loop: CPU time over 10 s of quiet
sleep 3	# echo syncs of the above
c0=$(cpu_ticks)
sleep 10
c1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" \
    'BEGIN { printf "%.2f", (b - a) / hz }')
diag "cpu: $cpu s in 10 s idle"
check "CPU time while idle stays under 0.5 s" \
	awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'

# the folders IDLE does not watch are synced every poll-interval
write_config "$T/c.yaml" "poll-interval: 2"
kill -HUP "$WPID"
wait_for 10 test "$(grep -c "configuration reloaded" "$T/w.err")" -ge 2
seed_msg Archive a2
wait_for 10 has_local Archive a2
ok $? "without NOTIFY, other folders are synced every poll-interval"
diag "latency: $WAITED s (poll-interval 2 s)"

# (g) SIGTERM: ends within 10 s with status 0, leaving nothing to do
t0=$(now)
kill -TERM "$WPID"
i=0
while kill -0 "$WPID" 2>/dev/null && [ $i -lt 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
wait "$WPID"
is "$?" 0 "SIGTERM: exit status 0"
check "SIGTERM: gone within 10 s ($(since "$t0") s)" test $i -lt 100
stop_watch() { :; }
ms -c "$T/c.yaml" test
is "$RC" 0 "a normal run afterwards succeeds"
like "$OUT" "0 pulled .*, 0 pushed .*, 0 moved, 0 flag changes, \
0 deleted on server, 0 deleted locally" "and has nothing left to do"
is "$(local_ids "$T/mail/INBOX")" "d1 m1 w1 w2 w3 w4" "disk has every message"
is "$(server_ids INBOX)" "d1 m1 w1 w2 w3 w4" "server has every message"
is "$(local_ids "$T/mail/Archive")" "a1 a2" "and so has the other folder"

# (h) SIGTERM in the middle of a sync: that sync is finished first.  A slow
# pass-cmd marks when a sync has begun (the watcher's own connection is
# made once, at the start).
sed "s|^    password: .*|    pass-cmd: \"touch $T/insync; sleep 1; echo $IMAP_PASS\"|" \
    "$T/c.yaml" >"$T/slow.yaml"
chmod 600 "$T/slow.yaml"
"$MAILSYNC" -w -c "$T/slow.yaml" test >"$T/w2.out" 2>"$T/w2.err" &
WPID=$!
stop_watch() { kill -TERM "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; }
wait_for 20 grep -q "test: 2 folders" "$T/w2.err" ||
	bail "the second watcher did not sync: $(cat "$T/w2.err")"
rm -f "$T/insync"
seed_msg INBOX w5
wait_for 10 test -e "$T/insync"
ok $? "a sync begins after the change"
kill -TERM "$WPID"
wait "$WPID"
is "$?" 0 "SIGTERM during a sync: exit status 0"
stop_watch() { :; }
check "the sync under way was finished" has_local INBOX w5
ms -c "$T/c.yaml" test
like "$OUT" "0 pulled .*, 0 pushed .*, 0 moved, 0 flag changes, \
0 deleted on server, 0 deleted locally" "a run afterwards has nothing to do"
done_testing
