/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Executing a folder's plan against both stores, journaling every copy. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "log.h"

/*
 * Copies are journaled in batches: one transaction records the intents of a
 * batch, the copies run, one transaction records their pairs.  A crash in
 * between leaves intents that the next run resolves, so the batch size only
 * trades commits against work redone.  It also sets the round trips of a
 * pull (one UID FETCH per batch, or per 8 MiB of it): at 20 ms of round
 * trip, 20,000 messages took 18 s in batches of 64 and 11 s in batches of
 * 512.  Memory stays bounded by the fetch chunk (8 MiB of bodies that
 * libetpan holds at once), which batches of 64 seldom filled: S1's peak
 * RSS went from 27 to 37 MiB.
 */
#define COPY_BATCH 512

struct run {
	struct apply_ctx *ctx;
	const struct plan_input *in;
	const struct plan *p;
	bool *failed;		/* per group */
	bool conn_lost;		/* stop touching the server */
	struct err first;
};

static const char *const side_name[2] = { "remote", "local" };

static void
note_failure(struct run *r, const struct plan_action *a, const struct err *e)
{
	struct apply_ctx *ctx = r->ctx;

	if (a != NULL)
		r->failed[a->group] = true;
	if (e->code == ERR_TEMP)
		r->conn_lost = true;
	if (r->first.code == ERR_OK)
		r->first = *e;
	strv_add_owned(&ctx->stats->errors, xasprintf("channel %s, folder %s: %s",
	    ctx->channel, ctx->folder, e->msg));
}

static void
log_action(struct run *r, const struct plan_action *a)
{
	struct buf b = { 0 };

	if (log_level < LOG_VERBOSE)
		return;
	plan_format_action(r->in, a, &b);
	log_msg(LOG_VERBOSE, "%s %s: %s", r->ctx->channel, r->ctx->folder,
	    b.data ? b.data : "");
	buf_free(&b);
}

static struct msg *
action_msg(struct run *r, const struct plan_action *a, enum side side)
{
	return &r->ctx->msgs[side]->v[a->idx[side]];
}

/* The intent journaled before copying a's message. */
static void
intent_for(struct run *r, const struct plan_action *a,
    struct state_intent *it)
{
	struct msg *src = action_msg(r, a, SIDE_OTHER(a->side));

	memset(it, 0, sizeof(*it));
	it->size = src->size;
	it->msgid = src->msgid ? xstrdup(src->msgid) : NULL;
	flags_copy(&it->flags, &a->flags);
	if (a->side == SIDE_LOCAL) {
		it->kind = STATE_INTENT_DOWNLOAD;
		it->uid = src->uid;
		it->name = maildir_unique_name();
	} else {
		it->kind = STATE_INTENT_UPLOAD;
		it->name = xstrdup(src->name);
		it->uidnext = r->ctx->uidnext;
	}
}

/* One copy of a batch, as it moves through fetch, append and group commit. */
struct copy {
	const struct plan_action *a;
	struct state_intent it;
	struct state_pair pair;
	bool ended;		/* fetched and appended, or failed */
	bool appended;		/* append returned; durable after batch_end */
	bool done;
	bool forget;		/* surely not copied: drop its intent */
};

struct batch {
	struct run *r;
	enum side to;
	size_t n;
	struct copy *v;
	struct msg **msgs;	/* v's source messages */
	size_t *order;		/* appended copies, in append order */
	size_t nappended;
	struct copy *piecing;	/* being appended piece by piece */
};

/*
 * Store what came of one message on the destination: the whole of it, or a
 * piece of one too large to hold at once (begun at its first piece, ended
 * at its last).  On success *out describes it once it is complete.
 */
static int
store_body(struct batch *b, struct copy *cp, const char *data, size_t len,
    bool more, struct msg *out, struct err *e)
{
	const struct plan_action *a = cp->a;
	struct msg *src = action_msg(b->r, a, SIDE_OTHER(b->to));
	struct store *dst = b->r->ctx->store[b->to];

	if (b->piecing == NULL && !more) {
		if (b->to == SIDE_LOCAL)
			out->name = xstrdup(cp->it.name);
		return dst->ops->append(dst, data, len, &a->flags, src->date,
		    out, e);
	}
	if (b->piecing == NULL) {
		if (dst->ops->append_begin == NULL)
			return err_set(e, ERR_FAIL, "the %s side takes no "
			    "message in pieces", side_name[b->to]);
		if (dst->ops->append_begin(dst, &a->flags, src->date,
		    src->size, b->to == SIDE_LOCAL ? cp->it.name : NULL,
		    e) < 0)
			return -1;
		b->piecing = cp;
	}
	if (dst->ops->append_write(dst, data, len, e) < 0) {
		b->piecing = NULL;
		return -1;
	}
	if (more)
		return 0;
	b->piecing = NULL;
	return dst->ops->append_end(dst, out, e);
}

