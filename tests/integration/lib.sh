# SPDX-License-Identifier: GPL-3.0-or-later
# Integration test harness: TAP output, a throwaway Dovecot on loopback, and
# helpers to seed and inspect mail on both sides.  Sourced by t*.sh.
#
# Environment: MAILSYNC (the binary), TESTS_SRCDIR (tests/ in the source tree).
# Helpers keep their variables `local`, so test scripts own every global.

set -u
: "${MAILSYNC:=$(pwd)/mailsync}"
: "${TESTS_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"

# ---- TAP ---------------------------------------------------------------
tap_n=0
tap_fail=0
ok() {	# ok CONDITION-EXIT-STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_fail=$((tap_fail + 1))
	fi
}
check() {	# check DESCRIPTION COMMAND...: ok when the command succeeds
	local desc=$1
	shift
	"$@" >/dev/null 2>&1
	ok $? "$desc"
}
is() {	# is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got: %s\n#  want: %s\n' "$1" "$2" | sed '2,$s/^/# /'
	fi
}
like() {	# like TEXT REGEX DESCRIPTION
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "$1" | sed 's/^/#   got: /' | head -20
		echo "#  want match: $2"
	fi
}
diag() { printf '# %s\n' "$*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail() { echo "Bail out! $*"; exit 1; }
done_testing() {
	echo "1..$tap_n"
	[ "$tap_fail" -eq 0 ]
	exit $?
}

# ---- temp dir and cleanup ----------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/mailsync-test.XXXXXX") || bail "mktemp"
chmod 755 "$T"
cleanup_hooks=""
cleanup() {
	for h in $cleanup_hooks; do $h; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
at_exit() { cleanup_hooks="$1 $cleanup_hooks"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- scripted fake server (hostile-server tests) ----------------------
FAKE="$TESTS_SRCDIR/integration/fakeimap.py"
fake_pids=""
fake_n=0
fake_stop_all() { for p in $fake_pids; do kill "$p" 2>/dev/null; done; }
at_exit fake_stop_all

# fake_start JSON [fakeimap options]: start a fake server playing the
# scenario JSON for at most FAKE_LIFETIME seconds (default 40); sets
# FAKE_PORT and FAKE_REC (every byte it received).
fake_start() {
	local fd i
	fake_n=$((fake_n + 1))
	fd=$T/fake$fake_n
	mkdir -p "$fd"
	printf '%s\n' "$1" >"$fd/scenario.json"
	shift
	python3 "$FAKE" --scenario "$fd/scenario.json" --port-file "$fd/port" \
		--record "$fd/record" --lifetime "${FAKE_LIFETIME:-40}" "$@" &
	fake_pids="$fake_pids $!"
	wait_port "$fd/port" "fake server"
	FAKE_PORT=$(cat "$fd/port")
	FAKE_REC=$fd/record
}

# fake_yaml FILE TLS TIMEOUT MAILDIR STATEDIR [ACCOUNT-LINE...]: a config
# for the fake server: account "f" (user alice, password $PW, host
# 127.0.0.1 unless an account line sets host:) and channel "f"; STATEDIR
# "-" for the default.  Moved into place whole, mode 0600.
fake_yaml() {
	local cfg=$1 tls=$2 timeout=$3 maildir=$4 state=$5 l
	shift 5
	{
		echo "accounts:"
		echo "  f:"
		case "$*" in *host:*) ;; *) echo "    host: 127.0.0.1" ;; esac
		cat <<YAML
    port: $FAKE_PORT
    tls: $tls
    user: alice
    password: $PW
    timeout: $timeout
YAML
		for l in "$@"; do echo "    $l"; done
		cat <<YAML
channels:
  f:
    account: f
    maildir: $maildir
YAML
		if [ "$state" != - ]; then echo "    state-dir: $state"; fi
	} >"$cfg.tmp"
	chmod 600 "$cfg.tmp"
	mv "$cfg.tmp" "$cfg"
}

# ---- TCP fault proxy in front of a real server (tests/faultproxy.py) ---
proxy_n=0
proxy_pids=""
proxy_stop_all() { for p in $proxy_pids; do kill "$p" 2>/dev/null; done; }
at_exit proxy_stop_all

# proxy_start TARGET-PORT MODE DIR K [faultproxy options]: sets PROXY_PORT,
# PROXY_STATS, PROXY_PID.  Later options win (--lifetime, say).
proxy_start() {
	local pd
	proxy_n=$((proxy_n + 1))
	pd=$T/px$proxy_n
	mkdir -p "$pd"
	python3 "$TESTS_SRCDIR/faultproxy.py" --target "127.0.0.1:$1" \
		--port-file "$pd/port" --stats "$pd/stats" --mode "$2" \
		--dir "$3" --at "$4" --lifetime 90 "${@:5}" &
	PROXY_PID=$!
	proxy_pids="$proxy_pids $PROXY_PID"
	wait_port "$pd/port" "fault proxy"
	PROXY_PORT=$(cat "$pd/port")
	PROXY_STATS=$pd/stats
}
proxy_stop() { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; }

# wait_port FILE WHAT: wait (at most 10 s) for a helper's port file.
wait_port() {
	local i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -gt 200 ] && bail "$2 did not start"
		sleep 0.05
	done
}

