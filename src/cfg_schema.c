/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration's keys, their types and defaults, and their checks. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_priv.h"
#include "pattern.h"

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), *row, d;

	row = xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag +
			    (a[i - 1] == b[j - 1] ? 0 : 1);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	d = row[lb];
	free(row);
	return d;
}

/* The nearest candidate within 3 edits (the first of equals), or NULL. */
const char *
cfg_nearest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t bestd = 4;

	if (strlen(word) > 256)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (cands[i] == NULL || strlen(cands[i]) > 256)
			continue;
		d = edit_distance(word, cands[i]);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	return best;
}

void
cfg_did_you_mean(char *buf, size_t size, const char *best)
{
	if (best)
		snprintf(buf, size, " (did you mean '%s'?)", best);
	else
		buf[0] = '\0';
}

bool
cfg_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	return false;
}

/* Channel and group names appear in paths and in CHANNEL:FOLDER,... */
static const char *
bad_name(const char *s)
{
	if (s[0] == '\0')
		return "must not be empty";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "must not be '.' or '..'";
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == ',' ||
		    (unsigned char)*s < 0x20 || *s == 0x7f)
			return "must not contain '/', ':', ',' or control "
			    "characters";
	return NULL;
}

/* ---- typed values ---- */

static int
check_key(struct ctx *x, const struct ynode *m, size_t i, const char *dupword)
{
	const struct ynode *k = m->kids[2 * i];

	if (k->type != YN_SCALAR)
		return cfg_at(x, k, "mapping keys must be strings");
	for (size_t j = 0; j < i; j++) {
		const struct ynode *o = m->kids[2 * j];

		if (o->type == YN_SCALAR && strcmp(o->value, k->value) == 0)
			return cfg_at(x, k, "duplicate %s '%s'", dupword,
			    k->value);
	}
	return 0;
}

static int
lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static int
unknown_key(struct ctx *x, const struct ynode *k, const char *const *names,
    size_t n, const char *where)
{
	char dym[300];

	cfg_did_you_mean(dym, sizeof(dym), cfg_nearest(k->value, names, n));
	return cfg_at(x, k, "unknown key '%s' %s%s", k->value, where, dym);
}

static int
get_str(struct ctx *x, const struct ynode *v, const char *key, char **out)
{
	if (v->type != YN_SCALAR)
		return cfg_at(x, v, "'%s' must be a string", key);
	if (v->len == 0)
		return cfg_at(x, v, "'%s' must not be empty", key);
	*out = xstrdup(v->value);
	return 0;
}

static int
get_path(struct ctx *x, const struct ynode *v, const char *key, char **out)
{
	char *raw = NULL, *why, *p;
	size_t len;

	if (get_str(x, v, key, &raw) == -1)
		return -1;
	p = cfg_expand(raw, &why);
	free(raw);
	if (p == NULL) {
		cfg_at(x, v, "'%s': %s", key, why);
		free(why);
		return -1;
	}
	if (p[0] != '/') {
		/* Relative to the directory mailsync was started in, as a
		 * path typed in a shell would be; the state and the tree must
		 * not depend on where later code happens to chdir. */
		char *cwd = getcwd(NULL, 0);

		if (cwd == NULL) {
			free(p);
			return cfg_at(x, v, "'%s': cannot resolve a relative "
			    "path: %s", key, strerror(errno));
		}
		raw = xasprintf("%s/%s", cwd, p);
		free(cwd);
		free(p);
		p = raw;
	}
	len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	*out = p;
	return 0;
}

