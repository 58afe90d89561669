/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP reading: SELECT, listings, CHANGEDSINCE, message details, bodies. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "imap_io.h"
#include "imap_priv.h"
#include "util.h"

/* Messages per FETCH while listing: bounds what libetpan holds at once. */
#define LIST_CHUNK 2000

/* ---- select ---------------------------------------------------------- */

static int select_qresync(struct imap_store *s, const char *wire,
    uint32_t uidvalidity, uint64_t since, uint64_t *modseq);

void
imap_expect_changes(struct store *st, uint32_t uidvalidity, uint64_t since)
{
	struct imap_store *s = imap_of(st);

	s->want_uidvalidity = uidvalidity;
	s->want_since = since;
}

void
imap_kept_clear(struct imap_store *s)
{
	if (!s->have_kept)
		return;
	msg_list_free(&s->kept.msgs);
	free(s->kept.vanished);
	memset(&s->kept, 0, sizeof(s->kept));
	s->have_kept = false;
}

void
imap_forget_selection(struct imap_store *s)
{
	free(s->sel_name);
	free(s->sel_wire);
	s->sel_name = NULL;
	s->sel_wire = NULL;
	memset(&s->sel, 0, sizeof(s->sel));
	imap_io_take_vanished(s->io);	/* they were the old folder's */
}

int
imap_count(struct imap_store *s, const char *what, struct err *e)
{
	struct mailimap_selection_info *si = s->imap->imap_selection_info;
	uint32_t gone = imap_io_take_vanished(s->io);

	if (si == NULL)
		return err_set(e, ERR_FAIL, "%s: %s: no folder selected",
		    s->label, what);
	/* A count that is off would list too few messages (read as
	 * deletions) or ask for ones past the end. */
	if (gone > si->sel_exists)
		return imap_set_broken(s, ERR_FAIL, what, "the server reported "
		    "more messages vanished than the folder held (protocol "
		    "error)", e);
	si->sel_exists -= gone;
	s->sel.exists = si->sel_exists;
	return 0;
}

static int
fill_status(struct imap_store *s, const char *what,
    struct folder_status *out, struct err *e)
{
	struct mailimap_selection_info *si = s->imap->imap_selection_info;

	if (imap_count(s, what, e) < 0)
		return -1;
	if (si->sel_uidnext > s->sel.uidnext)
		s->sel.uidnext = si->sel_uidnext;
	if (out != NULL)
		*out = s->sel;
	return 0;
}

int
imap_select(struct store *st, const char *name, struct folder_status *out,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_selection_info *si;
	uint32_t want_uidvalidity = s->want_uidvalidity;
	uint64_t modseq = 0, want_since = s->want_since;
	char *wire, what[300];
	int r;

	s->want_uidvalidity = 0;
	s->want_since = 0;
	imap_kept_clear(s);
	snprintf(what, sizeof(what), "SELECT %s", name);
	if (imap_check_usable(s, what, e) < 0)
		return -1;
	if (s->sel_name != NULL && strcmp(s->sel_name, name) == 0) {
		/* Same folder: a NOOP brings EXISTS/EXPUNGE news. */
		r = mailimap_noop(s->imap);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(s, r, what, e);
		return fill_status(s, what, out, e);
	}
	if (imap_prepare_select(s, name, &wire, e) < 0)
		return -1;
	if (s->qresync && want_uidvalidity != 0 && want_since != 0)
		r = select_qresync(s, wire, want_uidvalidity, want_since,
		    &modseq);
	else if (s->condstore)
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
	/* another UIDVALIDITY: the server ignored the QRESYNC parameters */
	if (si->sel_uidvalidity != want_uidvalidity)
		imap_kept_clear(s);
	s->sel.uidvalidity = si->sel_uidvalidity;
	s->sel.highestmodseq = modseq;
	s->sel_name = xstrdup(name);
	s->sel_wire = wire;
	s->kept_tag = s->imap->imap_tag;
	return fill_status(s, what, out, e);
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

void
imap_read_msg_att(struct mailimap_msg_att *att, struct fetched *f)
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
				f->body_origin = st->att_data.att_body_section
				    ->sec_origin_octet;
				f->has_body = true;
			}
			break;
		default:
			break;
		}
	}
}

