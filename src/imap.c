/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The IMAP store: store_ops over libetpan, with our own transport below. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "cfg.h"
#include "imap_io.h"
#include "log.h"
#include "store.h"
#include "utf7.h"
#include "util.h"

/* Messages per FETCH while listing: bounds what libetpan holds at once. */
#define LIST_CHUNK 2000
/* UIDs per UID set in one command. */
#define SET_CHUNK 1000

struct imap_store {
	struct store base;	/* first: the engine sees only this */
	const struct cfg_account *acct;
	char *label;
	struct imap_io *io;
	mailimap *imap;
	bool ready;		/* open succeeded */
	bool broken;		/* the session is unusable */
	enum err_code broken_code;
	char broken_msg[sizeof(((struct err *)0)->msg)];
	char delim;		/* hierarchy delimiter; 0 for none (NIL) */
	bool uidplus, condstore;
	char *sel_name;		/* canonical name of the selected one */
	char *sel_wire;
	struct folder_status sel;
};

static struct imap_store *
imap_of(struct store *st)
{
	return (struct imap_store *)st;
}

/* ---- errors ---------------------------------------------------------- */

/* The server's words from the last tagged reply: "[CODE] text". */
static const char *
server_text(struct imap_store *s)
{
	const char *t = imap_io_last_tagged(s->io);

	for (int i = 0; i < 2 && *t; i++) {
		while (*t && *t != ' ')
			t++;
		while (*t == ' ')
			t++;
	}
	if (*t == '\0' && s->imap->imap_response != NULL)
		t = s->imap->imap_response;
	return *t ? t : "(no text)";
}

/* Whether the last tagged reply was OK (not a NO with data). */
static bool
tagged_ok(struct imap_store *s)
{
	const char *t = imap_io_last_tagged(s->io);

	while (*t && *t != ' ')
		t++;
	return strncasecmp(t, " OK", 3) == 0 && (t[3] == ' ' || t[3] == '\0');
}

static int
set_broken(struct imap_store *s, enum err_code code, const char *what,
    const char *why, struct err *e)
{
	if (!s->broken) {
		s->broken = true;
		s->broken_code = code;
		snprintf(s->broken_msg, sizeof(s->broken_msg), "%s", why);
	}
	return err_set(e, code, "%s: %s: %s", s->label, what, why);
}

/* Turn a failed libetpan call (r) during `what` into e. */
static int
imap_fail(struct imap_store *s, int r, const char *what, struct err *e)
{
	enum err_code code = ERR_FAIL;
	const char *why = imap_io_error(s->io, &code);
	char text[600];

	if (why != NULL)
		return set_broken(s, code, what, why, e);
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return set_broken(s, ERR_TEMP, what, "connection lost", e);
	case MAILIMAP_ERROR_PARSE:
		return set_broken(s, ERR_FAIL, what,
		    "unparsable response from the server", e);
	case MAILIMAP_ERROR_FATAL:
		snprintf(text, sizeof(text), "the server ended the session: %s",
		    s->imap->imap_response ? s->imap->imap_response : "BYE");
		return set_broken(s, ERR_TEMP, what, text, e);
	case MAILIMAP_ERROR_MEMORY:
		return err_set(e, ERR_FAIL, "%s: %s: out of memory", s->label,
		    what);
	case MAILIMAP_ERROR_BAD_STATE:
		return err_set(e, ERR_FAIL, "%s: %s: not possible in this "
		    "session state", s->label, what);
	default:
		return err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
		    server_text(s));
	}
}

/* Refuse early on a dead session or before open. */
static int
check_usable(struct imap_store *s, const char *what, struct err *e)
{
	if (!s->ready)
		return err_set(e, ERR_FAIL, "%s: %s: not connected", s->label,
		    what);
	if (s->broken)
		return err_set(e, s->broken_code, "%s: %s: %s", s->label, what,
		    s->broken_msg);
	return 0;
}

static int
check_selected(struct imap_store *s, const char *what, struct err *e)
{
	if (check_usable(s, what, e) < 0)
		return -1;
	if (s->sel_name == NULL)
		return err_set(e, ERR_FAIL, "%s: %s: no folder selected",
		    s->label, what);
	return 0;
}

static bool
has_cap(struct imap_store *s, const char *name)
{
	return imap_has_cap(s->imap, name);
}

/*
 * Ask for the capabilities, trusting nothing learnt earlier: libetpan
 * 1.9.4 keeps the pre-STARTTLS list (and mailimap_capability crashes when
 * the server then sends none), so the old list is dropped first.
 */
static int
refresh_caps(struct imap_store *s, struct err *e)
{
	int r;

	imap_forget_caps(s->imap);
	r = imap_cmd_simple(s->imap, "CAPABILITY");
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, "CAPABILITY", e);
	if (!imap_have_caps(s->imap))
		return set_broken(s, ERR_FAIL, "CAPABILITY",
		    "the server listed no capabilities", e);
	return 0;
}

/* ---- authentication -------------------------------------------------- */