/* store_body_fn: append one fetched message to the other side. */
static int
copy_body(void *arg, size_t i, const char *data, size_t len, bool more,
    const struct err *why)
{
	struct batch *b = arg;
	struct copy *cp = &b->v[i];
	const struct plan_action *a = cp->a;
	struct msg *src = action_msg(b->r, a, SIDE_OTHER(b->to));
	struct store *dst = b->r->ctx->store[b->to];
	struct msg out = { 0 };
	struct err e = { 0 };
	uint64_t *left = &b->r->ctx->stats->copy_left;

	/* the rest of a message whose copy failed at an earlier piece */
	if (cp->ended)
		return -1;
	if (b->piecing != NULL && b->piecing != cp) {
		/* pieces of one message come together: another is lost */
		dst->ops->append_abort(dst);
		b->piecing = NULL;
	}
	if (!more || why != NULL) {
		cp->ended = true;
		*left -= src->size < *left ? src->size : *left;
	}
	/* A refused copy surely did not happen; after a lost connection it
	 * may have, so the intent stays for the next run to look for it. */
	if (why != NULL) {
		if (b->piecing != NULL)
			dst->ops->append_abort(dst);
		b->piecing = NULL;
		e = *why;
		goto fail;
	}
	if (store_body(b, cp, data, len, more, &out, &e) < 0) {
		msg_free(&out);
		cp->ended = true;
		goto fail;
	}
	b->r->ctx->stats->bytes[b->to] += len;
	if (more) {
		sync_tick(b->r->ctx->stats);
		return 0;
	}
	cp->pair.uid = b->to == SIDE_REMOTE ? out.uid : src->uid;
	cp->pair.name = xstrdup(b->to == SIDE_LOCAL ? out.name : src->name);
	flags_copy(&cp->pair.flags, &a->flags);
	cp->pair.size = src->size ? src->size : out.size;
	cp->pair.msgid = src->msgid ? xstrdup(src->msgid) :
	    out.msgid ? xstrdup(out.msgid) : NULL;
	cp->appended = true;
	b->order[b->nappended++] = i;
	sync_tick(b->r->ctx->stats);
	msg_free(&out);
	return 0;
fail:
	cp->forget = e.code != ERR_TEMP;
	if (e.code == ERR_TEMP && b->r->conn_lost) {
		/* the rest of a batch after a lost connection: said once */
		b->r->failed[a->group] = true;
		return -1;
	}
	err_prefix(&e, "copy to %s", side_name[b->to]);
	note_failure(b->r, a, &e);
	return -1;
}

/*
 * Ask the source for the next batch's bodies before the earlier batches
 * are recorded (a group commit's end and a state commit, the connection
 * idle meanwhile); the next batch_copy reads them if its batch is the
 * same.
 */
static void
prefetch_next(struct run *r, struct store *src, const size_t *next,
    size_t nnext)
{
	struct msg **msgs;
	size_t k = 0;
	struct err e = { 0 };

	if (src->ops->prefetch == NULL || nnext == 0 || r->conn_lost)
		return;
	msgs = xcalloc(nnext, sizeof(*msgs));
	for (size_t i = 0; i < nnext; i++)
		if (!r->failed[r->p->v[next[i]].group])
			msgs[k++] = action_msg(r, &r->p->v[next[i]], src->side);
	if (k > 0 && src->ops->prefetch(src, msgs, k, &e) < 0 &&
	    e.code == ERR_TEMP)
		r->conn_lost = true;	/* the next fetch says so */
	free(msgs);
}

static void
batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		state_intent_free(&b->v[i].it);
		state_pair_free(&b->v[i].pair);
	}
	free(b->v);
	free(b->msgs);
	free(b->order);
	memset(b, 0, sizeof(*b));
}

/*
 * The first half of a batch of copies in one direction: journal the
 * intents (one commit), then stream the messages from one side into the
 * other's open group commit (one FETCH per UID set when pulling).  -1,
 * with nothing begun, when the intents could not be journaled.
 */
