#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# contrib/: bash and zsh completion against a config and against --help, the
# systemd units, the cron line, the neomutt and notmuch snippets; and
# --import-mbsyncrc on the command line, its output fed back to mailsync.
. "$TESTS_SRCDIR/integration/lib.sh"

C=$TESTS_SRCDIR/../contrib
BASHC=$C/completion/mailsync.bash
ZSHC=$C/completion/_mailsync
mkdir -p "$T/home"

ms --help
HELP=$OUT
is "$RC" 0 "--help works"

# is_option OPT: the option is listed by --help
is_option() {
	printf '%s\n' "$HELP" | grep -Eq -- "(^|[ ,])$1([ ,=]|\$)"
}

# ---- bash completion -------------------------------------------------------

check "bash -n accepts the bash completion" bash -n "$BASHC"
OUT=$(bash -c '. "$1" && complete -p mailsync' sh "$BASHC" 2>&1)
is "$OUT" "complete -F _mailsync mailsync" "it registers _mailsync for mailsync"

cat >"$T/config.yaml" <<'YAML'
accounts:
  acc:
    host: 127.0.0.1
    user: u
    password: p
channels:
  a:
    account: acc
    maildir: ~/Mail/a
  # old:
  #   account: acc
  "b":
    account: acc
    maildir: ~/Mail/b
    folders: ["*"]
groups:
  g: [a, b]
YAML
chmod 600 "$T/config.yaml"
ms -c "$T/config.yaml" nosuch
is "$RC" 2 "the test config is one mailsync loads (only the selector is wrong)"
like "$ERR" "nosuch" "the error is about the selector"

# comp CWORD WORD...: what the bash completion offers, space-separated
comp() {
	HOME=$T/home XDG_CONFIG_HOME= bash -c '
		. "$1"; shift
		COMP_CWORD=$1; shift
		COMP_WORDS=("$@")
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_mailsync
		echo "${COMPREPLY[*]}"' sh "$BASHC" "$@"
}

is "$(comp 3 mailsync -c "$T/config.yaml" '')" "a b g" \
	"mailsync -c FILE <TAB>: channels and groups, nothing else"
is "$(comp 3 mailsync --config "$T/config.yaml" b)" "b" \
	"a started name completes to itself only"
is "$(comp 4 mailsync --config = "$T/config.yaml" '')" "a b g" \
	"--config=FILE is read too"
is "$(comp 4 mailsync -c "$T/config.yaml" a '')" "a b g" \
	"after a first name, names again"
is "$(comp 2 mailsync -c "$T/conf")" "$T/config.yaml" \
	"-c completes file names"

mkdir -p "$T/home/.config/mailsync"
cp "$T/config.yaml" "$T/home/.config/mailsync/config.yaml"
is "$(comp 1 mailsync '')" "a b g" \
	"mailsync <TAB>: the default config's names, without -c"
