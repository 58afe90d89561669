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
 * trades commits against work redone.
 */
#define COPY_BATCH 64

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

/* Copy one message; on success *pair describes the new pair. */
static int
copy_one(struct run *r, const struct plan_action *a,
    const struct state_intent *it, struct state_pair *pair, struct err *e)
{
	enum side to = a->side, from = SIDE_OTHER(to);
	struct msg *src = action_msg(r, a, from);
	struct store *dst = r->ctx->store[to];
	struct msg out = { 0 };
	struct buf data = { 0 };

	if (r->ctx->store[from]->ops->fetch(r->ctx->store[from], src, &data,
	    e) < 0)
		goto fail;
	if (to == SIDE_LOCAL)
		out.name = xstrdup(it->name);
	if (dst->ops->append(dst, data.data ? data.data : "", data.len,
	    &a->flags, src->date, &out, e) < 0)
		goto fail;
	memset(pair, 0, sizeof(*pair));
	pair->uid = to == SIDE_REMOTE ? out.uid : src->uid;
	pair->name = xstrdup(to == SIDE_LOCAL ? out.name : src->name);
	flags_copy(&pair->flags, &a->flags);
	pair->size = src->size ? src->size : out.size;
	pair->msgid = src->msgid ? xstrdup(src->msgid) :
	    out.msgid ? xstrdup(out.msgid) : NULL;
	r->ctx->stats->copied[to]++;
	r->ctx->stats->bytes[to] += data.len;
	msg_free(&out);
	buf_free(&data);
	return 0;
fail:
	msg_free(&out);
	buf_free(&data);
	return -1;
}

static int
copy_batch(struct run *r, const size_t *acts, size_t n, struct err *e)
{
	struct state *st = r->ctx->state;
	struct state_intent *its = xcalloc(n, sizeof(*its));
	struct state_pair *pairs = xcalloc(n, sizeof(*pairs));
	bool *done = xcalloc(n, sizeof(*done));
	bool *forget = xcalloc(n, sizeof(*forget));
	int rc = -1;

	if (state_begin(st, e) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		intent_for(r, &r->p->v[acts[i]], &its[i]);
		if (state_intent_put(st, r->ctx->folder, &its[i], e) < 0) {
			state_abort(st);
			goto out;
		}
	}
	if (state_commit(st, e) < 0)
		goto out;

	for (size_t i = 0; i < n; i++) {
		const struct plan_action *a = &r->p->v[acts[i]];
		struct err ce = { 0 };

		if (r->conn_lost) {
			r->failed[a->group] = true;
			continue;
		}
		if (copy_one(r, a, &its[i], &pairs[i], &ce) < 0) {
			err_prefix(&ce, "copy to %s", side_name[a->side]);
			note_failure(r, a, &ce);
			/* A refused copy surely did not happen; after a lost
			 * connection it may have, so the intent stays for
			 * the next run to look for it. */
			forget[i] = ce.code != ERR_TEMP;
			continue;
		}
		done[i] = true;
		log_action(r, a);
	}

	if (state_begin(st, e) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((done[i] && (state_pair_put(st, r->ctx->folder, &pairs[i],
		    e) < 0)) ||
		    ((done[i] || forget[i]) &&
		    state_intent_del(st, r->ctx->folder, its[i].id, e) < 0)) {
			state_abort(st);
			goto out;
		}
	}
	rc = state_commit(st, e);
out:
	for (size_t i = 0; i < n; i++) {
		state_intent_free(&its[i]);
		state_pair_free(&pairs[i]);
	}
	free(its);
	free(pairs);
	free(done);
	free(forget);
	return rc;
}

static int
do_copies(struct run *r, struct err *e)
{
	size_t *acts = xcalloc(COPY_BATCH, sizeof(*acts));
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i <= r->p->n && rc == 0; i++) {
		if (i < r->p->n && r->p->v[i].kind == PLAN_COPY &&
		    !r->failed[r->p->v[i].group])
			acts[n++] = i;
		if (n > 0 && (n == COPY_BATCH || i == r->p->n)) {
			rc = copy_batch(r, acts, n, e);
			n = 0;
		}
	}
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
	if (n == 0 || (side == SIDE_REMOTE && r->conn_lost))
		goto out;
	if ((kind == PLAN_FLAGS ? s->ops->set_flags(s, fc, n, &e) :
	    s->ops->remove(s, msgs, n, &e)) < 0) {
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
				continue;
			}
			log_action(r, a);
			if (kind == PLAN_FLAGS)
				r->ctx->stats->flagged[side]++;
			else
				r->ctx->stats->deleted[side]++;
		}
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

static int
do_state(struct run *r, struct err *e)
{
	struct state *st = r->ctx->state;
	bool any = false;

	for (size_t i = 0; i < r->p->n; i++) {
		const struct plan_action *a = &r->p->v[i];
		int rc = 0;

		if ((a->kind != PLAN_STATE && a->kind != PLAN_DROP_INTENT) ||
		    r->failed[a->group])
			continue;
		if (!any && state_begin(st, e) < 0)
			return -1;
		any = true;
		if (a->kind == PLAN_DROP_INTENT) {
			rc = state_intent_del(st, r->ctx->folder,
			    r->in->intents[a->intent].id, e);
		} else if (a->forget) {
			rc = state_pair_del(st, r->ctx->folder,
			    r->in->pairs[a->pair].id, e);
		} else {
			struct state_pair rec;

			state_record(r, a, &rec);
			rc = state_pair_put(st, r->ctx->folder, &rec, e);
			state_pair_free(&rec);
		}
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
	rc = do_copies(&r, e);
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
