#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A real mail client on the synced Maildir: neomutt, headless in tmux, reads
# one message and saves another to =Archive; one mailsync run later the
# server has the \Seen flag and the move, one copy of each message, and a
# further run is a no-op.
. "$TESTS_SRCDIR/integration/lib.sh"
for tool in neomutt tmux; do
	command -v $tool >/dev/null 2>&1 && continue
	[ "${CI:-}" = true ] && bail "$tool is required under CI=true (contrib/test.sh --deps)"
	skip_all "$tool is not installed"
done
dovecot_start
mkfolder Archive
seed_msg Archive a1
for i in 1 2 3; do seed_msg INBOX m$i; done
write_config "$T/c.yaml"
ms -c "$T/c.yaml" -a
is "$RC" 0 "initial sync"
is "$(local_ids "$T/mail/INBOX") / $(local_ids "$T/mail/Archive")" \
	"m1 m2 m3 / a1" "both folders on disk"

# ---- neomutt ---------------------------------------------------------------
# Its own HOME and tmux socket: nothing of the user's setup is read or touched.
mkdir -p "$T/home" "$T/tmp"
cat >"$T/muttrc" <<EOF
set mbox_type = Maildir
set folder = $T/mail
set spoolfile = +INBOX
set tmpdir = $T/tmp
unset header_cache
set mailcap_path = /dev/null
set confirmappend = no
set confirmcreate = no
set delete = yes
set move = no
set mark_old = no
set wait_key = no
set quit = yes
set sort = subject
EOF
TMUX_SOCK=$T/tmux.sock
tm() { tmux -S "$TMUX_SOCK" "$@"; }
tmux_stop() { tm kill-server 2>/dev/null; }
at_exit tmux_stop
unset TMUX
tm new-session -d -s nm -x 200 -y 50 \
	"env HOME='$T/home' XDG_CONFIG_HOME='$T/home/.config' neomutt -n -F '$T/muttrc'" ||
	bail "tmux new-session failed"

# wait_ok DESC COMMAND...: poll COMMAND for up to 10 s; ok when it succeeded.
wait_ok() {
	local desc=$1 i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			ok 1 "$desc"
			tm capture-pane -p -t nm 2>/dev/null | sed '/^ *$/d; s/^/#   screen: /'
			return 1
		fi
		sleep 0.1
	done
	ok 0 "$desc"
}
screen_has() { tm capture-pane -p -t nm | grep -Eq -- "$1"; }
keys() { tm send-keys -t nm "$@"; }	# key names: Enter, C-u, q
type_text() { tm send-keys -t nm -l "$1"; }	# literal text
session_gone() { ! tm has-session -t nm; }

wait_ok "neomutt shows INBOX" screen_has 'message m3'
keys /; type_text '~i m1@test'; keys Enter
keys Enter
wait_ok "m1 opens in the pager" screen_has 'Body line 0 of message m1'
keys q
wait_ok "back in the index, m1 read" screen_has '^ +[0-9]+ +Jan .*message m1$'
keys /; type_text '~i m2@test'; keys Enter
keys s
wait_ok "save prompt" screen_has 'Save to mailbox'
keys C-u; type_text '=Archive'; keys Enter
wait_ok "m2 saved and marked deleted" screen_has '^ +[0-9]+ +N?D +Jan .*message m2$'
keys '$'

seen_on_disk() { case "$(local_flags "$T/mail/INBOX" m1)" in *S*) ;; *) return 1 ;; esac; }
moved_on_disk() {
	[ "$(local_ids "$T/mail/INBOX")" = "m1 m3" ] &&
		[ "$(local_ids "$T/mail/Archive")" = "a1 m2" ]
}
wait_ok "neomutt wrote m1 as seen" seen_on_disk
wait_ok "neomutt moved m2 to Archive on disk" moved_on_disk
keys q
wait_ok "neomutt quits" session_gone

# ---- mailsync --------------------------------------------------------------
ms -c "$T/c.yaml" -a
is "$RC" 0 "mailsync after neomutt exits 0"
[ "$RC" -eq 0 ] || diag "$ERR"
like "$OUT" ' 0 pushed .*, 1 moved, 1 flag changes, 0 deleted on server,' \
	"carried out as one move and one flag change, nothing uploaded"
like "$(server_flags INBOX m1)" '\\Seen' "the server has m1 \\Seen"
is "$(server_flags INBOX m3)" "" "m3 untouched"
is "$(server_ids INBOX)" "m1 m3" "m2 left INBOX on the server, m1 and m3 once each"
is "$(server_ids Archive)" "a1 m2" "m2 is in Archive on the server, once"
is "$(local_ids "$T/mail/INBOX") / $(local_ids "$T/mail/Archive")" \
	"m1 m3 / a1 m2" "the Maildir is as neomutt left it"

ms -c "$T/c.yaml" -a
is "$RC" 0 "second run exits 0"
like "$OUT" '0 pulled .*0 pushed .*0 moved, 0 flag changes, 0 deleted on server, 0 deleted locally' \
	"second run is a no-op"
is "$(server_ids INBOX) / $(server_ids Archive)" "m1 m3 / a1 m2" \
	"the server is unchanged"
done_testing