static bool
parse_uint(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (ULLONG_MAX - (unsigned)(*s - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return true;
}

static int
get_int(struct ctx *x, const struct ynode *v, const char *key, long lo,
    long hi, long *out)
{
	unsigned long long u;

	if (v->type != YN_SCALAR || !parse_uint(v->value, &u) ||
	    u < (unsigned long long)lo || u > (unsigned long long)hi)
		return cfg_at(x, v, "'%s' must be an integer between %ld "
		    "and %ld", key, lo, hi);
	*out = (long)u;
	return 0;
}

static void
join(char *buf, size_t size, const char *const *names, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(buf, ", ", size - strlen(buf) - 1);
		strncat(buf, names[i], size - strlen(buf) - 1);
	}
}

static int
get_enum(struct ctx *x, const struct ynode *v, const char *key,
    const char *const *names, size_t n, int *out)
{
	char list[200];
	int i = v->type == YN_SCALAR ? lookup(names, n, v->value) : -1;

	if (i < 0) {
		join(list, sizeof(list), names, n);
		return cfg_at(x, v, "'%s' must be one of %s", key, list);
	}
	*out = i;
	return 0;
}

/* A sequence's items, or a lone scalar as a one-item list. */
static int
get_items(struct ctx *x, const struct ynode *v, const char *key,
    struct ynode *const **items, size_t *n, struct ynode **one)
{
	if (v->type == YN_SCALAR) {
		*one = (struct ynode *)v;
		*items = one;
		*n = 1;
	} else if (v->type == YN_SEQ) {
		*items = v->kids;
		*n = v->nkids;
	} else
		return cfg_at(x, v, "'%s' must be a list of strings", key);
	for (size_t i = 0; i < *n; i++)
		if ((*items)[i]->type != YN_SCALAR || cfg_is_null((*items)[i]))
			return cfg_at(x, (*items)[i],
			    "'%s' must be a list of strings", key);
	return 0;
}

/* A list whose items are all names[i]: the bit set of 1 << i. */
static int
get_bits(struct ctx *x, const struct ynode *v, const char *key,
    const char *const *names, size_t n, unsigned *out, struct strv *order)
{
	struct ynode *const *items, *one;
	size_t nitems;
	char list[200];

	if (get_items(x, v, key, &items, &nitems, &one) == -1)
		return -1;
	*out = 0;
	for (size_t i = 0; i < nitems; i++) {
		int k = -1;

		for (size_t j = 0; j < n; j++)
			if (strcasecmp(items[i]->value, names[j]) == 0 &&
			    (order || strcmp(items[i]->value, names[j]) == 0))
				k = (int)j;
		if (k < 0) {
			join(list, sizeof(list), names, n);
			return cfg_at(x, items[i], "'%s' must be a list of %s",
			    key, list);
		}
		if (order && !strv_contains(order, names[k]))
			strv_add(order, names[k]);
		*out |= 1u << k;
	}
	return 0;
}

static int
get_max_size(struct ctx *x, const struct ynode *v, uint64_t *out)
{
	unsigned long long n, mul = 1;
	char *num;
	size_t len;
	bool ok;

	if (v->type != YN_SCALAR || v->len == 0)
		goto bad;
	num = xstrdup(v->value);
	len = strlen(num);
	switch (num[len - 1]) {
	case 'K':
	case 'k':
		mul = 1024;
		break;
	case 'M':
	case 'm':
		mul = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mul = 1024 * 1024 * 1024;
		break;
	}
	if (mul != 1)
		num[len - 1] = '\0';
	ok = parse_uint(num, &n) && n <= UINT64_MAX / mul;
	free(num);
	if (!ok)
		goto bad;
	*out = (uint64_t)(n * mul);
	return 0;
bad:
	return cfg_at(x, v, "'max-size' must be a number of bytes, optionally "
	    "with a K, M or G suffix (e.g. 20M)");
}

/* By hand: strtod would follow LC_NUMERIC and read "12.5" as 12 in de_DE. */
static int
get_percent(struct ctx *x, const struct ynode *v, double *out)
{
	const char *s;
	unsigned long long n = 0, scale = 1;
	size_t digits = 0, frac = 0;
	bool dot = false;

	if (v->type != YN_SCALAR)
		goto bad;
	for (s = v->value; *s >= '0' && *s <= '9' && digits < 6; s++) {
		n = n * 10 + (unsigned)(*s - '0');
		digits++;
	}
	if (*s == '.') {
		dot = true;
		for (s++; *s >= '0' && *s <= '9' && frac < 6; s++) {
			n = n * 10 + (unsigned)(*s - '0');
			scale *= 10;
			frac++;
		}
	}
	if (digits == 0 || (dot && frac == 0) || strcmp(s, "%") != 0)
		goto bad;
	/* both exact, so the quotient is the correctly rounded value */
	*out = (double)n / (double)scale;
	if (*out > 100)
		goto bad;
	return 0;
bad:
	return cfg_at(x, v, "'delete-limit' must be a percentage between 0%% "
	    "and 100%% (e.g. 25%%)");
}

static int
get_fingerprint(struct ctx *x, const struct ynode *v, char **out)
{
	const char *s;
	char hex[65];
	size_t n = 0;

	if (v->type != YN_SCALAR)
		goto bad;
	s = v->value;
	if (strncasecmp(s, "sha256:", 7) == 0)
		s += 7;
	for (; *s; s++) {
		if (*s == ':')
			continue;
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		    (*s >= 'A' && *s <= 'F')) || n == 64)
			goto bad;
		hex[n++] = (char)(*s >= 'A' && *s <= 'F' ? *s - 'A' + 'a' :
		    *s);
	}
	if (n != 64)
		goto bad;
	hex[n] = '\0';
	*out = xstrdup(hex);
	return 0;
