/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8 folder names. */
#ifndef MAILSYNC_UTF7_H
#define MAILSYNC_UTF7_H

#include <stdbool.h>

#include "err.h"
#include "util.h"

/* Decode a server folder name into newly allocated UTF-8 in *out.
 * Malformed input (bad base64, unterminated or non-minimal shift, encoded
 * printable ASCII, broken surrogates) is ERR_FAIL naming the input. */
int utf7_decode(const char *in, char **out, struct err *e);

/* Encode UTF-8 into newly allocated modified UTF-7 in *out; invalid UTF-8
 * is ERR_FAIL. */
int utf7_encode(const char *in, char **out, struct err *e);

/* Whether s is well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF). */
bool utf7_utf8_valid(const char *s);

/*
 * Append s to out in a form safe to show on a terminal: valid UTF-8 text as
 * is, except C0/C1 control characters, DEL, backslash and bytes that are not
 * valid UTF-8, which become \xNN.  At most max bytes of s are shown (then
 * "..."), so a hostile name cannot flood a message.
 */
void utf7_quote(struct buf *out, const char *s, size_t max);

#endif
