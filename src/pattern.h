/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP-style folder patterns: "*" any depth, "%" one level, "!" excludes. */
#ifndef MAILSYNC_PATTERN_H
#define MAILSYNC_PATTERN_H

#include <stdbool.h>

#include "err.h"
#include "util.h"

/* Whether one pattern (without "!") matches a canonical folder name: "*"
 * matches any characters, "%" any characters but '/'.  "INBOX" matches
 * case-insensitively as a whole first component. */
bool pattern_match(const char *pattern, const char *name);

/* Whether a folders list selects name: each pattern in order includes
 * (or with a leading "!", excludes) what it matches; the last match wins;
 * no match means not selected. */
bool pattern_list_match(const struct strv *patterns, const char *name);

/* Validate a pattern: not empty, no control characters, no empty or "."
 * or ".." components, no leading '/'.  ERR_CONFIG with a reason. */
int pattern_check(const char *pattern, struct err *e);

#endif
