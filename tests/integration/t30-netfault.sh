#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Network faults between mailsync and a real Dovecot (tests/faultproxy.py):
# the connection cut or reset at ~20 points spread over a whole two-way
# session, a flipped bit under TLS, a stall and a drip.  Each fault is a
# clean non-zero exit (never a crash, never a hang), and the next direct run
# converges: nothing lost, nothing duplicated, nothing resurrected, nothing
# written outside the Maildir root and the state dir, and a third run is a
# no-op.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

NCUT=${NETFAULT_CUTS:-20}	# cut points, split between the directions
START=$(date +%s)

stat_of() { sed -n "s/.*\\b$2=\\([0-9]*\\).*/\\1/p" "$1" | head -1; }

# scenario USER TLS: a synced baseline for user USER in $M and $S, then
# changes of every kind on both sides; the config for the direct run is
# $CFG, $PCFG goes through port $PROXY_PORT (set later by sed).
scenario() {
	IMAP_USER=$1
	M=$T/mail-$1
	S=$T/state-$1
	CFG=$T/c-$1.yaml
	for i in 1 2 3; do seed_msg INBOX s$i; done
	write_config "$CFG" 
	sed -i "s|$T/mail\$|$M|; s|$T/state\$|$S|; s|timeout: 10|timeout: 5|" "$CFG"
	if [ "$2" = none ]; then
		sed -i "s/port: $IMAPS_PORT/port: $IMAP_PORT/; s/tls: imaps/tls: none/" "$CFG"
	fi
	"$MAILSYNC" -q -c "$CFG" -a || bail "baseline sync of $1 failed"
	for i in 4 5 6 7 8; do seed_msg INBOX s$i; done
	for i in 1 2 3; do make_msg l$i >"$M/INBOX/new/170000000$i.l$i.host"; done
	make_msg l4 >"$M/INBOX/cur/1700000004.l4.host:2,S"
	make_msg l5 >"$M/INBOX/cur/1700000005.l5.host:2,FS"
	dadm flags add -u "$1" '\Flagged' mailbox INBOX header X-Test-Id s3
	f=$(local_file "$M/INBOX" s3)
	mv "$f" "$M/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
	dadm expunge -u "$1" mailbox INBOX header X-Test-Id s1
	rm "$(local_file "$M/INBOX" s2)"
}
WANT="server: l1 l2 l3 l4 l5 s3 s4 s5 s6 s7 s8 | s3 \\Flagged \\Seen l5 \\Flagged \\Seen disk: l1 l2 l3 l4 l5 s3 s4 s5 s6 s7 s8 | s3 FS l5 FS"
result() {
	echo "server: $(server_ids INBOX) | s3 $(server_flags INBOX s3) l5 $(server_flags INBOX l5)" \
		"disk: $(local_ids "$M/INBOX") | s3 $(local_flags "$M/INBOX" s3) l5 $(local_flags "$M/INBOX" l5)"
}

# run_ms CONFIG: mailsync under timeout 60, in an empty working directory
# with HOME there too; sets RC, ERR, SECS and OUTSIDE (files written
# anywhere under $T except the Maildir root and the state dir).
run_ms() {
	mkdir -p "$T/cwd"
	: >"$T/marker"
	sleep 0.01
	t0=$(date +%s)
	(cd "$T/cwd" && HOME=$T/cwd XDG_STATE_HOME=$T/cwd/st \
		XDG_CONFIG_HOME=$T/cwd/cfg timeout 60 "$MAILSYNC" -q -c "$1" -a) \
		>"$T/stdout" 2>"$T/stderr"
	RC=$?
	SECS=$(($(date +%s) - t0))
	ERR=$(cat "$T/stderr")
	OUTSIDE=$(find "$T" -newer "$T/marker" ! -type d \
		! -path "$M/*" ! -path "$S/*" ! -path "$T/dovecot/*" \
		! -path "$T/px*" ! -path "$T/stdout" ! -path "$T/stderr" | head -5)
	grep -E 'Sanitizer|runtime error|AddressSanitizer' "$T/stderr" >>"$T/sanitizer"
}