static char *
base64(const unsigned char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static void
wipe_free(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

/* RFC 4616 PLAIN, with the initial response inline when SASL-IR allows. */
static int
auth_plain(struct imap_store *s, const char *user, const char *secret)
{
	size_t ulen = strlen(user), slen = strlen(secret);
	size_t n = ulen + slen + 2;
	unsigned char *msg = xmalloc(n);
	char *b64;
	int r;

	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[ulen + 1] = '\0';
	memcpy(msg + ulen + 2, secret, slen);
	b64 = base64(msg, n);
	explicit_bzero(msg, n);
	free(msg);

	if (has_cap(s, "SASL-IR")) {
		r = imap_cmd_begin(s->imap, "AUTHENTICATE PLAIN ");
		if (r == MAILIMAP_NO_ERROR)
			r = imap_cmd_add(s->imap, b64, strlen(b64));
		if (r == MAILIMAP_NO_ERROR)
			r = imap_cmd_end(s->imap);
	} else {
		r = imap_cmd_begin(s->imap, "AUTHENTICATE PLAIN");
		if (r == MAILIMAP_NO_ERROR)
			r = imap_cmd_add(s->imap, "\r\n", 2);
		if (r == MAILIMAP_NO_ERROR)
			r = imap_cmd_flush_read(s->imap);
		if (r == MAILIMAP_NO_ERROR && !imap_cmd_continuation(s->imap)) {
			r = imap_cmd_parse(s->imap);
			if (r == MAILIMAP_NO_ERROR)
				r = MAILIMAP_ERROR_PROTOCOL;
		} else if (r == MAILIMAP_NO_ERROR) {
			r = imap_cmd_add(s->imap, b64, strlen(b64));
			if (r == MAILIMAP_NO_ERROR)
				r = imap_cmd_end(s->imap);
		}
	}
	wipe_free(b64);
	return r;
}

static int
auth_login(struct imap_store *s, const char *user, const char *secret)
{
	int r = imap_cmd_begin(s->imap, "LOGIN ");

	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_string(s->imap, user, strlen(user));
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, " ", 1);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_string(s->imap, secret, strlen(secret));
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_end(s->imap);
	return r;
}

/* The first mechanism of the account's list (default: plain, then login)
 * that the server offers, or NULL. */
static const char *
pick_mechanism(struct imap_store *s)
{
	static const char *const dflt[] = { "plain", "login" };
	const struct strv *allowed = &s->acct->auth;
	size_t n = allowed->n ? allowed->n : 2;

	for (size_t i = 0; i < n; i++) {
		const char *m = allowed->n ? allowed->v[i] : dflt[i];

		if (strcmp(m, "plain") == 0 && has_cap(s, "AUTH=PLAIN"))
			return "plain";
		if (strcmp(m, "login") == 0 && !has_cap(s, "LOGINDISABLED"))
			return "login";
		if (strcmp(m, "xoauth2") == 0 && has_cap(s, "AUTH=XOAUTH2"))
			return "xoauth2";
	}
	return NULL;
}

static int
authenticate(struct imap_store *s, struct err *e)
{
	const char *mech = pick_mechanism(s);
	const char *user = s->acct->user;
	char *secret = NULL;
	char what[64];
	int r;

	if (mech == NULL)
		return err_set(e, ERR_FAIL, "%s: no allowed authentication "
		    "mechanism is offered by the server%s", s->label,
		    has_cap(s, "LOGINDISABLED") ? " (it has LOGINDISABLED)" :
		    "");
	if (cfg_get_secret(s->acct, &secret, e) < 0)
		return err_prefix(e, "%s", s->label);

	imap_io_set_secret(s->io, true);
	if (strcmp(mech, "plain") == 0)
		r = auth_plain(s, user, secret);
	else if (strcmp(mech, "login") == 0)
		r = auth_login(s, user, secret);
	else
		r = mailimap_oauth2_authenticate(s->imap, user, secret);
	imap_io_set_secret(s->io, false);
	wipe_free(secret);
	/* libetpan's write buffer still holds the last command. */
	explicit_bzero(s->imap->imap_stream->write_buffer,
	    s->imap->imap_stream->buffer_max_size);

	snprintf(what, sizeof(what), "%s",
	    strcmp(mech, "login") == 0 ? "LOGIN" : "AUTHENTICATE");
	if (r == MAILIMAP_ERROR_CUSTOM_COMMAND || r == MAILIMAP_ERROR_LOGIN ||
	    (r == MAILIMAP_ERROR_PROTOCOL && imap_io_error(s->io, NULL) ==
	    NULL))
		return err_set(e, ERR_FAIL, "%s: authentication failed: %s "
		    "(check pass-cmd / password; some servers need an app "
		    "password)", s->label, server_text(s));
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	s->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	/* Servers often extend the list once logged in. */
	if (strcasestr(imap_io_last_tagged(s->io), "[CAPABILITY ") == NULL)
		return refresh_caps(s, e);
	return 0;
}

/* ---- connection ------------------------------------------------------ */

static int
starttls(struct imap_store *s, struct err *e)
{
	const struct cfg_account *a = s->acct;
	int r;

	if (!imap_have_caps(s->imap) && refresh_caps(s, e) < 0)
		return -1;
	if (!has_cap(s, "STARTTLS"))
		return err_set(e, ERR_FAIL, "%s: the server does not offer "
		    "STARTTLS (tls: starttls); refusing to continue in clear "
		    "text", s->label);
	r = mailimap_starttls(s->imap);
	if (r != MAILIMAP_NO_ERROR && (!tagged_ok(s) ||
	    imap_io_error(s->io, NULL) != NULL))
		return imap_fail(s, r, "STARTTLS", e);
	/* RFC 3207 section 5 / CVE-2011-0411: whatever arrived after the
	 * OK but before the handshake was injected in clear text (libetpan
	 * 1.9.4 fails an OK with buffered data, CVE-2020-15953). */
	if (r != MAILIMAP_NO_ERROR ||
	    s->imap->imap_stream->read_buffer_len > 0 ||
	    imap_io_has_input(s->io))
		return set_broken(s, ERR_FAIL, "STARTTLS", "the server sent "
		    "data after its STARTTLS reply, before the TLS handshake "
		    "(possible response injection)", e);
	if (imap_io_start_tls(s->io, a->host, a->ca_file,
	    a->cert_fingerprint, e) < 0) {
		s->broken = true;
		s->broken_code = e->code;
		memcpy(s->broken_msg, e->msg, sizeof(s->broken_msg));
		return err_prefix(e, "%s", s->label);
	}
	/* Nothing learnt before TLS may be used (RFC 3501 6.2.1). */
	return refresh_caps(s, e);
}

static int
learn_delimiter(struct imap_store *s, struct err *e)
{
	clist *result = NULL;
	int r;

	/* RFC 3501 6.3.8: LIST "" "" returns the hierarchy delimiter. */
	r = mailimap_list(s->imap, "", "", &result);
	if (r != MAILIMAP_NO_ERROR) {
		if (result != NULL)
			mailimap_list_result_free(result);
		return imap_fail(s, r, "LIST", e);
	}
	s->delim = '/';
	if (result != NULL && clist_begin(result) != NULL) {
		struct mailimap_mailbox_list *mb =
		    clist_content(clist_begin(result));

		s->delim = mb->mb_delimiter;
	}
	if (result != NULL)
		mailimap_list_result_free(result);
	return 0;
}

static int
imap_open(struct store *st, bool create_root, struct err *e)
{
	struct imap_store *s = imap_of(st);
	const struct cfg_account *a = s->acct;
	mailstream *stream;
	int r;

	(void)create_root;
	if (s->ready)
		return check_usable(s, "open", e);
	if (s->imap != NULL || s->io != NULL)
		return err_set(e, ERR_FAIL, "%s: the connection failed "
		    "earlier", s->label);
	if (imap_io_connect(a->host, a->port, a->timeout, s->label, &s->io,
	    e) < 0)
		return err_prefix(e, "%s", s->label);
	if (a->tls == CFG_TLS_IMAPS && imap_io_start_tls(s->io, a->host,
	    a->ca_file, a->cert_fingerprint, e) < 0)
		return err_prefix(e, "%s", s->label);

	s->imap = mailimap_new(0, NULL);
	stream = s->imap != NULL ? imap_io_stream(s->io) : NULL;
	if (stream == NULL)
		return err_set(e, ERR_FAIL, "%s: out of memory", s->label);
	mailimap_set_timeout(s->imap, a->timeout);
	r = mailimap_connect(s->imap, stream);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED &&
	    r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		return imap_fail(s, r, "greeting", e);

	if (a->tls == CFG_TLS_STARTTLS) {
		/* PREAUTH leaves no way to start TLS (RFC 3501 6.2.1). */
		if (r == MAILIMAP_NO_ERROR_AUTHENTICATED)
			return set_broken(s, ERR_FAIL, "greeting", "the server "
			    "sent PREAUTH before STARTTLS; refusing to work "
			    "without TLS", e);
		if (starttls(s, e) < 0)
			return -1;
	} else if (!imap_have_caps(s->imap) && refresh_caps(s, e) < 0) {
		return -1;
	}
	if (r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED &&
	    authenticate(s, e) < 0)
		return -1;
	s->uidplus = has_cap(s, "UIDPLUS");
	s->condstore = has_cap(s, "CONDSTORE");
	if (learn_delimiter(s, e) < 0)
		return -1;
	s->ready = true;
	return 0;
}

static void
imap_close(struct store **sp)
{
	struct imap_store *s = sp != NULL ? imap_of(*sp) : NULL;

	if (s == NULL)
		return;
	if (s->imap != NULL) {
		if (!s->broken && s->imap->imap_stream != NULL &&
		    s->imap->imap_state != MAILIMAP_STATE_DISCONNECTED)
			mailimap_logout(s->imap);
		/* mailimap_free would LOGOUT on a dead session. */
		if (s->imap->imap_stream != NULL) {
			mailstream_close(s->imap->imap_stream);
			s->imap->imap_stream = NULL;
		}
		mailimap_free(s->imap);
	}
	imap_io_free(&s->io);
	free(s->sel_name);
	free(s->sel_wire);
	free(s->label);
	free(s);
	*sp = NULL;
}

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
static int
wire_name(struct imap_store *s, const char *name, char **out, struct err *e)
{
	char *tmp;
	int r;

	*out = NULL;
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

static int
imap_list_folders(struct store *st, struct folder_list *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	clist *result = NULL;
	clistiter *it;
	size_t first = out->n, w;
	int r;

	if (check_usable(s, "LIST", e) < 0)
		return -1;
	imap_io_take_literal_nul(s->io);
	r = mailimap_list(s->imap, "", "*", &result);
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
		name = canonical_name(s, mb->mb_name, mb->mb_delimiter);
		if (name == NULL)
			continue;
		xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = (struct folder_info){ name, noselect };
	}
	if (result != NULL)
		mailimap_list_result_free(result);

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
	const char *t = server_text(s);

	return strcasestr(t, "[ALREADYEXISTS]") != NULL ||
	    strcasestr(t, "already exists") != NULL;
}

static int
imap_create_folder(struct store *st, const char *name, struct err *e)
{
	struct imap_store *s = imap_of(st);
	char *wire, what[300];
	int r;

	if (check_usable(s, "CREATE", e) < 0 ||
	    wire_name(s, name, &wire, e) < 0)
		return -1;
	r = mailimap_create(s->imap, wire);
	free(wire);
	if (r == MAILIMAP_NO_ERROR ||
	    (r == MAILIMAP_ERROR_CREATE && already_exists(s)))
		return 0;
	snprintf(what, sizeof(what), "CREATE %s", name);
	return imap_fail(s, r, what, e);
}

static int
imap_delete_folder(struct store *st, const char *name, struct err *e)
{
	struct imap_store *s = imap_of(st);
	char *wire, what[300];
	int r;

	if (check_usable(s, "DELETE", e) < 0 ||
	    wire_name(s, name, &wire, e) < 0)
		return -1;
	if (s->sel_name != NULL && strcmp(s->sel_name, name) == 0) {
		free(s->sel_name);
		s->sel_name = NULL;
	}
	r = mailimap_delete(s->imap, wire);
	free(wire);
	if (r == MAILIMAP_NO_ERROR)
		return 0;
	snprintf(what, sizeof(what), "DELETE %s", name);
	return imap_fail(s, r, what, e);
}

/* ---- select ---------------------------------------------------------- */

static void
fill_status(struct imap_store *s, struct folder_status *out)
{
	struct mailimap_selection_info *si = s->imap->imap_selection_info;

	if (si != NULL) {
		s->sel.exists = si->sel_exists;
		if (si->sel_uidnext > s->sel.uidnext)
			s->sel.uidnext = si->sel_uidnext;
	}
	if (out != NULL)
		*out = s->sel;
}

static int
imap_select(struct store *st, const char *name, struct folder_status *out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_selection_info *si;
	uint64_t modseq = 0;
	char *wire, what[300];
	int r;

	snprintf(what, sizeof(what), "SELECT %s", name);
	if (check_usable(s, what, e) < 0)
		return -1;
	if (s->sel_name != NULL && strcmp(s->sel_name, name) == 0) {
		/* Same folder: a NOOP brings EXISTS/EXPUNGE news. */
		r = mailimap_noop(s->imap);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(s, r, what, e);
		fill_status(s, out);
		return 0;
	}
	if (wire_name(s, name, &wire, e) < 0)
		return -1;
	free(s->sel_name);
	free(s->sel_wire);
	s->sel_name = NULL;
	s->sel_wire = NULL;
	memset(&s->sel, 0, sizeof(s->sel));

	imap_io_allow_permflags(s->io, true);
	if (s->condstore)
		r = mailimap_select_condstore(s->imap, wire, &modseq);
	else
		r = mailimap_select(s->imap, wire);
	si = s->imap->imap_selection_info;
	if (r != MAILIMAP_NO_ERROR || si == NULL) {
		imap_io_allow_permflags(s->io, false);
		free(wire);
		return imap_fail(s, r, what, e);
	}
	if (si->sel_uidvalidity == 0) {
		imap_io_allow_permflags(s->io, false);
		free(wire);
		return err_set(e, ERR_FAIL, "%s: %s: the server sent no "
		    "UIDVALIDITY", s->label, what);
	}
	s->sel.uidvalidity = si->sel_uidvalidity;
	s->sel.highestmodseq = modseq;
	s->sel_name = xstrdup(name);
	s->sel_wire = wire;
	fill_status(s, out);
	return 0;
}

/* ---- message attributes ---------------------------------------------- */

static int64_t
date_to_unix(const struct mailimap_date_time *d)
{
	struct tm tm = { 0 };
	int zone = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	int64_t off = (int64_t)(zone / 100) * 3600 + (zone % 100) * 60;

	tm.tm_year = d->dt_year - 1900;
	tm.tm_mon = d->dt_month - 1;
	tm.tm_mday = d->dt_day;
	tm.tm_hour = d->dt_hour;
	tm.tm_min = d->dt_min;
	tm.tm_sec = d->dt_sec;
	return (int64_t)timegm(&tm) - (d->dt_zone < 0 ? -off : off);
}

static void
add_flag(struct flags *fl, struct mailimap_flag *f)
{
	const char *kw;
	unsigned bit;

	switch (f->fl_type) {
	case MAILIMAP_FLAG_ANSWERED:
		fl->bits |= FLAG_ANSWERED;
		return;
	case MAILIMAP_FLAG_FLAGGED:
		fl->bits |= FLAG_FLAGGED;
		return;
	case MAILIMAP_FLAG_DELETED:
		fl->bits |= FLAG_DELETED;
		return;
	case MAILIMAP_FLAG_SEEN:
		fl->bits |= FLAG_SEEN;
		return;
	case MAILIMAP_FLAG_DRAFT:
		fl->bits |= FLAG_DRAFT;
		return;
	case MAILIMAP_FLAG_KEYWORD:
		kw = f->fl_data.fl_keyword;
		if (kw == NULL)
			return;
		if ((bit = flags_bit_from_imap(kw)) != 0)
			fl->bits |= bit;
		else if (flags_keyword_valid(kw))
			flags_kw_add(&fl->kw, kw);
		return;
	default:
		return;	/* unknown \Extension flags, \Recent */
	}
}

/* What one FETCH response carried. */
struct fetched {
	uint32_t uid;
	bool has_uid, has_flags, has_size, has_date;
	struct flags flags;
	uint32_t size;
	int64_t date;
	const char *body;	/* BODY[...] content, owned by libetpan */
	size_t body_len;
	bool has_body;
};

static void
read_msg_att(struct mailimap_msg_att *att, struct fetched *f)
{
	clistiter *it, *jt;

	memset(f, 0, sizeof(*f));
	for (it = clist_begin(att->att_list); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att_item *item = clist_content(it);
		struct mailimap_msg_att_static *st;

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
			struct mailimap_msg_att_dynamic *dyn =
			    item->att_data.att_dyn;

			f->has_flags = true;
			if (dyn == NULL || dyn->att_list == NULL)
				continue;
			for (jt = clist_begin(dyn->att_list); jt != NULL;
			    jt = clist_next(jt)) {
				struct mailimap_flag_fetch *ff =
				    clist_content(jt);

				if (ff->fl_type == MAILIMAP_FLAG_FETCH_OTHER &&
				    ff->fl_flag != NULL)
					add_flag(&f->flags, ff->fl_flag);
			}
			continue;
		}
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC ||
		    (st = item->att_data.att_static) == NULL)
			continue;
		switch (st->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			f->uid = st->att_data.att_uid;
			f->has_uid = true;
			break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE:
			f->size = st->att_data.att_rfc822_size;
			f->has_size = true;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			if (st->att_data.att_internal_date != NULL) {
				f->date = date_to_unix(
				    st->att_data.att_internal_date);
				f->has_date = true;
			}
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			if (st->att_data.att_body_section != NULL) {
				f->body = st->att_data.att_body_section
				    ->sec_body_part;
				f->body_len = st->att_data.att_body_section
				    ->sec_length;
				f->has_body = true;
			}
			break;
		default:
			break;
		}
	}
}

