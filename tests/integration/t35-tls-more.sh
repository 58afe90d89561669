#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# More TLS/STARTTLS attacks and hostile replies against the real mailsync
# binary (t11 and t12 drive imap-tool): each run fails with a message that
# says why, within its timeout, and no credential reaches the fake server.
. "$TESTS_SRCDIR/integration/lib.sh"
PW='pw-Plugh-0815'

FAKE_LIFETIME=60

# fake_config NAME TLS [account lines...]: config $CFG for the fake
# server, Maildir $M, state $S.
fake_config() {
	local tls=$2
	M=$T/m-$1
	S=$T/s-$1
	CFG=$T/c-$1.yaml
	shift 2
	fake_yaml "$CFG" "$tls" 3 "$M" "$S" "$@"
}

# run: mailsync -a on $CFG under timeout 30; sets RC, ERR, SECS.
run() {
	t0=$(date +%s)
	timeout 30 "$MAILSYNC" -c "$CFG" -a >/dev/null 2>"$T/stderr"
	RC=$?
	SECS=$(($(date +%s) - t0))
	ERR=$(cat "$T/stderr")
	grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
}

# no_credential DESCRIPTION: the fake server never saw a login or the
# password (in clear, or base64 inside AUTHENTICATE PLAIN).
no_credential() {
	b64=$(printf '\000alice\000%s' "$PW" | base64 -w0)
	if grep -Eqi '^[^ ]+ (LOGIN|AUTHENTICATE)' "$FAKE_REC" ||
	    grep -qF -e "$PW" -e "$b64" "$FAKE_REC"; then
		ok 1 "$1: no credential was sent"
		tr -d '\r' <"$FAKE_REC" | sed 's/^/#   /' | head -20
	else
		ok 0 "$1: no credential was sent"
	fi
}

# refused DESCRIPTION REGEX: the last run failed (not by timeout 30),
# saying REGEX, and sent no credential.
refused() {
	ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$RC" -lt 128 ] &&
	    echo 0 || echo 1)" "$1: fails (exit $RC after ${SECS}s)"
	like "$ERR" "$2" "$1: the error says why"
	no_credential "$1"
}

# ---- certificates ----------------------------------------------------------
make_cert "$T" good
ca_init
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Rogue CA" \
	-addext "basicConstraints=critical,CA:true" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" \
	-keyout "$T/rogueca.key" -out "$T/rogueca.pem" >/dev/null 2>&1 ||
	bail "cannot make a CA"
ca_sign unknownca 20200101000000Z 20400101000000Z rogueca
ca_sign future 20450101000000Z 20460101000000Z
ca_sign expired 20200101000000Z 20200201000000Z
# The leaf signed by the rogue CA is fine once that CA is trusted: the
# refusal below is about the CA, nothing else.
fake_start '{"tls": "implicit"}' --cert "$T/unknownca.pem" --key "$T/unknownca.key"
fake_config ca-ok imaps "ca-file: $T/rogueca.pem"
run
is "$RC" 0 "control: the CA-signed certificate is accepted when its CA is in ca-file"

# The system store (a bundle named by SSL_CERT_FILE) is read only when the
# ca-file alone does not verify the server; then the chain is verified
# again against both, with the same host check.
fake_start '{"tls": "implicit"}' --cert "$T/unknownca.pem" --key "$T/unknownca.key"
fake_config sys-later imaps "ca-file: $T/future.pem"
SSL_CERT_FILE=$T/rogueca.pem run
is "$RC" 0 "a CA in the system bundle only: accepted after the ca-file fails"
SSL_CERT_FILE=$T/future.pem run
is "$RC" 1 "a CA in neither: refused"
like "$ERR" 'TLS certificate verification failed for 127\.0\.0\.1: unable to get local issuer certificate' \
	"a CA in neither: the error says why"
# A bundle that cannot be read without hanging (a FIFO nobody writes):
# untouched when the ca-file verifies the server.
mkfifo "$T/bundle.fifo"
fake_start '{"tls": "implicit"}' --cert "$T/unknownca.pem" --key "$T/unknownca.key"
fake_config sys-unread imaps "ca-file: $T/rogueca.pem"
SSL_CERT_FILE=$T/bundle.fifo run
is "$RC" 0 "the system bundle is not read when the ca-file verifies the server"

# cert_case NAME CERT CA-FILE REGEX: refused on imaps and on starttls.
cert_case() {
	fake_start '{"tls": "implicit"}' --cert "$T/$2.pem" --key "$T/$2.key"
	fake_config "$2-imaps" imaps "ca-file: $T/$3.pem"
	run
	refused "imaps, $1" "$4"
	fake_start '{"greeting": "* OK fake", "caps": "IMAP4rev1 STARTTLS AUTH=PLAIN", "tls": "starttls"}' \
		--cert "$T/$2.pem" --key "$T/$2.key"
	fake_config "$2-starttls" starttls "ca-file: $T/$3.pem"
	run
	refused "starttls, $1" "$4"
}
cert_case "a certificate from a CA not in ca-file" unknownca good \
	'TLS certificate verification failed for 127.0.0.1: unable to get local issuer certificate'
