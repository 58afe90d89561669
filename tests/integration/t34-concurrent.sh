#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Concurrency: while mailsync pulls 600 messages, a local writer delivers
# into new/ (tmp/ then rename, as an MDA does), moves messages from new/ to
# cur/ and toggles flags (as a mail reader does) and deletes some; at the
# same time another IMAP client (doveadm) appends, flags and expunges on
# the server.  The next runs converge: every message exactly once on each
# side, the deletions of both sides carried out and nothing resurrected,
# the flags equal on both sides, and then a run is a no-op.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
N=${CONCURRENT_MESSAGES:-600}

seed_msg INBOX warmup
seed_bulk "$D/home/$IMAP_USER/Maildir/cur" b "$N"
dadm force-resync -u "$IMAP_USER" INBOX
write_config "$T/c.yaml"
M=$T/mail
mkdir -p "$M/INBOX/cur" "$M/INBOX/new" "$M/INBOX/tmp"

# The local writer: 30 deliveries; new/ -> cur/ with \Seen for half of them;
# flag toggles and deletions on messages already pulled.
local_writer() {
	w=1
	while [ $w -le 30 ]; do
		name="$((1700000000 + w)).w$w.writer"
		make_msg "w$w" >"$M/INBOX/tmp/$name"
		mv "$M/INBOX/tmp/$name" "$M/INBOX/new/$name"
		if [ $((w % 2)) = 0 ] && [ -e "$M/INBOX/new/$name" ]; then
			mv "$M/INBOX/new/$name" "$M/INBOX/cur/$name:2,S" 2>/dev/null
		fi
		# toggle \Flagged on whatever of b100..b119 is on disk
		for f in "$M"/INBOX/cur/*; do
			case "$f" in
			*:2,F) mv "$f" "${f%:2,F}:2," 2>/dev/null ;;
			*:2,) grep -qE '^X-Test-Id: b1[01][0-9]$' "$f" 2>/dev/null &&
				mv "$f" "${f%:2,}:2,F" 2>/dev/null ;;
			esac
		done
		# delete b300..b304 once they are on disk
		for f in $(grep -lE '^X-Test-Id: b30[0-4]$' "$M"/INBOX/cur/* "$M"/INBOX/new/* 2>/dev/null); do
			rm -f "$f" && echo "$f" >>"$T/deleted-local"
		done
		sleep 0.05
		w=$((w + 1))
	done
}

# The other IMAP client: 20 appends, \Flagged on b200..b219, and b400..b404
# expunged.
remote_writer() {
	d=1
	while [ $d -le 20 ]; do
		make_msg "d$d" | dadm save -u "$IMAP_USER" -m INBOX
		dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id "b$((199 + d))"
		[ $d -le 5 ] && dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id "b$((399 + d))"
		sleep 0.05
		d=$((d + 1))
	done
}

"$MAILSYNC" -q -c "$T/c.yaml" -a 2>"$T/err1" &
sync_pid=$!
sleep 0.3
local_writer &
lw=$!
remote_writer &
rw=$!
wait $lw
wait $rw
wait $sync_pid
rc1=$?
ok "$([ $rc1 = 0 ] || [ $rc1 = 1 ] && echo 0 || echo 1)" "sync during both writers: a clean exit ($rc1)"
ok "$(grep -qE 'Sanitizer|runtime error' "$T/err1" && echo 1 || echo 0)" "sync during both writers: no crash"
sed 's/^/# /' "$T/err1" | head -5

"$MAILSYNC" -q -c "$T/c.yaml" -a 2>"$T/err2"
rc2=$?
"$MAILSYNC" -q -c "$T/c.yaml" -a 2>"$T/err3"
rc3=$?
is "$rc2:$rc3" "0:0" "the next two runs exit 0"

# the expected ids: b0..b(N-1) minus the deleted ones, w1..w30, d1..d20,
# warmup
want=$( {
	i=0
	while [ $i -lt "$N" ]; do
		case $i in 30[0-4] | 40[0-4]) ;; *) echo "b$i" ;; esac
		i=$((i + 1))
	done
	w=1; while [ $w -le 30 ]; do echo "w$w"; w=$((w + 1)); done
	d=1; while [ $d -le 20 ]; do echo "d$d"; d=$((d + 1)); done
	echo warmup
} | sort | tr '\n' ' ' | sed 's/ $//')
got_local=$(local_ids "$M/INBOX")
got_server=$(server_ids INBOX)
is "$(printf '%s\n' $got_local | sort | uniq -d | tr '\n' ' ')" "" "no duplicate on disk"
is "$(printf '%s\n' $got_server | sort | uniq -d | tr '\n' ' ')" "" "no duplicate on the server"
is "$(echo $got_local | wc -w):$(echo $got_server | wc -w)" "$(echo $want | wc -w):$(echo $want | wc -w)" "message counts on both sides"
is "$got_local" "$want" "disk: every message once, deletions of both sides done"
is "$got_server" "$want" "server: every message once, deletions of both sides done"

# flags agree on both sides for the messages both writers touched
letters() {	# IMAP flags -> Maildir letters
	for fl in $1; do
		case "$fl" in
		'\Draft') printf D ;; '\Flagged') printf F ;; '\Answered') printf R ;;
		'\Seen') printf S ;; '\Deleted') printf T ;;
		esac
	done | fold -w1 | sort | tr -d '\n'
}
bad=""
for id in $(i=100; while [ $i -lt 120 ]; do echo b$i; i=$((i + 1)); done) \
    $(i=200; while [ $i -lt 220 ]; do echo b$i; i=$((i + 1)); done) \
    w22 w24 w26 w30 d7 d20; do
	l=$(local_flags "$M/INBOX" "$id")
	s=$(letters "$(server_flags INBOX "$id")")
	[ "$l" = "$s" ] || bad="$bad $id(disk $l, server $s)"
done
is "$bad" "" "flags equal on both sides for every touched message"
is "$(local_flags "$M/INBOX" b205)$(letters "$(server_flags INBOX b205)")" FF "a flag set by the other client reached the disk"

ms -c "$T/c.yaml" -a
like "$RC:$OUT" '^0:.*0 pulled .*0 pushed .*0 flag changes, 0 deleted on server, 0 deleted locally' "then a run is a no-op"
done_testing
