/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP watching: IDLE on one folder, or NOTIFY for all of them. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "imap_io.h"
#include "imap_priv.h"

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
		return imap_set_broken(s, ERR_TEMP, "IDLE", "the server ended "
		    "the session", e);
	case IDLE_LINE_TAGGED:
		/* RFC 2177 lets only DONE end IDLE; a reply now means the
		 * server gave up on it. */
		return imap_set_broken(s, ERR_TEMP, "IDLE", imap_tagged_ok(s) ?
		    "the server ended IDLE" : imap_server_text(s), e);
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
			    imap_server_text(s));
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

int
imap_idle_start(struct store *st, const char *name, int *fd_out,
    bool *changed_out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	char *wire, what[300];
	int r;

	*fd_out = -1;
	*changed_out = false;
	snprintf(what, sizeof(what), "EXAMINE %s", name ? name : "");
	if (imap_check_usable(s, name ? what : "NOTIFY", e) < 0)
		return -1;
	if (!has_cap(s, "IDLE"))
		return err_set(e, ERR_FAIL, "%s: the server does not support "
		    "IDLE", s->label);
	if (name == NULL) {
		if (notify_setup(s, e) < 0)
			return -1;
		return idle_enter(s, fd_out, changed_out, e);
	}
	/* Read-only: watching must not clear \Recent nor risk a change. */
	if (imap_prepare_select(s, name, &wire, e) < 0)
		return -1;
	r = mailimap_examine(s->imap, wire);
	free(wire);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	return idle_enter(s, fd_out, changed_out, e);
}

int
imap_idle_check(struct store *st, bool *changed_out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	enum idle_line kind;

	*changed_out = false;
	if (imap_check_usable(s, "IDLE", e) < 0 ||
	    idle_read(s, &kind, e) < 0 ||
	    idle_handle(s, kind, changed_out, e) < 0)
		return -1;
	return idle_drain(s, changed_out, e);
}

int
imap_idle_done(struct store *st, bool again, int *fd_out, bool *changed_out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	enum idle_line kind = IDLE_LINE_OTHER;
	int r;

	*changed_out = false;
	if (fd_out != NULL)
		*fd_out = -1;
	if (imap_check_usable(s, "DONE", e) < 0)
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
	if (!imap_tagged_ok(s))
		return imap_set_broken(s, ERR_FAIL, "DONE",
		    imap_server_text(s), e);
	/* Nothing is set up again: a fresh EXAMINE would swallow what
	 * changed since, unreported. */
	if (again)
		return idle_enter(s, fd_out, changed_out, e);
	return 0;
}