# ---- waiting -----------------------------------------------------------
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

# ---- Dovecot -----------------------------------------------------------
need_dovecot() {
	if ! command -v dovecot >/dev/null 2>&1 || ! command -v doveadm >/dev/null 2>&1; then
		if [ "${CI:-}" = true ]; then
			bail "dovecot is required under CI=true (apt-get install dovecot-imapd)"
		fi
		skip_all "dovecot not installed"
	fi
}

# make_cert DIR NAME [extra openssl req args]: self-signed cert with SANs
# localhost and 127.0.0.1 -> DIR/NAME.pem, DIR/NAME.key
make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
		-subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$1/$2.key" -out "$1/$2.pem" "${@:3}" >/dev/null 2>&1 ||
		bail "openssl req failed"
}

# dovecot_start [extra config lines]: start Dovecot on 127.0.0.1 with
# IMAP on $IMAP_PORT and IMAPS on $IMAPS_PORT, user $IMAP_USER, password
# $IMAP_PASS, certificate $T/cert.pem.  Extra config is appended as is.
# ca_init: a scratch OpenSSL CA in $T/ca, for ca_sign.
ca_init() {
	mkdir -p "$T/ca/db"
	: >"$T/ca/db/index"
	echo 01 >"$T/ca/db/serial"
	cat >"$T/ca/ca.cnf" <<'CNF'
[ ca ]
default_ca = d
[ d ]
dir = .
database = db/index
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[ p ]
commonName = supplied
CNF
}

# ca_sign NAME START END [CA]: NAME.pem/NAME.key for localhost and
# 127.0.0.1, valid START..END, signed by CA (self-signed without one).
ca_sign() {
	(
		cd "$T/ca" &&
			openssl req -new -newkey rsa:2048 -nodes -subj /CN=localhost \
				-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
				-keyout "../$1.key" -out "$1.csr" &&
			if [ -n "${4:-}" ]; then
				openssl ca -batch -config ca.cnf -cert "../$4.pem" \
					-keyfile "../$4.key" -in "$1.csr" -out "../$1.pem" \
					-startdate "$2" -enddate "$3"
			else
				openssl ca -batch -config ca.cnf -selfsign \
					-keyfile "../$1.key" -in "$1.csr" -out "../$1.pem" \
					-startdate "$2" -enddate "$3"
			fi
	) >/dev/null 2>&1 || bail "cannot make certificate $1"
}

dovecot_start() {
	need_dovecot
	D=$T/dovecot
	mkdir -p "$D/run" "$D/home"
	chmod 755 "$D" "$D/home"
	if [ "$(id -u)" = 0 ]; then
		getent passwd vmail >/dev/null 2>&1 ||
			useradd -r -M -d /nonexistent -s /usr/sbin/nologin vmail ||
			bail "cannot create the vmail user"
		mail_uid=vmail
		mail_gid=$(id -gn vmail)
		chown vmail:"$mail_gid" "$D/home"
		login_lines="default_login_user = dovenull
default_internal_user = dovecot"
	else
		mail_uid=$(id -un)
		mail_gid=$(id -gn)
		login_lines="default_login_user = $mail_uid
default_internal_user = $mail_uid"
	fi
	[ -e "$T/cert.pem" ] || make_cert "$T" cert
	IMAP_PORT=$(free_port)
	IMAPS_PORT=$(free_port)
	IMAP_USER=${IMAP_USER:-test}
	IMAP_PASS=${IMAP_PASS:-secret}
	DOVECOT_CONF=$D/dovecot.conf
	cat >"$DOVECOT_CONF" <<CONF
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
instance_name = mailsync-test-$$
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <$T/cert.pem
ssl_key = <$T/cert.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
$login_lines
first_valid_uid = 1
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = static
  args = password=$IMAP_PASS
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$D/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
protocol imap {
  mail_max_userip_connections = 50
}
$*
CONF
	mkdir -p "$D/state"
	dovecot -c "$DOVECOT_CONF" || bail "dovecot failed to start: $(tail -5 "$D/dovecot.log" 2>/dev/null)"
	at_exit dovecot_stop
	i=0
	while ! (exec 3<>/dev/tcp/127.0.0.1/"$IMAPS_PORT") 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && bail "dovecot did not listen on $IMAPS_PORT"
		sleep 0.05
	done
}

