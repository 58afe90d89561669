#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Every operation of the IMAP store against a real Dovecot, checked with
# doveadm: folders, select, list, fetch, append, flags, remove, TLS modes.
. "$TESTS_SRCDIR/integration/lib.sh"

TOOL="$(dirname "$MAILSYNC")/tests/imap-tool"
[ -x "$TOOL" ] || bail "imap-tool not built ($TOOL)"
TZ=UTC
export TZ
IMAP_PASS='Pw-t13-Geheim'

# The server's certificate names "localhost" only, so that connecting to
# 127.0.0.1 is a name mismatch.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost" \
	-keyout "$T/cert.key" -out "$T/cert.pem" >/dev/null 2>&1 ||
	bail "openssl req failed"
dovecot_start

# dv_config FILE TLS PORT [account lines...]: account "d" on Dovecot.
dv_config() {
	cfg=$1
	tls=$2
	port=$3
	shift 3
	{
		echo "accounts:"
		echo "  d:"
		case "$*" in *host:*) ;; *) echo "    host: localhost" ;; esac
		cat <<YAML
    port: $port
    tls: $tls
    user: $IMAP_USER
    password: $IMAP_PASS
    timeout: 10
YAML
		for l in "$@"; do echo "    $l"; done
		cat <<YAML
channels:
  d:
    account: d
    maildir: $T/mail
YAML
	} >"$cfg"
	chmod 600 "$cfg"
}

