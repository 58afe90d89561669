#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Kill -9 at the N-th mutating system call, for every N of a small scenario
# with every kind of change (new both ways, flag changes both ways,
# deletions both ways), one syscall family at a time (strace fault
# injection).  After each kill a clean rerun gives exactly the result of an
# uninterrupted run: nothing lost, nothing duplicated, nothing resurrected,
# flags merged; a further run is a no-op.  Also: every state commit is
# fsync'ed before the run goes on.
. "$TESTS_SRCDIR/integration/lib.sh"
command -v strace >/dev/null 2>&1 || skip_all "strace not installed"
ASAN_OPTIONS=detect_leaks=0 strace -f -o /dev/null true 2>/dev/null ||
	skip_all "strace cannot trace here (ptrace not permitted)"
dovecot_start
BOUND=${SYSCALL_KILL_BOUND:-40}	# kills per syscall family at most
START=$(date +%s)

setflags() {	# setflags DIR ID LETTERS
	f=$(local_file "$1" "$2")
	base=$(basename "$f")
	mv "$f" "$1/cur/${base%%:2,*}:2,$3"
}

# The template: a synced baseline of five messages for user tpl, then one
# change of every kind on each side.  Each trial copies it (server mailbox,
# Maildir and state) under a fresh user name.
IMAP_USER=tpl
for i in 1 2 3 4 5; do seed_msg INBOX m$i; done
write_config "$T/c-tpl.yaml"
sed -i "s|$T/mail\$|$T/mail-tpl|; s|$T/state\$|$T/state-tpl|" "$T/c-tpl.yaml"
"$MAILSYNC" -q -c "$T/c-tpl.yaml" -a || bail "baseline sync failed"
seed_msg INBOX n1
seed_msg INBOX n2 "x" '\Seen'
make_msg l1 >"$T/mail-tpl/INBOX/new/1700000001.l1.host"
make_msg l2 >"$T/mail-tpl/INBOX/cur/1700000002.l2.host:2,F"
dadm flags add -u tpl '\Flagged' mailbox INBOX header X-Test-Id m1
setflags "$T/mail-tpl/INBOX" m2 S
dadm expunge -u tpl mailbox INBOX header X-Test-Id m3
rm "$(local_file "$T/mail-tpl/INBOX" m4)"
dadm mailbox status -u tpl messages INBOX >/dev/null	# settle the index
sleep 1

# trial NAME: a copy of the template for user NAME; sets IMAP_USER, M, CFG
trial() {
	IMAP_USER=$1
	M=$T/mail-$1
	cp -a "$D/home/tpl" "$D/home/$1"
	cp -a "$T/mail-tpl" "$M"
	cp -a "$T/state-tpl" "$T/state-$1"
	CFG=$T/c-$1.yaml
	sed "s|$T/mail-tpl\$|$M|; s|$T/state-tpl\$|$T/state-$1|; s|user: tpl|user: $1|" \
		"$T/c-tpl.yaml" >"$CFG"
	chmod 600 "$CFG"
}
result() {
	echo "server: $(server_ids INBOX) | m1 $(server_flags INBOX m1) m2 $(server_flags INBOX m2)" \
		"disk: $(local_ids "$M/INBOX") | m1 $(local_flags "$M/INBOX" m1) m2 $(local_flags "$M/INBOX" m2)"
}
WANT="server: l1 l2 m1 m2 m5 n1 n2 | m1 \\Flagged m2 \\Seen disk: l1 l2 m1 m2 m5 n1 n2 | m1 F m2 S"

# The uninterrupted run, traced: the reference result, and the proof that
# state commits reach the disk (fsync of the database and its log).
trial ref
ASAN_OPTIONS=detect_leaks=0 strace -f -y -o "$T/ref.strace" -e trace=fsync,fdatasync \
	"$MAILSYNC" -q -c "$CFG" -a
is "$?:$(result)" "0:$WANT" "uninterrupted run under strace: the reference result"
ok "$(grep -q 'fsync([0-9]*<[^>]*state.tcb.wal>)' "$T/ref.strace" &&
	grep -q 'fsync([0-9]*<[^>]*state.tcb>)' "$T/ref.strace" && echo 0 || echo 1)" \
	"state commits are fsync'ed (database and write-ahead log)"

# For each family and each N: kill at the N-th call, rerun, compare.
total=0
kills=""
nkills=0
# One syscall at a time: strace counts each syscall of a set on its own, so
# a set would never stop at, say, the first renameat after a renameat2.
for family in renameat2 renameat rename linkat link unlinkat unlink \
    fsync fdatasync syncfs ftruncate write pwrite64 mkdirat mkdir; do
	n=1
	while [ $n -le "$BOUND" ]; do
		u=k$total
		trial "$u"
		# (a subshell, so the shell's "Killed" notice goes nowhere)
		(ASAN_OPTIONS=detect_leaks=0 timeout 120 strace -f -o /dev/null \
			-e trace="$family" -e inject="$family:signal=SIGKILL:when=$n" \
			"$MAILSYNC" -q -c "$CFG" -a >/dev/null 2>"$T/stderr"
			exit $?) 2>/dev/null
		rc=$?
		grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
		total=$((total + 1))
		if [ $rc -ne 137 ]; then
			is "$rc:$(result)" "0:$WANT" \
				"$family: $((n - 1)) calls; the run past them is complete"
			break
		fi
		"$MAILSYNC" -q -c "$CFG" -a 2>"$T/stderr"
		rc2=$?
		grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
		is "$rc2:$(result)" "0:$WANT" "killed at $family #$n, then rerun: same result"
		ms -c "$CFG" -a
		like "$RC:$OUT" '^0:.*0 pulled .*0 pushed .*0 flag changes, 0 deleted on server, 0 deleted locally' \
			"killed at $family #$n: a further run is a no-op"
		n=$((n + 1))
	done
	kills="$kills $family $((n - 1)),"
	nkills=$((nkills + n - 1))
done

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no sanitizer report in any run"
ok "$([ $nkills -ge 30 ] && echo 0 || echo 1)" "killed at each of $nkills mutating calls"
diag "syscall kills:${kills%,}; $total trials, $(($(date +%s) - START))s"
done_testing
