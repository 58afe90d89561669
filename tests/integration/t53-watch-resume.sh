#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Watch mode after a suspend or a stop.  The watcher is stopped (SIGSTOP)
# and so is the server process behind its IDLE connection, which then stays
# open but silent, as one that died while a laptop slept does; the server's
# mail changes meanwhile.  After SIGCONT the watcher must notice how late it
# woke up, say so, drop that connection without waiting for it, watch on a
# new one and sync what it missed.
. "$TESTS_SRCDIR/integration/lib.sh"
# verbose_proctitle: the imap process in IDLE says so in its title
dovecot_start "verbose_proctitle = yes"
seed_msg INBOX m1
write_config "$T/c.yaml"

has_local() {
	case " $(local_ids "$T/mail/$1") " in *" $2 "*) return 0 ;; esac
	return 1
}
local_flags_are() { [ "$(local_flags "$T/mail/$1" "$2")" = "$3" ]; }
count() { grep -c -- "$1" "$T/w.err"; }
count_is() { [ "$(count "$1")" = "$2" ]; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WPID/stat"; }
# the pids of this Dovecot's imap processes in IDLE
idle_imapd() {
	ps -o pid=,args= --ppid "$(cat "$D/run/master.pid")" |
		awk '/\/imap \[.* IDLE\]/ { print $1 }'
}

# MAILSYNC_WATCH_HEARTBEAT=2: the watcher sleeps at most 2 s, and a wake-up
# more than 2 s late is taken for a suspend or stop (30 s and 10 s without
# it), so that any stop over about 4 s is noticed.
MAILSYNC_WATCH_HEARTBEAT=2 "$MAILSYNC" -v -w -c "$T/c.yaml" test \
	>"$T/w.out" 2>"$T/w.err" &
WPID=$!
IMAPD=
stop_watch() {
	[ -n "$IMAPD" ] && kill -CONT "$IMAPD" 2>/dev/null
	kill -CONT "$WPID" 2>/dev/null
	kill -TERM "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
}
at_exit stop_watch

wait_for 20 has_local INBOX m1 ||
	bail "the first sync did not happen: $(cat "$T/w.err")"
wait_for 10 count_is "watching every folder with NOTIFY" 1 ||
	bail "not watching with NOTIFY: $(cat "$T/w.err")"
wait_for 10 test "$(idle_imapd | wc -l)" = 1
ok $? "one server process serves the watching connection"
IMAPD=$(idle_imapd)

# a stop shorter than the threshold is nothing to act on
sleep 1
kill -STOP "$WPID"
sleep 0.5
kill -CONT "$WPID"
sleep 3
is "$(count "woke up")" 0 "a short stop is not taken for a suspend"

# (a) the long stop, with the server's side of the connection frozen too
kill -STOP "$WPID"
kill -STOP "$IMAPD"
seed_msg INBOX r1
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m1
sleep 7
kill -CONT "$WPID"
# within less than the account's timeout (10 s): the silent connection is
# not waited for
wait_for 8 has_local INBOX r1
ok $? "a message added on the server while stopped reaches the disk"
diag "latency: $WAITED s after SIGCONT (heartbeat 2 s)"
wait_for 5 local_flags_are INBOX m1 F
ok $? "a flag set on the server while stopped reaches the disk"
like "$(cat "$T/w.err")" \
	"[0-9:]{8} woke up [0-9]+ s late \(suspend or stop\?\): reconnecting" \
	"the watcher says it woke up late, with a time stamp"
is "$(count "woke up")" 1 "and says it once"
wait_for 10 count_is "watching every folder with NOTIFY" 2
ok $? "it watches on a new connection"

# the old server process, thawed, finds its connection closed
kill -CONT "$IMAPD"
wait_for 10 sh -c "! kill -0 $IMAPD 2>/dev/null"
ok $? "the frozen connection was dropped"
IMAPD=

# (b) the new connection brings news as the first did
sleep 1.5	# the echo sync of r1
seed_msg INBOX r2
wait_for 10 has_local INBOX r2
ok $? "a message added on the server after the resume reaches the disk"
diag "latency: $WAITED s (server new message -> disk, NOTIFY)"

# (c) the heartbeat costs no CPU and is not taken for a suspend
sleep 2	# the echo sync of r2
c0=$(cpu_ticks)
sleep 6
c1=$(cpu_ticks)
cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.2f", (b - a) / hz }')
diag "cpu: $cpu s in 6 s idle (heartbeat 2 s)"
check "CPU time while idle stays under 0.3 s" \
	awk -v c="$cpu" 'BEGIN { exit !(c < 0.3) }'
is "$(count "woke up")" 1 "quiet heartbeats are not taken for a suspend"

# SIGTERM: ends with status 0, leaving nothing to do
kill -TERM "$WPID"
i=0
while kill -0 "$WPID" 2>/dev/null && [ $i -lt 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
wait "$WPID"
is "$?" 0 "SIGTERM: exit status 0"
stop_watch() { :; }
ms -c "$T/c.yaml" test
like "$OUT" "0 pulled .*, 0 pushed .*, 0 moved, 0 flag changes, \
0 deleted on server, 0 deleted locally" "a run afterwards has nothing to do"
is "$(local_ids "$T/mail/INBOX")" "m1 r1 r2" "disk has every message"
done_testing
