#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Channels of different accounts sync at once, in one worker per account
# (or shared Maildir tree); their output comes whole and in selection order,
# the exit status is the worst of theirs, and a signal to mailsync ends the
# workers too.  Concurrency is proven without timing: channel a's pass-cmd
# waits (at most $LIMIT tenths of a second) for a file that channel b's
# post-sync hook creates, so a run of one channel after the other fails.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

# pass USER: log the call; when $T/wait-USER names a file, wait for it first
cat >"$T/pass" <<EOF
#!/bin/sh
echo "auth \$1" >>"$T/log"
if [ -f "$T/wait-\$1" ]; then
	w=\$(cat "$T/wait-\$1")
	i=0
	while [ ! -e "\$w" ]; do
		i=\$((i + 1))
		[ \$i -gt "\${LIMIT:-150}" ] && exit 1
		sleep 0.1
	done
fi
echo "$IMAP_PASS"
EOF
chmod +x "$T/pass"
DEAD_PORT=$(free_port)

# account NAME USER [PORT] [TIMEOUT]
account() {
	cat <<EOF
  $1:
    host: 127.0.0.1
    port: ${3:-$IMAPS_PORT}
    tls: imaps
    user: $2
    pass-cmd: "$T/pass $2"
    ca-file: $T/cert.pem
    timeout: ${4:-10}
EOF
}
# channel NAME ACCOUNT MAILDIR [FOLDER]
channel() {
	cat <<EOF
  $1:
    account: $2
    maildir: $3
    state-dir: $T/state/$1
    folders: ["${4:-*}"]
EOF
}
# config FILE, then channel lines on stdin
config() {
	{
		echo "accounts:"
		account alice alice
		account bob bob
		account carol carol
		cat <<EOF
  dead:
    host: 127.0.0.1
    port: $DEAD_PORT
    tls: none
    user: nobody
    password: x
    timeout: 5
EOF
		[ -n "${PROXY_PORT:-}" ] && account stalled alice "$PROXY_PORT" 60
		echo "channels:"
		cat
		cat <<EOF
hooks:
  post-sync: 'echo "end \$MAILSYNC_CHANNEL" >>$T/log; touch $T/done-\$MAILSYNC_CHANNEL'
EOF
	} >"$1"
	chmod 600 "$1"
}
# seed USER FOLDER ID...: new messages on the server
seed() {
	u=$1 f=$2
	shift 2
	for id in "$@"; do IMAP_USER=$u seed_msg "$f" "$id"; done
}
# local_msg DIR ID: a new message on disk
local_msg() {
	mkdir -p "$1/cur" "$1/new" "$1/tmp"
	make_msg "$2" >"$1/cur/$2.local.host:2,S"
}
# events [REGEX]: the log's lines (those matching), a run of the same line
# (an account's connections) as one
events() { grep -E "${1:-.}" "$T/log" | uniq | tr '\n' ' ' | sed 's/ $//'; }
fresh() { rm -f "$T"/done-* "$T"/wait-*; : >"$T/log"; }
M=$T/m

config "$T/ab.yaml" <<EOF
$(channel a alice "$M/a")
$(channel b bob "$M/b")
$(channel d dead "$M/d")
EOF
seed alice INBOX a1 a2
seed bob INBOX b1 b2
local_msg "$M/a/INBOX" la
local_msg "$M/b/INBOX" lb

# ---- at once ----------------------------------------------------------
fresh
echo "$T/done-b" >"$T/wait-alice"
ms -c "$T/ab.yaml" a b
is "$RC" 0 "a waits for b's hook: both run at once and succeed"
is "$(events '^end')" "end b end a" "b finished while a waited"
is "$(printf '%s\n' "$OUT" | cut -d: -f1 | tr '\n' ' ')" "a b " \
	"summaries in selection order, though b finished first"
like "$(printf '%s\n' "$OUT" | head -1)" "^a: 1 folders, 2 pulled .*, 1 pushed " "a's summary"
like "$(printf '%s\n' "$OUT" | tail -1)" "^b: 1 folders, 2 pulled .*, 1 pushed " "b's summary"
is "$(local_ids "$M/a/INBOX") / $(IMAP_USER=alice server_ids INBOX)" \
	"a1 a2 la / a1 a2 la" "a synced both ways"