bad:
	return cfg_at(x, v, "'cert-fingerprint' must be a SHA-256 fingerprint: "
	    "64 hex digits, colons and a 'sha256:' prefix optional");
}

/* ---- sections ---- */

enum {
	AK_HOST, AK_PORT, AK_TLS, AK_USER, AK_PASS_CMD, AK_PASSWORD, AK_AUTH,
	AK_CA_FILE, AK_CERT_FINGERPRINT, AK_TIMEOUT, AK_CONNECTIONS,
	AK_COMPRESS, AK_N
};
static const char *const account_keys[AK_N] = {
	[AK_HOST] = "host", [AK_PORT] = "port", [AK_TLS] = "tls",
	[AK_USER] = "user", [AK_PASS_CMD] = "pass-cmd",
	[AK_PASSWORD] = "password", [AK_AUTH] = "auth",
	[AK_CA_FILE] = "ca-file", [AK_CERT_FINGERPRINT] = "cert-fingerprint",
	[AK_TIMEOUT] = "timeout", [AK_CONNECTIONS] = "connections",
	[AK_COMPRESS] = "compress",
};
static const char *const tls_names[] = { "imaps", "starttls", "none" };
static const char *const auth_names[] = { "plain", "login", "xoauth2" };
static const char *const compress_names[] = { "auto", "yes", "no" };

static int
parse_account(struct ctx *x, const struct ynode *name, const struct ynode *m,
    struct cfg_account *a)
{
	const struct ynode *tls_node = NULL, *where;
	char ctxt[300];
	bool port_set = false;
	long n;
	int t;

