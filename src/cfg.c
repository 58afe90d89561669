/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reading the YAML configuration into struct cfg, with file:line:col errors. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml.h>

#include "cfg.h"
#include "log.h"
#include "pattern.h"

/* A config file is a few kilobytes; this only stops reading a wrong file. */
#define CFG_MAX_SIZE (1024 * 1024)
/* A hostile or broken file must not exhaust the stack of the builder. */
#define CFG_MAX_DEPTH 32
/* pass-cmd output kept; the rest is read and dropped so the child can end. */
#define SECRET_MAX (64 * 1024)

enum ynode_type {
	YN_SCALAR,
	YN_SEQ,
	YN_MAP,
};

/* libyaml's events turned into a tree that keeps every node's position. */
struct ynode {
	enum ynode_type type;
	char *value;		/* scalars: NUL-free text */
	size_t len;
	bool plain;		/* unquoted scalar: may spell null */
	unsigned long line, col;	/* 1-based */
	struct ynode **kids;	/* items, or key, value, key, value, ... */
	size_t nkids;
	size_t cap;
};

struct ctx {
	const char *path;
	struct err *e;
	struct cfg *c;
	bool has_password;
};

static int
at(struct ctx *x, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
at(struct ctx *x, const struct ynode *n, const char *fmt, ...)
{
	char msg[sizeof(x->e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(x->e, ERR_CONFIG, "%s:%lu:%lu: %s", x->path,
	    n ? n->line : 1, n ? n->col : 1, msg);
}

/* ---- the YAML tree ---- */

static void
ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	if (n->value) {
		/* scalars include any password */
		explicit_bzero(n->value, n->len);
		free(n->value);
	}
	free(n);
}

static struct ynode *
ynode_new(enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (unsigned long)mark->line + 1;
	n->col = (unsigned long)mark->column + 1;
	return n;
}

static void
ynode_add(struct ynode *n, struct ynode *kid)
{
	xgrow(&n->kids, &n->cap, n->nkids + 1, sizeof(*n->kids));
	n->kids[n->nkids++] = kid;
}

static void
event_delete(yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value)
		explicit_bzero(ev->data.scalar.value, ev->data.scalar.length);
	yaml_event_delete(ev);
}

static void
mark_of_offset(const char *buf, size_t off, yaml_mark_t *mark)
{
	memset(mark, 0, sizeof(*mark));
	for (size_t i = 0; i < off && buf[i]; i++) {
		if (buf[i] == '\n') {
			mark->line++;
			mark->column = 0;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
			mark->column++;
	}
}

static int
next_event(struct ctx *x, yaml_parser_t *p, const char *buf, yaml_event_t *ev)
{
	struct ynode where = { 0 };
	yaml_mark_t mark;

	if (yaml_parser_parse(p, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR) {
		fputs("mailsync: out of memory\n", stderr);
		abort();
	}
	/* libyaml leaves problem_mark unset for encoding errors */
	if (p->error == YAML_READER_ERROR)
		mark_of_offset(buf, p->problem_offset, &mark);
	else
		mark = p->problem_mark;
	where.line = (unsigned long)mark.line + 1;
	where.col = (unsigned long)mark.column + 1;
	return at(x, &where, "YAML syntax error: %s",
	    p->problem ? p->problem : "unknown problem");
}

static int
build_node(struct ctx *x, yaml_parser_t *p, const char *buf,
    yaml_event_t *ev, int depth, struct ynode **out)
{
	struct ynode *n = NULL;
	yaml_event_t kid;
	yaml_event_type_t end;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = ynode_new(YN_SCALAR, &ev->start_mark);
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			at(x, n, "NUL character in a string");
			free(n);
			return -1;
		}
		n->value = xstrndup((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		*out = n;
		return 0;
	case YAML_ALIAS_EVENT:
		n = ynode_new(YN_SCALAR, &ev->start_mark);
		at(x, n, "YAML aliases are not supported");
		free(n);
		return -1;
	case YAML_SEQUENCE_START_EVENT:
		n = ynode_new(YN_SEQ, &ev->start_mark);
		end = YAML_SEQUENCE_END_EVENT;
		break;
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(YN_MAP, &ev->start_mark);
		end = YAML_MAPPING_END_EVENT;
		break;
	default:
		n = ynode_new(YN_SCALAR, &ev->start_mark);
		at(x, n, "YAML syntax error: unexpected event");
		free(n);
		return -1;
	}
	if (depth >= CFG_MAX_DEPTH) {
		at(x, n, "YAML nesting is too deep");
		ynode_free(n);
		return -1;
	}
	for (;;) {
		struct ynode *k;
		int rc;

		if (next_event(x, p, buf, &kid) == -1) {
			ynode_free(n);
			return -1;
		}
		if (kid.type == end) {
			event_delete(&kid);
			break;
		}
		rc = build_node(x, p, buf, &kid, depth + 1, &k);
		event_delete(&kid);
		if (rc == -1) {
			ynode_free(n);
			return -1;
		}
		ynode_add(n, k);
	}
	*out = n;
	return 0;
}

/* The first document of buf, or NULL for a stream without one. */
static int
build_tree(struct ctx *x, const char *buf, size_t len, struct ynode **out)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *root = NULL;
	int rc = -1;

	*out = NULL;
	if (!yaml_parser_initialize(&p)) {
		fputs("mailsync: out of memory\n", stderr);
		abort();
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	event_delete(&ev);	/* STREAM-START */
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		event_delete(&ev);
		rc = 0;
		goto out;
	}
	event_delete(&ev);	/* DOCUMENT-START */
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	rc = build_node(x, &p, buf, &ev, 0, &root);
	event_delete(&ev);
	if (rc == -1)
		goto out;
	rc = -1;
	if (next_event(x, &p, buf, &ev) == -1)	/* DOCUMENT-END */
		goto out;
	event_delete(&ev);
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		struct ynode where = { .line = ev.start_mark.line + 1,
		    .col = ev.start_mark.column + 1 };

		event_delete(&ev);
		at(x, &where, "only one YAML document is allowed");
		goto out;
	}
	event_delete(&ev);
	rc = 0;
out:
	yaml_parser_delete(&p);
	if (rc == 0)
		*out = root;
	else
		ynode_free(root);
	return rc;
}

/* ---- small helpers ---- */

static bool
is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n == NULL)
		return true;
	if (n->type != YN_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->value, nulls[i]) == 0)
			return true;
	return false;
}

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
static const char *
nearest(const char *word, const char *const *cands, size_t n)
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

