/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reads an isync/mbsync configuration and writes the mailsync YAML for it. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "mbsyncrc.h"
#include "pattern.h"
#include "util.h"

/* The two sides of an mbsync channel (formerly Master and Slave). */
enum { FAR = 0, NEAR = 1 };

/* mbsync's sync operations, kept per target side, and its direction words */
enum {
	OP_NEW = 1,
	OP_OLD = 2,
	OP_UPGRADE = 4,		/* ReNew before isync 1.5 */
	OP_GONE = 8,		/* Delete before isync 1.5 */
	OP_FLAGS = 16,
	OP_ALL = 31,
	XOP_PULL = 32,
	XOP_PUSH = 64,
};

enum mb_tls { MB_TLS_UNSET, MB_TLS_NONE, MB_TLS_STARTTLS, MB_TLS_IMAPS };
enum mb_subfolders { SF_UNSET, SF_VERBATIM, SF_MAILDIRPP, SF_LEGACY };
enum mb_section { SEC_NONE, SEC_ACCOUNT, SEC_IMAPSTORE, SEC_MAILDIRSTORE,
	SEC_CHANNEL, SEC_GROUP };

struct mb_account {
	char *name;
	char *key;		/* YAML key, unique among accounts */
	int line;
	bool in_store;		/* options written inside an IMAPStore */
	char *host, *user, *user_cmd, *pass, *pass_cmd, *tunnel;
	bool keychain, use_imaps;
	enum mb_tls tls;
	int port;		/* 0: not given */
	long timeout;		/* -1: not given */
	struct strv auth;
	struct strv ca_files;
	struct strv notes;
};

struct mb_store {
	char *name;
	int line;
	bool imap;
	bool has_account;	/* "Account NAME" */
	bool inline_opts;	/* account options in the store itself */
	size_t account;		/* IMAP stores: index into accounts */
	char *path, *inbox;
	enum mb_subfolders subfolders;
	bool max_size_set;
	uint64_t max_size;
	struct strv notes;	/* go to the channels that use the store */
};

/* Channel options, which may also be given before any section. */
struct mb_chopts {
	bool have_sync;
	unsigned cops;		/* plain Sync words */
	unsigned ops[2];	/* PullX/PushX words, by target side */
	char *sync_text;
	bool have_create, have_remove, have_expunge;
	unsigned create, remove, expunge;	/* 1 << FAR | 1 << NEAR */
	long max_messages;	/* -1: not given */
	char *sync_state;
	struct strv notes;
};

struct mb_channel {
	char *name;
	char *key;
	int line;
	size_t store[2];
	bool store_set[2];
	char *box[2];		/* after ":store:", NULL when empty */
	struct strv patterns;
	bool max_size_set;
	uint64_t max_size;
	struct mb_chopts o;
	/* the conversion */
	char *reason;		/* why it is written commented out */
	int remote;		/* FAR or NEAR: the IMAP side */
	char *root, *inbox;
	bool maildirpp;
	struct strv folders;
	struct strv notes;
};

struct mb_group {
	char *name;
	char *key;
	int line;
	struct strv members;
	struct strv notes;
};

struct mb_conv {
	const char *path;
	struct err *e;
	struct mb_account *accounts;
	size_t naccounts, cap_accounts;
	struct mb_store *stores;
	size_t nstores, cap_stores;
	struct mb_channel *channels;
	size_t nchannels, cap_channels;
	struct mb_group *groups;
	size_t ngroups, cap_groups;
	struct mb_chopts global;
	struct strv global_notes;
};

/* ---- small helpers ---- */

static int
bad(struct mb_conv *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
bad(struct mb_conv *c, int line, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(c->e, ERR_CONFIG, "%s:%d: %s", c->path, line, msg);
}

/* Comments must stay one line each and readable whatever the input held. */
static void
note(struct strv *notes, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
note(struct strv *notes, const char *fmt, ...)
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

static bool
is_word(const char *s, const char *word)
{
	return strcasecmp(s, word) == 0;
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

/* The values of a keyword line, joined for comments. */
static char *
join_args(const struct strv *a, size_t from)
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
is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (is_word(host, "localhost") || is_word(host, "localhost."))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	return false;
}

/* 'text' for /bin/sh, whatever text holds. */
static void
sh_quote(struct buf *b, const char *s)
{
	buf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '\'');
}

/* ---- the mbsync lexer ---- */

/*
 * Split a line as mbsync's get_arg() does: blanks separate arguments,
 * double quotes group, a backslash makes the next character literal, and
 * an argument that starts with '#' starts a comment.
 */
static int
split_line(struct mb_conv *c, int line, const char *s, struct strv *out)
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
			return bad(c, line, escaped ?
			    "unterminated escape sequence" :
			    "missing closing quote");
		}
		strv_add(out, arg.data);
	}
	buf_free(&arg);
	return 0;
}

/* ---- typed values ---- */

static int
need_value(struct mb_conv *c, int line, const struct strv *a)
{
	if (a->n < 2)
		return bad(c, line, "missing value for '%s'", a->v[0]);
	return 0;
}

static int
one_value(struct mb_conv *c, int line, const struct strv *a, const char **out)
{
	if (need_value(c, line, a) == -1)
		return -1;
	if (a->n > 2)
		return bad(c, line, "excess token '%s' after '%s %s' (quote "
		    "values that contain spaces)", a->v[2], a->v[0], a->v[1]);
	*out = a->v[1];
	return 0;
}

static int
get_bool(struct mb_conv *c, int line, const struct strv *a, bool *out)
{
	const char *v;

	if (one_value(c, line, a, &v) == -1)
		return -1;
	if (is_word(v, "yes") || is_word(v, "true") || is_word(v, "on") ||
	    strcmp(v, "1") == 0)
		*out = true;
	else if (is_word(v, "no") || is_word(v, "false") || is_word(v, "off") ||
	    strcmp(v, "0") == 0)
		*out = false;
	else
		return bad(c, line, "invalid boolean value '%s' for '%s'", v,
		    a->v[0]);
	return 0;
}