	a->name = xstrdup(name->value);
	a->tls = CFG_TLS_IMAPS;
	a->timeout = 30;
	a->connections = 4;
	if (name->len == 0)
		return cfg_at(x, name, "account name must not be empty");
	if (cfg_is_null(m))
		m = NULL;
	else if (m->type != YN_MAP)
		return cfg_at(x, m, "account '%s' must be a mapping", a->name);
	where = m ? m : name;
	snprintf(ctxt, sizeof(ctxt), "in account '%s'", a->name);
	for (size_t i = 0; m && i < m->nkids / 2; i++) {
		const struct ynode *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
		unsigned bits;
		int rc = 0;

		if (check_key(x, m, i, "key") == -1)
			return -1;
		t = lookup(account_keys, AK_N, k->value);
		if (t < 0)
			return unknown_key(x, k, account_keys, AK_N, ctxt);
		if (t == AK_PASSWORD)
			x->has_password = true;
		if (cfg_is_null(v))
			continue;
		switch (t) {
		case AK_HOST:
			rc = get_str(x, v, k->value, &a->host);
			break;
		case AK_PORT:
			rc = get_int(x, v, k->value, 1, 65535, &n);
			a->port = (int)n;
			port_set = true;
			break;
		case AK_TLS:
			rc = get_enum(x, v, k->value, tls_names, 3, &t);
			a->tls = rc == 0 ? (enum cfg_tls)t : CFG_TLS_IMAPS;
			tls_node = v;
			break;
		case AK_USER:
			rc = get_str(x, v, k->value, &a->user);
			break;
		case AK_PASS_CMD:
			rc = get_str(x, v, k->value, &a->pass_cmd);
			break;
		case AK_PASSWORD:
			rc = get_str(x, v, k->value, &a->password);
			break;
		case AK_AUTH:
			rc = get_bits(x, v, k->value, auth_names, 3, &bits,
			    &a->auth);
			break;
		case AK_CA_FILE:
			rc = get_path(x, v, k->value, &a->ca_file);
			break;
		case AK_CERT_FINGERPRINT:
			rc = get_fingerprint(x, v, &a->cert_fingerprint);
			break;
		case AK_TIMEOUT:
			rc = get_int(x, v, k->value, 1, 3600, &n);
			a->timeout = (int)n;
			break;
		case AK_CONNECTIONS:
			rc = get_int(x, v, k->value, 1, 64, &n);
			a->connections = (int)n;
			a->connections_set = rc == 0;
			break;
		case AK_COMPRESS:
			rc = get_enum(x, v, k->value, compress_names, 3, &t);
			a->compress = rc == 0 ? (enum cfg_compress)t :
			    CFG_COMPRESS_AUTO;
			break;
		}
		if (rc == -1)
			return -1;
	}
	if (a->host == NULL)
		return cfg_at(x, where, "account '%s' is missing required key "
		    "'host'", a->name);
	if (a->user == NULL)
		return cfg_at(x, where, "account '%s' is missing required key "
		    "'user'", a->name);
	if (a->pass_cmd == NULL && a->password == NULL)
		return cfg_at(x, where, "account '%s' needs 'pass-cmd' or "
		    "'password'", a->name);
	/* SPEC.md section 6: cleartext only where nobody can listen */
	if (a->tls == CFG_TLS_NONE && !cfg_is_loopback(a->host))
		return cfg_at(x, tls_node, "tls: none is only allowed for "
		    "loopback hosts (host is '%s')", a->host);
	if (!port_set)
		a->port = a->tls == CFG_TLS_IMAPS ? 993 : 143;
	return 0;
}

enum {
	CK_ACCOUNT, CK_MAILDIR, CK_INBOX, CK_LAYOUT, CK_FOLDERS, CK_DIRECTION,
	CK_PROPAGATE, CK_CREATE, CK_REMOVE, CK_EXPUNGE, CK_MAX_SIZE,
	CK_MAX_AGE, CK_DELETE_LIMIT, CK_WATCH, CK_POLL_INTERVAL, CK_STATE_DIR,
	CK_N
};
static const char *const channel_keys[CK_N] = {
	[CK_ACCOUNT] = "account", [CK_MAILDIR] = "maildir",
	[CK_INBOX] = "inbox", [CK_LAYOUT] = "layout",
	[CK_FOLDERS] = "folders", [CK_DIRECTION] = "direction",
	[CK_PROPAGATE] = "propagate", [CK_CREATE] = "create",
	[CK_REMOVE] = "remove", [CK_EXPUNGE] = "expunge",
	[CK_MAX_SIZE] = "max-size", [CK_MAX_AGE] = "max-age",
	[CK_DELETE_LIMIT] = "delete-limit", [CK_WATCH] = "watch",
	[CK_POLL_INTERVAL] = "poll-interval", [CK_STATE_DIR] = "state-dir",
};
static const char *const layout_names[] = { "verbatim", "maildir++" };
static const char *const dir_names[] = { "both", "pull", "push" };
static const char *const prop_names[] = {
	"new", "flags", "deletions", "moves"
};
static const char *const side_names[] = { "both", "server", "disk", "none" };
static const unsigned side_bits[] = {
	CFG_SIDE_BOTH, CFG_SIDE_SERVER, CFG_SIDE_DISK, CFG_SIDE_NONE
};