mkdir -p "$T/xdg/mailsync"
printf 'channels:\n  x:\n    account: acc\n' >"$T/xdg/mailsync/config.yaml"
OUT=$(HOME=$T/home XDG_CONFIG_HOME=$T/xdg bash -c '. "$1"
	COMP_WORDS=(mailsync ""); COMP_CWORD=1; _mailsync
	echo "${COMPREPLY[*]}"' sh "$BASHC")
is "$OUT" "x" "\$XDG_CONFIG_HOME/mailsync/config.yaml is the default"
is "$(comp 3 mailsync -c "$T/none.yaml" '')" "" \
	"a missing config offers nothing, quietly"

OPTS=$(comp 1 mailsync --)
like "$OPTS" "^--all .*--help$" "mailsync --<TAB>: the long options"
ok "$(printf '%s\n' $OPTS | grep -cv '^--')" "--<TAB> offers only long options"
for opt in $(comp 1 mailsync -); do
	is_option "$opt"
	ok $? "completion option $opt exists in mailsync --help"
done

# ---- zsh completion --------------------------------------------------------

if command -v zsh >/dev/null 2>&1; then
	check "zsh -n accepts the zsh completion" zsh -n "$ZSHC"
	# _arguments and _describe stubbed: the names it would offer
	OUT=$(CFG=$T/config.yaml zsh -f -c '
		_arguments() { state=names; opt_args[-c]=$CFG; return 1 }
		_describe() { print -r -- "${(@P)4}" }
		source "$1"' sh "$ZSHC")
	is "$OUT" "a b g" "zsh: channels and groups of -c FILE"
	OUT=$(HOME=$T/home XDG_CONFIG_HOME= zsh -f -c '
		_arguments() { state=names; return 1 }
		_describe() { print -r -- "${(@P)4}" }
		source "$1"' sh "$ZSHC")
	is "$OUT" "a b g" "zsh: the default config without -c"
else
	for what in "zsh -n" "zsh names" "zsh default config"; do
		ok 0 "$what # SKIP zsh not installed"
	done
fi
# the options of the _arguments specs: {-a,--all}, '--debug[...]', ...
for opt in $(grep -oE "[{,)']-{1,2}[a-zA-Z][a-zA-Z-]*" "$ZSHC" | cut -c2- |
    sort -u); do
	is_option "$opt"
	ok $? "zsh completion option $opt exists in mailsync --help"
done

# ---- systemd units, cron line ----------------------------------------------

S=$C/systemd
like "$(cat "$S/mailsync.service")" "ExecStart=/usr/bin/env mailsync -a -q" \
	"the service runs mailsync -a -q through env"
like "$(cat "$S/mailsync.timer")" "OnUnitActiveSec=5min" \
	"the timer fires every 5 minutes"
if command -v systemd-analyze >/dev/null 2>&1 &&
    printf '[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$T/probe.service" &&
    systemd-analyze verify --man=no "$T/probe.service" >/dev/null 2>&1; then
	OUT=$(systemd-analyze verify --man=no "$S/mailsync.service" \
	    "$S/mailsync.timer" 2>&1)
	ok $? "systemd-analyze verify accepts the units"
	is "$OUT" "" "and has nothing to say about them"
else
	ok 0 "systemd-analyze verify # SKIP systemd-analyze unusable here"
	ok 0 "systemd-analyze output # SKIP systemd-analyze unusable here"
fi
CRON=$(grep -v '^#' "$C/cron.txt")
is "$CRON" "*/5 * * * * mailsync -a -q" "cron.txt: every 5 minutes, -a -q"
for opt in -a -q; do
	is_option "$opt"
	ok $? "cron and systemd option $opt exists"
done

# ---- neomutt ---------------------------------------------------------------

M=$C/neomutt/mailsync.muttrc
for d in INBOX Archive Archive/2024 "Sent Mail"; do
	mkdir -p "$T/home/Mail/work/$d/cur"
done
CMD=$(sed -n 's/^named-mailboxes `\(.*\)`$/\1/p' "$M")
OUT=$(HOME=$T/home sh -c "$CMD")
H=$T/home/Mail/work
is "$OUT" "\"Archive\" \"$H/Archive\" \"Archive/2024\" \"$H/Archive/2024\" \"INBOX\" \"$H/INBOX\" \"Sent Mail\" \"$H/Sent Mail\" " \
	"neomutt: named-mailboxes from the Maildir tree, sorted"
CMD=$(sed -n 's/^#mailboxes `\(.*\)`$/\1/p' "$M")
OUT=$(HOME=$T/home sh -c "$CMD" | grep -o '"[^"]*"' | LC_ALL=C sort |
    tr '\n' '|')
is "$OUT" "\"$H/Archive\"|\"$H/Archive/2024\"|\"$H/INBOX\"|\"$H/Sent Mail\"|" \
	"neomutt: the plain mailboxes line lists the 4 folders, quoted"
like "$(cat "$M")" 'macro index,pager S "<sync-mailbox><shell-escape>mailsync -q work<enter>"' \
	"neomutt: a macro syncs the channel"

# ---- notmuch hook ----------------------------------------------------------

N=$C/notmuch-post-sync.sh
check "the notmuch hook is executable" test -x "$N"
check "sh -n accepts the notmuch hook" sh -n "$N"
mkdir -p "$T/bin"
cat >"$T/bin/notmuch" <<EOF
#!/bin/sh
echo "\$*" >>"$T/notmuch.log"
EOF
chmod +x "$T/bin/notmuch"
PATH=$T/bin:$PATH MAILSYNC_CHANNEL=work MAILSYNC_NEW=2 MAILSYNC_CHANGED=3 "$N"
ok $? "the hook succeeds"
is "$(cat "$T/notmuch.log")" "new --quiet
tag +work -- tag:inbox and tag:unread and not tag:work and date:1h.." \
	"it runs notmuch new, then tags the channel's new mail"
rm -f "$T/notmuch.log"
PATH=$T/bin:$PATH MAILSYNC_CHANNEL=work MAILSYNC_NEW=0 "$N"
is "$(cat "$T/notmuch.log")" "new --quiet" "no new mail: notmuch new only"
OUT=$(PATH=/nonexistent /bin/sh "$N" 2>&1)
ok $((! $?)) "without notmuch the hook fails"
like "$OUT" "notmuch is not installed" "and says why"

# ---- --import-mbsyncrc -------------------------------------------------------

cat >"$T/mbsyncrc" <<'EOF'
IMAPAccount work
Host imap.example.org
User alice
PassCmd "pass show work"
TLSType IMAPS

IMAPStore work-remote
Account work

MaildirStore work-local
Path ~/Mail/work/
Inbox ~/Mail/work/INBOX
SubFolders Verbatim

Channel work
Far :work-remote:
Near :work-local:
Patterns * !Trash
Create Both
Expunge Both
SyncState *

Channel sent
Far :work-remote:Sent
Near :work-local:Sent

Group all work sent
EOF
OUT=$(HOME=$T/nohome "$MAILSYNC" --import-mbsyncrc "$T/mbsyncrc" 2>"$T/err")
is "$?" 0 "--import-mbsyncrc exits 0, without any config of its own"
is "$(cat "$T/err")" "" "and prints nothing on stderr"
like "$OUT" "^# mailsync configuration converted from " \
	"the YAML says where it comes from"
printf '%s\n' "$OUT" >"$T/imported.yaml"
chmod 600 "$T/imported.yaml"
ms -c "$T/imported.yaml" nosuch
is "$RC" 2 "mailsync loads the imported config (only the selector is wrong)"
like "$ERR" "nosuch" "the error is about the selector"
is "$(comp 3 mailsync -c "$T/imported.yaml" '')" "work sent all" \
	"completion offers the imported channels and group"

printf 'IMAPAccount a\nHost h\n\nHots x\n' >"$T/bad.rc"
ms --import-mbsyncrc "$T/bad.rc"
is "$RC" 2 "a malformed mbsyncrc exits 2"
is "$ERR" "mailsync: $T/bad.rc:4: unknown section keyword 'Hots'" \
	"with FILE:LINE: message"
is "$OUT" "" "and prints no YAML"
ms --import-mbsyncrc "$T/missing.rc"
is "$RC" 2 "a missing mbsyncrc exits 2"
is "$ERR" "mailsync: cannot read $T/missing.rc: No such file or directory" \
	"naming the file"
check "man page documents --import-mbsyncrc" \
	grep -q -- "Fl -import-mbsyncrc" "$TESTS_SRCDIR/../man/mailsync.1"
done_testing
