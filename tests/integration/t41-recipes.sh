#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The recipes of the man pages: every configuration in mailsync.yaml(5)
# EXAMPLES loads, the backup recipe keeps what the server deletes and follows
# its moves, the restore recipe rebuilds an empty account from a Maildir tree;
# and contrib/systemd/mailsync-watch.service.
. "$TESTS_SRCDIR/integration/lib.sh"

MAN=$TESTS_SRCDIR/../man
SVC=$TESTS_SRCDIR/../contrib/systemd/mailsync-watch.service
mkdir -p "$T/home" "$T/snip"

# ---- man pages -------------------------------------------------------------

for page in mailsync.1 mailsync.yaml.5; do
	if command -v mandoc >/dev/null 2>&1; then
		OUT=$(mandoc -Tlint -Wwarning "$MAN/$page" 2>&1)
		is "$OUT" "" "mandoc -Tlint -Wwarning: $page is clean"
	else
		ok 0 "mandoc lint of $page # SKIP mandoc not installed"
	fi
done

# Each literal display of the EXAMPLES section of mailsync.yaml(5), with the
# roff escapes it may use undone, into $T/snip/N.yaml.
awk -v dir="$T/snip" '
	/^\.Sh / { ex = ($0 == ".Sh EXAMPLES"); next }
	ex && /^\.Bd -literal/ { n++; f = dir "/" n ".yaml"; inb = 1; next }
	ex && /^\.Ed/ { inb = 0; close(f); next }
	inb {
		gsub(/\\\(dq/, "\""); gsub(/\\&/, ""); gsub(/\\e/, "\\")
		print > f
	}' "$MAN/mailsync.yaml.5"
nsnip=$(ls "$T/snip" | wc -l)
check "mailsync.yaml(5) has at least 7 example configurations ($nsnip)" \
	test "$nsnip" -ge 7
for f in "$T/snip"/*.yaml; do
	chmod 600 "$f"
	OUT=$(HOME=$T/home XDG_STATE_HOME= "$MAILSYNC" -c "$f" -l nosuchchannel 2>&1)
	RC=$?
	is "$RC:$OUT" "2:mailsync: unknown channel or group 'nosuchchannel'" \
		"example $(basename "$f") loads ($(sed -n 's/^  \([a-z-]*\):$/\1/p' "$f" | tr '\n' ' '))"
done
# the recipes the tests below run are the ones the page shows
Y=$MAN/mailsync.yaml.5
check "the backup recipe pulls" grep -qxF "    direction: pull" "$Y"
check "the backup recipe does not propagate deletions" \
	grep -qxF "    propagate: [new, flags, moves]" "$Y"
check "the restore recipe pushes" grep -qxF "    direction: push" "$Y"
check "the restore recipe creates folders on the server" \
	grep -qxF "    create: server" "$Y"
check "All Mail is excluded for Gmail" grep -qF '"![Gmail]/All Mail"' "$T/snip"/*.yaml
check "an XOAUTH2 example" grep -qxF "    auth: [xoauth2]" "$Y"
check "a Fastmail example" grep -qxF "    host: imap.fastmail.com" "$Y"

# Every option of a mailsync command line in mailsync(1) EXAMPLES is one
# --help lists.
HELP=$("$MAILSYNC" --help 2>&1)
opts=$(awk '
	/^\.Sh / { ex = ($0 == ".Sh EXAMPLES"); next }
	ex && /^\.Bd -literal/ { inb = 1; next }
	ex && /^\.Ed/ { inb = 0; next }
	inb { print }' "$MAN/mailsync.1" |
	grep -o 'mailsync [^|<>]*' | tr ' ' '\n' | grep -- '^-' | sort -u)
check "mailsync(1) EXAMPLES use options" test -n "$opts"
for o in $opts; do
	printf '%s\n' "$HELP" | grep -Eq -- "(^|[ ,])$o([ ,=]|\$)"
	ok $? "mailsync(1) EXAMPLES: $o is an option"
done

# ---- contrib/systemd/mailsync-watch.service --------------------------------

like "$(cat "$SVC")" "ExecStart=/usr/bin/env mailsync -w -a -q" \
	"the watch service runs mailsync -w -a -q"
like "$(cat "$SVC")" "Restart=on-failure" "and restarts it when it fails"
if command -v systemd-analyze >/dev/null 2>&1 &&
    printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$T/probe.service" &&
    systemd-analyze verify --man=no "$T/probe.service" >/dev/null 2>&1; then
	OUT=$(systemd-analyze verify --man=no "$SVC" 2>&1)
	ok $? "systemd-analyze verify accepts mailsync-watch.service"
	is "$OUT" "" "and has nothing to say about it"
else
	ok 0 "systemd-analyze verify # SKIP systemd-analyze unusable here"
	ok 0 "systemd-analyze output # SKIP systemd-analyze unusable here"
fi

# ---- backup: direction pull, propagate [new, flags, moves] -----------------

dovecot_start
mkfolder Archive
for i in 1 2 3 4 5; do seed_msg INBOX b$i; done
seed_msg Archive a1
write_config "$T/backup.yaml" "direction: pull" \
	"propagate: [new, flags, moves]" "expunge: none"
ms -c "$T/backup.yaml" -a
is "$RC" 0 "backup: first run"
is "$(local_ids "$T/mail/INBOX")" "b1 b2 b3 b4 b5" "backup: INBOX on disk"
is "$(local_ids "$T/mail/Archive")" "a1" "backup: Archive on disk"

ino=$(stat -c %i "$(local_file "$T/mail/INBOX" b3)")
dadm expunge -u "$IMAP_USER" mailbox INBOX header X-Test-Id b1
dadm flags add -u "$IMAP_USER" '\Deleted' mailbox INBOX header X-Test-Id b2
dadm move -u "$IMAP_USER" Archive mailbox INBOX header X-Test-Id b3
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id b4
dadm expunge -u "$IMAP_USER" mailbox Archive header X-Test-Id a1
seed_msg INBOX b6
# a local change is never pushed back
rm "$(local_file "$T/mail/INBOX" b5)"
make_msg l1 >"$T/mail/INBOX/cur/1700000000.l1.host:2,S"
ms -c "$T/backup.yaml" --json -a
is "$RC" 0 "backup: run after the server deleted and moved"
is "$(local_ids "$T/mail/INBOX")" "b1 b2 b4 b6 l1" \
	"backup: deleted on the server, kept on disk; the move followed; b6 new"
is "$(local_ids "$T/mail/Archive")" "a1 b3" "backup: moved message and expunged one in Archive"
is "$(stat -c %i "$(local_file "$T/mail/Archive" b3)")" "$ino" \
	"backup: the move is a rename on disk, not a new copy"
like "$OUT" '"moved":\{"server":0,"disk":1\}' "backup: one move on disk"
is "$(local_flags "$T/mail/INBOX" b2)" "T" "backup: server's deleted mark kept as T, file kept"
is "$(local_flags "$T/mail/INBOX" b4)" "F" "backup: flag changes follow"
is "$(server_ids INBOX)" "b2 b4 b5 b6" "backup: nothing is pushed back to INBOX"
is "$(server_ids Archive)" "b3" "backup: nothing is pushed back to Archive"
is "$(server_flags INBOX b4)" '\Flagged' "backup: server flags untouched"
ms -c "$T/backup.yaml" -a
is "$RC" 0 "backup: second run"
like "$OUT" "0 pulled .*0 pushed .*0 moved, 0 flag changes, 0 deleted on server, 0 deleted locally" \
	"backup: second run is a no-op"
is "$(local_ids "$T/mail/INBOX") / $(local_ids "$T/mail/Archive")" \
	"b1 b2 b4 b6 l1 / a1 b3" "backup: disk unchanged by the second run"
is "$(server_ids INBOX) / $(server_ids Archive)" "b2 b4 b5 b6 / b3" \
	"backup: server unchanged by the second run"

# ---- restore: a Maildir tree pushed to a new, empty account ----------------

R=$T/restore
# mkmd DIR ID FLAGS: one message in Maildir folder DIR with those flags
mkmd() {
	mkdir -p "$R/$1/cur" "$R/$1/new" "$R/$1/tmp"
	make_msg "$2" >"$R/$1/cur/17000000$(printf %02d ${#2}).$2.host:2,$3"
}
mkmd INBOX r1 S
mkmd INBOX r2 FS
mkmd INBOX r3 ""
mkmd Archive r4 RS
mkmd Archive/2024 r5 PS
mkmd Archive/2024/Q1 r6 DS
mkmd "Entwürfe" r7 D
mkmd "Café/Menü" r8 FRS
mkmd "Café/Menü" r9 S
mkmd INBOX gone TS
IMAP_USER=restore
write_config "$T/restore.yaml"
sed -i "s|maildir: $T/mail|maildir: $R|; s|state-dir: $T/state|state-dir: $T/rstate|" "$T/restore.yaml"
printf '    direction: push\n    create: server\n    expunge: none\n' >>"$T/restore.yaml"
is "$(dadm mailbox list -u restore | sort | tr '\n' ' ')" "INBOX " \
	"restore: the account starts empty"
ms -c "$T/restore.yaml" -a
is "$RC" 0 "restore: first run"
is "$(dadm mailbox list -u restore | sort | tr '\n' ' ')" \
	"Archive Archive/2024 Archive/2024/Q1 Café Café/Menü Entwürfe INBOX " \
	"restore: every folder created on the server"
is "$(server_ids INBOX)" "r1 r2 r3" "restore: INBOX"
is "$(server_ids Archive)" "r4" "restore: Archive"
is "$(server_ids Archive/2024)" "r5" "restore: Archive/2024"
is "$(server_ids Archive/2024/Q1)" "r6" "restore: Archive/2024/Q1"
is "$(server_ids Entwürfe)" "r7" "restore: Entwürfe"
is "$(server_ids Café/Menü)" "r8 r9" "restore: Café/Menü"
is "$(server_count Café)" 0 "restore: Café itself holds nothing"
total=$(for f in INBOX Archive Archive/2024 Archive/2024/Q1 Entwürfe Café/Menü; do
	server_count "$f"; done | awk '{ n += $1 } END { print n }')
is "$total" 9 "restore: every message once"
check "restore: the message marked deleted stays in the tree" \
	test -n "$(local_file "$R/INBOX" gone)"
is "$(server_flags INBOX r1)" '\Seen' "restore: flags r1"
is "$(server_flags INBOX r2)" '\Flagged \Seen' "restore: flags r2"
is "$(server_flags INBOX r3)" "" "restore: flags r3"
is "$(server_flags Archive r4)" '\Answered \Seen' "restore: flags r4"
is "$(server_flags Archive/2024 r5)" '$Forwarded \Seen' "restore: flags r5"
is "$(server_flags Archive/2024/Q1 r6)" '\Draft \Seen' "restore: flags r6"
is "$(server_flags Entwürfe r7)" '\Draft' "restore: flags r7"
is "$(server_flags Café/Menü r8)" '\Answered \Flagged \Seen' "restore: flags r8"
is "$(server_flags Café/Menü r9)" '\Seen' "restore: flags r9"
before=$(find "$R" -type f | sort)
ms -c "$T/restore.yaml" --verify -a
is "$RC" 1 "restore: --verify reports one difference"
is "$(printf '%s\n' "$OUT" | grep -c .):$(printf '%s\n' "$OUT" | head -1)" \
	"2:test INBOX: only on disk 1700000004.gone.host <gone@test>" \
	"restore: --verify: only the message marked deleted is missing on the server"
ms -c "$T/restore.yaml" -a
is "$RC" 0 "restore: second run"
like "$OUT" "0 pulled .*0 pushed .*0 moved, 0 flag changes, 0 deleted on server, 0 deleted locally" \
	"restore: second run is a no-op"
is "$(find "$R" -type f | sort)" "$before" "restore: the Maildir tree is left as it was"
done_testing
