/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The values of the state's records (keys: state.c): encoding, decoding
 * that checks every read against the bounds and says what was wrong, and
 * a folder's flag log in memory.
 *
 * Records start with a type byte ('f', 'p', 'i', 'g') and a record
 * version (1).  Integers are big-endian; a string is a byte 0 (NULL) or a
 * byte 1, a 32-bit length and that many bytes without NUL.  The whole
 * value must be consumed.
 *
 *   f 1: u32 uidvalidity, u32 uidnext, u64 highestmodseq, u32 exists,
 *        u64 cur/ mtime ns, u64 new/ mtime ns, u32 local count,
 *        then optionally u32 remote unpaired (absent in older records)
 *   p 1: u64 id, u32 uid, u32 flag bits, u64 size, str name, str keywords,
 *        str msgid
 *   i 1: u64 id, u8 kind, u32 uid, u64 size, u32 uidnext, u32 flag bits,
 *        str name, str keywords, str msgid
 *   g 1: u32 count, then count times u64 pair id, u32 flag bits,
 *        str keywords (ids ascending)
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "state_priv.h"

#define REC_VERSION 1
/* Far beyond any real name or keyword list; keeps sizes inside an int. */
#define STR_MAX (16u << 20)

/* Encoding. */

static void
put_u8(struct buf *b, unsigned v)
{
	buf_addc(b, (char)(v & 0xff));
}

static void
put_u32(struct buf *b, uint32_t v)
{
	unsigned char x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (unsigned char)(v >> (24 - 8 * i));
	buf_add(b, x, sizeof(x));
}

void
rec_put_u64(struct buf *b, uint64_t v)
{
	unsigned char x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (56 - 8 * i));
	buf_add(b, x, sizeof(x));
}

static void
put_str(struct buf *b, const char *s)
{
	if (s == NULL) {
		put_u8(b, 0);
		return;
	}
	put_u8(b, 1);
	put_u32(b, (uint32_t)strlen(s));
	buf_adds(b, s);
}

static const char *
kw_or_null(const char *kw)
{
	return kw != NULL && *kw != '\0' ? kw : NULL;
}

bool
rec_str_ok(const char *s)
{
	return s == NULL || strlen(s) <= STR_MAX;
}

void
rec_folder_encode(struct buf *b, const struct state_folder *f)
{
	put_u8(b, 'f');
	put_u8(b, REC_VERSION);
	put_u32(b, f->uidvalidity);
	put_u32(b, f->uidnext);
	rec_put_u64(b, f->highestmodseq);
	put_u32(b, f->exists);
	rec_put_u64(b, (uint64_t)f->local_mtime[0]);
	rec_put_u64(b, (uint64_t)f->local_mtime[1]);
	put_u32(b, f->local_change);
	put_u32(b, f->remote_unpaired);
}

void
rec_pair_encode(struct buf *b, const struct state_pair *p)
{
	put_u8(b, 'p');
	put_u8(b, REC_VERSION);
	rec_put_u64(b, p->id);
	put_u32(b, p->uid);
	put_u32(b, p->flags.bits);
	rec_put_u64(b, p->size);
	put_str(b, p->name);
	put_str(b, kw_or_null(p->flags.kw));
	put_str(b, p->msgid);
}

void
rec_intent_encode(struct buf *b, const struct state_intent *i)
{
	put_u8(b, 'i');
	put_u8(b, REC_VERSION);
	rec_put_u64(b, i->id);
	put_u8(b, (unsigned)i->kind);
	put_u32(b, i->uid);
	rec_put_u64(b, i->size);
	put_u32(b, i->uidnext);
	put_u32(b, i->flags.bits);
	put_str(b, i->name);
	put_str(b, kw_or_null(i->flags.kw));
	put_str(b, i->msgid);
}

/* Decoding: every read is bounds-checked; why says what was wrong. */

struct rd {
	const unsigned char *p;
	size_t n;
	const char *why;
};

static bool
rd_bytes(struct rd *r, size_t n, const unsigned char **out)
{
	if (r->n < n) {
		r->why = "truncated";
		return false;
	}
	*out = r->p;
	r->p += n;
	r->n -= n;
	return true;
}

static bool
rd_u8(struct rd *r, unsigned *v)
{
	const unsigned char *p;

	if (!rd_bytes(r, 1, &p))
		return false;
	*v = p[0];
	return true;
}

static bool
rd_u32(struct rd *r, uint32_t *v)
{
	const unsigned char *p;

	if (!rd_bytes(r, 4, &p))
		return false;
	*v = 0;
	for (int i = 0; i < 4; i++)
		*v = *v << 8 | p[i];
	return true;
}

