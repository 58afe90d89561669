#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Crash safety: a kill after every state transition of a scenario with every
# action kind, then a rerun, gives the result of an uninterrupted run; and a
# bounded loop of random kill -9 during a pull loses and duplicates nothing.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

setflags() {	# setflags DIR ID LETTERS
	f=$(local_file "$1" "$2")
	base=$(basename "$f")
	mv "$f" "$1/cur/${base%%:2,*}:2,$3"
}

# scenario USER: a synced baseline, then changes of every kind
scenario() {
	IMAP_USER=$1
	M=$T/mail-$1
	S=$T/state-$1
	for i in 1 2 3 4 5; do seed_msg INBOX m$i; done
	write_config "$T/c-$1.yaml"
	sed -i "s|$T/mail\$|$M|; s|$T/state\$|$S|" "$T/c-$1.yaml"
	"$MAILSYNC" -q -c "$T/c-$1.yaml" -a || bail "baseline sync failed"
	seed_msg INBOX n1
	seed_msg INBOX n2 "x" '\Seen'
	make_msg l1 >"$M/INBOX/new/1700000001.l1.host"
	make_msg l2 >"$M/INBOX/cur/1700000002.l2.host:2,F"
	dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m1
	setflags "$M/INBOX" m2 S
	dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id m3
	rm "$(local_file "$M/INBOX" m4)"
}

result() {	# both sides of the user's INBOX as one line
	echo "server: $(server_ids INBOX) | m1 $(server_flags INBOX m1) m2 $(server_flags INBOX m2)" \
		"disk: $(local_ids "$M/INBOX") | m1 $(local_flags "$M/INBOX" m1) m2 $(local_flags "$M/INBOX" m2)"
}

scenario ref
"$MAILSYNC" -q -c "$T/c-ref.yaml" -a
want=$(result)
is "$want" "server: l1 l2 m1 m2 m5 n1 n2 | m1 \\Flagged m2 \\Seen disk: l1 l2 m1 m2 m5 n1 n2 | m1 F m2 S" "uninterrupted result"

n=1
while [ $n -le 40 ]; do
	scenario crash$n
	MAILSYNC_CRASH_AFTER=$n "$MAILSYNC" -q -c "$T/c-crash$n.yaml" -a
	rc=$?
	"$MAILSYNC" -q -c "$T/c-crash$n.yaml" -a
	rc2=$?
	is "$(result)" "$want" "crash after transition $n, then rerun: same result (rerun exit $rc2)"
	[ $rc -ne 137 ] && [ $rc -ge 0 ] && break	# no crash: every step done
	n=$((n + 1))
done
ok $([ $n -gt 1 ] && [ $n -le 40 ] && echo 0 || echo 1) "crashed at each of $((n - 1)) transitions"

# random kill -9 during an initial pull of 2000 messages
IMAP_USER=bulk
seed_msg INBOX warmup
seed_bulk "$D/home/bulk/Maildir/cur" b 2000
M=$T/mail-bulk
write_config "$T/c-bulk.yaml"
sed -i "s|$T/mail\$|$M|; s|$T/state\$|$T/state-bulk|" "$T/c-bulk.yaml"
k=0
kills=0
while [ $k -lt 8 ]; do
	"$MAILSYNC" -q -c "$T/c-bulk.yaml" -a &
	pid=$!
	sleep "0.$(( (k * 37) % 9 + 1))"
	kill -9 $pid 2>/dev/null && kills=$((kills + 1))
	wait $pid 2>/dev/null
	k=$((k + 1))
done
"$MAILSYNC" -q -c "$T/c-bulk.yaml" -a
is "$?" 0 "final run after $kills kills exits 0"
files=$(find "$M/INBOX/cur" "$M/INBOX/new" -type f | wc -l)
uniq=$(local_ids "$M/INBOX" | tr ' ' '\n' | sort -u | wc -l)
is "$files" 2001 "every message on disk exactly once (files)"
is "$uniq" 2001 "every message on disk exactly once (ids)"
is "$(find "$M/INBOX/tmp" -type f | wc -l)" 0 "nothing the kills left in tmp/ stays there"
is "$(server_count INBOX)" 2001 "nothing duplicated on the server"

# random kill -9 during a push of 500 messages
mkdir -p "$M/Outbox/cur" "$M/Outbox/new" "$M/Outbox/tmp"
i=0
while [ $i -lt 500 ]; do
	make_msg "p$i" >"$M/Outbox/cur/$((1650000000 + i)).push$i.host:2,S"
	i=$((i + 1))
done
k=0
kills=0
while [ $k -lt 6 ]; do
	"$MAILSYNC" -q -c "$T/c-bulk.yaml" -a &
	pid=$!
	sleep "0.$(( (k * 53) % 9 + 1))"
	kill -9 $pid 2>/dev/null && kills=$((kills + 1))
	wait $pid 2>/dev/null
	k=$((k + 1))
done
"$MAILSYNC" -q -c "$T/c-bulk.yaml" -a
is "$?" 0 "final push run after $kills kills exits 0"
is "$(server_count Outbox)" 500 "every pushed message on the server exactly once"
is "$(server_ids Outbox | tr ' ' '\n' | sort -u | wc -l)" 500 "no pushed message duplicated or lost"
is "$(find "$M/Outbox/cur" "$M/Outbox/new" -type f | wc -l)" 500 "no local duplicate after the push"
# A pull of 1100 messages goes in three batches, each one's sync running
# while the next is written: a crash after each commit of it (intents of
# batch 1, of batch 2, pairs of batch 1, ...), then a rerun, leaves every
# message on disk exactly once and nothing in tmp/.
IMAP_USER=pipe
seed_msg INBOX pwarm
seed_bulk "$D/home/pipe/Maildir/cur" q 1099
n=1
while [ $n -le 12 ]; do
	M=$T/mail-pipe$n
	write_config "$T/c-pipe$n.yaml"
	sed -i "s|$T/mail\$|$M|; s|$T/state\$|$T/state-pipe$n|" "$T/c-pipe$n.yaml"
	MAILSYNC_CRASH_AFTER=$n "$MAILSYNC" -q -c "$T/c-pipe$n.yaml" -a
	rc=$?
	"$MAILSYNC" -q -c "$T/c-pipe$n.yaml" -a
	rc2=$?
	files=$(find "$M/INBOX/cur" "$M/INBOX/new" -type f | wc -l)
	uniq=$(local_ids "$M/INBOX" | tr ' ' '\n' | sort -u | wc -l)
	left=$(find "$M/INBOX/tmp" -type f | wc -l)
	is "$rc2 $files $uniq $left" "0 1100 1100 0" \
		"pull in batches, crash after commit $n, rerun: each message once, tmp/ empty"
	[ $rc -ne 137 ] && break	# no crash: every commit done
	n=$((n + 1))
done
ok $([ $n -ge 6 ] && [ $n -le 12 ] && echo 0 || echo 1) "crashed after each of $((n - 1)) commits of the pull"
is "$(server_count INBOX)" 1100 "the batched pull left the server as it was"
done_testing
