/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP APPEND: one message at a time, or a batch in one MULTIAPPEND. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "imap_io.h"
#include "imap_priv.h"
#include "log.h"
#include "util.h"

/*
 * A batch (batch_begin .. batch_end) goes out as few APPEND commands with
 * several messages each (RFC 3502): the server stores each command in one
 * transaction, with one fsync instead of one per message.  200 messages
 * took Dovecot 0.14 to 0.46 s that way and 1.2 to 1.5 s one by one.  A
 * command carries at most this much mail, which the queue holds meanwhile:
 * pushing 200 messages (5.5 MB) with 4 MiB peaked 2.4 MiB higher than
 * with 1 MiB (medians of 6 runs each), in the same time.
 */
#define MULTI_MAX_BYTES (1u << 20)
#define MULTI_MAX_MSGS 256

/*
 * A message of this size or more goes in an APPEND of its own, converted
 * to CRLF on the way out: no copy of it is made, where a queued one is
 * held twice (as read, and converted for the retry).
 */
#define ALONE_BYTES MULTI_MAX_BYTES

/* One message waiting for its APPEND. */
struct queued {
	char *meta;		/* " (\Seen) \"date\" " before its literal */
	struct buf wire;	/* the message with CRLF line ends, or */
	const char *lf;		/* sent alone: the caller's, LF line ends */
	size_t lf_len;
	uint64_t size;		/* on the wire */
	char *msgid;
};

struct append_queue {
	bool active;		/* between batch_begin and batch_end */
	bool multi;		/* MULTIAPPEND: many per command */
	bool open;		/* an APPEND command is being sent */
	uint32_t from;		/* UIDNEXT when it was opened */
	struct queued *q;	/* sent in the open command, unanswered */
	size_t nq, capq;
	uint64_t qbytes;
	/* per append since batch_begin: stored? under which UID? */
	bool *ok;
	uint32_t *uids;
	size_t n, cap_ok, cap_uids;
	struct err first;	/* the first failure, for batch_end */
};

static void
queued_free(struct queued *m)
{
	free(m->meta);
	buf_free(&m->wire);
	free(m->msgid);
	memset(m, 0, sizeof(*m));
}

/* "[APPENDUID <uidvalidity> <uid-set>]" in the tagged OK (RFC 4315),
 * expanded in order (RFC 3502 keeps the order of the messages). */
static bool
parse_appenduid(const char *t, uint32_t *uidvalidity, uint32_t **uids,
    size_t *n, size_t want)
{
	const char *p = strcasestr(t, "[APPENDUID ");
	unsigned long uv;
	size_t cap = 0;
	char *end;

	*uids = NULL;
	*n = 0;
	if (p == NULL)
		return false;
	p += strlen("[APPENDUID ");
	uv = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || uv > UINT32_MAX)
		return false;
	p = end + 1;
	if (!imap_parse_uid_seq(&p, uids, n, &cap, want) || *p != ']') {
		free(*uids);
		*uids = NULL;
		*n = 0;
		return false;
	}
	*uidvalidity = (uint32_t)uv;
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
	ft = imap_fetch_type_new(false, true, false);
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

		imap_read_msg_att(clist_content(it), &f);
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

/* m zeroed, with what goes before its literal. */
static void
queued_meta(struct queued *m, const struct flags *fl, int64_t date)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct buf meta = { 0 };

	memset(m, 0, sizeof(*m));
	buf_addc(&meta, ' ');
	imap_flag_text(&meta, fl);
	if (date > 0) {
		time_t t = (time_t)date;
		struct tm tm;

		gmtime_r(&t, &tm);
		buf_printf(&meta, " \"%2d-%s-%04d %02d:%02d:%02d +0000\"",
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	}
	buf_addc(&meta, ' ');
	m->meta = meta.data;	/* NUL-terminated, never NULL here */
}

static void
queued_init(struct queued *m, const char *data, size_t len,
    const struct flags *fl, int64_t date)
{
	queued_meta(m, fl, date);
	if (len >= ALONE_BYTES) {
		m->lf = data;
		m->lf_len = len;
		m->size = wire_size(data, len);
	} else {
		lf_to_crlf(&m->wire, data, len);
		m->size = m->wire.len;
	}
	m->msgid = header_message_id(data, len);
}

/* ---- one APPEND command: opened, one piece per message, closed ------- */

static int
append_open(struct imap_store *s)
{
	int r = imap_cmd_begin(s->imap, "APPEND ");

	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_string(s->imap, s->sel_wire, strlen(s->sel_wire));
	return r;
}

