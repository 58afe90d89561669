/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Moves between folders, found across a channel and done without copying. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lookup.h"
#include "moves.h"
#include "msgnorm.h"

void
folder_work_clear(struct folder_work *fw)
{
	for (int s = 0; s < 2; s++)
		msg_list_free(&fw->ml[s]);
	state_pairs_free(&fw->pairs);
	state_intents_free(&fw->intents);
	fw->loaded = false;
}

/* A message that left folder `f` on one side: its pair is still known. */
struct src {
	size_t f, pair;
	size_t other;		/* its message on the other side */
	long dst;		/* matched struct dst index, or -1 */
	int keys;		/* how many dst candidates share its key */
};

/* A message that arrived in folder `f` without a pair. */
struct dst {
	size_t f, msg;
	int keys;
	uint64_t norm_size;	/* wire size without client-added headers,
				 * when loaded (0: not) */
};

static bool
same_id(const struct state_pair *p, const struct msg *m)
{
	return p->msgid != NULL && m->has_details && m->msgid != NULL &&
	    strcmp(p->msgid, m->msgid) == 0;
}

/*
 * The same message: same Message-ID and size, or a copy a mail client
 * saved with its own headers added (mutt's save adds Content-Length), whose
 * size without them is the original's (SPEC.md section 5).
 */
static bool
same_identity(const struct state_pair *p, const struct msg *m,
    const struct dst *d)
{
	return same_id(p, m) && (p->size == m->size ||
	    (d->norm_size != 0 && d->norm_size == p->size));
}

/* Messages of side `side` that left a folder, and unpaired arrivals. */
static void
collect(struct folder_work *fw, size_t n, enum side side, struct src **sv,
    size_t *ns, struct dst **dv, size_t *nd)
{
	size_t scap = 0, dcap = 0;

	*sv = NULL;
	*dv = NULL;
	*ns = *nd = 0;
	for (size_t f = 0; f < n; f++) {
		struct folder_work *w = &fw[f];
		struct msg_lookup rix, lix;
		struct pair_lookup pl;

		if (!w->loaded || w->uidvalidity_changed)
			continue;
		msg_lookup_build(&rix, &w->ml[SIDE_REMOTE], true);
		msg_lookup_build(&lix, &w->ml[SIDE_LOCAL], false);
		pair_lookup_build(&pl, &w->pairs, false);
		for (size_t i = 0; i < w->pairs.n; i++) {
			const struct state_pair *p = &w->pairs.v[i];
			long r, l, here, there;

			if (p->uid == 0 || p->name == NULL)
				continue;
			r = msg_lookup_uid(&rix, p->uid);
			l = msg_lookup_name(&lix, p->name);
			here = side == SIDE_REMOTE ? r : l;
			there = side == SIDE_REMOTE ? l : r;
			if (here >= 0 || there < 0)
				continue;
			xgrow(sv, &scap, *ns + 1, sizeof(**sv));
			(*sv)[(*ns)++] = (struct src){ f, i, (size_t)there,
				-1, 0 };
		}
		for (size_t i = 0; i < w->ml[side].n; i++) {
			const struct msg *m = &w->ml[side].v[i];

			if (side == SIDE_REMOTE ? pair_lookup_uid(&pl, m->uid) :
			    pair_lookup_name(&pl, m->name))
				continue;
			xgrow(dv, &dcap, *nd + 1, sizeof(**dv));
			(*dv)[(*nd)++] = (struct dst){ f, i, 0, 0 };
		}
		msg_lookup_free(&rix);
		msg_lookup_free(&lix);
		pair_lookup_free(&pl);
	}
}

bool
moves_possible(const struct folder_work *fw, bool any_pairs)
{
	struct msg_lookup rix, lix;
	struct pair_lookup pl;
	bool found = false;

	if (!fw->loaded || fw->uidvalidity_changed)
		return false;
	msg_lookup_build(&rix, &fw->ml[SIDE_REMOTE], true);
	msg_lookup_build(&lix, &fw->ml[SIDE_LOCAL], false);
	pair_lookup_build(&pl, &fw->pairs, false);
	for (size_t i = 0; i < fw->pairs.n && !found; i++) {
		const struct state_pair *p = &fw->pairs.v[i];

		found = p->uid != 0 && p->name != NULL &&
		    (msg_lookup_uid(&rix, p->uid) < 0) !=
		    (msg_lookup_name(&lix, p->name) < 0);
	}
	for (size_t i = 0; any_pairs && i < fw->ml[SIDE_REMOTE].n && !found;
	    i++)
		found = !pair_lookup_uid(&pl, fw->ml[SIDE_REMOTE].v[i].uid);
	for (size_t i = 0; any_pairs && i < fw->ml[SIDE_LOCAL].n && !found;
	    i++)
		found = !pair_lookup_name(&pl, fw->ml[SIDE_LOCAL].v[i].name);
	msg_lookup_free(&rix);
	msg_lookup_free(&lix);
	pair_lookup_free(&pl);
	return found;
}

