#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The live progress line: on a terminal only, cut to its width, cleared
# before the summary; the rate and the estimate of a slow sync.
. "$TESTS_SRCDIR/integration/lib.sh"
command -v script >/dev/null 2>&1 || skip_all "script(1) is not installed"
# Without MULTIAPPEND: one APPEND per message.  In one command of many,
# the few KiB of the slow push below would all sit in socket buffers at
# once, and the line could show no rate while the server takes them in.
dovecot_start 'protocol imap {
  imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE UIDPLUS MOVE CONDSTORE QRESYNC
}'
for i in 1 2 3; do seed_msg INBOX m$i; done
write_config "$T/c.yaml"

script -qec "stty cols 60 2>/dev/null; '$MAILSYNC' -c '$T/c.yaml' -a" \
	"$T/tty.log" >/dev/null 2>&1
is "$?" 0 "run on a terminal exits 0"
check "progress line drawn on a terminal" grep -q 'test: folder 1/1' "$T/tty.log"
check "and erased before the summary" grep -q "$(printf '\r\033\\[K')test: 1 folders" "$T/tty.log"
# a wrapped line could not be erased by the next redraw
is "$(tr '\r' '\n' <"$T/tty.log" | sed -n 's/^.\[K\(test: folder\)/\1/p' |
	awk '{ print length }' | sort -n | tail -1)" 59 \
	"the line is cut one column short of a 60-column terminal"

dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX all
ms -c "$T/c.yaml" -a
is "$RC" 0 "run off a terminal exits 0"
ok $(printf '%s' "$OUT" | grep -q "$(printf '\033')" && echo 1 || echo 0) "no escape sequences off a terminal"
ok $(printf '%s' "$OUT" | grep -q "folder 1/1" && echo 1 || echo 0) "no progress line off a terminal"

script -qec "'$MAILSYNC' -q -c '$T/c.yaml' -a" "$T/tty2.log" >/dev/null 2>&1
ok $(grep -q "folder 1/1" "$T/tty2.log" && echo 1 || echo 0) "no progress line with -q"

# A slow first push: a proxy passes the client's bytes on one per
# millisecond once it has sent APPEND, so each message of ~1 KiB takes a
# second or more.  Three seconds into the copying the line shows the rate
# and how long the folder's remaining copies take; on the last folder that
# is the rest of the channel.
proxy_start "$IMAP_PORT" drip c2s 0 --after APPEND --count 100000 \
	--interval 0.001 --lifetime 120
IMAP_USER=slow write_config "$T/slow.yaml"
sed -i "s|port: $IMAPS_PORT|port: $PROXY_PORT|; s|tls: imaps|tls: none|;
	s|$T/mail\$|$T/slow|; s|$T/state\$|$T/slow-state|" "$T/slow.yaml"
for f in INBOX:1 INBOX:2 INBOX:3 INBOX:4 INBOX:5 INBOX:6 Zz:7 Zz:8; do
	mkdir -p "$T/slow/${f%:*}/cur" "$T/slow/${f%:*}/new" "$T/slow/${f%:*}/tmp"
	make_msg "p${f#*:}" "slow ${f#*:}" 30 >"$T/slow/${f%:*}/cur/${f#*:}.slow.host:2,S"
done
# wide enough for the whole line, whatever terminal runs the tests
script -qec "stty cols 250 2>/dev/null; '$MAILSYNC' -c '$T/slow.yaml' -a" \
	"$T/tty3.log" >/dev/null 2>&1
is "$?" 0 "slow push on a terminal exits 0"
tr '\r' '\n' <"$T/tty3.log" >"$T/tty3.lines"
rate='[0-9.]+ KiB/s'
check "the first folder's line shows a rate and an estimate for the folder" \
	grep -Eq "^(.\\[K)?test: folder 1/2, .*, $rate, about [0-9]+s left in this folder\$" \
	"$T/tty3.lines"
check "the last folder's estimate is for the rest of the channel" \
	grep -Eq "^(.\\[K)?test: folder 2/2, .*, $rate, about [0-9]+s left\$" "$T/tty3.lines"
IMAP_USER=slow
is "$(server_ids INBOX) / $(server_ids Zz)" "p1 p2 p3 p4 p5 p6 / p7 p8" "all pushed"
done_testing
