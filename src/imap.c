/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The IMAP store over libetpan: its store_ops, and the session (errors,
 * capabilities, login, STARTTLS); the other parts are in imap_*.c. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "cfg.h"
#include "imap_io.h"
#include "imap_priv.h"
#include "store.h"
#include "util.h"

/* ---- errors ---------------------------------------------------------- */

/* The server's words from the last tagged reply: "[CODE] text". */
const char *
imap_server_text(struct imap_store *s)
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
bool
imap_tagged_ok(struct imap_store *s)
{
	const char *t = imap_io_last_tagged(s->io);

	while (*t && *t != ' ')
		t++;
	return strncasecmp(t, " OK", 3) == 0 && (t[3] == ' ' || t[3] == '\0');
}

int
imap_set_broken(struct imap_store *s, enum err_code code, const char *what,
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
int
imap_fail(struct imap_store *s, int r, const char *what, struct err *e)
{
	enum err_code code = ERR_FAIL;
	const char *why = imap_io_error(s->io, &code);
	char text[600];

	if (why != NULL)
		return imap_set_broken(s, code, what, why, e);
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return imap_set_broken(s, ERR_TEMP, what, "connection lost", e);
	case MAILIMAP_ERROR_PARSE:
		return imap_set_broken(s, ERR_FAIL, what,
		    "unparsable response from the server", e);
	case MAILIMAP_ERROR_FATAL:
		snprintf(text, sizeof(text), "the server ended the session: %s",
		    s->imap->imap_response ? s->imap->imap_response : "BYE");
		return imap_set_broken(s, ERR_TEMP, what, text, e);
	case MAILIMAP_ERROR_MEMORY:
		return err_set(e, ERR_FAIL, "%s: %s: out of memory", s->label,
		    what);
	case MAILIMAP_ERROR_BAD_STATE:
		return err_set(e, ERR_FAIL, "%s: %s: not possible in this "
		    "session state", s->label, what);
	default:
		return err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
		    imap_server_text(s));
	}
}

/* Refuse early on a dead session or before open. */
int
imap_check_usable(struct imap_store *s, const char *what, struct err *e)
{
	if (!s->ready)
		return err_set(e, ERR_FAIL, "%s: %s: not connected", s->label,
		    what);
	if (s->broken)
		return err_set(e, s->broken_code, "%s: %s: %s", s->label, what,
		    s->broken_msg);
	if (s->prefetch_n > 0 && !s->prefetch_claimed)
		return imap_prefetch_drain(s, e);
	return 0;
}

int
imap_check_selected(struct imap_store *s, const char *what, struct err *e)
{
	if (imap_check_usable(s, what, e) < 0)
		return -1;
	if (s->sel_name == NULL)
		return err_set(e, ERR_FAIL, "%s: %s: no folder selected",
		    s->label, what);
	return 0;
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
		return imap_set_broken(s, ERR_FAIL, "CAPABILITY",
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
		    "password)", s->label, imap_server_text(s));
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	s->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	/* Servers often extend the list once logged in. */
	if (strcasestr(imap_io_last_tagged(s->io), "[CAPABILITY ") == NULL)
		return refresh_caps(s, e);
	return 0;
}

/* ---- connection ------------------------------------------------------ */

/*
 * STARTTLS by hand, not mailimap_starttls: libetpan's parser takes a "+"
 * for the start of a longer reply and would wait for the rest until the
 * timeout.
 */
static int
starttls_cmd(struct imap_store *s, struct err *e)
{
	int r = imap_cmd_begin(s->imap, "STARTTLS");

	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, "\r\n", 2);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_flush_read(s->imap);
	if (r == MAILIMAP_NO_ERROR && imap_cmd_continuation(s->imap))
		return imap_set_broken(s, ERR_FAIL, "STARTTLS", "the server "
		    "sent a continuation request (\"+\") instead of a reply",
		    e);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_parse(s->imap);
	return r == MAILIMAP_NO_ERROR ? 0 : imap_fail(s, r, "STARTTLS", e);
}

