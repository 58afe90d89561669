#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# New messages and folders travel both ways, byte-exact; a rerun is a no-op.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

seed_msg INBOX m1
seed_msg INBOX m2 "seen one" '\Seen'
mkfolder Archive/2024
seed_msg Archive/2024 m3
mkfolder "Entwürfe"
seed_msg "Entwürfe" m4
write_config "$T/c.yaml"

ms -c "$T/c.yaml" -n -a
is "$RC" 0 "a dry first run exits 0"
like "$OUT" "test INBOX: copy remote->local uid [0-9]+ flags S" "and shows the copies it would make"
check "and creates nothing" test ! -e "$T/mail" -a ! -e "$T/state/state.tcb"

ms -c "$T/c.yaml" -a
is "$RC" 0 "first pull exits 0"
like "$OUT" "test: 3 folders, 4 pulled" "summary counts the pulled messages"
is "$(local_ids "$T/mail/INBOX")" "m1 m2" "INBOX pulled"
is "$(local_ids "$T/mail/Archive/2024")" "m3" "nested folder pulled"
is "$(local_ids "$T/mail/Entwürfe")" "m4" "non-ASCII folder pulled as UTF-8"
is "$(local_flags "$T/mail/INBOX" m2)" "S" "seen flag pulled"
make_msg m1 >"$T/expect"
check "content is byte-exact with LF line ends" cmp "$T/expect" "$(local_file "$T/mail/INBOX" m1)"
check "state dir is 0700" test "$(stat -c %a "$T/state")" = 700
check "state file is 0600" test "$(stat -c %a "$T/state/state.tcb")" = 600

# push: a delivery into new/ and a new local folder
make_msg l1 >"$T/mail/INBOX/new/1700000001.l1.host"
mkdir -p "$T/mail/Local/sub/cur" "$T/mail/Local/sub/new" "$T/mail/Local/sub/tmp"
make_msg l2 >"$T/mail/Local/sub/cur/1700000002.l2.host:2,F"
ms -c "$T/c.yaml" -a
is "$RC" 0 "push run exits 0"
like "$OUT" "2 pushed" "summary counts the pushed messages"
is "$(server_ids INBOX)" "l1 m1 m2" "delivered file uploaded"
is "$(server_ids Local/sub)" "l2" "new local folder created on the server"
is "$(server_flags Local/sub l2)" '\Flagged' "flags uploaded"
size=$(dadm fetch -u "$IMAP_USER" 'size.virtual' mailbox INBOX header X-Test-Id l1 | sed -n 's/^size.virtual: //p')
want=$(($(wc -c <"$T/mail/INBOX/new/1700000001.l1.host") + $(wc -l <"$T/mail/INBOX/new/1700000001.l1.host")))
is "$size" "$want" "uploaded with CRLF line ends"
check "local file kept its unique name" test -e "$T/mail/INBOX/new/1700000001.l1.host"

ms -c "$T/c.yaml" -a
is "$RC" 0 "third run exits 0"
like "$OUT" "0 pulled .*0 pushed .*0 flag changes, 0 deleted on server, 0 deleted locally" "third run changes nothing"
is "$(server_ids INBOX)" "l1 m1 m2" "no duplicate on the server"
is "$(local_ids "$T/mail/INBOX")" "l1 m1 m2" "no duplicate on disk"

# dry run prints the plan and changes nothing
seed_msg INBOX m5
ms -c "$T/c.yaml" -n -a
is "$RC" 0 "dry run exits 0"
like "$OUT" "test INBOX: copy remote->local uid [0-9]+ flags -" "dry run prints the copy"
is "$(local_ids "$T/mail/INBOX")" "l1 m1 m2" "dry run changed nothing on disk"
ms -c "$T/c.yaml" test:INBOX
is "$RC" 0 "channel:folder selector syncs"
is "$(local_ids "$T/mail/INBOX")" "l1 m1 m2 m5" "the selected folder synced"

# layout maildir++
cat >"$T/pp.yaml" <<YAML
accounts:
  a:
    host: 127.0.0.1
    port: $IMAPS_PORT
    user: $IMAP_USER
    password: $IMAP_PASS
    ca-file: $T/cert.pem
channels:
  pp:
    account: a
    maildir: $T/pp
    layout: maildir++
    state-dir: $T/ppstate
YAML
chmod 600 "$T/pp.yaml"
ms -c "$T/pp.yaml" -a
is "$RC" 0 "maildir++ layout syncs"
is "$(local_ids "$T/pp")" "l1 m1 m2 m5" "INBOX is the root in maildir++"
is "$(local_ids "$T/pp/.Archive.2024")" "m3" "nested folder as .Archive.2024"
done_testing