cert_case "a certificate not yet valid" future future \
	'TLS certificate verification failed for 127.0.0.1: certificate is not yet valid'
cert_case "an expired certificate" expired expired \
	'TLS certificate verification failed for 127.0.0.1: certificate has expired'

# ---- STARTTLS replies --------------------------------------------------------
STLS='"greeting": "* OK fake", "caps": "IMAP4rev1 STARTTLS AUTH=PLAIN LOGIN"'
fake_start "{$STLS, \"commands\": {\"STARTTLS\": [\"{tag} BAD TLS is broken here\"]}}" \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config stls-bad starttls "ca-file: $T/good.pem"
run
refused "STARTTLS answered BAD" 'STARTTLS.*TLS is broken here'

# A "+" is no answer to STARTTLS: the client must neither go on in clear
# text nor send anything as if it were a continuation, and it must not wait
# for more (the account's timeout is 3 s: a wait shows as SECS >= 3).
fake_start "{$STLS, \"commands\": {\"STARTTLS\": [\"+ go ahead\"]}}" \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config stls-plus starttls "ca-file: $T/good.pem"
run
refused "STARTTLS answered with a + continuation" \
	'STARTTLS: the server sent a continuation request'
ok "$([ "$SECS" -lt 3 ] && echo 0 || echo 1)" \
	"STARTTLS answered with +: fails at once, not at the timeout (${SECS}s)"
ok "$(tr -d '\r' <"$FAKE_REC" | tail -n 1 | grep -Eq '^[^ ]+ STARTTLS$' &&
	echo 0 || echo 1)" "STARTTLS answered with +: nothing is sent after it"

# ---- capabilities after TLS ---------------------------------------------
# Before TLS, AUTH=PLAIN and LOGIN; after it, LOGINDISABLED and no
# mechanism: nothing may be sent.
fake_start "{$STLS, \"tls\": \"starttls\", \"caps_tls\": \"IMAP4rev1 LOGINDISABLED\"}" \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config caps-after starttls "ca-file: $T/good.pem"
run
refused "LOGINDISABLED after TLS" \
	'no allowed authentication mechanism is offered by the server \(it has LOGINDISABLED\)'
ok "$(tr -d '\r' <"$FAKE_REC" | grep -q '^[^ ]* CAPABILITY$' && echo 0 || echo 1)" \
	"LOGINDISABLED after TLS: the capabilities were asked again under TLS"

# Untagged CAPABILITY pushed in clear text, in the greeting burst and
# before the STARTTLS OK, offering AUTH=PLAIN: not used after TLS.
fake_start "{\"greeting\": [\"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] x\",
	\"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\"],
	\"caps\": \"IMAP4rev1 STARTTLS LOGINDISABLED\", \"tls\": \"starttls\",
	\"starttls_untagged\": [\"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\"],
	\"caps_tls\": \"IMAP4rev1 LOGINDISABLED\"}" \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config untagged starttls "ca-file: $T/good.pem"
run
refused "untagged CAPABILITY sent before TLS" \
	'no allowed authentication mechanism is offered by the server \(it has LOGINDISABLED\)'

# ---- greetings -------------------------------------------------------------
fake_start '{"greeting": "RAW:HTTP/1.1 400 Bad Request\\r\\n\\r\\n\\xff\\x00garbage\\r\\n"}'
fake_config garbage none
run
refused "a garbage greeting" 'greeting'
fake_start '{"greeting": "* BYE [UNAVAILABLE] go away"}'
fake_config bye none
run
refused "a BYE greeting" 'go away'
fake_start '{"greeting": "* BYE [UNAVAILABLE] go away"}' --cert "$T/good.pem" --key "$T/good.key"
fake_config bye-stls starttls "ca-file: $T/good.pem"
run
refused "a BYE greeting with tls: starttls" 'go away'

# ---- [REFERRAL] is not followed --------------------------------------------
# RFC 2221: a referral names another server; following it would hand the
# password to whoever the (unauthenticated) server names.
rport=$(free_port)
python3 -c '
import socket, sys, signal
signal.alarm(60)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
open(sys.argv[2] + ".up", "w").close()
while True:
    c, _ = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("connection\n")
    c.close()
