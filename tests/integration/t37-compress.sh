#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# COMPRESS=DEFLATE (RFC 4978): with compress: yes a full sync (pull, flag
# changes, push, moves both ways) ends exactly as without it, the --debug
# trace stays plain IMAP, and watching works; auto does not compress on
# loopback; a server without the capability, or one answering NO or BAD,
# gets an uncompressed session; corrupt compressed data is a clean error.
. "$TESTS_SRCDIR/integration/lib.sh"
need_dovecot

moddir=$(dovecot --build-options 2>/dev/null | sed -n 's/^Module directory: //p')
ls "${moddir:-/usr/lib/dovecot/modules}"/lib*_imap_zlib_plugin.so >/dev/null 2>&1 ||
	skip_all "Dovecot's imap_zlib plugin is not installed"
TOOL="$(dirname "$MAILSYNC")/tests/imap-tool"
[ -x "$TOOL" ] || bail "imap-tool not built ($TOOL)"

dovecot_start 'protocol imap {
  mail_plugins = $mail_plugins imap_zlib
}'

# cz_config MODE: $T/MODE.yaml for user u-MODE, mail in $T/MODE/mail.
cz_config() {
	cat >"$T/$1.yaml" <<YAML
accounts:
  test:
    host: 127.0.0.1
    port: $IMAPS_PORT
    user: u-$1
    password: $IMAP_PASS
    ca-file: $T/cert.pem
    timeout: 10
    compress: $1
channels:
  test:
    account: test
    maildir: $T/$1/mail
    state-dir: $T/$1/state
YAML
	chmod 600 "$T/$1.yaml"
}

# no_sanitizer WHAT: the last run's stderr has no ASan/UBSan report.
no_sanitizer() {
	ok "$(printf '%s' "$ERR" | grep -Eq 'Sanitizer|runtime error' &&
	    echo 1 || echo 0)" "$1: no sanitizer report (leaks included)"
}

# snapshot MODE: "folder side: id=flags ..." for both sides of both folders.
snapshot() {
	local f id
	for f in INBOX Archive; do
		printf '%s server:' "$f"
		for id in $(server_ids "$f"); do
			printf ' %s=%s' "$id" "$(server_flags "$f" "$id")"
		done
		printf '; %s local:' "$f"
		for id in $(local_ids "$T/$1/mail/$f"); do
			printf ' %s=%s' "$id" "$(local_flags "$T/$1/mail/$f" "$id")"
		done
		printf '; '
	done
}

# scenario MODE: seed user u-MODE, pull, change both sides, sync (with
# --debug: the trace is left in $ERR), then a run that must change nothing.
scenario() {
	local m=$1 f
	IMAP_USER=u-$m
	mkfolder Archive
	for id in m1 m2 m3 m4 m5 m6; do seed_msg INBOX "$id"; done
	dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX header X-Test-Id m2
	seed_msg Archive a1
	make_msg big "big one" 20000 | dadm save -u "$IMAP_USER" -m INBOX ||
		bail "doveadm save big failed"
	cz_config "$m"
	ms -c "$T/$m.yaml" -a
	is "$RC" 0 "$m: first pull exits 0"
	is "$(local_ids "$T/$m/mail/INBOX")" "big m1 m2 m3 m4 m5 m6" \
	    "$m: INBOX pulled"
	make_msg big "big one" 20000 >"$T/big.expect"
	check "$m: a 600 KB message arrives byte-exact" \
	    cmp "$T/big.expect" "$(local_file "$T/$m/mail/INBOX" big)"
	no_sanitizer "$m: first pull"

	dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m3
	dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id m5
	seed_msg INBOX n1
	f=$(local_file "$T/$m/mail/INBOX" m4)
	mv "$f" "$T/$m/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
	mv "$(local_file "$T/$m/mail/INBOX" m6)" "$T/$m/mail/Archive/cur/"
	make_msg l1 >"$T/$m/mail/INBOX/new/1700000001.l1.host"
	ms -c "$T/$m.yaml" -a --debug
	is "$RC" 0 "$m: sync after changes on both sides exits 0"
	no_sanitizer "$m: sync with changes"
	TRACE=$ERR

	ms -c "$T/$m.yaml" -a
	like "$OUT" "0 pulled .*0 pushed .*0 moved, 0 flag changes" \
	    "$m: the next run is a no-op"
}

want='INBOX server: big= l1= m1= m2=\Seen m3=\Flagged m4=\Seen n1=; '
want=$want'INBOX local: big= l1= m1= m2=S m3=F m4=S n1=; '
want=$want'Archive server: a1= m5= m6=; Archive local: a1= m5= m6=; '

scenario no
snap_no=$(snapshot no)
is "$snap_no" "$want" "no: both sides as expected"
ok "$(printf '%s\n' "$TRACE" | grep -q 'COMPRESS DEFLATE' && echo 1 || echo 0)" \
    "no: COMPRESS is never sent"

scenario yes
is "$(snapshot yes)" "$snap_no" "yes: the same result as without compression"
logins=$(printf '%s\n' "$TRACE" | grep -Ec ' C: [^ ]+ AUTHENTICATE ')
sent=$(printf '%s\n' "$TRACE" | grep -Ec ' C: [^ ]+ COMPRESS DEFLATE$')
ok "$([ "$logins" -ge 1 ] && [ "$sent" = "$logins" ] && echo 0 || echo 1)" \
    "yes: every connection sent COMPRESS DEFLATE after login ($sent of $logins)"
