#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# TLS is verified and STARTTLS is strict: every failure is an error that
# says why, and no credential ever leaves the client before TLS is right.
. "$TESTS_SRCDIR/integration/lib.sh"

TOOL="$(dirname "$MAILSYNC")/tests/imap-tool"
PW='pw-Xyzzy-4711'
[ -x "$TOOL" ] || bail "imap-tool not built ($TOOL)"

# fake_config FILE TLS [account lines...]: an account "f" for the fake
# server (host 127.0.0.1 unless a line says otherwise).
fake_config() {
	local cfg=$1 tls=$2
	shift 2
	fake_yaml "$cfg" "$tls" 5 "$T/mail" - "$@"
}

# run_tool ARGS...: imap-tool under timeout 30 (the fake server's record
# emptied first); sets RC, OUT, ERR.
run_tool() {
	: >"$FAKE_REC"
	OUT=$(timeout 30 "$TOOL" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	grep -E 'Sanitizer|runtime error' "$T/err" >>"$T/sanitizer"
}

# no_credential DESCRIPTION: the fake server never saw a login.
no_credential() {
	if grep -Eqi 'LOGIN|AUTHENTICATE' "$FAKE_REC" || grep -qF "$PW" "$FAKE_REC"; then
		ok 1 "$1: no credential was sent"
		sed 's/^/#   /' "$FAKE_REC" | head -20
	else
		ok 0 "$1: no credential was sent"
	fi
}

# refused DESCRIPTION REGEX: the last run failed, saying REGEX.
refused() {
	ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && echo 0 || echo 1)" "$1: fails (exit $RC)"
	like "$ERR" "$2" "$1: the error says why"
	no_credential "$1"
}

fingerprint() {
	openssl x509 -noout -fingerprint -sha256 -in "$1" | sed 's/^.*=//'
}

make_cert "$T" good
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=other.example \
	-addext "subjectAltName=DNS:other.example" \
	-keyout "$T/other.key" -out "$T/other.pem" >/dev/null 2>&1 ||
	bail "openssl req failed"
# An expired certificate: OpenSSL 3.0's req cannot back-date, ca can.
ca_init
ca_sign expired 20200101000000Z 20200201000000Z

# ---- STARTTLS is strict --------------------------------------------------
fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN LOGIN"}' --cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c1.yaml" starttls
run_tool "$T/c1.yaml" f list-folders
refused "no STARTTLS capability" 'does not offer STARTTLS'

fake_start '{"greeting": "* OK fake", "caps": "IMAP4rev1 STARTTLS AUTH=PLAIN", "starttls": "no"}' \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c2.yaml" starttls "ca-file: $T/good.pem"
run_tool "$T/c2.yaml" f list-folders
refused "STARTTLS answered NO" 'STARTTLS: TLS not available today'

fake_start '{"greeting": "* OK fake", "caps": "IMAP4rev1 STARTTLS AUTH=PLAIN", "starttls": "inject"}' \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c3.yaml" starttls "ca-file: $T/good.pem"
run_tool "$T/c3.yaml" f list-folders
refused "bytes injected after the STARTTLS OK" 'sent data after its STARTTLS reply'

fake_start '{"greeting": "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi"}' \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c4.yaml" starttls "ca-file: $T/good.pem"
run_tool "$T/c4.yaml" f list-folders
refused "PREAUTH with tls: starttls" 'PREAUTH before STARTTLS'

# STARTTLS to a server with an untrusted certificate.
fake_start '{"greeting": "* OK fake", "caps": "IMAP4rev1 STARTTLS AUTH=PLAIN"}' \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c5.yaml" starttls
run_tool "$T/c5.yaml" f list-folders
refused "STARTTLS with a self-signed certificate" 'self.signed certificate'

# libetpan keeps the pre-TLS capabilities: ours must be asked again, and
# only the new list counts.  Before TLS: LOGINDISABLED and no AUTH=PLAIN.
fake_start '{"greeting": "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] x",
	"caps": "IMAP4rev1 STARTTLS LOGINDISABLED", "caps_tls": "IMAP4rev1 AUTH=PLAIN UIDPLUS"}' \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c6.yaml" starttls "ca-file: $T/good.pem"
run_tool "$T/c6.yaml" f list-folders
is "$RC:$OUT" "0:INBOX" "after STARTTLS the new capabilities are used"
is "$(tr -d '\r' <"$FAKE_REC" | sed -n 's/^[0-9][0-9]* \([A-Z]*\).*/\1/p' | tr '\n' ' ')" \
	"STARTTLS CAPABILITY AUTHENTICATE LIST LOGOUT " \
	"CAPABILITY is asked again after STARTTLS, and nothing before it"
# ... and the other way round: AUTH=PLAIN before TLS only.
fake_start '{"greeting": "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR] x",
	"caps": "IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR", "caps_tls": "IMAP4rev1 UIDPLUS"}' \
	--cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/c7.yaml" starttls "ca-file: $T/good.pem"
