/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The pure sync planner: state and both listings of a folder -> actions. */

/*
 * plan_format() grammar (stable: tests compare it, --dry-run prints it).
 * One line per action, each ending in "\n", in plan order, then the
 * refusal lines; plan_format_action() writes one action's line without the
 * newline:
 *
 *   line     = copy / flags / delete / state / intent / refused
 *   copy     = "copy remote->local uid " UID " flags " FLAGS
 *            / "copy local->remote " NAME " flags " FLAGS
 *   flags    = "flags remote uid " UID " " DIFF
 *            / "flags local " NAME " " DIFF
 *   delete   = "delete remote uid " UID " (" REASON ")"
 *            / "delete local " NAME " (" REASON ")"
 *   state    = "pair " RID " " LID " flags " FLAGS    ; new pair record
 *            / "state " RID " " LID " flags " FLAGS   ; rewrites pairs[pair]
 *            / "forget " RID " " LID                  ; deletes pairs[pair]
 *   intent   = "drop-intent download uid " UID " " NAME
 *            / "drop-intent upload " NAME
 *   refused  = "refused " COUNT " deletions on " SIDE
 *              " (delete-limit " PERCENT "%)"
 *   RID      = "uid " UID / "-"
 *   LID      = NAME / "-"
 *   FLAGS    = LETTERS [ "[" KEYWORDS "]" ] / "[" KEYWORDS "]" / "-"
 *   LETTERS  = the Maildir letters of the system flags, in "DFPRST" order
 *   KEYWORDS = the keywords, space-separated, in strcmp order
 *   DIFF     = flags_diff_text(from, to): "+LETTERS", "-LETTERS",
 *              "+[KEYWORDS]", "-[KEYWORDS]" in that order, space-separated
 *   SIDE     = "remote" / "local"
 *   PERCENT  = the delete-limit printed with "%g"
 *   REASON   = "new" / "deleted on remote" / "deleted on local"
 *            / "marked deleted on remote" / "marked deleted on local"
 *            / "new but marked deleted" / "flags changed"
 *
 * "pair" and "state" lines name the messages the record will point at
 * ("-" for a side whose idx is PLAN_NONE: a half-pair); "forget" lines name
 * the uid and name stored in the forgotten pair itself ("-" for uid 0 or a
 * NULL name), since its messages may be gone.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "plan.h"

/* Sort key shared by every index: string (NULL first), then two numbers. */
/* 24 bytes: a 100,000-message folder has three indexes of them.  A
 * listing index, a UID or a count of messages fits in 32 bits. */
struct key {
	const char *s;
	uint64_t n;
	uint32_t m;
	uint32_t idx;
};

struct index {
	struct key *v;
	size_t n;
};

struct ctx {
	const struct plan_input *in;
	struct plan *p;
	struct index by_uid;	/* remote: (NULL, uid) */
	struct index by_name;	/* local: (name) */
	struct index r_by_key;	/* remote: (msgid, size, uid) */
	bool *used[2];		/* message already accounted for */
	size_t cur_pair;
	size_t cur_intent;
	size_t cur_group;	/* PLAN_NONE until the group's first action */
};

static const char *const deleted_on[2] = {
	"deleted on remote",
	"deleted on local",
};
static const char *const marked_deleted_on[2] = {
	"marked deleted on remote",
	"marked deleted on local",
};
static const char *const side_name[2] = { "remote", "local" };

static int
key_cmp(const void *va, const void *vb)
{
	const struct key *a = va, *b = vb;
	int c = strcmp_null(a->s, b->s);

	if (c != 0)
		return c;
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	if (a->m != b->m)
		return a->m < b->m ? -1 : 1;
	return 0;
}

static void
index_add(struct index *ix, size_t *cap, const char *s, uint64_t n,
    size_t m, size_t idx)
{
	xgrow(&ix->v, cap, ix->n + 1, sizeof(*ix->v));
	ix->v[ix->n++] = (struct key){ s, n, (uint32_t)m, (uint32_t)idx };
}

static void
index_sort(struct index *ix)
{
	if (ix->n > 1)
		qsort(ix->v, ix->n, sizeof(*ix->v), key_cmp);
}

