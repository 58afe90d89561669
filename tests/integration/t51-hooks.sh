#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Hooks: post-sync after any change, new-mail after new mail on disk, with
# MAILSYNC_* in the environment; failing and hanging hooks are reported.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
seed_msg INBOX m1
seed_msg INBOX m2

# with_hooks POST NEWMAIL: the config with these hook commands
with_hooks() {
	write_config "$T/c.yaml"
	{
		echo "hooks:"
		[ -n "$1" ] && printf '  post-sync: %s\n' "$1"
		[ -n "$2" ] && printf '  new-mail: %s\n' "$2"
	} >>"$T/c.yaml"
}
LOG=$T/hooks.log
: >"$LOG"
vars='$MAILSYNC_CHANNEL $MAILSYNC_NEW $MAILSYNC_CHANGED'
with_hooks "'echo hook-stdout; echo \"post $vars\" >>$LOG'" \
	"'echo \"new $vars\" >>$LOG'"

ms -c "$T/c.yaml" test
is "$RC" 0 "sync that pulls 2 messages exits 0"
is "$(cat "$LOG")" "post test 2 2
new test 2 2" "post-sync then new-mail, channel and counts in the environment"
like "$ERR" "hook-stdout" "a hook's stdout goes to stderr"
case "$OUT" in *hook-stdout*) ok 1 "hook output kept off stdout" ;;
*) ok 0 "hook output kept off stdout" ;; esac

: >"$LOG"
ms -c "$T/c.yaml" test
is "$(cat "$LOG")" "" "no hook after a run that changed nothing"

dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id m1
ms -c "$T/c.yaml" test
is "$(cat "$LOG")" "post test 0 1" \
	"a flag-only change runs post-sync, not new-mail"

: >"$LOG"
make_msg d1 >"$T/mail/INBOX/tmp/d1"
mv "$T/mail/INBOX/tmp/d1" "$T/mail/INBOX/new/d1"
ms -c "$T/c.yaml" test
is "$(server_ids INBOX)" "d1 m1 m2" "the local message was pushed"
is "$(cat "$LOG")" "post test 0 1" \
	"a push runs post-sync only (nothing new on disk)"

: >"$LOG"
seed_msg INBOX m3
ms -c "$T/c.yaml" -n test
is "$(cat "$LOG")" "" "no hooks in --dry-run"

with_hooks "'exit 3'" "'exit 4'"
ms -c "$T/c.yaml" test
is "$RC" 0 "failing hooks do not change the exit status"
like "$ERR" "^mailsync: hook post-sync failed \\(exit status 3\\)$" \
	"a failing post-sync is reported"
like "$ERR" "^mailsync: hook new-mail failed \\(exit status 4\\)$" \
	"new-mail still runs after post-sync failed, and is reported"
is "$(local_ids "$T/mail/INBOX")" "d1 m1 m2 m3" "the sync itself was done"

seed_msg INBOX m4
with_hooks "'echo \$\$ >$T/hook.pid; exec sleep 100'" ""
start=$(date +%s)
export MAILSYNC_HOOK_TIMEOUT=2
ms -c "$T/c.yaml" test
unset MAILSYNC_HOOK_TIMEOUT
took=$(($(date +%s) - start))
is "$RC" 0 "a hanging hook does not change the exit status"
like "$ERR" "^mailsync: hook post-sync timed out after 2 s and was killed$" \
	"a hanging hook is reported"
check "killed within bounds (took ${took}s)" test "$took" -ge 2 -a "$took" -le 8
if kill -0 "$(cat "$T/hook.pid" 2>/dev/null || echo 0)" 2>/dev/null; then
	ok 1 "the hanging hook's process is gone"
else
	ok 0 "the hanging hook's process is gone"
fi
is "$(local_ids "$T/mail/INBOX")" "d1 m1 m2 m3 m4" "the sync before it was done"
done_testing