struct mailimap_fetch_type *
imap_fetch_type_new(bool listing, bool msgid, bool body)
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
struct mailimap_set *
imap_uid_set(const uint32_t *uids, size_t n)
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

/* The VANISHED response in extension data x, or NULL. */
static struct mailimap_qresync_vanished *
vanished_of(struct mailimap_extension_data *x)
{
	if (x == NULL || x->ext_extension == NULL ||
	    x->ext_extension->ext_id != MAILIMAP_EXTENSION_QRESYNC ||
	    x->ext_type != MAILIMAP_QRESYNC_TYPE_VANISHED)
		return NULL;
	return x->ext_data;
}

/* Whether the last command's responses removed messages (EXPUNGE, or
 * VANISHED once QRESYNC is enabled), shifting sequence numbers. */
static bool
expunges_seen(struct imap_store *s)
{
	struct mailimap_response_info *ri = s->imap->imap_response_info;
	clistiter *it;

	if (ri == NULL)
		return false;
	if (ri->rsp_expunged != NULL && clist_count(ri->rsp_expunged) > 0)
		return true;
	for (it = clist_begin(ri->rsp_extension_list); it != NULL;
	    it = clist_next(it)) {
		struct mailimap_qresync_vanished *v =
		    vanished_of(clist_content(it));

		if (v != NULL && !v->qr_earlier)
			return true;
	}
	return false;
}

/*
 * The passes over a folder by sequence ranges (the listing, UID SEARCH):
 * the next range lo..*hi of at most chunk numbers, from the count brought
 * up to date: 1, or 0 past the end, -1 on error.
 */
static int
next_range(struct imap_store *s, const char *what, uint32_t lo,
    uint32_t chunk, uint32_t *hi, struct err *e)
{
	uint32_t total;

	if (imap_count(s, what, e) < 0)
		return -1;
	if (lo > (total = s->sel.exists))
		return 0;
	*hi = total - lo < chunk ? total : lo + chunk - 1;
	return 1;
}

/* After a range's command: 1 to go on, 0 when an expunge shifted the
 * numbers (start the pass again), -1 when the server said NO with data,
 * which libetpan calls a success (a partial listing would read as
 * deletions). */
static int
range_verdict(struct imap_store *s, const char *what, struct err *e)
{
	if (!imap_tagged_ok(s))
		return err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
		    imap_server_text(s));
	return expunges_seen(s) ? 0 : 1;
}

/*
 * One pass over the folder by sequence ranges: 1 done, 0 when an expunge
 * shifted the numbers under us (start again), -1 on error.
 */