# faulted DESCRIPTION: the faulted run failed cleanly; then a direct run
# converges and a third run is a no-op.
faulted() {
	ok "$( { [ "$RC" = 1 ] || [ "$RC" = 75 ]; } && echo 0 || echo 1)" \
		"$1: clean failure (exit $RC after ${SECS}s)"
	[ "$RC" = 1 ] || [ "$RC" = 75 ] || printf '%s\n' "$ERR" | sed 's/^/#   /' | head -10
	like "$ERR" '^mailsync: channel test' "$1: the error names the channel"
	is "$OUTSIDE" "" "$1: nothing written outside the Maildir and the state"
	converge "$1"
}
converge() {
	run_ms "$CFG"
	is "$RC" 0 "$1: the next direct run exits 0"
	is "$(result)" "$WANT" "$1: converged, nothing lost, duplicated or resurrected"
	"$MAILSYNC" -c "$CFG" -a >"$T/stdout3" 2>&1
	like "$(cat "$T/stdout3")" '0 pulled .*0 pushed .*0 flag changes, 0 deleted on server, 0 deleted locally' \
		"$1: a third run is a no-op"
	trials=$((trials + 1))
}
trials=0

# A reference session through a pass-through proxy: its byte counts up to
# the client's LOGOUT bound the cut points.
scenario ref none
proxy_start "$IMAP_PORT" pass s2c 0
sed "s/port: $IMAP_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p-ref.yaml"
chmod 600 "$T/p-ref.yaml"
run_ms "$T/p-ref.yaml"
proxy_stop
is "$RC:$(result)" "0:$WANT" "reference session through the proxy converges in one run"
S2C=$(stat_of "$PROXY_STATS" mark_s2c)
C2S=$(stat_of "$PROXY_STATS" mark_c2s)
ok "$([ "${S2C:-0}" -gt 1000 ] && [ "${C2S:-0}" -gt 500 ] && echo 0 || echo 1)" \
	"reference session: $S2C bytes server->client, $C2S client->server before LOGOUT"
is "$(stat_of "$PROXY_STATS" conns)" 1 "reference session: one connection"

# points N TOTAL: N points spread evenly over [1, TOTAL - 150]: sessions
# differ by a few dozen bytes from the reference (Dovecot's timings, UIDs).
points() {
	awk -v n="$1" -v t="$2" 'BEGIN { for (i = 0; i < n; i++)
		printf "%d ", 1 + int(i * (t - 151) / (n - 1)) }'
}
nsc=$((NCUT * 3 / 5))
ncs=$((NCUT - nsc))
u=0
for dir in s2c c2s; do
	if [ $dir = s2c ]; then ks=$(points $nsc "$S2C"); else ks=$(points $ncs "$C2S"); fi
	for k in $ks; do
		u=$((u + 1))
		scenario "cut$u" none
		proxy_start "$IMAP_PORT" cut $dir "$k"
		sed "s/port: $IMAP_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
		chmod 600 "$T/p.yaml"
		run_ms "$T/p.yaml"
		fired=$(stat_of "$PROXY_STATS" fired)
		proxy_stop
		is "$fired" 1 "cut $dir at byte $k: the fault fired"
		faulted "cut $dir at byte $k"
	done
done
CUTS=$u

# The cut aimed at the first message download, after the listing: the
# flag changes and deletions planned for the server in the same run have not
# been made, so they must not be recorded as made.
u=$((u + 1))
scenario "aim$u" none
proxy_start "$IMAP_PORT" cut s2c 10 --after 'BODY.PEEK[]'
sed "s/port: $IMAP_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
chmod 600 "$T/p.yaml"
run_ms "$T/p.yaml"
proxy_stop
is "$RC" 75 "cut inside the first download: exit 75"
like "$ERR" 'FETCH INBOX (UID [0-9]+|\([0-9]+ messages\)): the server closed the connection' \
	"cut inside the first download: the error names the command"
