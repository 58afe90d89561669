#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Pushing many messages: with MULTIAPPEND (RFC 3502) they go out in few
# APPEND commands (at most 256 messages each), every one paired with its
# UID from APPENDUID; without MULTIAPPEND, one APPEND per message.  Both
# give the same server and the same pairs.
. "$TESTS_SRCDIR/integration/lib.sh"

# push_many NAME N: N new local messages in INBOX and 2 in a new folder
# New, one run with --debug; sets APPENDS to the APPEND commands sent.
push_many() {
	local name=$1 n=$2 i=0
	rm -rf "$T/mail" "$T/state"
	mkdir -p "$T/mail/INBOX/cur" "$T/mail/INBOX/new" "$T/mail/INBOX/tmp" \
		"$T/mail/New/cur" "$T/mail/New/new" "$T/mail/New/tmp"
	while [ $i -lt "$n" ]; do
		make_msg "${name}_${i}_" >"$T/mail/INBOX/cur/$((1700000000 + i)).$name$i.host:2,S"
		i=$((i + 1))
	done
	make_msg "${name}new1" >"$T/mail/New/cur/1700000001.${name}n1.host:2,F"
	make_msg "${name}new2" >"$T/mail/New/cur/1700000002.${name}n2.host:2,"
	write_config "$T/c.yaml"
	ms -c "$T/c.yaml" -a --debug
	is "$RC" 0 "$name: push of $n + 2 messages exits 0"
	APPENDS=$(printf '%s\n' "$ERR" | grep -Ec 'C: [0-9]+ APPEND ')
	is "$(server_count INBOX)" "$n" "$name: every message on the server"
	is "$(server_ids INBOX | tr ' ' '\n' | sort -u | wc -l | tr -d ' ')" "$n" \
		"$name: none twice"
	is "$(server_ids New)" "${name}new1 ${name}new2" "$name: the new folder too"
	is "$(server_flags INBOX "${name}_7_")" '\Seen' "$name: flags went along"
	is "$(server_flags New "${name}new1")" '\Flagged' "$name: in the new folder too"
	# the pairs carry the right UIDs: a flag set on the server for one
	# message reaches exactly that file, and nothing is copied again
	dadm flags add -u "$IMAP_USER" '\Answered' mailbox INBOX header X-Test-Id "${name}_3_"
	sleep 1.1
	ms -c "$T/c.yaml" -a --json
	is "$RC" 0 "$name: next run exits 0"
	like "$OUT" '"pulled":\{"messages":0' "$name: nothing pulled back"
	like "$OUT" '"pushed":\{"messages":0' "$name: nothing pushed again"
	is "$(local_flags "$T/mail/INBOX" "${name}_3_")" "RS" "$name: the server's flag reached its file"
	is "$(local_flags "$T/mail/INBOX" "${name}_4_")" "S" "$name: and no other"
}

# push_huge NAME PLUS: a message of 1 MiB or more between two small ones; it
# goes in an APPEND of its own, converted to CRLF on the way (never copied
# whole), so three commands; it arrives byte for byte, with its flags.
# PLUS: "+" where the server offers LITERAL+, else "".
push_huge() {
	local name=$1 plus=$2 f wire n0 i=0
	n0=$(server_count INBOX)
	rm -rf "$T/mail" "$T/state"
	mkdir -p "$T/mail/INBOX/cur" "$T/mail/INBOX/new" "$T/mail/INBOX/tmp"
	make_msg "${name}1" >"$T/mail/INBOX/cur/1700000201.${name}1.host:2,S"
	f=$T/mail/INBOX/cur/1700000202.${name}2.host:2,FS
	{ make_msg "${name}2"; while [ $i -lt 40000 ]; do
		echo "line $i of a large message, with some words to fill it up"
		i=$((i + 1)); done; printf 'no newline at the end'; } >"$f"
	make_msg "${name}3" >"$T/mail/INBOX/cur/1700000203.${name}3.host:2,"
	wire=$(($(wc -c <"$f") + $(tr -cd '\n' <"$f" | wc -c)))
	write_config "$T/c.yaml"
	ms -c "$T/c.yaml" -a --debug
	is "$RC" 0 "$name: push exits 0"
	is "$(printf '%s\n' "$ERR" | grep -Ec 'C: [0-9]+ APPEND ')" 3 \
		"$name: the large one in a command of its own"
	is "$(printf '%s\n' "$ERR" | grep -Fc "{$wire$plus}")" 1 \
		"$name: announced as {$wire$plus}, its size with CRLF line ends"
	is "$(server_count INBOX)" $((n0 + 3)) "$name: all three on the server"
	is "$(dadm fetch -u "$IMAP_USER" size.virtual mailbox INBOX \
		header X-Test-Id "${name}2" | sed -n 's/^size.virtual: //p')" \
		"$wire" "$name: its size with CRLF line ends"
	dadm fetch -u "$IMAP_USER" text mailbox INBOX header X-Test-Id "${name}2" |
		sed '1s/^text://' | sed '1{/^$/d}' >"$T/$name.server"
	is "$(tr -d '\r' <"$T/$name.server" | cmp - "$f" && echo same)" same \
		"$name: its bytes, line ends aside"
	is "$(server_flags INBOX "${name}2")" '\Flagged \Seen' "$name: its flags"
}

dovecot_start
push_many multi 300
# 300 in INBOX: 256 + 44; New: 2
is "$APPENDS" 3 "multi: 302 messages in 3 APPEND commands"

# A command also carries at most 1 MiB of mail, which waits in memory for
# the server's answer (to retry each alone): three messages of 600 KB go
# out in two commands, and arrive whole.
rm -rf "$T/mail" "$T/state"
mkdir -p "$T/mail/INBOX/cur" "$T/mail/INBOX/new" "$T/mail/INBOX/tmp"
for i in 1 2 3; do
	{ make_msg "big$i"; head -c 600000 /dev/zero | tr '\0' x | fold -w 75; } \
		>"$T/mail/INBOX/cur/$((1700000100 + i)).big$i.host:2,S"
done
f=$T/mail/INBOX/cur/1700000103.big3.host:2,S
wire=$(($(wc -c <"$f") + $(tr -cd '\n' <"$f" | wc -c)))
ms -c "$T/c.yaml" -a --debug
is "$RC" 0 "big: push of 3 x 600 KB exits 0"
is "$(printf '%s\n' "$ERR" | grep -Ec 'C: [0-9]+ APPEND ')" 2 \
	"big: 1.8 MB in 2 APPEND commands"
is "$(server_count INBOX)" 303 "big: all three on the server"
is "$(dadm fetch -u "$IMAP_USER" size.virtual mailbox INBOX header X-Test-Id big3 |
	sed -n 's/^size.virtual: //p')" "$wire" \
	"big: the last one whole (its size with CRLF line ends)"

push_huge huge +
dovecot_stop

rm -rf "$T/dovecot"
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE UIDPLUS MOVE CONDSTORE QRESYNC
}'
push_many single 20
is "$APPENDS" 22 "without MULTIAPPEND: one APPEND per message"
dovecot_stop

# Without LITERAL+ the large one waits for the server's go-ahead, then
# goes out converted all the same.
rm -rf "$T/dovecot"
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR ENABLE IDLE UIDPLUS MOVE CONDSTORE QRESYNC
}'
push_huge plain ""

done_testing