static void
did_you_mean(char *buf, size_t size, const char *best)
{
	if (best)
		snprintf(buf, size, " (did you mean '%s'?)", best);
	else
		buf[0] = '\0';
}

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && h[0])
		return h;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0])
		return pw->pw_dir;
	return NULL;
}

/* $XDG_*_HOME if it is set and absolute (XDG Base Directory spec), or
 * ~/fallback. */
static char *
xdg_dir(const char *var, const char *fallback)
{
	const char *v = getenv(var), *home;

	if (v && v[0] == '/')
		return xstrdup(v);
	home = home_dir();
	return xasprintf("%s/%s", home ? home : "", fallback);
}

/* The expansion of path, or NULL with the reason in *why_out. */
static char *
expand(const char *path, char **why_out)
{
	struct buf b = { 0 };
	const char *s = path;

	*why_out = NULL;
	if (s[0] == '~' && (s[1] == '\0' || s[1] == '/')) {
		const char *home = home_dir();

		if (home == NULL) {
			*why_out = xstrdup("HOME is not set");
			return NULL;
		}
		buf_adds(&b, home);
		s++;
	}
	while (*s) {
		const char *name, *val;
		size_t len;
		char *var;

		if (s[0] != '$' ||
		    !(s[1] == '{' || s[1] == '_' ||
		    (s[1] >= 'A' && s[1] <= 'Z') ||
		    (s[1] >= 'a' && s[1] <= 'z'))) {
			buf_addc(&b, *s++);
			continue;
		}
		if (s[1] == '{') {
			const char *close = strchr(s + 2, '}');

			if (close == NULL || close == s + 2) {
				*why_out = xasprintf("'${' without a "
				    "variable name and '}'");
				buf_free(&b);
				return NULL;
			}
			name = s + 2;
			len = (size_t)(close - name);
			s = close + 1;
		} else {
			name = s + 1;
			len = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789_");
			s = name + len;
		}
		var = xstrndup(name, len);
		val = getenv(var);
		if (val == NULL) {
			*why_out = xasprintf("environment variable %s is "
			    "not set", var);
			free(var);
			buf_free(&b);
			return NULL;
		}
		free(var);
		buf_adds(&b, val);
	}
	if (b.data == NULL)
		buf_adds(&b, "");
	return b.data;
}