static int
append_item(struct imap_store *s, const struct queued *m)
{
	const char *d = m->wire.data ? m->wire.data : "";
	int r = imap_cmd_add(s->imap, m->meta, strlen(m->meta));

	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (m->lf != NULL)
		return imap_cmd_literal_crlf(s->imap, m->lf, m->lf_len,
		    has_cap(s, "LITERAL+"));
	return has_cap(s, "LITERAL+") ?
	    imap_cmd_literal_plus(s->imap, d, m->wire.len) :
	    imap_cmd_literal(s->imap, d, m->wire.len);
}

static void
append_what(struct imap_store *s, size_t n, char *what, size_t sz)
{
	if (n == 1)
		snprintf(what, sz, "APPEND %s", s->sel_name);
	else
		snprintf(what, sz, "APPEND %s (%zu messages)", s->sel_name, n);
}

/*
 * End the command that carried v[0..n-1] and read its answer.  0 when the
 * server stored them all (their UIDs in uids[]); 1 when it stored them
 * but their UIDs are unknown: no usable APPENDUID for several (finding
 * them by Message-ID and size could give two identical ones the same UID;
 * their intents pair them next run), or one not found again (e says so);
 * else -1 with e, and a NO leaves the session usable and nothing stored.
 */
static int
append_close(struct imap_store *s, const struct queued *v, size_t n,
    uint32_t from, uint32_t *uids, struct err *e)
{
	uint32_t uv = 0, *got = NULL;
	size_t ngot = 0;
	char what[300];
	int r = imap_cmd_end(s->imap);

	append_what(s, n, what, sizeof(what));
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(s, r, what, e);
	memset(uids, 0, n * sizeof(*uids));
	if (s->uidplus && parse_appenduid(imap_io_last_tagged(s->io), &uv,
	    &got, &ngot, n) && uv == s->sel.uidvalidity && ngot == n)
		memcpy(uids, got, n * sizeof(*uids));
	free(got);
	if (n > 1 && uids[0] == 0) {
		log_msg(LOG_VERBOSE, "%s: %s: no usable APPENDUID; the "
		    "messages are paired on the next run", s->label, what);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (uids[i] == 0 && find_appended(s, from, v[i].msgid,
		    v[i].size, &uids[i], e) < 0)
			return s->broken ? -1 : 1;
		if (uids[i] >= s->sel.uidnext && uids[i] < UINT32_MAX)
			s->sel.uidnext = uids[i] + 1;
	}
	return 0;
}

/* APPEND of one message, start to end. */
static int
append_one(struct imap_store *s, const struct queued *m, uint32_t *uid,
    struct err *e)
{
	uint32_t from = s->sel.uidnext;
	char what[300];
	int r = append_open(s);

	if (r == MAILIMAP_NO_ERROR)
		r = append_item(s, m);
	if (r != MAILIMAP_NO_ERROR) {
		append_what(s, 1, what, sizeof(what));
		return imap_fail(s, r, what, e);
	}
	return append_close(s, m, 1, from, uid, e) == 0 ? 0 : -1;
}

static void
fill_out(struct msg *out, const struct queued *m, const struct flags *fl,
    int64_t date, uint32_t uid)
{
	msg_free(out);
	out->msgid = m->msgid ? xstrdup(m->msgid) : NULL;
	out->size = m->size;
	out->uid = uid;
	flags_copy(&out->flags, fl);
	out->date = date;
	out->has_details = true;
}

/* Note the outcome of the next append of the batch. */
static void
record(struct append_queue *aq, bool ok, uint32_t uid)
{
	xgrow(&aq->ok, &aq->cap_ok, aq->n + 1, sizeof(*aq->ok));
	xgrow(&aq->uids, &aq->cap_uids, aq->n + 1, sizeof(*aq->uids));
	aq->ok[aq->n] = ok;
	aq->uids[aq->n] = uid;
	aq->n++;
}

/* A refusal for the folder, not for a message (RFC 5530 codes): trying
 * each message alone would only be refused as many times. */
static bool
folder_refusal(const struct err *why)
{
	static const char *const codes[] = { "[OVERQUOTA]", "[TRYCREATE]",
		"[NOPERM]", "[READ-ONLY]" };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strstr(why->msg, codes[i]) != NULL)
			return true;
	return false;
}

/*
 * The messages of the open command are settled: stored with their UIDs
 * when `stored` (uids NULL: stored under unknown UIDs, left to the
 * intents and not ok), else (the server refused the command, or a
 * message of it) each of several is tried alone, so that one the server
 * will not take (too large, say) does not fail the others, unless the
 * refusal is for the whole folder; after a lost connection, none.
 */