/* Load Message-ID and size of the arrivals (only when something left). */
static int
load_dst_details(struct moves_ctx *mc, struct folder_work *fw, size_t n,
    enum side side, const struct dst *dv, size_t nd, struct err *e)
{
	struct store *st = mc->store[side];

	for (size_t f = 0; f < n; f++) {
		struct msg **todo = xcalloc(nd + 1, sizeof(*todo));
		size_t k = 0;
		int rc = 0;

		for (size_t i = 0; i < nd; i++) {
			struct msg *m = &fw[dv[i].f].ml[side].v[dv[i].msg];

			if (dv[i].f == f && !m->has_details)
				todo[k++] = m;
		}
		if (k > 0 && (st->ops->select(st, fw[f].name, NULL, e) < 0 ||
		    st->ops->details(st, todo, k, e) < 0))
			rc = -1;
		free(todo);
		if (rc < 0)
			return err_prefix(e, "folder %s", fw[f].name);
	}
	return 0;
}

/* The wire size of a message's normalised content, counted as it is
 * read (a large file in pieces). */
struct norm_size {
	uint64_t size;
	bool after_cr;
};

static void
count_wire(void *arg, const char *p, size_t n)
{
	struct norm_size *ns = arg;

	ns->size += wire_size_piece(p, n, &ns->after_cr);
}

static int
norm_size_of(struct store *st, struct msg *m, uint64_t *out, struct err *e)
{
	struct norm_size ns = { 0 };
	struct msgnorm nm;

	msgnorm_init(&nm, count_wire, &ns);
	if (store_fetch_norm(st, m, &nm, NULL, e) < 0)
		return -1;
	*out = ns.size;
	return 0;
}

/*
 * For local arrivals that share a Message-ID with a message that left
 * another folder but differ in size: the size without client-added headers
 * (reads those files only).
 */
static int
load_norm_sizes(struct moves_ctx *mc, struct folder_work *fw,
    const struct src *sv, size_t ns, struct dst *dv, size_t nd,
    struct err *e)
{
	struct store *st = mc->store[SIDE_LOCAL];
	const char *sel = NULL;
	int rc = 0;

	for (size_t j = 0; j < nd && rc == 0; j++) {
		struct msg *m = &fw[dv[j].f].ml[SIDE_LOCAL].v[dv[j].msg];
		bool candidate = false;

		for (size_t i = 0; i < ns && !candidate; i++) {
			const struct state_pair *p =
			    &fw[sv[i].f].pairs.v[sv[i].pair];

			candidate = sv[i].f != dv[j].f && same_id(p, m) &&
			    p->size != m->size;
		}
		if (!candidate)
			continue;
		if (sel != fw[dv[j].f].name) {
			if ((rc = st->ops->select(st, fw[dv[j].f].name, NULL,
			    e)) < 0)
				break;
			sel = fw[dv[j].f].name;
		}
		if ((rc = norm_size_of(st, m, &dv[j].norm_size, e)) < 0)
			break;
	}
	return rc;
}

/*
 * Pair sources with arrivals: the same unique name (a file moved with mv
 * or by a mail reader's rename), else the same Message-ID and size where
 * that identity is unique on both ends.
 */
static void
match(struct folder_work *fw, enum side side, struct src *sv, size_t ns,
    struct dst *dv, size_t nd)
{
	long *taken = xcalloc(nd + 1, sizeof(*taken));

	for (size_t i = 0; i < ns; i++) {
		const struct state_pair *p = &fw[sv[i].f].pairs.v[sv[i].pair];
		long by_name = -1, by_id = -1;
		int nid = 0;

		for (size_t j = 0; j < nd; j++) {
			const struct msg *m = &fw[dv[j].f].ml[side].v[dv[j].msg];

			if (dv[j].f == sv[i].f)
				continue;
			if (side == SIDE_LOCAL && strcmp(m->name, p->name) == 0)
				by_name = (long)j;
			if (same_identity(p, m, &dv[j])) {
				by_id = (long)j;
				nid++;
				dv[j].keys++;
			}
		}
		sv[i].keys = nid;
		sv[i].dst = by_name >= 0 ? by_name : nid == 1 ? by_id : -1;
	}
	/* an arrival claimed twice, or sharing its identity, is ambiguous */
	for (size_t i = 0; i < ns; i++)
		if (sv[i].dst >= 0)
			taken[sv[i].dst]++;
	for (size_t i = 0; i < ns; i++) {
		const struct msg *m;
		bool by_name;

		if (sv[i].dst < 0)
			continue;
		m = &fw[dv[sv[i].dst].f].ml[side].v[dv[sv[i].dst].msg];
		by_name = side == SIDE_LOCAL &&
		    strcmp(m->name, fw[sv[i].f].pairs.v[sv[i].pair].name) == 0;
		if (taken[sv[i].dst] > 1 ||
		    (!by_name && dv[sv[i].dst].keys > 1))
			sv[i].dst = -1;
	}
	free(taken);
}