static int
list_pass(struct imap_store *s, struct msg_list *out, struct err *e)
{
	struct mailimap_fetch_type *ft =
	    imap_fetch_type_new(true, false, false);
	char what[300];
	uint32_t lo = 1;
	int rc = 1;

	snprintf(what, sizeof(what), "FETCH %s", s->sel_name);
	while (rc == 1) {
		uint32_t hi = 0;
		struct mailimap_set *set;
		clist *result = NULL;
		clistiter *it;
		int r;

		if ((r = next_range(s, what, lo, LIST_CHUNK, &hi, e)) <= 0) {
			rc = r < 0 ? -1 : 1;
			break;
		}
		set = mailimap_set_new_interval(lo, hi);
		r = mailimap_fetch(s->imap, set, ft, &result);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR) {
			rc = imap_fail(s, r, what, e);
			break;
		}
		rc = range_verdict(s, what, e);
		for (it = clist_begin(result); rc == 1 && it != NULL;
		    it = clist_next(it)) {
			struct fetched f;
			struct msg *m;

			imap_read_msg_att(clist_content(it), &f);
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

int
imap_list(struct store *st, struct msg_list *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	size_t first = out->n;
	uint32_t *uids;
	int r = 0;

	if (imap_check_selected(s, "FETCH", e) < 0)
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
	qsort(uids, out->n - first, sizeof(*uids), u32_cmp);
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
	qsort(uids, n, sizeof(*uids), u32_cmp);
	for (size_t i = 1; i < n && dup == 0; i++)
		if (uids[i] == uids[i - 1])
			dup = uids[i];
	free(uids);
	return dup;
}

static int
cmp_range(const void *a, const void *b)
{
	const struct uid_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Add the UIDs of v to out->vanished. */
static void
add_vanished(struct store_changes *out, size_t *cap,
    const struct mailimap_qresync_vanished *v)
{
	clistiter *it;

	if (v == NULL || v->qr_known_uids == NULL)
		return;
	for (it = clist_begin(v->qr_known_uids->set_list); it != NULL;
	    it = clist_next(it)) {
		const struct mailimap_set_item *si = clist_content(it);
		/* libetpan reads "*" as 0; taking it for the highest UID
		 * can only make the listing look short, which falls back
		 * to asking the server. */
		uint32_t a = si->set_first ? si->set_first : UINT32_MAX;
		uint32_t b = si->set_last ? si->set_last : UINT32_MAX;

		xgrow(&out->vanished, cap, out->nvanished + 1,
		    sizeof(*out->vanished));
		out->vanished[out->nvanished++] = (struct uid_range){
			a < b ? a : b, a < b ? b : a };
	}
}

/*
 * Every UID of the last command's VANISHED responses, EARLIER or not (one
 * sent meanwhile also means gone), with first (which libetpan took out of
 * the list), as sorted ranges that do not overlap.
 */
static void
collect_vanished(struct imap_store *s,
    const struct mailimap_qresync_vanished *first, struct store_changes *out)
{
	struct mailimap_response_info *ri = s->imap->imap_response_info;
	size_t cap = 0, k = 0;
	clistiter *it;

	out->has_vanished = true;
	add_vanished(out, &cap, first);
	for (it = clist_begin(ri != NULL ? ri->rsp_extension_list : NULL);
	    it != NULL; it = clist_next(it))
		add_vanished(out, &cap, vanished_of(clist_content(it)));
	if (out->nvanished == 0)
		return;
	qsort(out->vanished, out->nvanished, sizeof(*out->vanished),
	    cmp_range);
	for (size_t i = 1; i < out->nvanished; i++) {
		struct uid_range *last = &out->vanished[k];

		if (out->vanished[i].lo <= last->hi ||
		    out->vanished[i].lo == last->hi + 1) {
			if (out->vanished[i].hi > last->hi)
				last->hi = out->vanished[i].hi;
		} else {
			out->vanished[++k] = out->vanished[i];
		}
	}
	out->nvanished = k + 1;
}

/*
 * The changed messages of a CHANGEDSINCE answer, taken as each is parsed
 * (imap_each_message): after "mark all as read" in a large folder the
 * answer has a line per message, more than libetpan should hold at once.
 */
struct changed {
	struct msg_list *out;
	bool no_uid;		/* a message came without a valid UID */
};

static void
changed_take(struct mailimap_msg_att *att, void *arg)
{
	struct changed *c = arg;
	struct fetched f;
	struct msg *m;

	imap_read_msg_att(att, &f);
	/* Unsolicited FETCH (flag news) lacks our items. */
	if (!f.has_uid || !f.has_flags || f.uid == 0) {
		c->no_uid |= f.has_uid && f.has_flags;
		flags_free(&f.flags);
		return;
	}
	xgrow(&c->out->v, &c->out->cap, c->out->n + 1, sizeof(*c->out->v));
	m = &c->out->v[c->out->n++];
	memset(m, 0, sizeof(*m));
	m->uid = f.uid;
	m->flags = f.flags;
}

int
imap_list_changed(struct store *st, uint64_t since,
    struct store_changes *out, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_qresync_vanished *first = NULL;
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	struct changed c = { .out = &out->msgs };
	clist *result = NULL;
	char what[300];
	uint32_t dup;
	int r, rc = 0;

	memset(out, 0, sizeof(*out));
	if (imap_check_selected(s, "UID FETCH", e) < 0)
		return -1;
	/* what the SELECT brought, if no command came since */
	if (s->have_kept && s->kept_since == since &&
	    s->kept_tag == s->imap->imap_tag) {
		*out = s->kept;
		memset(&s->kept, 0, sizeof(s->kept));
		s->have_kept = false;
		out->exists = s->sel.exists;
		return 0;
	}
	imap_kept_clear(s);
	snprintf(what, sizeof(what), "UID FETCH %s (CHANGEDSINCE %llu%s)",
	    s->sel_name, (unsigned long long)since,
	    s->qresync ? " VANISHED" : "");
	if (!s->condstore || s->sel.highestmodseq == 0 || since == 0)
		return err_set(e, ERR_FAIL, "%s: %s: the folder has no "
		    "modification sequences (CONDSTORE)", s->label, what);
	ft = imap_fetch_type_new(true, false, false);
	set = mailimap_set_new_interval(1, 0);	/* 1:* */
	imap_each_message(s, changed_take, &c);
	if (s->qresync)
		r = mailimap_uid_fetch_qresync(s->imap, set, ft, since,
		    &result, &first);
	else
		r = mailimap_uid_fetch_changedsince(s->imap, set, ft, since,
		    &result);
	imap_each_message(s, NULL, NULL);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	/* the handler took every message; anything left came unasked */
	if (result != NULL) {
		for (clistiter *it = clist_begin(result); it != NULL;
		    it = clist_next(it))
			changed_take(clist_content(it), &c);
		mailimap_fetch_list_free(result);
	}
	if (r != MAILIMAP_NO_ERROR) {
		rc = imap_fail(s, r, what, e);
	} else if (!imap_tagged_ok(s)) {
		/* A NO with some data is no "nothing changed": a partial
		 * answer would hide flag changes. */
		rc = err_set(e, ERR_FAIL, "%s: %s: %s", s->label, what,
		    imap_server_text(s));
	} else if (c.no_uid) {
		rc = err_set(e, ERR_FAIL, "%s: %s: the server sent a message "
		    "without a valid UID (protocol error)", s->label, what);
	} else if ((dup = dup_uid(&out->msgs, 0)) != 0) {
		rc = err_set(e, ERR_FAIL, "%s: %s: the server listed UID %u "
		    "twice (protocol error)", s->label, what, dup);
	}
	if (rc == 0 && s->qresync)
		collect_vanished(s, first, out);
	if (first != NULL)
		mailimap_qresync_vanished_free(first);
	if (rc == 0)
		rc = imap_count(s, what, e);
	if (rc < 0) {
		msg_list_free(&out->msgs);
		free(out->vanished);
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->exists = s->sel.exists;
	return 0;
}

/* The HIGHESTMODSEQ of the last command's responses, or 0. */
static uint64_t
highestmodseq_seen(struct imap_store *s)
{
	struct mailimap_response_info *ri = s->imap->imap_response_info;

	for (clistiter *it = clist_begin(ri != NULL ? ri->rsp_extension_list :
	    NULL); it != NULL; it = clist_next(it)) {
		struct mailimap_extension_data *x = clist_content(it);
		struct mailimap_condstore_resptextcode *c;

		if (x == NULL || x->ext_extension == NULL ||
		    x->ext_extension->ext_id != MAILIMAP_EXTENSION_CONDSTORE ||
		    x->ext_type != MAILIMAP_CONDSTORE_TYPE_RESP_TEXT_CODE)
			continue;
		c = x->ext_data;
		if (c->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_HIGHESTMODSEQ)
			return c->cs_data.cs_modseq_value;
	}
	return 0;
}

/*
 * SELECT wire (QRESYNC (uidvalidity since)): the server sends what changed
 * since `since` with the selection, into s->kept.  libetpan's own
 * mailimap_select_qresync sends "SELECT name QRESYNC (...)", which is not
 * RFC 7162 syntax and which Dovecot answers as a plain SELECT; so the
 * command goes as a custom one, and the session is set up as
 * mailimap_select would.  A name a quoted string cannot carry gets the
 * plain SELECT (CONDSTORE).  Kept only when it all made sense: a protocol
 * error here only costs the UID FETCH it saves.
 */
static int
select_qresync(struct imap_store *s, const char *wire, uint32_t uidvalidity,
    uint64_t since, uint64_t *modseq)
{
	struct changed c = { .out = &s->kept.msgs };
	struct buf cmd = { 0 };
	int r;

	for (const char *p = wire; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return mailimap_select_condstore(s->imap, wire, modseq);
	buf_adds(&cmd, "SELECT \"");
	for (const char *p = wire; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addc(&cmd, '\\');
		buf_addc(&cmd, *p);
	}
	buf_printf(&cmd, "\" (QRESYNC (%u %llu))", uidvalidity,
	    (unsigned long long)since);
	if (s->imap->imap_selection_info != NULL)
		mailimap_selection_info_free(s->imap->imap_selection_info);
	s->imap->imap_selection_info = mailimap_selection_info_new();
	if (s->imap->imap_selection_info == NULL)
		xoom();
	s->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	s->have_kept = true;
	imap_each_message(s, changed_take, &c);
	r = mailimap_custom_command(s->imap, cmd.data);
	imap_each_message(s, NULL, NULL);
	buf_free(&cmd);
	/* a server that offers QRESYNC and refuses its SELECT: as before */
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_STREAM &&
	    r != MAILIMAP_ERROR_PARSE && r != MAILIMAP_ERROR_FATAL) {
		imap_kept_clear(s);
		return mailimap_select_condstore(s->imap, wire, modseq);
	}
	if (r == MAILIMAP_NO_ERROR) {
		s->imap->imap_state = MAILIMAP_STATE_SELECTED;
		*modseq = highestmodseq_seen(s);
	}
	if (r == MAILIMAP_NO_ERROR && !c.no_uid &&
	    dup_uid(&s->kept.msgs, 0) == 0) {
		collect_vanished(s, NULL, &s->kept);
		s->kept_since = since;
	} else {
		imap_kept_clear(s);
	}
	return r;
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
	while (rc == 1) {
		uint32_t hi = 0;
		struct mailimap_search_key *key;
		clist *result = NULL;
		clistiter *it;
		int r;

		if ((r = next_range(s, what, lo, SEARCH_CHUNK, &hi, e)) <= 0)
			return r < 0 ? -1 : 1;
		key = mailimap_search_key_new_set(
		    mailimap_set_new_interval(lo, hi));
		r = mailimap_uid_search(s->imap, NULL, key, &result);
		mailimap_search_key_free(key);
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(s, r, what, e);
		rc = range_verdict(s, what, e);
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

int
imap_uids(struct store *st, uint32_t **out, size_t *n, struct err *e)
{
	struct imap_store *s = imap_of(st);
	uint32_t *v = NULL;
	size_t cap = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (imap_check_selected(s, "UID SEARCH", e) < 0)
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
		qsort(v, *n, sizeof(*v), u32_cmp);
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
	return u32_cmp(&((const struct uid_ref *)a)->uid,
	    &((const struct uid_ref *)b)->uid);
}

static void
no_progress(size_t done, size_t total, void *arg)
{
	(void)done;
	(void)total;
	(void)arg;
}

/* libetpan 1.9.4 calls the handler only while a progress function is set,
 * hence the no-op one. */
void
imap_each_message(struct imap_store *s,
    void (*fn)(struct mailimap_msg_att *, void *), void *arg)
{
	if (fn != NULL)
		mailimap_set_progress_callback(s->imap, no_progress,
		    no_progress, NULL);
	else
		mailimap_set_progress_callback(s->imap, NULL, NULL, NULL);
	mailimap_set_msg_att_handler(s->imap, fn, arg);
	imap_io_each_fetch(s->io, fn != NULL);
}

struct details {
	struct uid_ref *refs;	/* sorted by UID */
	size_t n;
};

/* Note one message's size, date and Message-ID on its msg. */
static void
details_take(struct mailimap_msg_att *att, void *arg)
{
	struct details *d = arg;
	struct fetched f;
	struct uid_ref key, *ref;

	imap_read_msg_att(att, &f);
	flags_free(&f.flags);
	if (!f.has_uid || !f.has_size || !f.has_body)
		return;
	key.uid = f.uid;
	ref = bsearch(&key, d->refs, d->n, sizeof(*d->refs), cmp_ref);
	if (ref == NULL)
		return;
	free(ref->m->msgid);
	ref->m->msgid = f.body != NULL ?
	    header_message_id(f.body, f.body_len) : NULL;
	ref->m->size = f.size;
	ref->m->date = f.has_date ? f.date : 0;
	ref->m->has_details = true;
}

int
imap_details(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct mailimap_fetch_type *ft;
	struct uid_ref *refs;
	struct details d;
	uint32_t *uids;
	char what[300];
	int rc = 0;

	if (n == 0)
		return 0;
	if (imap_check_selected(s, "FETCH", e) < 0)
		return -1;
	snprintf(what, sizeof(what), "FETCH %s", s->sel_name);
	refs = xmalloc(n * sizeof(*refs));
	uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct uid_ref){ msgs[i]->uid, msgs[i] };
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (size_t i = 0; i < n; i++)
		uids[i] = refs[i].uid;
	ft = imap_fetch_type_new(false, true, false);
	d = (struct details){ refs, n };

	/* each message as it comes: the 500 of a move held 1.3 MiB whole */
	imap_each_message(s, details_take, &d);
	for (size_t lo = 0; lo < n && rc == 0; lo += SET_CHUNK) {
		size_t cnt = n - lo < SET_CHUNK ? n - lo : SET_CHUNK;
		struct mailimap_set *set = imap_uid_set(uids + lo, cnt);
		clist *result = NULL;
		clistiter *it;
		int r;

		r = mailimap_uid_fetch(s->imap, set, ft, &result);
		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR) {
			if (result != NULL)
				mailimap_fetch_list_free(result);
			rc = imap_fail(s, r, what, e);
			break;
		}
		/* the handler took every message; anything left came
		 * unasked */
		for (it = clist_begin(result); it != NULL;
		    it = clist_next(it))
			details_take(clist_content(it), &d);
		mailimap_fetch_list_free(result);
	}
	imap_each_message(s, NULL, NULL);
	mailimap_fetch_type_free(ft);
	free(refs);
	free(uids);
	return rc;
}

/* ---- fetch many -------------------------------------------------------- */

/*
 * A batch is one UID FETCH per SET_CHUNK messages.  Each message is handed
 * on as soon as libetpan has parsed it (imap_each_message), so memory holds one
 * message, not the whole response, and the disk writes overlap the rest of
 * the response arriving.
 */

struct many {
	struct imap_store *s;
	struct msg **msgs;	/* this chunk */
	size_t n;
	size_t base;		/* index of msgs[0] for fn */
	bool *done;
	store_body_fn *fn;
	void *arg;
};

static void
many_deliver(struct many *m, struct mailimap_msg_att *att)
{
	struct fetched f;
	char *body;

	imap_read_msg_att(att, &f);
	flags_free(&f.flags);
	if (!f.has_uid || !f.has_body || f.body == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		if (m->msgs[i]->uid != f.uid || m->done[i])
			continue;
		m->done[i] = true;
		/* libetpan's own copy of the literal, freed after this
		 * handler: converted where it is, a message in flight is held
		 * once, not twice */
		body = (char *)f.body;
		m->fn(m->arg, m->base + i, body,
		    crlf_to_lf_in_place(body, f.body_len), false, NULL);
		return;
	}
}

static void
many_handler(struct mailimap_msg_att *att, void *arg)
{
	many_deliver(arg, att);
}

/* The sorted UIDs of msgs[0..n). */
static uint32_t *
sorted_uids(struct msg **msgs, size_t n)
{
	uint32_t *uids = xmalloc((n + 1) * sizeof(*uids));

	for (size_t i = 0; i < n; i++)
		uids[i] = msgs[i]->uid;
	qsort(uids, n, sizeof(*uids), u32_cmp);
	return uids;
}

/*
 * The UID FETCH of these bodies, sent now and read by the next
 * fetch_many: the server sends while the engine makes the previous batch
 * durable (a sync of the file system and the state), time in which the
 * connection stood idle.  The text is what mailimap_uid_fetch sends.
 */
int
imap_prefetch_one(struct imap_store *s, struct msg **msgs, size_t n,
    struct err *e)
{
	struct buf cmd = { 0 };
	uint32_t *uids;
	char what[300];
	int r;

	if (n == 0 || n > SET_CHUNK)
		return 0;
	if (imap_check_selected(s, "FETCH", e) < 0)
		return -1;
	uids = sorted_uids(msgs, n);
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] <= uids[j] + 1)
			j++;
		if (uids[j] == uids[i])
			buf_printf(&cmd, "%s%u", i ? "," : "", uids[i]);
		else
			buf_printf(&cmd, "%s%u:%u", i ? "," : "", uids[i],
			    uids[j]);
		i = j;
	}
	buf_adds(&cmd, " (UID BODY.PEEK[])");
	r = imap_cmd_begin(s->imap, "UID FETCH ");
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, cmd.data, cmd.len);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_send(s->imap);
	buf_free(&cmd);
	if (r != MAILIMAP_NO_ERROR) {
		free(uids);
		snprintf(what, sizeof(what), "FETCH %s (%zu messages)",
		    s->sel_name, n);
		return imap_fail(s, r, what, e);
	}
	s->prefetch = uids;
	s->prefetch_n = n;
	return 0;
}

