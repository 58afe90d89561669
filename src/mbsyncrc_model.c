/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mbsync's sections and options read into accounts, stores, channels and
 * groups. */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mbsyncrc_priv.h"
#include "util.h"

enum mb_section { SEC_NONE, SEC_ACCOUNT, SEC_IMAPSTORE, SEC_MAILDIRSTORE,
	SEC_CHANNEL, SEC_GROUP };

static int
parse_sync(struct mb_conv *c, int line, const struct strv *a,
    struct mb_chopts *o)
{
	static const struct {
		const char *word;
		unsigned op;
	} types[] = {
		{ "New", OP_NEW }, { "Old", OP_OLD }, { "Upgrade", OP_UPGRADE },
		{ "ReNew", OP_UPGRADE }, { "Gone", OP_GONE },
		{ "Delete", OP_GONE }, { "Flags", OP_FLAGS },
	};

	if (mbsyncrc_need_value(c, line, a) == -1)
		return -1;
	for (size_t i = 1; i < a->n; i++) {
		const char *v = a->v[i];
		bool known = false;

		if (is_word(v, "Pull"))
			o->cops |= XOP_PULL;
		else if (is_word(v, "Push"))
			o->cops |= XOP_PUSH;
		else if (is_word(v, "All") || is_word(v, "Full"))
			o->cops |= XOP_PULL | XOP_PUSH;
		else if (is_word(v, "None") || is_word(v, "Noop"))
			;
		else {
			for (size_t t = 0; t < sizeof(types) / sizeof(*types);
			    t++) {
				const char *w = types[t].word;

				if (is_word(v, w))
					o->cops |= types[t].op;
				else if (strncasecmp(v, "Pull", 4) == 0 &&
				    is_word(v + 4, w))
					o->ops[NEAR] |= types[t].op;
				else if (strncasecmp(v, "Push", 4) == 0 &&
				    is_word(v + 4, w))
					o->ops[FAR] |= types[t].op;
				else
					continue;
				known = true;
			}
			if (!known)
				return mbsyncrc_bad(c, line,
				    "invalid Sync arg '%s'", v);
		}
	}
	o->have_sync = true;
	free(o->sync_text);
	o->sync_text = mbsyncrc_join_args(a, 1);
	return 0;
}

/* The operations per target side, as mbsync's merge_ops() combines them:
 * a class of words not given means all of that class. */
void
mbsyncrc_sync_ops(const struct mb_chopts *o, unsigned ops[2])
{
	unsigned cops = o->cops;

	ops[FAR] = o->ops[FAR];
	ops[NEAR] = o->ops[NEAR];
	if ((ops[FAR] | ops[NEAR]) & OP_ALL) {
		ops[FAR] |= cops & OP_ALL;
		ops[NEAR] |= cops & OP_ALL;
		if (cops & XOP_PULL)
			ops[NEAR] |= OP_ALL;
		if (cops & XOP_PUSH)
			ops[FAR] |= OP_ALL;
	} else if (cops & (OP_ALL | XOP_PULL | XOP_PUSH)) {
		unsigned types = cops & OP_ALL ? cops & OP_ALL : OP_ALL;
		unsigned dirs = cops & (XOP_PULL | XOP_PUSH) ?
		    cops & (XOP_PULL | XOP_PUSH) : XOP_PULL | XOP_PUSH;

		if (dirs & XOP_PULL)
			ops[NEAR] |= types;
		if (dirs & XOP_PUSH)
			ops[FAR] |= types;
	}
}

/* 1: a channel option, 0: not one, -1: error. */
static int
parse_chopt(struct mb_conv *c, int line, const struct strv *a,
    struct mb_chopts *o)
{
	const char *k = a->v[0], *v;
	bool flag;
	long n;