static struct mailimap_fetch_type *
fetch_type_new(bool listing, bool msgid, bool body)
{
	struct mailimap_fetch_type *ft =
	    mailimap_fetch_type_new_fetch_att_list_empty();

	mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_uid());
	/* The listing is UID and FLAGS only: sizes and dates cost the server
	 * (Dovecot) several times more, and only new messages need them, so
	 * they come with the details. */
	if (listing)
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_flags());
	if (msgid) {
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_internaldate());
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_rfc822_size());
	}
	if (msgid) {
		clist *hdrs = clist_new();
		struct mailimap_header_list *hl;

		clist_append(hdrs, xstrdup("MESSAGE-ID"));
		hl = mailimap_header_list_new(hdrs);
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_body_peek_section(
		    mailimap_section_new_header_fields(hl)));
	}
	if (body)
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_body_peek_section(
		    mailimap_section_new(NULL)));
	return ft;
}

/* A UID set from sorted uids[0..n), as ranges. */
static struct mailimap_set *
uid_set(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] <= uids[j] + 1)
			j++;
		mailimap_set_add_interval(set, uids[i], uids[j]);
		i = j + 1;
	}
	return set;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool
expunges_seen(struct imap_store *s)
{
	struct mailimap_response_info *ri = s->imap->imap_response_info;

	return ri != NULL && ri->rsp_expunged != NULL &&
	    clist_count(ri->rsp_expunged) > 0;
}

/*
 * One pass over the folder by sequence ranges: 1 done, 0 when an expunge
 * shifted the numbers under us (start again), -1 on error.
 */
static int
list_pass(struct imap_store *s, struct msg_list *out, struct err *e)
{
	struct mailimap_fetch_type *ft = fetch_type_new(true, false, false);
	char what[300];
	uint32_t lo = 1;
	int rc = 1;

	snprintf(what, sizeof(what), "FETCH %s", s->sel_name);
	while (rc == 1 && s->imap->imap_selection_info != NULL &&
	    lo <= s->imap->imap_selection_info->sel_exists) {
		uint32_t total = s->imap->imap_selection_info->sel_exists;
		uint32_t hi = total - lo < LIST_CHUNK ? total :
		    lo + LIST_CHUNK - 1;
		struct mailimap_set *set = mailimap_set_new_interval(lo, hi);
		clist *result = NULL;
		clistiter *it;
		int r;

		r = mailimap_fetch(s->imap, set, ft, &result);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR) {
			rc = imap_fail(s, r, what, e);
			break;
		}
		/* libetpan calls a NO with some data a success; a partial
		 * listing would read as deletions. */
		if (!tagged_ok(s))
			rc = err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
			    server_text(s));
		else if (expunges_seen(s))
			rc = 0;
		for (it = clist_begin(result); rc == 1 && it != NULL;
		    it = clist_next(it)) {
			struct fetched f;
			struct msg *m;

			read_msg_att(clist_content(it), &f);
			/* Unsolicited FETCH (flag news) lacks our items. */
			if (!f.has_uid || !f.has_flags) {
				flags_free(&f.flags);
				continue;
			}
			if (!f.has_uid || f.uid == 0) {
				flags_free(&f.flags);
				rc = err_set(e, ERR_FAIL, "%s: %s: the server "
				    "sent a message without a valid UID "
				    "(protocol error)", s->label, what);
				break;
			}
			xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
			m = &out->v[out->n++];
			memset(m, 0, sizeof(*m));
			m->uid = f.uid;
			m->flags = f.flags;
		}
		mailimap_fetch_list_free(result);
		lo = hi + 1;
	}
	mailimap_fetch_type_free(ft);
	return rc;
}

