/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP writing: flags (STORE), MOVE or COPY, EXPUNGE. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "imap_io.h"
#include "imap_priv.h"
#include "util.h"

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

void
imap_flag_text(struct buf *b, const struct flags *fl)
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
		struct mailimap_set *set = imap_uid_set(uids + lo, cnt);
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
	qsort(uids, d->n, sizeof(*uids), u32_cmp);
	if ((d->add_bits || d->add_kw) &&
	    store_flags(s, uids, d->n, true, d->add_bits, d->add_kw, e) < 0)
		rc = -1;
	if (rc == 0 && (d->del_bits || d->del_kw) &&
	    store_flags(s, uids, d->n, false, d->del_bits, d->del_kw, e) < 0)
		rc = -1;
	free(uids);
	return rc;
}

int
imap_set_flags(struct store *st, struct flag_change *v, size_t n,
    struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct delta *ds = NULL;
	size_t nd = 0, capd = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	if (imap_check_selected(s, "STORE", e) < 0)
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

int
imap_remove(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct imap_store *s = imap_of(st);
	uint32_t *uids;
	char what[300];
	int rc = 0;

	if (n == 0)
		return 0;
	if (imap_check_selected(s, "EXPUNGE", e) < 0)
		return -1;
	uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = msgs[i]->uid;
	qsort(uids, n, sizeof(*uids), u32_cmp);
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
		struct mailimap_set *set = imap_uid_set(uids + lo, cnt);
		int r = mailimap_uid_expunge(s->imap, set);

		mailimap_set_free(set);
		if (r != MAILIMAP_NO_ERROR)
			rc = imap_fail(s, r, what, e);
	}
	free(uids);
	if (rc == 0)
		rc = imap_count(s, what, e);
	return rc;
}

/* ---- move ------------------------------------------------------------ */

bool
imap_parse_uid_seq(const char **pp, uint32_t **v, size_t *n, size_t *cap,
    size_t max)
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
		/* a hostile set must not make us allocate without bound */
		if (b - a >= max || *n > max - (b - a + 1))
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
	if (!imap_parse_uid_seq(&p, src, &ns, &cs, UID_SET_MAX) ||
	    *p++ != ' ' || !imap_parse_uid_seq(&p, dst, &nd, &cd,
	    UID_SET_MAX) || *p != ']' || ns != nd) {
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
int
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
	if (imap_check_selected(s, "MOVE", e) < 0 ||
	    imap_wire_name(s, to, &wto, e) < 0)
		return -1;
	snprintf(what, sizeof(what), "UID %s %s %s", move ? "MOVE" : "COPY",
	    s->sel_name, to);
	/* COPYUID names the target's UIDVALIDITY: learn it to check it */
	if (imap_status_wire(s, wto, to, &tst, e) < 0)
		goto out;
	dst_uv = tst.uidvalidity;
	uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = msgs[i]->uid;
	qsort(uids, n, sizeof(*uids), u32_cmp);
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
			struct mailimap_set *set = imap_uid_set(uids, n);
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
	rc = imap_count(s, what, e);
out:
	free(src);
	free(dst);
	free(wto);
	return rc;
}