static int
starttls(struct imap_store *s, struct err *e)
{
	const struct cfg_account *a = s->acct;

	if (!imap_have_caps(s->imap) && refresh_caps(s, e) < 0)
		return -1;
	if (!has_cap(s, "STARTTLS"))
		return err_set(e, ERR_FAIL, "%s: the server does not offer "
		    "STARTTLS (tls: starttls); refusing to continue in clear "
		    "text", s->label);
	if (starttls_cmd(s, e) < 0)
		return -1;
	/* RFC 3207 section 5 / CVE-2011-0411: whatever arrived after the
	 * OK but before the handshake was injected in clear text. */
	if (s->imap->imap_stream->read_buffer_len > 0 ||
	    imap_io_has_input(s->io))
		return imap_set_broken(s, ERR_FAIL, "STARTTLS", "the server "
		    "sent data after its STARTTLS reply, before the TLS "
		    "handshake (possible response injection)", e);
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

/* On loopback, compression costs CPU and saves nothing. */
static bool
want_compress(struct imap_store *s)
{
	const struct cfg_account *a = s->acct;

	if (a->compress == CFG_COMPRESS_NO ||
	    !has_cap(s, "COMPRESS=DEFLATE"))
		return false;
	return a->compress == CFG_COMPRESS_YES || !cfg_is_loopback(a->host);
}

/* RFC 4978: only once authenticated (so never before STARTTLS); a NO or
 * BAD leaves the session uncompressed and usable. */
static int
start_compress(struct imap_store *s, struct err *e)
{
	int r;

	if (!want_compress(s))
		return 0;
	r = imap_cmd_simple(s->imap, "COMPRESS DEFLATE");
	/* libetpan makes a BAD into ERROR_PROTOCOL. */
	if (r == MAILIMAP_ERROR_CUSTOM_COMMAND ||
	    (r == MAILIMAP_ERROR_PROTOCOL && imap_io_error(s->io, NULL) == NULL))
		return 0;
	if (r == MAILIMAP_NO_ERROR && imap_io_start_deflate(s->io) == 0)
		return 0;
	return imap_fail(s, r != MAILIMAP_NO_ERROR ? r : MAILIMAP_ERROR_STREAM,
	    "COMPRESS", e);
}

/* Whether the last reply had "* ENABLED" with name (RFC 5161). */
static bool
enabled(struct imap_store *s, const char *name)
{
	struct mailimap_response_info *ri = s->imap->imap_response_info;
	clistiter *it, *jt;

	for (it = clist_begin(ri != NULL ? ri->rsp_extension_list : NULL);
	    it != NULL; it = clist_next(it)) {
		struct mailimap_extension_data *x = clist_content(it);
		struct mailimap_capability_data *c = x->ext_data;

		if (x->ext_extension == NULL || c == NULL ||
		    x->ext_extension->ext_id != MAILIMAP_EXTENSION_ENABLE)
			continue;
		for (jt = clist_begin(c->cap_list); jt != NULL;
		    jt = clist_next(jt)) {
			struct mailimap_capability *cap = clist_content(jt);

			if (cap->cap_type == MAILIMAP_CAPABILITY_NAME &&
			    strcasecmp(cap->cap_data.cap_name, name) == 0)
				return true;
		}
	}
	return false;
}

/*
 * RFC 7162 section 3.2.3: QRESYNC is enabled before any SELECT.  From then
 * on the server sends VANISHED instead of EXPUNGE for the whole session
 * (see imap_count).  Only an "* ENABLED QRESYNC" counts; a refusal leaves
 * CONDSTORE alone in use.  Sent just before the first SELECT, not at
 * login: a run that finds every folder unchanged selects none and saves
 * the round trip.
 */
static int
enable_before_select(struct imap_store *s, struct err *e)
{
	int r;

	if (s->selected_once)
		return 0;
	s->selected_once = true;
	if (!s->condstore || !has_cap(s, "QRESYNC") || !has_cap(s, "ENABLE"))
		return 0;
	r = imap_cmd_simple(s->imap, "ENABLE QRESYNC");
	if (r == MAILIMAP_NO_ERROR)
		s->qresync = enabled(s, "QRESYNC");
	else if (r != MAILIMAP_ERROR_CUSTOM_COMMAND)
		return imap_fail(s, r, "ENABLE QRESYNC", e);
	return 0;
}

int
imap_prepare_select(struct imap_store *s, const char *name, char **wire,
    struct err *e)
{
	if (imap_wire_name(s, name, wire, e) < 0)
		return -1;
	if (enable_before_select(s, e) < 0) {
		free(*wire);
		*wire = NULL;
		return -1;
	}
	imap_forget_selection(s);
	imap_io_allow_permflags(s->io, true);
	return 0;
}

/* Only where no folder list told it yet (a name asked for before any
 * listing): a round trip of its own. */
int
imap_learn_delimiter(struct imap_store *s, struct err *e)
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
	s->delim_known = true;
	if (result != NULL)
		mailimap_list_result_free(result);
	return 0;
}