static void
truncate_list(struct msg_list *l, size_t n)
{
	while (l->n > n)
		msg_free(&l->v[--l->n]);
}

static int
imap_list(struct store *st, struct msg_list *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	size_t first = out->n;
	uint32_t *uids;
	int r = 0;

	if (check_selected(s, "FETCH", e) < 0)
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		r = list_pass(s, out, e);
		if (r != 0)
			break;
		truncate_list(out, first);
	}
	if (r == 0)
		r = err_set(e, ERR_TEMP, "%s: FETCH %s: messages kept being "
		    "expunged while listing; try again", s->label,
		    s->sel_name);
	if (r < 0) {
		truncate_list(out, first);
		return -1;
	}

	uids = xmalloc((out->n - first + 1) * sizeof(*uids));
	for (size_t i = first; i < out->n; i++)
		uids[i - first] = out->v[i].uid;
	qsort(uids, out->n - first, sizeof(*uids), cmp_u32);
	for (size_t i = 1; i < out->n - first; i++) {
		if (uids[i] == uids[i - 1]) {
			r = err_set(e, ERR_FAIL, "%s: FETCH %s: the server "
			    "listed UID %u twice (protocol error)", s->label,
			    s->sel_name, uids[i]);
			truncate_list(out, first);
			break;
		}
	}
	free(uids);
	if (r >= 0 && s->imap->imap_selection_info != NULL)
		s->sel.exists = s->imap->imap_selection_info->sel_exists;
	return r < 0 ? -1 : 0;
}

/* The first UID listed twice in out->v[first..n), or 0. */
static uint32_t
dup_uid(const struct msg_list *out, size_t first)
{
	size_t n = out->n - first;
	uint32_t *uids = xmalloc((n + 1) * sizeof(*uids)), dup = 0;

	for (size_t i = 0; i < n; i++)
		uids[i] = out->v[first + i].uid;
	qsort(uids, n, sizeof(*uids), cmp_u32);
	for (size_t i = 1; i < n && dup == 0; i++)
		if (uids[i] == uids[i - 1])
			dup = uids[i];
	free(uids);
	return dup;
}

static int
imap_list_changed(struct store *st, uint64_t since, struct msg_list *out,
    uint32_t *exists, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	clistiter *it;
	size_t first = out->n;
	uint32_t dup;
	char what[300];
	int r, rc = 0;

	if (check_selected(s, "UID FETCH", e) < 0)
		return -1;
	snprintf(what, sizeof(what), "UID FETCH %s (CHANGEDSINCE %llu)",
	    s->sel_name, (unsigned long long)since);
	if (!s->condstore || s->sel.highestmodseq == 0 || since == 0)
		return err_set(e, ERR_FAIL, "%s: %s: the folder has no "
		    "modification sequences (CONDSTORE)", s->label, what);
	ft = fetch_type_new(true, false, false);
	set = mailimap_set_new_interval(1, 0);	/* 1:* */
	r = mailimap_uid_fetch_changedsince(s->imap, set, ft, since, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	/* A NO with some data is no "nothing changed": a partial answer
	 * would hide flag changes. */
	if (!tagged_ok(s)) {
		mailimap_fetch_list_free(result);
		return err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
		    server_text(s));
	}
	for (it = clist_begin(result); rc == 0 && it != NULL;
	    it = clist_next(it)) {
		struct fetched f;
		struct msg *m;

		read_msg_att(clist_content(it), &f);
		/* Unsolicited FETCH (flag news) lacks our items. */
		if (!f.has_uid || !f.has_flags) {
			flags_free(&f.flags);
			continue;
		}
		if (f.uid == 0) {
			flags_free(&f.flags);
			rc = err_set(e, ERR_FAIL, "%s: %s: the server sent a "
			    "message without a valid UID (protocol error)",
			    s->label, what);
			break;
		}
		xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		m = &out->v[out->n++];
		memset(m, 0, sizeof(*m));
		m->uid = f.uid;
		m->flags = f.flags;
	}
	mailimap_fetch_list_free(result);
	if (rc == 0 && (dup = dup_uid(out, first)) != 0)
		rc = err_set(e, ERR_FAIL, "%s: %s: the server listed UID %u "
		    "twice (protocol error)", s->label, what, dup);
	if (rc < 0) {
		truncate_list(out, first);
		return -1;
	}
	if (s->imap->imap_selection_info != NULL)
		s->sel.exists = s->imap->imap_selection_info->sel_exists;
	*exists = s->sel.exists;
	return 0;
}

/* UIDs per UID SEARCH: keeps its one-line answer under the line cap. */
#define SEARCH_CHUNK 50000

/* One pass of UID SEARCH by sequence ranges: 1 done, 0 when an expunge
 * shifted the numbers (start again), -1 on error. */
static int
uids_pass(struct imap_store *s, uint32_t **v, size_t *n, size_t *cap,
    struct err *e)
{
	char what[300];
	uint32_t lo = 1;
	int rc = 1;

	snprintf(what, sizeof(what), "UID SEARCH %s", s->sel_name);
	while (rc == 1 && s->imap->imap_selection_info != NULL &&
	    lo <= s->imap->imap_selection_info->sel_exists) {
		uint32_t total = s->imap->imap_selection_info->sel_exists;
		uint32_t hi = total - lo < SEARCH_CHUNK ? total :
		    lo + SEARCH_CHUNK - 1;
		struct mailimap_search_key *key = mailimap_search_key_new_set(
		    mailimap_set_new_interval(lo, hi));
		clist *result = NULL;
		clistiter *it;
		int r;

		r = mailimap_uid_search(s->imap, NULL, key, &result);
		mailimap_search_key_free(key);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(s, r, what, e);
		if (!tagged_ok(s))
			rc = err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
			    server_text(s));
		else if (expunges_seen(s))
			rc = 0;
		for (it = clist_begin(result); rc == 1 && it != NULL;
		    it = clist_next(it)) {
			uint32_t *u = clist_content(it);

			xgrow(v, cap, *n + 1, sizeof(**v));
			(*v)[(*n)++] = *u;
		}
		mailimap_search_result_free(result);
		lo = hi + 1;
	}
	return rc;
}

static int
imap_uids(struct store *st, uint32_t **out, size_t *n, struct err *e)
{
	struct imap_store *s = imap_of(st);
	uint32_t *v = NULL;
	size_t cap = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (check_selected(s, "UID SEARCH", e) < 0)
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		*n = 0;
		if ((r = uids_pass(s, &v, n, &cap, e)) != 0)
			break;
	}
	if (r == 0)
		r = err_set(e, ERR_TEMP, "%s: UID SEARCH %s: messages kept "
		    "being expunged while listing; try again", s->label,
		    s->sel_name);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_u32);
	for (size_t i = 1; r > 0 && i < *n; i++)
		if (v[i] == v[i - 1])
			r = err_set(e, ERR_FAIL, "%s: UID SEARCH %s: the "
			    "server sent UID %u twice (protocol error)",
			    s->label, s->sel_name, v[i]);
	if (r > 0 && *n > 0 && v[0] == 0)
		r = err_set(e, ERR_FAIL, "%s: UID SEARCH %s: the server sent "
		    "UID 0 (protocol error)", s->label, s->sel_name);
	if (r < 0) {
		free(v);
		*n = 0;
		return -1;
	}
	if (s->imap->imap_selection_info != NULL)
		s->sel.exists = s->imap->imap_selection_info->sel_exists;
	*out = v;
	return 0;
}

/* ---- details, fetch -------------------------------------------------- */

struct uid_ref {
	uint32_t uid;
	struct msg *m;
};

static int
cmp_ref(const void *a, const void *b)
{
	return cmp_u32(&((const struct uid_ref *)a)->uid,
	    &((const struct uid_ref *)b)->uid);
}

