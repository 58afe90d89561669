#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# --verify compares both sides message by message and changes nothing.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
for i in 1 2 3 4 5; do seed_msg INBOX m$i; done
mkfolder Archive
seed_msg Archive a1
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"

# snapshot FILE: server UIDs, flags and ids, every local file and every
# state file with its checksum
snapshot() {
	{
		for f in INBOX Archive; do
			echo "== $f"
			dadm fetch -u "$IMAP_USER" 'uid flags hdr.x-test-id' \
				mailbox "$f" all 2>/dev/null | sed 's/ *\\Recent//'
		done
		(cd "$T/mail" && find . -type f -print0 | sort -z | xargs -0 md5sum)
		(cd "$T/state" && find . -type f -print0 | sort -z | xargs -0 md5sum)
	} >"$1"
}
uid_of() {	# uid_of FOLDER ID: the server UID of that test id
	dadm fetch -u "$IMAP_USER" uid mailbox "$1" header X-Test-Id "$2" |
		sed -n 's/^uid: *//p'
}
name_of() {	# name_of DIR ID: the Maildir unique name of that test id
	f=$(basename "$(local_file "$1" "$2")")
	echo "${f%%:2,*}"
}
state_sum() { md5sum <"$T/state/state.tcb"; }

# identical sides
snapshot "$T/before"
ms -c "$T/c.yaml" --verify -a
is "$RC" 0 "identical sides: exit 0"
is "$OUT" "test: verified 6 messages in 2 folders, 0 differences" \
	"identical sides: only the summary"
is "$ERR" "" "identical sides: nothing on stderr"
snapshot "$T/after"
check "identical sides: nothing changed" cmp "$T/before" "$T/after"

# a flag changed on the server only
dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m1
ms -c "$T/c.yaml" --verify -a
is "$RC" 1 "flag difference: exit 1"
is "$OUT" "test INBOX: flags differ <m1@test>: server F, disk none
test: verified 6 messages in 2 folders, 1 differences" \
	"flag difference: one line naming the Message-ID, then the summary"

# a local body rewritten under the same name
f2=$(local_file "$T/mail/INBOX" m2)
sed -i 's/^Body line 1 of message m2\.$/Body line 1, edited./' "$f2"
check "body rewritten in place" test -f "$f2"
# client-added headers (with a continuation line, any case) are no change
f3=$(local_file "$T/mail/INBOX" m3)
sed -i '/^$/{
i\
Status: RO
i\
x-status: A
i\
\ continued
i\
CONTENT-LENGTH : 120
:a
n
ba
}' "$f3"
check "client headers added" grep -qx 'Status: RO' "$f3"
# any other header added is a change
f4=$(local_file "$T/mail/INBOX" m4)
sed -i '1i\
X-Label: important' "$f4"
# a local file deleted, and one that exists on disk only
rm "$(local_file "$T/mail/INBOX" m5)"
make_msg d1 >"$T/mail/INBOX/cur/1700000000.M1P1.testhost:2,S"

snapshot "$T/before"
sum_before=$(state_sum)
ms -c "$T/c.yaml" --verify -a
is "$RC" 1 "differences: exit 1"
cat >"$T/want" <<EXP
test INBOX: flags differ <m1@test>: server F, disk none
test INBOX: content differs <m2@test> (uid $(uid_of INBOX m2), $(name_of "$T/mail/INBOX" m2))
test INBOX: content differs <m4@test> (uid $(uid_of INBOX m4), $(name_of "$T/mail/INBOX" m4))
test INBOX: only on server uid $(uid_of INBOX m5) <m5@test>
test INBOX: only on disk 1700000000.M1P1.testhost <d1@test>
test: verified 7 messages in 2 folders, 5 differences
EXP
is "$(printf '%s\n' "$OUT" | sort)" "$(sort "$T/want")" \
	"every difference reported once, client headers ignored"
is "$(printf '%s\n' "$OUT" | tail -1)" \
	"test: verified 7 messages in 2 folders, 5 differences" "summary last"