static int
get_long(struct mb_conv *c, int line, const struct strv *a, long lo, long hi,
    long *out)
{
	const char *v;
	char *end;
	long n;

	if (one_value(c, line, a, &v) == -1)
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi)
		return bad(c, line, "'%s' must be an integer between %ld and "
		    "%ld, not '%s'", a->v[0], lo, hi, v);
	*out = n;
	return 0;
}

/* mbsync sizes: a number, then optionally k or m, then optionally b. */
static int
get_size(struct mb_conv *c, int line, const struct strv *a, uint64_t *out)
{
	const char *v, *p;
	uint64_t n = 0;

	if (one_value(c, line, a, &v) == -1)
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
	return bad(c, line, "invalid size '%s' for '%s'", v, a->v[0]);
}

/* Create, Remove, Expunge: None, Far, Near, Both (Master, Slave of old). */
static int
get_sides(struct mb_conv *c, int line, const struct strv *a, unsigned *out)
{
	if (need_value(c, line, a) == -1)
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
			return bad(c, line, "invalid %s arg '%s'", a->v[0], v);
	}
	return 0;
}

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

	if (need_value(c, line, a) == -1)
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
				return bad(c, line, "invalid Sync arg '%s'", v);
		}
	}
	o->have_sync = true;
	free(o->sync_text);
	o->sync_text = join_args(a, 1);
	return 0;
}

/* The operations per target side, as mbsync's merge_ops() combines them:
 * a class of words not given means all of that class. */
static void
sync_ops(const struct mb_chopts *o, unsigned ops[2])
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
		return get_sides(c, line, a, &o->create) == -1 ? -1 : 1;
	}
	if (is_word(k, "Remove")) {
		o->have_remove = true;
		return get_sides(c, line, a, &o->remove) == -1 ? -1 : 1;
	}
	if (is_word(k, "Expunge")) {
		o->have_expunge = true;
		return get_sides(c, line, a, &o->expunge) == -1 ? -1 : 1;
	}
	if (is_word(k, "ExpungeSolo")) {
		unsigned sides = 0;

		if (get_sides(c, line, a, &sides) == -1)
			return -1;
		if (sides != 0)
			note(&o->notes, "ExpungeSolo %s: no equivalent; "
			    "mailsync expunges where 'expunge' says",
			    a->v[1]);
		return 1;
	}
	if (is_word(k, "CopyArrivalDate")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			note(&o->notes, "CopyArrivalDate no: mailsync always "
			    "keeps the arrival date (IMAP INTERNALDATE, file "
			    "time)");
		return 1;
	}
	if (is_word(k, "MaxMessages")) {
		if (get_long(c, line, a, 0, 2147483647L, &n) == -1)
			return -1;
		o->max_messages = n;
		return 1;
	}
	if (is_word(k, "ExpireUnread"))
		return get_bool(c, line, a, &flag) == -1 ? -1 : 1;
	if (is_word(k, "ExpireSide"))
		return one_value(c, line, a, &v) == -1 ? -1 : 1;
	if (is_word(k, "SyncState")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		free(o->sync_state);
		o->sync_state = xstrdup(v);
		return 1;
	}
	return 0;
}

/* ---- sections ---- */

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