static int
imap_details(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_fetch_type *ft;
	struct uid_ref *refs;
	uint32_t *uids;
	char what[300];
	int rc = 0;

	if (n == 0)
		return 0;
	if (check_selected(s, "FETCH", e) < 0)
		return -1;
	snprintf(what, sizeof(what), "FETCH %s", s->sel_name);
	refs = xmalloc(n * sizeof(*refs));
	uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct uid_ref){ msgs[i]->uid, msgs[i] };
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 0; i < n; i++)
		uids[i] = refs[i].uid;
	ft = fetch_type_new(false, true, false);

	for (size_t lo = 0; lo < n && rc == 0; lo += SET_CHUNK) {
		size_t cnt = n - lo < SET_CHUNK ? n - lo : SET_CHUNK;
		struct mailimap_set *set = uid_set(uids + lo, cnt);
		clist *result = NULL;
		clistiter *it;
		int r;

		r = mailimap_uid_fetch(s->imap, set, ft, &result);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR) {
			rc = imap_fail(s, r, what, e);
			break;
		}
		for (it = clist_begin(result); it != NULL;
		    it = clist_next(it)) {
			struct fetched f;
			struct uid_ref key, *ref;

			read_msg_att(clist_content(it), &f);
			flags_free(&f.flags);
			if (!f.has_uid || !f.has_size || !f.has_body)
				continue;
			key.uid = f.uid;
			ref = bsearch(&key, refs, n, sizeof(*refs), cmp_ref);
			if (ref == NULL)
				continue;
			free(ref->m->msgid);
			ref->m->msgid = f.body != NULL ?
			    header_message_id(f.body, f.body_len) : NULL;
			ref->m->size = f.size;
			ref->m->date = f.has_date ? f.date : 0;
			ref->m->has_details = true;
		}
		mailimap_fetch_list_free(result);
	}
	mailimap_fetch_type_free(ft);
	free(refs);
	free(uids);
	return rc;
}

static int
imap_fetch(struct store *st, const struct msg *m, struct buf *out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	clistiter *it;
	char what[300];
	bool found = false;
	int r;

	if (check_selected(s, "FETCH", e) < 0)
		return -1;
	snprintf(what, sizeof(what), "FETCH %s UID %u", s->sel_name, m->uid);
	ft = fetch_type_new(false, false, true);
	set = mailimap_set_new_single(m->uid);
	r = mailimap_uid_fetch(s->imap, set, ft, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	for (it = clist_begin(result); it != NULL && !found;
	    it = clist_next(it)) {
		struct fetched f;

		read_msg_att(clist_content(it), &f);
		flags_free(&f.flags);
		if (f.has_uid && f.uid == m->uid && f.has_body &&
		    f.body != NULL) {
			crlf_to_lf(out, f.body, f.body_len);
			found = true;
		}
	}
	mailimap_fetch_list_free(result);
	if (!found)
		return err_set(e, ERR_FAIL, "%s: %s: the server returned no "
		    "such message", s->label, what);
	return 0;
}

/* ---- flags on the wire ----------------------------------------------- */

static const unsigned flag_order[] = { FLAG_ANSWERED, FLAG_FLAGGED,
	FLAG_DELETED, FLAG_SEEN, FLAG_DRAFT, FLAG_FORWARDED };

static struct mailimap_flag *
flag_new(unsigned bit)
{
	switch (bit) {
	case FLAG_ANSWERED:
		return mailimap_flag_new_answered();
	case FLAG_FLAGGED:
		return mailimap_flag_new_flagged();
	case FLAG_DELETED:
		return mailimap_flag_new_deleted();
	case FLAG_SEEN:
		return mailimap_flag_new_seen();
	case FLAG_DRAFT:
		return mailimap_flag_new_draft();
	default:
		return mailimap_flag_new_flag_keyword(
		    xstrdup(flags_bit_to_imap(bit)));
	}
}

/* Calls fn for each keyword of a space-separated list. */
static void
each_keyword(const char *kw, void (*fn)(void *, const char *), void *arg)
{
	const char *p = kw ? kw : "";

	while (*p) {
		const char *q;
		char *w;

		while (*p == ' ')
			p++;
		for (q = p; *q && *q != ' '; q++)
			;
		if (q > p) {
			w = xstrndup(p, (size_t)(q - p));
			if (flags_keyword_valid(w))
				fn(arg, w);
			free(w);
		}
		p = q;
	}
}

static void
kw_to_list(void *arg, const char *w)
{
	mailimap_flag_list_add(arg, mailimap_flag_new_flag_keyword(
	    xstrdup(w)));
}

static struct mailimap_flag_list *
flag_list_new(unsigned bits, const char *kw)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();

	for (size_t i = 0; i < sizeof(flag_order) / sizeof(*flag_order); i++)
		if (bits & flag_order[i])
			mailimap_flag_list_add(fl, flag_new(flag_order[i]));
	each_keyword(kw, kw_to_list, fl);
	return fl;
}

static void
kw_to_buf(void *arg, const char *w)
{
	struct buf *b = arg;

	if (b->data[b->len - 1] != '(')
		buf_addc(b, ' ');
	buf_adds(b, w);
}

/* "(\Seen $Forwarded kw)" for APPEND. */
static void
flag_text(struct buf *b, const struct flags *fl)
{
	buf_addc(b, '(');
	for (size_t i = 0; i < sizeof(flag_order) / sizeof(*flag_order); i++) {
		if (!(fl->bits & flag_order[i]))
			continue;
		if (b->data[b->len - 1] != '(')
			buf_addc(b, ' ');
		buf_adds(b, flags_bit_to_imap(flag_order[i]));
	}
	each_keyword(fl->kw, kw_to_buf, b);
	buf_addc(b, ')');
}

/* UID STORE <uids> +FLAGS.SILENT / -FLAGS.SILENT, in chunks. */
static int
store_flags(struct imap_store *s, const uint32_t *uids, size_t n, bool add,
    unsigned bits, const char *kw, struct err *e)
{
	char what[300];

	snprintf(what, sizeof(what), "STORE %s", s->sel_name);
	for (size_t lo = 0; lo < n; lo += SET_CHUNK) {
		size_t cnt = n - lo < SET_CHUNK ? n - lo : SET_CHUNK;
		struct mailimap_set *set = uid_set(uids + lo, cnt);
		struct mailimap_flag_list *fl = flag_list_new(bits, kw);
		struct mailimap_store_att_flags *att = add ?
		    mailimap_store_att_flags_new_add_flags_silent(fl) :
		    mailimap_store_att_flags_new_remove_flags_silent(fl);
		int r = mailimap_uid_store(s->imap, set, att);

		mailimap_store_att_flags_free(att);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(s, r, what, e);
	}
	return 0;
}

/* The changes (indexes into the caller's array) sharing one delta. */
struct delta {
	unsigned add_bits, del_bits;
	char *add_kw, *del_kw;
	size_t *idx;
	size_t n, cap;
};

static bool
same_kw(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int
apply_delta(struct imap_store *s, struct delta *d,
    const struct flag_change *v, struct err *e)
{
	uint32_t *uids = xmalloc(d->n * sizeof(*uids));
	int rc = 0;

	for (size_t i = 0; i < d->n; i++)
		uids[i] = v[d->idx[i]].msg->uid;
	qsort(uids, d->n, sizeof(*uids), cmp_u32);
	if ((d->add_bits || d->add_kw) &&
	    store_flags(s, uids, d->n, true, d->add_bits, d->add_kw, e) < 0)
		rc = -1;
	if (rc == 0 && (d->del_bits || d->del_kw) &&
	    store_flags(s, uids, d->n, false, d->del_bits, d->del_kw, e) < 0)
		rc = -1;
	free(uids);
	return rc;
}

static int
imap_set_flags(struct store *st, struct flag_change *v, size_t n,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct delta *ds = NULL;
	size_t nd = 0, capd = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	if (check_selected(s, "STORE", e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct flags *cur = &v[i].msg->flags, *to = &v[i].to;
		unsigned ab = to->bits & ~cur->bits, db = cur->bits & ~to->bits;
		char *ak = flags_kw_minus(to->kw, cur->kw);
		char *dk = flags_kw_minus(cur->kw, to->kw);
		struct delta *d = NULL;

		for (size_t j = 0; j < nd && d == NULL; j++)
			if (ds[j].add_bits == ab && ds[j].del_bits == db &&
			    same_kw(ds[j].add_kw, ak) &&
			    same_kw(ds[j].del_kw, dk))
				d = &ds[j];
		if (d == NULL) {
			xgrow(&ds, &capd, nd + 1, sizeof(*ds));
			d = &ds[nd++];
			memset(d, 0, sizeof(*d));
			d->add_bits = ab;
			d->del_bits = db;
			d->add_kw = ak;
			d->del_kw = dk;
		} else {
			free(ak);
			free(dk);
		}
		xgrow(&d->idx, &d->cap, d->n + 1, sizeof(*d->idx));
		d->idx[d->n++] = i;
	}
	for (size_t j = 0; j < nd; j++) {
		if (rc == 0 && apply_delta(s, &ds[j], v, e) < 0)
			rc = -1;
		/* Only the groups the server accepted change their msgs. */
		for (size_t k = 0; rc == 0 && k < ds[j].n; k++)
			flags_copy(&v[ds[j].idx[k]].msg->flags,
			    &v[ds[j].idx[k]].to);
		free(ds[j].add_kw);
		free(ds[j].del_kw);
		free(ds[j].idx);
	}
	free(ds);
	return rc;
}

/* ---- remove ---------------------------------------------------------- */

static int
imap_remove(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct imap_store *s = imap_of(st);
	uint32_t *uids;
	char what[300];
	int rc = 0;

	if (n == 0)
		return 0;
	if (check_selected(s, "EXPUNGE", e) < 0)
		return -1;
	uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = msgs[i]->uid;
	qsort(uids, n, sizeof(*uids), cmp_u32);
	rc = store_flags(s, uids, n, true, FLAG_DELETED, NULL, e);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			msgs[i]->flags.bits |= FLAG_DELETED;
	}
	/* A plain EXPUNGE would also remove what other clients marked. */
	if (rc == 0 && !s->uidplus)
		rc = err_set(e, ERR_FAIL, "%s: EXPUNGE %s: the server lacks "
		    "UIDPLUS; not expunging (the messages stay marked "
		    "\\Deleted)", s->label, s->sel_name);
	snprintf(what, sizeof(what), "UID EXPUNGE %s", s->sel_name);
	for (size_t lo = 0; rc == 0 && lo < n; lo += SET_CHUNK) {
		size_t cnt = n - lo < SET_CHUNK ? n - lo : SET_CHUNK;
		struct mailimap_set *set = uid_set(uids + lo, cnt);
		int r = mailimap_uid_expunge(s->imap, set);

		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR)
			rc = imap_fail(s, r, what, e);
	}
	free(uids);
	if (rc == 0 && s->imap->imap_selection_info != NULL)
		s->sel.exists = s->imap->imap_selection_info->sel_exists;
	return rc;
}

