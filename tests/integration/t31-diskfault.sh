#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Disk faults: a full Maildir file system while pulling, a full state
# directory at several fill levels, EIO from fsync(2) at every fsync of a
# run, a read-only folder, and symbolic links planted at a folder, at cur/
# and at the names the journal chose.  Each is a clean error that names the
# cause, no partial message reaches cur/ or new/, nothing is written outside
# the Maildir root and the state dir, and once the fault is gone the next
# run converges with nothing lost or duplicated.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start

mounts=""
umount_all() { for m in $mounts; do umount "$m" 2>/dev/null; done; }
at_exit umount_all
# tmpfs DIR SIZE: mount a tmpfs of SIZE at DIR (root only); fails quietly.
tmpfs() {
	mkdir -p "$1"
	[ "$(id -u)" = 0 ] && mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" 2>/dev/null ||
		return 1
	mounts="$1 $mounts"
}
skip() {	# skip N REASON: N skipped test points
	i=0
	while [ $i -lt "$1" ]; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP $2"
		i=$((i + 1))
	done
}

# user NAME: a fresh Dovecot user with its own Maildir $M, state $S and
# config $CFG.
user() {
	IMAP_USER=$1
	M=$T/mail-$1
	S=$T/state-$1
	CFG=$T/c-$1.yaml
	write_config "$CFG"
	sed -i "s|$T/mail\$|$M|; s|$T/state\$|$S|" "$CFG"
}
run() {	# run [ARGS]: mailsync -a on $CFG; sets RC, OUT, ERR
	OUT=$(timeout 120 "$MAILSYNC" -c "$CFG" -a "$@" 2>"$T/stderr")
	RC=$?
	ERR=$(cat "$T/stderr")
	grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
}
noop() {	# noop DESCRIPTION: a further run changes nothing
	run
	like "$RC:$OUT" '^0:.*0 pulled .*0 pushed .*0 flag changes, 0 deleted on server, 0 deleted locally' "$1: a further run is a no-op"
}
# complete DIR: every message file in DIR's cur/ and new/ is byte for byte
# the message its X-Test-Id names (bodies of $2 lines)
complete() {
	for f in "$1"/cur/* "$1"/new/*; do
		[ -f "$f" ] || continue
		id=$(sed -n '/^$/q; s/^X-Test-Id: *//p' "$f")
		make_msg "$id" "message $id" "$2" | cmp -s - "$f" || { echo "partial: $f"; return 1; }
	done
	return 0
}
dups() {	# dups IDS: the ids that occur more than once
	printf '%s\n' $1 | sort | uniq -d | tr '\n' ' '
}

# ---- ENOSPC in the Maildir while pulling ------------------------------
user full
big=600		# body lines: ~20 KiB a message
for i in 1 2 3 4 5 6; do
	make_msg "b$i" "message b$i" $big | dadm save -u full -m INBOX ||
		bail "doveadm save failed"
done
if tmpfs "$M" 64k; then
	run
	is "$RC" 1 "ENOSPC while pulling: exit 1"
	like "$ERR" "folder INBOX: .*No space left on device" "ENOSPC while pulling: the error names the folder and the cause"
	n=$(local_ids "$M/INBOX" | wc -w)
	ok "$([ "$n" -ge 1 ] && [ "$n" -lt 6 ] && echo 0 || echo 1)" "ENOSPC while pulling: the disk filled up midway ($n of 6 pulled)"
	complete "$M/INBOX" $big
	ok $? "ENOSPC while pulling: every file in cur/ and new/ is a complete message"
	is "$(ls -A "$M/INBOX/tmp")" "" "ENOSPC while pulling: nothing left in tmp/"
	is "$(server_count INBOX)" 6 "ENOSPC while pulling: the server is untouched"
	run
	is "$RC" 1 "ENOSPC again: exit 1"
	is "$(dups "$(local_ids "$M/INBOX")")" "" "ENOSPC again: no duplicate on disk"
	mount -o remount,size=4m "$M"
	run
	is "$RC" 0 "space freed: the next run exits 0"
	is "$(local_ids "$M/INBOX")" "b1 b2 b3 b4 b5 b6" "space freed: every message on disk exactly once"
	is "$(server_count INBOX)" 6 "space freed: nothing deleted or duplicated on the server"
	complete "$M/INBOX" $big
	ok $? "space freed: every message complete"
	noop "space freed"
else
	skip 13 "cannot mount a tmpfs (needs root)"
fi