static int
open_session(struct imap_store *s, struct err *e)
{
	const struct cfg_account *a = s->acct;
	mailstream *stream;
	int r;

	if (s->ready)
		return imap_check_usable(s, "open", e);
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
			return imap_set_broken(s, ERR_FAIL, "greeting",
			    "the server sent PREAUTH before STARTTLS; refusing "
			    "to work without TLS", e);
		if (starttls(s, e) < 0)
			return -1;
	} else if (!imap_have_caps(s->imap) && refresh_caps(s, e) < 0) {
		return -1;
	}
	if (r == MAILIMAP_NO_ERROR_NON_AUTHENTICATED &&
	    authenticate(s, e) < 0)
		return -1;
	if (start_compress(s, e) < 0)
		return -1;
	s->uidplus = has_cap(s, "UIDPLUS");
	s->condstore = has_cap(s, "CONDSTORE");
	s->ready = true;
	return 0;
}

static int
imap_open(struct store *st, bool create_root, struct err *e)
{
	struct imap_store *s = imap_of(st);

	(void)create_root;
	if (open_session(s, e) < 0) {
		s->open_failed = true;
		return -1;
	}
	return 0;
}

/*
 * LOGOUT, without waiting for the server's BYE and OK: nothing in them
 * changes what the run did, and the wait cost a round trip at the end of
 * every run and every extra session (20 ms and more through a real
 * network), or a hang on a server that never answers.
 */
static void
send_logout(struct imap_store *s)
{
	char line[32];
	int n;

	n = snprintf(line, sizeof(line), "%d LOGOUT\r\n",
	    s->imap->imap_tag + 1);
	if (mailstream_write(s->imap->imap_stream, line, (size_t)n) == n)
		mailstream_flush(s->imap->imap_stream);
}

static void
imap_close(struct store **sp)
{
	struct imap_store *s = sp != NULL ? imap_of(*sp) : NULL;

	if (s == NULL)
		return;
	imap_aux_close(s);
	if (s->imap != NULL) {
		struct err de = { 0 };

		if (s->ready && !s->broken)
			imap_prefetch_drain(s, &de);
		if (!s->broken && s->imap->imap_stream != NULL &&
		    s->imap->imap_state != MAILIMAP_STATE_DISCONNECTED)
			send_logout(s);
		/* mailimap_free would LOGOUT on a dead session. */
		if (s->imap->imap_stream != NULL) {
			mailstream_close(s->imap->imap_stream);
			s->imap->imap_stream = NULL;
		}
		mailimap_free(s->imap);
	}
	imap_io_free(&s->io);
	imap_sessions_drop(s);
	imap_append_queue_free(s);
	imap_listed_status_clear(s);
	imap_kept_clear(s);
	free(s->prefetch);
	free(s->sel_name);
	free(s->sel_wire);
	free(s->label);
	free(s);
	*sp = NULL;
}

/* ---- the store ------------------------------------------------------- */

static const struct store_ops imap_ops = {
	.open = imap_open,
	.close = imap_close,
	.sibling = imap_sibling,
	.list_folders = imap_list_folders,
	.create_folder = imap_create_folder,
	.delete_folder = imap_delete_folder,
	.select = imap_select,
	.list = imap_list,
	.details = imap_details,
	.append = imap_append,
	.set_flags = imap_set_flags,
	.remove = imap_remove,
	.move = imap_move,
	.status = imap_status,
	.fetch_many = imap_fetch_many,
	.prefetch = imap_prefetch,
	.append_begin = imap_append_begin,
	.append_write = imap_append_write,
	.append_end = imap_append_end,
	.append_abort = imap_append_abort,
	.batch_begin = imap_batch_begin,
	.batch_end = imap_batch_end,
	.idle_start = imap_idle_start,
	.idle_check = imap_idle_check,
	.idle_done = imap_idle_done,
	.list_changed = imap_list_changed,
	.expect_changes = imap_expect_changes,
	.uids = imap_uids,
};

struct imap_store *
imap_store_alloc(const struct cfg_account *acct, const char *label,
    unsigned connections)
{
	struct imap_store *s = xcalloc(1, sizeof(*s));

	s->base.ops = &imap_ops;
	s->base.side = SIDE_REMOTE;
	s->label = xstrdup(label);
	s->base.label = s->label;
	s->acct = acct;
	s->delim = '/';
	s->connections = connections > 0 ? connections : 1;
	return s;
}

struct store *
imap_store_new(const struct cfg_account *acct, const char *label,
    unsigned connections)
{
	struct imap_store *s = imap_store_alloc(acct, label, connections);

	imap_sessions_new(s);
	return &s->base;
}