static bool
rd_u64(struct rd *r, uint64_t *v)
{
	const unsigned char *p;

	if (!rd_bytes(r, 8, &p))
		return false;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v = *v << 8 | p[i];
	return true;
}

static bool
rd_str(struct rd *r, char **out)
{
	const unsigned char *p;
	unsigned present;
	uint32_t len;

	*out = NULL;
	if (!rd_u8(r, &present))
		return false;
	if (present == 0)
		return true;
	if (present != 1) {
		r->why = "bad string marker";
		return false;
	}
	if (!rd_u32(r, &len))
		return false;
	if (len > r->n) {
		r->why = "string length beyond the record";
		return false;
	}
	(void)rd_bytes(r, len, &p);
	if (memchr(p, '\0', len) != NULL) {
		r->why = "NUL inside a string";
		return false;
	}
	*out = xstrndup((const char *)p, len);
	return true;
}

static bool
rd_header(struct rd *r, unsigned type)
{
	unsigned t, v;

	if (!rd_u8(r, &t) || !rd_u8(r, &v))
		return false;
	if (t != type) {
		r->why = "wrong record type";
		return false;
	}
	if (v != REC_VERSION) {
		r->why = "unknown record version";
		return false;
	}
	return true;
}

static bool
rd_end(struct rd *r)
{
	if (r->n != 0) {
		r->why = "trailing bytes";
		return false;
	}
	return true;
}

static bool
rd_bits(struct rd *r, struct flags *f)
{
	uint32_t bits;

	if (!rd_u32(r, &bits))
		return false;
	if (bits & ~(uint32_t)FLAG_ALL) {
		r->why = "unknown flag bits";
		return false;
	}
	f->bits = bits;
	return true;
}

static bool
rd_kw(struct rd *r, struct flags *f)
{
	if (!rd_str(r, &f->kw))
		return false;
	if (f->kw != NULL && *f->kw == '\0') {
		free(f->kw);
		f->kw = NULL;
	}
	return true;
}

const char *
rec_folder_decode(const void *buf, size_t len, struct state_folder *out)
{
	struct rd r = { buf, len, NULL };
	struct state_folder f = { 0 };
	uint64_t m0, m1;

	memset(out, 0, sizeof(*out));
	if (!rd_header(&r, 'f') || !rd_u32(&r, &f.uidvalidity) ||
	    !rd_u32(&r, &f.uidnext) || !rd_u64(&r, &f.highestmodseq) ||
	    !rd_u32(&r, &f.exists) || !rd_u64(&r, &m0) || !rd_u64(&r, &m1) ||
	    !rd_u32(&r, &f.local_change))
		return r.why;
	f.remote_unpaired = UINT32_MAX;
	if ((r.n > 0 && !rd_u32(&r, &f.remote_unpaired)) || !rd_end(&r))
		return r.why;
	f.local_mtime[0] = (int64_t)m0;
	f.local_mtime[1] = (int64_t)m1;
	*out = f;
	return NULL;
}

const char *
rec_pair_decode(const void *buf, size_t len, struct state_pair *out)
{
	struct rd r = { buf, len, NULL };
	struct state_pair p = { 0 };

	memset(out, 0, sizeof(*out));
	if (!rd_header(&r, 'p') || !rd_u64(&r, &p.id) || !rd_u32(&r, &p.uid) ||
	    !rd_bits(&r, &p.flags) || !rd_u64(&r, &p.size) ||
	    !rd_str(&r, &p.name) || !rd_kw(&r, &p.flags) ||
	    !rd_str(&r, &p.msgid) || !rd_end(&r))
		goto bad;
	if (p.id == 0) {
		r.why = "id 0";
		goto bad;
	}
	*out = p;
	return NULL;
bad:
	state_pair_free(&p);
	return r.why;
}

const char *
rec_intent_decode(const void *buf, size_t len, struct state_intent *out)
{
	struct rd r = { buf, len, NULL };
	struct state_intent i = { 0 };
	unsigned kind;

	memset(out, 0, sizeof(*out));
	if (!rd_header(&r, 'i') || !rd_u64(&r, &i.id) || !rd_u8(&r, &kind) ||
	    !rd_u32(&r, &i.uid) || !rd_u64(&r, &i.size) ||
	    !rd_u32(&r, &i.uidnext) || !rd_bits(&r, &i.flags) ||
	    !rd_str(&r, &i.name) || !rd_kw(&r, &i.flags) ||
	    !rd_str(&r, &i.msgid) || !rd_end(&r))
		goto bad;
	if (kind != STATE_INTENT_DOWNLOAD && kind != STATE_INTENT_UPLOAD) {
		r.why = "unknown intent kind";
		goto bad;
	}
	i.kind = (enum state_intent_kind)kind;
	if (i.id == 0) {
		r.why = "id 0";
		goto bad;
	}
	*out = i;
	return NULL;
bad:
	state_intent_free(&i);
	return r.why;
}

