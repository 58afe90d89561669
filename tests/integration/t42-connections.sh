#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Large pulls over several connections (the account's `connections`): a
# batch is split among extra sessions and read at once; every message
# arrives whole, once, paired with its own UID.  A server that refuses
# more connections leaves the pull to the one it accepted.  On a loopback
# host, one connection unless `connections` is set.
. "$TESTS_SRCDIR/integration/lib.sh"

N=1100
dovecot_start
seed_msg INBOX warmup
# N messages of about 8 KiB straight into the server's Maildir, and a
# copy of each in $T/src to compare with
U=$D/home/$IMAP_USER/Maildir/cur
mkdir -p "$T/src"
awk -v n="$N" -v u="$U" -v s="$T/src" 'BEGIN {
	for (i = 0; i < n; i++) {
		id = "p" i
		f = u "/" (1600000000 + i) "." id ".host:2,"
		printf "From: a@example.org\nSubject: part %d\nMessage-ID: <%s@test>\nX-Test-Id: %s\n\n", i, id, id >f
		for (l = 0; l < 270; l++)
			printf "line %d of message %s, padded to some thirty bytes\n", l, id >f
		close(f)
		system("cp " f " " s "/" id)
	}
}'
chown -R "$mail_uid" "$D/home/$IMAP_USER" 2>/dev/null

logins() { grep -c "Login: user=<$IMAP_USER>" "$D/dovecot.log"; }

# pull NAME CONNECTIONS [ARGS]: a first pull into $T/NAME with the account's
# connections set (unset for "-"); sets LOGINS to the sessions it opened.
pull() {
	local name=$1 conns=$2 before
	shift 2
	write_config "$T/$name.yaml"
	sed -i "s|$T/mail\$|$T/$name|; s|$T/state\$|$T/$name-state|" "$T/$name.yaml"
	if [ -n "${PULL_PORT:-}" ]; then
		sed -i "s/port: $IMAPS_PORT\$/port: $PULL_PORT/" "$T/$name.yaml"
	fi
	if [ "$conns" != - ]; then
		sed -i "s|^    timeout: 10\$|    timeout: 10\n    connections: $conns|" "$T/$name.yaml"
	fi
	before=$(logins)
	ms -c "$T/$name.yaml" -a "$@"
	LOGINS=$(($(logins) - before))
}

# same NAME: every message in $T/NAME/INBOX, once, byte for byte
same() {
	local name=$1 bad=0 seen=0 f id
	for f in "$T/$name"/INBOX/cur/* "$T/$name"/INBOX/new/*; do
		[ -f "$f" ] || continue
		id=$(sed -n 's/^X-Test-Id: //p' "$f")
		case $id in
		p*) seen=$((seen + 1)); cmp -s "$f" "$T/src/$id" || bad=$((bad + 1)) ;;
		esac
	done
	is "$seen/$bad" "$N/0" "$name: every pulled message is byte for byte the server's"
	is "$(local_ids "$T/$name/INBOX" | tr ' ' '\n' | sort -u | wc -l | tr -d ' ')" \
		$((N + 1)) "$name: all $((N + 1)) messages, none twice"
}

pull three 3 --debug
is "$RC" 0 "three connections: the pull exits 0"
is "$LOGINS" 3 "three connections: two extra sessions were opened"
like "$ERR" 'test#3 C: [0-9]+ UID FETCH [0-9:,]+ \(UID BODY' \
	"the third session fetched bodies"
same three
# the pairs hold the right UIDs: a flag set on the server reaches exactly
# its file, and nothing is pulled again
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id p1000
dadm flags add -u "$IMAP_USER" '\Answered' mailbox INBOX header X-Test-Id p3
sleep 1.1
ms -c "$T/three.yaml" -a --json
is "$RC" 0 "three connections: the next run exits 0"
like "$OUT" '"pulled":\{"messages":0' "nothing is pulled again"
is "$(local_flags "$T/three/INBOX" p1000)" F "a flag reached the message fetched late"
is "$(local_flags "$T/three/INBOX" p3)" R "and the one fetched first"
is "$(local_flags "$T/three/INBOX" p500)" "" "and no other"

pull default -
is "$RC" 0 "connections unset: the pull exits 0"
is "$LOGINS" 1 "connections unset on a loopback host: one session"
same default

pull one 1
is "$LOGINS" 1 "connections: 1: one session"

# A connection cut in the middle of the pull, whichever session carried
# that byte: the run goes on over the main session (an extra one was cut)
# or ends (the main one was), and the next run completes it; nothing is
# lost or pulled twice
proxy_start "$IMAPS_PORT" cut s2c 3000000
PULL_PORT=$PROXY_PORT pull cut 2
fired=$(sed -n 's/.*fired=\([01]\).*/\1/p' "$PROXY_STATS")
proxy_stop
is "$fired" 1 "cut: the fault fired"
diag "cut: the run with the cut exited $RC"
sed -i "s/port: $PROXY_PORT\$/port: $IMAPS_PORT/" "$T/cut.yaml"
ms -c "$T/cut.yaml" -a
is "$RC" 0 "cut: the next run exits 0"
same cut

# A server that allows one connection: the extra ones are refused, the
# pull goes on over the first
dovecot_stop
rm -rf "$D/run"
dovecot_start 'protocol imap {
  mail_max_userip_connections = 1
}'
pull limited 4 -v
is "$RC" 0 "connection limit: the pull exits 0"
like "$ERR" 'fetching over one connection from now on: ' \
	"connection limit: -v says the extra sessions were given up, and why"
same limited

done_testing
