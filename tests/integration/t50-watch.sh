#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Watch mode: changes on either side reach the other within seconds, the
# watcher survives a server restart, sleeps when idle, reloads on SIGHUP
# and ends cleanly on SIGTERM.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
seed_msg INBOX m1
write_config "$T/c.yaml"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds;
# fails after SECONDS.  WAITED is the time it took.
wait_for() {
	local limit=$1 t0
	shift
	t0=$(now)
	while :; do
		if "$@" >/dev/null 2>&1; then
			WAITED=$(since "$t0")
			return 0
		fi
		if awk -v a="$t0" -v b="$(now)" -v l="$limit" \
		    'BEGIN { exit !(b - a > l) }'; then
			WAITED=$(since "$t0")
			return 1
		fi
		sleep 0.1
	done
}
has_local() { case " $(local_ids "$T/mail/$1") " in *" $2 "*) return 0 ;; esac; return 1; }
has_server() { case " $(server_ids "$1") " in *" $2 "*) return 0 ;; esac; return 1; }
local_flags_are() { [ "$(local_flags "$T/mail/$1" "$2")" = "$3" ]; }
server_flags_are() { [ "$(server_flags "$1" "$2")" = "$3" ]; }
logged() { grep -q -- "$1" "$T/w.err"; }
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$IMAPS_PORT") 2>/dev/null; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WPID/stat"; }

"$MAILSYNC" -w -c "$T/c.yaml" test >"$T/w.out" 2>"$T/w.err" &
WPID=$!
stop_watch() { kill -TERM "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; }
at_exit stop_watch

wait_for 20 has_local INBOX m1
ok $? "the watcher's first sync pulls what is there"
like "$(cat "$T/w.err")" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8} test: 1 folders, 1 pulled" \
	"a time-stamped summary line per sync on stderr"

# (a) new mail on the server
seed_msg INBOX w1
wait_for 10 has_local INBOX w1
ok $? "a message added on the server reaches the disk (IDLE)"
diag "latency: $WAITED s (server new message -> disk)"

# (b) a flag set on the server
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id w1
wait_for 10 local_flags_are INBOX w1 F
ok $? "a flag set on the server reaches the disk"
diag "latency: $WAITED s (server flag -> disk)"

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

# (e) the server restarts
conf=$DOVECOT_CONF
dovecot_stop
i=0
while [ -e "$D/run/master.pid" ] && kill -0 "$(cat "$D/run/master.pid")" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && bail "dovecot did not stop"
	sleep 0.1
done
wait_for 10 logged "watching the server: "
ok $? "the lost connection is reported"
DOVECOT_CONF=$conf
dovecot -c "$DOVECOT_CONF" || bail "dovecot did not restart"
wait_for 10 port_open || bail "dovecot did not listen again"
seed_msg INBOX w3
wait_for 20 has_local INBOX w3
ok $? "after a server restart the watcher reconnects and syncs"
diag "latency: $WAITED s (server restart -> message on disk)"
wait_for 10 logged "connected to the server again"
ok $? "the reconnection is reported"

# (f) no busy loop: CPU time over 10 s of quiet
sleep 3	# echo syncs of the above
c0=$(cpu_ticks)
sleep 10
c1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
diag "cpu: $cpu s in 10 s idle"
check "CPU time while idle stays under 0.5 s" \
	awk -v c="$cpu" 'BEGIN { exit !(c < 0.5) }'

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
like "$OUT" "0 pulled .*, 0 pushed .*, 0 moved, 0 flag changes, 0 deleted on server, 0 deleted locally" \
	"and has nothing left to do"
is "$(local_ids "$T/mail/INBOX")" "d1 m1 w1 w2 w3" "disk has every message"
is "$(server_ids INBOX)" "d1 m1 w1 w2 w3" "server has every message"
done_testing