# ---- ENOSPC in the state dir, at several fill levels ------------------
# 40 new messages on the server and 2 on disk against a state dir left with
# 0 to 7000 KiB free: the run fails when the state cannot grow (a commit
# reserves room first, as Tokyo Cabinet corrupts its file when a write
# fails inside a commit), and the next run after freeing space converges.
level=0
for free in 0 2 4 8 64 1024 2048 3072 4096 7000; do
	level=$((level + 1))
	user "sd$level"
	for i in 1 2 3; do seed_msg INBOX s$i; done
	if ! tmpfs "$S" 8m; then
		skip 6 "cannot mount a tmpfs (needs root)"
		continue
	fi
	run
	[ "$RC" = 0 ] || bail "state-dir baseline failed: $ERR"
	i=4
	while [ $i -le 40 ]; do seed_msg INBOX s$i; i=$((i + 1)); done
	make_msg l1 >"$M/INBOX/new/1700000001.l1.host"
	make_msg l2 >"$M/INBOX/cur/1700000002.l2.host:2,S"
	avail=$(df -k --output=avail "$S" | tail -1)
	dd if=/dev/zero of="$S/fill" bs=1k count=$((avail - free)) 2>/dev/null
	run
	if [ "$RC" = 0 ]; then
		ok 0 "state dir with $free KiB free: the run fitted (exit 0)"
	else
		ok "$([ "$RC" = 1 ] && echo 0 || echo 1)" "state dir with $free KiB free: exit 1 (got $RC)"
	fi
	if [ "$RC" != 0 ]; then
		like "$ERR" "state.tcb(.wal)?\)? failed: (write error: )?No space left on device" "state dir with $free KiB free: the error names the state and the cause"
	else
		ok 0 "state dir with $free KiB free: no error to check"
	fi
	rm -f "$S/fill"
	run
	is "$RC" 0 "state dir with $free KiB free, then freed: exit 0"
	want="l1 l2 $(i=1; while [ $i -le 40 ]; do echo "s$i"; i=$((i + 1)); done | sort | tr '\n' ' ' | sed 's/ $//')"
	is "$(local_ids "$M/INBOX")" "$want" "state dir with $free KiB free: disk converged, no duplicate"
	is "$(server_ids INBOX)" "$want" "state dir with $free KiB free: server converged, no duplicate"
	noop "state dir with $free KiB free"
done

# ---- EIO from fsync(2), fdatasync(2) and syncfs(2), at each call --------
# One syscall at a time (strace counts each syscall of a set on its own).
# Under strace, LeakSanitizer cannot run (it uses ptrace itself).
if command -v strace >/dev/null 2>&1; then
	injected=0
	for sc in fsync fdatasync syncfs; do
	n=0
	while [ $n -lt 60 ]; do
		n=$((n + 1))
		user "eio-$sc-$n"
		for i in 1 2 3; do seed_msg INBOX s$i; done
		run
		for i in 4 5 6; do seed_msg INBOX s$i; done
		make_msg l1 >"$M/INBOX/new/1700000001.l1.host"
		dadm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX header X-Test-Id s1
		f=$(local_file "$M/INBOX" s2)
		mv "$f" "$M/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
		ASAN_OPTIONS=detect_leaks=0 timeout 120 strace -f -y -o "$T/strace" \
			-e trace=$sc -e inject=$sc:error=EIO:when=$n \
			"$MAILSYNC" -c "$CFG" -a >/dev/null 2>"$T/stderr"
		RC=$?
		ERR=$(cat "$T/stderr")
		grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
		if ! grep -q INJECTED "$T/strace"; then
			is "$RC" 0 "EIO: a run with $((n - 1)) calls of $sc exits 0"
			break
		fi
		injected=$((injected + 1))
		what=$(sed -n 's/.*sync([0-9]*<\([^>]*\)>).*INJECTED.*/\1/p' "$T/strace" | sed "s|^$T/||")
		is "$RC" 1 "EIO at $sc #$n ($what): exit 1"
		like "$ERR" "Input/output error" "EIO at $sc #$n ($what): the error says so"
		complete "$M/INBOX" 3
		ok $? "EIO at $sc #$n: every file in cur/ and new/ is complete"
		run
		is "$RC" 0 "EIO at $sc #$n: the next run exits 0"
		want="l1 s1 s2 s3 s4 s5 s6 | s1 F s2 S"
		is "$(local_ids "$M/INBOX") | s1 $(local_flags "$M/INBOX" s1) s2 $(local_flags "$M/INBOX" s2)" "$want" \
			"EIO at $sc #$n: disk converged"
		is "$(server_ids INBOX) | s1 $(echo $(server_flags INBOX s1)) s2 $(echo $(server_flags INBOX s2))" \
			"l1 s1 s2 s3 s4 s5 s6 | s1 \\Flagged s2 \\Seen" "EIO at $sc #$n: server converged"
		noop "EIO at $sc #$n"
	done
	done
	ok "$([ $injected -ge 5 ] && echo 0 || echo 1)" "EIO was injected at each of $injected sync calls"
else
	skip 1 "strace not installed"
fi

# ---- a read-only folder ------------------------------------------------
user ro
seed_msg INBOX i1
mkfolder Ro
seed_msg Ro r1
run
[ "$RC" = 0 ] || bail "read-only baseline failed: $ERR"
seed_msg INBOX i2
seed_msg Ro r2
if [ "$(id -u)" = 0 ]; then
	mount --bind "$M/Ro" "$M/Ro" && mount -o remount,ro,bind "$M/Ro" &&
		mounts="$M/Ro $mounts"
else
	chmod -R a-w "$M/Ro"