run_tool "$T/c7.yaml" f list-folders
is "$RC" 0 "STARTTLS with LOGIN only after TLS works"
ok "$(grep -q '^[0-9]* LOGIN ' "$FAKE_REC" && ! grep -q AUTHENTICATE "$FAKE_REC" && echo 0 || echo 1)" \
	"a mechanism offered only before TLS is not used"

# ---- mechanisms ------------------------------------------------------------
fake_start '{"caps": "IMAP4rev1 LOGINDISABLED"}'
fake_config "$T/m1.yaml" none
run_tool "$T/m1.yaml" f list-folders
refused "LOGINDISABLED without AUTH=PLAIN" 'no allowed authentication mechanism.*LOGINDISABLED'

fake_start '{"caps": "IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR"}'
fake_config "$T/m2.yaml" none "auth: [xoauth2]"
run_tool --debug "$T/m2.yaml" f list-folders
is "$RC:$OUT" "0:INBOX" "XOAUTH2 with the secret as the token"
tok=$(printf 'user=alice\001auth=Bearer %s\001\001' "$PW" | base64 -w0)
ok "$(grep -q "^[0-9]* AUTHENTICATE XOAUTH2 $tok" "$FAKE_REC" && echo 0 || echo 1)" \
	"XOAUTH2: the RFC 7628-style initial response"
like "$ERR" 'C: [0-9]+ AUTHENTICATE XOAUTH2 \*\*\*\*$' "XOAUTH2: masked in the trace"
ok "$(printf '%s' "$ERR" | grep -qF -e "$PW" -e "$tok" && echo 1 || echo 0)" \
	"XOAUTH2: the token never appears in the trace"

# ---- certificate verification ------------------------------------------
fake_start '{"tls": "implicit"}' --cert "$T/good.pem" --key "$T/good.key"
fake_config "$T/v1.yaml" imaps
run_tool "$T/v1.yaml" f list-folders
refused "a self-signed certificate" 'TLS certificate verification failed for 127.0.0.1: self.signed certificate'
like "$ERR" "SHA-256 fingerprint $(fingerprint "$T/good.pem")" \
	"the error shows the fingerprint to pin"

fake_config "$T/v2.yaml" imaps "ca-file: $T/good.pem"
run_tool "$T/v2.yaml" f list-folders
is "$RC:$OUT" "0:INBOX" "the certificate is trusted through ca-file"

fake_config "$T/v3.yaml" imaps "cert-fingerprint: \"sha256:$(fingerprint "$T/good.pem")\""
run_tool "$T/v3.yaml" f list-folders
is "$RC:$OUT" "0:INBOX" "a pinned certificate is accepted without ca-file"

fake_config "$T/v4.yaml" imaps "cert-fingerprint: \"$(fingerprint "$T/other.pem" | tr -d :)\"" \
	"ca-file: $T/good.pem"
run_tool "$T/v4.yaml" f list-folders
refused "a certificate that does not match the pin" 'does not match cert-fingerprint'

fake_start '{"tls": "implicit"}' --cert "$T/other.pem" --key "$T/other.key"
fake_config "$T/v5.yaml" imaps "ca-file: $T/other.pem"
run_tool "$T/v5.yaml" f list-folders
refused "a certificate for another IP address" 'failed for 127.0.0.1: IP address mismatch'
fake_config "$T/v6.yaml" imaps "ca-file: $T/other.pem" "host: localhost"
run_tool "$T/v6.yaml" f list-folders
refused "a certificate for another host name" 'failed for localhost: hostname mismatch'
like "$ERR" 'subject /CN=other.example' "the error names the certificate's subject"

fake_start '{"tls": "implicit"}' --cert "$T/expired.pem" --key "$T/expired.key"
fake_config "$T/v7.yaml" imaps "ca-file: $T/expired.pem"
run_tool "$T/v7.yaml" f list-folders
refused "an expired certificate" 'failed for 127.0.0.1: certificate has expired'
fake_config "$T/v8.yaml" imaps "cert-fingerprint: \"$(fingerprint "$T/expired.pem")\""
run_tool "$T/v8.yaml" f list-folders
is "$RC:$OUT" "0:INBOX" "a pin overrides the chain checks (expired but pinned)"

fake_config "$T/v9.yaml" imaps "ca-file: $T/no-such.pem"
run_tool "$T/v9.yaml" f list-folders
refused "an unreadable ca-file" "cannot load ca-file $T/no-such.pem"

# A plain-text server on the imaps port: a handshake failure, not a hang.
fake_start '{}'
fake_config "$T/v10.yaml" imaps "ca-file: $T/good.pem"
run_tool "$T/v10.yaml" f list-folders
refused "a server that does not speak TLS" 'TLS handshake with 127.0.0.1 failed'

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no crash or leak in any run (ASan/UBSan)"
done_testing
