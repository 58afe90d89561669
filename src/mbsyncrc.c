/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Converting an isync/mbsync configuration into mailsync YAML: what each
 * channel becomes, the names it gets, and the entry point. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mbsyncrc.h"
#include "mbsyncrc_priv.h"
#include "pattern.h"
#include "util.h"

/* Comments must stay one line each and readable whatever the input held. */
void
mbsyncrc_note(struct strv *notes, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	strv_add_owned(notes, s);
}

/* The values of a keyword line, joined for comments. */
char *
mbsyncrc_join_args(const struct strv *a, size_t from)
{
	struct buf b = { 0 };

	buf_adds(&b, "");
	for (size_t i = from; i < a->n; i++) {
		if (i > from)
			buf_addc(&b, ' ');
		buf_adds(&b, a->v[i]);
	}
	return b.data;
}

static bool
is_inbox(const char *s)
{
	return strcasecmp(s, "INBOX") == 0;
}

static bool
ends_with_slash(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '/';
}

/* A path without its trailing slashes ("/" stays). */
static char *
strip_slash(const char *s)
{
	char *p = xstrdup(s);
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	return p;
}

char *
mbsyncrc_account_problem(const struct mb_account *a)
{
	if (a->tunnel)
		return xasprintf("it connects with Tunnel \"%s\", and mailsync "
		    "only connects to a host and port", a->tunnel);
	if (a->host == NULL)
		return xstrdup("it has no Host");
	if (a->user == NULL && a->user_cmd)
		return xstrdup("its login name comes from UserCmd; mailsync "
		    "needs it as 'user'");
	if (a->user == NULL)
		return xstrdup("it has no User; mailsync needs the login name");
	return NULL;
}

/* Where mbsync keeps mailbox name of Maildir store st, below root. */
static char *
local_path(const struct mb_store *st, const char *root, const char *name)
{
	char *p, *s;

	if (st->subfolders == SF_MAILDIRPP) {
		p = xasprintf("%s/.%s", root, name);
		for (s = p + strlen(root) + 2; *s; s++)
			if (*s == '/')
				*s = '.';
		return p;
	}
	s = st->path ? xasprintf("%s%s", st->path, name) :
	    xasprintf("%s/%s", root, name);
	p = strip_slash(s);
	free(s);
	return p;
}

static char *
parent_dir(const char *path)
{
	char *p = strip_slash(path), *slash = strrchr(p, '/');

	if (slash == NULL) {
		free(p);
		return xstrdup(".");
	}
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	return p;
}