# tool ARGS...: imap-tool with $C; sets RC, OUT, ERR.
tool() {
	OUT=$("$TOOL" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	grep -E 'Sanitizer|runtime error' "$T/err" >>"$T/sanitizer"
}

# uid_of FOLDER ID: the server UID of the message with X-Test-Id ID.
uid_of() {
	dadm fetch -u "$IMAP_USER" uid mailbox "$1" header X-Test-Id "$2" |
		sed -n 's/^uid: //p'
}

logins() { grep -c "Login: user=<$IMAP_USER>" "$D/dovecot.log"; }

C=$T/c.yaml
dv_config "$C" imaps "$IMAPS_PORT" "ca-file: $T/cert.pem"

# ---- folders -------------------------------------------------------------
for f in Archive/2024 "Entwürfe" Lists/dev/kernel; do mkfolder "$f"; done
tool "$C" d list-folders
is "$RC" 0 "list-folders succeeds"
is "$(echo "$OUT" | tr '\n' '|')" \
	"Archive (noselect)|Archive/2024|Entwürfe|INBOX|Lists (noselect)|Lists/dev (noselect)|Lists/dev/kernel|" \
	"folders: canonical names, nested and non-ASCII, sorted"

tool "$C" d create "Neu/Ünterordner"
is "$RC" 0 "create a nested non-ASCII folder"
like "$(dadm mailbox list -u "$IMAP_USER")" '^Neu/Ünterordner$' "doveadm sees it"
tool "$C" d create "Neu/Ünterordner"
is "$RC" 0 "creating an existing folder is fine"
tool "$C" d create "bad//name"
like "$ERR" 'invalid folder name "bad//name"' "an empty level is refused"
tool "$C" d delete "Neu/Ünterordner"
is "$RC" 0 "delete a folder"
ok "$(dadm mailbox list -u "$IMAP_USER" | grep -q 'Ünterordner' && echo 1 || echo 0)" "doveadm no longer sees it"
tool "$C" d select "Nowhere"
ok "$([ "$RC" -ne 0 ] && echo 0 || echo 1)" "selecting a missing folder fails"
like "$ERR" "SELECT Nowhere: .*(n't exist|not exist|NONEXISTENT)" "the error names the folder and the server's words"

# ---- messages ------------------------------------------------------------
seed_msg INBOX m1
seed_msg INBOX m2 "second" '\Seen \Flagged'
dadm flags add -u "$IMAP_USER" 'kw1 $Forwarded' mailbox INBOX header X-Test-Id m2 ||
	bail "doveadm flags add failed"
tool "$C" d select INBOX
uv=$(dadm mailbox status -u "$IMAP_USER" uidvalidity INBOX | sed 's/.*=//')
like "$OUT" "^uidvalidity $uv uidnext 3 highestmodseq [1-9][0-9]* exists 2\$" \
	"select: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ (CONDSTORE), EXISTS"

seed_msg Archive/2024 x1
tool "$C" d select INBOX INBOX Archive/2024 INBOX
uva=$(dadm mailbox status -u "$IMAP_USER" uidvalidity Archive/2024 | sed 's/.*=//')
is "$(echo "$OUT" | sed 's/ highestmodseq [0-9]*//' | tr '\n' '|')" \
	"uidvalidity $uv uidnext 3 exists 2|uidvalidity $uv uidnext 3 exists 2|uidvalidity $uva uidnext 2 exists 1|uidvalidity $uv uidnext 3 exists 2|" \
	"select again, and switch folders"

u1=$(uid_of INBOX m1)
u2=$(uid_of INBOX m2)
s1=$(dadm fetch -u "$IMAP_USER" size.virtual mailbox INBOX uid "$u1" | sed 's/.*: //')
s2=$(dadm fetch -u "$IMAP_USER" size.virtual mailbox INBOX uid "$u2" | sed 's/.*: //')
tool "$C" d list INBOX
# the listing is UIDs and flags only; sizes come with the details
is "$OUT" "$u1 () 0
$u2 (\\Flagged \$Forwarded \\Seen kw1) 0" "list: UIDs and flags (\\Recent dropped, keywords kept), no sizes"

tool "$C" d details INBOX
is "$OUT" "$u1 $s1 <m1@test>
$u2 $s2 <m2@test>" "details: sizes and Message-IDs"

make_msg m1 >"$T/m1.eml"
tool "$C" d fetch INBOX "$u1"
printf '%s\n' "$OUT" >"$T/got.eml"
check "fetch: byte-exact, LF line ends" cmp "$T/m1.eml" "$T/got.eml"
ok "$(dadm fetch -u "$IMAP_USER" flags mailbox INBOX uid "$u1" | grep -q Seen && echo 1 || echo 0)" \
	"fetch does not set \\Seen"

# append: flags, a keyword, INTERNALDATE, APPENDUID
make_msg a1 "appended" 5 >"$T/a1.eml"
printf 'Trailing line without LF' >>"$T/a1.eml"
touch -d '2021-03-04 05:06:07 UTC' "$T/a1.eml"
tool "$C" d append INBOX '\Seen $Forwarded mykw' "$T/a1.eml"
is "$RC" 0 "append succeeds"
is "$OUT" "$(uid_of INBOX a1)" "append: the UID from APPENDUID is the server's"
is "$(server_flags INBOX a1)" '$Forwarded \Seen mykw' "append: flags and keyword stored"
is "$(dadm fetch -u "$IMAP_USER" date.received mailbox INBOX header X-Test-Id a1 | sed 's/.*: //')" \
	"2021-03-04 05:06:07" "append: INTERNALDATE from the date"
wire=$(($(wc -c <"$T/a1.eml") + $(wc -l <"$T/a1.eml")))
is "$(dadm fetch -u "$IMAP_USER" size.virtual mailbox INBOX header X-Test-Id a1 | sed 's/.*: //')" \
	"$wire" "append: sent with CRLF line ends, nothing added"
ua=$(uid_of INBOX a1)
tool "$C" d fetch INBOX "$ua"
printf '%s' "$OUT" >"$T/a1.got"
check "append then fetch: the same bytes" cmp "$T/a1.eml" "$T/a1.got"

# store: add and remove system flags and keywords
tool "$C" d store INBOX "$u1" '\Flagged \Answered kw2'
is "$(server_flags INBOX m1)" '\Answered \Flagged kw2' "store +flags and a keyword"
tool "$C" d store INBOX "$u2" '\Seen kw1'
is "$(server_flags INBOX m2)" '\Seen kw1' "store -flags (\\Flagged, \$Forwarded removed)"
tool "$C" d store INBOX "$u1" ''
is "$(server_flags INBOX m1)" '' "store: every flag removed"

# remove: only that UID, even with another message marked \Deleted
dadm flags add -u "$IMAP_USER" '\Deleted' mailbox INBOX header X-Test-Id m2
tool "$C" d remove INBOX "$u1"
is "$RC" 0 "remove succeeds"
is "$(server_ids INBOX)" "a1 m2" "remove: UID EXPUNGE took only that message"
like "$(server_flags INBOX m2)" 'Deleted' "the other client's \\Deleted message stays"

# ---- TLS modes and verification ---------------------------------------
dv_config "$T/st.yaml" starttls "$IMAP_PORT" "ca-file: $T/cert.pem"
tool "$T/st.yaml" d list-folders
is "$RC" 0 "STARTTLS on Dovecot's plain port"
dv_config "$T/fp.yaml" imaps "$IMAPS_PORT" \
	"cert-fingerprint: \"$(openssl x509 -noout -fingerprint -sha256 -in "$T/cert.pem" | sed 's/.*=//')\""
tool "$T/fp.yaml" d list-folders
is "$RC" 0 "imaps with cert-fingerprint and no ca-file"

n=$(logins)
dv_config "$T/ss.yaml" imaps "$IMAPS_PORT"
tool "$T/ss.yaml" d list-folders
ok "$([ "$RC" -ne 0 ] && echo 0 || echo 1)" "imaps without ca-file fails"
like "$ERR" 'verification failed for localhost: self.signed certificate' "... naming the reason"
dv_config "$T/ip.yaml" imaps "$IMAPS_PORT" "ca-file: $T/cert.pem" "host: 127.0.0.1"
tool "$T/ip.yaml" d list-folders
ok "$([ "$RC" -ne 0 ] && echo 0 || echo 1)" "a certificate for another name fails"
like "$ERR" 'verification failed for 127.0.0.1: IP address mismatch' "... naming the mismatch"
dv_config "$T/ss2.yaml" starttls "$IMAP_PORT" "host: 127.0.0.1"
tool "$T/ss2.yaml" d list-folders
like "$ERR" 'STARTTLS|verification failed for 127.0.0.1' "STARTTLS with an unverifiable certificate fails"
sleep 0.5
is "$(logins)" "$n" "no login was attempted by the failed connections"

# ---- the --debug trace -------------------------------------------------
b64=$(printf '\0%s\0%s' "$IMAP_USER" "$IMAP_PASS" | base64)
tool --debug "$C" d fetch INBOX "$ua"
like "$ERR" 'C: [0-9]+ AUTHENTICATE PLAIN \*\*\*\*$' "trace: AUTHENTICATE masked"
like "$ERR" 'S: <[0-9]+ bytes>' "trace: the fetched body is replaced by its size"
ok "$(printf '%s' "$ERR" | grep -qF -e "$IMAP_PASS" -e "$b64" -e 'Body line' && echo 1 || echo 0)" \
	"trace: no password and no message body"
dv_config "$T/lg.yaml" imaps "$IMAPS_PORT" "ca-file: $T/cert.pem" "auth: [login]"
tool --debug "$T/lg.yaml" d append INBOX '' "$T/m1.eml"
is "$RC" 0 "LOGIN (auth: [login]) works"
like "$ERR" 'C: [0-9]+ LOGIN \*\*\*\*$' "trace: LOGIN masked"
like "$ERR" 'C: <[0-9]+ bytes>' "trace: APPEND data replaced by its size"
ok "$(printf '%s' "$ERR" | grep -qF -e "$IMAP_PASS" -e 'Body line' && echo 1 || echo 0)" \
	"trace: no password and no message body (LOGIN, APPEND)"

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no crash or leak in any run (ASan/UBSan)"
done_testing