' "$rport" "$T/referred" &
fake_pids="$fake_pids $!"
i=0
while [ ! -e "$T/referred.up" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && bail "referral listener did not start"
	sleep 0.05
done
fake_start "{\"caps\": \"IMAP4rev1\", \"commands\": {\"LOGIN\": [
	\"{tag} NO [REFERRAL imap://alice@127.0.0.1:$rport/] Log in there\"]}}"
fake_config referral none
run
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$RC" -lt 128 ] && echo 0 || echo 1)" \
	"a REFERRAL in the NO to LOGIN: fails (exit $RC)"
like "$ERR" 'authentication failed: .*Log in there' "a REFERRAL: the error shows the server's text"
is "$(grep -c '^[^ ]* LOGIN ' "$FAKE_REC")" 1 "a REFERRAL: one LOGIN, to the configured server only"
is "$(cat "$T/referred" 2>/dev/null)" "" "a REFERRAL: no connection to the referred port $rport"

# ---- APPEND --------------------------------------------------------------
# seed_local NAME: one message in the Maildir INBOX of fake_config NAME.
seed_local() {
	mkdir -p "$M/INBOX/cur" "$M/INBOX/new" "$M/INBOX/tmp"
	make_msg "$1" >"$M/INBOX/new/1700000001.$1.host"
}

# The server never sends the "+" for the APPEND literal (timeout: 3).
fake_start '{"exists": 0, "continuation": "stall"}'
fake_config stall none
seed_local st1
run
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$RC" -lt 128 ] && echo 0 || echo 1)" \
	"a stall at the APPEND continuation: fails (exit $RC after ${SECS}s)"
like "$ERR" 'no data from the server for 3 s' "a stall at the APPEND continuation: the error names the timeout"
ok "$([ "$SECS" -le 10 ] && echo 0 || echo 1)" \
	"a stall at the APPEND continuation: gives up within timeout + margin (${SECS}s)"
is "$(grep -c '^[^ ]* APPEND ' "$FAKE_REC")" 1 "a stall at the APPEND continuation: one APPEND begun"
# The stalled server still holds its only session: a fresh one, same
# Maildir and state.
fake_start '{"exists": 0, "commands": {"APPEND": ["{tag} OK [APPENDUID 1234 1] done"]}}'
fake_config stall none
run
is "$RC" 0 "a stall at the APPEND continuation: the next run succeeds"
is "$(grep -c '^[^ ]* APPEND ' "$FAKE_REC")" 1 \
	"a stall at the APPEND continuation: the next run sends it again (state not advanced)"
check "a stall at the APPEND continuation: the local message is kept" \
	test -f "$M/INBOX/new/1700000001.st1.host"

# Untagged data before the "+" of the APPEND literal is passed over.
fake_start '{"exists": 0, "continuation": "untagged",
	"commands": {"APPEND": ["{tag} OK [APPENDUID 1234 1] done"]}}'
fake_config untagged none
seed_local un1
run
is "$RC" 0 "an EXISTS before the APPEND continuation: the push succeeds"
ok "$([ "$SECS" -lt 3 ] && echo 0 || echo 1)" \
	"an EXISTS before the APPEND continuation: no wait for the timeout (${SECS}s)"
like "$(cat "$FAKE_REC")" 'X-Test-Id: un1' \
	"an EXISTS before the APPEND continuation: the message was sent"

# A MULTIAPPEND refused for the whole folder ([OVERQUOTA]) is not tried
# again message by message; one refused for no stated reason is.
quota() {	# quota NAME REPLY: push 3 messages; sets APPENDS
	fake_start '{"exists": 0, "caps": "IMAP4rev1 AUTH=PLAIN UIDPLUS MULTIAPPEND LITERAL+",
		"commands": {"APPEND": ["{tag} NO '"$2"'"]}}'
	fake_config "$1" none
	for i in 1 2 3; do
		mkdir -p "$M/INBOX/cur" "$M/INBOX/new" "$M/INBOX/tmp"
		make_msg "$1$i" >"$M/INBOX/new/170000000$i.$1$i.host"
	done
	run
	APPENDS=$(grep -c '^[^ ]* APPEND ' "$FAKE_REC")
}
quota overquota '[OVERQUOTA] Quota exceeded (mailbox full)'
is "$RC" 1 "MULTIAPPEND refused with [OVERQUOTA]: exit 1"
like "$ERR" 'OVERQUOTA\] Quota exceeded' "... with the server's words"
is "$APPENDS" 1 "... in one APPEND command, not tried again one by one"
check "... the local messages are kept" test -f "$M/INBOX/new/1700000002.overquota2.host"
quota plainno 'Message refused'
is "$APPENDS" 4 "MULTIAPPEND refused without a folder code: each message tried alone"

# APPENDUID naming another UIDVALIDITY (the folder's is 1234) is not
# trusted: the UID is searched for instead, and here not found.
fake_start '{"exists": 0, "commands": {"APPEND": ["{tag} OK [APPENDUID 999 42] done"]}}'
fake_config appenduid none
seed_local au1
run
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$RC" -lt 128 ] && echo 0 || echo 1)" \
	"APPENDUID with another UIDVALIDITY: fails (exit $RC)"
like "$ERR" 'the message was stored but cannot be found again' \
	"APPENDUID with another UIDVALIDITY: UID 42 is not taken, the search fails"
ok "$(grep -q '^[^ ]* UID FETCH 1:\*' "$FAKE_REC" && echo 0 || echo 1)" \
	"APPENDUID with another UIDVALIDITY: the UID was searched for"

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no sanitizer report in any run"
done_testing