static void
chopts_init(struct mb_chopts *o)
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
		if (one_value(c, line, a, &v) == -1)
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
		if (get_long(c, line, a, 1, 65535, &n) == -1)
			return -1;
		acc->port = (int)n;
	} else if (is_word(k, "Timeout")) {
		if (get_long(c, line, a, 0, 2147483647L, &n) == -1)
			return -1;
		acc->timeout = n;
	} else if (is_word(k, "User") || is_word(k, "UserCmd") ||
	    is_word(k, "Pass") || is_word(k, "PassCmd") ||
	    is_word(k, "Tunnel")) {
		char **dst = is_word(k, "User") ? &acc->user :
		    is_word(k, "UserCmd") ? &acc->user_cmd :
		    is_word(k, "Pass") ? &acc->pass :
		    is_word(k, "PassCmd") ? &acc->pass_cmd : &acc->tunnel;

		if (one_value(c, line, a, &v) == -1)
			return -1;
		free(*dst);
		*dst = xstrdup(v);
	} else if (is_word(k, "UseKeychain")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		acc->keychain = flag;
	} else if (is_word(k, "AuthMechs") || is_word(k, "AuthMech")) {
		if (need_value(c, line, a) == -1)
			return -1;
		for (size_t i = 1; i < a->n; i++)
			strv_add(&acc->auth, a->v[i]);
	} else if (is_word(k, "TLSType") || is_word(k, "SSLType")) {
		int t;

		if (one_value(c, line, a, &v) == -1)
			return -1;
		for (t = MB_TLS_NONE; t <= MB_TLS_IMAPS; t++)
			if (is_word(v, tls_words[t]))
				break;
		if (t > MB_TLS_IMAPS)
			return bad(c, line, "invalid %s '%s' (None, STARTTLS "
			    "or IMAPS)", k, v);
		acc->tls = (enum mb_tls)t;
	} else if (is_word(k, "CertificateFile")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		strv_add(&acc->ca_files, v);
	} else if (is_word(k, "SystemCertificates")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			note(&acc->notes, "SystemCertificates no: mailsync "
			    "also trusts the system's certificates; pin the "
			    "server with cert-fingerprint to trust it alone");
	} else if (is_word(k, "UseIMAPS")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		acc->use_imaps = flag;
	} else if (is_word(k, "RequireSSL")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			note(&acc->notes, "RequireSSL no: mailsync never falls "
			    "back to an unencrypted connection");
	} else if (is_word(k, "RequireCRAM")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (flag)
			note(&acc->notes, "RequireCRAM yes: mailsync does not "
			    "support CRAM-MD5");
	} else if (is_word(k, "PipelineDepth")) {
		if (get_long(c, line, a, 1, 2147483647L, &n) == -1)
			return -1;
		note(&acc->notes, "PipelineDepth %ld: no equivalent; "
		    "'connections' limits how many connections work at once",
		    n);
	} else if (is_word(k, "TLSVersions") || is_word(k, "SSLVersions") ||
	    is_word(k, "UseSSLv2") || is_word(k, "UseSSLv3") ||
	    is_word(k, "UseTLSv1") || is_word(k, "UseTLSv1.1") ||
	    is_word(k, "UseTLSv1.2") || is_word(k, "CipherString")) {
		if (need_value(c, line, a) == -1)
			return -1;
		all = join_args(a, 1);
		note(&acc->notes, "%s %s: no equivalent; mailsync uses "
		    "OpenSSL's default TLS versions and ciphers", k, all);
		free(all);
	} else if (is_word(k, "ClientCertificate") ||
	    is_word(k, "ClientKey")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		note(&acc->notes, "%s %s: no equivalent; mailsync does not "
		    "send client certificates", k, v);
	} else if (is_word(k, "DisableExtension") ||
	    is_word(k, "DisableExtensions")) {
		if (need_value(c, line, a) == -1)
			return -1;
		all = join_args(a, 1);
		note(&acc->notes, "%s %s: no equivalent; mailsync cannot "
		    "turn IMAP extensions off", k, all);
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
		if (one_value(c, line, a, &v) == -1)
			return -1;
		free(st->path);
		st->path = xstrdup(v);
	} else if (is_word(k, "MaxSize")) {
		if (get_size(c, line, a, &st->max_size) == -1)
			return -1;
		st->max_size_set = true;
	} else if (is_word(k, "MapInbox")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		note(&st->notes, "%s %s: MapInbox %s: no equivalent; INBOX "
		    "is synced under its own name", kind, st->name, v);
	} else if (is_word(k, "Flatten")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		note(&st->notes, "%s %s: Flatten %s: no equivalent; a "
		    "nested folder such as A/B is not stored as 'A%sB' but as "
		    "the layout says", kind, st->name, v, v);
	} else if (is_word(k, "Trash")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		note(&st->notes, "%s %s: Trash %s: no equivalent; deleted "
		    "messages are not copied anywhere before they are "
		    "expunged", kind, st->name, v);
	} else if (is_word(k, "TrashNewOnly") ||
	    is_word(k, "TrashRemoteNew")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (flag)
			note(&st->notes, "%s %s: %s: no equivalent (there is "
			    "no trash folder)", kind, st->name, k);
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
		if (one_value(c, line, a, &v) == -1)
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
		return bad(c, line, "unknown IMAP account '%s'", v);
	}
	if (is_word(k, "UseNamespace") || is_word(k, "SubscribedOnly")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (is_word(k, "UseNamespace") && !flag)
			note(&st->notes, "IMAPStore %s: UseNamespace no: no "
			    "equivalent; folder names are used as the server "
			    "lists them", st->name);
		if (is_word(k, "SubscribedOnly") && flag)
			note(&st->notes, "IMAPStore %s: SubscribedOnly yes: no "
			    "equivalent; every folder the server lists is "
			    "synced, so choose them with 'folders'", st->name);
		return 1;
	}
	if (is_word(k, "PathDelimiter")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		note(&st->notes, "IMAPStore %s: PathDelimiter %s: no "
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
	return bad(c, line, "IMAPStore '%s' has both Account and account "
	    "options", st->name);
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
		if (one_value(c, line, a, &v) == -1)
			return -1;
		free(st->inbox);
		st->inbox = xstrdup(v);
	} else if (is_word(k, "SubFolders")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		if (is_word(v, "Verbatim"))
			st->subfolders = SF_VERBATIM;
		else if (is_word(v, "Maildir++"))
			st->subfolders = SF_MAILDIRPP;
		else if (is_word(v, "Legacy"))
			st->subfolders = SF_LEGACY;
		else
			return bad(c, line, "invalid SubFolders style '%s' "
			    "(Verbatim, Maildir++ or Legacy)", v);
	} else if (is_word(k, "AltMap")) {
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (flag)
			note(&st->notes, "MaildirStore %s: AltMap yes: mbsync's "
			    "UID database is not read; the first run pairs "
			    "messages by Message-ID", st->name);
	} else if (is_word(k, "InfoDelimiter")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		if (strcmp(v, ":") != 0)
			note(&st->notes, "MaildirStore %s: InfoDelimiter %s: no "
			    "equivalent; mailsync uses ':' as the Maildir "
			    "specification says", st->name, v);
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
		if (need_value(c, line, a) == -1)
			return -1;
		for (size_t i = 1; i < a->n; i++)
			strv_add(&ch->patterns, a->v[i]);
		return 1;
	} else if (is_word(k, "MaxSize")) {
		if (get_size(c, line, a, &ch->max_size) == -1)
			return -1;
		ch->max_size_set = true;
		return 1;
	} else
		return parse_chopt(c, line, a, &ch->o);

	if (one_value(c, line, a, &v) == -1)
		return -1;
	{
		const char *colon = v[0] == ':' ? strchr(v + 1, ':') : NULL;
		char *name;
		size_t idx;

		if (colon == NULL)
			return bad(c, line, "malformed mailbox spec '%s' "
			    "(':store:' or ':store:mailbox')", v);
		name = xstrndup(v + 1, (size_t)(colon - v - 1));
		if (find_store(c, name, &idx) == -1) {
			bad(c, line, "unknown store '%s'", name);
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

		if (need_value(c, line, a) == -1)
			return -1;
		name = a->v[1];
		for (size_t i = 0; i < c->ngroups; i++)
			if (strcmp(c->groups[i].name, name) == 0)
				return bad(c, line, "duplicate Group '%s'",
				    name);
		xgrow(&c->groups, &c->cap_groups, c->ngroups + 1,
		    sizeof(*c->groups));
		g = &c->groups[c->ngroups++];
		memset(g, 0, sizeof(*g));
		g->name = xstrdup(name);
		g->line = line;
		return parse_group_members(g, a, 2);
	}
	if (one_value(c, line, a, &name) == -1)
		return -1;
	if (s == SEC_ACCOUNT) {
		for (size_t i = 0; i < c->naccounts; i++)
			if (!c->accounts[i].in_store &&
			    strcmp(c->accounts[i].name, name) == 0)
				return bad(c, line, "duplicate IMAPAccount "
				    "'%s'", name);
		account_new(c, name, line, false);
	} else if (s == SEC_IMAPSTORE || s == SEC_MAILDIRSTORE) {
		struct mb_store *st;
		size_t idx;

		if (find_store(c, name, &idx) == 0)
			return bad(c, line, "duplicate store '%s'", name);
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
				return bad(c, line, "duplicate Channel '%s'",
				    name);
		xgrow(&c->channels, &c->cap_channels, c->nchannels + 1,
		    sizeof(*c->channels));
		ch = &c->channels[c->nchannels++];
		memset(ch, 0, sizeof(*ch));
		ch->name = xstrdup(name);
		ch->line = line;
		chopts_init(&ch->o);
	}
	return 0;
}

static int
close_section(struct mb_conv *c, enum mb_section s)
{
	if (s == SEC_IMAPSTORE) {
		struct mb_store *st = &c->stores[c->nstores - 1];

		if (!st->has_account && !st->inline_opts)
			return bad(c, st->line, "IMAPStore '%s' has neither "
			    "Account nor Host", st->name);
	} else if (s == SEC_CHANNEL) {
		struct mb_channel *ch = &c->channels[c->nchannels - 1];

		if (!ch->store_set[FAR])
			return bad(c, ch->line, "Channel '%s' has no Far "
			    "(Master) store", ch->name);
		if (!ch->store_set[NEAR])
			return bad(c, ch->line, "Channel '%s' has no Near "
			    "(Slave) store", ch->name);
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
		if (get_bool(c, line, a, &flag) == -1)
			return -1;
		if (!flag)
			note(&c->global_notes, "FSync no: mailsync always "
			    "flushes mail and state to disk");
		return 0;
	}
	if (is_word(k, "FieldDelimiter")) {
		if (one_value(c, line, a, &v) == -1)
			return -1;
		if (strcmp(v, ":") != 0)
			note(&c->global_notes, "FieldDelimiter %s: no "
			    "equivalent; Maildir file names use ':'", v);
		return 0;
	}
	if (is_word(k, "BufferLimit")) {
		if (get_size(c, line, a, &size) == -1)
			return -1;
		note(&c->global_notes, "BufferLimit %s: no equivalent", a->v[1]);
		return 0;
	}
	rc = parse_chopt(c, line, a, &c->global);
	if (rc == 0)
		return bad(c, line, "unknown section keyword '%s'", k);
	return rc == -1 ? -1 : 0;
}

static int
parse_file(struct mb_conv *c, FILE *f)
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
		if (split_line(c, line, text, &a) == -1) {
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
					r = need_value(c, line, &a) == -1 ?
					    -1 : 1;
					if (r == 1)
						parse_group_members(
						    &c->groups[c->ngroups - 1],
						    &a, 1);
				}
				break;
			}
			if (r == 0) {
				char *all = join_args(&a, 1);
				bool st = cur == SEC_IMAPSTORE ||
				    cur == SEC_MAILDIRSTORE;

				/* store notes end up in channels: say whose */
				note(section_notes(c, cur), "%s%s%s%s %s: not "
				    "an mbsync option known to this converter; "
				    "ignored", st ? (cur == SEC_IMAPSTORE ?
				    "IMAPStore " : "MaildirStore ") : "", st ?
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

/* ---- YAML output ---- */

/* A scalar libyaml reads back as this exact string, and that cfg.c does
 * not take for null. */
static bool
plain_ok(const char *s)
{
	static const char *const words[] = {
		"null", "true", "false", "yes", "no", "on", "off", "y", "n",
	};

	if (!(isalnum((unsigned char)s[0]) || s[0] == '_' || s[0] == '.' ||
	    s[0] == '/' || (s[0] == '~' && s[1] != '\0')))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("_./~@+-", *p) == NULL)
			return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (is_word(s, words[i]))
			return false;
	return true;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void
yaml_quoted(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)*p++);
		} else if (*p < 0x20 || *p == 0x7f || n == 0)
			/* not UTF-8: most likely Latin-1, which \x means */
			buf_printf(b, "\\x%02x", *p++);
		else {
			buf_add(b, p, n);
			p += n;
		}
	}
	buf_addc(b, '"');
}

