/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Maildir store internals that the unit tests check directly. */
#ifndef MAILSYNC_MAILDIR_H
#define MAILSYNC_MAILDIR_H

#include "cfg.h"
#include "err.h"

/*
 * The directory of canonical folder name under ch's layout, newly allocated
 * into *path_out; no I/O.  verbatim: "A/B" -> <maildir>/A/B, maildir++:
 * <maildir>/.A.B; "INBOX" -> ch->inbox (default <maildir>/INBOX for
 * verbatim, the root for maildir++), verbatim "INBOX/x" -> <inbox>/x.
 * A name that could leave the root or not list back under the same name is
 * ERR_FAIL "folder 'NAME': refused: REASON", REASON one of: "empty name",
 * "absolute name", "control character", "not valid UTF-8",
 * "empty component", "'.' component", "'..' component",
 * "reserved component 'cur'" (also new, tmp),
 * "component longer than 255 bytes", "component 'X' starts with '.'"
 * (verbatim: hidden directories are not listed),
 * "'.' inside component 'X' (maildir++)",
 * "name longer than 254 bytes (maildir++)".
 */
int maildir_folder_path(const struct cfg_channel *ch, const char *name,
    char **path_out, struct err *e);

#endif
