/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Sync state, copy journal and channel lock in a Tokyo Cabinet B+ tree. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tcutil.h>
#include <tcbdb.h>

#include "state.h"

/*
 * Key layout.  A B+ tree keeps keys in memcmp order, so all records of one
 * folder are one range scan; the NUL after the folder name keeps "A" from
 * scanning into "A/B" or "AB".  Ids are fixed-width hex so that they sort
 * numerically.
 *
 *   "v"                     format version, the text "1"
 *   "N"                     next id, 8 bytes big-endian (pairs and intents)
 *   "F" folder              folder record
 *   "P" folder NUL %016x    pair record
 *   "I" folder NUL %016x    intent record
 *   "G" folder              flag log (see "The flag log" below)
 *
 * Records start with a type byte ('f', 'p', 'i') and a record version (1).
 * Integers are big-endian; a string is a byte 0 (NULL) or a byte 1, a
 * 32-bit length and that many bytes without NUL.  The whole value must be
 * consumed.
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
#define STATE_FORMAT "1"
#define REC_VERSION 1
/* Far beyond any real name or keyword list; keeps sizes inside an int. */
#define STR_MAX (16u << 20)

/*
 * Tokyo Cabinet as Debian builds it (1.4.48) calls sched_yield(2) in its
 * record and cursor functions even when no mutex was asked for: about two
 * per pair loaded, 75,000 for a 20,000-message folder.  On a busy machine
 * each one hands the CPU to another process for a time slice (a no-change
 * run measured 0.21 s instead of 0.15 s under load).  mailsync has one
 * thread and nothing to yield to, so the executable's own definition, which
 * the dynamic linker binds Tokyo Cabinet's calls to, does nothing.
 */
int
sched_yield(void)
{
	return 0;
}

struct flag_log;

struct state {
	char *dir;
	char *path;		/* dir/state.tcb */
	char *wal;		/* its write-ahead log, dir/state.tcb.wal */
	TCBDB *db;		/* NULL: read-only view, no database */
	int lockfd;		/* -1: read-only without a lock file */
	bool readonly;
	bool in_tran;
	bool broken;		/* a commit failed: the cache is not trusted */
	char broken_why[sizeof(((struct err *)0)->msg)];
	size_t tran_bytes;	/* keys and values put in this transaction */
	struct flag_log *log;	/* one folder's, as this transaction has it */
	unsigned long commits;
	unsigned long crash_after;	/* MAILSYNC_CRASH_AFTER, 0 if unset */
};

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

static void
put_u64(struct buf *b, uint64_t v)
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

static bool
str_ok(const char *s)
{
	return s == NULL || strlen(s) <= STR_MAX;
}

static void
folder_encode(struct buf *b, const struct state_folder *f)
{
	put_u8(b, 'f');
	put_u8(b, REC_VERSION);
	put_u32(b, f->uidvalidity);
	put_u32(b, f->uidnext);
	put_u64(b, f->highestmodseq);
	put_u32(b, f->exists);
	put_u64(b, (uint64_t)f->local_mtime[0]);
	put_u64(b, (uint64_t)f->local_mtime[1]);
	put_u32(b, f->local_change);
	put_u32(b, f->remote_unpaired);
}

static void
pair_encode(struct buf *b, const struct state_pair *p)
{
	put_u8(b, 'p');
	put_u8(b, REC_VERSION);
	put_u64(b, p->id);
	put_u32(b, p->uid);
	put_u32(b, p->flags.bits);
	put_u64(b, p->size);
	put_str(b, p->name);
	put_str(b, kw_or_null(p->flags.kw));
	put_str(b, p->msgid);
}