/* The mailsync channel for ch, or the reason there is none. */
void
mbsyncrc_plan_channel(struct mb_conv *c, struct mb_channel *ch)
{
	struct mb_store *s[2] = {
		&c->stores[ch->store[FAR]], &c->stores[ch->store[NEAR]],
	};
	const struct mb_store *rs, *ls;
	const char *rbox, *lbox;
	char *inbox_dflt, *why;
	int r, l;

	if (s[FAR]->imap == s[NEAR]->imap) {
		ch->reason = xasprintf("it connects two %s stores; a mailsync "
		    "channel pairs an IMAP account with a Maildir tree",
		    s[FAR]->imap ? "IMAP" : "Maildir");
		return;
	}
	r = s[FAR]->imap ? FAR : NEAR;
	l = 1 - r;
	ch->remote = r;
	rs = s[r];
	ls = s[l];
	rbox = ch->box[r];
	lbox = ch->box[l];
	why = mbsyncrc_account_problem(&c->accounts[rs->account]);
	if (why != NULL) {
		free(why);
		ch->reason = xasprintf("its account %s is not converted",
		    c->accounts[rs->account].key);
		return;
	}
	if (r == NEAR)
		mbsyncrc_note(&ch->notes, "the IMAP store is the Near side "
		    "here, so mbsync's Pull (far to near) is mailsync's push "
		    "(disk to server)");

	ch->maildirpp = ls->subfolders == SF_MAILDIRPP;
	inbox_dflt = strip_slash(ls->inbox ? ls->inbox : "~/Maildir");
	if (ch->maildirpp) {
		ch->root = xstrdup(inbox_dflt);
		if (ls->path)
			mbsyncrc_note(&ch->notes, "MaildirStore %s: Path %s: "
			    "ignored with SubFolders Maildir++ (the Inbox is "
			    "the root)", ls->name, ls->path);
	} else if (ls->path) {
		ch->root = strip_slash(ls->path);
		if (!ends_with_slash(ls->path))
			mbsyncrc_note(&ch->notes, "MaildirStore %s: Path %s "
			    "has no trailing '/': mbsync named folders "
			    "'%sNAME', mailsync keeps them in '%s/NAME'",
			    ls->name, ls->path, ls->path, ch->root);
		if (ls->subfolders == SF_LEGACY)
			mbsyncrc_note(&ch->notes, "MaildirStore %s: SubFolders "
			    "Legacy: a nested folder A/B is kept in A/B, not "
			    "in A/.B", ls->name);
	}

	/* the folders first: a channel written commented out shows them */
	if (ch->patterns.n > 0) {
		for (size_t i = 0; i < ch->patterns.n; i++) {
			const char *p = ch->patterns.v[i];
			struct err pe = { 0 };

			if (pattern_check(p[0] == '!' ? p + 1 : p, &pe) == -1)
				mbsyncrc_note(&ch->notes, "Patterns %s: left "
				    "out, not a valid mailsync pattern: %s", p,
				    pe.msg);
			else
				strv_add(&ch->folders, p);
		}
	} else
		strv_add(&ch->folders, rbox && !is_inbox(rbox) ? rbox :
		    "INBOX");

	if (rs->path && rs->path[0] && (ch->patterns.n > 0 ||
	    (rbox && !is_inbox(rbox)))) {
		ch->reason = xasprintf("its IMAPStore %s has Path %s, a prefix "
		    "of the server's folder names that mailsync cannot "
		    "express", rs->name, rs->path);
		goto out;
	}
	if (ch->patterns.n > 0) {
		if (rbox) {
			ch->reason = xasprintf("':%s:%s' puts a prefix before "
			    "the server's folder names, which mailsync cannot "
			    "express", rs->name, rbox);
			goto out;
		}
		if (ch->root == NULL) {
			ch->reason = xasprintf("its MaildirStore %s has no "
			    "Path", ls->name);
			goto out;
		}
		if (lbox && (ch->maildirpp || !ends_with_slash(lbox))) {
			ch->reason = xasprintf("':%s:%s' puts a prefix before "
			    "the local folder names, which mailsync cannot "
			    "express", ls->name, lbox);
			goto out;
		}
		if (lbox) {
			char *sub = strip_slash(lbox);
			char *root = xasprintf("%s/%s", ch->root, sub);

			free(sub);
			free(ch->root);
			ch->root = root;
		} else if (!ch->maildirpp)
			ch->inbox = xstrdup(inbox_dflt);
	} else {
		const char *rname = rbox ? rbox : "INBOX";
		const char *lname = lbox ? lbox : "INBOX";
		struct err pe = { 0 };

		if (!is_inbox(rname) && strcmp(rname, lname) != 0) {
			ch->reason = xasprintf("the folder is '%s' on the "
			    "server but '%s' on disk, and mailsync keeps "
			    "folder names the same on both sides", rname,
			    lname);
			goto out;
		}
		if (pattern_check(rname, &pe) == -1) {
			ch->reason = xasprintf("'%s' is not a valid mailsync "
			    "folder name: %s", rname, pe.msg);
			goto out;
		}
		if (ch->root == NULL) {
			if (!is_inbox(rname) || !is_inbox(lname)) {
				ch->reason = xasprintf("its MaildirStore %s "
				    "has no Path", ls->name);
				goto out;
			}
			ch->root = parent_dir(inbox_dflt);
		}
		/* only the INBOX can live apart from the other folders */
		if (is_inbox(rname) && !is_inbox(lname))
			ch->inbox = local_path(ls, ch->root, lname);
		else if (is_inbox(rname) && !ch->maildirpp)
			ch->inbox = xstrdup(inbox_dflt);
	}
	if (!ch->maildirpp && ls->inbox == NULL && ch->inbox &&
	    strcmp(ch->inbox, inbox_dflt) == 0)
		mbsyncrc_note(&ch->notes,
		    "MaildirStore %s has no Inbox: mbsync's default ~/Maildir",
		    ls->name);
	if (ch->inbox) {
		char *dflt = xasprintf("%s/INBOX", ch->root);

		if (strcmp(ch->inbox, ch->maildirpp ? ch->root : dflt) == 0) {
			free(ch->inbox);
			ch->inbox = NULL;
		}
		free(dflt);
	}
out:
	free(inbox_dflt);
}