is "$(local_ids "$M/b/INBOX") / $(IMAP_USER=bob server_ids INBOX)" \
	"b1 b2 lb / b1 b2 lb" "b synced both ways"
is "$ERR" "" "nothing on stderr"

# the same with -j 1: one after the other, so a's wait runs out
fresh
echo "$T/done-b" >"$T/wait-alice"
seed alice INBOX a3
seed bob INBOX b3
LIMIT=10 ms -c "$T/ab.yaml" -j 1 a b
is "$RC" 1 "-j 1: a runs first, alone, and its pass-cmd gives up"
like "$ERR" "pass-cmd failed" "-j 1: a's error"
is "$(events)" "auth alice auth bob end b" "-j 1: b only after a"
is "$(local_ids "$M/b/INBOX")" "b1 b2 b3 lb" "-j 1: b synced"

# ---- --json -------------------------------------------------------------
fresh
echo "$T/done-b" >"$T/wait-alice"
seed bob INBOX b4
ms -c "$T/ab.yaml" --json -a
is "$RC:$(printf '%s\n' "$OUT" | wc -l)" "75:3" \
	"--json -a: the dead port's 75, one line per channel"
is "$(printf '%s\n' "$OUT" | sed 's/^{"channel":"\([a-z]*\)","exit":\([0-9]*\),.*}$/\1=\2/' |
	tr '\n' ' ')" "a=0 b=0 d=75 " "--json: one object per channel, in config order"
like "$ERR" "^mailsync: channel d: .*cannot connect to 127.0.0.1 port $DEAD_PORT" \
	"the dead port's error"
is "$(local_ids "$M/a/INBOX") / $(local_ids "$M/b/INBOX")" \
	"a1 a2 a3 la / b1 b2 b3 b4 lb" "--json -a: a and b synced"

# ---- exit status: the worst -----------------------------------------------
fresh
seed alice INBOX a4
seed bob INBOX b5
ms -c "$T/ab.yaml" b d a
is "$RC" 75 "b, d, a: a dead port and two good channels exit 75"
is "$(printf '%s\n' "$OUT" | cut -d: -f1 | tr '\n' ' ')" "b a " \
	"b, d, a: summaries in selection order (none for the unreachable d)"
is "$(local_ids "$M/a/INBOX") / $(local_ids "$M/b/INBOX")" \
	"a1 a2 a3 a4 la / b1 b2 b3 b4 b5 lb" "b, d, a: a and b still synced"
fresh
echo "$T/never" >"$T/wait-alice"
seed bob INBOX b6
LIMIT=5 ms -c "$T/ab.yaml" d a b
is "$RC" 1 "d, a, b: a failure (1) wins over an unreachable server (75)"
is "$(local_ids "$M/b/INBOX")" "b1 b2 b3 b4 b5 b6 lb" "d, a, b: b still synced"
is "$(printf '%s\n' "$ERR" | cut -d: -f2 | tr '\n' ' ')" \
	" channel d  channel a " "d, a, b: errors in selection order"

# ---- never at once: one account, or one Maildir tree -----------------------
IMAP_USER=carol mkfolder Work
IMAP_USER=bob mkfolder Other
config "$T/same.yaml" <<EOF
$(channel x1 carol "$M/x1" INBOX)
$(channel x2 carol "$M/x2" Work)
$(channel p alice "$T/shared" INBOX)
$(channel q bob "$T/shared/sub" Other)
EOF
seed carol INBOX c1
seed carol Work c2
seed bob Other o1
fresh
ms -c "$T/same.yaml" -a
is "$RC" 0 "two channels of one account, two sharing a tree: exit 0"
is "$(events 'carol|x[12]')" "auth carol end x1 auth carol end x2" \
	"channels of one account one after the other"
is "$(events 'alice|bob|end [pq]')" "auth alice end p auth bob end q" \
	"channels with one Maildir inside the other one after the other"