/* Read the answer of the prefetch; the handler set delivers it. */
static int
prefetch_read(struct imap_store *s, clist **result)
{
	struct mailimap_response_info *ri;
	int r;

	free(s->prefetch);
	s->prefetch = NULL;
	s->prefetch_n = 0;
	s->prefetch_claimed = false;
	r = imap_cmd_flush_read(s->imap);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_parse(s->imap);
	ri = s->imap->imap_response_info;
	if (ri != NULL) {
		*result = ri->rsp_fetch_list;
		ri->rsp_fetch_list = NULL;
	}
	return r;
}

int
imap_prefetch_drain(struct imap_store *s, struct err *e)
{
	clist *result = NULL;
	int r;

	if (s->prefetch_n == 0)
		return 0;
	r = prefetch_read(s, &result);
	if (result != NULL)
		mailimap_fetch_list_free(result);
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_CUSTOM_COMMAND)
		return imap_fail(s, r, "FETCH (asked ahead)", e);
	return 0;
}

static int
fetch_chunk(struct many *m, size_t cnt, struct err *e)
{
	struct imap_store *s = m->s;
	uint32_t *uids = sorted_uids(m->msgs, cnt);
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *result = NULL;
	clistiter *it;
	char what[300];
	bool ahead = s->prefetch_n == cnt &&
	    memcmp(s->prefetch, uids, cnt * sizeof(*uids)) == 0;
	int r;

	if (!ahead && imap_prefetch_drain(s, e) < 0) {
		free(uids);
		return -1;
	}
	set = imap_uid_set(uids, cnt);
	free(uids);
	ft = imap_fetch_type_new(false, false, true);
	snprintf(what, sizeof(what), "FETCH %s (%zu messages)", s->sel_name,
	    cnt);
	imap_each_message(s, many_handler, m);
	imap_io_literal_max(s->io, IMAP_WHOLE_MAX);
	r = ahead ? prefetch_read(s, &result) :
	    mailimap_uid_fetch(s->imap, set, ft, &result);
	imap_io_literal_max(s->io, 0);
	imap_each_message(s, NULL, NULL);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR) {
		if (result != NULL)
			mailimap_fetch_list_free(result);
		return imap_fail(s, r, what, e);
	}
	/* the handler took every message; anything left came unasked */
	for (it = clist_begin(result); it != NULL; it = clist_next(it))
		many_deliver(m, clist_content(it));
	mailimap_fetch_list_free(result);
	return 0;
}

int
imap_fetch_many_one(struct imap_store *s, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e)
{
	struct many m = { .s = s, .msgs = msgs, .n = n, .fn = fn, .arg = arg };
	size_t lo = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	/* a prefetch of these is read by fetch_chunk, not dropped */
	s->prefetch_claimed = s->prefetch_n > 0;
	rc = imap_check_selected(s, "FETCH", e);
	s->prefetch_claimed = false;
	if (rc < 0)
		return -1;
	m.done = xcalloc(n, sizeof(*m.done));
	while (lo < n && rc == 0) {
		size_t cnt = n - lo < SET_CHUNK ? n - lo : SET_CHUNK;
		struct many sub = m;

		sub.msgs = msgs + lo;
		sub.n = cnt;
		sub.base = lo;
		sub.done = m.done + lo;
		rc = fetch_chunk(&sub, cnt, e);
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
		fn(arg, i, NULL, 0, false, &me);
	}
	free(m.done);
	return rc;
}