char *
cfg_expand_path(const char *path)
{
	char *why, *res = expand(path, &why);

	free(why);
	return res;
}

char *
cfg_default_path(void)
{
	char *dir = xdg_dir("XDG_CONFIG_HOME", ".config");
	char *p = xasprintf("%s/mailsync/config.yaml", dir);

	free(dir);
	return p;
}

static bool
is_loopback(const char *host)
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
		return at(x, k, "mapping keys must be strings");
	for (size_t j = 0; j < i; j++) {
		const struct ynode *o = m->kids[2 * j];

		if (o->type == YN_SCALAR && strcmp(o->value, k->value) == 0)
			return at(x, k, "duplicate %s '%s'", dupword,
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

	did_you_mean(dym, sizeof(dym), nearest(k->value, names, n));
	return at(x, k, "unknown key '%s' %s%s", k->value, where, dym);
}

static int
get_str(struct ctx *x, const struct ynode *v, const char *key, char **out)
{
	if (v->type != YN_SCALAR)
		return at(x, v, "'%s' must be a string", key);
	if (v->len == 0)
		return at(x, v, "'%s' must not be empty", key);
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
	p = expand(raw, &why);
	free(raw);
	if (p == NULL) {
		at(x, v, "'%s': %s", key, why);
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
			return at(x, v, "'%s': cannot resolve a relative path: "
			    "%s", key, strerror(errno));
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
		return at(x, v, "'%s' must be an integer between %ld and %ld",
		    key, lo, hi);
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
		return at(x, v, "'%s' must be one of %s", key, list);
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
		return at(x, v, "'%s' must be a list of strings", key);
	for (size_t i = 0; i < *n; i++)
		if ((*items)[i]->type != YN_SCALAR || is_null((*items)[i]))
			return at(x, (*items)[i],
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
			return at(x, items[i], "'%s' must be a list of %s",
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
	return at(x, v, "'max-size' must be a number of bytes, optionally "
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
	return at(x, v, "'delete-limit' must be a percentage between 0%% "
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
	return at(x, v, "'cert-fingerprint' must be a SHA-256 fingerprint: "
	    "64 hex digits, colons and a 'sha256:' prefix optional");
}

/* ---- sections ---- */

enum {
	AK_HOST, AK_PORT, AK_TLS, AK_USER, AK_PASS_CMD, AK_PASSWORD, AK_AUTH,
	AK_CA_FILE, AK_CERT_FINGERPRINT, AK_TIMEOUT, AK_CONNECTIONS, AK_N
};
static const char *const account_keys[AK_N] = {
	[AK_HOST] = "host", [AK_PORT] = "port", [AK_TLS] = "tls",
	[AK_USER] = "user", [AK_PASS_CMD] = "pass-cmd",
	[AK_PASSWORD] = "password", [AK_AUTH] = "auth",
	[AK_CA_FILE] = "ca-file", [AK_CERT_FINGERPRINT] = "cert-fingerprint",
	[AK_TIMEOUT] = "timeout", [AK_CONNECTIONS] = "connections",
};
static const char *const tls_names[] = { "imaps", "starttls", "none" };
static const char *const auth_names[] = { "plain", "login", "xoauth2" };

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
		return at(x, name, "account name must not be empty");
	if (is_null(m))
		m = NULL;
	else if (m->type != YN_MAP)
		return at(x, m, "account '%s' must be a mapping", a->name);
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
		if (is_null(v))
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
			break;
		}
		if (rc == -1)
			return -1;
	}
	if (a->host == NULL)
		return at(x, where, "account '%s' is missing required key "
		    "'host'", a->name);
	if (a->user == NULL)
		return at(x, where, "account '%s' is missing required key "
		    "'user'", a->name);
	if (a->pass_cmd == NULL && a->password == NULL)
		return at(x, where, "account '%s' needs 'pass-cmd' or "
		    "'password'", a->name);
	/* SPEC.md section 6: cleartext only where nobody can listen */
	if (a->tls == CFG_TLS_NONE && !is_loopback(a->host))
		return at(x, tls_node, "tls: none is only allowed for loopback "
		    "hosts (host is '%s')", a->host);
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
		return at(x, v, "'account' must be a string");
	for (size_t i = 0; i < x->c->naccounts; i++) {
		if (strcmp(x->c->accounts[i].name, v->value) == 0) {
			ch->account = &x->c->accounts[i];
			return 0;
		}
	}
	names = xcalloc(x->c->naccounts + 1, sizeof(*names));
	for (size_t i = 0; i < x->c->naccounts; i++)
		names[i] = x->c->accounts[i].name;
	did_you_mean(dym, sizeof(dym),
	    nearest(v->value, names, x->c->naccounts));
	free(names);
	return at(x, v, "channel '%s' names unknown account '%s'%s", ch->name,
	    v->value, dym);
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
				return at(x, items[i], "invalid folder "
				    "pattern '%s': %s", s, pe.msg);
		} else if (pattern_check(s, &pe) == -1)
			return at(x, items[i], "invalid folder name '%s' in "
			    "'%s': %s", s, key, pe.msg);
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
		return at(x, name, "channel name '%s' %s", ch->name, why);
	if (is_null(m))
		m = NULL;
	else if (m->type != YN_MAP)
		return at(x, m, "channel '%s' must be a mapping", ch->name);
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
		if (is_null(v))
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
		return at(x, where, "channel '%s' is missing required key "
		    "'account'", ch->name);
	if (ch->maildir == NULL)
		return at(x, where, "channel '%s' is missing required key "
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
		char *dir = xdg_dir("XDG_STATE_HOME", ".local/state");

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
		return at(x, name, "group name '%s' %s", g->name, why);
	if (cfg_channel_find(x->c, g->name) != NULL)
		return at(x, name, "group '%s' has the same name as a channel",
		    g->name);
	if (is_null(v))
		return 0;
	if (v->type == YN_SCALAR) {
		one = (struct ynode *)v;
		items = &one;
		n = 1;
	} else if (v->type == YN_SEQ) {
		items = v->kids;
		n = v->nkids;
	} else
		return at(x, v, "group '%s' must be a list of channel names",
		    g->name);
	for (size_t i = 0; i < n; i++) {
		if (items[i]->type != YN_SCALAR || is_null(items[i]))
			return at(x, items[i], "group '%s' must be a list of "
			    "channel names", g->name);
		if (cfg_channel_find(x->c, items[i]->value) == NULL)
			return at(x, items[i], "group '%s' names unknown "
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
		return at(x, m, "'hooks' must be a mapping");
	for (size_t i = 0; i < m->nkids / 2; i++) {
		const struct ynode *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
		int t;

		if (check_key(x, m, i, "key") == -1)
			return -1;
		t = lookup(hook_keys, HK_N, k->value);
		if (t < 0)
			return unknown_key(x, k, hook_keys, HK_N, "in hooks");
		if (is_null(v))
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
		return at(x, v, "'%s' must be a mapping", key);
	*n = v->nkids / 2;
	return 0;
}

static int
parse_root(struct ctx *x, const struct ynode *root)
{
	const struct ynode *sec[TK_N] = { 0 };
	struct cfg *c = x->c;
	size_t n;

	if (root == NULL || root->type != YN_MAP)
		return at(x, root, "top level must be a mapping");
	for (size_t i = 0; i < root->nkids / 2; i++) {
		const struct ynode *k = root->kids[2 * i];
		int t;

		if (check_key(x, root, i, "key") == -1)
			return -1;
		t = lookup(top_keys, TK_N, k->value);
		if (t < 0)
			return unknown_key(x, k, top_keys, TK_N,
			    "at top level");
		if (!is_null(root->kids[2 * i + 1]))
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

static int
read_file(const char *path, char **buf_out, size_t *len_out, mode_t *mode_out,
    struct err *e)
{
	struct buf b = { 0 };
	struct stat st;
	char chunk[8192];
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_sys(e, ERR_CONFIG, "cannot read %s", path);
	if (fstat(fd, &st) == -1) {
		err_sys(e, ERR_CONFIG, "cannot read %s", path);
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_sys(e, ERR_CONFIG, "cannot read %s", path);
			goto fail;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > CFG_MAX_SIZE) {
			err_set(e, ERR_CONFIG, "cannot read %s: larger than "
			    "%d bytes", path, CFG_MAX_SIZE);
			goto fail;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if (b.data == NULL)
		buf_adds(&b, "");
	*buf_out = b.data;
	*len_out = b.len;
	*mode_out = st.st_mode;
	return 0;
fail:
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	return -1;
}

int
cfg_load(const char *path, struct cfg **out, struct err *e)
{
	struct ctx x = { .path = path, .e = e };
	struct ynode *root = NULL;
	char *buf;
	size_t len;
	mode_t mode;
	int rc;

	*out = NULL;
	if (read_file(path, &buf, &len, &mode, e) == -1)
		return -1;
	x.c = xcalloc(1, sizeof(*x.c));
	x.c->path = xstrdup(path);
	rc = build_tree(&x, buf, len, &root);
	explicit_bzero(buf, len);
	free(buf);
	if (rc == 0)
		rc = parse_root(&x, root);
	ynode_free(root);
	if (rc == -1) {
		cfg_free(&x.c);
		return -1;
	}
	if (x.has_password && (mode & 077))
		log_warn("%s: holds a password and is readable by others; "
		    "chmod 600 it", path);
	*out = x.c;
	return 0;
}

void
cfg_free(struct cfg **cp)
{
	struct cfg *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->naccounts; i++) {
		struct cfg_account *a = &c->accounts[i];

		free(a->name);
		free(a->host);
		free(a->user);
		free(a->pass_cmd);
		if (a->password)
			explicit_bzero(a->password, strlen(a->password));
		free(a->password);
		strv_free(&a->auth);
		free(a->ca_file);
		free(a->cert_fingerprint);
	}
	free(c->accounts);
	for (size_t i = 0; i < c->nchannels; i++) {
		struct cfg_channel *ch = &c->channels[i];

		free(ch->name);
		free(ch->maildir);
		free(ch->inbox);
		strv_free(&ch->folders);
		strv_free(&ch->watch);
		free(ch->state_dir);
	}
	free(c->channels);
	for (size_t i = 0; i < c->ngroups; i++) {
		free(c->groups[i].name);
		strv_free(&c->groups[i].channels);
	}
	free(c->groups);
	free(c->hook_post_sync);
	free(c->hook_new_mail);
	free(c->path);
	free(c);
	*cp = NULL;
}

/* ---- secrets ---- */

static int
run_pass_cmd(const struct cfg_account *a, char **secret_out, struct err *e)
{
	char *argv[] = { "sh", "-c", a->pass_cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	char *out = xmalloc(SECRET_MAX), drop[512];
	size_t len = 0, line;
	bool truncated = false;
	int fds[2], status, rc, read_errno = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		free(out);
		return err_sys(e, ERR_FAIL, "account '%s': pass-cmd: pipe",
		    a->name);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	/* watch mode blocks SIGINT/SIGTERM/SIGHUP to read them from a
	 * signalfd; the command must not inherit that mask */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		free(out);
		errno = rc;
		return err_sys(e, ERR_FAIL, "account '%s': cannot run "
		    "pass-cmd", a->name);
	}
	for (;;) {
		ssize_t n;

		if (len < SECRET_MAX)
			n = read(fds[0], out + len, SECRET_MAX - len);
		else
			n = read(fds[0], drop, sizeof(drop));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			read_errno = errno;
		if (n <= 0)
			break;
		if (len < SECRET_MAX)
			len += (size_t)n;
	}
	close(fds[0]);
	explicit_bzero(drop, sizeof(drop));
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			rc = err_sys(e, ERR_FAIL, "account '%s': pass-cmd: "
			    "waitpid", a->name);
			goto out;
		}
	}
	rc = -1;
	if (WIFSIGNALED(status))
		err_set(e, ERR_FAIL, "account '%s': pass-cmd failed (killed "
		    "by signal %d)", a->name, WTERMSIG(status));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		err_set(e, ERR_FAIL, "account '%s': pass-cmd failed (exit "
		    "status %d)", a->name, WEXITSTATUS(status));
	else if (read_errno) {
		errno = read_errno;
		err_sys(e, ERR_FAIL, "account '%s': reading the output of "
		    "pass-cmd", a->name);
	} else {
		for (line = 0; line < len && out[line] != '\n'; line++)
			;
		if (line == len && len == SECRET_MAX)
			truncated = true;
		if (line > 0 && out[line - 1] == '\r')
			line--;
		if (truncated)
			err_set(e, ERR_FAIL, "account '%s': pass-cmd output "
			    "is longer than %d bytes", a->name, SECRET_MAX);
		else if (line == 0)
			err_set(e, ERR_FAIL, "account '%s': pass-cmd produced "
			    "no output", a->name);
		else {
			*secret_out = xstrndup(out, line);
			rc = 0;
		}
	}
out:
	explicit_bzero(out, SECRET_MAX);
	free(out);
	return rc;
}

int
cfg_get_secret(const struct cfg_account *a, char **secret_out, struct err *e)
{
	*secret_out = NULL;
	if (a->pass_cmd)
		return run_pass_cmd(a, secret_out, e);
	if (a->password == NULL)
		return err_set(e, ERR_CONFIG, "account '%s' needs 'pass-cmd' "
		    "or 'password'", a->name);
	*secret_out = xstrdup(a->password);
	return 0;
}

/* ---- channel selection ---- */

struct cfg_channel *
cfg_channel_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i].name, name) == 0)
			return &c->channels[i];
	return NULL;
}

static struct cfg_group *
group_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

struct selection {
	struct cfg_selection *v;
	size_t n;
	size_t cap;
};

/* Add ch whole (folders NULL) or restricted to folders; whole wins. */
static void
select_add(struct selection *s, struct cfg_channel *ch,
    const struct strv *folders)
{
	struct cfg_selection *sel = NULL;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].channel == ch)
			sel = &s->v[i];
	if (sel == NULL) {
		xgrow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
		sel = &s->v[s->n++];
		memset(sel, 0, sizeof(*sel));
		sel->channel = ch;
		if (folders)
			for (size_t i = 0; i < folders->n; i++)
				strv_add(&sel->folders, folders->v[i]);
		return;
	}
	if (sel->folders.n == 0)
		return;
	if (folders == NULL) {
		strv_free(&sel->folders);
		return;
	}
	for (size_t i = 0; i < folders->n; i++)
		if (!strv_contains(&sel->folders, folders->v[i]))
			strv_add(&sel->folders, folders->v[i]);
}

