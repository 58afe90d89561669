/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP folders: name mapping, LIST, CREATE, DELETE, STATUS. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "imap_io.h"
#include "imap_priv.h"
#include "log.h"
#include "utf7.h"
#include "util.h"

/* ---- folder names ---------------------------------------------------- */

static bool
has_control(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

static bool
has_empty_component(const char *p)
{
	size_t n = strlen(p);

	return n == 0 || p[0] == '/' || p[n - 1] == '/' ||
	    strstr(p, "//") != NULL;
}

/* A server name, printable in a message. */
static char *
printable(const char *p)
{
	char *c = xstrdup(p);

	for (char *q = c; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return c;
}

/* Canonical name -> server name (delimiter, modified UTF-7). */
int
imap_wire_name(struct imap_store *s, const char *name, char **out,
    struct err *e)
{
	char *tmp;
	int r;

	*out = NULL;
	if (!s->delim_known && imap_learn_delimiter(s, e) < 0)
		return -1;
	if (has_control(name) || has_empty_component(name))
		return err_set(e, ERR_FAIL, "%s: invalid folder name \"%s\"",
		    s->label, name);
	if (strcasecmp(name, "INBOX") == 0) {
		*out = xstrdup("INBOX");
		return 0;
	}
	tmp = xstrdup(name);
	if (s->delim != '/') {
		if (s->delim != 0 && strchr(name, s->delim) != NULL) {
			free(tmp);
			return err_set(e, ERR_FAIL, "%s: folder name \"%s\" "
			    "contains the server's hierarchy delimiter '%c'",
			    s->label, name, s->delim);
		}
		if (s->delim == 0 && strchr(name, '/') != NULL) {
			free(tmp);
			return err_set(e, ERR_FAIL, "%s: folder name \"%s\" "
			    "has levels but the server has no hierarchy",
			    s->label, name);
		}
		for (char *p = tmp; *p; p++)
			if (*p == '/')
				*p = s->delim;
	}
	r = utf7_encode(tmp, out, e);
	free(tmp);
	if (r < 0)
		return err_prefix(e, "%s", s->label);
	return 0;
}

/* Server name -> canonical name, or NULL (with a warning) if it has none. */
static char *
canonical_name(struct imap_store *s, const char *wire, char delim)
{
	struct err e = { 0 };
	char *name = NULL, *shown;
	const char *why = NULL;

	if (strcasecmp(wire, "INBOX") == 0)
		return xstrdup("INBOX");
	if (utf7_decode(wire, &name, &e) < 0)
		why = e.msg;
	else if (has_control(name))
		why = "it contains control characters";
	else if (delim != '/' && delim != 0 && strchr(name, '/') != NULL)
		why = "it contains '/', which is not the server's hierarchy "
		      "delimiter";
	else if (delim == 0 && strchr(name, '/') != NULL)
		why = "it contains '/' but the server has no hierarchy";
	if (why == NULL && delim != '/' && delim != 0)
		for (char *p = name; *p; p++)
			if (*p == delim)
				*p = '/';
	if (why == NULL && has_empty_component(name))
		why = "it has an empty level";
	if (why == NULL)
		return name;
	shown = printable(wire);
	log_warn("%s: skipping folder \"%s\": %s", s->label, shown, why);
	free(shown);
	free(name);
	return NULL;
}

static bool
oflag_is(struct mailimap_mbx_list_flags *f, const char *name)
{
	clistiter *it;

	if (f == NULL || f->mbf_oflags == NULL)
		return false;
	for (it = clist_begin(f->mbf_oflags); it != NULL; it = clist_next(it)) {
		struct mailimap_mbx_list_oflag *o = clist_content(it);

		if (o->of_type == MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT &&
		    o->of_flag_ext != NULL &&
		    strcasecmp(o->of_flag_ext, name) == 0)
			return true;
	}
	return false;
}

static int
cmp_folder(const void *a, const void *b)
{
	return strcmp(((const struct folder_info *)a)->name,
	    ((const struct folder_info *)b)->name);
}

/* ---- LIST-STATUS ----------------------------------------------------- */

/* The mailbox of a "* STATUS" line (atom or quoted string) into *wire;
 * returns the position after it, or NULL. */
static const char *
status_mailbox(const char *p, char **wire)
{
	struct buf b = { 0 };

	if (*p != '"') {
		const char *end = strchr(p, ' ');

		if (end == NULL || end == p)
			return NULL;
		*wire = xstrndup(p, (size_t)(end - p));
		return end;
	}
	for (p++; *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		if (*p == '\0') {
			buf_free(&b);
			return NULL;
		}
		buf_addc(&b, *p);
	}
	*wire = b.data != NULL ? b.data : xstrdup("");
	return p + 1;
}

/* "* STATUS mbox (MESSAGES n UIDNEXT n ...)": false when malformed or
 * incomplete (then the folder gets a STATUS of its own). */
static bool
parse_status_line(const char *line, bool condstore, struct listed_status *ls)
{
	const char *p = status_mailbox(line + 9, &ls->wire);
	unsigned seen = 0, want = condstore ? 15u : 7u;

	memset(&ls->st, 0, sizeof(ls->st));
	if (p == NULL)
		return false;
	if (strncmp(p, " (", 2) != 0)
		goto bad;
	p += 2;
	while (*p != ')') {
		const char *name = p;
		unsigned long long v;
		char *end;

		p = strchr(p, ' ');
		if (p == NULL)
			goto bad;
		v = strtoull(p + 1, &end, 10);
		if (end == p + 1 || (*end != ' ' && *end != ')'))
			goto bad;
		if (strncasecmp(name, "MESSAGES ", 9) == 0 && v <= UINT32_MAX)
			ls->st.exists = (uint32_t)v, seen |= 1;
		else if (strncasecmp(name, "UIDNEXT ", 8) == 0 &&
		    v <= UINT32_MAX)
			ls->st.uidnext = (uint32_t)v, seen |= 2;
		else if (strncasecmp(name, "UIDVALIDITY ", 12) == 0 &&
		    v <= UINT32_MAX)
			ls->st.uidvalidity = (uint32_t)v, seen |= 4;
		else if (strncasecmp(name, "HIGHESTMODSEQ ", 14) == 0)
			ls->st.highestmodseq = v, seen |= 8;
		p = *end == ' ' ? end + 1 : end;
	}
	if (p[1] == '\0' && (seen & want) == want)
		return true;
bad:
	free(ls->wire);
	ls->wire = NULL;
	return false;
}

void
imap_listed_status_clear(struct imap_store *s)
{
	for (size_t i = 0; i < s->nlisted; i++)
		free(s->listed[i].wire);
	free(s->listed);
	s->listed = NULL;
	s->nlisted = 0;
}

/*
 * How long STATUS answers that came with a LIST stand in for a STATUS: a
 * run checks its folders right after listing them; a later check (watch
 * mode polling) asks again.
 */
#define LISTED_STATUS_TTL 30.0

/* Keep the STATUS answers that came with the LIST, for imap_status. */
static void
keep_listed_status(struct imap_store *s)
{
	struct strv lines = { 0 };
	size_t cap = 0;

	imap_listed_status_clear(s);
	s->listed_at = mono_seconds();
	imap_io_take_status_lines(s->io, &lines);
	for (size_t i = 0; i < lines.n; i++) {
		struct listed_status ls = { 0 };

		if (!parse_status_line(lines.v[i], s->condstore, &ls))
			continue;
		xgrow(&s->listed, &cap, s->nlisted + 1, sizeof(*s->listed));
		s->listed[s->nlisted++] = ls;
	}
	strv_free(&lines);
}

/*
 * LIST, with RETURN (STATUS ...) where the server offers LIST-STATUS (RFC
 * 5819): the state check of every folder then costs no round trip of its
 * own.  libetpan parses the LIST answers (and keeps only the last STATUS:
 * imap_io keeps them all).
 */
static int
list_all(struct imap_store *s, clist **result)
{
	struct mailimap_response_info *ri;
	int r;

	if (!has_cap(s, "LIST-STATUS"))
		return mailimap_list(s->imap, "", "*", result);
	imap_io_keep_status(s->io, true);
	r = imap_cmd_simple(s->imap, s->condstore ?
	    "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY "
	    "HIGHESTMODSEQ))" :
	    "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY))");
	imap_io_keep_status(s->io, false);
	ri = s->imap->imap_response_info;
	if (r == MAILIMAP_NO_ERROR && ri != NULL) {
		*result = ri->rsp_mailbox_list;
		ri->rsp_mailbox_list = NULL;
		keep_listed_status(s);
	} else {
		struct strv lines = { 0 };

		imap_io_take_status_lines(s->io, &lines);
		strv_free(&lines);
		if (r == MAILIMAP_NO_ERROR)
			r = MAILIMAP_ERROR_PARSE;
	}
	return r;
}

/*
 * An extended LIST (RFC 5258, as LIST-STATUS sends) leaves out the
 * parents that are no mailbox of their own, which a plain LIST names with
 * \Noselect: "Lists" and "Lists/dev" for "Lists/dev/kernel".  Added back
 * as such; where a parent is a folder too, the merge below keeps it one.
 */
static void
add_parents(struct folder_list *out, size_t first)
{
	size_t n = out->n;

	for (size_t i = first; i < n; i++) {
		for (const char *p = strchr(out->v[i].name, '/'); p != NULL;
		    p = strchr(p + 1, '/')) {
			char *parent = xstrndup(out->v[i].name,
			    (size_t)(p - out->v[i].name));

			xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
			out->v[out->n++] = (struct folder_info){ parent, true };
		}
	}
}

int
imap_list_folders(struct store *st, struct folder_list *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	clist *result = NULL;
	clistiter *it;
	size_t first = out->n, w;
	int r;

	if (imap_check_usable(s, "LIST", e) < 0)
		return -1;
	imap_io_take_literal_nul(s->io);
	r = list_all(s, &result);
	if (r != MAILIMAP_NO_ERROR) {
		if (result != NULL)
			mailimap_list_result_free(result);
		return imap_fail(s, r, "LIST", e);
	}
	/* Which name a NUL cut short cannot be told any more: the listing
	 * as a whole is not trusted (a folder "n" must not appear for
	 * "n\0ul"). */
	if (imap_io_take_literal_nul(s->io)) {
		if (result != NULL)
			mailimap_list_result_free(result);
		return err_set(e, ERR_FAIL, "%s: LIST: the server sent a folder "
		    "name containing a NUL byte (protocol violation)",
		    s->label);
	}
	for (it = result ? clist_begin(result) : NULL; it != NULL;
	    it = clist_next(it)) {
		struct mailimap_mailbox_list *mb = clist_content(it);
		struct mailimap_mbx_list_flags *f = mb->mb_flag;
		bool noselect;
		char *name;

		/* RFC 5258: \NonExistent names are not folders at all. */
		if (mb->mb_name == NULL || oflag_is(f, "NonExistent"))
			continue;
		noselect = oflag_is(f, "Noselect") || (f != NULL &&
		    f->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
		    f->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT);
		/* INBOX's delimiter is LIST "" ""'s (the personal
		 * namespace's): one round trip less a run */
		if (!s->delim_known && strcasecmp(mb->mb_name, "INBOX") == 0) {
			s->delim = mb->mb_delimiter;
			s->delim_known = true;
		}
		name = canonical_name(s, mb->mb_name, mb->mb_delimiter);
		if (name == NULL)
			continue;
		xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = (struct folder_info){ name, noselect };
	}
	if (result != NULL)
		mailimap_list_result_free(result);
	if (has_cap(s, "LIST-STATUS"))
		add_parents(out, first);

	qsort(out->v + first, out->n - first, sizeof(*out->v), cmp_folder);
	/* The same canonical name twice (e.g. "inbox" and "INBOX"). */
	for (w = first, r = 0; r < (int)(out->n - first); r++) {
		struct folder_info *f = &out->v[first + (size_t)r];

		if (w > first && strcmp(out->v[w - 1].name, f->name) == 0) {
			out->v[w - 1].noselect &= f->noselect;
			free(f->name);
			continue;
		}
		out->v[w++] = *f;
	}
	out->n = w;
	return 0;
}

static bool
already_exists(struct imap_store *s)
{
	const char *t = imap_server_text(s);

	return strcasestr(t, "[ALREADYEXISTS]") != NULL ||
	    strcasestr(t, "already exists") != NULL;
}

/* CREATE, where a folder that exists already is no error (store.h), or
 * DELETE, after which the folder is no longer the selected one. */
static int
create_or_delete(struct imap_store *s, bool create, const char *name,
    struct err *e)
{
	const char *verb = create ? "CREATE" : "DELETE";
	char *wire, what[300];
	int r;

	if (imap_check_usable(s, verb, e) < 0 ||
	    imap_wire_name(s, name, &wire, e) < 0)
		return -1;
	if (!create && s->sel_name != NULL && strcmp(s->sel_name, name) == 0)
		imap_forget_selection(s);
	r = create ? mailimap_create(s->imap, wire) :
	    mailimap_delete(s->imap, wire);
	free(wire);
	if (r == MAILIMAP_NO_ERROR ||
	    (create && r == MAILIMAP_ERROR_CREATE && already_exists(s)))
		return 0;
	snprintf(what, sizeof(what), "%s %s", verb, name);
	return imap_fail(s, r, what, e);
}

int
imap_create_folder(struct store *st, const char *name, struct err *e)
{
	return create_or_delete(imap_of(st), true, name, e);
}

int
imap_delete_folder(struct store *st, const char *name, struct err *e)
{
	return create_or_delete(imap_of(st), false, name, e);
}

/* ---- status ---------------------------------------------------------- */

/* STATUS of a folder by its wire name, without selecting it. */
int
imap_status_wire(struct imap_store *s, const char *wname, const char *name,
    struct folder_status *out, struct err *e)
{
	struct mailimap_status_att_list *atts = mailimap_status_att_list_new_empty();
	struct mailimap_mailbox_data_status *res = NULL;
	char what[300];
	clistiter *it;
	int r;

	snprintf(what, sizeof(what), "STATUS %s", name);
	mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_MESSAGES);
	mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_UIDNEXT);
	mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_UIDVALIDITY);
	if (s->condstore)
		mailimap_status_att_list_add(atts,
		    MAILIMAP_STATUS_ATT_HIGHESTMODSEQ);
	r = mailimap_status(s->imap, wname, atts, &res);
	mailimap_status_att_list_free(atts);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	memset(out, 0, sizeof(*out));
	for (it = clist_begin(res->st_info_list); it != NULL;
	    it = clist_next(it)) {
		struct mailimap_status_info *si = clist_content(it);

		switch (si->st_att) {
		case MAILIMAP_STATUS_ATT_MESSAGES:
			out->exists = si->st_value;
			break;
		case MAILIMAP_STATUS_ATT_UIDNEXT:
			out->uidnext = si->st_value;
			break;
		case MAILIMAP_STATUS_ATT_UIDVALIDITY:
			out->uidvalidity = si->st_value;
			break;
		case MAILIMAP_STATUS_ATT_EXTENSION:
			if (si->st_ext_data != NULL &&
			    si->st_ext_data->ext_type ==
			    MAILIMAP_CONDSTORE_TYPE_STATUS_INFO) {
				struct mailimap_condstore_status_info *cs =
				    si->st_ext_data->ext_data;

				out->highestmodseq = cs->cs_highestmodseq_value;
			}
			break;
		}
	}
	mailimap_mailbox_data_status_free(res);
	return 0;
}

int
imap_status(struct store *st, const char *name, struct folder_status *out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	char *wname = NULL;
	int rc;

	if (imap_check_usable(s, "STATUS", e) < 0 ||
	    imap_wire_name(s, name, &wname, e) < 0)
		return -1;
	/* an answer that came with the LIST serves once, and not for long */
	if (s->nlisted > 0 && mono_seconds() - s->listed_at > LISTED_STATUS_TTL)
		imap_listed_status_clear(s);
	for (size_t i = 0; i < s->nlisted; i++) {
		if (strcmp(s->listed[i].wire, wname) != 0)
			continue;
		*out = s->listed[i].st;
		free(s->listed[i].wire);
		s->listed[i] = s->listed[--s->nlisted];
		free(wname);
		return 0;
	}
	rc = imap_status_wire(s, wname, name, out, e);
	free(wname);
	return rc;
}