run_ms "$CFG"
is "$RC" 0 "cut inside the first download: the next run exits 0"
is "$(server_ids INBOX | grep -c 's2')$(local_ids "$M/INBOX" | grep -c 's2')" 00 \
	"cut inside the first download: the message deleted on disk is not resurrected"
is "$(echo $(server_flags INBOX s3)) / $(local_flags "$M/INBOX" s3)" '\Flagged \Seen / FS' \
	"cut inside the first download: the flag added on disk is kept"

# RST instead of FIN, at three points each way.
for dir in s2c c2s; do
	if [ $dir = s2c ]; then ks=$(points 3 "$S2C"); else ks=$(points 3 "$C2S"); fi
	for k in $ks; do
		u=$((u + 1))
		scenario "rst$u" none
		proxy_start "$IMAP_PORT" reset $dir "$k"
		sed "s/port: $IMAP_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
		chmod 600 "$T/p.yaml"
		run_ms "$T/p.yaml"
		proxy_stop
		faulted "reset $dir at byte $k"
	done
done

# A flipped bit under TLS is caught by the record MAC: an error, never
# silently corrupted mail.  The points lie between the end of the handshake
# and the LOGOUT (not visible under TLS: 400 bytes short of the end).
scenario tlsref imaps
proxy_start "$IMAPS_PORT" pass s2c 0
sed "s/port: $IMAPS_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
chmod 600 "$T/p.yaml"
run_ms "$T/p.yaml"
proxy_stop
TLS_S2C=$(stat_of "$PROXY_STATS" s2c)
is "$RC:$(result)" "0:$WANT" "TLS reference session through the proxy converges ($TLS_S2C bytes server->client)"
for k in $(points 4 "$((TLS_S2C - 2400))"); do
	k=$((k + 2000))
	u=$((u + 1))
	scenario "flip$u" imaps
	proxy_start "$IMAPS_PORT" flip s2c "$k"
	sed "s/port: $IMAPS_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
	chmod 600 "$T/p.yaml"
	run_ms "$T/p.yaml"
	proxy_stop
	like "$ERR" 'TLS|SSL|decrypt|bad record mac|no data from the server' \
		"bit flipped under TLS at byte $k: a TLS error (or a timeout)"
	faulted "bit flipped under TLS at byte $k"
done

# A stall in the middle of the session: the timeout (5 s) ends it.
for dir in s2c c2s; do
	if [ $dir = s2c ]; then k=$((S2C / 2)); else k=$((C2S / 2)); fi
	u=$((u + 1))
	scenario "stall$u" none
	proxy_start "$IMAP_PORT" stall $dir "$k"
	sed "s/port: $IMAP_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
	chmod 600 "$T/p.yaml"
	run_ms "$T/p.yaml"
	proxy_stop
	ok "$([ "$SECS" -ge 4 ] && [ "$SECS" -le 12 ] && echo 0 || echo 1)" \
		"stall $dir at byte $k: gives up after the 5 s timeout (${SECS}s)"
	like "$ERR" 'no data from the server for 5 s' "stall $dir at byte $k: the error says it timed out"
	is "$RC" 75 "stall $dir at byte $k: a temporary failure (exit 75)"
	faulted "stall $dir at byte $k"
done

# A drip of one byte per 100 ms for 8 s is slow progress, not a stall: the
# timeout counts time without progress, so the run succeeds.
u=$((u + 1))
scenario "drip$u" none
proxy_start "$IMAP_PORT" drip s2c 0 --count 80
sed "s/port: $IMAP_PORT/port: $PROXY_PORT/" "$CFG" >"$T/p.yaml"
chmod 600 "$T/p.yaml"
run_ms "$T/p.yaml"
proxy_stop
is "$RC" 0 "a greeting dripped over 8 s (timeout 5 s) is progress: exit 0 (${SECS}s)"
ok "$([ "$SECS" -ge 7 ] && echo 0 || echo 1)" "the drip really lasted (${SECS}s)"
converge "after the drip"

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no sanitizer report in any run"
diag "netfault: $trials trials, $CUTS cut points ($S2C/$C2S bytes), $(($(date +%s) - START))s"
done_testing