static void
yaml_scalar(struct buf *b, const char *s)
{
	if (plain_ok(s))
		buf_adds(b, s);
	else
		yaml_quoted(b, s);
}

static void
emit_kv(struct buf *b, int indent, const char *key, const char *value)
{
	buf_printf(b, "%*s%s: ", indent, "", key);
	yaml_scalar(b, value);
	buf_addc(b, '\n');
}

static void
emit_list(struct buf *b, int indent, const char *key,
    const struct strv *items, bool quote)
{
	buf_printf(b, "%*s%s: [", indent, "", key);
	for (size_t i = 0; i < items->n; i++) {
		if (i)
			buf_adds(b, ", ");
		if (quote)
			yaml_quoted(b, items->v[i]);
		else
			yaml_scalar(b, items->v[i]);
	}
	buf_adds(b, "]\n");
}

/* One comment, wrapped before column 80. */
static void
emit_note(struct buf *b, int indent, const char *text)
{
	size_t width = indent + 2 < 60 ? 78 - (size_t)indent - 2 : 20;
	bool first = true;

	while (*text) {
		size_t avail = first ? width : width - 2;
		size_t len = strlen(text), cut = len;

		if (len > avail) {
			cut = avail;
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				for (cut = avail; text[cut] && text[cut] != ' ';
				    cut++)
					;
		}
		buf_printf(b, "%*s# %s%.*s\n", indent, "", first ? "" : "  ",
		    (int)cut, text);
		text += cut;
		while (*text == ' ')
			text++;
		first = false;
	}
}