is "$(local_ids "$M/x1/INBOX") / $(local_ids "$M/x2/Work")" "c1 / c2" \
	"both channels of the account synced"
is "$(printf '%s\n' "$OUT" | cut -d: -f1 | tr '\n' ' ')" "x1 x2 p q " \
	"their summaries in config order"

# ---- a worker that dies, and a signal to mailsync ---------------------------
# The stalled account's connections get no greeting: its channel hangs
# until something ends its worker.
proxy_start "$IMAPS_PORT" stall s2c 0
config "$T/stall.yaml" <<EOF
$(channel s stalled "$M/s")
$(channel b bob "$M/b")
EOF
stalled_workers() {	# parent: the pids of its workers, once s hangs
	grep -q 'conns=[1-9]' "$PROXY_STATS" && [ -e "$T/done-b" ] &&
		[ "$(pgrep -P "$1" | wc -l)" = 1 ]
}

fresh
seed bob INBOX b7
"$MAILSYNC" -c "$T/stall.yaml" --json -a >"$T/out" 2>"$T/err" &
pid=$!
wait_for 20 stalled_workers "$pid"
ok $? "s hangs while b is done"
w=$(pgrep -P "$pid")
kill -KILL "$w"
wait "$pid"
is "$?" 1 "a worker killed by a signal: exit 1"
like "$(cat "$T/err")" "^mailsync: channel s: worker killed by signal 9 \(Killed\)$" \
	"the message names its channel"
is "$(sed 's/^{"channel":"\([a-z]*\)","exit":\([0-9]*\),.*"errors":\[\(.*\)\]}$/\1=\2 \3/' "$T/out" |
	tr '\n' ';')" 's=1 "worker killed by signal 9 (Killed)";b=0 ;' \
	"--json: still one object per channel, in order"

fresh
seed bob INBOX b8
"$MAILSYNC" -c "$T/stall.yaml" -a >"$T/out" 2>"$T/err" &
pid=$!
wait_for 20 stalled_workers "$pid"
ok $? "s hangs again"
w=$(pgrep -P "$pid")
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: mailsync ends by it"
ok "$(kill -0 "$w" 2>/dev/null && echo 1 || echo 0)" "no worker is left running"
like "$(cat "$T/err")" "^mailsync: channel s: worker killed by signal 15" \
	"the stopped channel is named"
like "$(cat "$T/out")" "^b: 2 folders, 1 pulled" "the finished channel's summary"
is "$(local_ids "$M/b/INBOX")" "b1 b2 b3 b4 b5 b6 b7 b8 lb" "b synced"

# ---- on a terminal ------------------------------------------------------------
if command -v script >/dev/null 2>&1; then
	fresh
	echo "$T/done-b" >"$T/wait-alice"
	seed alice INBOX a5
	seed bob INBOX b9
	script -qec "stty cols 200 2>/dev/null; '$MAILSYNC' -c '$T/ab.yaml' a b" \
		"$T/tty.log" >/dev/null 2>&1
	is "$?" 0 "on a terminal: exit 0"
	check "one line for the run: what is done and who runs" \
		grep -Eq '[0-2]/2 channels done; a: (starting|folder 1/1)' "$T/tty.log"
	check "no line of a channel's own" sh -c "! grep -q 'a: folder 1/1, pulled' '$T/tty.log'"
	check "erased before each summary" \
		grep -q "$(printf '\r\033\\[K')a: 1 folders" "$T/tty.log"
	fresh
	seed bob INBOX b10
	script -qec "'$MAILSYNC' -c '$T/ab.yaml' b" "$T/tty1.log" >/dev/null 2>&1
	check "one channel: its own line, as without workers" \
		grep -q 'b: folder 1/1, pulled' "$T/tty1.log"
else
	diag "script(1) is not installed: no terminal checks"
fi

ms -c "$T/ab.yaml" -j 0 a b
is "$RC" 2 "-j 0 is a usage error"
ms -c "$T/ab.yaml" --jobs x a b
like "$RC:$ERR" "^2:mailsync: --jobs wants a number from 1 to 64$" "--jobs x too"
done_testing
