/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Matching canonical folder names against IMAP-style folder patterns. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pattern.h"

/*
 * RFC 3501 section 5.1: "INBOX" is case-insensitive, every other name is
 * not.  Spelling a leading inbox component as "INBOX" on both sides lets the
 * matcher below stay case-sensitive.
 */
static char *
canon_inbox(const char *s)
{
	char *c = xstrdup(s);
	size_t len = strcspn(c, "/");

	if (len == 5 && strncasecmp(c, "inbox", 5) == 0)
		memcpy(c, "INBOX", 5);
	return c;
}

/*
 * A table over (pattern suffix, name suffix) instead of backtracking, so
 * patterns like "*a*a*a*b" cost O(pattern * name), never exponential time.
 */
static bool
glob(const char *p, const char *s)
{
	size_t m = strlen(p), n = strlen(s);
	bool *next = xcalloc(n + 1, sizeof(*next));
	bool *cur = xcalloc(n + 1, sizeof(*cur));
	bool res;

	/* next: the empty pattern suffix matches only the empty name suffix */
	next[n] = true;
	for (size_t i = m; i-- > 0;) {
		bool *t;

		for (size_t j = n + 1; j-- > 0;) {
			if (p[i] == '*')
				cur[j] = next[j] || (j < n && cur[j + 1]);
			else if (p[i] == '%')
				cur[j] = next[j] ||
				    (j < n && s[j] != '/' && cur[j + 1]);
			else
				cur[j] = j < n && p[i] == s[j] && next[j + 1];
		}
		t = next;
		next = cur;
		cur = t;
	}
	res = next[0];
	free(next);
	free(cur);
	return res;
}

bool
pattern_match(const char *pattern, const char *name)
{
	char *p = canon_inbox(pattern), *s = canon_inbox(name);
	bool res = glob(p, s);

	free(p);
	free(s);
	return res;
}

bool
pattern_list_match(const struct strv *patterns, const char *name)
{
	bool selected = false;

	for (size_t i = 0; i < patterns->n; i++) {
		const char *p = patterns->v[i];
		bool exclude = p[0] == '!';

		if (pattern_match(exclude ? p + 1 : p, name))
			selected = !exclude;
	}
	return selected;
}

int
pattern_check(const char *pattern, struct err *e)
{
	const char *p, *comp;

	if (pattern[0] == '\0')
		return err_set(e, ERR_CONFIG, "empty pattern");
	for (p = pattern; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(e, ERR_CONFIG,
			    "control character in pattern");
	if (pattern[0] == '/')
		return err_set(e, ERR_CONFIG,
		    "pattern must not start with '/'");
	for (comp = pattern;;) {
		size_t len = strcspn(comp, "/");

		if (len == 0)
			return err_set(e, ERR_CONFIG,
			    "empty component in pattern");
		if ((len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.'))
			return err_set(e, ERR_CONFIG,
			    "'.' or '..' component in pattern");
		if (comp[len] == '\0')
			break;
		comp += len + 1;
	}
	return 0;
}
