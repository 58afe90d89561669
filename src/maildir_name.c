/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Maildir folder names to directories under either layout, without I/O. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildir.h"
#include "maildir_priv.h"
#include "utf7.h"

static char *
path_clean(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return xstrndup(p, n);
}

char *
maildir_path_join(const char *dir, const char *name)
{
	if (strcmp(dir, "/") == 0)
		return xasprintf("/%s", name);
	return xasprintf("%s/%s", dir, name);
}

char *
maildir_root_of(const struct cfg_channel *ch)
{
	return path_clean(ch->maildir);
}

char *
maildir_inbox_of(const struct cfg_channel *ch, const char *root)
{
	if (ch->inbox != NULL && *ch->inbox != '\0')
		return path_clean(ch->inbox);
	if (ch->layout == CFG_LAYOUT_MAILDIRPP)
		return xstrdup(root);
	return maildir_path_join(root, "INBOX");
}

/* Split on '/', keeping empty components. */
static void
split(const char *s, struct strv *out)
{
	const char *end;

	for (;;) {
		end = strchr(s, '/');
		if (end == NULL) {
			strv_add(out, s);
			return;
		}
		strv_add_owned(out, xstrndup(s, (size_t)(end - s)));
		s = end + 1;
	}
}

/*
 * The inbox's directories below the root, if it is the root or a plain path
 * inside it: then it is walked like any folder, without following links.
 */
static bool
inbox_below_root(const char *root, const char *inbox, struct strv *comps)
{
	size_t n = strlen(root);
	const char *rest;

	if (strcmp(root, inbox) == 0)
		return true;
	if (strncmp(root, inbox, n) != 0)
		return false;
	rest = inbox + n;
	if (strcmp(root, "/") != 0) {
		if (*rest != '/')
			return false;
		rest++;
	}
	split(rest, comps);
	for (size_t i = 0; i < comps->n; i++) {
		const char *c = comps->v[i];

		if (*c == '\0' || strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
			strv_free(comps);
			return false;
		}
	}
	return true;
}

bool
maildir_is_sub_name(const char *s, size_t len)
{
	for (int i = 0; i < NSUB; i++)
		if (len == 3 && memcmp(s, sub_name[i], 3) == 0)
			return true;
	return false;
}

/* Why name cannot be a folder under layout, or NULL if it can. */
const char *
maildir_name_problem(const char *name, enum cfg_layout layout, char *why,
    size_t whysz)
{
	const char *c, *end;
	size_t len;

	if (*name == '\0')
		return "empty name";
	if (*name == '/')
		return "absolute name";
	for (c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "control character";
	if (!utf7_utf8_valid(name))
		return "not valid UTF-8";
	for (c = name;; c = end + 1) {
		end = strchr(c, '/');
		if (end == NULL)
			end = c + strlen(c);
		len = (size_t)(end - c);
		if (len == 0)
			return "empty component";
		if (len == 1 && c[0] == '.')
			return "'.' component";
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return "'..' component";
		if (maildir_is_sub_name(c, len)) {
			snprintf(why, whysz, "reserved component '%.3s'", c);
			return why;
		}
		if (len > 255)
			return "component longer than 255 bytes";
		/* the listing skips hidden directories (.notmuch, ...) */
		if (layout == CFG_LAYOUT_VERBATIM && c[0] == '.') {
			snprintf(why, whysz, "component '%.*s' starts with '.'",
			    (int)len, c);
			return why;
		}
		if (layout == CFG_LAYOUT_MAILDIRPP && memchr(c, '.', len)) {
			snprintf(why, whysz,
			    "'.' inside component '%.*s' (maildir++)",
			    (int)len, c);
			return why;
		}
		if (*end == '\0')
			break;
	}
	if (layout == CFG_LAYOUT_MAILDIRPP && strlen(name) > 254)
		return "name longer than 254 bytes (maildir++)";
	return NULL;
}

void
maildir_loc_free(struct loc *l)
{
	strv_free(&l->comps);
	free(l->path);
	l->path = NULL;
}

int
maildir_folder_loc(const struct cfg_channel *ch, const char *name,
    struct loc *l, struct err *e)
{
	char why[512], *root, *inbox, *q;
	const char *problem, *rest = NULL;

	memset(l, 0, sizeof(*l));
	problem = maildir_name_problem(name, ch->layout, why, sizeof(why));
	if (problem != NULL) {
		q = maildir_quote(name);
		err_set(e, ERR_FAIL, "folder '%s': refused: %s", q, problem);
		free(q);
		return -1;
	}
	root = maildir_root_of(ch);
	inbox = maildir_inbox_of(ch, root);
	if (strcmp(name, "INBOX") == 0)
		rest = "";
	else if (ch->layout == CFG_LAYOUT_VERBATIM &&
	    strncmp(name, "INBOX/", 6) == 0)
		rest = name + 6;
	if (rest != NULL) {
		l->in_root = inbox_below_root(root, inbox, &l->comps);
		if (*rest != '\0') {
			split(rest, &l->comps);
			l->path = maildir_path_join(inbox, rest);
		} else
			l->path = xstrdup(inbox);
	} else if (ch->layout == CFG_LAYOUT_MAILDIRPP) {
		char *d = xasprintf(".%s", name);

		for (char *p = d; *p; p++)
			if (*p == '/')
				*p = '.';
		l->in_root = true;
		l->path = maildir_path_join(root, d);
		strv_add_owned(&l->comps, d);
	} else {
		l->in_root = true;
		split(name, &l->comps);
		l->path = maildir_path_join(root, name);
	}
	free(root);
	free(inbox);
	return 0;
}

int
maildir_folder_path(const struct cfg_channel *ch, const char *name,
    char **path_out, struct err *e)
{
	struct loc l;

	*path_out = NULL;
	if (maildir_folder_loc(ch, name, &l, e) < 0)
		return -1;
	*path_out = l.path;
	l.path = NULL;
	maildir_loc_free(&l);
	return 0;
}