static int
batch_copy(struct run *r, enum side to, const size_t *acts, size_t n,
    struct batch *b, struct err *e)
{
	struct state *st = r->ctx->state;
	struct store *src = r->ctx->store[SIDE_OTHER(to)];
	struct store *dst = r->ctx->store[to];
	struct err fe = { 0 };

	*b = (struct batch){ .r = r, .to = to, .n = n };
	b->v = xcalloc(n, sizeof(*b->v));
	b->msgs = xcalloc(n, sizeof(*b->msgs));
	b->order = xcalloc(n, sizeof(*b->order));
	if (state_begin(st, e) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		b->v[i].a = &r->p->v[acts[i]];
		b->msgs[i] = action_msg(r, b->v[i].a, SIDE_OTHER(to));
		intent_for(r, b->v[i].a, &b->v[i].it);
		if (state_intent_put(st, r->ctx->folder, &b->v[i].it, e) < 0) {
			state_abort(st);
			goto fail;
		}
	}
	if (state_commit(st, e) < 0)
		goto fail;
	if (dst->ops->batch_begin != NULL)
		dst->ops->batch_begin(dst);
	if (src->ops->fetch_many(src, b->msgs, n, copy_body, b, &fe) < 0 &&
	    fe.code == ERR_TEMP)
		r->conn_lost = true;
	if (b->piecing != NULL)	/* a message the source never finished */
		dst->ops->append_abort(dst);
	return 0;
fail:
	batch_free(b);
	return -1;
}

/*
 * The second half: the destination's group commit ends (the copies become
 * durable and visible), then one commit records their pairs and drops the
 * intents.
 */
static int
batch_record(struct batch *b, struct err *e)
{
	struct run *r = b->r;
	struct state *st = r->ctx->state;
	struct store *dst = r->ctx->store[b->to];
	bool *ok = xcalloc(b->n + 1, sizeof(*ok));
	uint32_t *uids = xcalloc(b->n + 1, sizeof(*uids));
	struct err fe = { 0 };
	int rc = -1;

	if (dst->ops->batch_end != NULL &&
	    dst->ops->batch_end(dst, ok, uids, &fe) < 0)
		note_failure(r, NULL, &fe);
	for (size_t k = 0; k < b->nappended; k++) {
		struct copy *cp = &b->v[b->order[k]];

		/* without group commit every append was durable by itself */
		cp->done = dst->ops->batch_end == NULL || ok[k];
		if (!cp->done)
			r->failed[cp->a->group] = true;
		else if (b->to == SIDE_REMOTE && cp->pair.uid == 0)
			cp->pair.uid = uids[k];
	}

	if (state_begin(st, e) < 0)
		goto out;
	for (size_t i = 0; i < b->n; i++) {
		struct copy *cp = &b->v[i];

		if ((cp->done && state_pair_put(st, r->ctx->folder, &cp->pair,
		    e) < 0) || ((cp->done || cp->forget) &&
		    state_intent_del(st, r->ctx->folder, cp->it.id, e) < 0)) {
			state_abort(st);
			goto out;
		}
		if (cp->done) {
			r->ctx->stats->copied[b->to]++;
			log_action(r, cp->a);
		}
	}
	rc = state_commit(st, e);
out:
	free(ok);
	free(uids);
	batch_free(b);
	return rc;
}

/*
 * Copies go in batches, and a batch's durable end (a file system sync)
 * overlaps the next batch's copies where the destination can seal: batch k
 * is recorded after batch k+1 is written, just before k+1 is sealed.  Each
 * batch keeps its own order (intents, files, sync, renames, pairs), so a
 * crash leaves what it left before, for at most two batches.
 */