static void
settle(struct imap_store *s, bool stored, const uint32_t *uids,
    const struct err *why)
{
	struct append_queue *aq = s->aq;
	size_t base = aq->n - aq->nq;
	bool alone = !stored && aq->nq > 1 && !folder_refusal(why);

	for (size_t i = 0; i < aq->nq; i++) {
		struct err me = *why;
		uint32_t uid = stored && uids != NULL ? uids[i] : 0;

		if (stored && uids == NULL) {
			/* not ok, and never sent again: its intent pairs it */
			queued_free(&aq->q[i]);
			continue;
		}
		if (stored || (!s->broken && alone &&
		    imap_check_selected(s, "APPEND", &me) == 0 &&
		    append_one(s, &aq->q[i], &uid, &me) == 0)) {
			aq->ok[base + i] = true;
			aq->uids[base + i] = uid;
		} else if (aq->first.code == ERR_OK) {
			aq->first = me;
		}
		queued_free(&aq->q[i]);
	}
	aq->nq = 0;
	aq->qbytes = 0;
	aq->open = false;
}

/* End the open command and settle its messages. */
static void
close_command(struct imap_store *s)
{
	struct append_queue *aq = s->aq;
	uint32_t *uids = xcalloc(aq->nq + 1, sizeof(*uids));
	struct err e = { 0 };
	int rc;

	if (aq->open) {
		rc = append_close(s, aq->q, aq->nq, aq->from, uids, &e);
		if (rc == 1 && e.code != ERR_OK && aq->first.code == ERR_OK)
			aq->first = e;
		settle(s, rc >= 0, rc == 0 ? uids : NULL, &e);
	}
	free(uids);
}

/*
 * In a batch, a message goes out at once as the next piece of one open
 * APPEND command (so progress and memory follow the wire), and a copy
 * stays queued until the command's answer, for the retry alone.
 */
static int
append_in_batch(struct imap_store *s, struct queued *m, struct err *e)
{
	struct append_queue *aq = s->aq;
	char what[300];
	int r = MAILIMAP_NO_ERROR;

	if (!aq->open) {
		aq->from = s->sel.uidnext;
		if ((r = append_open(s)) != MAILIMAP_NO_ERROR) {
			append_what(s, 1, what, sizeof(what));
			queued_free(m);
			return imap_fail(s, r, what, e);
		}
		aq->open = true;
	}
	xgrow(&aq->q, &aq->capq, aq->nq + 1, sizeof(*aq->q));
	aq->q[aq->nq++] = *m;
	aq->qbytes += m->size;
	record(aq, false, 0);	/* settled with its command */
	if ((r = append_item(s, m)) != MAILIMAP_NO_ERROR) {
		struct err why = { 0 };

		/* the command is over: refused, or the connection is gone */
		append_what(s, aq->nq, what, sizeof(what));
		imap_fail(s, r, what, &why);
		settle(s, false, NULL, &why);
	} else if (aq->nq >= MULTI_MAX_MSGS || aq->qbytes >= MULTI_MAX_BYTES) {
		close_command(s);
	}
	memset(m, 0, sizeof(*m));	/* the queue owns it now */
	return 0;
}

int
imap_append(struct store *st, const char *data, size_t len,
    const struct flags *fl, int64_t date, struct msg *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct append_queue *aq = s->aq;
	struct queued m;
	uint32_t uid = 0;
	int rc;

	if (imap_check_selected(s, "APPEND", e) < 0)
		return -1;
	queued_init(&m, data, len, fl, date);
	if (aq != NULL && aq->active && aq->multi && m.lf == NULL) {
		fill_out(out, &m, fl, date, 0);
		return append_in_batch(s, &m, e);
	}
	/* the open command's messages were given first */
	if (aq != NULL && aq->open)
		close_command(s);
	rc = append_one(s, &m, &uid, e);
	if (rc == 0) {
		fill_out(out, &m, fl, date, uid);
		if (aq != NULL && aq->active)
			record(aq, true, uid);
	}
	queued_free(&m);
	return rc;
}

/* ---- one message in pieces ------------------------------------------ */

/*
 * An APPEND whose literal is sent as the pieces come (append_begin ..
 * append_end), announced at the size the caller measured: a message that
 * turns out longer or shorter than that cannot end its literal, and the
 * connection is given up.
 */
struct append_pieces {
	struct queued m;
	struct flags fl;
	int64_t date;
	uint32_t from;		/* UIDNEXT before */
	uint64_t sent;		/* literal bytes so far */
	bool after_cr;
};

static void
pieces_free(struct imap_store *s)
{
	if (s->ap == NULL)
		return;
	queued_free(&s->ap->m);
	flags_free(&s->ap->fl);
	free(s->ap);
	s->ap = NULL;
}