/* ---- append ---------------------------------------------------------- */

/* "[APPENDUID <uidvalidity> <uid>]" in the tagged OK (RFC 4315). */
static bool
parse_appenduid(const char *t, uint32_t *uidvalidity, uint32_t *uid)
{
	const char *p = strcasestr(t, "[APPENDUID ");
	unsigned long uv, u;
	char *end;

	if (p == NULL)
		return false;
	p += strlen("[APPENDUID ");
	uv = strtoul(p, &end, 10);
	if (end == p || *end != ' ')
		return false;
	p = end + 1;
	u = strtoul(p, &end, 10);
	if (end == p || *end != ']' || u == 0 || u > UINT32_MAX ||
	    uv > UINT32_MAX)
		return false;
	*uidvalidity = (uint32_t)uv;
	*uid = (uint32_t)u;
	return true;
}

/*
 * Without UIDPLUS: the new message is the one with this Message-ID and
 * wire size among the UIDs from `from` on (the highest if several).
 */
static int
find_appended(struct imap_store *s, uint32_t from, const char *msgid,
    uint64_t size, uint32_t *uid_out, struct err *e)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	clistiter *it;
	char what[300];
	int r;

	snprintf(what, sizeof(what), "APPEND %s", s->sel_name);
	r = mailimap_noop(s->imap);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	ft = fetch_type_new(false, true, false);
	/* "n:*" also returns the last message when n is past the end. */
	set = mailimap_set_new_interval(from ? from : 1, 0);
	r = mailimap_uid_fetch(s->imap, set, ft, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	*uid_out = 0;
	for (it = clist_begin(result); it != NULL; it = clist_next(it)) {
		struct fetched f;
		char *id;

		read_msg_att(clist_content(it), &f);
		flags_free(&f.flags);
		if (!f.has_uid || f.uid < from || !f.has_size ||
		    f.size != size || !f.has_body)
			continue;
		id = f.body ? header_message_id(f.body, f.body_len) : NULL;
		if ((id == NULL && msgid == NULL) ||
		    (id != NULL && msgid != NULL && strcmp(id, msgid) == 0))
			if (f.uid > *uid_out)
				*uid_out = f.uid;
		free(id);
	}
	mailimap_fetch_list_free(result);
	if (*uid_out == 0)
		return err_set(e, ERR_FAIL, "%s: %s: the message was stored "
		    "but cannot be found again (the server lacks UIDPLUS)",
		    s->label, what);
	return 0;
}

static int
imap_append(struct store *st, const char *data, size_t len,
    const struct flags *fl, int64_t date, struct msg *out, struct err *e)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct imap_store *s = imap_of(st);
	struct buf wire = { 0 }, cmd = { 0 };
	uint32_t uv = 0, uid = 0, from;
	char what[300];
	int r;

	if (check_selected(s, "APPEND", e) < 0)
		return -1;
	snprintf(what, sizeof(what), "APPEND %s", s->sel_name);
	lf_to_crlf(&wire, data, len);
	from = s->sel.uidnext;

	r = imap_cmd_begin(s->imap, "APPEND ");
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_string(s->imap, s->sel_wire, strlen(s->sel_wire));
	buf_addc(&cmd, ' ');
	flag_text(&cmd, fl);
	if (date > 0) {
		time_t t = (time_t)date;
		struct tm tm;

		gmtime_r(&t, &tm);
		buf_printf(&cmd, " \"%2d-%s-%04d %02d:%02d:%02d +0000\"",
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	}
	buf_addc(&cmd, ' ');
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, cmd.data, cmd.len);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_literal(s->imap, wire.data ? wire.data : "",
		    wire.len);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_end(s->imap);
	buf_free(&cmd);
	if (r != MAILIMAP_NO_ERROR) {
		buf_free(&wire);
		return imap_fail(s, r, what, e);
	}

	msg_free(out);
	out->msgid = header_message_id(data, len);
	out->size = wire.len;
	buf_free(&wire);
	if (!(s->uidplus && parse_appenduid(imap_io_last_tagged(s->io), &uv,
	    &uid) && uv == s->sel.uidvalidity) &&
	    find_appended(s, from, out->msgid, out->size, &uid, e) < 0) {
		msg_free(out);
		return -1;
	}
	out->uid = uid;
	flags_copy(&out->flags, fl);
	out->date = date;
	out->has_details = true;
	if (uid >= s->sel.uidnext)
		s->sel.uidnext = uid + 1;
	return 0;
}

/* ---- fetch many -------------------------------------------------------- */

/*
 * A batch is one UID FETCH per chunk of messages; libetpan holds a whole
 * response, so chunks are cut by size: memory holds at most MANY_MAX_BYTES
 * of mail, or one message when that alone is larger.  (Its per-message
 * handler, which would avoid this, is not called for UID FETCH in 1.9.4.)
 */
#define MANY_MAX_BYTES (8u << 20)

struct many {
	struct imap_store *s;
	struct msg **msgs;	/* this chunk */
	size_t n;
	size_t base;		/* index of msgs[0] for fn */
	bool *done;
	store_body_fn *fn;
	void *arg;
	struct buf conv;
};

static void
many_deliver(struct many *m, struct mailimap_msg_att *att)
{
	struct fetched f;

	read_msg_att(att, &f);
	flags_free(&f.flags);
	if (!f.has_uid || !f.has_body || f.body == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		if (m->msgs[i]->uid != f.uid || m->done[i])
			continue;
		m->done[i] = true;
		buf_reset(&m->conv);
		crlf_to_lf(&m->conv, f.body, f.body_len);
		m->fn(m->arg, m->base + i, m->conv.data ? m->conv.data : "",
		    m->conv.len, NULL);
		return;
	}
}

static int
fetch_chunk(struct many *m, size_t cnt, struct err *e)
{
	struct imap_store *s = m->s;
	uint32_t *uids = xmalloc(cnt * sizeof(*uids));
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	clistiter *it;
	char what[300];
	int r;

	for (size_t i = 0; i < cnt; i++)
		uids[i] = m->msgs[i]->uid;
	qsort(uids, cnt, sizeof(*uids), cmp_u32);
	set = uid_set(uids, cnt);
	free(uids);
	ft = fetch_type_new(false, false, true);
	snprintf(what, sizeof(what), "FETCH %s (%zu messages)", s->sel_name,
	    cnt);
	r = mailimap_uid_fetch(s->imap, set, ft, &result);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	for (it = clist_begin(result); it != NULL; it = clist_next(it))
		many_deliver(m, clist_content(it));
	mailimap_fetch_list_free(result);
	return 0;
}

static int
imap_fetch_many(struct store *st, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct many m = { .s = s, .msgs = msgs, .n = n, .fn = fn, .arg = arg };
	size_t lo = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	if (check_selected(s, "FETCH", e) < 0)
		return -1;
	m.done = xcalloc(n, sizeof(*m.done));
	while (lo < n && rc == 0) {
		size_t cnt = 0;
		uint64_t bytes = 0;
		struct many sub = m;

		while (lo + cnt < n && cnt < SET_CHUNK && (cnt == 0 ||
		    bytes + msgs[lo + cnt]->size <= MANY_MAX_BYTES))
			bytes += msgs[lo + cnt++]->size;
		sub.msgs = msgs + lo;
		sub.n = cnt;
		sub.base = lo;
		sub.done = m.done + lo;
		rc = fetch_chunk(&sub, cnt, e);
		m.conv = sub.conv;	/* the buffer is reused across chunks */
		lo += cnt;
	}
	for (size_t i = 0; i < n; i++) {
		struct err me = { 0 };

		if (m.done[i])
			continue;
		if (rc < 0)
			me = *e;
		else
			err_set(&me, ERR_FAIL, "%s: FETCH %s UID %u: the server "
			    "returned no such message", s->label, s->sel_name,
			    msgs[i]->uid);
		fn(arg, i, NULL, 0, &me);
	}
	buf_free(&m.conv);
	free(m.done);
	return rc;
}