static int
do_copies(struct run *r, struct err *e)
{
	size_t *all = xcalloc(r->p->n + 1, sizeof(*all));
	size_t *acts = xcalloc(COPY_BATCH, sizeof(*acts));
	struct batch cur, sealed = { 0 };
	bool have_sealed = false;
	struct err e2 = { 0 };
	int rc = 0;

	for (int s = 0; s < 2 && rc == 0; s++) {
		struct store *src = r->ctx->store[SIDE_OTHER(s)];
		struct store *dst = r->ctx->store[s];
		size_t nall = 0, pos = 0;

		for (size_t i = 0; i < r->p->n; i++)
			if (r->p->v[i].kind == PLAN_COPY &&
			    r->p->v[i].side == (enum side)s)
				all[nall++] = i;
		while (pos < nall && rc == 0) {
			size_t n = 0;

			/* a group that failed meanwhile is left out */
			while (pos < nall && n < COPY_BATCH) {
				size_t i = all[pos++];

				if (!r->failed[r->p->v[i].group] &&
				    !r->conn_lost)
					acts[n++] = i;
			}
			if (n == 0)
				continue;
			rc = batch_copy(r, (enum side)s, acts, n, &cur, e);
			if (rc == 0)
				prefetch_next(r, src, all + pos,
				    nall - pos < COPY_BATCH ? nall - pos :
				    COPY_BATCH);
			if (have_sealed && batch_record(&sealed, rc == 0 ? e :
			    &e2) < 0)
				rc = -1;
			have_sealed = false;
			if (rc < 0) {
				if (cur.v != NULL)
					batch_record(&cur, &e2);
				break;
			}
			if (pos < nall && dst->ops->batch_seal != NULL &&
			    dst->ops->batch_seal(dst, &e2) == 0) {
				sealed = cur;
				have_sealed = true;
			} else {
				rc = batch_record(&cur, e);
			}
		}
		if (have_sealed && batch_record(&sealed, rc == 0 ? e :
		    &e2) < 0)
			rc = -1;
		have_sealed = false;
	}
	free(all);
	free(acts);
	return rc;
}

/*
 * Run a batched store call over the actions of one kind on one side.  When
 * the batch fails, retry message by message so that one bad message (a
 * file the user just deleted) does not fail the others.
 */