static void
say_move(struct moves_ctx *mc, struct folder_work *fw, const struct src *s,
    const struct dst *d, enum side acted)
{
	const struct state_pair *p = &fw[s->f].pairs.v[s->pair];
	char line[600];

	if (acted == SIDE_REMOTE)
		snprintf(line, sizeof(line), "move remote uid %u %s -> %s "
		    "(moved on local)", p->uid, fw[s->f].name, fw[d->f].name);
	else
		snprintf(line, sizeof(line), "move local %s %s -> %s "
		    "(moved on remote)", p->name, fw[s->f].name,
		    fw[d->f].name);
	if (mc->dry_run)
		printf("%s %s: %s\n", mc->channel, fw[s->f].name, line);
	else
		log_msg(LOG_VERBOSE, "%s %s: %s", mc->channel, fw[s->f].name,
		    line);
}

static void
note(struct moves_ctx *mc, const char *folder, const struct err *e)
{
	strv_add_owned(&mc->stats->errors, xasprintf("channel %s, folder %s: "
	    "move: %s", mc->channel, folder, e->msg));
	mc->stats->move_errors++;
}

/*
 * Carry out the moves from folder a to folder b on side `acted` (the other
 * side moved them already): journal an intent per message in b, move, then
 * record the pairs in b and drop them from a.
 */
static int
move_batch(struct moves_ctx *mc, struct folder_work *fw, size_t a, size_t b,
    enum side acted, const struct src *sv, const size_t *idx, size_t k,
    const struct dst *dv, struct err *e)
{
	enum side seen = SIDE_OTHER(acted);
	struct store *st = mc->store[acted];
	struct state_intent *its = xcalloc(k, sizeof(*its));
	struct msg **msgs = xcalloc(k, sizeof(*msgs));
	struct msg *out = xcalloc(k, sizeof(*out));
	struct folder_status bst = { 0 };
	struct err me = { 0 };
	int rc = -1, moved;

	if (acted == SIDE_REMOTE && st->ops->status(st, fw[b].name, &bst,
	    &me) < 0) {
		note(mc, fw[a].name, &me);
		rc = me.code == ERR_TEMP ? -1 : 0;
		if (rc < 0)
			*e = me;
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		const struct src *s = &sv[idx[i]];
		const struct state_pair *p = &fw[a].pairs.v[s->pair];
		const struct msg *arrived = &fw[b].ml[seen].v[dv[s->dst].msg];

		msgs[i] = &fw[a].ml[acted].v[s->other];
		its[i].size = p->size;
		its[i].msgid = p->msgid ? xstrdup(p->msgid) : NULL;
		flags_copy(&its[i].flags, &p->flags);
		if (acted == SIDE_REMOTE) {
			its[i].kind = STATE_INTENT_UPLOAD;
			its[i].name = xstrdup(arrived->name);
			its[i].uidnext = bst.uidnext;
		} else {
			its[i].kind = STATE_INTENT_DOWNLOAD;
			its[i].uid = arrived->uid;
			its[i].name = xstrdup(p->name);
		}
	}
	if (state_begin(mc->state, e) < 0)
		goto out;
	for (size_t i = 0; i < k; i++)
		if (state_intent_put(mc->state, fw[b].name, &its[i], e) < 0) {
			state_abort(mc->state);
			goto out;
		}
	if (state_commit(mc->state, e) < 0)
		goto out;

	moved = st->ops->select(st, fw[a].name, NULL, &me) == 0 &&
	    st->ops->move(st, msgs, k, fw[b].name, out, &me) == 0;
	if (!moved)
		note(mc, fw[a].name, &me);

	if (state_begin(mc->state, e) < 0)
		goto out;
	for (size_t i = 0; i < k; i++) {
		const struct src *s = &sv[idx[i]];
		const struct state_pair *p = &fw[a].pairs.v[s->pair];
		const struct msg *arrived = &fw[b].ml[seen].v[dv[s->dst].msg];
		struct state_pair np = { 0 };
		int r = 0;

		if (!moved) {
			/* refused: surely not moved; a lost connection: the
			 * intent stays for the next run to look for */
			if (me.code != ERR_TEMP)
				r = state_intent_del(mc->state, fw[b].name,
				    its[i].id, e);
		} else if (acted == SIDE_REMOTE && out[i].uid == 0) {
			/* no COPYUID: the intent finds the UID next pass */
			r = state_pair_del(mc->state, fw[a].name, p->id, e);
		} else {
			np.uid = acted == SIDE_REMOTE ? out[i].uid : arrived->uid;
			np.name = acted == SIDE_REMOTE ? arrived->name : p->name;
			np.flags = p->flags;
			np.size = p->size;
			np.msgid = p->msgid;
			if (state_pair_put(mc->state, fw[b].name, &np, e) < 0 ||
			    state_pair_del(mc->state, fw[a].name, p->id, e) < 0 ||
			    state_intent_del(mc->state, fw[b].name, its[i].id,
			    e) < 0)
				r = -1;
		}
		if (r < 0) {
			state_abort(mc->state);
			goto out;
		}
	}
	if (state_commit(mc->state, e) < 0)
		goto out;
	if (moved)
		mc->stats->moved[acted] += k;
	fw[a].reload = fw[b].reload = true;
	fw[a].relist[acted] = fw[b].relist[acted] = true;
	rc = me.code == ERR_TEMP ? (*e = me, -1) : 0;
out:
	for (size_t i = 0; i < k; i++) {
		state_intent_free(&its[i]);
		msg_free(&out[i]);
	}
	free(its);
	free(msgs);
	free(out);
	return rc;
}