/* ---- status ---------------------------------------------------------- */

/* STATUS of a folder by its wire name, without selecting it. */
static int
status_wire(struct imap_store *s, const char *wname, const char *name,
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

static int
imap_status(struct store *st, const char *name, struct folder_status *out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	char *wname = NULL;
	int rc;

	if (check_usable(s, "STATUS", e) < 0 ||
	    wire_name(s, name, &wname, e) < 0)
		return -1;
	rc = status_wire(s, wname, name, out, e);
	free(wname);
	return rc;
}

/* ---- move ------------------------------------------------------------ */

/* "1:3,7" into ascending UIDs (appended to v); false on a malformed set. */
static bool
parse_uid_seq(const char **pp, uint32_t **v, size_t *n, size_t *cap)
{
	const char *p = *pp;

	for (;;) {
		unsigned long a, b;
		char *end;

		a = strtoul(p, &end, 10);
		if (end == p || a == 0 || a > UINT32_MAX)
			return false;
		b = a;
		p = end;
		if (*p == ':') {
			b = strtoul(p + 1, &end, 10);
			if (end == p + 1 || b == 0 || b > UINT32_MAX)
				return false;
			p = end;
		}
		if (b < a) {
			unsigned long t = a;

			a = b;
			b = t;
		}
		/* a hostile range must not make us allocate without bound */
		if (b - a > 1000000)
			return false;
		for (unsigned long u = a; u <= b; u++) {
			xgrow(v, cap, *n + 1, sizeof(**v));
			(*v)[(*n)++] = (uint32_t)u;
		}
		if (*p != ',')
			break;
		p++;
	}
	*pp = p;
	return true;
}

/* "[COPYUID <uidvalidity> <src-set> <dst-set>]" (RFC 4315 section 3). */
static bool
parse_copyuid(const char *t, uint32_t uidvalidity, uint32_t **src,
    uint32_t **dst, size_t *n)
{
	size_t ns = 0, nd = 0, cs = 0, cd = 0;
	const char *p = strcasestr(t, "[COPYUID ");
	unsigned long uv;
	char *end;

	*src = *dst = NULL;
	*n = 0;
	if (p == NULL)
		return false;
	p += strlen("[COPYUID ");
	uv = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || uv != uidvalidity)
		return false;
	p = end + 1;
	if (!parse_uid_seq(&p, src, &ns, &cs) || *p++ != ' ' ||
	    !parse_uid_seq(&p, dst, &nd, &cd) || *p != ']' || ns != nd) {
		free(*src);
		free(*dst);
		*src = *dst = NULL;
		return false;
	}
	*n = ns;
	return true;
}

static void
uid_set_text(struct buf *b, const uint32_t *uids, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (b->len)
			buf_addc(b, ',');
		if (j > i)
			buf_printf(b, "%u:%u", uids[i], uids[j]);
		else
			buf_printf(b, "%u", uids[i]);
		i = j + 1;
	}
}

/* "UID MOVE set mailbox" or "UID COPY ...": 0 when the server said OK. */
static int
uid_copy_cmd(struct imap_store *s, const char *verb, const uint32_t *uids,
    size_t n, const char *wto, const char *what, struct err *e)
{
	struct buf set = { 0 };
	int r;

	uid_set_text(&set, uids, n);
	r = imap_cmd_begin(s->imap, verb);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, set.data, set.len);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, " ", 1);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_string(s->imap, wto, strlen(wto));
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_end(s->imap);
	buf_free(&set);
	return r == MAILIMAP_NO_ERROR ? 0 : imap_fail(s, r, what, e);
}

/*
 * RFC 6851 UID MOVE when offered; otherwise UID COPY, then \Deleted and
 * UID EXPUNGE of exactly these UIDs (never a plain EXPUNGE).  The new UIDs
 * come from COPYUID; a server without it leaves them 0 for the engine to
 * pair by Message-ID later.
 */
static int
imap_move(struct store *st, struct msg **msgs, size_t n, const char *to,
    struct msg *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	uint32_t *uids, *src = NULL, *dst = NULL, dst_uv = 0;
	char what[600], cu[512], *wto = NULL;
	struct folder_status tst = { 0 };
	bool move = has_cap(s, "MOVE");
	size_t nmap = 0;
	int rc = -1;

	if (n == 0)
		return 0;
	if (check_selected(s, "MOVE", e) < 0 || wire_name(s, to, &wto, e) < 0)
		return -1;
	snprintf(what, sizeof(what), "UID %s %s %s", move ? "MOVE" : "COPY",
	    s->sel_name, to);
	/* COPYUID names the target's UIDVALIDITY: learn it to check it */
	if (status_wire(s, wto, to, &tst, e) < 0)
		goto out;
	dst_uv = tst.uidvalidity;
	uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = msgs[i]->uid;
	qsort(uids, n, sizeof(*uids), cmp_u32);
	imap_io_take_copyuid(s->io, cu, sizeof(cu));
	rc = uid_copy_cmd(s, move ? "UID MOVE " : "UID COPY ", uids, n, wto,
	    what, e);
	if (rc == 0 && !move) {
		rc = store_flags(s, uids, n, true, FLAG_DELETED, NULL, e);
		if (rc == 0 && !s->uidplus)
			rc = err_set(e, ERR_FAIL, "%s: %s: copied, but the "
			    "server lacks UIDPLUS: the originals stay marked "
			    "\\Deleted", s->label, what);
		if (rc == 0) {
			struct mailimap_set *set = uid_set(uids, n);
			int r = mailimap_uid_expunge(s->imap, set);

			mailimap_set_free(set);
			if (r != MAILIMAP_NO_ERROR)
				rc = imap_fail(s, r, what, e);
		}
	}
	free(uids);
	if (rc < 0)
		goto out;
	imap_io_take_copyuid(s->io, cu, sizeof(cu));
	if (!parse_copyuid(cu, dst_uv, &src, &dst, &nmap))
		nmap = 0;
	for (size_t i = 0; i < n; i++) {
		msg_free(&out[i]);
		for (size_t k = 0; k < nmap; k++)
			if (src[k] == msgs[i]->uid)
				out[i].uid = dst[k];
		flags_copy(&out[i].flags, &msgs[i]->flags);
		out[i].size = msgs[i]->size;
		out[i].date = msgs[i]->date;
		out[i].msgid = msgs[i]->msgid ? xstrdup(msgs[i]->msgid) : NULL;
		out[i].has_details = msgs[i]->has_details;
	}
	if (s->imap->imap_selection_info != NULL)
		s->sel.exists = s->imap->imap_selection_info->sel_exists;
out:
	free(src);
	free(dst);
	free(wto);
	return rc;
}

/* ---- idle ------------------------------------------------------------ */

enum idle_line {
	IDLE_LINE_OTHER,	/* "* OK Still here" and the like */
	IDLE_LINE_CHANGE,	/* messages arrived, went or changed */
	IDLE_LINE_CONT,		/* "+ idling" */
	IDLE_LINE_TAGGED,	/* the reply to IDLE */
	IDLE_LINE_BYE,
};

/* What an untagged line means while idling: EXISTS, EXPUNGE, FETCH and
 * RECENT (RFC 3501 7.3, 7.4), VANISHED (RFC 7162 3.2.10), and with NOTIFY
 * STATUS and LIST (RFC 5465 5.1 to 5.4) are news. */
static enum idle_line
idle_classify(const char *p)
{
	static const char *const news[] = { "EXISTS", "EXPUNGE", "FETCH",
		"RECENT" };

	if (p[0] == '+')
		return IDLE_LINE_CONT;
	if (p[0] != '*' || p[1] != ' ')
		return IDLE_LINE_TAGGED;
	p += 2;
	if (strncasecmp(p, "BYE", 3) == 0 && (p[3] == ' ' || p[3] == '\r'))
		return IDLE_LINE_BYE;
	if (strncasecmp(p, "VANISHED ", 9) == 0 ||
	    strncasecmp(p, "STATUS ", 7) == 0 ||
	    strncasecmp(p, "LIST ", 5) == 0)
		return IDLE_LINE_CHANGE;
	if (*p < '0' || *p > '9')
		return IDLE_LINE_OTHER;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != ' ')
		return IDLE_LINE_OTHER;
	for (size_t i = 0; i < sizeof(news) / sizeof(news[0]); i++) {
		size_t n = strlen(news[i]);

		if (strncasecmp(p, news[i], n) == 0 &&
		    (p[n] == ' ' || p[n] == '\r' || p[n] == '\n' ||
		    p[n] == '\0'))
			return IDLE_LINE_CHANGE;
	}
	return IDLE_LINE_OTHER;
}