	if (is_word(k, "Sync"))
		return parse_sync(c, line, a, o) == -1 ? -1 : 1;
	if (is_word(k, "Create")) {
		o->have_create = true;
		return mbsyncrc_get_sides(c, line, a, &o->create) == -1 ?
		    -1 : 1;
	}
	if (is_word(k, "Remove")) {
		o->have_remove = true;
		return mbsyncrc_get_sides(c, line, a, &o->remove) == -1 ?
		    -1 : 1;
	}
	if (is_word(k, "Expunge")) {
		o->have_expunge = true;
		return mbsyncrc_get_sides(c, line, a, &o->expunge) == -1 ?
		    -1 : 1;
	}
	if (is_word(k, "ExpungeSolo")) {
		unsigned sides = 0;

		if (mbsyncrc_get_sides(c, line, a, &sides) == -1)
			return -1;
		if (sides != 0)
			mbsyncrc_note(&o->notes, "ExpungeSolo %s: no "
			    "equivalent; mailsync expunges where 'expunge' "
			    "says", a->v[1]);
		return 1;
	}
	if (is_word(k, "CopyArrivalDate")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			mbsyncrc_note(&o->notes, "CopyArrivalDate no: mailsync "
			    "always keeps the arrival date (IMAP INTERNALDATE, "
			    "file time)");
		return 1;
	}
	if (is_word(k, "MaxMessages")) {
		if (mbsyncrc_get_long(c, line, a, 0, 2147483647L, &n) == -1)
			return -1;
		o->max_messages = n;
		return 1;
	}
	if (is_word(k, "ExpireUnread"))
		return mbsyncrc_get_bool(c, line, a, &flag) == -1 ? -1 : 1;
	if (is_word(k, "ExpireSide"))
		return mbsyncrc_one_value(c, line, a, &v) == -1 ? -1 : 1;
	if (is_word(k, "SyncState")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		free(o->sync_state);
		o->sync_state = xstrdup(v);
		return 1;
	}
	return 0;
}

static void
account_init(struct mb_account *acc)
{
	memset(acc, 0, sizeof(*acc));
	acc->timeout = -1;
}

static void
account_clear(struct mb_account *a)
{
	free(a->name);
	free(a->key);
	free(a->host);
	free(a->user);
	free(a->user_cmd);
	free(a->pass);
	free(a->pass_cmd);
	free(a->tunnel);
	strv_free(&a->auth);
	strv_free(&a->ca_files);
	strv_free(&a->notes);
	account_init(a);
}

static struct mb_account *
account_new(struct mb_conv *c, const char *name, int line, bool in_store)
{
	struct mb_account *acc;

	xgrow(&c->accounts, &c->cap_accounts, c->naccounts + 1,
	    sizeof(*c->accounts));
	acc = &c->accounts[c->naccounts++];
	account_init(acc);
	acc->name = xstrdup(name);
	acc->line = line;
	acc->in_store = in_store;
	return acc;
}

void
mbsyncrc_chopts_init(struct mb_chopts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_messages = -1;
}