fi
run
is "$RC" 1 "read-only folder: exit 1"
like "$ERR" "folder Ro: .*(Read-only file system|Permission denied)" "read-only folder: the error names the folder and the cause"
is "$(local_ids "$M/INBOX")" "i1 i2" "read-only folder: the other folders still sync"
is "$(server_ids Ro)" "r1 r2" "read-only folder: nothing deleted on the server"
umount "$M/Ro" 2>/dev/null || chmod -R u+w "$M/Ro"
run
is "$RC" 0 "read-only folder made writable: exit 0"
is "$(local_ids "$M/Ro")" "r1 r2" "read-only folder made writable: converged"
noop "read-only folder made writable"

# ---- symbolic links planted in the tree --------------------------------
user ln
seed_msg INBOX i1
mkfolder Evil
seed_msg Evil e1
mkfolder Evil2
seed_msg Evil2 e2
mkdir -p "$T/outside/cur" "$T/outside/new" "$T/outside/tmp" "$M/Evil2/new" "$M/Evil2/tmp"
ln -s "$T/outside" "$M/Evil"
ln -s "$T/outside/cur" "$M/Evil2/cur"
run
is "$RC" 1 "planted links: exit 1"
like "$ERR" "folder Evil: .*Evil is a symbolic link \(not followed\)" "a folder that is a link: refused, named"
like "$ERR" "folder Evil2: .*Evil2/cur is a symbolic link \(not followed\)" "a cur/ that is a link: refused, named"
is "$(find "$T/outside" ! -type d)" "" "planted links: nothing written outside the root"
is "$(local_ids "$M/INBOX")" "i1" "planted links: the other folders still sync"
is "$(server_ids Evil) $(server_ids Evil2)" "e1 e2" "planted links: nothing deleted on the server"

# links at the names the download journal chose: crash right after the
# intents are committed, plant links at tmp/NAME and new/NAME, rerun
user jn
for i in 1 2; do seed_msg INBOX s$i; done
(MAILSYNC_CRASH_AFTER=1 "$MAILSYNC" -q -c "$CFG" -a 2>/dev/null; exit $?) 2>/dev/null
names=$(strings "$S/state.tcb" | grep -oE '[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+\.[A-Za-z0-9._-]+' | sort -u)
ok "$([ -n "$names" ] && echo 0 || echo 1)" "journaled names found in the state: $(echo $names)"
: >"$T/outside/victim"
for nm in $names; do
	ln -s "$T/outside/victim" "$M/INBOX/tmp/$nm"
	ln -s "$T/outside/victim" "$M/INBOX/new/$nm"
done
run
is "$(wc -c <"$T/outside/victim")" 0 "links at journaled names: nothing written through them"
ok "$([ "$RC" = 0 ] || [ "$RC" = 1 ] && echo 0 || echo 1)" "links at journaled names: a clean exit ($RC)"
is "$(server_count INBOX)" 2 "links at journaled names: nothing deleted on the server"
find "$M/INBOX" -type l -delete
run
is "$RC" 0 "links removed: exit 0"
is "$(local_ids "$M/INBOX")" "s1 s2" "links removed: converged, no duplicate"
is "$(wc -c <"$T/outside/victim")" 0 "links removed: the victim is still untouched"

# ---- a corrupted state file ---------------------------------------------
# Garbage over the header, over a leaf, and a truncated file: a clean error
# naming the state, and nothing deleted on either side.  (Tokyo Cabinet
# itself leaks a leaf when it meets a corrupt one: leak checks are off for
# these runs.)
user cs
for i in 1 2 3 4 5; do seed_msg INBOX s$i; done
run
[ "$RC" = 0 ] || bail "corrupt-state baseline failed: $ERR"
cp "$S/state.tcb" "$T/good.tcb"
size=$(stat -c %s "$T/good.tcb")
for how in header leaf truncated; do
	cp "$T/good.tcb" "$S/state.tcb"
	case $how in
	header) printf 'not a database, just garbage' |
		dd of="$S/state.tcb" conv=notrunc 2>/dev/null ;;
	leaf) head -c 4096 /dev/urandom |
		dd of="$S/state.tcb" bs=1 seek=$((size - 4096)) conv=notrunc 2>/dev/null ;;
	truncated) truncate -s $((size / 2)) "$S/state.tcb" ;;
	esac
	OUT=$(ASAN_OPTIONS=detect_leaks=0 timeout 60 "$MAILSYNC" -c "$CFG" -a 2>"$T/stderr")
	RC=$?
	ERR=$(cat "$T/stderr")
	grep -E 'Sanitizer|runtime error' "$T/stderr" >>"$T/sanitizer"
	is "$RC" 1 "state corrupted ($how): exit 1"
	like "$ERR" "state.tcb" "state corrupted ($how): the error names the state file"
	is "$(server_ids INBOX) / $(local_ids "$M/INBOX")" "s1 s2 s3 s4 s5 / s1 s2 s3 s4 s5" \
		"state corrupted ($how): nothing deleted or copied on either side"
done

is "$(cat "$T/sanitizer" 2>/dev/null)" "" "no sanitizer report in any run"
done_testing