snapshot "$T/after"
check "verify changed nothing on either side" cmp "$T/before" "$T/after"
is "$(state_sum)" "$sum_before" "state file checksum unchanged"
check "the deleted file was not brought back" \
	test -z "$(local_file "$T/mail/INBOX" m5)"

# -q: the differences only; a folder selection limits the comparison
ms -c "$T/c.yaml" --verify -q -a
is "$RC" 1 "-q: exit 1"
is "$(printf '%s\n' "$OUT" | grep -c .)" 5 "-q: difference lines, no summary"
ms -c "$T/c.yaml" --verify test:Archive
is "$RC" 0 "folder selection: the untouched folder is identical"
is "$OUT" "test: verified 1 messages in 1 folders, 0 differences" \
	"folder selection: one folder verified"

# a folder on one side only
mkfolder Lists
seed_msg Lists l1
ms -c "$T/c.yaml" --verify test:Lists
is "$RC" 1 "one-sided folder: exit 1"
is "$OUT" "test Lists: folder only on server (1 messages)
test: verified 1 messages in 1 folders, 1 differences" \
	"one-sided folder is one difference"
check "one-sided folder not created on disk" test ! -e "$T/mail/Lists"

# a deliberate keep (backup: deletions not propagated) is no difference
write_config "$T/backup.yaml" "direction: pull" \
	"propagate: [new, flags, moves]"
na1=$(name_of "$T/mail/Archive" a1)
dadm expunge -u "$IMAP_USER" mailbox Archive header X-Test-Id a1
ms -c "$T/backup.yaml" test:Archive
is "$RC" 0 "backup sync keeps the local copy"
ms -c "$T/c.yaml" --verify test:Archive
is "$RC" 0 "kept on disk only: exit 0"
is "$OUT" "test Archive: kept on disk only $na1 <a1@test>
test: verified 1 messages in 1 folders, 0 differences" \
	"kept on disk only is reported, not counted"
ms -c "$T/c.yaml" --verify -q test:Archive
is "$OUT" "" "-q: a keep is not printed"

# UIDVALIDITY changed on the server: pairs found again by Message-ID and size
mkfolder Box
seed_msg Box b1
seed_msg Box b2
ms -c "$T/c.yaml" test:Box
is "$RC" 0 "Box synced"
uvb=$(dadm mailbox status -u "$IMAP_USER" uidvalidity Box | sed 's/.*=//')
dadm expunge -u "$IMAP_USER" mailbox Box all
for id in b1 b2; do make_msg $id | dadm save -u "$IMAP_USER" -m Box; done
dadm mailbox update -u "$IMAP_USER" --uid-validity 4242 Box || bail "uid-validity"
ms -c "$T/c.yaml" --verify test:Box
is "$RC" 0 "UIDVALIDITY change: same mail, exit 0"
is "$OUT" "test Box: UIDVALIDITY changed since the last sync ($uvb -> 4242); pairs matched by Message-ID and size
test: verified 2 messages in 1 folders, 0 differences" \
	"UIDVALIDITY change: noted, messages matched"
dadm flags add -u "$IMAP_USER" '\Seen' mailbox Box header X-Test-Id b2
ms -c "$T/c.yaml" --verify -q test:Box
is "$OUT" "test Box: flags differ <b2@test>: server S, disk none" \
	"UIDVALIDITY change: a matched pair is still compared"

# locked channel and unreachable server: temporary failures
flock "$T/state/lock" sh -c 'echo "$$ $(date +%s)" >"$0"; sleep 5' \
	"$T/state/lock" &
sleep 0.5
ms -c "$T/c.yaml" --verify -a
is "$RC" 75 "locked channel: exit 75"
like "$ERR" "locked by pid [0-9]+" "locked channel: names the holder"
is "$OUT" "" "locked channel: no report"
wait
sed "s/port: $IMAPS_PORT/port: $(free_port)/" "$T/c.yaml" >"$T/dead.yaml"
chmod 600 "$T/dead.yaml"
ms -c "$T/dead.yaml" --verify -a
is "$RC" 75 "unreachable server: exit 75"

ms -c "$T/c.yaml" --verify --list -a
is "$RC" 2 "--verify with --list is a usage error"
done_testing