static void
intent_encode(struct buf *b, const struct state_intent *i)
{
	put_u8(b, 'i');
	put_u8(b, REC_VERSION);
	put_u64(b, i->id);
	put_u8(b, (unsigned)i->kind);
	put_u32(b, i->uid);
	put_u64(b, i->size);
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

static const char *
folder_decode(const void *buf, size_t len, struct state_folder *out)
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

static const char *
pair_decode(const void *buf, size_t len, struct state_pair *out)
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

static const char *
intent_decode(const void *buf, size_t len, struct state_intent *out)
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

int
state_decode_folder(const void *buf, size_t len, struct state_folder *out,
    struct err *e)
{
	const char *why = folder_decode(buf, len, out);

	if (why != NULL)
		return err_set(e, ERR_FAIL, "corrupt record: %s", why);
	return 0;
}

int
state_decode_pair(const void *buf, size_t len, struct state_pair *out,
    struct err *e)
{
	const char *why = pair_decode(buf, len, out);

	if (why != NULL)
		return err_set(e, ERR_FAIL, "corrupt record: %s", why);
	return 0;
}

int
state_decode_intent(const void *buf, size_t len, struct state_intent *out,
    struct err *e)
{
	const char *why = intent_decode(buf, len, out);

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

/* Keys and database helpers. */

static int
db_err(struct state *s, const char *op, struct err *e)
{
	int saved = errno, ecode = tcbdbecode(s->db);

	/* TCEOPEN..TCERMDIR come from a failed system call: give its errno,
	 * so a full disk reads "No space left on device", not "write error" */
	if (ecode >= TCEOPEN && ecode <= TCERMDIR && saved != 0)
		return err_set(e, ERR_FAIL, "%s(%s) failed: %s: %s", op,
		    s->path, tcbdberrmsg(ecode), strerror(saved));
	return err_set(e, ERR_FAIL, "%s(%s) failed: %s", op, s->path,
	    tcbdberrmsg(ecode));
}

static int
corrupt(struct state *s, const char *folder, const char *what, uint64_t id,
    const char *why, struct err *e)
{
	if (folder == NULL)
		return err_set(e, ERR_FAIL, "state %s: corrupt record %s: %s",
		    s->dir, what, why);
	if (id == 0)
		return err_set(e, ERR_FAIL,
		    "state %s: corrupt record (folder %s, %s): %s", s->dir,
		    folder, what, why);
	return err_set(e, ERR_FAIL,
	    "state %s: corrupt record (folder %s, %s %" PRIu64 "): %s", s->dir,
	    folder, what, id, why);
}

static int
folder_ok(const char *folder, struct err *e)
{
	if (folder == NULL || strlen(folder) > 65536)
		return err_set(e, ERR_FAIL, "state: invalid folder name");
	return 0;
}

static void
key_folder(struct buf *k, char type, const char *folder)
{
	buf_reset(k);
	buf_addc(k, type);
	buf_adds(k, folder);
}

static void
key_prefix(struct buf *k, char type, const char *folder)
{
	key_folder(k, type, folder);
	buf_addc(k, '\0');
}

static void
key_item(struct buf *k, char type, const char *folder, uint64_t id)
{
	char hex[17];

	key_prefix(k, type, folder);
	snprintf(hex, sizeof(hex), "%016" PRIx64, id);
	buf_add(k, hex, 16);
}

/* The id from the tail of an item key, or 0 if it is not 16 hex digits. */
static uint64_t
key_id(const char *p, size_t n)
{
	uint64_t id = 0;

	if (n != 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return 0;
		id = id << 4 | (uint64_t)d;
	}
	return id;
}

static int
db_put(struct state *s, const struct buf *k, const struct buf *v,
    struct err *e)
{
	if (!tcbdbput(s->db, k->data, (int)k->len, v->data, (int)v->len))
		return db_err(s, "tcbdbput", e);
	s->tran_bytes += k->len + v->len;
	return 0;
}

/* Delete one key; a missing one is not an error (idempotent replays). */
static int
db_out(struct state *s, const struct buf *k, struct err *e)
{
	if (!tcbdbout(s->db, k->data, (int)k->len) &&
	    tcbdbecode(s->db) != TCENOREC)
		return db_err(s, "tcbdbout", e);
	return 0;
}

/* The value of key k into *val (the caller frees it with tcfree): 1, or 0
 * when there is none. */
static int
db_get(struct state *s, const struct buf *k, void **val, int *len,
    struct err *e)
{
	*val = tcbdbget(s->db, k->data, (int)k->len, len);
	if (*val != NULL)
		return 1;
	return tcbdbecode(s->db) == TCENOREC ? 0 : db_err(s, "tcbdbget", e);
}

/*
 * After a failed commit, Tokyo Cabinet's page cache may still hold pages of
 * the rolled-back transaction; reading or writing through it again could
 * show or store changes that never happened, so the run stops using it.
 */
static int
usable(struct state *s, struct err *e)
{
	if (s->broken)
		return err_set(e, ERR_FAIL, "not used again after a failed "
		    "commit: %s", s->broken_why);
	return 0;
}

static int
writable(struct state *s, struct err *e)
{
	if (!s->in_tran)
		return err_set(e, ERR_FAIL,
		    "state: write outside a transaction");
	return 0;
}

static int
counter_get(struct state *s, uint64_t *out, struct err *e)
{
	const unsigned char *p;
	int len;

	p = tcbdbget3(s->db, "N", 1, &len);
	if (p == NULL) {
		if (tcbdbecode(s->db) != TCENOREC)
			return db_err(s, "tcbdbget", e);
		*out = 1;
		return 0;
	}
	if (len != 8)
		return corrupt(s, NULL, "N", 0, "bad length", e);
	*out = 0;
	for (int i = 0; i < 8; i++)
		*out = *out << 8 | p[i];
	return 0;
}

static int
counter_set(struct state *s, uint64_t next, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	int rc;

	buf_addc(&k, 'N');
	put_u64(&v, next);
	rc = db_put(s, &k, &v, e);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/*
 * A new id when *id is 0; otherwise keep the counter past *id so that an
 * explicitly given id is never handed out again.
 */
static int
claim_id(struct state *s, uint64_t *id, struct err *e)
{
	uint64_t next = 0;

	if (counter_get(s, &next, e) < 0)
		return -1;
	if (*id == 0) {
		if (next == 0 || next == UINT64_MAX)
			return err_set(e, ERR_FAIL, "state %s: ids exhausted",
			    s->dir);
		*id = next;
	} else if (*id < next) {
		return 0;
	} else if (*id == UINT64_MAX) {
		return err_set(e, ERR_FAIL, "state %s: ids exhausted", s->dir);
	}
	return counter_set(s, *id + 1, e);
}

/*
 * The flag log.  Tokyo Cabinet rewrites a changed leaf of the tree whole
 * (up to 2048 pairs), with an fsync of its write-ahead log for each: 100
 * flags changed across a 100,000-message folder rewrote about 50 leaves,
 * with 201 fsyncs and 34 MB written.  So a change of a pair's flags alone
 * goes into one record per folder instead, whose entries override the
 * flags of their pairs wherever pairs are read.  Writing a pair whole or
 * deleting it drops its entry; past FLAG_LOG_MAX entries the log is folded
 * into the pairs, in the same transaction.
 */
#define FLAG_LOG_MAX 4096

struct flag_entry {
	uint64_t id;
	struct flags flags;
};

struct flag_log {
	char *folder;
	struct flag_entry *v;	/* ids ascending */
	size_t n, cap;
	bool dirty;		/* differs from its record */
};

static void
log_free(struct flag_log *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		flags_free(&l->v[i].flags);
	free(l->v);
	free(l->folder);
	free(l);
}

static void
log_encode(struct buf *b, const struct flag_log *l)
{
	put_u8(b, 'g');
	put_u8(b, REC_VERSION);
	put_u32(b, (uint32_t)l->n);
	for (size_t i = 0; i < l->n; i++) {
		put_u64(b, l->v[i].id);
		put_u32(b, l->v[i].flags.bits);
		put_str(b, kw_or_null(l->v[i].flags.kw));
	}
}

static const char *
log_decode(const void *buf, size_t len, struct flag_log *l)
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

static const struct flags *
log_find(const struct flag_log *l, uint64_t id)
{
	size_t i;

	if (l == NULL)
		return NULL;
	i = log_lower(l, id);
	return i < l->n && l->v[i].id == id ? &l->v[i].flags : NULL;
}

static void
log_set(struct flag_log *l, uint64_t id, const struct flags *f)
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

static void
log_drop(struct flag_log *l, uint64_t id)
{
	size_t i = log_lower(l, id);

	if (i >= l->n || l->v[i].id != id)
		return;
	flags_free(&l->v[i].flags);
	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
	l->n--;
	l->dirty = true;
}

/* A folder's flag log as stored (empty when it has none) into *out,
 * which the caller frees in any case. */
static int
log_read(struct state *s, const char *folder, struct flag_log **out,
    struct err *e)
{
	struct flag_log *l = xcalloc(1, sizeof(*l));
	struct buf k = { 0 };
	const char *why;
	void *val;
	int len, rc;

	l->folder = xstrdup(folder);
	*out = l;
	if (s->db == NULL)
		return 0;
	key_folder(&k, 'G', folder);
	rc = db_get(s, &k, &val, &len, e);
	buf_free(&k);
	if (rc <= 0)
		return rc;
	why = log_decode(val, (size_t)len, l);
	tcfree(val);
	return why == NULL ? 0 : corrupt(s, folder, "flag log", 0, why, e);
}

/* A pair record by id, decoded; *found false when there is none. */
static int
pair_get(struct state *s, const char *folder, uint64_t id,
    struct state_pair *p, bool *found, struct err *e)
{
	struct buf k = { 0 };
	const char *why;
	void *val;
	int len, rc;

	*found = false;
	key_item(&k, 'P', folder, id);
	rc = db_get(s, &k, &val, &len, e);
	buf_free(&k);
	if (rc <= 0)
		return rc;
	why = pair_decode(val, (size_t)len, p);
	tcfree(val);
	if (why != NULL)
		return corrupt(s, folder, "pair", id, why, e);
	*found = true;
	return 0;
}

/* Write each logged pair whole with its flags, and empty the log. */
static int
log_fold(struct state *s, struct flag_log *l, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	struct state_pair p;
	bool found;
	int rc = 0;

	for (size_t i = 0; i < l->n && rc == 0; i++) {
		rc = pair_get(s, l->folder, l->v[i].id, &p, &found, e);
		if (rc < 0 || !found)
			continue;	/* none: its deletion dropped it */
		flags_free(&p.flags);
		p.flags = l->v[i].flags;
		memset(&l->v[i].flags, 0, sizeof(l->v[i].flags));
		key_item(&k, 'P', l->folder, p.id);
		buf_reset(&v);
		pair_encode(&v, &p);
		rc = db_put(s, &k, &v, e);
		state_pair_free(&p);
	}
	buf_free(&k);
	buf_free(&v);
	for (size_t i = 0; i < l->n; i++)
		flags_free(&l->v[i].flags);
	l->n = 0;
	return rc;
}

/* Write the transaction's log to its record (none when it is empty). */
static int
log_store(struct state *s, struct err *e)
{
	struct flag_log *l = s->log;
	struct buf k = { 0 }, v = { 0 };
	int rc;

	if (l == NULL || !l->dirty)
		return 0;
	if (l->n > FLAG_LOG_MAX && log_fold(s, l, e) < 0)
		return -1;
	key_folder(&k, 'G', l->folder);
	if (l->n == 0) {
		rc = db_out(s, &k, e);
	} else {
		log_encode(&v, l);
		rc = db_put(s, &k, &v, e);
	}
	buf_free(&k);
	buf_free(&v);
	if (rc == 0)
		l->dirty = false;
	return rc;
}

/* The log of folder, to change within the transaction. */
static struct flag_log *
log_for(struct state *s, const char *folder, struct err *e)
{
	struct flag_log *l;

	if (s->log != NULL && strcmp(s->log->folder, folder) == 0)
		return s->log;
	if (log_store(s, e) < 0)
		return NULL;
	log_free(s->log);
	s->log = NULL;
	if (log_read(s, folder, &l, e) < 0) {
		log_free(l);
		return NULL;
	}
	s->log = l;
	return l;
}

/* The log of folder to read pairs with: the transaction's, or *tmp read
 * from the database (the caller frees *tmp). */
static int
log_get(struct state *s, const char *folder, const struct flag_log **out,
    struct flag_log **tmp, struct err *e)
{
	*tmp = NULL;
	if (s->log != NULL && strcmp(s->log->folder, folder) == 0) {
		*out = s->log;
		return 0;
	}
	if (log_read(s, folder, tmp, e) < 0)
		return -1;
	*out = *tmp;
	return 0;
}

/* Open, lock and close. */

static int
state_dir_make(const char *dir, struct err *e)
{
	struct stat st;

	if (*dir == '\0')
		return err_set(e, ERR_FAIL, "state directory name is empty");
	if (mkdir_p(dir, e) < 0)
		return -1;
	if (stat(dir, &st) < 0)
		return err_sys(e, ERR_FAIL, "stat(%s) failed", dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_FAIL,
		    "state directory %s is not a directory", dir);
	return 0;
}

static int
lock_held(int fd, const char *channel, struct err *e)
{
	char buf[64], when[32];
	long long since;
	struct tm tm;
	ssize_t n;
	time_t t;
	long pid;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		/*
		 * A stale record (left by a holder that died, the lock now
		 * held by a read-only run that writes none) names nobody.
		 */
		if (sscanf(buf, "%ld %lld", &pid, &since) == 2 && pid > 0 &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
			t = (time_t)since;
			if (localtime_r(&t, &tm) != NULL &&
			    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			    &tm) > 0)
				return err_set(e, ERR_TEMP, "channel %s is "
				    "locked by pid %ld (since %s)", channel,
				    pid, when);
		}
	}
	return err_set(e, ERR_TEMP, "channel %s is locked by another process",
	    channel);
}

static int
lock_take(struct state *s, const char *channel, struct err *e)
{
	char *path = xasprintf("%s/lock", s->dir);
	int flags = s->readonly ? O_RDONLY : O_RDWR | O_CREAT;
	char line[64];
	int fd, n;

	fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* Read-only runs create nothing; no lock file, no holder. */
		if (s->readonly && errno == ENOENT) {
			free(path);
			return 0;
		}
		err_sys(e, ERR_FAIL, "open(%s) failed", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			lock_held(fd, channel, e);
		else
			err_sys(e, ERR_FAIL, "flock(%s) failed", path);
		close(fd);
		free(path);
		return -1;
	}
	if (!s->readonly) {
		n = snprintf(line, sizeof(line), "%ld %lld\n", (long)getpid(),
		    (long long)time(NULL));
		if (ftruncate(fd, 0) < 0 ||
		    pwrite(fd, line, (size_t)n, 0) != n) {
			err_sys(e, ERR_FAIL, "write(%s) failed", path);
			close(fd);
			free(path);
			return -1;
		}
	}
	s->lockfd = fd;
	free(path);
	return 0;
}

/*
 * Tokyo Cabinet creates its files with mode 0644 (less the umask); creating
 * them first makes them 0600.  The write-ahead log is opened without O_TRUNC
 * so that a log left by a crash is still there for recovery.
 */
static int
precreate(const char *path, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_sys(e, ERR_FAIL, "open(%s) failed", path);
	close(fd);
	return 0;
}

static int
check_version(struct state *s, struct err *e)
{
	char shown[16];
	char *v;
	int len;
	bool ok;

	v = tcbdbget(s->db, "v", 1, &len);
	if (v == NULL) {
		if (tcbdbecode(s->db) != TCENOREC)
			return db_err(s, "tcbdbget", e);
		if (tcbdbrnum(s->db) != 0)
			return err_set(e, ERR_FAIL,
			    "%s: no format version record: not a mailsync "
			    "state", s->path);
		if (s->readonly)
			return 0;
		if (!tcbdbtranbegin(s->db))
			return db_err(s, "tcbdbtranbegin", e);
		if (!tcbdbput(s->db, "v", 1, STATE_FORMAT, 1) ||
		    !tcbdbtrancommit(s->db)) {
			db_err(s, "tcbdbput", e);
			tcbdbtranabort(s->db);
			return -1;
		}
		return 0;
	}
	ok = len == 1 && memcmp(v, STATE_FORMAT, 1) == 0;
	if (!ok) {
		snprintf(shown, sizeof(shown), "(unreadable)");
		if (len > 0 && (size_t)len < sizeof(shown) &&
		    strspn(v, "0123456789") == (size_t)len)
			snprintf(shown, sizeof(shown), "%s", v);
		err_set(e, ERR_FAIL, "%s: unknown state format version %s",
		    s->path, shown);
	}
	tcfree(v);
	return ok ? 0 : -1;
}

static int
db_open(struct state *s, struct err *e)
{
	struct stat st;
	int omode;

	if (s->readonly) {
		if (stat(s->path, &st) < 0) {
			if (errno == ENOENT)
				return 0;
			return err_sys(e, ERR_FAIL, "stat(%s) failed", s->path);
		}
		if (st.st_size == 0)
			return 0;
		omode = BDBOREADER;
	} else {
		if (precreate(s->path, e) < 0 || precreate(s->wal, e) < 0)
			return -1;
		/* BDBOTSYNC: a commit reaches the disk before it returns, so
		 * an intent is durable before its copy starts and a pair
		 * before the next step relies on it (power loss included) */
		omode = BDBOWRITER | BDBOCREAT | BDBOTSYNC;
	}
	s->db = tcbdbnew();
	/*
	 * Leaves of up to 256 KiB and 2048 records instead of 16 KiB and
	 * 128: a commit rewrites every leaf it touched, and Tokyo Cabinet
	 * logs the old bytes of each region it overwrites with an fsync, so
	 * 200 flag changes scattered over 20,000 pairs cost 418 fsyncs with
	 * small leaves and 142 with these.  16 cached leaves hold at most
	 * 4 MiB: with 64, a first pull of a 100,000-message folder peaked at
	 * 59 MiB instead of 47, as fast.  The record limit is kept in the
	 * file: a state made by an earlier version keeps its 128.
	 */
	tcbdbtune(s->db, 2048, 0, 0, -1, -1, 0);
	tcbdbsetlsmax(s->db, 256u << 10);
	tcbdbsetcache(s->db, 16, 0);
	/* Our flock already excludes other runs; never hang on someone
	 * else's lock (a database tool holding the file). */
	if (!tcbdbopen(s->db, s->path, omode | BDBOLCKNB)) {
		db_err(s, "tcbdbopen", e);
		tcbdbdel(s->db);
		s->db = NULL;
		return -1;
	}
	return check_version(s, e);
}

int
state_open(const char *dir, const char *channel, bool readonly,
    struct state **out, struct err *e)
{
	struct state *s;
	struct stat st;
	const char *crash;

	*out = NULL;
	s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(dir);
	s->path = xasprintf("%s/state.tcb", dir);
	s->wal = xasprintf("%s.wal", s->path);
	s->lockfd = -1;
	s->readonly = readonly;
	crash = getenv("MAILSYNC_CRASH_AFTER");
	if (crash != NULL) {
		char *end;
		long n;

		errno = 0;
		n = strtol(crash, &end, 10);
		if (errno == 0 && end != crash && *end == '\0' && n > 0)
			s->crash_after = (unsigned long)n;
	}
	if (readonly) {
		if (stat(dir, &st) < 0) {
			if (errno == ENOENT) {
				*out = s;
				return 0;
			}
			err_sys(e, ERR_FAIL, "stat(%s) failed", dir);
			goto fail;
		}
	} else if (state_dir_make(dir, e) < 0) {
		goto fail;
	}
	if (lock_take(s, channel, e) < 0 || db_open(s, e) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	state_close(&s);
	return -1;
}

void
state_close(struct state **sp)
{
	struct state *s = *sp;

	if (s == NULL)
		return;
	if (s->db != NULL) {
		if (s->in_tran)
			tcbdbtranabort(s->db);
		tcbdbclose(s->db);
		tcbdbdel(s->db);
	}
	if (s->lockfd >= 0) {
		flock(s->lockfd, LOCK_UN);
		close(s->lockfd);
	}
	log_free(s->log);
	free(s->dir);
	free(s->path);
	free(s->wal);
	free(s);
	*sp = NULL;
}

/* Reading. */

/*
 * Visit every record whose key starts with prefix.  fn gets the rest of the
 * key after the prefix and the value.
 */
typedef int (*scan_fn)(struct state *s, const char *rest, size_t restlen,
    const void *val, size_t vallen, void *arg, struct err *e);

/*
 * Tokyo Cabinet keeps every leaf a cursor passes in its cache, beyond the
 * limit set with tcbdbsetcache, until some later call trims it: a scan of
 * a 100,000-pair folder held its 49 leaves, 8 MB.  So outside a
 * transaction (where nothing is dirty) the cache is cleared every
 * SCAN_CLEAR records; a cursor keeps only the id of its leaf and loads it
 * again.
 */
#define SCAN_CLEAR 4096

static int
scan(struct state *s, const struct buf *prefix, scan_fn fn, void *arg,
    struct err *e)
{
	TCXSTR *k, *v;
	BDBCUR *c;
	size_t n = 0;
	int rc = 0;

	c = tcbdbcurnew(s->db);
	k = tcxstrnew();
	v = tcxstrnew();
	if (!tcbdbcurjump(c, prefix->data, (int)prefix->len)) {
		if (tcbdbecode(s->db) != TCENOREC)
			rc = db_err(s, "tcbdbcurjump", e);
		goto out;
	}
	for (;;) {
		const char *kp;
		size_t klen;

		if (!tcbdbcurrec(c, k, v)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurrec", e);
			break;
		}
		kp = tcxstrptr(k);
		klen = (size_t)tcxstrsize(k);
		if (klen < prefix->len ||
		    memcmp(kp, prefix->data, prefix->len) != 0)
			break;
		if (fn(s, kp + prefix->len, klen - prefix->len, tcxstrptr(v),
		    (size_t)tcxstrsize(v), arg, e) < 0) {
			rc = -1;
			break;
		}
		if (++n % SCAN_CLEAR == 0 && !s->in_tran &&
		    !tcbdbcacheclear(s->db)) {
			rc = db_err(s, "tcbdbcacheclear", e);
			break;
		}
		if (!tcbdbcurnext(c)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurnext", e);
			break;
		}
	}
out:
	tcxstrdel(k);
	tcxstrdel(v);
	tcbdbcurdel(c);
	return rc;
}

/* Add to out the distinct folder names of the keys starting with type. */
static int
folders_of(struct state *s, char type, struct strv *out, struct err *e)
{
	struct buf jump = { 0 };
	TCXSTR *k, *v;
	BDBCUR *c;
	int rc = 0;

	c = tcbdbcurnew(s->db);
	k = tcxstrnew();
	v = tcxstrnew();
	buf_addc(&jump, type);
	for (;;) {
		const char *kp, *nul;
		size_t klen, flen;

		if (!tcbdbcurjump(c, jump.data, (int)jump.len) ||
		    !tcbdbcurrec(c, k, v)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurjump", e);
			break;
		}
		kp = tcxstrptr(k);
		klen = (size_t)tcxstrsize(k);
		if (klen < 1 || kp[0] != type)
			break;
		nul = memchr(kp + 1, '\0', klen - 1);
		if (type == 'F') {
			if (nul != NULL) {
				rc = corrupt(s, NULL, "key", 0,
				    "NUL in a folder key", e);
				break;
			}
			flen = klen - 1;
		} else {
			if (nul == NULL) {
				rc = corrupt(s, NULL, "key", 0,
				    "item key without folder end", e);
				break;
			}
			flen = (size_t)(nul - (kp + 1));
		}
		strv_add_owned(out, xstrndup(kp + 1, flen));
		/*
		 * Skip the rest of this folder: the first key after "F" name
		 * is "F" name NUL, and "P" name \1 sorts after every
		 * "P" name NUL id.
		 */
		buf_reset(&jump);
		buf_addc(&jump, type);
		buf_add(&jump, kp + 1, flen);
		buf_addc(&jump, type == 'F' ? '\0' : '\1');
	}
	buf_free(&jump);
	tcxstrdel(k);
	tcxstrdel(v);
	tcbdbcurdel(c);
	return rc;
}

int
state_folders(struct state *s, struct strv *out, struct err *e)
{
	struct strv all = { 0 };
	int rc = 0;

	if (s->db == NULL)
		return 0;
	if (usable(s, e) < 0)
		return -1;
	if (folders_of(s, 'F', &all, e) < 0 ||
	    folders_of(s, 'P', &all, e) < 0 ||
	    folders_of(s, 'I', &all, e) < 0) {
		rc = -1;
	} else {
		strv_sort(&all);
		for (size_t i = 0; i < all.n; i++) {
			if (i > 0 && strcmp(all.v[i], all.v[i - 1]) == 0)
				continue;
			strv_add(out, all.v[i]);
		}
	}
	strv_free(&all);
	return rc;
}

int
state_folder_get(struct state *s, const char *folder, struct state_folder *out,
    bool *found, struct err *e)
{
	struct buf k = { 0 };
	const char *why;
	void *v;
	int len, rc = 0;

	memset(out, 0, sizeof(*out));
	*found = false;
	if (folder_ok(folder, e) < 0 || usable(s, e) < 0)
		return -1;
	if (s->db == NULL)
		return 0;
	key_folder(&k, 'F', folder);
	rc = db_get(s, &k, &v, &len, e);
	buf_free(&k);
	if (rc <= 0)
		return rc;
	rc = 0;
	why = folder_decode(v, (size_t)len, out);
	if (why != NULL)
		rc = corrupt(s, folder, "folder", 0, why, e);
	else
		*found = true;
	tcfree(v);
	return rc;
}

struct load_arg {
	const char *folder;
	void *list;
	const struct flag_log *log;	/* pairs only */
};

static int
load_pair(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	struct load_arg *a = arg;
	struct state_pairs *l = a->list;
	uint64_t id = key_id(rest, restlen);
	const struct flags *logged;
	struct state_pair p;
	const char *why;

	if (id == 0)
		return corrupt(s, a->folder, "pair key", 0, "bad id", e);
	why = pair_decode(val, vallen, &p);
	if (why != NULL)
		return corrupt(s, a->folder, "pair", id, why, e);
	if (p.id != id) {
		state_pair_free(&p);
		return corrupt(s, a->folder, "pair", id, "id differs from key",
		    e);
	}
	if ((logged = log_find(a->log, id)) != NULL) {
		flags_free(&p.flags);
		flags_copy(&p.flags, logged);
	}
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = p;
	return 0;
}

static int
load_intent(struct state *s, const char *rest, size_t restlen,
    const void *val, size_t vallen, void *arg, struct err *e)
{
	struct load_arg *a = arg;
	struct state_intents *l = a->list;
	uint64_t id = key_id(rest, restlen);
	struct state_intent in;
	const char *why;

	if (id == 0)
		return corrupt(s, a->folder, "intent key", 0, "bad id", e);
	why = intent_decode(val, vallen, &in);
	if (why != NULL)
		return corrupt(s, a->folder, "intent", id, why, e);
	if (in.id != id) {
		state_intent_free(&in);
		return corrupt(s, a->folder, "intent", id,
		    "id differs from key", e);
	}
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = in;
	return 0;
}

/* scan_fn for state_has_pairs: the first record answers, so stop there. */
static int
found_one(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	(void)s, (void)rest, (void)restlen, (void)val, (void)vallen, (void)e;
	*(bool *)arg = true;
	return -1;
}

/* scan over a folder's records of one type ('P', 'I'); none before the
 * database exists. */
static int
scan_folder(struct state *s, char type, const char *folder, scan_fn fn,
    void *arg, struct err *e)
{
	struct buf k = { 0 };
	int rc;

	if (folder_ok(folder, e) < 0 || usable(s, e) < 0)
		return -1;
	if (s->db == NULL)
		return 0;
	key_prefix(&k, type, folder);
	rc = scan(s, &k, fn, arg, e);
	buf_free(&k);
	return rc;
}

int
state_has_pairs(struct state *s, const char *folder, bool *out,
    struct err *e)
{
	*out = false;
	/* found_one stops the scan at the first pair: not a failure */
	if (scan_folder(s, 'P', folder, found_one, out, e) < 0 && !*out)
		return -1;
	return 0;
}

int
state_pairs_load(struct state *s, const char *folder, struct state_pairs *out,
    struct err *e)
{
	struct load_arg a = { folder, out, NULL };
	struct flag_log *tmp = NULL;
	int rc;

	if (folder_ok(folder, e) < 0 || usable(s, e) < 0 ||
	    log_get(s, folder, &a.log, &tmp, e) < 0) {
		log_free(tmp);
		return -1;
	}
	rc = scan_folder(s, 'P', folder, load_pair, &a, e);
	log_free(tmp);
	if (out->v != NULL)
		xfit(&out->v, &out->cap, out->n, sizeof(*out->v));
	return rc;
}

struct uid_arg {
	const char *folder;
	uint32_t **v;
	size_t *n, cap;
};

/* scan_fn for state_pair_uids: the UID of each pair, nothing else kept. */
static int
load_uid(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	struct uid_arg *a = arg;
	struct state_pair p;
	const char *why = pair_decode(val, vallen, &p);

	if (why != NULL)
		return corrupt(s, a->folder, "pair", key_id(rest, restlen), why,
		    e);
	if (p.uid != 0) {
		xgrow(a->v, &a->cap, *a->n + 1, sizeof(**a->v));
		(*a->v)[(*a->n)++] = p.uid;
	}
	state_pair_free(&p);
	return 0;
}

int
state_pair_uids(struct state *s, const char *folder, uint32_t **out,
    size_t *n, struct err *e)
{
	struct uid_arg a = { folder, out, n, 1 };

	/* never NULL, so that an empty one can be searched */
	*out = xcalloc(1, sizeof(**out));
	*n = 0;
	if (scan_folder(s, 'P', folder, load_uid, &a, e) < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

struct some_arg {
	struct load_arg load;
	const uint32_t *uids;
	size_t n;
};

/* scan_fn for state_pairs_with_uids: only the UID is read of the others. */
static int
load_some(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	struct some_arg *a = arg;
	struct rd r = { val, vallen, NULL };
	uint64_t id;
	uint32_t uid;

	if (!rd_header(&r, 'p') || !rd_u64(&r, &id) || !rd_u32(&r, &uid))
		return corrupt(s, a->load.folder, "pair",
		    key_id(rest, restlen), r.why, e);
	if (uid == 0 || bsearch(&uid, a->uids, a->n, sizeof(*a->uids),
	    u32_cmp) == NULL)
		return 0;
	return load_pair(s, rest, restlen, val, vallen, &a->load, e);
}

int
state_pairs_with_uids(struct state *s, const char *folder,
    const uint32_t *uids, size_t n, struct state_pairs *out, struct err *e)
{
	struct some_arg a = { { folder, out, NULL }, uids, n };
	struct flag_log *tmp = NULL;
	int rc;

	if (n == 0)
		return 0;
	if (folder_ok(folder, e) < 0 || usable(s, e) < 0 ||
	    log_get(s, folder, &a.load.log, &tmp, e) < 0) {
		log_free(tmp);
		return -1;
	}
	rc = scan_folder(s, 'P', folder, load_some, &a, e);
	log_free(tmp);
	return rc;
}

int
state_intents_load(struct state *s, const char *folder,
    struct state_intents *out, struct err *e)
{
	struct load_arg a = { folder, out, NULL };

	return scan_folder(s, 'I', folder, load_intent, &a, e);
}

/* Writing. */

/*
 * Tokyo Cabinet 1.4 does not survive a full disk inside a commit: a write
 * that fails half-way can leave a record pointing past the end of the file,
 * and the state is unreadable from then on.  So the room a commit may need
 * is reserved beyond the end of the database and of its write-ahead log
 * (fallocate(2), FALLOC_FL_KEEP_SIZE) before it starts, and a commit that
 * cannot have it is aborted cleanly: a margin, plus four times what the
 * transaction put, as whole leaves are rewritten and logged.
 */
#define STATE_RESERVE_MIN (2u << 20)

static int
reserve(struct state *s, struct err *e)
{
	off_t need = (off_t)STATE_RESERVE_MIN + 4 * (off_t)s->tran_bytes;
	const char *paths[2] = { s->path, s->wal };
	struct stat st;
	int fd, rc = 0;

	for (int i = 0; i < 2 && rc == 0; i++) {
		fd = open(paths[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = err_sys(e, ERR_FAIL, "open(%s) failed", paths[i]);
			break;
		}
		/* a file system without fallocate keeps the old risk */
		if (fstat(fd, &st) < 0 ||
		    (fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, need) < 0 &&
		    errno != EOPNOTSUPP && errno != ENOSYS))
			rc = err_sys(e, ERR_FAIL, "reserving %lld bytes for "
			    "the state commit: fallocate(%s) failed",
			    (long long)need, paths[i]);
		close(fd);
	}
	return rc;
}

/*
 * Tokyo Cabinet ends a commit by syncing the database and then truncating
 * the write-ahead log, and it does not sync the truncation.  Until that
 * reaches the disk, a power loss leaves the transaction's log behind with
 * the database marked open, and the next open replays the log: the commit
 * is undone.  Syncing the log makes the commit durable when state_commit
 * returns (one fsync of an empty file).
 */
static int
wal_sync(struct state *s, struct err *e)
{
	int fd, rc = 0;

	fd = open(s->wal, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, ERR_FAIL, "open(%s) failed", s->wal);
	if (fsync(fd) < 0)
		rc = err_sys(e, ERR_FAIL, "fsync(%s) failed", s->wal);
	close(fd);
	return rc;
}

static int
mark_broken(struct state *s, struct err *e)
{
	s->broken = true;
	snprintf(s->broken_why, sizeof(s->broken_why), "%s", e->msg);
	return -1;
}

int
state_begin(struct state *s, struct err *e)
{
	if (s->readonly)
		return err_set(e, ERR_FAIL, "state %s: opened read-only",
		    s->dir);
	if (s->in_tran)
		return err_set(e, ERR_FAIL, "state: transaction already open");
	if (usable(s, e) < 0)
		return -1;
	if (!tcbdbtranbegin(s->db))
		return db_err(s, "tcbdbtranbegin", e);
	s->tran_bytes = 0;
	s->in_tran = true;
	return 0;
}

int
state_commit(struct state *s, struct err *e)
{
	if (!s->in_tran)
		return err_set(e, ERR_FAIL,
		    "state: commit outside a transaction");
	s->in_tran = false;
	if (log_store(s, e) < 0 || reserve(s, e) < 0) {
		tcbdbtranabort(s->db);
		log_free(s->log);
		s->log = NULL;
		return -1;
	}
	log_free(s->log);
	s->log = NULL;
	if (!tcbdbtrancommit(s->db)) {
		db_err(s, "tcbdbtrancommit", e);
		tcbdbtranabort(s->db);
		return mark_broken(s, e);
	}
	/* committed, but not known to be durable: not relied on again */
	if (wal_sync(s, e) < 0)
		return mark_broken(s, e);
	s->commits++;
	if (s->crash_after > 0 && s->commits == s->crash_after)
		raise(SIGKILL);
	return 0;
}

void
state_abort(struct state *s)
{
	if (!s->in_tran)
		return;
	s->in_tran = false;
	log_free(s->log);
	s->log = NULL;
	tcbdbtranabort(s->db);
}

int
state_folder_put(struct state *s, const char *folder,
    const struct state_folder *f, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	key_folder(&k, 'F', folder);
	folder_encode(&v, f);
	rc = db_put(s, &k, &v, e);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Remove every record whose key starts with prefix. */
static int
drop_range(struct state *s, const struct buf *prefix, struct err *e)
{
	TCXSTR *k, *v;
	BDBCUR *c;
	int rc = 0;

	c = tcbdbcurnew(s->db);
	k = tcxstrnew();
	v = tcxstrnew();
	if (!tcbdbcurjump(c, prefix->data, (int)prefix->len)) {
		if (tcbdbecode(s->db) != TCENOREC)
			rc = db_err(s, "tcbdbcurjump", e);
		goto out;
	}
	for (;;) {
		if (!tcbdbcurrec(c, k, v)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurrec", e);
			break;
		}
		if ((size_t)tcxstrsize(k) < prefix->len ||
		    memcmp(tcxstrptr(k), prefix->data, prefix->len) != 0)
			break;
		/* Removing moves the cursor to the next record. */
		if (!tcbdbcurout(c)) {
			rc = db_err(s, "tcbdbcurout", e);
			break;
		}
	}
out:
	tcxstrdel(k);
	tcxstrdel(v);
	tcbdbcurdel(c);
	return rc;
}

int
state_folder_drop(struct state *s, const char *folder, struct err *e)
{
	struct buf k = { 0 };
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	key_folder(&k, 'F', folder);
	rc = db_out(s, &k, e);
	if (rc == 0) {
		key_prefix(&k, 'P', folder);
		rc = drop_range(s, &k, e);
	}
	if (rc == 0) {
		key_prefix(&k, 'I', folder);
		rc = drop_range(s, &k, e);
	}
	if (rc == 0) {
		key_folder(&k, 'G', folder);
		rc = db_out(s, &k, e);
	}
	if (s->log != NULL && strcmp(s->log->folder, folder) == 0) {
		log_free(s->log);
		s->log = NULL;
	}
	buf_free(&k);
	return rc;
}

/* A pair written whole or deleted: its flags are its record's again. */
static int
drop_logged(struct state *s, const char *folder, uint64_t id, struct err *e)
{
	struct flag_log *l = log_for(s, folder, e);

	if (l == NULL)
		return -1;
	log_drop(l, id);
	return 0;
}

int
state_pair_flags(struct state *s, const char *folder, uint64_t id,
    const struct flags *flags, struct err *e)
{
	struct flag_log *l;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	if (id == 0 || !str_ok(flags->kw) || (flags->bits & ~(unsigned)FLAG_ALL))
		return err_set(e, ERR_FAIL, "state: invalid flag change");
	if ((l = log_for(s, folder, e)) == NULL)
		return -1;
	log_set(l, id, flags);
	return 0;
}

int
state_pair_put(struct state *s, const char *folder, struct state_pair *p,
    struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	uint64_t id = p->id, old;
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	if (!str_ok(p->name) || !str_ok(p->flags.kw) || !str_ok(p->msgid))
		return err_set(e, ERR_FAIL, "state: pair field too long");
	if (p->flags.bits & ~(unsigned)FLAG_ALL)
		return err_set(e, ERR_FAIL, "state: unknown flag bits");
	if (claim_id(s, &id, e) < 0)
		return -1;
	key_item(&k, 'P', folder, id);
	old = p->id;
	p->id = id;
	pair_encode(&v, p);
	rc = db_put(s, &k, &v, e);
	if (rc < 0)
		p->id = old;
	else if (old != 0)
		rc = drop_logged(s, folder, id, e);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* Delete the pair ('P') or intent ('I') record id of a folder. */
static int
item_del(struct state *s, char type, const char *folder, uint64_t id,
    struct err *e)
{
	struct buf k = { 0 };
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	key_item(&k, type, folder, id);
	rc = db_out(s, &k, e);
	buf_free(&k);
	return rc;
}

int
state_pair_del(struct state *s, const char *folder, uint64_t id,
    struct err *e)
{
	if (writable(s, e) < 0 || folder_ok(folder, e) < 0 ||
	    drop_logged(s, folder, id, e) < 0)
		return -1;
	return item_del(s, 'P', folder, id, e);
}

int
state_intent_put(struct state *s, const char *folder,
    struct state_intent *i, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	uint64_t id = i->id, old;
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	if (!str_ok(i->name) || !str_ok(i->flags.kw) || !str_ok(i->msgid))
		return err_set(e, ERR_FAIL, "state: intent field too long");
	if (i->flags.bits & ~(unsigned)FLAG_ALL)
		return err_set(e, ERR_FAIL, "state: unknown flag bits");
	if (i->kind != STATE_INTENT_DOWNLOAD && i->kind != STATE_INTENT_UPLOAD)
		return err_set(e, ERR_FAIL, "state: unknown intent kind");
	if (claim_id(s, &id, e) < 0)
		return -1;
	key_item(&k, 'I', folder, id);
	old = i->id;
	i->id = id;
	intent_encode(&v, i);
	rc = db_put(s, &k, &v, e);
	if (rc < 0)
		i->id = old;
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int
state_intent_del(struct state *s, const char *folder, uint64_t id,
    struct err *e)
{
	return item_del(s, 'I', folder, id, e);
}