static int
unknown_selector(const struct cfg *c, const char *name, bool groups,
    struct err *e)
{
	size_t n = c->nchannels + (groups ? c->ngroups : 0);
	const char **names = xcalloc(n + 1, sizeof(*names));
	char dym[300];

	for (size_t i = 0; i < c->nchannels; i++)
		names[i] = c->channels[i].name;
	for (size_t i = 0; groups && i < c->ngroups; i++)
		names[c->nchannels + i] = c->groups[i].name;
	did_you_mean(dym, sizeof(dym), nearest(name, names, n));
	free(names);
	return err_set(e, ERR_CONFIG, "unknown %s '%s'%s",
	    groups ? "channel or group" : "channel", name, dym);
}

static int
select_arg(const struct cfg *c, const char *arg, struct selection *s,
    struct err *e)
{
	const char *colon = strchr(arg, ':');
	struct cfg_channel *ch;
	struct cfg_group *g;

	if (colon) {
		char *name = xstrndup(arg, (size_t)(colon - arg));
		struct strv folders = { 0 };
		const char *f = colon + 1;

		ch = cfg_channel_find(c, name);
		if (ch == NULL) {
			unknown_selector(c, name, false, e);
			free(name);
			return -1;
		}
		free(name);
		while (*f) {
			size_t len = strcspn(f, ",");
			char *folder = xstrndup(f, len);
			struct err pe = { 0 };

			if (len && pattern_check(folder, &pe) == -1) {
				err_set(e, ERR_CONFIG, "invalid folder name "
				    "'%s': %s", folder, pe.msg);
				free(folder);
				strv_free(&folders);
				return -1;
			}
			if (len && !strv_contains(&folders, folder))
				strv_add_owned(&folders, folder);
			else
				free(folder);
			f += len;
			if (*f == ',')
				f++;
		}
		if (folders.n == 0)
			return err_set(e, ERR_CONFIG, "no folder given after "
			    "'%s'", arg);
		select_add(s, ch, &folders);
		strv_free(&folders);
		return 0;
	}
	if ((ch = cfg_channel_find(c, arg)) != NULL) {
		select_add(s, ch, NULL);
		return 0;
	}
	if ((g = group_find(c, arg)) != NULL) {
		for (size_t i = 0; i < g->channels.n; i++) {
			ch = cfg_channel_find(c, g->channels.v[i]);
			if (ch)
				select_add(s, ch, NULL);
		}
		return 0;
	}
	return unknown_selector(c, arg, true, e);
}

int
cfg_select(const struct cfg *c, char *const *args, int nargs, bool all,
    struct cfg_selection **out, size_t *nout, struct err *e)
{
	struct selection s = { 0 };

	*out = NULL;
	*nout = 0;
	if (all && nargs > 0)
		return err_set(e, ERR_CONFIG,
		    "-a and channel names cannot be combined");
	if (!all && nargs <= 0)
		return err_set(e, ERR_CONFIG,
		    "no channel given (use -a or name channels)");
	if (all)
		for (size_t i = 0; i < c->nchannels; i++)
			select_add(&s, &c->channels[i], NULL);
	for (int i = 0; i < nargs; i++) {
		if (select_arg(c, args[i], &s, e) == -1) {
			cfg_selection_free(&s.v, s.n);
			return -1;
		}
	}
	*out = s.v;
	*nout = s.n;
	return 0;
}

void
cfg_selection_free(struct cfg_selection **sel, size_t n)
{
	if (*sel == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		strv_free(&(*sel)[i].folders);
	free(*sel);
	*sel = NULL;
}