dovecot_stop() {
	[ -n "${DOVECOT_CONF:-}" ] || return 0
	doveadm -c "$DOVECOT_CONF" stop >/dev/null 2>&1 ||
		kill "$(cat "$D/run/master.pid" 2>/dev/null)" 2>/dev/null
	DOVECOT_CONF=
}

dadm() { doveadm -c "$DOVECOT_CONF" "$@"; }

# seed_msg FOLDER ID [SUBJECT] [FLAGS]: save one message with a unique
# Message-ID <ID@test> and a test-id header into FOLDER on the server.
seed_msg() {
	make_msg "$2" "${3:-message $2}" | dadm save -u "$IMAP_USER" -m "$1" ||
		bail "doveadm save $1 $2 failed"
	if [ -n "${4:-}" ]; then
		dadm flags add -u "$IMAP_USER" "$4" mailbox "$1" header Message-ID "<$2@test>" ||
			bail "doveadm flags add failed"
	fi
}

# seed_bulk DIR PREFIX N: N messages PREFIX0.. written straight into the
# server user's Maildir directory DIR (cur/ of a folder; much faster than
# N doveadm saves), owned by the mail user.
seed_bulk() {
	local i=0
	while [ $i -lt "$3" ]; do
		make_msg "$2$i" >"$1/$((1600000000 + i)).$2$i.host:2,"
		i=$((i + 1))
	done
	chown -R vmail "$D/home/$IMAP_USER" 2>/dev/null
}

# make_msg ID [SUBJECT] [BODYLINES]: print a message with LF line ends.
make_msg() {
	local n i
	printf 'From: Alice <alice@example.org>\nTo: Bob <bob@example.org>\nSubject: %s\nDate: Mon, 02 Jan 2023 10:00:00 +0000\nMessage-ID: <%s@test>\nX-Test-Id: %s\n\n' "${2:-message $1}" "$1" "$1"
	n=${3:-3}
	i=0
	while [ $i -lt "$n" ]; do
		echo "Body line $i of message $1."
		i=$((i + 1))
	done
}

# mkfolder FOLDER: create a folder on the server.
mkfolder() { dadm mailbox create -u "$IMAP_USER" "$1" >/dev/null 2>&1; }

# server_ids FOLDER: sorted X-Test-Id values of FOLDER on the server.
server_ids() {
	dadm fetch -u "$IMAP_USER" 'hdr.x-test-id' mailbox "$1" all 2>/dev/null |
		sed -n 's/^hdr.x-test-id: *//p' | sort | tr '\n' ' ' | sed 's/ $//'
}

# server_flags FOLDER ID: flags of the message with that test id.
server_flags() {
	dadm fetch -u "$IMAP_USER" 'flags' mailbox "$1" header X-Test-Id "$2" 2>/dev/null |
		sed -n 's/^flags: *//p' | tr ' ' '\n' | grep -v '^\\Recent$' | sort | tr '\n' ' ' | sed 's/ $//'
}

server_count() {
	dadm search -u "$IMAP_USER" mailbox "$1" all 2>/dev/null | wc -l | tr -d ' '
}

# local_ids DIR: sorted X-Test-Id values of the Maildir folder DIR.
local_ids() {
	local f
	for f in "$1"/cur/* "$1"/new/*; do
		[ -f "$f" ] || continue
		sed -n '/^$/q; s/^X-Test-Id: *//p' "$f"
	done | sort | tr '\n' ' ' | sed 's/ $//'
}

# local_file DIR ID: the path of the file holding test id ID.
local_file() {
	grep -l "^X-Test-Id: $2\$" "$1"/cur/* "$1"/new/* 2>/dev/null | head -1
}

# local_flags DIR ID: the Maildir flag letters of that message.
local_flags() {
	local f
	f=$(local_file "$1" "$2")
	case "$f" in
	*:2,*) echo "${f##*:2,}" ;;
	*) echo "" ;;
	esac
}

# write_config FILE [channel extras...]: a config for the Dovecot above with
# one channel "test" into $T/mail; extra lines are appended to the channel.
write_config() {
	local cfg=$1 l
	shift
	{
		cat <<YAML
accounts:
  test:
    host: 127.0.0.1
    port: $IMAPS_PORT
    tls: imaps
    user: $IMAP_USER
    password: $IMAP_PASS
    ca-file: $T/cert.pem
    timeout: 10
channels:
  test:
    account: test
    maildir: $T/mail
    state-dir: $T/state
YAML
		for l in "$@"; do echo "    $l"; done
	} >"$cfg"
	chmod 600 "$cfg"
}

# ms ARGS...: run mailsync, capturing stdout in $OUT, stderr in $ERR, exit
# status in $RC (never fails the script).
ms() {
	OUT=$("$MAILSYNC" "$@" 2>"$T/stderr")
	RC=$?
	ERR=$(cat "$T/stderr")
	return 0
}
