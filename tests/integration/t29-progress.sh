#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The live progress line: on a terminal only, cleared before the summary.
. "$TESTS_SRCDIR/integration/lib.sh"
command -v script >/dev/null 2>&1 || skip_all "script(1) is not installed"
dovecot_start
for i in 1 2 3; do seed_msg INBOX m$i; done
write_config "$T/c.yaml"

script -qec "'$MAILSYNC' -c '$T/c.yaml' -a" "$T/tty.log" >/dev/null 2>&1
is "$?" 0 "run on a terminal exits 0"
check "progress line drawn on a terminal" grep -q 'test: folder 1/1' "$T/tty.log"
check "and erased before the summary" grep -q "$(printf '\r\033\\[K')test: 1 folders" "$T/tty.log"

dadm flags add -u "$IMAP_USER" '\Seen' mailbox INBOX all
ms -c "$T/c.yaml" -a
is "$RC" 0 "run off a terminal exits 0"
ok $(printf '%s' "$OUT" | grep -q "$(printf '\033')" && echo 1 || echo 0) "no escape sequences off a terminal"
ok $(printf '%s' "$OUT" | grep -q "folder 1/1" && echo 1 || echo 0) "no progress line off a terminal"

script -qec "'$MAILSYNC' -q -c '$T/c.yaml' -a" "$T/tty2.log" >/dev/null 2>&1
ok $(grep -q "folder 1/1" "$T/tty2.log" && echo 1 || echo 0) "no progress line with -q"
done_testing