static int
resolve_account(struct ctx *x, const struct ynode *v, struct cfg_channel *ch)
{
	const char **names;
	char dym[300];

	if (v->type != YN_SCALAR)
		return cfg_at(x, v, "'account' must be a string");
	for (size_t i = 0; i < x->c->naccounts; i++) {
		if (strcmp(x->c->accounts[i].name, v->value) == 0) {
			ch->account = &x->c->accounts[i];
			return 0;
		}
	}
	names = xcalloc(x->c->naccounts + 1, sizeof(*names));
	for (size_t i = 0; i < x->c->naccounts; i++)
		names[i] = x->c->accounts[i].name;
	cfg_did_you_mean(dym, sizeof(dym),
	    cfg_nearest(v->value, names, x->c->naccounts));
	free(names);
	return cfg_at(x, v, "channel '%s' names unknown account '%s'%s",
	    ch->name, v->value, dym);
}

static int
get_folder_list(struct ctx *x, const struct ynode *v, const char *key,
    struct strv *out)
{
	struct ynode *const *items, *one;
	size_t n;

	if (get_items(x, v, key, &items, &n, &one) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = items[i]->value;
		struct err pe = { 0 };

		if (strcmp(key, "folders") == 0) {
			if (pattern_check(s[0] == '!' ? s + 1 : s, &pe) == -1)
				return cfg_at(x, items[i], "invalid folder "
				    "pattern '%s': %s", s, pe.msg);
		} else if (pattern_check(s, &pe) == -1)
			return cfg_at(x, items[i], "invalid folder name '%s' "
			    "in '%s': %s", s, key, pe.msg);
		strv_add(out, s);
	}
	return 0;
}

static int
parse_channel(struct ctx *x, const struct ynode *name, const struct ynode *m,
    struct cfg_channel *ch)
{
	const struct ynode *where;
	const char *why;
	char ctxt[300];
	bool folders_set = false, watch_set = false;
	long n;
	int t;

