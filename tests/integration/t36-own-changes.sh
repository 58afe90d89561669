#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A run that changed a folder on disk records a stamp the next run trusts
# (and skips the folder) only when every change there during the run was
# its own; another program's rename meanwhile keeps the folder listed.
# --pull and --push leave the other side's changes for a later run.
. "$TESTS_SRCDIR/integration/lib.sh"

# own changes are tracked on local file systems only (maildir_track.c)
case "$(stat -f -c %T "$T")" in
ext2/ext3|xfs|btrfs|tmpfs|f2fs|zfs|overlayfs) ;;
*) skip_all "$T is on $(stat -f -c %T "$T"), where changes are not tracked" ;;
esac

dovecot_start
for id in m1 m2 m3; do seed_msg INBOX "$id"; done
write_config "$T/c.yaml"

# --- a pull, then nothing: the next run skips the folder ---
ms -c "$T/c.yaml" -a -v
is "$RC" 0 "first pull"
like "$ERR" 'test INBOX: only our own changes on disk \(stamped\)' \
    "the pull's own changes are recognised"
ms -c "$T/c.yaml" -a -v
like "$ERR" 'test INBOX: unchanged on both sides \(skipped\)' \
    "right after the pull, the folder is skipped"

# --- another program renames a file during a slow pull ---
for i in 1 2 3 4 5 6; do
	make_msg "s$i" "slow $i" 40 | dadm save -u "$IMAP_USER" -m INBOX ||
		bail "doveadm save failed"
done
proxy_start "$IMAP_PORT" drip s2c 0 --after FETCH --count 1000000 \
	--interval 0.001 --lifetime 120
sed "s|port: $IMAPS_PORT|port: $PROXY_PORT|; s|tls: imaps|tls: none|" \
	"$T/c.yaml" >"$T/slow.yaml"
"$MAILSYNC" -c "$T/slow.yaml" -a -v --debug >/dev/null 2>"$T/slow.err" &
pid=$!
# once it asks for the bodies, the run is past its listing
i=0
while ! grep -q 'BODY.PEEK\[\]' "$T/slow.err"; do
	i=$((i + 1))
	[ $i -gt 600 ] && bail "the slow pull did not start"
	sleep 0.05
done
f=$(local_file "$T/mail/INBOX" m2)
mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,F"
wait "$pid"
is "$?" 0 "the slow pull exits 0"
is "$(local_ids "$T/mail/INBOX")" "m1 m2 m3 s1 s2 s3 s4 s5 s6" "all pulled"
ok $(grep -q 'INBOX: only our own changes' "$T/slow.err" && echo 1 || echo 0) \
    "the other program's rename is noticed: no stamp"
ms -c "$T/c.yaml" -a -v
is "$(server_flags INBOX m2)" '\Flagged' "so the next run lists the folder and pushes the flag"
unlike_skip=$(echo "$ERR" | grep -c 'INBOX: unchanged on both sides')
is "$unlike_skip" 0 "INBOX was not skipped"
proxy_stop

# --- --pull leaves the disk's changes, --push the server's ---
sleep 2.2
ms -c "$T/c.yaml" -a
f=$(local_file "$T/mail/INBOX" m3)
mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
sleep 2.2
ms -c "$T/c.yaml" --pull -a
is "$(server_flags INBOX m3)" "" "--pull does not push the flag"
sleep 2.2
ms -c "$T/c.yaml" -a
is "$(server_flags INBOX m3)" '\Seen' "a later run still pushes it"

dadm flags add -u "$IMAP_USER" '\Answered' mailbox INBOX header X-Test-Id m1
ms -c "$T/c.yaml" --push -a
is "$(local_flags "$T/mail/INBOX" m1)" "" "--push does not pull the flag"
ms -c "$T/c.yaml" -a
is "$(local_flags "$T/mail/INBOX" m1)" "R" "a later run still pulls it"
done_testing
