/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Large pulls over several sessions: fetch_many and prefetch split a batch
 * into contiguous parts of about equal size, one per session (as many as
 * the account's `connections` leave, imap_sessions.c), and read them at
 * once, a thread for each extra session.  The engine still sees one store
 * and one stream of messages: every delivery goes through one lock, so
 * the folder's Maildir writes, journal and state stay in one thread.  An
 * extra session that cannot be had (a server at its limit answers [LIMIT]
 * or [INUSE], or refuses the connection) or that fails is given up for the
 * rest of the run, and what it did not deliver is fetched over the main
 * session.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "imap_priv.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* A part smaller than this is not worth a session of its own. */
#define PART_MIN_BYTES (1024 * 1024)
#define PART_MIN_MSGS 16
/* The most sessions an account may have (mailsync.yaml(5)). */
#define MAX_PARTS 64

/* One session's share of a batch, and what it came to. */
struct part {
	struct imap_store *conn;
	struct msg **msgs;
	size_t *idx;		/* msgs[i] is the batch's idx[i] */
	size_t n;
	struct fanout *f;
	struct err e;
	int rc;
	bool started;
	pthread_t th;
};

/* The engine's callback, and which messages of the batch it was given. */
struct fanout {
	pthread_mutex_t lock;
	struct imap_store *main;
	store_body_fn *fn;
	void *arg;
	bool *told;
};

void
imap_aux_close(struct imap_store *s)
{
	for (size_t i = 0; i < s->naux; i++) {
		struct store *st = &s->aux[i]->base;

		st->ops->close(&st);
	}
	free(s->aux);
	s->aux = NULL;
	s->naux = 0;
}

/* Give up the extra sessions for this run, saying why once. */
static void
aux_give_up(struct imap_store *s, const struct err *why)
{
	if (!s->aux_refused)
		log_msg(LOG_VERBOSE, "%s: fetching over one connection from "
		    "now on: %s", s->label, why->msg);
	s->aux_refused = true;
	imap_aux_close(s);
}

/* Sessions for parts 1 .. want-1, opened as needed; how many there are. */
static size_t
aux_open(struct imap_store *s, size_t want)
{
	while (!s->aux_refused && s->naux < want) {
		/* none left: the folders synced at once hold them */
		struct store *st = imap_sibling(&s->base);
		struct err e = { 0 };

		if (st == NULL)
			break;
		if (st->ops->open(st, false, &e) < 0) {
			st->ops->close(&st);
			aux_give_up(s, &e);
			break;
		}
		/* ENABLE QRESYNC would only cost a round trip */
		imap_of(st)->selected_once = true;
		s->aux = xrealloc(s->aux, (s->naux + 1) * sizeof(*s->aux));
		s->aux[s->naux++] = imap_of(st);
	}
	return s->naux < want ? s->naux : want;
}

/*
 * The main session's folder, opened read-only on an extra session, which
 * must find the same UIDVALIDITY (the UIDs name the same messages).
 */
static int
aux_examine(struct imap_store *a, const struct imap_store *s, struct err *e)
{
	struct mailimap_selection_info *si;
	char *wire, what[300];
	int r;

	if (a->sel_name != NULL && strcmp(a->sel_name, s->sel_name) == 0 &&
	    a->sel.uidvalidity == s->sel.uidvalidity)
		return 0;
	snprintf(what, sizeof(what), "EXAMINE %s", s->sel_name);
	if (imap_check_usable(a, what, e) < 0 ||
	    imap_prepare_select(a, s->sel_name, &wire, e) < 0)
		return -1;
	r = mailimap_examine(a->imap, wire);
	imap_io_allow_permflags(a->io, false);
	si = a->imap->imap_selection_info;
	if (r != MAILIMAP_NO_ERROR || si == NULL) {
		free(wire);
		return imap_fail(a, r, what, e);
	}
	if (si->sel_uidvalidity != s->sel.uidvalidity) {
		free(wire);
		return err_set(e, ERR_FAIL, "%s: %s: UIDVALIDITY %u, not %u as "
		    "on the main connection", a->label, what,
		    si->sel_uidvalidity, s->sel.uidvalidity);
	}
	a->sel.uidvalidity = si->sel_uidvalidity;
	a->sel_name = xstrdup(s->sel_name);
	a->sel_wire = wire;
	return 0;
}

/*
 * How many parts msgs[0..n) is worth: one per PART_MIN_BYTES and
 * PART_MIN_MSGS, at most one per session allowed and left
 * (imap_sessions.c); the extra sessions are opened and set on the main
 * one's folder here.
 */
static size_t
plan_parts(struct imap_store *s, struct msg **msgs, size_t n)
{
	uint64_t total = 0;
	size_t k;

	if (s->connections <= 1 || s->aux_refused || s->sel_name == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		total += msgs[i]->size;
	k = (size_t)(total / PART_MIN_BYTES);
	if (k > n / PART_MIN_MSGS)
		k = n / PART_MIN_MSGS;
	if (k > s->connections)
		k = s->connections;
	if (k > MAX_PARTS)
		k = MAX_PARTS;
	if (k <= 1)
		return 1;
	k = aux_open(s, k - 1) + 1;
	for (size_t j = 1; j < k; j++) {
		struct err e = { 0 };

		if (aux_examine(s->aux[j - 1], s, &e) < 0) {
			aux_give_up(s, &e);
			return 1;
		}
	}
	return k;
}

/* Where part j of k starts: parts of about equal bytes, in batch order. */
static void
split(struct msg **msgs, size_t n, size_t k, size_t *start)
{
	uint64_t total = 0, sum = 0;
	size_t j = 1;

	for (size_t i = 0; i < n; i++)
		total += msgs[i]->size + 1;
	start[0] = 0;
	for (size_t i = 0; i < n && j < k; i++) {
		sum += msgs[i]->size + 1;
		while (j < k && sum >= total * j / k) {
			start[j++] = i + 1;
		}
	}
	while (j < k)
		start[j++] = n;
	start[k] = n;
}

static struct imap_store *
part_conn(struct imap_store *s, size_t j)
{
	return j == 0 ? s : s->aux[j - 1];
}

/*
 * Some of a batch: msgs[i] is the batch's idx[i].  Messages that come in
 * pieces are fetched apart from the others, after them.
 */
struct subset {
	struct msg **msgs;
	size_t *idx;
	size_t n;
	store_body_fn *fn;
	void *arg;
};

/* The messages msgs[i] of msgs[0..n) with mark[i] == want: (*out)[k] is
 * msgs[(*idx)[k]], k < *nout. */
static void
pick(struct msg **msgs, size_t n, const bool *mark, bool want,
    struct msg ***out, size_t **idx, size_t *nout)
{
	*out = xcalloc(n + 1, sizeof(**out));
	*idx = xcalloc(n + 1, sizeof(**idx));
	*nout = 0;
	for (size_t i = 0; i < n; i++)
		if (mark[i] == want) {
			(*out)[*nout] = msgs[i];
			(*idx)[(*nout)++] = i;
		}
}

/* Which of msgs[0..n) come in pieces (the caller frees it). */
static bool *
in_pieces(struct msg **msgs, size_t n)
{
	bool *big = xcalloc(n + 1, sizeof(*big));

	for (size_t i = 0; i < n; i++)
		big[i] = msgs[i]->size >= IMAP_PIECES_FROM;
	return big;
}

static void
subset_free(struct subset *u)
{
	free(u->msgs);
	free(u->idx);
}

static int
subset_deliver(void *arg, size_t i, const char *data, size_t len, bool more,
    const struct err *why)
{
	struct subset *u = arg;

	return u->fn(u->arg, u->idx[i], data, len, more, why);
}

static int
prefetch_whole(struct imap_store *s, struct msg **msgs, size_t n,
    struct err *e)
{
	size_t k = n > 0 && n <= SET_CHUNK ? plan_parts(s, msgs, n) : 1;
	size_t start[MAX_PARTS + 1];

	if (k == 1)
		return imap_prefetch_one(s, msgs, n, e);
	split(msgs, n, k, start);
	for (size_t j = k; j-- > 1;) {
		struct err ae = { 0 };

		if (imap_prefetch_one(part_conn(s, j), msgs + start[j],
		    start[j + 1] - start[j], &ae) < 0) {
			aux_give_up(s, &ae);
			break;
		}
	}
	return imap_prefetch_one(s, msgs, start[1], e);
}

static int
part_deliver(void *arg, size_t i, const char *data, size_t len, bool more,
    const struct err *why)
{
	struct part *p = arg;
	struct fanout *f = p->f;
	int rc;

	/* what an extra session could not fetch, the main one tries */
	if (why != NULL && p->conn != f->main)
		return -1;
	pthread_mutex_lock(&f->lock);
	f->told[p->idx[i]] = true;
	rc = f->fn(f->arg, p->idx[i], data, len, more, why);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void *
part_run(void *arg)
{
	struct part *p = arg;

	p->rc = imap_fetch_many_one(p->conn, p->msgs, p->n, part_deliver, p,
	    &p->e);
	return NULL;
}


/* Fetch msgs[0..n), whole, over as many sessions as they are worth. */
static int
fetch_whole(struct imap_store *s, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e)
{
	size_t k = n > 0 && n <= SET_CHUNK ? plan_parts(s, msgs, n) : 1;
	struct fanout f = { .main = s, .fn = fn, .arg = arg };
	struct part *pv, rest = { .conn = s, .f = &f };
	size_t start[MAX_PARTS + 1], *idx;
	sigset_t all, old;
	int rc;

	if (k == 1)
		return imap_fetch_many_one(s, msgs, n, fn, arg, e);
	split(msgs, n, k, start);
	pthread_mutex_init(&f.lock, NULL);
	f.told = xcalloc(n, sizeof(*f.told));
	idx = xcalloc(n, sizeof(*idx));
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	pv = xcalloc(k, sizeof(*pv));
	/* signals stay with the main thread, as in a run of one session */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t j = 0; j < k; j++) {
		pv[j] = (struct part){ .conn = part_conn(s, j),
			.msgs = msgs + start[j], .idx = idx + start[j],
			.n = start[j + 1] - start[j], .f = &f };
		if (j > 0)
			pv[j].started = pthread_create(&pv[j].th, NULL,
			    part_run, &pv[j]) == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	part_run(&pv[0]);
	for (size_t j = 1; j < k; j++)
		if (pv[j].started)
			pthread_join(pv[j].th, NULL);
	for (size_t j = 1; j < k; j++) {
		if (!pv[j].started || pv[j].rc < 0) {
			struct err why = pv[j].e;

			if (!pv[j].started)
				err_set(&why, ERR_FAIL, "%s: no thread for "
				    "another connection", s->label);
			aux_give_up(s, &why);
			break;
		}
	}
	rc = pv[0].rc;
	if (rc < 0)
		*e = pv[0].e;
	/* what nobody was told about */
	pick(msgs, n, f.told, false, &rest.msgs, &rest.idx, &rest.n);
	if (rest.n > 0) {
		/* without threads now: the lock is only taken, not needed */
		int rrc = imap_fetch_many_one(s, rest.msgs, rest.n,
		    part_deliver, &rest, &rest.e);

		if (rrc < 0 && rc == 0) {
			rc = rrc;
			*e = rest.e;
		}
	}
	free(rest.msgs);
	free(rest.idx);
	free(pv);
	free(idx);
	free(f.told);
	pthread_mutex_destroy(&f.lock);
	return rc;
}

int
imap_prefetch(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct subset whole;
	bool *big = in_pieces(msgs, n);
	int rc;

	pick(msgs, n, big, false, &whole.msgs, &whole.idx, &whole.n);
	rc = prefetch_whole(imap_of(st), whole.msgs, whole.n, e);
	subset_free(&whole);
	free(big);
	return rc;
}

int
imap_fetch_many(struct store *st, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e)
{
	struct imap_store *s = imap_of(st);
	struct subset whole = { .fn = fn, .arg = arg }, big;
	struct err pe = { 0 };
	bool *mark = in_pieces(msgs, n);
	int rc;

	pick(msgs, n, mark, true, &big.msgs, &big.idx, &big.n);
	if (big.n == 0) {
		subset_free(&big);
		free(mark);
		return fetch_whole(s, msgs, n, fn, arg, e);
	}
	pick(msgs, n, mark, false, &whole.msgs, &whole.idx, &whole.n);
	free(mark);
	/* first the others, whose FETCH may have been sent ahead */
	rc = fetch_whole(s, whole.msgs, whole.n, subset_deliver, &whole, e);
	if (imap_fetch_pieces(s, big.msgs, big.idx, big.n, fn, arg, &pe) < 0 &&
	    rc == 0) {
		rc = -1;
		*e = pe;
	}
	subset_free(&whole);
	subset_free(&big);
	return rc;
}