	ch->name = xstrdup(name->value);
	ch->layout = CFG_LAYOUT_VERBATIM;
	ch->direction = CFG_DIR_BOTH;
	ch->propagate = CFG_PROP_ALL;
	ch->create = CFG_SIDE_BOTH;
	ch->remove = CFG_SIDE_NONE;
	ch->expunge = CFG_SIDE_BOTH;
	ch->delete_limit = 25;
	ch->poll_interval = 300;
	if ((why = bad_name(ch->name)) != NULL)
		return cfg_at(x, name, "channel name '%s' %s", ch->name, why);
	if (cfg_is_null(m))
		m = NULL;
	else if (m->type != YN_MAP)
		return cfg_at(x, m, "channel '%s' must be a mapping", ch->name);
	where = m ? m : name;
	snprintf(ctxt, sizeof(ctxt), "in channel '%s'", ch->name);
	for (size_t i = 0; m && i < m->nkids / 2; i++) {
		const struct ynode *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
		int rc = 0;

		if (check_key(x, m, i, "key") == -1)
			return -1;
		t = lookup(channel_keys, CK_N, k->value);
		if (t < 0)
			return unknown_key(x, k, channel_keys, CK_N, ctxt);
		if (cfg_is_null(v))
			continue;
		switch (t) {
		case CK_ACCOUNT:
			rc = resolve_account(x, v, ch);
			break;
		case CK_MAILDIR:
			rc = get_path(x, v, k->value, &ch->maildir);
			break;
		case CK_INBOX:
			rc = get_path(x, v, k->value, &ch->inbox);
			break;
		case CK_LAYOUT:
			rc = get_enum(x, v, k->value, layout_names, 2, &t);
			ch->layout = rc == 0 ? (enum cfg_layout)t :
			    CFG_LAYOUT_VERBATIM;
			break;
		case CK_FOLDERS:
			rc = get_folder_list(x, v, k->value, &ch->folders);
			folders_set = true;
			break;
		case CK_DIRECTION:
			rc = get_enum(x, v, k->value, dir_names, 3, &t);
			ch->direction = rc == 0 ? (enum cfg_direction)t :
			    CFG_DIR_BOTH;
			break;
		case CK_PROPAGATE:
			rc = get_bits(x, v, k->value, prop_names, 4,
			    &ch->propagate, NULL);
			break;
		case CK_CREATE:
			rc = get_enum(x, v, k->value, side_names, 4, &t);
			ch->create = rc == 0 ? side_bits[t] : 0;
			break;
		case CK_REMOVE:
			rc = get_enum(x, v, k->value, side_names, 4, &t);
			ch->remove = rc == 0 ? side_bits[t] : 0;
			break;
		case CK_EXPUNGE:
			rc = get_enum(x, v, k->value, side_names, 4, &t);
			ch->expunge = rc == 0 ? side_bits[t] : 0;
			break;
		case CK_MAX_SIZE:
			rc = get_max_size(x, v, &ch->max_size);
			break;
		case CK_MAX_AGE:
			rc = get_int(x, v, k->value, 0, 100000, &n);
			ch->max_age = (unsigned)n;
			break;
		case CK_DELETE_LIMIT:
			rc = get_percent(x, v, &ch->delete_limit);
			break;
		case CK_WATCH:
			rc = get_folder_list(x, v, k->value, &ch->watch);
			watch_set = true;
			break;
		case CK_POLL_INTERVAL:
			rc = get_int(x, v, k->value, 1, 86400, &n);
			ch->poll_interval = (unsigned)n;
			break;
		case CK_STATE_DIR:
			rc = get_path(x, v, k->value, &ch->state_dir);
			break;
		}
		if (rc == -1)
			return -1;
	}
	if (ch->account == NULL)
		return cfg_at(x, where, "channel '%s' is missing required key "
		    "'account'", ch->name);
	if (ch->maildir == NULL)
		return cfg_at(x, where, "channel '%s' is missing required key "
		    "'maildir'", ch->name);
	if (ch->inbox == NULL)
		ch->inbox = ch->layout == CFG_LAYOUT_MAILDIRPP ?
		    xstrdup(ch->maildir) :
		    xasprintf("%s/INBOX", strcmp(ch->maildir, "/") == 0 ?
		    "" : ch->maildir);
	if (!folders_set)
		strv_add(&ch->folders, "*");
	if (!watch_set)
		strv_add(&ch->watch, "INBOX");
	if (ch->state_dir == NULL) {
		char *dir = cfg_xdg_dir("XDG_STATE_HOME", ".local/state");

		ch->state_dir = xasprintf("%s/mailsync/%s", dir, ch->name);
		free(dir);
	}
	return 0;
}

static int
parse_group(struct ctx *x, const struct ynode *name, const struct ynode *v,
    struct cfg_group *g)
{
	struct ynode *const *items, *one;
	const char *why;
	size_t n;

	g->name = xstrdup(name->value);
	if ((why = bad_name(g->name)) != NULL)
		return cfg_at(x, name, "group name '%s' %s", g->name, why);
	if (cfg_channel_find(x->c, g->name) != NULL)
		return cfg_at(x, name, "group '%s' has the same name as a "
		    "channel", g->name);
	if (cfg_is_null(v))
		return 0;
	if (v->type == YN_SCALAR) {
		one = (struct ynode *)v;
		items = &one;
		n = 1;
	} else if (v->type == YN_SEQ) {
		items = v->kids;
		n = v->nkids;
	} else
		return cfg_at(x, v, "group '%s' must be a list of channel "
		    "names", g->name);
	for (size_t i = 0; i < n; i++) {
		if (items[i]->type != YN_SCALAR || cfg_is_null(items[i]))
			return cfg_at(x, items[i], "group '%s' must be a list "
			    "of channel names", g->name);
		if (cfg_channel_find(x->c, items[i]->value) == NULL)
			return cfg_at(x, items[i], "group '%s' names unknown "
			    "channel '%s'", g->name, items[i]->value);
		if (!strv_contains(&g->channels, items[i]->value))
			strv_add(&g->channels, items[i]->value);
	}
	return 0;
}