static int
find_store(const struct mb_conv *c, const char *name, size_t *out)
{
	for (size_t i = 0; i < c->nstores; i++)
		if (strcmp(c->stores[i].name, name) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static const char *const tls_words[] = {
	[MB_TLS_NONE] = "None", [MB_TLS_STARTTLS] = "STARTTLS",
	[MB_TLS_IMAPS] = "IMAPS",
};

/* 1: an account option, 0: not one, -1: error. */
static int
parse_account_opt(struct mb_conv *c, int line, const struct strv *a,
    struct mb_account *acc)
{
	const char *k = a->v[0], *v;
	bool flag;
	long n;
	char *all;

	if (is_word(k, "Host")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		/* isync 0.x accepted the scheme in the host name */
		if (strncasecmp(v, "imaps:", 6) == 0) {
			v += 6;
			acc->use_imaps = true;
		} else if (strncasecmp(v, "imap:", 5) == 0)
			v += 5;
		while (*v == '/')
			v++;
		free(acc->host);
		acc->host = xstrdup(v);
	} else if (is_word(k, "Port")) {
		if (mbsyncrc_get_long(c, line, a, 1, 65535, &n) == -1)
			return -1;
		acc->port = (int)n;
	} else if (is_word(k, "Timeout")) {
		if (mbsyncrc_get_long(c, line, a, 0, 2147483647L, &n) == -1)
			return -1;
		acc->timeout = n;
	} else if (is_word(k, "User") || is_word(k, "UserCmd") ||
	    is_word(k, "Pass") || is_word(k, "PassCmd") ||
	    is_word(k, "Tunnel")) {
		char **dst = is_word(k, "User") ? &acc->user :
		    is_word(k, "UserCmd") ? &acc->user_cmd :
		    is_word(k, "Pass") ? &acc->pass :
		    is_word(k, "PassCmd") ? &acc->pass_cmd : &acc->tunnel;

		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		free(*dst);
		*dst = xstrdup(v);
	} else if (is_word(k, "UseKeychain")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		acc->keychain = flag;
	} else if (is_word(k, "AuthMechs") || is_word(k, "AuthMech")) {
		if (mbsyncrc_need_value(c, line, a) == -1)
			return -1;
		for (size_t i = 1; i < a->n; i++)
			strv_add(&acc->auth, a->v[i]);
	} else if (is_word(k, "TLSType") || is_word(k, "SSLType")) {
		int t;

		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		for (t = MB_TLS_NONE; t <= MB_TLS_IMAPS; t++)
			if (is_word(v, tls_words[t]))
				break;
		if (t > MB_TLS_IMAPS)
			return mbsyncrc_bad(c, line,
			    "invalid %s '%s' (None, STARTTLS or IMAPS)", k, v);
		acc->tls = (enum mb_tls)t;
	} else if (is_word(k, "CertificateFile")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		strv_add(&acc->ca_files, v);
	} else if (is_word(k, "SystemCertificates")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			mbsyncrc_note(&acc->notes, "SystemCertificates no: "
			    "mailsync also trusts the system's certificates; "
			    "pin the server with cert-fingerprint to trust it "
			    "alone");
	} else if (is_word(k, "UseIMAPS")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		acc->use_imaps = flag;
	} else if (is_word(k, "RequireSSL")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			mbsyncrc_note(&acc->notes, "RequireSSL no: mailsync "
			    "never falls back to an unencrypted connection");
	} else if (is_word(k, "RequireCRAM")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (flag)
			mbsyncrc_note(&acc->notes, "RequireCRAM yes: mailsync "
			    "does not support CRAM-MD5");
	} else if (is_word(k, "PipelineDepth")) {
		if (mbsyncrc_get_long(c, line, a, 1, 2147483647L, &n) == -1)
			return -1;
		mbsyncrc_note(&acc->notes, "PipelineDepth %ld: no equivalent; "
		    "'connections' limits how many connections work at once",
		    n);
	} else if (is_word(k, "TLSVersions") || is_word(k, "SSLVersions") ||
	    is_word(k, "UseSSLv2") || is_word(k, "UseSSLv3") ||
	    is_word(k, "UseTLSv1") || is_word(k, "UseTLSv1.1") ||
	    is_word(k, "UseTLSv1.2") || is_word(k, "CipherString")) {
		if (mbsyncrc_need_value(c, line, a) == -1)
			return -1;
		all = mbsyncrc_join_args(a, 1);
		mbsyncrc_note(&acc->notes, "%s %s: no equivalent; mailsync "
		    "uses OpenSSL's default TLS versions and ciphers", k, all);
		free(all);
	} else if (is_word(k, "ClientCertificate") ||
	    is_word(k, "ClientKey")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		mbsyncrc_note(&acc->notes, "%s %s: no equivalent; mailsync "
		    "does not send client certificates", k, v);
	} else if (is_word(k, "DisableExtension") ||
	    is_word(k, "DisableExtensions")) {
		if (mbsyncrc_need_value(c, line, a) == -1)
			return -1;
		all = mbsyncrc_join_args(a, 1);
		mbsyncrc_note(&acc->notes, "%s %s: no equivalent; mailsync "
		    "cannot turn IMAP extensions off", k, all);
		free(all);
	} else
		return 0;
	return 1;
}

/* Options of both store kinds. 1: handled, 0: not one, -1: error. */
static int
parse_store_opt(struct mb_conv *c, int line, const struct strv *a,
    struct mb_store *st)
{
	const char *k = a->v[0], *v;
	const char *kind = st->imap ? "IMAPStore" : "MaildirStore";
	bool flag;

	if (is_word(k, "Path")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		free(st->path);
		st->path = xstrdup(v);
	} else if (is_word(k, "MaxSize")) {
		if (mbsyncrc_get_size(c, line, a, &st->max_size) == -1)
			return -1;
		st->max_size_set = true;
	} else if (is_word(k, "MapInbox")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		mbsyncrc_note(&st->notes, "%s %s: MapInbox %s: no equivalent; "
		    "INBOX is synced under its own name", kind, st->name, v);
	} else if (is_word(k, "Flatten")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		mbsyncrc_note(&st->notes, "%s %s: Flatten %s: no equivalent; a "
		    "nested folder such as A/B is not stored as 'A%sB' but as "
		    "the layout says", kind, st->name, v, v);
	} else if (is_word(k, "Trash")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		mbsyncrc_note(&st->notes, "%s %s: Trash %s: no equivalent; "
		    "deleted messages are not copied anywhere before they are "
		    "expunged", kind, st->name, v);
	} else if (is_word(k, "TrashNewOnly") ||
	    is_word(k, "TrashRemoteNew")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (flag)
			mbsyncrc_note(&st->notes, "%s %s: %s: no equivalent "
			    "(there is no trash folder)", kind, st->name, k);
	} else
		return 0;
	return 1;
}

static int
parse_imapstore_opt(struct mb_conv *c, int line, const struct strv *a,
    struct mb_store *st)
{
	const char *k = a->v[0], *v;
	struct mb_account *acc, tmp;
	bool flag;
	int rc;

	if ((rc = parse_store_opt(c, line, a, st)) != 0)
		return rc;
	if (is_word(k, "Account")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		if (st->inline_opts)
			goto both;
		for (size_t i = 0; i < c->naccounts; i++)
			if (!c->accounts[i].in_store &&
			    strcmp(c->accounts[i].name, v) == 0) {
				st->account = i;
				st->has_account = true;
				return 1;
			}
		return mbsyncrc_bad(c, line, "unknown IMAP account '%s'", v);
	}
	if (is_word(k, "UseNamespace") || is_word(k, "SubscribedOnly")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (is_word(k, "UseNamespace") && !flag)
			mbsyncrc_note(&st->notes, "IMAPStore %s: UseNamespace "
			    "no: no equivalent; folder names are used as the "
			    "server lists them", st->name);
		if (is_word(k, "SubscribedOnly") && flag)
			mbsyncrc_note(&st->notes, "IMAPStore %s: "
			    "SubscribedOnly yes: no equivalent; every folder "
			    "the server lists is synced, so choose them with "
			    "'folders'", st->name);
		return 1;
	}
	if (is_word(k, "PathDelimiter")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		mbsyncrc_note(&st->notes, "IMAPStore %s: PathDelimiter %s: no "
		    "equivalent; the server's own delimiter is used",
		    st->name, v);
		return 1;
	}
	if (st->inline_opts)
		return parse_account_opt(c, line, a,
		    &c->accounts[st->account]);
	/* the first account option written in the store itself */
	account_init(&tmp);
	rc = parse_account_opt(c, line, a, &tmp);
	if (rc == 1 && st->has_account) {
		account_clear(&tmp);
		goto both;
	}
	if (rc == 1) {
		acc = account_new(c, st->name, st->line, true);
		tmp.name = acc->name;
		tmp.line = acc->line;
		tmp.in_store = true;
		*acc = tmp;
		st->account = c->naccounts - 1;
		st->inline_opts = true;
	} else
		account_clear(&tmp);
	return rc;
both:
	return mbsyncrc_bad(c, line,
	    "IMAPStore '%s' has both Account and account options", st->name);
}

static int
parse_maildirstore_opt(struct mb_conv *c, int line, const struct strv *a,
    struct mb_store *st)
{
	const char *k = a->v[0], *v;
	bool flag;
	int rc;

	if ((rc = parse_store_opt(c, line, a, st)) != 0)
		return rc;
	if (is_word(k, "Inbox")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		free(st->inbox);
		st->inbox = xstrdup(v);
	} else if (is_word(k, "SubFolders")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		if (is_word(v, "Verbatim"))
			st->subfolders = SF_VERBATIM;
		else if (is_word(v, "Maildir++"))
			st->subfolders = SF_MAILDIRPP;
		else if (is_word(v, "Legacy"))
			st->subfolders = SF_LEGACY;
		else
			return mbsyncrc_bad(c, line, "invalid SubFolders style "
			    "'%s' (Verbatim, Maildir++ or Legacy)", v);
	} else if (is_word(k, "AltMap")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (flag)
			mbsyncrc_note(&st->notes, "MaildirStore %s: AltMap "
			    "yes: mbsync's UID database is not read; the first "
			    "run pairs messages by Message-ID", st->name);
	} else if (is_word(k, "InfoDelimiter")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		if (strcmp(v, ":") != 0)
			mbsyncrc_note(&st->notes, "MaildirStore %s: "
			    "InfoDelimiter %s: no equivalent; mailsync uses "
			    "':' as the Maildir specification says", st->name,
			    v);
	} else
		return 0;
	return 1;
}

static int
parse_channel_opt(struct mb_conv *c, int line, const struct strv *a,
    struct mb_channel *ch)
{
	const char *k = a->v[0], *v;
	int side;

	if (is_word(k, "Far") || is_word(k, "Master"))
		side = FAR;
	else if (is_word(k, "Near") || is_word(k, "Slave"))
		side = NEAR;
	else if (is_word(k, "Pattern") || is_word(k, "Patterns")) {
		if (mbsyncrc_need_value(c, line, a) == -1)
			return -1;
		for (size_t i = 1; i < a->n; i++)
			strv_add(&ch->patterns, a->v[i]);
		return 1;
	} else if (is_word(k, "MaxSize")) {
		if (mbsyncrc_get_size(c, line, a, &ch->max_size) == -1)
			return -1;
		ch->max_size_set = true;
		return 1;
	} else
		return parse_chopt(c, line, a, &ch->o);

	if (mbsyncrc_one_value(c, line, a, &v) == -1)
		return -1;
	{
		const char *colon = v[0] == ':' ? strchr(v + 1, ':') : NULL;
		char *name;
		size_t idx;

		if (colon == NULL)
			return mbsyncrc_bad(c, line, "malformed mailbox spec "
			    "'%s' (':store:' or ':store:mailbox')", v);
		name = xstrndup(v + 1, (size_t)(colon - v - 1));
		if (find_store(c, name, &idx) == -1) {
			mbsyncrc_bad(c, line, "unknown store '%s'", name);
			free(name);
			return -1;
		}
		free(name);
		ch->store[side] = idx;
		ch->store_set[side] = true;
		free(ch->box[side]);
		ch->box[side] = colon[1] ? xstrdup(colon + 1) : NULL;
	}
	return 1;
}

static int
parse_group_members(struct mb_group *g, const struct strv *a, size_t from)
{
	for (size_t i = from; i < a->n; i++)
		strv_add(&g->members, a->v[i]);
	return 0;
}

/* A keyword that opens a section wherever it appears (a missing blank line
 * before it is forgiven). */
static enum mb_section
section_word(const char *k, enum mb_section cur)
{
	if (is_word(k, "IMAPAccount"))
		return SEC_ACCOUNT;
	if (is_word(k, "IMAPStore"))
		return SEC_IMAPSTORE;
	if (is_word(k, "MaildirStore"))
		return SEC_MAILDIRSTORE;
	if (is_word(k, "Channel") && cur != SEC_GROUP)
		return SEC_CHANNEL;
	if (is_word(k, "Group"))
		return SEC_GROUP;
	return SEC_NONE;
}

static int
open_section(struct mb_conv *c, int line, const struct strv *a,
    enum mb_section s)
{
	const char *name;

	if (s == SEC_GROUP) {
		struct mb_group *g;

		if (mbsyncrc_need_value(c, line, a) == -1)
			return -1;
		name = a->v[1];
		for (size_t i = 0; i < c->ngroups; i++)
			if (strcmp(c->groups[i].name, name) == 0)
				return mbsyncrc_bad(c, line,
				    "duplicate Group '%s'", name);
		xgrow(&c->groups, &c->cap_groups, c->ngroups + 1,
		    sizeof(*c->groups));
		g = &c->groups[c->ngroups++];
		memset(g, 0, sizeof(*g));
		g->name = xstrdup(name);
		g->line = line;
		return parse_group_members(g, a, 2);
	}
	if (mbsyncrc_one_value(c, line, a, &name) == -1)
		return -1;
	if (s == SEC_ACCOUNT) {
		for (size_t i = 0; i < c->naccounts; i++)
			if (!c->accounts[i].in_store &&
			    strcmp(c->accounts[i].name, name) == 0)
				return mbsyncrc_bad(c, line,
				    "duplicate IMAPAccount '%s'", name);
		account_new(c, name, line, false);
	} else if (s == SEC_IMAPSTORE || s == SEC_MAILDIRSTORE) {
		struct mb_store *st;
		size_t idx;

		if (find_store(c, name, &idx) == 0)
			return mbsyncrc_bad(c, line, "duplicate store '%s'",
			    name);
		xgrow(&c->stores, &c->cap_stores, c->nstores + 1,
		    sizeof(*c->stores));
		st = &c->stores[c->nstores++];
		memset(st, 0, sizeof(*st));
		st->name = xstrdup(name);
		st->line = line;
		st->imap = s == SEC_IMAPSTORE;
	} else {
		struct mb_channel *ch;

		for (size_t i = 0; i < c->nchannels; i++)
			if (strcmp(c->channels[i].name, name) == 0)
				return mbsyncrc_bad(c, line,
				    "duplicate Channel '%s'", name);
		xgrow(&c->channels, &c->cap_channels, c->nchannels + 1,
		    sizeof(*c->channels));
		ch = &c->channels[c->nchannels++];
		memset(ch, 0, sizeof(*ch));
		ch->name = xstrdup(name);
		ch->line = line;
		mbsyncrc_chopts_init(&ch->o);
	}
	return 0;
}

static int
close_section(struct mb_conv *c, enum mb_section s)
{
	if (s == SEC_IMAPSTORE) {
		struct mb_store *st = &c->stores[c->nstores - 1];

		if (!st->has_account && !st->inline_opts)
			return mbsyncrc_bad(c, st->line,
			    "IMAPStore '%s' has neither Account nor Host",
			    st->name);
	} else if (s == SEC_CHANNEL) {
		struct mb_channel *ch = &c->channels[c->nchannels - 1];

		if (!ch->store_set[FAR])
			return mbsyncrc_bad(c, ch->line,
			    "Channel '%s' has no Far (Master) store", ch->name);
		if (!ch->store_set[NEAR])
			return mbsyncrc_bad(c, ch->line,
			    "Channel '%s' has no Near (Slave) store", ch->name);
	}
	return 0;
}

static struct strv *
section_notes(struct mb_conv *c, enum mb_section s)
{
	switch (s) {
	case SEC_ACCOUNT:
		return &c->accounts[c->naccounts - 1].notes;
	case SEC_IMAPSTORE:
	case SEC_MAILDIRSTORE:
		return &c->stores[c->nstores - 1].notes;
	case SEC_CHANNEL:
		return &c->channels[c->nchannels - 1].notes;
	case SEC_GROUP:
		return &c->groups[c->ngroups - 1].notes;
	case SEC_NONE:
		break;
	}
	return &c->global_notes;
}

/* Outside any section: global options. */
static int
parse_global(struct mb_conv *c, int line, const struct strv *a)
{
	const char *k = a->v[0], *v;
	uint64_t size;
	bool flag;
	int rc;

	if (is_word(k, "FSync")) {
		if (mbsyncrc_get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			mbsyncrc_note(&c->global_notes, "FSync no: mailsync "
			    "always flushes mail and state to disk");
		return 0;
	}
	if (is_word(k, "FieldDelimiter")) {
		if (mbsyncrc_one_value(c, line, a, &v) == -1)
			return -1;
		if (strcmp(v, ":") != 0)
			mbsyncrc_note(&c->global_notes, "FieldDelimiter %s: no "
			    "equivalent; Maildir file names use ':'", v);
		return 0;
	}
	if (is_word(k, "BufferLimit")) {
		if (mbsyncrc_get_size(c, line, a, &size) == -1)
			return -1;
		mbsyncrc_note(&c->global_notes, "BufferLimit %s: no equivalent",
		    a->v[1]);
		return 0;
	}
	rc = parse_chopt(c, line, a, &c->global);
	if (rc == 0)
		return mbsyncrc_bad(c, line, "unknown section keyword '%s'", k);
	return rc == -1 ? -1 : 0;
}

int
mbsyncrc_parse_file(struct mb_conv *c, FILE *f)
{
	enum mb_section cur = SEC_NONE;
	char *text = NULL;
	size_t cap = 0;
	ssize_t len;
	int line = 0, rc = 0;

	while (rc == 0 && (len = getline(&text, &cap, f)) != -1) {
		struct strv a = { 0 };
		enum mb_section s;
		bool comment;
		const char *p = text;

		line++;
		while (*p && isspace((unsigned char)*p))
			p++;
		comment = *p == '#';
		if (mbsyncrc_split_line(c, line, text, &a) == -1) {
			strv_free(&a);
			rc = -1;
			break;
		}
		if (a.n == 0) {
			/* a blank line ends a section; a comment does not */
			if (!comment && cur != SEC_NONE) {
				rc = close_section(c, cur);
				cur = SEC_NONE;
			}
			strv_free(&a);
			continue;
		}
		s = section_word(a.v[0], cur);
		if (s != SEC_NONE) {
			if (cur != SEC_NONE && close_section(c, cur) == -1)
				rc = -1;
			else if (open_section(c, line, &a, s) == -1)
				rc = -1;
			cur = s;
		} else if (cur == SEC_NONE)
			rc = parse_global(c, line, &a);
		else {
			int r;

			switch (cur) {
			case SEC_ACCOUNT:
				r = parse_account_opt(c, line, &a,
				    &c->accounts[c->naccounts - 1]);
				break;
			case SEC_IMAPSTORE:
				r = parse_imapstore_opt(c, line, &a,
				    &c->stores[c->nstores - 1]);
				break;
			case SEC_MAILDIRSTORE:
				r = parse_maildirstore_opt(c, line, &a,
				    &c->stores[c->nstores - 1]);
				break;
			case SEC_CHANNEL:
				r = parse_channel_opt(c, line, &a,
				    &c->channels[c->nchannels - 1]);
				break;
			default:
				r = 0;
				if (is_word(a.v[0], "Channel") ||
				    is_word(a.v[0], "Channels")) {
					r = mbsyncrc_need_value(c, line,
					    &a) == -1 ? -1 : 1;
					if (r == 1)
						parse_group_members(
						    &c->groups[c->ngroups - 1],
						    &a, 1);
				}
				break;
			}
			if (r == 0) {
				char *all = mbsyncrc_join_args(&a, 1);
				bool st = cur == SEC_IMAPSTORE ||
				    cur == SEC_MAILDIRSTORE;

				/* store notes end up in channels: say whose */
				mbsyncrc_note(section_notes(c, cur),
				    "%s%s%s%s %s: not an mbsync option known "
				    "to this converter; ignored", st ?
				    (cur == SEC_IMAPSTORE ? "IMAPStore " :
				    "MaildirStore ") : "", st ?
				    c->stores[c->nstores - 1].name : "", st ?
				    ": " : "", a.v[0], all);
				free(all);
			}
			rc = r == -1 ? -1 : 0;
		}
		strv_free(&a);
	}
	free(text);
	if (rc == 0 && ferror(f))
		rc = err_sys(c->e, ERR_CONFIG, "cannot read %s", c->path);
	if (rc == 0 && cur != SEC_NONE)
		rc = close_section(c, cur);
	return rc;
}

/* ---- lifecycle ---- */

static void
chopts_free(struct mb_chopts *o)
{
	free(o->sync_text);
	free(o->sync_state);
	strv_free(&o->notes);
}

void
mbsyncrc_conv_free(struct mb_conv *c)
{
	for (size_t i = 0; i < c->naccounts; i++)
		account_clear(&c->accounts[i]);
	free(c->accounts);
	for (size_t i = 0; i < c->nstores; i++) {
		struct mb_store *st = &c->stores[i];

		free(st->name);
		free(st->path);
		free(st->inbox);
		strv_free(&st->notes);
	}
	free(c->stores);
	for (size_t i = 0; i < c->nchannels; i++) {
		struct mb_channel *ch = &c->channels[i];

		free(ch->name);
		free(ch->key);
		free(ch->box[FAR]);
		free(ch->box[NEAR]);
		strv_free(&ch->patterns);
		chopts_free(&ch->o);
		free(ch->reason);
		free(ch->root);
		free(ch->inbox);
		strv_free(&ch->folders);
		strv_free(&ch->notes);
	}
	free(c->channels);
	for (size_t i = 0; i < c->ngroups; i++) {
		struct mb_group *g = &c->groups[i];

		free(g->name);
		free(g->key);
		strv_free(&g->members);
		strv_free(&g->notes);
	}
	free(c->groups);
	chopts_free(&c->global);
	strv_free(&c->global_notes);
}
