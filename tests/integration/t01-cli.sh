#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Command line: help, version, usage and configuration errors (exit 2).
. "$TESTS_SRCDIR/integration/lib.sh"

ms --help
is "$RC" 0 "--help exits 0"
for opt in --all --config --list --dry-run --pull --push --verbose --quiet --debug --force --json --version --help; do
	like "$OUT" -- "$opt" "--help lists $opt"
	check "man page documents $opt" grep -q -- "Fl $(echo "$opt" | sed 's/^--/-/')" "$TESTS_SRCDIR/../man/mailsync.1"
done
ms --version
like "$OUT" "^mailsync [0-9]" "--version prints the version"
ms --no-such-option
is "$RC" 2 "unknown option exits 2"
ms --pull --push -a
is "$RC" 2 "--pull with --push exits 2"

cat >"$T/bad.yaml" <<'YAML'
accounts:
  work:
    hots: imap.example.org
    user: alice
    password: x
YAML
chmod 600 "$T/bad.yaml"
ms -c "$T/bad.yaml" -a
is "$RC" 2 "unknown key exits 2"
like "$ERR" "bad.yaml:3:5: unknown key 'hots'.*did you mean 'host'" "unknown key names file:line:col and suggests"

cat >"$T/ok.yaml" <<YAML
accounts:
  work:
    host: 127.0.0.1
    user: alice
    password: x
channels:
  work:
    account: work
    maildir: $T/m
    state-dir: $T/s
YAML
chmod 600 "$T/ok.yaml"
ms -c "$T/ok.yaml" nosuch
is "$RC" 2 "unknown channel exits 2"
like "$ERR" "nosuch" "message names the unknown channel"
ms -c "$T/ok.yaml"
is "$RC" 2 "no channel given exits 2"
ms -c "$T/missing.yaml" -a
is "$RC" 2 "missing config file exits 2"
like "$ERR" "missing.yaml" "message names the missing file"
check "nothing was created for a config error" test ! -e "$T/s"

chmod 644 "$T/ok.yaml"
ms -c "$T/ok.yaml" -l nosuch
like "$ERR" "readable by others" "password in a world-readable file warns"
done_testing