static void
emit_notes(struct buf *b, int indent, const struct strv *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		emit_note(b, indent, notes->v[i]);
}

/* Append a rendered entry, commented out after its indentation when it
 * cannot be used as it is. */
static void
append_block(struct buf *out, const struct buf *blk, int indent, bool active)
{
	const char *p = blk->data;

	if (p == NULL)
		return;
	if (active) {
		buf_add(out, blk->data, blk->len);
		return;
	}
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		size_t sp = 0;

		while (sp < n && sp < (size_t)indent && p[sp] == ' ')
			sp++;
		buf_printf(out, "%*s# %.*s\n", (int)sp, "", (int)(n - sp),
		    p + sp);
		p += n + (nl != NULL);
	}
}

/* ---- accounts ---- */

static char *
account_problem(const struct mb_account *a)
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

static void
render_account(struct mb_account *a, struct buf *out)
{
	static const char *const tls_names[] = {
		[MB_TLS_UNSET] = "starttls", [MB_TLS_NONE] = "none",
		[MB_TLS_STARTTLS] = "starttls", [MB_TLS_IMAPS] = "imaps",
	};
	struct buf b = { 0 };
	struct strv notes = { 0 }, auth = { 0 }, dropped = { 0 };
	char *reason = account_problem(a);
	enum mb_tls tls = a->tls;
	bool any = false;

	if (reason)
		note(&notes, "%s %s is not converted: %s.", a->in_store ?
		    "IMAPStore" : "IMAPAccount", a->name, reason);
	emit_notes(out, 2, &notes);
	strv_free(&notes);

	buf_printf(&b, "  ");
	yaml_scalar(&b, a->key);
	buf_adds(&b, ":\n");
	if (a->host)
		emit_kv(&b, 4, "host", a->host);
	if (a->port)
		buf_printf(&b, "    port: %d\n", a->port);
	if (tls == MB_TLS_UNSET) {
		tls = a->use_imaps ? MB_TLS_IMAPS : a->tunnel ? MB_TLS_NONE :
		    MB_TLS_STARTTLS;
		if (tls == MB_TLS_STARTTLS)
			note(&notes, "no TLSType: STARTTLS, mbsync's default");
	}
	if (tls == MB_TLS_NONE && a->host && !is_loopback(a->host)) {
		tls = MB_TLS_STARTTLS;
		note(&notes, "TLSType None: mailsync connects without "
		    "encryption only to loopback hosts, so STARTTLS is "
		    "required instead");
	}
	emit_kv(&b, 4, "tls", tls_names[tls]);
	if (a->user)
		emit_kv(&b, 4, "user", a->user);
	if (a->pass) {
		emit_kv(&b, 4, "password", a->pass);
		if (a->pass_cmd)
			note(&notes, "PassCmd is not converted: Pass is set, "
			    "and mbsync uses Pass then");
	} else if (a->pass_cmd) {
		emit_kv(&b, 4, "pass-cmd", a->pass_cmd + (a->pass_cmd[0] ==
		    '+'));
		if (a->pass_cmd[0] == '+')
			note(&notes, "PassCmd '+': not needed; the command's "
			    "standard error and terminal stay the user's");
	} else if (a->keychain && a->host && a->user) {
		struct buf cmd = { 0 };

		buf_adds(&cmd, "security find-internet-password -r imap -s ");
		sh_quote(&cmd, a->host);
		buf_adds(&cmd, " -a ");
		sh_quote(&cmd, a->user);
		buf_adds(&cmd, " -w");
		emit_kv(&b, 4, "pass-cmd", cmd.data);
		buf_free(&cmd);
		note(&notes, "UseKeychain yes: the password is read from the "
		    "macOS Keychain with security(1)");
	} else {
		emit_kv(&b, 4, "pass-cmd", "echo 'mailsync: set pass-cmd' >&2; "
		    "exit 1");
		note(&notes, "no Pass or PassCmd: mbsync asked for the password "
		    "on the terminal, mailsync cannot; replace this pass-cmd "
		    "with a command that prints it, such as \"pass show "
		    "mail/%s\"", a->name);
	}
	for (size_t i = 0; i < a->auth.n; i++) {
		const char *m = a->auth.v[i];

		if (strcmp(m, "*") == 0)
			any = true;
		else if (is_word(m, "PLAIN") || is_word(m, "LOGIN") ||
		    is_word(m, "XOAUTH2")) {
			char *low = xstrdup(m);

			for (char *p = low; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (!strv_contains(&auth, low))
				strv_add(&auth, low);
			free(low);
		} else
			strv_add(&dropped, m);
	}
	if (!any && auth.n > 0)
		emit_list(&b, 4, "auth", &auth, false);
	if (dropped.n > 0) {
		char *all = join_args(&dropped, 0);

		note(&notes, "AuthMechs %s: not supported; mailsync knows "
		    "PLAIN, LOGIN and XOAUTH2%s", all, !any && auth.n == 0 ?
		    ", and uses any of them the server offers" : "");
		free(all);
	}
	if (a->ca_files.n > 0)
		emit_kv(&b, 4, "ca-file", a->ca_files.v[0]);
	for (size_t i = 1; i < a->ca_files.n; i++)
		note(&notes, "CertificateFile %s: mailsync takes one ca-file; "
		    "put the certificates of both files into one",
		    a->ca_files.v[i]);
	if (a->timeout == 0 || a->timeout > 3600) {
		buf_adds(&b, "    timeout: 3600\n");
		note(&notes, "Timeout %ld: mailsync waits at most 3600 "
		    "seconds", a->timeout);
	} else if (a->timeout > 0)
		buf_printf(&b, "    timeout: %ld\n", a->timeout);
	if (a->user && a->user_cmd)
		note(&notes, "UserCmd is not converted: User is set");
	emit_notes(&b, 4, &notes);
	emit_notes(&b, 4, &a->notes);
	append_block(out, &b, 2, reason == NULL);
	free(reason);
	buf_free(&b);
	strv_free(&notes);
	strv_free(&auth);
	strv_free(&dropped);
}

/* ---- channels ---- */

static const char *
sides_name(unsigned sides, int remote)
{
	bool server = sides & 1u << remote, disk = sides & 1u << (1 - remote);

	return server && disk ? "both" : server ? "server" : disk ? "disk" :
	    "none";
}

static unsigned
to_prop(unsigned ops)
{
	unsigned p = 0;

	if (ops & OP_NEW)
		p |= CFG_PROP_NEW;
	if (ops & OP_FLAGS)
		p |= CFG_PROP_FLAGS;
	if (ops & OP_GONE)
		p |= CFG_PROP_DELETIONS;
	/* a move is a new message in one folder and a deletion in another */
	if ((p & CFG_PROP_NEW) && (p & CFG_PROP_DELETIONS))
		p |= CFG_PROP_MOVES;
	return p;
}

static void
prop_names(struct strv *out, unsigned p)
{
	if (p & CFG_PROP_NEW)
		strv_add(out, "new");
	if (p & CFG_PROP_FLAGS)
		strv_add(out, "flags");
	if (p & CFG_PROP_DELETIONS)
		strv_add(out, "deletions");
	if (p & CFG_PROP_MOVES)
		strv_add(out, "moves");
}

static char *
prop_text(unsigned p)
{
	struct strv names = { 0 };
	char *s;

	prop_names(&names, p);
	s = join_args(&names, 0);
	strv_free(&names);
	return s;
}

static int
prop_count(unsigned p)
{
	return !!(p & CFG_PROP_NEW) + !!(p & CFG_PROP_FLAGS) +
	    !!(p & CFG_PROP_DELETIONS);
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
static void
plan_channel(struct mb_conv *c, struct mb_channel *ch)
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
	if ((why = account_problem(&c->accounts[rs->account])) != NULL) {
		free(why);
		ch->reason = xasprintf("its account %s is not converted",
		    c->accounts[rs->account].key);
		return;
	}
	if (r == NEAR)
		note(&ch->notes, "the IMAP store is the Near side here, so "
		    "mbsync's Pull (far to near) is mailsync's push (disk to "
		    "server)");

	ch->maildirpp = ls->subfolders == SF_MAILDIRPP;
	inbox_dflt = strip_slash(ls->inbox ? ls->inbox : "~/Maildir");
	if (ch->maildirpp) {
		ch->root = xstrdup(inbox_dflt);
		if (ls->path)
			note(&ch->notes, "MaildirStore %s: Path %s: ignored "
			    "with SubFolders Maildir++ (the Inbox is the root)",
			    ls->name, ls->path);
	} else if (ls->path) {
		ch->root = strip_slash(ls->path);
		if (!ends_with_slash(ls->path))
			note(&ch->notes, "MaildirStore %s: Path %s has no "
			    "trailing '/': mbsync named folders '%sNAME', "
			    "mailsync keeps them in '%s/NAME'", ls->name,
			    ls->path, ls->path, ch->root);
		if (ls->subfolders == SF_LEGACY)
			note(&ch->notes, "MaildirStore %s: SubFolders Legacy: "
			    "a nested folder A/B is kept in A/B, not in A/.B",
			    ls->name);
	}

	/* the folders first: a channel written commented out shows them */
	if (ch->patterns.n > 0) {
		for (size_t i = 0; i < ch->patterns.n; i++) {
			const char *p = ch->patterns.v[i];
			struct err pe = { 0 };

			if (pattern_check(p[0] == '!' ? p + 1 : p, &pe) == -1)
				note(&ch->notes, "Patterns %s: left out, not a "
				    "valid mailsync pattern: %s", p, pe.msg);
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
				ch->reason = xasprintf("its MaildirStore %s has "
				    "no Path", ls->name);
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
		note(&ch->notes, "MaildirStore %s has no Inbox: mbsync's "
		    "default ~/Maildir", ls->name);
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

/* direction and propagate, as close to mbsync's Sync as one list allows */
static void
render_sync(const struct mb_conv *c, struct mb_channel *ch, struct buf *b)
{
	const struct mb_chopts *o = ch->o.have_sync ? &ch->o : &c->global;
	unsigned ops[2] = { OP_ALL, OP_ALL }, pull, push, prop;
	const char *dir;

	if (o->have_sync)
		sync_ops(o, ops);
	/* pull: server to disk, the operations whose target is the disk */
	pull = to_prop(ops[1 - ch->remote]);
	push = to_prop(ops[ch->remote]);
	if (pull == push) {
		dir = "both";
		prop = pull;
	} else if (push == 0) {
		dir = "pull";
		prop = pull;
	} else if (pull == 0) {
		dir = "push";
		prop = push;
	} else {
		/* never propagate what mbsync did not: the largest subset */
		unsigned both = to_prop(ops[0] & ops[1]);
		int nb = 2 * prop_count(both), np = prop_count(pull),
		    nq = prop_count(push);

		/* on a tie, keep mail arriving from the server */
		if (np >= nb && np >= nq) {
			dir = "pull";
			prop = pull;
		} else if (nb >= nq) {
			dir = "both";
			prop = both;
		} else {
			dir = "push";
			prop = push;
		}
	}
	if (strcmp(dir, "both") != 0)
		buf_printf(b, "    direction: %s\n", dir);
	if (prop != CFG_PROP_ALL) {
		struct strv names = { 0 };

		prop_names(&names, prop);
		emit_list(b, 4, "propagate", &names, false);
		strv_free(&names);
	}
	if (o->have_sync) {
		unsigned lost_pull = strcmp(dir, "push") == 0 ? pull :
		    pull & ~prop;
		unsigned lost_push = strcmp(dir, "pull") == 0 ? push :
		    push & ~prop;

		lost_pull &= ~CFG_PROP_MOVES;
		lost_push &= ~CFG_PROP_MOVES;
		if (lost_pull || lost_push) {
			struct buf lost = { 0 };
			char *t;

			if (lost_pull) {
				t = prop_text(lost_pull);
				buf_printf(&lost, "%s (server to disk)", t);
				free(t);
			}
			if (lost_push) {
				t = prop_text(lost_push);
				buf_printf(&lost, "%s%s (disk to server)",
				    lost_pull ? "; " : "", t);
				free(t);
			}
			note(&ch->notes, "Sync %s: mailsync propagates the "
			    "same kinds of change in each direction it syncs; "
			    "not converted: %s", o->sync_text, lost.data);
			buf_free(&lost);
		}
		if (prop == 0)
			note(&ch->notes, "Sync %s: nothing is propagated",
			    o->sync_text);
		if ((o->cops | o->ops[0] | o->ops[1]) & OP_UPGRADE)
			note(&ch->notes, "Sync %s: mailsync copies no "
			    "placeholders, so there is nothing to upgrade",
			    o->sync_text);
	}
}

static void
format_size(char *out, size_t n, uint64_t size)
{
	if (size % (1024 * 1024) == 0)
		snprintf(out, n, "%lluM", (unsigned long long)(size >> 20));
	else if (size % 1024 == 0)
		snprintf(out, n, "%lluK", (unsigned long long)(size >> 10));
	else
		snprintf(out, n, "%llu", (unsigned long long)size);
}

static void
render_channel(const struct mb_conv *c, struct mb_channel *ch, struct buf *out)
{
	const struct mb_chopts *g = &c->global;
	struct buf b = { 0 };
	unsigned create, remove, expunge;
	const struct mb_store *rs, *ls;
	long max_messages;
	const char *sync_state;
	char size[32];

	if (ch->reason) {
		struct strv n = { 0 };

		note(&n, "Channel %s is not converted: %s.", ch->name,
		    ch->reason);
		emit_notes(out, 2, &n);
		strv_free(&n);
		if (ch->root == NULL) {
			/* nothing usable to show below the reason */
			buf_printf(out, "  # ");
			yaml_scalar(out, ch->key);
			buf_adds(out, ": (not converted)\n");
			return;
		}
	}
	rs = &c->stores[ch->store[ch->remote]];
	ls = &c->stores[ch->store[1 - ch->remote]];
	buf_adds(&b, "  ");
	yaml_scalar(&b, ch->key);
	buf_adds(&b, ":\n");
	emit_kv(&b, 4, "account", c->accounts[rs->account].key);
	emit_kv(&b, 4, "maildir", ch->root);
	if (ch->inbox)
		emit_kv(&b, 4, "inbox", ch->inbox);
	if (ch->maildirpp)
		buf_adds(&b, "    layout: maildir++\n");
	emit_list(&b, 4, "folders", &ch->folders, true);
	render_sync(c, ch, &b);

	create = ch->o.have_create ? ch->o.create : g->create;
	remove = ch->o.have_remove ? ch->o.remove : g->remove;
	expunge = ch->o.have_expunge ? ch->o.expunge : g->expunge;
	buf_printf(&b, "    create: %s\n", sides_name(create, ch->remote));
	buf_printf(&b, "    remove: %s\n", sides_name(remove, ch->remote));
	buf_printf(&b, "    expunge: %s\n", sides_name(expunge, ch->remote));
	if (!ch->o.have_create && !g->have_create)
		note(&ch->notes, "no Create: none, mbsync's default");
	if (!ch->o.have_expunge && !g->have_expunge)
		note(&ch->notes, "no Expunge: none, mbsync's default; "
		    "deleted messages stay marked deleted");

	if (ch->max_size_set && ch->max_size > 0) {
		format_size(size, sizeof(size), ch->max_size);
		buf_printf(&b, "    max-size: %s\n", size);
		note(&ch->notes, "MaxSize %s: mbsync copied a placeholder "
		    "of bigger messages, mailsync does not copy them", size);
	} else if (!ch->max_size_set && ls->max_size_set &&
	    ls->max_size > 0) {
		format_size(size, sizeof(size), ls->max_size);
		buf_printf(&b, "    max-size: %s\n", size);
		note(&ch->notes, "MaildirStore %s: MaxSize %s: mbsync copied "
		    "a placeholder of bigger messages to disk; mailsync does "
		    "not copy them in either direction", ls->name, size);
	}
	if (!ch->max_size_set && rs->max_size_set && rs->max_size > 0) {
		format_size(size, sizeof(size), rs->max_size);
		note(&ch->notes, "IMAPStore %s: MaxSize %s: not converted; "
		    "mailsync's max-size would also keep big messages from "
		    "reaching the disk", rs->name, size);
	}
	max_messages = ch->o.max_messages >= 0 ? ch->o.max_messages :
	    g->max_messages;
	if (max_messages > 0)
		note(&ch->notes, "MaxMessages %ld: no equivalent; mailsync "
		    "keeps every message (max-age limits by age what is "
		    "copied)", max_messages);
	sync_state = ch->o.sync_state ? ch->o.sync_state : g->sync_state;
	if (sync_state && strcmp(sync_state, "*") != 0)
		note(&ch->notes, "SyncState %s: not converted; mailsync keeps "
		    "its state in state-dir, by default "
		    "$XDG_STATE_HOME/mailsync/CHANNEL", sync_state);
	emit_notes(&b, 4, &ch->notes);
	emit_notes(&b, 4, &rs->notes);
	emit_notes(&b, 4, &ls->notes);
	emit_notes(&b, 4, &ch->o.notes);
	append_block(out, &b, 2, ch->reason == NULL);
	buf_free(&b);
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

static void
assign_keys(struct mb_conv *c)
{
	for (size_t i = 0; i < c->naccounts; i++) {
		struct mb_account *a = &c->accounts[i];

		a->key = unique_key(c, a->name[0] ? a->name : "unnamed", true);
		if (strcmp(a->key, a->name) != 0)
			note(&a->notes, "renamed from %s: the name is taken",
			    a->name);
	}
	for (size_t i = 0; i < c->nchannels; i++) {
		struct mb_channel *ch = &c->channels[i];
		char *safe = safe_name(ch->name);

		ch->key = unique_key(c, safe, false);
		if (strcmp(ch->key, ch->name) != 0)
			note(&ch->notes, "renamed from %s: channel names "
			    "cannot contain '/', ':' or ','", ch->name);
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
			note(&g->notes, "group %s renamed: %s", g->name,
			    strcmp(safe, g->name) != 0 ? "group names cannot "
			    "contain '/', ':' or ','" : "a channel has that "
			    "name");
		free(base);
		free(safe);
	}
}

static void
render_group(const struct mb_conv *c, struct mb_group *g, struct buf *out)
{
	struct strv members = { 0 };

	for (size_t i = 0; i < g->members.n; i++) {
		const char *m = g->members.v[i];
		const char *colon = strchr(m, ':');
		char *name = colon ? xstrndup(m, (size_t)(colon - m)) :
		    xstrdup(m);
		const struct mb_channel *ch = NULL;

		for (size_t j = 0; j < c->nchannels; j++)
			if (strcmp(c->channels[j].name, name) == 0)
				ch = &c->channels[j];
		if (ch == NULL)
			note(&g->notes, "group %s: channel %s left out: no "
			    "such channel", g->name, name);
		else if (ch->reason)
			note(&g->notes, "group %s: channel %s left out: it is "
			    "not converted", g->name, name);
		else {
			if (colon)
				note(&g->notes, "group %s: the mailboxes %s of "
				    "channel %s are dropped; a group names whole "
				    "channels (select folders with "
				    "CHANNEL:FOLDER on the command line)",
				    g->name, colon + 1, name);
			if (!strv_contains(&members, ch->key))
				strv_add(&members, ch->key);
		}
		free(name);
	}
	emit_notes(out, 2, &g->notes);
	buf_adds(out, "  ");
	yaml_scalar(out, g->key);
	buf_adds(out, ": [");
	for (size_t i = 0; i < members.n; i++) {
		if (i)
			buf_adds(out, ", ");
		yaml_scalar(out, members.v[i]);
	}
	buf_adds(out, "]\n");
	strv_free(&members);
}

static void
render(struct mb_conv *c, struct buf *out)
{
	struct strv head = { 0 };

	assign_keys(c);
	for (size_t i = 0; i < c->nchannels; i++)
		plan_channel(c, &c->channels[i]);
	for (size_t i = 0; i < c->nchannels; i++) {
		struct mb_channel *a = &c->channels[i];

		for (size_t j = 0; j < c->nchannels && !a->reason; j++) {
			struct mb_channel *z = &c->channels[j];

			if (j != i && !z->reason &&
			    strcmp(a->root, z->root) == 0)
				note(&a->notes, "this channel shares its Maildir "
				    "root with channel %s: keep their folders "
				    "apart", z->key);
		}
	}

	note(&head, "mailsync configuration converted from %s.", c->path);
	note(&head, "mbsync options without an equivalent are kept as "
	    "comments that say why; read them, then try: mailsync -n -a");
	emit_notes(out, 0, &head);
	emit_notes(out, 0, &c->global_notes);
	emit_notes(out, 0, &c->global.notes);
	strv_free(&head);

	buf_adds(out, "\naccounts:\n");
	for (size_t i = 0; i < c->naccounts; i++)
		render_account(&c->accounts[i], out);
	buf_adds(out, "\nchannels:\n");
	for (size_t i = 0; i < c->nchannels; i++)
		render_channel(c, &c->channels[i], out);
	if (c->ngroups > 0) {
		buf_adds(out, "\ngroups:\n");
		for (size_t i = 0; i < c->ngroups; i++)
			render_group(c, &c->groups[i], out);
	}
}

/* ---- lifecycle ---- */

static void
chopts_free(struct mb_chopts *o)
{
	free(o->sync_text);
	free(o->sync_state);
	strv_free(&o->notes);
}

static void
conv_free(struct mb_conv *c)
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

int
mbsyncrc_convert(const char *path, FILE *out, struct err *e)
{
	struct mb_conv c = { 0 };
	struct buf text = { 0 };
	FILE *f;
	int rc;

	c.path = path;
	c.e = e;
	chopts_init(&c.global);
	if ((f = fopen(path, "r")) == NULL)
		return err_sys(e, ERR_CONFIG, "cannot read %s", path);
	rc = parse_file(&c, f);
	fclose(f);
	if (rc == 0) {
		render(&c, &text);
		if (text.len > 0 && (fwrite(text.data, 1, text.len, out) !=
		    text.len || fflush(out) != 0))
			rc = err_sys(e, ERR_FAIL, "writing the configuration "
			    "failed");
	}
	buf_free(&text);
	conv_free(&c);
	return rc;
}