static void
do_batched(struct run *r, enum plan_kind kind, enum side side)
{
	struct store *s = r->ctx->store[side];
	size_t *acts = xcalloc(r->p->n + 1, sizeof(*acts));
	struct flag_change *fc = xcalloc(r->p->n + 1, sizeof(*fc));
	struct msg **msgs = xcalloc(r->p->n + 1, sizeof(*msgs));
	size_t n = 0;
	struct err e = { 0 };

	for (size_t i = 0; i < r->p->n; i++) {
		const struct plan_action *a = &r->p->v[i];

		if (a->kind != kind || a->side != side || r->failed[a->group])
			continue;
		acts[n] = i;
		msgs[n] = action_msg(r, a, side);
		fc[n].msg = msgs[n];
		fc[n].to = a->flags;	/* borrowed, not freed here */
		n++;
	}
	if (n == 0)
		goto out;
	if (side == SIDE_REMOTE && r->conn_lost) {
		/* not done: their state must not be recorded either */
		for (size_t i = 0; i < n; i++)
			r->failed[r->p->v[acts[i]].group] = true;
		goto out;
	}
	if ((kind == PLAN_FLAGS ? s->ops->set_flags(s, fc, n, &e) :
	    s->ops->remove(s, msgs, n, &e)) < 0) {
		struct err batch = e;
		bool any_failed = false;

		for (size_t i = 0; i < n; i++) {
			const struct plan_action *a = &r->p->v[acts[i]];

			err_clear(&e);
			if (r->conn_lost && side == SIDE_REMOTE) {
				r->failed[a->group] = true;
				continue;
			}
			if ((kind == PLAN_FLAGS ?
			    s->ops->set_flags(s, &fc[i], 1, &e) :
			    s->ops->remove(s, &msgs[i], 1, &e)) < 0) {
				note_failure(r, a, &e);
				any_failed = true;
				continue;
			}
			log_action(r, a);
			if (kind == PLAN_FLAGS)
				r->ctx->stats->flagged[side]++;
			else
				r->ctx->stats->deleted[side]++;
		}
		/* The batch failed though each message then went through: the
		 * failure was not any one message's (an fsync, say); the
		 * retries made the work durable again, but it is reported. */
		if (!any_failed)
			note_failure(r, NULL, &batch);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		log_action(r, &r->p->v[acts[i]]);
	if (kind == PLAN_FLAGS)
		r->ctx->stats->flagged[side] += n;
	else
		r->ctx->stats->deleted[side] += n;
out:
	free(acts);
	free(fc);
	free(msgs);
}

/* The pair record a PLAN_STATE action asks for. */
static void
state_record(struct run *r, const struct plan_action *a, struct state_pair *rec)
{
	const struct plan_input *in = r->in;
	const struct msg *rm = a->idx[SIDE_REMOTE] != PLAN_NONE ?
	    action_msg(r, a, SIDE_REMOTE) : NULL;
	const struct msg *lm = a->idx[SIDE_LOCAL] != PLAN_NONE ?
	    action_msg(r, a, SIDE_LOCAL) : NULL;
	const struct state_pair *old = a->pair != PLAN_NONE ?
	    &in->pairs[a->pair] : NULL;
	const char *msgid = old && old->msgid ? old->msgid :
	    rm && rm->msgid ? rm->msgid : lm && lm->msgid ? lm->msgid : NULL;

	memset(rec, 0, sizeof(*rec));
	rec->id = old ? old->id : 0;
	rec->uid = rm ? rm->uid : 0;
	rec->name = lm ? xstrdup(lm->name) : NULL;
	flags_copy(&rec->flags, &a->flags);
	rec->size = old && old->size ? old->size : rm ? rm->size :
	    lm ? lm->size : 0;
	rec->msgid = msgid ? xstrdup(msgid) : NULL;
}

/* Whether a new pair record differs from the old one in its flags only. */
static bool
same_but_flags(const struct state_pair *rec, const struct state_pair *old)
{
	return rec->id == old->id && rec->uid == old->uid &&
	    rec->size == old->size && strcmp_null(rec->name, old->name) == 0 &&
	    strcmp_null(rec->msgid, old->msgid) == 0;
}

/* A resolved intent of a crashed run goes, and so does a download's file
 * left unfinished in the Maildir. */
static int
drop_intent(struct run *r, const struct state_intent *it, struct err *e)
{
	struct store *local = r->ctx->store[SIDE_LOCAL];

	if (state_intent_del(r->ctx->state, r->ctx->folder, it->id, e) < 0)
		return -1;
	if (it->kind == STATE_INTENT_DOWNLOAD && it->name != NULL &&
	    local->ops->discard != NULL)
		local->ops->discard(local, it->name);
	return 0;
}

static int
do_state(struct run *r, struct err *e)
{
	struct state *st = r->ctx->state;
	bool any = false;

	for (size_t i = 0; i < r->p->n; i++) {
		const struct plan_action *a = &r->p->v[i];
		struct state_pair rec = { 0 };
		bool flags_only = false;
		int rc = 0;

		if ((a->kind != PLAN_STATE && a->kind != PLAN_DROP_INTENT) ||
		    r->failed[a->group])
			continue;
		if (a->kind == PLAN_STATE && !a->forget) {
			state_record(r, a, &rec);
			flags_only = a->pair != PLAN_NONE &&
			    same_but_flags(&rec, &r->in->pairs[a->pair]);
		}
		if (flags_only && r->ctx->later != NULL) {
			struct state_pairs *l = r->ctx->later;

			xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
			l->v[l->n++] = rec;
			log_action(r, a);
			continue;
		}
		if (!any && state_begin(st, e) < 0) {
			state_pair_free(&rec);
			return -1;
		}
		any = true;
		if (a->kind == PLAN_DROP_INTENT)
			rc = drop_intent(r, &r->in->intents[a->intent], e);
		else if (a->forget)
			rc = state_pair_del(st, r->ctx->folder,
			    r->in->pairs[a->pair].id, e);
		else if (flags_only)
			rc = state_pair_flags(st, r->ctx->folder, rec.id,
			    &rec.flags, e);
		else
			rc = state_pair_put(st, r->ctx->folder, &rec, e);
		state_pair_free(&rec);
		if (rc < 0) {
			state_abort(st);
			return -1;
		}
		log_action(r, a);
	}
	return any ? state_commit(st, e) : 0;
}

int
apply_plan(struct apply_ctx *ctx, const struct plan_input *in,
    const struct plan *p, struct err *e)
{
	struct run r = { .ctx = ctx, .in = in, .p = p };
	int rc;

	r.failed = xcalloc(p->ngroups + 1, sizeof(*r.failed));
	ctx->stats->copy_left = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_COPY)
			ctx->stats->copy_left += action_msg(&r, &p->v[i],
			    SIDE_OTHER(p->v[i].side))->size;
	rc = do_copies(&r, e);
	ctx->stats->copy_left = 0;	/* skipped copies are not coming */
	if (rc == 0) {
		for (int s = 0; s < 2; s++)
			do_batched(&r, PLAN_FLAGS, (enum side)s);
		for (int s = 0; s < 2; s++)
			do_batched(&r, PLAN_DELETE, (enum side)s);
		rc = do_state(&r, e);
	}
	free(r.failed);
	if (rc < 0)
		return -1;	/* a state failure: e is set */
	if (r.first.code != ERR_OK) {
		*e = r.first;
		return -1;
	}
	return 0;
}
