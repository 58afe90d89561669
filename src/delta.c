/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The commonest change between two runs is a flag set elsewhere (a message
 * read on a phone).  The full path for it lists the whole folder on disk,
 * loads every pair and plans every message, so its cost grows with the
 * folder; here it grows with the changes: the server names them
 * (CHANGEDSINCE), the state gives their pairs, and one stat each finds
 * their files.  Whatever this cannot vouch for goes to the full path.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "log.h"
#include "lookup.h"

static int
cmp_pair_uid(const void *a, const void *b)
{
	const struct state_pair *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The server side: what changed, if only flags did (1: not so). */
static int
remote_changes(struct store *r, struct folder_work *fw, const char **via,
    const char **why, struct err *e)
{
	struct store_changes ch;
	const struct state_folder *sf = &fw->sf;

	if (r->ops->expect_changes != NULL)
		r->ops->expect_changes(r, sf->uidvalidity, sf->highestmodseq);
	if (r->ops->select(r, fw->name, &fw->rst, e) < 0)
		return -1;
	if (fw->rst.uidvalidity != sf->uidvalidity ||
	    fw->rst.uidnext != sf->uidnext || fw->rst.exists != sf->exists ||
	    fw->rst.highestmodseq < sf->highestmodseq) {
		*why = "the folder changed since its status";
		return 1;
	}
	if (r->ops->list_changed(r, sf->highestmodseq, &ch, e) < 0)
		return -1;
	fw->ml[SIDE_REMOTE] = ch.msgs;
	free(ch.vanished);
	*why = "messages arrived or left meanwhile";
	if (ch.nvanished > 0 || ch.exists != sf->exists)
		return 1;
	for (size_t i = 0; i < ch.msgs.n; i++)
		if (ch.msgs.v[i].uid >= sf->uidnext)
			return 1;
	if (ch.msgs.n > 1)
		qsort(ch.msgs.v, ch.msgs.n, sizeof(*ch.msgs.v), msg_cmp_uid);
	*via = ch.has_vanished ? "QRESYNC" : "CONDSTORE";
	return 0;
}

/* The changed messages' pairs, one each with a file name (1: not so). */
static int
their_pairs(struct state *state, struct folder_work *fw, const char **why,
    struct err *e)
{
	const struct msg_list *rl = &fw->ml[SIDE_REMOTE];
	uint32_t *uids = xcalloc(rl->n + 1, sizeof(*uids));
	int rc;

	for (size_t i = 0; i < rl->n; i++)
		uids[i] = rl->v[i].uid;
	rc = state_pairs_with_uids(state, fw->name, uids, rl->n, &fw->pairs,
	    e);
	free(uids);
	if (rc < 0)
		return -1;
	*why = "a changed message has no pair with a file";
	if (fw->pairs.n != rl->n)
		return 1;	/* one without a pair, or with two */
	if (fw->pairs.n > 1)
		qsort(fw->pairs.v, fw->pairs.n, sizeof(*fw->pairs.v),
		    cmp_pair_uid);
	for (size_t i = 0; i < fw->pairs.n; i++)
		if (fw->pairs.v[i].uid != rl->v[i].uid ||
		    fw->pairs.v[i].name == NULL)
			return 1;
	return 0;
}

/* Their files, where their pairs' flags put them (1: one is not). */
static int
their_files(struct store *l, struct folder_work *fw, const char **why,
    struct err *e)
{
	struct msg_list *ll = &fw->ml[SIDE_LOCAL];
	bool found;

	if (l->ops->select(l, fw->name, NULL, e) < 0)
		return -1;
	xfit(&ll->v, &ll->cap, fw->pairs.n, sizeof(*ll->v));
	for (size_t i = 0; i < fw->pairs.n; i++) {
		const struct state_pair *p = &fw->pairs.v[i];

		if (l->ops->find(l, p->name, &p->flags, &ll->v[ll->n], &found,
		    e) < 0)
			return -1;
		if (!found) {
			*why = "a file is not where its flags put it";
			return 1;
		}
		ll->n++;
	}
	return 0;
}

static bool
any_deleted(const struct msg_list *ml)
{
	for (size_t i = 0; i < ml->n; i++)
		if (ml->v[i].flags.bits & FLAG_DELETED)
			return true;
	return false;
}

static int
load(struct store *st[2], struct state *state, bool dry_run,
    struct folder_work *fw, const char **via, const char **why,
    struct err *e)
{
	struct store *l = st[SIDE_LOCAL];
	struct folder_stamp sp;
	int rc;

	if (state_folder_get(state, fw->name, &fw->sf, &fw->known, e) < 0 ||
	    state_intents_load(state, fw->name, &fw->intents, e) < 0)
		return -1;
	*why = "the state changed";
	if (!fw->known || fw->intents.n > 0 || fw->sf.highestmodseq == 0)
		return 1;
	/* tracked from before the stamp, as load_folder does */
	if (!dry_run)
		l->ops->track(l, fw->name);
	if (l->ops->stamp(l, fw->name, &sp, e) < 0)
		return -1;
	*why = "the disk changed";
	if (sp.mtime[0] != fw->sf.local_mtime[0] ||
	    sp.mtime[1] != fw->sf.local_mtime[1] ||
	    sp.change != fw->sf.local_change ||
	    (sp.mtime[0] == 0 && sp.mtime[1] == 0))
		return 1;
	fw->stamp = sp;
	if ((rc = remote_changes(st[SIDE_REMOTE], fw, via, why, e)) != 0 ||
	    (rc = their_pairs(state, fw, why, e)) != 0 ||
	    (rc = their_files(l, fw, why, e)) != 0)
		return rc;
	*why = "a message is marked deleted";
	for (size_t i = 0; i < fw->pairs.n; i++)
		if (fw->pairs.v[i].flags.bits & FLAG_DELETED)
			return 1;
	if (any_deleted(&fw->ml[SIDE_REMOTE]) ||
	    any_deleted(&fw->ml[SIDE_LOCAL]))
		return 1;
	return 0;
}

int
delta_load(struct store *st[2], struct state *state, const char *channel,
    bool dry_run, struct folder_work *fw, struct err *e)
{
	const char *via = NULL, *why = NULL;
	int rc;

	if (st[SIDE_REMOTE]->ops->list_changed == NULL ||
	    st[SIDE_LOCAL]->ops->find == NULL ||
	    st[SIDE_LOCAL]->ops->stamp == NULL ||
	    st[SIDE_LOCAL]->ops->track == NULL)
		return 1;
	rc = load(st, state, dry_run, fw, &via, &why, e);
	if (rc != 0) {
		folder_work_clear(fw);
		if (rc == 1)
			log_msg(LOG_VERBOSE, "%s %s: server flags changed, but "
			    "%s: listing it", channel, fw->name, why);
		return rc;
	}
	log_msg(LOG_VERBOSE, "%s %s: only flags changed on the server since "
	    "modseq %llu (%zu changed) via %s", channel, fw->name,
	    (unsigned long long)fw->sf.highestmodseq, fw->ml[SIDE_REMOTE].n,
	    via);
	fw->loaded = true;
	fw->partial = true;
	fw->uidvalidity_changed = false;
	fw->detection = "changes";
	return 0;
}