int
imap_append_begin(struct store *st, const struct flags *fl, int64_t date,
    uint64_t size, const char *name, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct append_pieces *p;
	char what[300];
	int r;

	(void)name;	/* the server names it */
	imap_append_abort(st);
	if (imap_check_selected(s, "APPEND", e) < 0)
		return -1;
	/* the open command's messages were given first */
	if (s->aq != NULL && s->aq->open)
		close_command(s);
	p = s->ap = xcalloc(1, sizeof(*p));
	queued_meta(&p->m, fl, date);
	p->m.size = size;
	flags_copy(&p->fl, fl);
	p->date = date;
	p->from = s->sel.uidnext;
	r = append_open(s);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, p->m.meta, strlen(p->m.meta));
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_literal_open(s->imap, size, has_cap(s, "LITERAL+"));
	if (r != MAILIMAP_NO_ERROR) {
		pieces_free(s);
		append_what(s, 1, what, sizeof(what));
		return imap_fail(s, r, what, e);
	}
	return 0;
}

int
imap_append_write(struct store *st, const char *data, size_t len,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct append_pieces *p = s->ap;
	bool cr, first;
	char what[300];
	int r;

	if (p == NULL)
		return err_set(e, ERR_FAIL, "%s: APPEND: no message begun",
		    s->label);
	append_what(s, 1, what, sizeof(what));
	cr = p->after_cr;
	first = p->sent == 0;
	p->sent += wire_size_piece(data, len, &cr);
	if (p->sent > p->m.size) {
		pieces_free(s);
		return imap_set_broken(s, ERR_TEMP, what, "the message grew "
		    "while it was sent", e);
	}
	if (first)
		p->m.msgid = header_message_id(data, len);
	r = imap_cmd_add_crlf(s->imap, data, len, &p->after_cr);
	if (r != MAILIMAP_NO_ERROR) {
		pieces_free(s);
		return imap_fail(s, r, what, e);
	}
	return 0;
}

int
imap_append_end(struct store *st, struct msg *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct append_pieces *p = s->ap;
	uint32_t uid = 0;
	char what[300];
	int rc;

	if (p == NULL)
		return err_set(e, ERR_FAIL, "%s: APPEND: no message begun",
		    s->label);
	if (p->sent != p->m.size) {
		append_what(s, 1, what, sizeof(what));
		pieces_free(s);
		return imap_set_broken(s, ERR_TEMP, what, "the message shrank "
		    "while it was sent", e);
	}
	rc = append_close(s, &p->m, 1, p->from, &uid, e) == 0 ? 0 : -1;
	if (rc == 0) {
		fill_out(out, &p->m, &p->fl, p->date, uid);
		if (s->aq != NULL && s->aq->active)
			record(s->aq, true, uid);
	}
	pieces_free(s);
	return rc;
}

void
imap_append_abort(struct store *st)
{
	struct imap_store *s = imap_of(st);
	char what[300];

	if (s->ap == NULL)
		return;
	/* a literal cannot be taken back: the server waits for its bytes */
	append_what(s, 1, what, sizeof(what));
	imap_set_broken(s, ERR_TEMP, what, "an APPEND was cut short", NULL);
	pieces_free(s);
}

void
imap_batch_begin(struct store *st)
{
	struct imap_store *s = imap_of(st);

	if (s->aq == NULL)
		s->aq = xcalloc(1, sizeof(*s->aq));
	s->aq->active = true;
	/* without UIDPLUS each message must be found again after its
	 * APPEND, which a batch would make ambiguous */
	s->aq->multi = s->uidplus && has_cap(s, "MULTIAPPEND");
	s->aq->n = 0;
	err_clear(&s->aq->first);
}

int
imap_batch_end(struct store *st, bool *ok, uint32_t *uids, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct append_queue *aq = s->aq;

	if (aq == NULL || !aq->active)
		return 0;
	close_command(s);
	aq->active = false;
	for (size_t k = 0; k < aq->n; k++) {
		ok[k] = aq->ok[k];
		uids[k] = aq->uids[k];
	}
	if (aq->first.code != ERR_OK) {
		*e = aq->first;
		return -1;
	}
	return 0;
}

void
imap_append_queue_free(struct imap_store *s)
{
	pieces_free(s);
	if (s->aq == NULL)
		return;
	for (size_t i = 0; i < s->aq->nq; i++)
		queued_free(&s->aq->q[i]);
	free(s->aq->q);
	free(s->aq->ok);
	free(s->aq->uids);
	free(s->aq);
	s->aq = NULL;
}