enum { HK_POST_SYNC, HK_NEW_MAIL, HK_N };
static const char *const hook_keys[HK_N] = {
	[HK_POST_SYNC] = "post-sync", [HK_NEW_MAIL] = "new-mail",
};

static int
parse_hooks(struct ctx *x, const struct ynode *m)
{
	if (m->type != YN_MAP)
		return cfg_at(x, m, "'hooks' must be a mapping");
	for (size_t i = 0; i < m->nkids / 2; i++) {
		const struct ynode *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
		int t;

		if (check_key(x, m, i, "key") == -1)
			return -1;
		t = lookup(hook_keys, HK_N, k->value);
		if (t < 0)
			return unknown_key(x, k, hook_keys, HK_N, "in hooks");
		if (cfg_is_null(v))
			continue;
		if (get_str(x, v, k->value, t == HK_POST_SYNC ?
		    &x->c->hook_post_sync : &x->c->hook_new_mail) == -1)
			return -1;
	}
	return 0;
}

enum { TK_ACCOUNTS, TK_CHANNELS, TK_GROUPS, TK_HOOKS, TK_N };
static const char *const top_keys[TK_N] = {
	[TK_ACCOUNTS] = "accounts", [TK_CHANNELS] = "channels",
	[TK_GROUPS] = "groups", [TK_HOOKS] = "hooks",
};

static int
check_section(struct ctx *x, const struct ynode *v, const char *key,
    size_t *n)
{
	*n = 0;
	if (v == NULL)
		return 0;
	if (v->type != YN_MAP)
		return cfg_at(x, v, "'%s' must be a mapping", key);
	*n = v->nkids / 2;
	return 0;
}

int
cfg_parse_root(struct ctx *x, const struct ynode *root)
{
	const struct ynode *sec[TK_N] = { 0 };
	struct cfg *c = x->c;
	size_t n;

	if (root == NULL || root->type != YN_MAP)
		return cfg_at(x, root, "top level must be a mapping");
	for (size_t i = 0; i < root->nkids / 2; i++) {
		const struct ynode *k = root->kids[2 * i];
		int t;

		if (check_key(x, root, i, "key") == -1)
			return -1;
		t = lookup(top_keys, TK_N, k->value);
		if (t < 0)
			return unknown_key(x, k, top_keys, TK_N,
			    "at top level");
		if (!cfg_is_null(root->kids[2 * i + 1]))
			sec[t] = root->kids[2 * i + 1];
	}

	if (check_section(x, sec[TK_ACCOUNTS], "accounts", &n) == -1)
		return -1;
	c->accounts = xcalloc(n, sizeof(*c->accounts));
	for (size_t i = 0; i < n; i++) {
		const struct ynode *m = sec[TK_ACCOUNTS];

		if (check_key(x, m, i, "account") == -1)
			return -1;
		c->naccounts++;
		if (parse_account(x, m->kids[2 * i], m->kids[2 * i + 1],
		    &c->accounts[i]) == -1)
			return -1;
	}

	if (check_section(x, sec[TK_CHANNELS], "channels", &n) == -1)
		return -1;
	c->channels = xcalloc(n, sizeof(*c->channels));
	for (size_t i = 0; i < n; i++) {
		const struct ynode *m = sec[TK_CHANNELS];

		if (check_key(x, m, i, "channel") == -1)
			return -1;
		c->nchannels++;
		if (parse_channel(x, m->kids[2 * i], m->kids[2 * i + 1],
		    &c->channels[i]) == -1)
			return -1;
	}

	if (check_section(x, sec[TK_GROUPS], "groups", &n) == -1)
		return -1;
	c->groups = xcalloc(n, sizeof(*c->groups));
	for (size_t i = 0; i < n; i++) {
		const struct ynode *m = sec[TK_GROUPS];

		if (check_key(x, m, i, "group") == -1)
			return -1;
		c->ngroups++;
		if (parse_group(x, m->kids[2 * i], m->kids[2 * i + 1],
		    &c->groups[i]) == -1)
			return -1;
	}

	if (sec[TK_HOOKS] && parse_hooks(x, sec[TK_HOOKS]) == -1)
		return -1;
	return 0;
}