/* First position whose key is >= (s, n, m). */
static size_t
index_lower(const struct index *ix, const char *s, uint64_t n, uint32_t m)
{
	struct key k = { s, n, m, 0 };
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&ix->v[mid], &k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
key_same(const struct key *k, const char *s, uint64_t n)
{
	return strcmp_null(k->s, s) == 0 && k->n == n;
}

/* Message index of the (s, n) key, or PLAN_NONE. */
static size_t
index_find(const struct index *ix, const char *s, uint64_t n)
{
	size_t pos = index_lower(ix, s, n, 0);

	if (pos < ix->n && key_same(&ix->v[pos], s, n))
		return ix->v[pos].idx;
	return PLAN_NONE;
}

static unsigned
side_bit(enum side s)
{
	return s == SIDE_REMOTE ? CFG_SIDE_SERVER : CFG_SIDE_DISK;
}

/* Whether the direction lets the planner change side s. */
static bool
may_change(const struct ctx *c, enum side s)
{
	int dir = c->in->opts.direction;

	return s == SIDE_REMOTE ? dir != CFG_DIR_PULL : dir != CFG_DIR_PUSH;
}

static const struct msg *
msg_at(const struct ctx *c, enum side s, size_t i)
{
	return &c->in->msgs[s][i];
}

static void
group_begin(struct ctx *c, size_t pair, size_t intent)
{
	c->cur_pair = pair;
	c->cur_intent = intent;
	c->cur_group = PLAN_NONE;
}

static struct plan_action *
add(struct ctx *c, enum plan_kind kind, enum side side, size_t ri, size_t li)
{
	struct plan *p = c->p;
	struct plan_action *a;

	if (c->cur_group == PLAN_NONE)
		c->cur_group = p->ngroups++;
	xgrow(&p->v, &p->cap, p->n + 1, sizeof(*p->v));
	a = &p->v[p->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->group = c->cur_group;
	a->side = side;
	a->idx[SIDE_REMOTE] = ri;
	a->idx[SIDE_LOCAL] = li;
	a->pair = c->cur_pair;
	a->intent = c->cur_intent;
	return a;
}

static void
add_state(struct ctx *c, size_t ri, size_t li, const struct flags *fl)
{
	struct plan_action *a = add(c, PLAN_STATE, SIDE_REMOTE, ri, li);

	flags_copy(&a->flags, fl);
}

static void
add_forget(struct ctx *c, size_t ri, size_t li)
{
	add(c, PLAN_STATE, SIDE_REMOTE, ri, li)->forget = true;
}

static void
add_flags(struct ctx *c, enum side s, size_t ri, size_t li,
    const struct flags *to, const char *reason)
{
	size_t i = s == SIDE_REMOTE ? ri : li;
	struct plan_action *a = add(c, PLAN_FLAGS, s, ri, li);

	flags_copy(&a->from, &msg_at(c, s, i)->flags);
	flags_copy(&a->flags, to);
	a->reason = reason;
}

static void
add_delete(struct ctx *c, enum side s, size_t ri, size_t li,
    const char *reason)
{
	add(c, PLAN_DELETE, s, ri, li)->reason = reason;
}

/*
 * Rule 1c: both messages present.  base is the flags both had when last in
 * step (the pair's, an intent's, or the intersection for a first pairing).
 */
static void
plan_merge(struct ctx *c, const struct flags *base, size_t ri, size_t li)
{
	const struct plan_opts *o = &c->in->opts;
	const struct state_pair *sp = c->cur_pair == PLAN_NONE ? NULL :
	    &c->in->pairs[c->cur_pair];
	const struct msg *m[2] = {
		msg_at(c, SIDE_REMOTE, ri),
		msg_at(c, SIDE_LOCAL, li),
	};
	struct flags merged = { 0 }, target[2] = { { 0 }, { 0 } };
	struct flags nb = { 0 };
	bool del[2] = { false, false };
	bool record = sp == NULL || sp->uid != m[SIDE_REMOTE]->uid ||
	    strcmp_null(sp->name, m[SIDE_LOCAL]->name) != 0;

	if (!(o->propagate & CFG_PROP_FLAGS)) {
		if (record)
			add_state(c, ri, li, base);
		return;
	}
	flags_merge(&merged, base, &m[SIDE_REMOTE]->flags,
	    &m[SIDE_LOCAL]->flags);
	flags_copy(&target[SIDE_REMOTE], &merged);
	flags_copy(&target[SIDE_LOCAL], &merged);
	flags_copy(&nb, &merged);
	/* One-way: the source side is the truth for the state, and the
	 * destination keeps its own changes on top of the source's. */
	if (o->direction == CFG_DIR_PULL) {
		flags_copy(&target[SIDE_REMOTE], &m[SIDE_REMOTE]->flags);
		flags_copy(&nb, &m[SIDE_REMOTE]->flags);
	} else if (o->direction == CFG_DIR_PUSH) {
		flags_copy(&target[SIDE_LOCAL], &m[SIDE_LOCAL]->flags);
		flags_copy(&nb, &m[SIDE_LOCAL]->flags);
	}
	/*
	 * A deletion mark is carried out only once the other side's target
	 * has it too: with --pull a mark set on disk must stay pending (the
	 * state keeps the remote flags), not vanish with the file, so that a
	 * later two-way run still propagates it.
	 */
	for (int si = SIDE_REMOTE; si <= SIDE_LOCAL; si++) {
		enum side s = (enum side)si;
		bool own = m[s]->flags.bits & FLAG_DELETED;

		if ((target[s].bits & FLAG_DELETED) &&
		    (target[SIDE_OTHER(s)].bits & FLAG_DELETED) &&
		    (o->expunge & side_bit(s)) &&
		    (own || ((o->propagate & CFG_PROP_DELETIONS) &&
		    may_change(c, s)))) {
			add_delete(c, s, ri, li,
			    marked_deleted_on[own ? s : SIDE_OTHER(s)]);
			del[s] = true;
		} else if (!flags_equal(&target[s], &m[s]->flags)) {
			add_flags(c, s, ri, li, &target[s], "flags changed");
			record = true;
		}
	}
	if (del[SIDE_REMOTE] && del[SIDE_LOCAL]) {
		if (sp != NULL)
			add_forget(c, ri, li);
	} else if (del[SIDE_REMOTE] || del[SIDE_LOCAL]) {
		add_state(c, del[SIDE_REMOTE] ? PLAN_NONE : ri,
		    del[SIDE_LOCAL] ? PLAN_NONE : li, &nb);
	} else if (record || !flags_equal(&nb, &sp->flags)) {
		add_state(c, ri, li, &nb);
	}
	flags_free(&merged);
	flags_free(&target[SIDE_REMOTE]);
	flags_free(&target[SIDE_LOCAL]);
	flags_free(&nb);
}

/* Rules 1d and 1e: the message at msgs[have][i] is gone from the other side. */
static void
plan_gone(struct ctx *c, enum side have, size_t i)
{
	const struct plan_opts *o = &c->in->opts;
	enum side gone = SIDE_OTHER(have);
	const struct msg *m = msg_at(c, have, i);
	size_t idx[2];
	struct flags fl = { 0 };

	idx[have] = i;
	idx[gone] = PLAN_NONE;
	if (!(o->propagate & CFG_PROP_DELETIONS) || !may_change(c, have)) {
		/* Remembered as a half-pair so it is never copied back. */
		add_state(c, idx[SIDE_REMOTE], idx[SIDE_LOCAL], &m->flags);
		return;
	}
	if (o->expunge & side_bit(have)) {
		add_delete(c, have, idx[SIDE_REMOTE], idx[SIDE_LOCAL],
		    deleted_on[gone]);
		if (c->cur_pair != PLAN_NONE)
			add_forget(c, idx[SIDE_REMOTE], idx[SIDE_LOCAL]);
		return;
	}
	flags_copy(&fl, &m->flags);
	fl.bits |= FLAG_DELETED;
	if (!(m->flags.bits & FLAG_DELETED))
		add_flags(c, have, idx[SIDE_REMOTE], idx[SIDE_LOCAL], &fl,
		    deleted_on[gone]);
	add_state(c, idx[SIDE_REMOTE], idx[SIDE_LOCAL], &fl);
	flags_free(&fl);
}

/*
 * The lowest-UID unclaimed remote message with this Message-ID (NULL
 * matches NULL) and size and a UID >= min_uid; claimed when found.
 */
static size_t
claim_by_key(struct ctx *c, const char *msgid, uint64_t size,
    uint32_t min_uid)
{
	const struct index *ix = &c->r_by_key;

	for (size_t pos = index_lower(ix, msgid, size, min_uid);
	    pos < ix->n && key_same(&ix->v[pos], msgid, size); pos++) {
		size_t i = ix->v[pos].idx;

		if (!c->used[SIDE_REMOTE][i]) {
			c->used[SIDE_REMOTE][i] = true;
			return i;
		}
	}
	return PLAN_NONE;
}

/*
 * Find each pair's messages and claim them, so that intents and matching
 * only see what no pair accounts for.  After a UIDVALIDITY change the
 * remote side is found by Message-ID and size instead; pairs that still
 * had a remote message claim first, and copies that share a key are paired
 * in order, since they are indistinguishable and every other choice
 * would copy one of them again.
 */
static int
claim_pairs(struct ctx *c, size_t *rm, size_t *lm, struct err *e)
{
	const struct plan_input *in = c->in;

	for (size_t i = 0; i < in->npairs; i++) {
		const struct state_pair *sp = &in->pairs[i];

		rm[i] = lm[i] = PLAN_NONE;
		if (sp->name != NULL)
			lm[i] = index_find(&c->by_name, sp->name, 0);
		if (lm[i] != PLAN_NONE) {
			if (c->used[SIDE_LOCAL][lm[i]])
				return err_set(e, ERR_FAIL,
				    "state has two pairs for local message %s",
				    sp->name);
			c->used[SIDE_LOCAL][lm[i]] = true;
		}
		if (in->uidvalidity_changed || sp->uid == 0)
			continue;
		rm[i] = index_find(&c->by_uid, NULL, sp->uid);
		if (rm[i] != PLAN_NONE) {
			if (c->used[SIDE_REMOTE][rm[i]])
				return err_set(e, ERR_FAIL,
				    "state has two pairs for UID %u",
				    (unsigned)sp->uid);
			c->used[SIDE_REMOTE][rm[i]] = true;
		}
	}
	if (!in->uidvalidity_changed)
		return 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < in->npairs; i++) {
			const struct state_pair *sp = &in->pairs[i];

			if (sp->msgid == NULL || (sp->uid == 0) != (pass == 1))
				continue;
			rm[i] = claim_by_key(c, sp->msgid, sp->size, 0);
		}
	return 0;
}

/* Rule 1g: the pair's UID is stale; ri is its re-paired message, if any. */
static void
plan_repair(struct ctx *c, const struct state_pair *sp, size_t ri, size_t li)
{
	if (ri != PLAN_NONE && li != PLAN_NONE) {
		plan_merge(c, &sp->flags, ri, li);
	} else if (ri != PLAN_NONE) {
		const struct msg *r = msg_at(c, SIDE_REMOTE, ri);

		if (sp->uid != r->uid || sp->name != NULL ||
		    !flags_equal(&sp->flags, &r->flags))
			add_state(c, ri, PLAN_NONE, &r->flags);
	} else if (li == PLAN_NONE) {
		add_forget(c, PLAN_NONE, PLAN_NONE);
	} else if (sp->uid == 0) {
		/* Already kept on disk only: stays so. */
	} else if (sp->msgid != NULL) {
		/* Not on the server any more: it is uploaded as new. */
		add_forget(c, PLAN_NONE, li);
		c->used[SIDE_LOCAL][li] = false;
	} else {
		/* Cannot be recognised on the server: keep it on disk only,
		 * which neither duplicates nor deletes it. */
		add_state(c, PLAN_NONE, li, &msg_at(c, SIDE_LOCAL, li)->flags);
	}
}

/* Rule 1: every pair of the state, in state order. */
static int
plan_pairs(struct ctx *c, struct err *e)
{
	const struct plan_input *in = c->in;
	size_t *rm = xcalloc(in->npairs + 1, sizeof(*rm));
	size_t *lm = xcalloc(in->npairs + 1, sizeof(*lm));

	if (claim_pairs(c, rm, lm, e) == -1) {
		free(rm);
		free(lm);
		return -1;
	}
	for (size_t i = 0; i < in->npairs; i++) {
		const struct state_pair *sp = &in->pairs[i];
		size_t ri = rm[i], li = lm[i];

		group_begin(c, i, PLAN_NONE);
		if (in->uidvalidity_changed)
			plan_repair(c, sp, ri, li);
		else if (sp->uid == 0 || sp->name == NULL) {
			/* A half-pair ends when its kept side goes. */
			if ((sp->uid == 0 ? li : ri) == PLAN_NONE)
				add_forget(c, ri, li);
		} else if (ri != PLAN_NONE && li != PLAN_NONE)
			plan_merge(c, &sp->flags, ri, li);
		else if (ri != PLAN_NONE)
			plan_gone(c, SIDE_REMOTE, ri);
		else if (li != PLAN_NONE)
			plan_gone(c, SIDE_LOCAL, li);
		else
			add_forget(c, ri, li);
	}
	free(rm);
	free(lm);
	return 0;
}

static size_t
find_unused_local(struct ctx *c, const char *name)
{
	size_t li = name ? index_find(&c->by_name, name, 0) : PLAN_NONE;

	return li != PLAN_NONE && !c->used[SIDE_LOCAL][li] ? li : PLAN_NONE;
}

/* A download intent: did the copy reach the disk before the crash? */
static void
plan_download_intent(struct ctx *c, const struct state_intent *it)
{
	size_t li = find_unused_local(c, it->name);
	size_t ri;

	/* After a UIDVALIDITY change the UID means nothing: the copy, if
	 * any, is paired by Message-ID and size like any unpaired file. */
	if (li == PLAN_NONE || c->in->uidvalidity_changed)
		return;
	ri = it->uid ? index_find(&c->by_uid, NULL, it->uid) : PLAN_NONE;
	if (ri == PLAN_NONE) {
		c->used[SIDE_LOCAL][li] = true;
		plan_gone(c, SIDE_LOCAL, li);
	} else if (!c->used[SIDE_REMOTE][ri]) {
		c->used[SIDE_REMOTE][ri] = true;
		c->used[SIDE_LOCAL][li] = true;
		plan_merge(c, &it->flags, ri, li);
	}
}

/* An upload intent: did the APPEND happen before the crash? */
static void
plan_upload_intent(struct ctx *c, const struct state_intent *it)
{
	size_t li, ri;
	bool present;

	if (it->name == NULL)
		return;
	li = index_find(&c->by_name, it->name, 0);
	present = li != PLAN_NONE;
	if (present && c->used[SIDE_LOCAL][li])
		return;
	ri = claim_by_key(c, it->msgid, it->size,
	    c->in->uidvalidity_changed ? 0 : it->uidnext);
	if (ri == PLAN_NONE)
		return;
	if (present) {
		c->used[SIDE_LOCAL][li] = true;
		plan_merge(c, &it->flags, ri, li);
	} else {
		plan_gone(c, SIDE_REMOTE, ri);
	}
}

/* Rule 2: unfinished copies of a crashed run. */
static void
plan_intents(struct ctx *c)
{
	const struct plan_input *in = c->in;

	for (size_t j = 0; j < in->nintents; j++) {
		const struct state_intent *it = &in->intents[j];

		group_begin(c, PLAN_NONE, j);
		if (it->kind == STATE_INTENT_DOWNLOAD)
			plan_download_intent(c, it);
		else
			plan_upload_intent(c, it);
		add(c, PLAN_DROP_INTENT, SIDE_REMOTE, PLAN_NONE, PLAN_NONE);
	}
}

/* Count unclaimed messages in the key range starting at *pos; advances *pos
 * past the range and leaves the last unclaimed index in *last. */
static size_t
range_unused(const struct index *ix, const bool *used, size_t *pos,
    size_t *last)
{
	size_t start = *pos, count = 0;

	*last = PLAN_NONE;
	while (*pos < ix->n && key_same(&ix->v[*pos], ix->v[start].s,
	    ix->v[start].n)) {
		if (!used[ix->v[*pos].idx]) {
			count++;
			*last = ix->v[*pos].idx;
		}
		(*pos)++;
	}
	return count;
}

/*
 * Rule 3: pair unclaimed messages present on both sides (first run, lost
 * state) by Message-ID and size, only where that key is unambiguous on
 * both sides.  Base flags are the intersection, so a flag set on either
 * side ends up on both.
 */
static void
plan_match(struct ctx *c)
{
	const struct plan_input *in = c->in;
	const struct index *rk = &c->r_by_key;
	struct index lk = { 0 }, found = { 0 };
	size_t lcap = 0, fcap = 0, pos = 0;

	for (size_t i = 0; i < in->nmsgs[SIDE_LOCAL]; i++) {
		const struct msg *m = msg_at(c, SIDE_LOCAL, i);

		if (!c->used[SIDE_LOCAL][i] && m->has_details &&
		    m->msgid != NULL)
			index_add(&lk, &lcap, m->msgid, m->size, i, i);
	}
	index_sort(&lk);
	while (pos < rk->n) {
		const struct key *k = &rk->v[pos];
		size_t ri, li, lpos;

		if (k->s == NULL ||
		    range_unused(rk, c->used[SIDE_REMOTE], &pos, &ri) != 1) {
			if (k->s == NULL)
				pos++;
			continue;
		}
		lpos = index_lower(&lk, k->s, k->n, 0);
		if (lpos >= lk.n || !key_same(&lk.v[lpos], k->s, k->n) ||
		    range_unused(&lk, c->used[SIDE_LOCAL], &lpos, &li) != 1)
			continue;
		/* Emitted in UID order, like rule 4. */
		index_add(&found, &fcap, NULL,
		    msg_at(c, SIDE_REMOTE, ri)->uid, li, ri);
	}
	if (found.n > 1)
		qsort(found.v, found.n, sizeof(*found.v), key_cmp);
	for (size_t f = 0; f < found.n; f++) {
		size_t ri = found.v[f].idx, li = (size_t)found.v[f].m;
		const struct flags *rf = &msg_at(c, SIDE_REMOTE, ri)->flags;
		const struct flags *lf = &msg_at(c, SIDE_LOCAL, li)->flags;
		char *only_r = flags_kw_minus(rf->kw, lf->kw);
		struct flags base = { rf->bits & lf->bits,
			flags_kw_minus(rf->kw, only_r) };

		c->used[SIDE_REMOTE][ri] = true;
		c->used[SIDE_LOCAL][li] = true;
		group_begin(c, PLAN_NONE, PLAN_NONE);
		plan_merge(c, &base, ri, li);
		free(only_r);
		flags_free(&base);
	}
	free(lk.v);
	free(found.v);
}

/* Rule 4: a message only side s has, not accounted for by anything. */
static void
plan_new(struct ctx *c, enum side s, size_t i)
{
	const struct plan_opts *o = &c->in->opts;
	const struct msg *m = msg_at(c, s, i);
	enum side dst = SIDE_OTHER(s);
	size_t idx[2];
	struct plan_action *a;

	idx[s] = i;
	idx[dst] = PLAN_NONE;
	group_begin(c, PLAN_NONE, PLAN_NONE);
	if (m->flags.bits & FLAG_DELETED) {
		if (o->expunge & side_bit(s))
			add_delete(c, s, idx[SIDE_REMOTE], idx[SIDE_LOCAL],
			    "new but marked deleted");
		return;
	}
	if (!(o->propagate & CFG_PROP_NEW) || !may_change(c, dst))
		return;
	if (o->max_size != 0 && m->size > o->max_size)
		return;
	if (o->min_date != 0 && m->date < o->min_date)
		return;
	a = add(c, PLAN_COPY, dst, idx[SIDE_REMOTE], idx[SIDE_LOCAL]);
	flags_copy(&a->flags, &m->flags);
	a->reason = "new";
}

static void
plan_news(struct ctx *c)
{
	const struct plan_input *in = c->in;

	for (size_t k = 0; k < c->by_uid.n; k++) {
		size_t ri = c->by_uid.v[k].idx;

		if (!c->used[SIDE_REMOTE][ri])
			plan_new(c, SIDE_REMOTE, ri);
	}
	for (size_t li = 0; li < in->nmsgs[SIDE_LOCAL]; li++)
		if (!c->used[SIDE_LOCAL][li])
			plan_new(c, SIDE_LOCAL, li);
}

static bool
is_deletion(const struct plan_action *a)
{
	return a->kind == PLAN_DELETE || (a->kind == PLAN_FLAGS &&
	    !(a->from.bits & FLAG_DELETED) && (a->flags.bits & FLAG_DELETED));
}

static void
action_free(struct plan_action *a)
{
	flags_free(&a->flags);
	flags_free(&a->from);
}

/*
 * Rule 5: a side that would lose more than delete_limit percent of its
 * messages looks like a mistake (an emptied folder, a broken mount), so
 * none of those deletions happen and the caller reports the refusal.
 * Small counts are always allowed so tiny folders stay usable.
 */
static void
delete_guard(struct ctx *c)
{
	const struct plan_input *in = c->in;
	struct plan *p = c->p;
	size_t count[2] = { 0, 0 };
	bool refuse[2];
	bool *drop;
	size_t n = 0, ngroups = 0, last = PLAN_NONE;

	for (size_t i = 0; i < p->n; i++)
		if (is_deletion(&p->v[i]))
			count[p->v[i].side]++;
	for (int s = SIDE_REMOTE; s <= SIDE_LOCAL; s++)
		refuse[s] = !in->opts.force && count[s] > 10 &&
		    (double)count[s] * 100.0 >
		    in->opts.delete_limit * (double)in->nmsgs[s];
	if (!refuse[SIDE_REMOTE] && !refuse[SIDE_LOCAL])
		return;
	drop = xcalloc(p->ngroups + 1, sizeof(*drop));
	for (size_t i = 0; i < p->n; i++)
		if (is_deletion(&p->v[i]) && refuse[p->v[i].side])
			drop[p->v[i].group] = true;
	/* Groups are contiguous and ascending, so renumbering keeps them
	 * dense. */
	for (size_t i = 0; i < p->n; i++) {
		struct plan_action *a = &p->v[i];

		if (drop[a->group]) {
			action_free(a);
			continue;
		}
		if (a->group != last) {
			last = a->group;
			ngroups++;
		}
		a->group = ngroups - 1;
		p->v[n++] = *a;
	}
	p->n = n;
	p->ngroups = ngroups;
	for (int s = SIDE_REMOTE; s <= SIDE_LOCAL; s++)
		if (refuse[s])
			p->refused[s] = count[s];
	free(drop);
}

/* Listings must identify their messages uniquely. */
static int
build_indexes(struct ctx *c, struct err *e)
{
	const struct plan_input *in = c->in;
	size_t cap = 0;

	xfit(&c->by_uid.v, &cap, in->nmsgs[SIDE_REMOTE], sizeof(struct key));
	for (size_t i = 0; i < in->nmsgs[SIDE_REMOTE]; i++) {
		const struct msg *m = msg_at(c, SIDE_REMOTE, i);

		if (m->uid == 0)
			return err_set(e, ERR_FAIL,
			    "remote listing has a message without UID");
		index_add(&c->by_uid, &cap, NULL, m->uid, 0, i);
	}
	index_sort(&c->by_uid);
	for (size_t k = 1; k < c->by_uid.n; k++)
		if (c->by_uid.v[k].n == c->by_uid.v[k - 1].n)
			return err_set(e, ERR_FAIL,
			    "remote listing has UID %u twice",
			    (unsigned)c->by_uid.v[k].n);
	cap = 0;
	xfit(&c->r_by_key.v, &cap, in->nmsgs[SIDE_REMOTE], sizeof(struct key));
	for (size_t i = 0; i < in->nmsgs[SIDE_REMOTE]; i++) {
		const struct msg *m = msg_at(c, SIDE_REMOTE, i);

		index_add(&c->r_by_key, &cap, m->msgid, m->size, m->uid, i);
	}
	index_sort(&c->r_by_key);
	cap = 0;
	xfit(&c->by_name.v, &cap, in->nmsgs[SIDE_LOCAL], sizeof(struct key));
	for (size_t i = 0; i < in->nmsgs[SIDE_LOCAL]; i++) {
		const struct msg *m = msg_at(c, SIDE_LOCAL, i);

		if (m->name == NULL)
			return err_set(e, ERR_FAIL,
			    "local listing has a message without name");
		index_add(&c->by_name, &cap, m->name, 0, 0, i);
	}
	index_sort(&c->by_name);
	for (size_t k = 1; k < c->by_name.n; k++)
		if (strcmp(c->by_name.v[k].s, c->by_name.v[k - 1].s) == 0)
			return err_set(e, ERR_FAIL,
			    "local listing has message %s twice",
			    c->by_name.v[k].s);
	return 0;
}

int
plan_build(const struct plan_input *in, struct plan *out, struct err *e)
{
	struct ctx c = { 0 };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	c.in = in;
	c.p = out;
	c.used[SIDE_REMOTE] = xcalloc(in->nmsgs[SIDE_REMOTE] + 1, sizeof(bool));
	c.used[SIDE_LOCAL] = xcalloc(in->nmsgs[SIDE_LOCAL] + 1, sizeof(bool));
	if (build_indexes(&c, e) == -1 || plan_pairs(&c, e) == -1)
		goto out;
	plan_intents(&c);
	plan_match(&c);
	plan_news(&c);
	delete_guard(&c);
	rc = 0;
out:
	if (rc == -1)
		plan_free(out);
	free(c.by_uid.v);
	free(c.by_name.v);
	free(c.r_by_key.v);
	free(c.used[SIDE_REMOTE]);
	free(c.used[SIDE_LOCAL]);
	return rc;
}

static void
format_flags(struct buf *b, const struct flags *f)
{
	char letters[7];
	bool kw = f->kw != NULL && *f->kw != '\0';

	flags_bits_to_maildir(f->bits, letters);
	if (*letters == '\0' && !kw)
		buf_adds(b, "-");
	buf_adds(b, letters);
	if (kw)
		buf_printf(b, "[%s]", f->kw);
}

static void
format_diff(struct buf *b, const struct flags *from, const struct flags *to)
{
	size_t n = 64 + (from->kw ? strlen(from->kw) : 0) +
	    (to->kw ? strlen(to->kw) : 0);
	char *text = xmalloc(n);

	flags_diff_text(from, to, text, n);
	buf_adds(b, text);
	free(text);
}

/* "uid U" / NAME of the message a side's idx names, or "-". */
static void
format_id(struct buf *b, const struct plan_input *in, enum side s, size_t i)
{
	if (i == PLAN_NONE)
		buf_adds(b, "-");
	else if (s == SIDE_REMOTE)
		buf_printf(b, "uid %u", (unsigned)in->msgs[s][i].uid);
	else
		buf_adds(b, in->msgs[s][i].name);
}

static void
format_state(struct buf *b, const struct plan_input *in,
    const struct plan_action *a)
{
	if (a->forget) {
		const struct state_pair *sp = &in->pairs[a->pair];

		if (sp->uid != 0)
			buf_printf(b, "forget uid %u ", (unsigned)sp->uid);
		else
			buf_adds(b, "forget - ");
		buf_adds(b, sp->name != NULL ? sp->name : "-");
		return;
	}
	buf_adds(b, a->pair == PLAN_NONE ? "pair " : "state ");
	format_id(b, in, SIDE_REMOTE, a->idx[SIDE_REMOTE]);
	buf_addc(b, ' ');
	format_id(b, in, SIDE_LOCAL, a->idx[SIDE_LOCAL]);
	buf_adds(b, " flags ");
	format_flags(b, &a->flags);
}

void
plan_format_action(const struct plan_input *in, const struct plan_action *a,
    struct buf *b)
{
	enum side s = a->side, src = SIDE_OTHER(a->side);
	const struct state_intent *it;

	switch (a->kind) {
	case PLAN_COPY:
		buf_printf(b, "copy %s->%s ", side_name[src], side_name[s]);
		format_id(b, in, src, a->idx[src]);
		buf_adds(b, " flags ");
		format_flags(b, &a->flags);
		break;
	case PLAN_FLAGS:
		buf_printf(b, "flags %s ", side_name[s]);
		format_id(b, in, s, a->idx[s]);
		buf_addc(b, ' ');
		format_diff(b, &a->from, &a->flags);
		break;
	case PLAN_DELETE:
		buf_printf(b, "delete %s ", side_name[s]);
		format_id(b, in, s, a->idx[s]);
		buf_printf(b, " (%s)", a->reason ? a->reason : "");
		break;
	case PLAN_STATE:
		format_state(b, in, a);
		break;
	case PLAN_DROP_INTENT:
		it = &in->intents[a->intent];
		if (it->kind == STATE_INTENT_DOWNLOAD)
			buf_printf(b, "drop-intent download uid %u %s",
			    (unsigned)it->uid, it->name ? it->name : "-");
		else
			buf_printf(b, "drop-intent upload %s",
			    it->name ? it->name : "-");
		break;
	}
}

void
plan_format(const struct plan_input *in, const struct plan *p,
    struct buf *out)
{
	for (size_t i = 0; i < p->n; i++) {
		plan_format_action(in, &p->v[i], out);
		buf_addc(out, '\n');
	}
	for (int s = SIDE_REMOTE; s <= SIDE_LOCAL; s++)
		if (p->refused[s] != 0)
			buf_printf(out,
			    "refused %zu deletions on %s (delete-limit %g%%)\n",
			    p->refused[s], side_name[s], in->opts.delete_limit);
}

void
plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		action_free(&p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}
