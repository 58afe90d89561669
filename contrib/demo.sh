#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A short tour of mailsync: build it, start a throwaway Dovecot on loopback,
# sync sample mail into ./demo/Mail, change both sides, and sync again.
#
# usage: contrib/demo.sh   (from anywhere; works in the checkout's top dir)
# Environment: BUILDDIR (default _build, relative to the checkout).
set -eEu

cd "$(dirname "$0")/.."
top=$(pwd)

if [ -t 1 ]; then
	bold=$(printf '\033[1m') norm=$(printf '\033[0m')
else
	bold='' norm=''
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$norm"; }
run() { printf '$ %s\n' "$*"; "$@" || fail "$* (exit $?)"; }
fail() { printf '%sdemo.sh: FAILED: %s%s\n' "$bold" "$*" "$norm" >&2; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND (exit $?)"' ERR

# ---- build ---------------------------------------------------------------
step "Installing missing packages (as root on Debian; see contrib/test.sh)"
sh contrib/test.sh --deps

builddir=${BUILDDIR:-_build}
step "Building mailsync in $builddir/"
[ -x configure ] || run ./autogen.sh
mkdir -p "$builddir"
[ -f "$builddir/Makefile" ] || (cd "$builddir" && run "$top/configure" -q)
run make -C "$builddir" -s -j"$(nproc 2>/dev/null || echo 2)" mailsync
MAILSYNC=$(cd "$builddir" && pwd)/mailsync
TESTS_SRCDIR=$top/tests
v=$("$MAILSYNC" --version) || fail "$builddir/mailsync --version failed"
[ -n "$v" ] || fail "$builddir/mailsync --version printed nothing"
echo "$v"

# mailsync as the user would type it, and doveadm aimed at the demo server.
demo_ms() {
	printf '$ mailsync %s\n' "$*"
	"$MAILSYNC" "$@" || fail "mailsync $* (exit $?)"
}
demo_adm() {
	printf '$ doveadm %s\n' "$*"
	dadm "$@" || fail "doveadm $* (exit $?)"
}

# ---- server ---------------------------------------------------------------
# lib.sh makes a temp dir with Dovecot's config, certificate and mailboxes,
# and stops Dovecot and removes that dir when this script exits.  The demo's
# Maildir and state live in ./demo instead, so they outlive the run.
# shellcheck source=tests/integration/lib.sh
. "$TESTS_SRCDIR/integration/lib.sh"

step "Starting a throwaway Dovecot on 127.0.0.1"
# shellcheck disable=SC2119
dovecot_start
echo "IMAPS on 127.0.0.1:$IMAPS_PORT, user '$IMAP_USER', password '$IMAP_PASS'"
echo "(server data in $T, removed at exit)"

step "Seeding sample mail on the server"
n_seeded=0
seed() {	# seed FOLDER ID SUBJECT [FLAGS]
	seed_msg "$@"
	n_seeded=$((n_seeded + 1))
}
seed INBOX inbox-01 "Lunch on Friday?"
seed INBOX inbox-02 "Quarterly report, first draft" '\Seen'
seed INBOX inbox-03 "Your invoice #4711" '\Seen'
seed INBOX inbox-04 "Re: build failure on arm64" '\Seen \Answered'
seed INBOX inbox-05 "Conference talk accepted" '\Seen \Flagged'
# shellcheck disable=SC2016
seed INBOX inbox-06 "Fwd: travel booking" '\Seen $Forwarded'
seed INBOX inbox-07 "Server maintenance tonight"
seed INBOX inbox-08 "Project X kickoff" '\Seen project-x'
seed INBOX inbox-09 "Re: Project X budget" 'project-x'
seed INBOX inbox-10 "Photos from the weekend"
seed INBOX inbox-11 "Password expiry notice" '\Seen'
seed INBOX inbox-12 "Team offsite agenda" '\Flagged'
mkfolder Archive/2024
for i in 01 02 03 04 05 06 07 08; do
	seed Archive/2024 "arch-$i" "Archived thread $i of 2024" '\Seen'
done
mkfolder Lists/dev
for i in 01 02 03 04 05 06 07; do
	flags=
	[ "$i" -le 03 ] && flags='\Seen'
	seed Lists/dev "dev-$i" "[dev] patch $i/7: tidy the parser" "$flags"
done
mkfolder "Entwürfe"
seed "Entwürfe" draft-01 "Entwurf: Antwort an Bob" '\Draft \Seen'
seed "Entwürfe" draft-02 "Entwurf: Urlaubsantrag" '\Draft'
seed "Entwürfe" draft-03 "Entwurf: Einladung" '\Draft \Seen'
echo "$n_seeded messages:"
for f in INBOX Archive/2024 Lists/dev "Entwürfe"; do
	printf '  %3s  %s\n' "$(server_count "$f")" "$f"
done

step "Writing demo/config.yaml"
rm -rf demo
mkdir demo
cat >demo/config.yaml <<YAML
accounts:
  demo:
    host: 127.0.0.1
    port: $IMAPS_PORT
    tls: imaps
    user: $IMAP_USER
    pass-cmd: "echo $IMAP_PASS"
    ca-file: $T/cert.pem
channels:
  demo:
    account: demo
    maildir: $top/demo/Mail
    state-dir: $top/demo/state
YAML
chmod 600 demo/config.yaml
cat demo/config.yaml

# ---- first sync -----------------------------------------------------------
step "Which folders would be synced"
demo_ms -c demo/config.yaml -l -a

step "First sync: everything comes down"
demo_ms -c demo/config.yaml -a -v

step "The Maildir tree"
echo '$ find demo/Mail -type f | sort'
find demo/Mail -type f | sort
nlocal=$(find demo/Mail -type f \( -path '*/cur/*' -o -path '*/new/*' \) |
    wc -l)
[ "$nlocal" -eq "$n_seeded" ] ||
	fail "expected $n_seeded messages in demo/Mail, found $nlocal"
echo "($nlocal messages on disk; the state is in demo/state:" \
    "$(cd demo/state && echo *))"

# ---- change both sides ----------------------------------------------------
step "On the server: flag inbox-02 and delete inbox-03"
demo_adm flags add -u "$IMAP_USER" '\Flagged' mailbox INBOX \
    header Message-ID '<inbox-02@test>'
demo_adm expunge -u "$IMAP_USER" mailbox INBOX \
    header Message-ID '<inbox-03@test>'

step "On disk: mark inbox-01 seen, as a mail reader does (rename to :2,S)"
f=$(local_file demo/Mail/INBOX inbox-01)
[ -n "$f" ] || fail "inbox-01 not found in demo/Mail/INBOX"
base=${f##*/}
name=${base%%:2,*}
oldflags=
case "$base" in *:2,*) oldflags=${base##*:2,} ;; esac
newflags=$(printf '%sS' "$oldflags" | fold -w1 | sort -u | tr -d '\n')
run mv "$f" "demo/Mail/INBOX/cur/$name:2,$newflags"

step "On disk: move inbox-11 to Archive/2024 (a rename, file name kept)"
f=$(local_file demo/Mail/INBOX inbox-11)
[ -n "$f" ] || fail "inbox-11 not found in demo/Mail/INBOX"
run mv "$f" demo/Mail/Archive/2024/cur/

step "What a sync would do now (dry run: nothing is changed)"
demo_ms -c demo/config.yaml -a -n

step "Second sync"
demo_ms -c demo/config.yaml -a -v

step "Both sides now"
show() {	# show FOLDER ID...: flags on the server, file on disk
	for id in "${@:2}"; do
		case " $(server_ids "$1") " in
		*" $id "*) sf=$(server_flags "$1" "$id")
			sf="flags: ${sf:-(none)}" ;;
		*) sf="(not there)" ;;
		esac
		f=$(local_file "demo/Mail/$1" "$id")
		printf '  %-13s %-9s server %s\n' "$1" "$id" "$sf"
		printf '  %-13s %-9s disk   %s\n' "" "" "${f:-(not there)}"
	done
}
show INBOX inbox-01 inbox-02 inbox-03 inbox-11
show Archive/2024 inbox-11
case " $(server_flags INBOX inbox-01) " in
*' \Seen '*) ;;
*) fail "inbox-01 is not \\Seen on the server" ;;
esac
case "$(local_flags demo/Mail/INBOX inbox-02)" in
*F*) ;;
*) fail "inbox-02 is not flagged (F) on disk" ;;
esac
[ -z "$(local_file demo/Mail/INBOX inbox-03)" ] ||
	fail "inbox-03 is still on disk"
case " $(server_ids INBOX) | $(server_ids Archive/2024) " in
*" inbox-11 "*"|"*) fail "inbox-11 is still in INBOX on the server" ;;
*"|"*" inbox-11 "*) ;;
*) fail "inbox-11 did not arrive in Archive/2024 on the server" ;;
esac

step "Third sync: nothing left to do"
out=$(demo_ms -c demo/config.yaml -a 2>&1) || fail "third sync failed: $out"
printf '%s\n' "$out"
idle=' 0 pulled .* 0 pushed .* 0 moved, 0 flag changes, 0 deleted on server,'
printf '%s\n' "$out" | grep -Eq "$idle 0 deleted locally" ||
	fail "the third sync did something"

step "Done in ${SECONDS}s"
echo "The synced Maildir stays in demo/Mail (the demo server is gone)."