/* ---- names ---- */

/* Channel and group names go into paths and CHANNEL:FOLDER selectors. */
static char *
safe_name(const char *name)
{
	char *s = xstrdup(name[0] ? name : "unnamed");

	for (char *p = s; *p; p++)
		if (*p == '/' || *p == ':' || *p == ',' ||
		    (unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '-';
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		free(s);
		s = xstrdup("dot");
	}
	return s;
}

static bool
key_taken(const struct mb_conv *c, const char *key, bool accounts)
{
	if (accounts) {
		for (size_t i = 0; i < c->naccounts; i++)
			if (c->accounts[i].key &&
			    strcmp(c->accounts[i].key, key) == 0)
				return true;
		return false;
	}
	for (size_t i = 0; i < c->nchannels; i++)
		if (c->channels[i].key && strcmp(c->channels[i].key, key) == 0)
			return true;
	for (size_t i = 0; i < c->ngroups; i++)
		if (c->groups[i].key && strcmp(c->groups[i].key, key) == 0)
			return true;
	return false;
}

static char *
unique_key(const struct mb_conv *c, const char *base, bool accounts)
{
	char *key = xstrdup(base);

	for (int n = 2; key_taken(c, key, accounts); n++) {
		free(key);
		key = xasprintf("%s-%d", base, n);
	}
	return key;
}

void
mbsyncrc_assign_keys(struct mb_conv *c)
{
	for (size_t i = 0; i < c->naccounts; i++) {
		struct mb_account *a = &c->accounts[i];

		a->key = unique_key(c, a->name[0] ? a->name : "unnamed", true);
		if (strcmp(a->key, a->name) != 0)
			mbsyncrc_note(&a->notes,
			    "renamed from %s: the name is taken", a->name);
	}
	for (size_t i = 0; i < c->nchannels; i++) {
		struct mb_channel *ch = &c->channels[i];
		char *safe = safe_name(ch->name);

		ch->key = unique_key(c, safe, false);
		if (strcmp(ch->key, ch->name) != 0)
			mbsyncrc_note(&ch->notes, "renamed from %s: channel "
			    "names cannot contain '/', ':' or ','", ch->name);
		free(safe);
	}
	for (size_t i = 0; i < c->ngroups; i++) {
		struct mb_group *g = &c->groups[i];
		char *safe = safe_name(g->name), *base;

		/* mbsync keeps groups and channels apart; mailsync does not */
		base = key_taken(c, safe, false) ?
		    xasprintf("%s-group", safe) : xstrdup(safe);
		g->key = unique_key(c, base, false);
		if (strcmp(g->key, g->name) != 0)
			mbsyncrc_note(&g->notes, "group %s renamed: %s",
			    g->name, strcmp(safe, g->name) != 0 ?
			    "group names cannot contain '/', ':' or ','" :
			    "a channel has that name");
		free(base);
		free(safe);
	}
}

int
mbsyncrc_convert(const char *path, FILE *out, struct err *e)
{
	struct mb_conv c = { 0 };
	struct buf text = { 0 };
	FILE *f;
	int rc;

	c.path = path;
	c.e = e;
	mbsyncrc_chopts_init(&c.global);
	if ((f = fopen(path, "r")) == NULL)
		return err_sys(e, ERR_CONFIG, "cannot read %s", path);
	rc = mbsyncrc_parse_file(&c, f);
	fclose(f);
	if (rc == 0) {
		mbsyncrc_render(&c, &text);
		if (text.len > 0 && (fwrite(text.data, 1, text.len, out) !=
		    text.len || fflush(out) != 0))
			rc = err_sys(e, ERR_FAIL, "writing the configuration "
			    "failed");
	}
	buf_free(&text);
	mbsyncrc_conv_free(&c);
	return rc;
}