/* The size of the literal announced at the end of line p ("{N}\r\n"). */
static bool
idle_literal(const char *p, uint64_t *size)
{
	size_t n = strlen(p);
	uint64_t v = 0;
	size_t i;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n < 3 || p[n - 1] != '}')
		return false;
	for (i = n - 1; i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9'; i--)
		;
	if (i == 0 || i == n - 1 || p[i - 1] != '{')
		return false;
	for (; i < n - 1; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	*size = v;
	return true;
}

/*
 * Read one whole response line while idling (libetpan's parser would wait
 * for the tagged reply) and classify it; literals inside it, which only an
 * odd FETCH would carry, are read and dropped.
 */
static int
idle_read(struct imap_store *s, enum idle_line *kind, struct err *e)
{
	char drop[4096];
	uint64_t lit;
	char *line;
	bool first = true;

	for (;;) {
		line = mailimap_read_line(s->imap);
		if (line == NULL)
			return imap_fail(s, MAILIMAP_ERROR_STREAM, "IDLE", e);
		if (first)
			*kind = idle_classify(line);
		first = false;
		if (!idle_literal(line, &lit))
			return 0;
		while (lit > 0) {
			size_t k = lit < sizeof(drop) ? (size_t)lit :
			    sizeof(drop);
			ssize_t r = mailstream_read(s->imap->imap_stream, drop,
			    k);

			if (r <= 0)
				return imap_fail(s, MAILIMAP_ERROR_STREAM,
				    "IDLE", e);
			lit -= (uint64_t)r;
		}
	}
}

static bool
idle_pending(struct imap_store *s)
{
	return s->imap->imap_stream->read_buffer_len > 0 ||
	    imap_io_has_input(s->io);
}

/* Act on one line read while idling; *changed is set on news. */
static int
idle_handle(struct imap_store *s, enum idle_line kind, bool *changed,
    struct err *e)
{
	switch (kind) {
	case IDLE_LINE_CHANGE:
		*changed = true;
		return 0;
	case IDLE_LINE_BYE:
		return set_broken(s, ERR_TEMP, "IDLE", "the server ended the "
		    "session", e);
	case IDLE_LINE_TAGGED:
		/* RFC 2177 lets only DONE end IDLE; a reply now means the
		 * server gave up on it. */
		return set_broken(s, ERR_TEMP, "IDLE", tagged_ok(s) ?
		    "the server ended IDLE" : server_text(s), e);
	default:
		return 0;
	}
}

/* Lines that already wait in a buffer: poll(2) would not report them. */
static int
idle_drain(struct imap_store *s, bool *changed, struct err *e)
{
	enum idle_line kind;

	while (idle_pending(s))
		if (idle_read(s, &kind, e) < 0 ||
		    idle_handle(s, kind, changed, e) < 0)
			return -1;
	return 0;
}

/* IDLE on what is set up, up to the server's "+" and what came with it. */
static int
idle_enter(struct imap_store *s, int *fd_out, bool *changed, struct err *e)
{
	enum idle_line kind = IDLE_LINE_OTHER;
	int r;

	r = imap_cmd_begin(s->imap, "IDLE");
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, "\r\n", 2);
	if (r == MAILIMAP_NO_ERROR &&
	    mailstream_flush(s->imap->imap_stream) < 0)
		r = MAILIMAP_ERROR_STREAM;
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, "IDLE", e);
	while (kind != IDLE_LINE_CONT) {
		if (idle_read(s, &kind, e) < 0)
			return -1;
		if (kind == IDLE_LINE_TAGGED)
			return err_set(e, ERR_FAIL, "%s: IDLE: %s", s->label,
			    server_text(s));
		if (kind != IDLE_LINE_CONT &&
		    idle_handle(s, kind, changed, e) < 0)
			return -1;
	}
	if (idle_drain(s, changed, e) < 0)
		return -1;
	*fd_out = mailstream_low_get_fd(mailstream_get_low(
	    s->imap->imap_stream));
	return 0;
}

/*
 * RFC 5465 for every personal folder.  Flag changes in folders that are
 * not selected are only told with CONDSTORE enabled (as HIGHESTMODSEQ),
 * so without it NOTIFY would miss them: then it is not used at all.
 */
static int
notify_setup(struct imap_store *s, struct err *e)
{
	int r;

	if (!has_cap(s, "NOTIFY") || !has_cap(s, "ENABLE") ||
	    !has_cap(s, "CONDSTORE"))
		return err_set(e, ERR_FAIL, "%s: the server does not support "
		    "NOTIFY with CONDSTORE", s->label);
	r = imap_cmd_simple(s->imap, "ENABLE CONDSTORE");
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, "ENABLE CONDSTORE", e);
	r = imap_cmd_simple(s->imap, "NOTIFY SET (personal (MessageNew "
	    "MessageExpunge FlagChange MailboxName))");
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, "NOTIFY", e);
	return 0;
}

static int
imap_idle_start(struct store *st, const char *name, int *fd_out,
    bool *changed_out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	char *wire, what[300];
	int r;

	*fd_out = -1;
	*changed_out = false;
	snprintf(what, sizeof(what), "EXAMINE %s", name ? name : "");
	if (check_usable(s, name ? what : "NOTIFY", e) < 0)
		return -1;
	if (!has_cap(s, "IDLE"))
		return err_set(e, ERR_FAIL, "%s: the server does not support "
		    "IDLE", s->label);
	if (name == NULL) {
		if (notify_setup(s, e) < 0)
			return -1;
		return idle_enter(s, fd_out, changed_out, e);
	}
	if (wire_name(s, name, &wire, e) < 0)
		return -1;
	/* Read-only: watching must not clear \Recent nor risk a change. */
	free(s->sel_name);
	free(s->sel_wire);
	s->sel_name = NULL;
	s->sel_wire = NULL;
	memset(&s->sel, 0, sizeof(s->sel));
	imap_io_allow_permflags(s->io, true);
	r = mailimap_examine(s->imap, wire);
	free(wire);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	return idle_enter(s, fd_out, changed_out, e);
}

static int
imap_idle_check(struct store *st, bool *changed_out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	enum idle_line kind;

	*changed_out = false;
	if (check_usable(s, "IDLE", e) < 0 ||
	    idle_read(s, &kind, e) < 0 ||
	    idle_handle(s, kind, changed_out, e) < 0)
		return -1;
	return idle_drain(s, changed_out, e);
}

static int
imap_idle_done(struct store *st, bool again, int *fd_out, bool *changed_out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	enum idle_line kind = IDLE_LINE_OTHER;
	int r;

	*changed_out = false;
	if (fd_out != NULL)
		*fd_out = -1;
	if (check_usable(s, "DONE", e) < 0)
		return -1;
	r = imap_cmd_add(s->imap, "DONE\r\n", 6);
	if (r == MAILIMAP_NO_ERROR &&
	    mailstream_flush(s->imap->imap_stream) < 0)
		r = MAILIMAP_ERROR_STREAM;
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, "DONE", e);
	/* News may still come before the reply (RFC 2177 section 3). */
	for (;;) {
		if (idle_read(s, &kind, e) < 0)
			return -1;
		if (kind == IDLE_LINE_TAGGED)
			break;
		if (idle_handle(s, kind, changed_out, e) < 0)
			return -1;
	}
	if (!tagged_ok(s))
		return set_broken(s, ERR_FAIL, "DONE", server_text(s), e);
	/* Nothing is set up again: a fresh EXAMINE would swallow what
	 * changed since, unreported. */
	if (again)
		return idle_enter(s, fd_out, changed_out, e);
	return 0;
}

/* ---- the store ------------------------------------------------------- */

static const struct store_ops imap_ops = {
	.open = imap_open,
	.close = imap_close,
	.list_folders = imap_list_folders,
	.create_folder = imap_create_folder,
	.delete_folder = imap_delete_folder,
	.select = imap_select,
	.list = imap_list,
	.details = imap_details,
	.fetch = imap_fetch,
	.append = imap_append,
	.set_flags = imap_set_flags,
	.remove = imap_remove,
	.move = imap_move,
	.status = imap_status,
	.fetch_many = imap_fetch_many,
	.idle_start = imap_idle_start,
	.idle_check = imap_idle_check,
	.idle_done = imap_idle_done,
	.list_changed = imap_list_changed,
	.uids = imap_uids,
};

struct store *
imap_store_new(const struct cfg_account *acct, const char *label)
{
	struct imap_store *s = xcalloc(1, sizeof(*s));

	s->base.ops = &imap_ops;
	s->base.side = SIDE_REMOTE;
	s->label = xstrdup(label);
	s->base.label = s->label;
	s->acct = acct;
	s->delim = '/';
	return &s->base;
}