const char *
rec_pair_uid(const void *buf, size_t len, uint32_t *uid)
{
	struct rd r = { buf, len, NULL };
	uint64_t id;

	if (!rd_header(&r, 'p') || !rd_u64(&r, &id) || !rd_u32(&r, uid))
		return r.why;
	return NULL;
}

int
state_decode_folder(const void *buf, size_t len, struct state_folder *out,
    struct err *e)
{
	const char *why = rec_folder_decode(buf, len, out);

	if (why != NULL)
		return err_set(e, ERR_FAIL, "corrupt record: %s", why);
	return 0;
}

int
state_decode_pair(const void *buf, size_t len, struct state_pair *out,
    struct err *e)
{
	const char *why = rec_pair_decode(buf, len, out);

	if (why != NULL)
		return err_set(e, ERR_FAIL, "corrupt record: %s", why);
	return 0;
}

int
state_decode_intent(const void *buf, size_t len, struct state_intent *out,
    struct err *e)
{
	const char *why = rec_intent_decode(buf, len, out);

	if (why != NULL)
		return err_set(e, ERR_FAIL, "corrupt record: %s", why);
	return 0;
}

/* Freeing. */

void
state_pair_free(struct state_pair *p)
{
	free(p->name);
	free(p->msgid);
	flags_free(&p->flags);
	memset(p, 0, sizeof(*p));
}

void
state_pairs_free(struct state_pairs *l)
{
	for (size_t i = 0; i < l->n; i++)
		state_pair_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
state_intent_free(struct state_intent *i)
{
	free(i->name);
	free(i->msgid);
	flags_free(&i->flags);
	memset(i, 0, sizeof(*i));
}

void
state_intents_free(struct state_intents *l)
{
	for (size_t i = 0; i < l->n; i++)
		state_intent_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
flag_log_free(struct flag_log *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		flags_free(&l->v[i].flags);
	free(l->v);
	free(l->folder);
	free(l);
}

void
rec_log_encode(struct buf *b, const struct flag_log *l)
{
	put_u8(b, 'g');
	put_u8(b, REC_VERSION);
	put_u32(b, (uint32_t)l->n);
	for (size_t i = 0; i < l->n; i++) {
		rec_put_u64(b, l->v[i].id);
		put_u32(b, l->v[i].flags.bits);
		put_str(b, kw_or_null(l->v[i].flags.kw));
	}
}

const char *
rec_log_decode(const void *buf, size_t len, struct flag_log *l)
{
	struct rd r = { buf, len, NULL };
	uint32_t n;

	if (!rd_header(&r, 'g') || !rd_u32(&r, &n))
		return r.why;
	for (uint32_t i = 0; i < n; i++) {
		struct flag_entry fe = { 0 };

		if (!rd_u64(&r, &fe.id) || !rd_bits(&r, &fe.flags) ||
		    !rd_kw(&r, &fe.flags)) {
			flags_free(&fe.flags);
			return r.why;
		}
		if (fe.id == 0 || (l->n > 0 && fe.id <= l->v[l->n - 1].id)) {
			flags_free(&fe.flags);
			return "pair ids out of order";
		}
		xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = fe;
	}
	return rd_end(&r) ? NULL : r.why;
}

/* Index of the first entry with an id >= id. */
static size_t
log_lower(const struct flag_log *l, uint64_t id)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct flags *
flag_log_find(const struct flag_log *l, uint64_t id)
{
	size_t i;

	if (l == NULL)
		return NULL;
	i = log_lower(l, id);
	return i < l->n && l->v[i].id == id ? &l->v[i].flags : NULL;
}

void
flag_log_set(struct flag_log *l, uint64_t id, const struct flags *f)
{
	size_t i = log_lower(l, id);

	if (i < l->n && l->v[i].id == id) {
		flags_free(&l->v[i].flags);
	} else {
		xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
		memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(*l->v));
		l->n++;
		l->v[i].id = id;
	}
	l->v[i].flags.kw = NULL;
	flags_copy(&l->v[i].flags, f);
	l->dirty = true;
}

void
flag_log_drop(struct flag_log *l, uint64_t id)
{
	size_t i = log_lower(l, id);

	if (i >= l->n || l->v[i].id != id)
		return;
	flags_free(&l->v[i].flags);
	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
	l->n--;
	l->dirty = true;
}
