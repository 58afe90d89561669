#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# -l lists exactly the folders the patterns select, on a real server.
. "$TESTS_SRCDIR/integration/lib.sh"
dovecot_start
for f in Archive/2024 Archive/2023 Spam Trash/old "Entwürfe" Lists/dev; do mkfolder "$f"; done
write_config "$T/c.yaml" 'folders: ["*", "!Spam", "!Trash/*", "!Archive/2023"]'
ms -c "$T/c.yaml" -l test
is "$RC" 0 "-l exits 0"
is "$(echo "$OUT" | tr '\n' ' ')" "Archive/2024 Entwürfe INBOX Lists/dev " "patterns select the folders"
check "-l changes nothing on disk" test ! -e "$T/mail"
write_config "$T/c.yaml" 'folders: ["INBOX", "Archive/%"]'
ms -c "$T/c.yaml" -l test
is "$(echo "$OUT" | tr '\n' ' ')" "Archive/2023 Archive/2024 INBOX " "% matches one level"
done_testing
