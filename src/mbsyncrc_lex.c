/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The mbsync configuration syntax: lines split into arguments as mbsync
 * splits them, and the typed values of its options. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbsyncrc_priv.h"
#include "util.h"

int
mbsyncrc_bad(struct mb_conv *c, int line, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->e, ERR_CONFIG, "%s:%d: %s", c->path, line, msg);
}

/*
 * Split a line as mbsync's get_arg() does: blanks separate arguments,
 * double quotes group, a backslash makes the next character literal, and
 * an argument that starts with '#' starts a comment.
 */
int
mbsyncrc_split_line(struct mb_conv *c, int line, const char *s,
    struct strv *out)
{
	struct buf arg = { 0 };

	for (;;) {
		bool quoted = false, escaped = false;

		while (*s != '\0' && isspace((unsigned char)*s))
			s++;
		if (*s == '\0' || *s == '#')
			break;
		buf_reset(&arg);
		buf_adds(&arg, "");
		for (; *s != '\0'; s++) {
			unsigned char ch = (unsigned char)*s;

			if (escaped && ch >= 32) {
				escaped = false;
				buf_addc(&arg, (char)ch);
			} else if (ch == '\\')
				escaped = true;
			else if (ch == '"')
				quoted = !quoted;
			else if (!quoted && isspace(ch))
				break;
			else
				buf_addc(&arg, (char)ch);
		}
		if (escaped || quoted) {
			buf_free(&arg);
			return mbsyncrc_bad(c, line, escaped ?
			    "unterminated escape sequence" :
			    "missing closing quote");
		}
		strv_add(out, arg.data);
	}
	buf_free(&arg);
	return 0;
}

/* ---- typed values ---- */

int
mbsyncrc_need_value(struct mb_conv *c, int line, const struct strv *a)
{
	if (a->n < 2)
		return mbsyncrc_bad(c, line, "missing value for '%s'", a->v[0]);
	return 0;
}

int
mbsyncrc_one_value(struct mb_conv *c, int line, const struct strv *a,
    const char **out)
{
	if (mbsyncrc_need_value(c, line, a) == -1)
		return -1;
	if (a->n > 2)
		return mbsyncrc_bad(c, line, "excess token '%s' after '%s %s' "
		    "(quote values that contain spaces)", a->v[2], a->v[0],
		    a->v[1]);
	*out = a->v[1];
	return 0;
}

int
mbsyncrc_get_bool(struct mb_conv *c, int line, const struct strv *a, bool *out)
{
	const char *v;

	if (mbsyncrc_one_value(c, line, a, &v) == -1)
		return -1;
	if (is_word(v, "yes") || is_word(v, "true") || is_word(v, "on") ||
	    strcmp(v, "1") == 0)
		*out = true;
	else if (is_word(v, "no") || is_word(v, "false") || is_word(v, "off") ||
	    strcmp(v, "0") == 0)
		*out = false;
	else
		return mbsyncrc_bad(c, line,
		    "invalid boolean value '%s' for '%s'", v, a->v[0]);
	return 0;
}

int
mbsyncrc_get_long(struct mb_conv *c, int line, const struct strv *a, long lo,
    long hi, long *out)
{
	const char *v;
	char *end;
	long n;

	if (mbsyncrc_one_value(c, line, a, &v) == -1)
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi)
		return mbsyncrc_bad(c, line,
		    "'%s' must be an integer between %ld and %ld, not '%s'",
		    a->v[0], lo, hi, v);
	*out = n;
	return 0;
}

/* mbsync sizes: a number, then optionally k or m, then optionally b. */
int
mbsyncrc_get_size(struct mb_conv *c, int line, const struct strv *a,
    uint64_t *out)
{
	const char *v, *p;
	uint64_t n = 0;

	if (mbsyncrc_one_value(c, line, a, &v) == -1)
		return -1;
	for (p = v; *p >= '0' && *p <= '9'; p++) {
		if (n > UINT64_MAX / 1024 / 1024 / 10)
			goto invalid;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (p == v)
		goto invalid;
	if (*p == 'k' || *p == 'K') {
		n *= 1024;
		p++;
	} else if (*p == 'm' || *p == 'M') {
		n *= 1024 * 1024;
		p++;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		goto invalid;
	*out = n;
	return 0;
invalid:
	return mbsyncrc_bad(c, line, "invalid size '%s' for '%s'", v, a->v[0]);
}

/* Create, Remove, Expunge: None, Far, Near, Both (Master, Slave of old). */
int
mbsyncrc_get_sides(struct mb_conv *c, int line, const struct strv *a,
    unsigned *out)
{
	if (mbsyncrc_need_value(c, line, a) == -1)
		return -1;
	for (size_t i = 1; i < a->n; i++) {
		const char *v = a->v[i];

		if (is_word(v, "Both"))
			*out |= 1u << FAR | 1u << NEAR;
		else if (is_word(v, "Far") || is_word(v, "Master"))
			*out |= 1u << FAR;
		else if (is_word(v, "Near") || is_word(v, "Slave"))
			*out |= 1u << NEAR;
		else if (!is_word(v, "None"))
			return mbsyncrc_bad(c, line, "invalid %s arg '%s'",
			    a->v[0], v);
	}
	return 0;
}