/* In a dry run: take the moved messages out of the per-folder plans. */
static void
drop_from_listings(struct folder_work *fw, size_t n, enum side seen,
    const struct src *sv, size_t ns, const struct dst *dv)
{
	for (size_t i = 0; i < ns; i++) {
		struct msg *m;

		if (sv[i].dst < 0)
			continue;
		/* the pair loses the side it left: the planner forgets it
		 * or leaves it alone, never deletes */
		if (seen == SIDE_REMOTE)
			fw[sv[i].f].pairs.v[sv[i].pair].uid = 0;
		else {
			free(fw[sv[i].f].pairs.v[sv[i].pair].name);
			fw[sv[i].f].pairs.v[sv[i].pair].name = NULL;
		}
		m = &fw[dv[sv[i].dst].f].ml[seen].v[dv[sv[i].dst].msg];
		msg_free(m);	/* uid 0 and no name: dropped below */
	}
	for (size_t f = 0; f < n; f++) {
		struct msg_list *l = &fw[f].ml[seen];
		size_t k = 0;

		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].uid != 0 || l->v[i].name != NULL)
				l->v[k++] = l->v[i];
		l->n = k;
	}
}

static int
moves_side(struct moves_ctx *mc, struct folder_work *fw, size_t n,
    enum side seen, struct err *e)
{
	enum side acted = SIDE_OTHER(seen);
	struct src *sv;
	struct dst *dv;
	size_t ns, nd;
	int rc = 0;

	collect(fw, n, seen, &sv, &ns, &dv, &nd);
	if (ns == 0 || nd == 0 || !mc->may_change[acted])
		goto out;
	if (load_dst_details(mc, fw, n, seen, dv, nd, e) < 0 ||
	    (seen == SIDE_LOCAL && load_norm_sizes(mc, fw, sv, ns, dv, nd,
	    e) < 0)) {
		note(mc, "(listing)", e);
		rc = e->code == ERR_TEMP ? -1 : 0;
		goto out;
	}
	match(fw, seen, sv, ns, dv, nd);
	for (size_t i = 0; i < ns; i++)
		if (sv[i].dst >= 0)
			say_move(mc, fw, &sv[i], &dv[sv[i].dst], acted);
	if (mc->dry_run) {
		drop_from_listings(fw, n, seen, sv, ns, dv);
		goto out;
	}
	/* one batch per (from, to) folder pair */
	for (size_t i = 0; i < ns && rc == 0; i++) {
		size_t *idx, k = 0, a = sv[i].f, b;

		if (sv[i].dst < 0)
			continue;
		b = dv[sv[i].dst].f;
		idx = xcalloc(ns, sizeof(*idx));
		for (size_t j = i; j < ns; j++)
			if (sv[j].dst >= 0 && sv[j].f == a &&
			    dv[sv[j].dst].f == b) {
				idx[k++] = j;
			}
		rc = move_batch(mc, fw, a, b, acted, sv, idx, k, dv, e);
		for (size_t j = 0; j < k; j++)
			sv[idx[j]].dst = -1;
		free(idx);
	}
out:
	free(sv);
	free(dv);
	return rc;
}

int
moves_run(struct moves_ctx *mc, struct folder_work *fw, size_t n,
    struct err *e)
{
	if (moves_side(mc, fw, n, SIDE_LOCAL, e) < 0)
		return -1;
	/* the local moves may have changed listings: the remote pass looks
	 * only at folders not touched yet */
	for (size_t f = 0; f < n; f++)
		if (fw[f].reload)
			fw[f].loaded = false;
	return moves_side(mc, fw, n, SIDE_REMOTE, e);
}