is "$(printf '%s\n' "$TRACE" | grep -c ' \*: COMPRESS=DEFLATE is on; the trace goes on uncompressed$')" \
    "$logins" "yes: --debug says so once per connection"
like "$TRACE" ' C: [^ ]+ UID MOVE ' "yes: the trace after it is plain IMAP (client)"
like "$TRACE" ' C: [^ ]+ APPEND ' "yes: ... an APPEND"
like "$TRACE" ' S: [^ ]+ OK .*Move completed' "yes: ... and the server's replies"
ok "$(printf '%s\n' "$TRACE" | grep -E ' [CS]: ' | LC_ALL=C grep -q '[^[:print:]]' &&
    echo 1 || echo 0)" "yes: no compressed bytes in the trace"

# watching: IDLE/NOTIFY waits on the socket under the compressed stream
"$MAILSYNC" -v -w -c "$T/yes.yaml" --debug test >"$T/w.out" 2>"$T/w.err" &
WPID=$!
stop_watch() { kill -TERM "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; }
at_exit stop_watch
i=0
while ! grep -Eq 'C: [^ ]+ (IDLE|NOTIFY)' "$T/w.err" && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
seed_msg INBOX w1
i=0
while [ -z "$(local_file "$T/yes/mail/INBOX" w1)" ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "yes: the watcher pulls news it was told of while compressed" \
    test -n "$(local_file "$T/yes/mail/INBOX" w1)"
stop_watch
ERR=$(cat "$T/w.err")
like "$ERR" ' C: [^ ]+ COMPRESS DEFLATE$' "yes: the watcher compresses too"
no_sanitizer "yes: watch"

# auto on 127.0.0.1: offered but not asked for
IMAP_USER=u-auto
seed_msg INBOX m1
cz_config auto
ms -c "$T/auto.yaml" -a --debug
is "$RC" 0 "auto: sync on loopback exits 0"
like "$ERR" ' S: .*COMPRESS=DEFLATE' "auto: the server offers COMPRESS=DEFLATE"
ok "$(printf '%s\n' "$ERR" | grep -q 'COMPRESS DEFLATE' && echo 1 || echo 0)" \
    "auto: COMPRESS is not sent to a loopback address"
is "$(local_ids "$T/auto/mail/INBOX")" "m1" "auto: pulled"

# a server without the capability: yes is a wish, not a requirement
dovecot_stop
i=0
while [ -e "$D/run/master.pid" ] &&
    kill -0 "$(cat "$D/run/master.pid")" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 100 ] && bail "dovecot did not stop"
	sleep 0.1
done
dovecot_start
IMAP_USER=u-yes
sed -i "s/port: .*/port: $IMAPS_PORT/" "$T/yes.yaml"
ms -c "$T/yes.yaml" -a --debug
is "$RC" 0 "yes, server without COMPRESS=DEFLATE: sync exits 0"
ok "$(printf '%s\n' "$ERR" | grep -q 'COMPRESS' && echo 1 || echo 0)" \
    "yes, server without it: not offered, not sent"
like "$OUT" "0 pulled .*0 pushed .*0 moved, 0 flag changes" \
    "yes, server without it: nothing to do"

# NO and BAD: the session goes on uncompressed
for reply in NO BAD; do
	if [ "$reply" = NO ]; then
		fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN COMPRESS=DEFLATE",
		    "commands": {"COMPRESS": ["{tag} NO not today"]}}'
	else
		fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN COMPRESS=DEFLATE"}'
	fi
	cat >"$T/f.yaml" <<YAML
accounts:
  f:
    host: 127.0.0.1
    port: $FAKE_PORT
    tls: none
    user: alice
    password: pw
    timeout: 5
    compress: yes
YAML
	chmod 600 "$T/f.yaml"
	OUT=$(timeout 30 "$TOOL" --debug "$T/f.yaml" f list-folders 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	is "$RC:$OUT" "0:INBOX" "$reply to COMPRESS: the session goes on"
	like "$ERR" " S: [^ ]+ $reply " "$reply to COMPRESS: the refusal is in the trace"
	like "$(tr -d '\r' <"$FAKE_REC")" 'COMPRESS DEFLATE
[^ ]+ LIST ' "$reply to COMPRESS: the next command went out uncompressed"
	no_sanitizer "$reply to COMPRESS"
done

# OK, then bytes that do not inflate (in the same packet as the OK: they
# belong to the compressed stream)
fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN COMPRESS=DEFLATE",
    "commands": {"COMPRESS": ["RAW:{tag} OK go\r\n* OK not deflate\r\n"]}}'
sed -i "s/port: .*/port: $FAKE_PORT/" "$T/f.yaml"
OUT=$(timeout 30 "$TOOL" "$T/f.yaml" f list-folders 2>"$T/err")
RC=$?
ERR=$(cat "$T/err")
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && echo 0 || echo 1)" \
    "corrupt compressed data: fails without hanging (exit $RC)"
like "$ERR" 'corrupt compressed data from the server' \
    "corrupt compressed data: the error says why"
no_sanitizer "corrupt compressed data"
done_testing
