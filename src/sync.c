/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Synchronizing one channel: folders, listings, planning and applying. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply.h"
#include "crew.h"
#include "delta.h"
#include "log.h"
#include "lookup.h"
#include "moves.h"
#include "pattern.h"
#include "plan.h"
#include "state.h"
#include "sync.h"

/* What a folder of the run needs (sync_channel decides it first). */
struct todo {
	bool sync;
	bool server_flags;	/* FOLDER_SERVER_FLAGS */
	bool exists[2];
	bool held;		/* loaded, kept for the moves pass */
};

/*
 * One channel's run, and each of its workers: the folders of a channel
 * sync at once over as many sessions as the account's `connections`
 * leave (crew.c), each worker with stores of its own (siblings of the
 * first worker's) and the one state.  Worker 0 is the channel's own.
 */
struct chan {
	const struct cfg_channel *ch;
	const struct sync_opts *opts;
	struct sync_stats *stats;
	struct state *state;
	struct store *store[2];
	struct folder_list folders[2];
	enum err_code worst;
	struct err first;
	const char *selected[2];	/* folder each store has selected */
	bool any_pairs;		/* the state had pairs when the run began */
	size_t nsynced;		/* folders synced so far */
	/* folder records of folders where nothing happened, written
	 * together at the end (see defer_record) */
	struct later_record {
		const char *folder;
		struct state_folder rec;
		struct state_pairs pairs;	/* flag changes, before rec */
		bool written;		/* in the state already */
		bool check_local;	/* stamp the disk side if only we
					 * changed it (tracked_stamp) */
	} *later;
	size_t nlater, caplater;
	/* the run's folders, shared by the workers */
	const struct strv *names;
	struct todo *todo;
	struct folder_work *slots;	/* by name, while loading */
	struct folder_work *held;	/* the moves pass's, then synced */
	bool lost;		/* the connection was lost: stop */
	bool siblings;		/* the stores are this worker's own */
	bool opened, dead;	/* siblings: open, or could not be */
};

static const char *const side_name[2] = { "server", "disk" };

void
sync_tick(struct sync_stats *st)
{
	if (st->tick != NULL)
		st->tick(st, st->tick_arg);
}

void
sync_stats_free(struct sync_stats *st)
{
	for (size_t i = 0; i < st->nper_folder; i++)
		free(st->per_folder[i].name);
	free(st->per_folder);
	st->per_folder = NULL;
	st->nper_folder = st->cap_per_folder = 0;
	strv_free(&st->errors);
}

static struct folder_report *
report_folder(struct sync_stats *st, const char *name, const char *detection)
{
	struct folder_report *r;

	xgrow(&st->per_folder, &st->cap_per_folder, st->nper_folder + 1,
	    sizeof(*st->per_folder));
	r = &st->per_folder[st->nper_folder++];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->detection = detection;
	return r;
}

static void
chan_fail(struct chan *c, const char *folder, const struct err *e)
{
	c->worst = err_worst(c->worst, e->code);
	if (c->first.code == ERR_OK)
		c->first = *e;
	if (folder != NULL) {
		c->stats->failed_folders++;
		strv_add_owned(&c->stats->errors, xasprintf(
		    "channel %s, folder %s: %s", c->ch->name, folder, e->msg));
	} else {
		strv_add_owned(&c->stats->errors, xasprintf("channel %s: %s",
		    c->ch->name, e->msg));
	}
}

bool
sync_folder_selected(const struct cfg_channel *ch, const struct strv *only,
    const char *name)
{
	if (only != NULL && only->n > 0 && !strv_contains(only, name))
		return false;
	return pattern_list_match(&ch->folders, name);
}

static int
ensure_selected(struct chan *c, enum side side, struct folder_work *fw,
    struct err *e)
{
	struct folder_status st;

	if (c->selected[side] == fw->name)
		return 0;
	c->selected[side] = NULL;
	if (c->store[side]->ops->select(c->store[side], fw->name, &st, e) < 0)
		return -1;
	c->selected[side] = fw->name;
	return 0;
}

static int
load_details(struct chan *c, struct folder_work *fw, struct err *e)
{
	struct msg_list *ml[2] = { &fw->ml[0], &fw->ml[1] };
	bool uids_stale = fw->uidvalidity_changed;
	struct pair_lookup pi;
	struct msg **todo[2];
	size_t n[2] = { 0, 0 };
	int rc = 0;

	pair_lookup_build(&pi, &fw->pairs, uids_stale);
	for (int s = 0; s < 2; s++)
		todo[s] = xcalloc(ml[s]->n + 1, sizeof(*todo[s]));
	for (size_t i = 0; i < ml[SIDE_LOCAL]->n; i++) {
		struct msg *m = &ml[SIDE_LOCAL]->v[i];

		if (!m->has_details && !pair_lookup_name(&pi, m->name))
			todo[SIDE_LOCAL][n[SIDE_LOCAL]++] = m;
	}
	/* unpaired server messages always: the listing has no sizes or
	 * dates, which copying (max-size, max-age, the journal) needs */
	for (size_t i = 0; i < ml[SIDE_REMOTE]->n; i++) {
		struct msg *m = &ml[SIDE_REMOTE]->v[i];

		if (!m->has_details && !pair_lookup_uid(&pi, m->uid))
			todo[SIDE_REMOTE][n[SIDE_REMOTE]++] = m;
	}
	for (int s = 0; s < 2 && rc == 0; s++)
		if (n[s] > 0 && (rc = ensure_selected(c, (enum side)s, fw,
		    e)) == 0)
			rc = c->store[s]->ops->details(c->store[s], todo[s],
			    n[s], e);
	for (int s = 0; s < 2; s++)
		free(todo[s]);
	pair_lookup_free(&pi);
	return rc;
}

static int
effective_direction(const struct chan *c)
{
	int dir = c->ch->direction;

	if (c->opts->pull_only && dir == CFG_DIR_PUSH)
		return -1;	/* nothing may flow */
	if (c->opts->push_only && dir == CFG_DIR_PULL)
		return -1;
	if (c->opts->pull_only)
		return CFG_DIR_PULL;
	if (c->opts->push_only)
		return CFG_DIR_PUSH;
	return dir;
}

static void
plan_options(const struct chan *c, struct plan_opts *po)
{
	int dir = effective_direction(c);

	memset(po, 0, sizeof(*po));
	po->direction = dir < 0 ? CFG_DIR_BOTH : dir;
	po->propagate = dir < 0 ? 0 : c->ch->propagate;
	po->expunge = c->ch->expunge;
	po->max_size = c->ch->max_size;
	if (c->ch->max_age > 0)
		po->min_date = (int64_t)time(NULL) -
		    (int64_t)c->ch->max_age * 86400;
	po->delete_limit = c->ch->delete_limit;
	po->force = c->opts->force;
}

/* What the status and the stamp tell of a folder before it is loaded. */
enum folder_news {
	FOLDER_CHANGED,		/* list it */
	FOLDER_UNCHANGED,	/* skip it */
	FOLDER_SERVER_FLAGS,	/* only flags changed, on the server */
};

/*
 * Whether the server's flag changes reach the disk in this run (not with
 * --push, direction push or flags not propagated): only then may they be
 * taken from the changes alone (list_changes, delta_load).
 */
static bool
server_flags_flow(const struct chan *c)
{
	int dir = effective_direction(c);

	return (c->ch->propagate & CFG_PROP_FLAGS) &&
	    (dir == CFG_DIR_BOTH || dir == CFG_DIR_PULL);
}

/*
 * A folder neither side touched since the last run is not even selected
 * (tiered change detection): the server's STATUS (UIDVALIDITY, UIDNEXT,
 * message count and, with CONDSTORE, HIGHESTMODSEQ, which moves on every
 * flag change) and the Maildir stamp equal what the last clean run
 * recorded, and no copy is left unfinished.  Without CONDSTORE a flag
 * change would be invisible, so such servers always get the full listing.
 * Where only HIGHESTMODSEQ moved, nothing arrived or left on the server
 * and only flags changed there (FOLDER_SERVER_FLAGS).
 */
static enum folder_news
folder_news(struct chan *c, struct folder_work *fw)
{
	struct store *r = c->store[SIDE_REMOTE], *l = c->store[SIDE_LOCAL];
	struct state_intents its = { 0 };
	struct folder_status st;
	struct folder_stamp sp;
	struct state_folder sf;
	bool known = false, same;
	struct err e = { 0 };

	if (!fw->exists[SIDE_REMOTE] || !fw->exists[SIDE_LOCAL] ||
	    r->ops->status == NULL || l->ops->stamp == NULL ||
	    state_folder_get(c->state, fw->name, &sf, &known, &e) < 0 ||
	    !known || sf.highestmodseq == 0 || sf.uidnext == 0 ||
	    (sf.local_mtime[0] == 0 && sf.local_mtime[1] == 0))
		return FOLDER_CHANGED;
	if (state_intents_load(c->state, fw->name, &its, &e) < 0 || its.n > 0) {
		state_intents_free(&its);
		return FOLDER_CHANGED;
	}
	if (l->ops->stamp(l, fw->name, &sp, &e) < 0 ||
	    sp.mtime[0] != sf.local_mtime[0] ||
	    sp.mtime[1] != sf.local_mtime[1] || sp.change != sf.local_change)
		return FOLDER_CHANGED;
	/* the server last: its answer is the freshest */
	if (r->ops->status(r, fw->name, &st, &e) < 0)
		return FOLDER_CHANGED;
	same = st.uidvalidity == sf.uidvalidity && st.uidnext == sf.uidnext &&
	    st.exists == sf.exists;
	if (same && st.highestmodseq == sf.highestmodseq) {
		log_msg(LOG_VERBOSE, "%s %s: unchanged on both sides (skipped)",
		    c->ch->name, fw->name);
		return FOLDER_UNCHANGED;
	}
	return same && st.highestmodseq > sf.highestmodseq &&
	    server_flags_flow(c) ?
	    FOLDER_SERVER_FLAGS : FOLDER_CHANGED;
}

/*
 * The record that lets the next run skip the folder or list only what
 * changed, or say "list it" (zeros) when a stamp is too recent to trust: a
 * file system stores coarse timestamps, so a change within the same tick
 * as our listing could leave the mtime as it was.  The disk side is
 * recorded only when this run did not change it.  The server side is
 * recorded as it was before this run changed it: the next run then finds
 * our own changes among those since that HIGHESTMODSEQ (cheap, and they
 * match the pairs) instead of listing the whole folder.
 */
static void
folder_record(const struct chan *c, const struct folder_work *fw,
    const size_t changed[2], bool failed, struct state_folder *nf)
{
	struct timespec now;
	int64_t now_ns;

	memset(nf, 0, sizeof(*nf));
	nf->uidvalidity = fw->rst.uidvalidity;
	nf->remote_unpaired = UINT32_MAX;
	/* --push leaves the server's changes for a later run, --pull the
	 * disk's: that side must not look consumed */
	if (!failed && !c->opts->push_only) {
		nf->uidnext = fw->rst.uidnext;
		nf->highestmodseq = fw->rst.highestmodseq;
		nf->exists = fw->rst.exists;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (changed[SIDE_LOCAL] == 0 && !failed && !c->opts->pull_only &&
	    fw->stamp.mtime[0] < now_ns - 2000000000LL &&
	    fw->stamp.mtime[1] < now_ns - 2000000000LL) {
		nf->local_mtime[0] = fw->stamp.mtime[0];
		nf->local_mtime[1] = fw->stamp.mtime[1];
		nf->local_change = fw->stamp.change;
	}
}

/*
 * How far the server's messages differ from the pairs after this run:
 * messages without a pair plus pairs whose UID the server lacks.  Only 0
 * lets the next run rebuild the listing from the pairs (list_changes).
 * The listing is from before this run's own changes, so the server is
 * expected to hold the listed UIDs less those the plan deleted there, plus
 * the UIDs from UIDNEXT on that the pairs gained (this run's uploads).
 */
static uint32_t
remote_unpaired(struct chan *c, const struct folder_work *fw,
    const struct plan *plan)
{
	const struct msg_list *ml = &fw->ml[SIDE_REMOTE];
	struct msg_lookup listed;
	struct err e = { 0 };
	uint32_t *gone, *paired;
	size_t ngone = 0, npaired, n = 0;

	if (!fw->exists[SIDE_REMOTE] ||
	    state_pair_uids(c->state, fw->name, &paired, &npaired, &e) < 0)
		return UINT32_MAX;
	if (npaired > 1)
		qsort(paired, npaired, sizeof(*paired), u32_cmp);
	gone = xcalloc(plan->n + 1, sizeof(*gone));
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].kind == PLAN_DELETE &&
		    plan->v[i].side == SIDE_REMOTE &&
		    plan->v[i].idx[SIDE_REMOTE] != PLAN_NONE)
			gone[ngone++] =
			    ml->v[plan->v[i].idx[SIDE_REMOTE]].uid;
	qsort(gone, ngone, sizeof(*gone), u32_cmp);
	msg_lookup_build(&listed, ml, true);
	for (size_t i = 0; i < ml->n; i++)
		if (bsearch(&ml->v[i].uid, paired, npaired, sizeof(*paired),
		    u32_cmp) == NULL &&
		    bsearch(&ml->v[i].uid, gone, ngone, sizeof(*gone),
		    u32_cmp) == NULL)
			n++;	/* on the server without a pair */
	for (size_t i = 0; i < npaired; i++)
		if (paired[i] < fw->rst.uidnext &&
		    (msg_lookup_uid(&listed, paired[i]) < 0 ||
		    bsearch(&paired[i], gone, ngone, sizeof(*gone),
		    u32_cmp) != NULL))
			n++;	/* a pair the server lacks */
	msg_lookup_free(&listed);
	free(paired);
	free(gone);
	return n >= UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Whether carrying out the plan touches the server. */
static bool
needs_remote(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == PLAN_COPY || ((p->v[i].kind == PLAN_FLAGS ||
		    p->v[i].kind == PLAN_DELETE) && p->v[i].side == SIDE_REMOTE))
			return true;
	return false;
}

/*
 * Whether the server's listing may be rebuilt from the pairs plus what
 * changed since the recorded HIGHESTMODSEQ.  That needs pairs holding the
 * server's flags (a clean run that changed nothing on the server, flags
 * propagated towards the disk or both ways, no unfinished copy, no pair
 * kept only on the server) and a server that held exactly the paired
 * UIDs then.  When in doubt: the full listing.  changes_wanted tells it
 * from the state, before the folder is selected; changes_usable with the
 * folder's status too.
 */
static bool
changes_wanted(struct chan *c, const struct folder_work *fw, bool again)
{
	const struct store_ops *o = c->store[SIDE_REMOTE]->ops;

	if (again || o->list_changed == NULL || o->uids == NULL || !fw->known ||
	    fw->sf.uidvalidity == 0 || fw->sf.highestmodseq == 0 ||
	    fw->sf.uidnext == 0 || fw->sf.remote_unpaired != 0 ||
	    fw->intents.n > 0 || !server_flags_flow(c))
		return false;
	for (size_t i = 0; i < fw->pairs.n; i++)
		if (fw->pairs.v[i].uid != 0 && fw->pairs.v[i].name == NULL)
			return false;
	return true;
}

static bool
changes_usable(struct chan *c, const struct folder_work *fw, bool again)
{
	return changes_wanted(c, fw, again) &&
	    fw->sf.uidvalidity == fw->rst.uidvalidity &&
	    fw->rst.highestmodseq != 0 &&
	    fw->rst.highestmodseq >= fw->sf.highestmodseq;
}

/*
 * The server's listing from the pairs and what changed since the recorded
 * modseq (RFC 7162): every paired UID with its recorded flags, overridden
 * by what changed since (which includes every new message).  Expunges:
 * with QRESYNC the server names them (VANISHED), so nothing more is asked;
 * with CONDSTORE alone each one leaves the rebuilt listing one larger than
 * EXISTS, since the server held exactly the paired UIDs, and only then
 * UID SEARCH tells which (as it does for QRESYNC should the count still
 * differ).  1: could not be done safely, list in full instead.
 */
static int
list_changes(struct chan *c, struct folder_work *fw, struct err *e)
{
	struct store *r = c->store[SIDE_REMOTE];
	struct msg_list *ml = &fw->ml[SIDE_REMOTE];
	struct store_changes ch;
	struct msg_lookup cl;
	uint32_t *uids = NULL;
	size_t nuids = 0, nchanged, nvanished = 0, k;
	int rc = 1;

	if (r->ops->list_changed(r, fw->sf.highestmodseq, &ch, e) < 0)
		return -1;
	nchanged = ch.msgs.n;
	xfit(&ml->v, &ml->cap, ml->n + fw->pairs.n + ch.msgs.n,
	    sizeof(*ml->v));
	msg_lookup_build(&cl, &ch.msgs, true);
	for (size_t i = 0; i < fw->pairs.n; i++) {
		const struct state_pair *p = &fw->pairs.v[i];
		struct msg *m;

		if (p->uid == 0 || msg_lookup_uid(&cl, p->uid) >= 0)
			continue;
		if (uid_ranges_have(ch.vanished, ch.nvanished, p->uid)) {
			nvanished++;
			continue;
		}
		xgrow(&ml->v, &ml->cap, ml->n + 1, sizeof(*ml->v));
		m = &ml->v[ml->n++];
		memset(m, 0, sizeof(*m));
		m->uid = p->uid;
		flags_copy(&m->flags, &p->flags);
	}
	msg_lookup_free(&cl);
	/* a message may change and vanish within the one command */
	for (size_t i = 0; i < ch.msgs.n; i++) {
		if (uid_ranges_have(ch.vanished, ch.nvanished,
		    ch.msgs.v[i].uid)) {
			msg_free(&ch.msgs.v[i]);
			nvanished++;
			continue;
		}
		xgrow(&ml->v, &ml->cap, ml->n + 1, sizeof(*ml->v));
		ml->v[ml->n++] = ch.msgs.v[i];
	}
	ch.msgs.n = 0;
	msg_list_free(&ch.msgs);
	free(ch.vanished);
	if (ml->n > 1)
		qsort(ml->v, ml->n, sizeof(*ml->v), msg_cmp_uid);
	for (size_t i = 1; i < ml->n; i++)
		if (ml->v[i].uid == ml->v[i - 1].uid)
			goto full;	/* a UID paired twice */
	if (ml->n != ch.exists) {
		if (r->ops->uids(r, &uids, &nuids, e) < 0)
			return -1;
		k = 0;
		for (size_t i = 0; i < ml->n; i++) {
			if (nuids == 0 || bsearch(&ml->v[i].uid, uids, nuids,
			    sizeof(*uids), u32_cmp) == NULL)
				msg_free(&ml->v[i]);
			else
				ml->v[k++] = ml->v[i];
		}
		ml->n = k;
		/* more on the server than paired or changed: a message
		 * arrived meanwhile */
		if (ml->n != nuids)
			goto full;
	}
	if (ch.has_vanished)
		log_msg(LOG_VERBOSE, "%s %s: changes since modseq %llu (%zu "
		    "changed, %zu vanished) via QRESYNC", c->ch->name,
		    fw->name, (unsigned long long)fw->sf.highestmodseq,
		    nchanged, nvanished);
	else
		log_msg(LOG_VERBOSE, "%s %s: changes since modseq %llu (%zu "
		    "changed) via CONDSTORE", c->ch->name, fw->name,
		    (unsigned long long)fw->sf.highestmodseq, nchanged);
	rc = 0;
full:
	free(uids);
	if (rc == 1) {
		msg_list_free(ml);
		memset(ml, 0, sizeof(*ml));
	}
	return rc;
}

/*
 * A run killed while the server stored what it had sent (a whole APPEND
 * of up to 256 messages, or a MOVE) leaves upload intents, which find
 * those messages on the server only once they are there: the server goes
 * on storing after the connection died.  A run started right away could
 * list the folder first and send them again.  So a folder with upload
 * intents waits until its message count has held still for a second (at
 * most 10 s) before it is listed.
 */
static int
settle_uploads(struct chan *c, struct folder_work *fw, struct err *e)
{
	struct store *r = c->store[SIDE_REMOTE];
	bool pending = false;

	for (size_t i = 0; i < fw->intents.n; i++)
		if (fw->intents.v[i].kind == STATE_INTENT_UPLOAD)
			pending = true;
	if (!pending || c->opts->dry_run)
		return 0;
	log_msg(LOG_VERBOSE, "%s %s: copies of a stopped run are pending; "
	    "waiting for the server to settle", c->ch->name, fw->name);
	for (int i = 0; i < 10; i++) {
		struct timespec second = { 1, 0 };
		uint32_t before = fw->rst.exists;

		nanosleep(&second, NULL);
		/* the same folder again: a NOOP, which reports EXISTS */
		if (r->ops->select(r, fw->name, &fw->rst, e) < 0)
			return -1;
		if (fw->rst.exists == before)
			break;
	}
	return 0;
}

/*
 * What load_folder will read again for a folder the moves changed (its
 * pairs and intents, a side to list again) is let go as soon as the moves
 * are done: otherwise the folders synced before it hold it meanwhile, and
 * 500 moves between two folders peaked there.
 */
static void
drop_stale(struct folder_work *fw)
{
	if (!fw->reload)
		return;
	state_pairs_free(&fw->pairs);
	state_intents_free(&fw->intents);
	for (int s = 0; s < 2; s++)
		if (fw->relist[s])
			msg_list_free(&fw->ml[s]);
}

/* Select and list both sides of a folder and load its state. */
static int
load_folder(struct chan *c, struct folder_work *fw, struct err *e)
{
	bool again = fw->reload, keep[2];
	struct msg_list kept[2] = { { 0 } };

	/* After moves, the side they did not act on is unchanged by them:
	 * its listing (and status, and stamp) stays; only the pairs are new.
	 * A server-side move pass then costs no second server listing. */
	for (int s = 0; s < 2; s++) {
		keep[s] = again && !fw->relist[s];
		if (keep[s]) {
			kept[s] = fw->ml[s];
			memset(&fw->ml[s], 0, sizeof(fw->ml[s]));
		}
		fw->relist[s] = false;
	}
	folder_work_clear(fw);
	fw->ml[0] = kept[0];
	fw->ml[1] = kept[1];
	fw->reload = false;
	if (!keep[SIDE_REMOTE])
		memset(&fw->rst, 0, sizeof(fw->rst));
	if (!keep[SIDE_LOCAL])
		memset(&fw->stamp, 0, sizeof(fw->stamp));
	/* stamped before listing: a change during the listing then shows
	 * as a different stamp next time, never as a missed change; and
	 * tracked from before the stamp (see defer_record) */
	if (fw->exists[SIDE_LOCAL] && !keep[SIDE_LOCAL] &&
	    c->store[SIDE_LOCAL]->ops->track && !c->opts->dry_run)
		c->store[SIDE_LOCAL]->ops->track(c->store[SIDE_LOCAL],
		    fw->name);
	if (fw->exists[SIDE_LOCAL] && !keep[SIDE_LOCAL] &&
	    c->store[SIDE_LOCAL]->ops->stamp &&
	    c->store[SIDE_LOCAL]->ops->stamp(c->store[SIDE_LOCAL], fw->name,
	    &fw->stamp, e) < 0)
		return -1;
	if (state_folder_get(c->state, fw->name, &fw->sf, &fw->known, e) < 0 ||
	    state_pairs_load(c->state, fw->name, &fw->pairs, e) < 0 ||
	    state_intents_load(c->state, fw->name, &fw->intents, e) < 0)
		return -1;
	for (int s = 0; s < 2; s++) {
		struct store *st = c->store[s];
		int rc = 1;

		if (keep[s])
			continue;
		if (!fw->exists[s])
			continue;	/* dry run: would be created */
		c->selected[s] = NULL;
		/* one round trip for the SELECT and the changes, where the
		 * server can (QRESYNC) */
		if (s == SIDE_REMOTE && st->ops->expect_changes != NULL &&
		    changes_wanted(c, fw, again))
			st->ops->expect_changes(st, fw->sf.uidvalidity,
			    fw->sf.highestmodseq);
		if (st->ops->select(st, fw->name, s == SIDE_REMOTE ? &fw->rst :
		    NULL, e) < 0 ||
		    (s == SIDE_REMOTE && settle_uploads(c, fw, e) < 0))
			return -1;
		if (s == SIDE_REMOTE && changes_usable(c, fw, again) &&
		    (rc = list_changes(c, fw, e)) < 0)
			return -1;
		if (s == SIDE_REMOTE)
			fw->detection = rc == 1 ? "full" : "changes";
		if (rc == 1 && s == SIDE_REMOTE)
			log_msg(LOG_VERBOSE, "%s %s: full listing",
			    c->ch->name, fw->name);
		if (rc == 1 && st->ops->list(st, &fw->ml[s], e) < 0)
			return -1;
		c->selected[s] = fw->name;
	}
	if (fw->exists[SIDE_REMOTE] && fw->rst.uidvalidity == 0)
		return err_set(e, ERR_FAIL, "server reports no valid "
		    "UIDVALIDITY");
	fw->uidvalidity_changed = fw->known && fw->sf.uidvalidity != 0 &&
	    fw->exists[SIDE_REMOTE] && fw->sf.uidvalidity != fw->rst.uidvalidity;
	fw->loaded = true;
	return 0;
}

static void
report_refusals(struct chan *c, const char *folder, const struct plan *plan,
    const struct plan_input *in)
{
	struct err e = { 0 };

	for (int s = 0; s < 2; s++) {
		if (plan->refused[s] == 0)
			continue;
		c->stats->refused[s] += plan->refused[s];
		err_set(&e, ERR_SAFETY, "refusing to delete %zu of %zu messages "
		    "on %s (delete-limit %g%%); rerun with --force if this is "
		    "meant", plan->refused[s], in->nmsgs[s], side_name[s],
		    c->ch->delete_limit);
		chan_fail(c, folder, &e);
		c->stats->failed_folders--;	/* refused, not failed */
	}
}

static bool
same_record(const struct state_folder *a, const struct state_folder *b)
{
	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	    a->highestmodseq == b->highestmodseq && a->exists == b->exists &&
	    a->local_mtime[0] == b->local_mtime[0] &&
	    a->local_mtime[1] == b->local_mtime[1] &&
	    a->local_change == b->local_change &&
	    a->remote_unpaired == b->remote_unpaired;
}

/*
 * A folder record written at the end of the channel, in one transaction
 * with the others, after every pair this run wrote: a record lost to a
 * crash leaves the one before it, whose UIDNEXT and HIGHESTMODSEQ are
 * older than the pairs, so the next run finds this run's changes again
 * (they match the pairs) or lists the folder; it costs a listing, never
 * a message.  Eight folders cost about 70 fsyncs otherwise (Tokyo
 * Cabinet's commits); an unchanged record is not written at all.  And a
 * folder whose disk side this run changed, or listed too recently to
 * trust, gets its disk stamp then if every change there was our own (see
 * maildir_track.c): the next run can skip it instead of listing it.
 */
static void
defer_record(struct chan *c, const struct folder_work *fw,
    const struct state_folder *nf, bool written, bool check_local,
    struct state_pairs *pairs)
{
	struct later_record *lr;

	if (!written && !check_local && same_record(nf, &fw->sf) &&
	    pairs->n == 0)
		return;
	xgrow(&c->later, &c->caplater, c->nlater + 1, sizeof(*c->later));
	lr = &c->later[c->nlater++];
	lr->folder = fw->name;
	lr->rec = *nf;
	lr->pairs = *pairs;
	memset(pairs, 0, sizeof(*pairs));
	lr->written = written;
	lr->check_local = check_local;
}

/* Whether the disk side may be stamped at the end (defer_record). */
static bool
may_check_local(const struct chan *c, const struct folder_work *fw,
    const struct state_folder *nf, bool failed)
{
	return !failed && !c->opts->pull_only && fw->exists[SIDE_LOCAL] &&
	    nf->local_mtime[0] == 0 &&
	    nf->local_mtime[1] == 0 &&
	    c->store[SIDE_LOCAL]->ops->tracked_stamp != NULL;
}

static void
stamp_if_own(struct chan *c, struct later_record *lr)
{
	struct store *l = c->store[SIDE_LOCAL];
	struct folder_stamp sp;
	struct err e = { 0 };
	bool own = false;

	if (l->ops->tracked_stamp(l, lr->folder, &sp, &own, &e) < 0 || !own)
		return;
	lr->rec.local_mtime[0] = sp.mtime[0];
	lr->rec.local_mtime[1] = sp.mtime[1];
	lr->rec.local_change = sp.change;
	lr->written = false;
	log_msg(LOG_VERBOSE, "%s %s: only our own changes on disk (stamped)",
	    c->ch->name, lr->folder);
}

static int
flush_records(struct chan *c, struct err *e)
{
	bool any = false;
	int rc = 0;

	for (size_t i = 0; i < c->nlater; i++) {
		if (c->later[i].check_local && !c->opts->dry_run)
			stamp_if_own(c, &c->later[i]);
		any = any || !c->later[i].written || c->later[i].pairs.n > 0;
	}
	if (any && (rc = state_begin(c->state, e)) == 0) {
		for (size_t i = 0; i < c->nlater && rc == 0; i++) {
			struct later_record *lr = &c->later[i];

			for (size_t k = 0; k < lr->pairs.n && rc == 0; k++)
				rc = state_pair_flags(c->state, lr->folder,
				    lr->pairs.v[k].id, &lr->pairs.v[k].flags,
				    e);
			if (rc == 0 && !lr->written)
				rc = state_folder_put(c->state, lr->folder,
				    &lr->rec, e);
		}
		if (rc == 0)
			rc = state_commit(c->state, e);
		else
			state_abort(c->state);
	}
	for (size_t i = 0; i < c->nlater; i++)
		state_pairs_free(&c->later[i].pairs);
	free(c->later);
	c->later = NULL;
	c->nlater = c->caplater = 0;
	return rc;
}

/* Plan a listed folder and carry the plan out (or print it). */
static int
sync_folder(struct chan *c, struct folder_work *fw, struct err *e)
{
	const char *folder = fw->name;
	struct msg_list *ml[2] = { &fw->ml[0], &fw->ml[1] };
	struct plan_input in;
	struct plan plan = { 0 };
	int rc = -1;

	/* Listings stay valid (UIDs and unique names are stable), but the
	 * stores act on their selected folder: select again only where this
	 * folder is not the selected one, and on the server only when the
	 * plan has something to do there (a SELECT is a round trip). */
	if (fw->exists[SIDE_LOCAL] && ensure_selected(c, SIDE_LOCAL, fw, e) < 0)
		return -1;
	if (fw->uidvalidity_changed)
		log_msg(LOG_NORMAL, "%s %s: UIDVALIDITY changed (%u -> %u); "
		    "re-pairing by Message-ID and size", c->ch->name, folder,
		    fw->sf.uidvalidity, fw->rst.uidvalidity);
	if (load_details(c, fw, e) < 0)
		return -1;

	memset(&in, 0, sizeof(in));
	in.uidvalidity_changed = fw->uidvalidity_changed;
	in.pairs = fw->pairs.v;
	in.npairs = fw->pairs.n;
	in.intents = fw->intents.v;
	in.nintents = fw->intents.n;
	for (int s = 0; s < 2; s++) {
		in.msgs[s] = ml[s]->v;
		in.nmsgs[s] = ml[s]->n;
	}
	plan_options(c, &in.opts);
	if (plan_build(&in, &plan, e) < 0)
		goto out;

	if (c->opts->dry_run) {
		struct buf b = { 0 };

		for (size_t i = 0; i < plan.n; i++) {
			buf_reset(&b);
			plan_format_action(&in, &plan.v[i], &b);
			printf("%s %s: %s\n", c->ch->name, folder,
			    b.data ? b.data : "");
		}
		buf_free(&b);
	} else if (needs_remote(&plan) && ensure_selected(c, SIDE_REMOTE, fw,
	    e) < 0) {
		goto out;
	} else {
		struct apply_ctx ax = {
			.store = { c->store[0], c->store[1] },
			.state = c->state,
			.folder = folder,
			.channel = c->ch->name,
			.uidnext = fw->rst.uidnext,
			.msgs = { ml[0], ml[1] },
			.stats = c->stats,
		};
		struct sync_stats before = *c->stats;
		struct state_pairs later = { 0 };
		struct state_folder nf;
		size_t changed[2];
		bool check;
		struct err ae = { 0 };
		int arc;

		if (fw->partial)
			ax.later = &later;
		arc = apply_plan(&ax, &in, &plan, &ae);

		for (int s = 0; s < 2; s++)
			changed[s] = c->stats->copied[s] - before.copied[s] +
			    c->stats->flagged[s] - before.flagged[s] +
			    c->stats->deleted[s] - before.deleted[s];
		bool failed = arc < 0 || plan.refused[0] || plan.refused[1];

		folder_record(c, fw, changed, failed, &nf);
		if (nf.uidnext != 0)
			nf.remote_unpaired = fw->partial ?
			    fw->sf.remote_unpaired :
			    remote_unpaired(c, fw, &plan);
		check = may_check_local(c, fw, &nf, failed);

		/* The folder record goes in even after a partial failure:
		 * it only says which UIDVALIDITY the pairs belong to.  So
		 * it is written at once only when it does that for the
		 * first time or anew; otherwise it joins the others at the
		 * end (defer_record). */
		if (fw->known && !fw->uidvalidity_changed) {
			defer_record(c, fw, &nf, false, check, &later);
		} else if (state_begin(c->state, e) < 0 ||
		    state_folder_put(c->state, folder, &nf, e) < 0 ||
		    state_commit(c->state, e) < 0) {
			state_pairs_free(&later);
			goto out;
		} else if (check) {
			defer_record(c, fw, &nf, true, true, &later);
		}
		state_pairs_free(&later);
		if (arc < 0) {
			/* per-message failures are already in stats */
			c->worst = err_worst(c->worst, ae.code);
			if (c->first.code == ERR_OK)
				c->first = ae;
			c->stats->failed_folders++;
		}
	}
	report_refusals(c, folder, &plan, &in);
	rc = 0;
out:
	plan_free(&plan);
	return rc;
}

/* Whether the state knows messages in any folder (for the gone-root rule). */
static int
state_knows_messages(struct chan *c, const struct strv *known, bool *any,
    struct err *e)
{
	*any = false;
	for (size_t i = 0; i < known->n && !*any; i++)
		if (state_has_pairs(c->state, known->v[i], any, e) < 0)
			return -1;
	return 0;
}

/* How many: only for the message of a refusal, so loading them is fine. */
static size_t
state_message_count(struct chan *c, const struct strv *known)
{
	struct err e = { 0 };
	size_t n = 0;

	for (size_t i = 0; i < known->n; i++) {
		struct state_pairs p = { 0 };

		if (state_pairs_load(c->state, known->v[i], &p, &e) == 0)
			n += p.n;
		state_pairs_free(&p);
	}
	return n;
}

/*
 * A folder the state knows vanished from side `gone`.  Never read as "all
 * its messages were deleted" (SPEC.md section 5): unless `remove` says to
 * propagate folder removal, it is a refusal; and even then only an empty
 * folder is removed on the other side.
 */
static int
folder_vanished(struct chan *c, const char *folder, enum side gone,
    bool other_exists, struct err *e)
{
	enum side other = SIDE_OTHER(gone);
	unsigned other_bit = other == SIDE_REMOTE ? CFG_SIDE_SERVER :
	    CFG_SIDE_DISK;
	struct folder_status st = { 0 };
	struct msg_list ml = { 0 };
	struct state_pairs pairs = { 0 };
	struct pair_lookup pl;
	struct msg **known = NULL;
	size_t nknown = 0;
	int rc = -1;

	if (!other_exists) {
		/* gone from both sides: forget it */
		if (c->opts->dry_run)
			return 0;
		if (state_begin(c->state, e) < 0 ||
		    state_folder_drop(c->state, folder, e) < 0 ||
		    state_commit(c->state, e) < 0)
			return -1;
		return 0;
	}
	if (!(c->ch->remove & other_bit))
		return err_set(e, ERR_SAFETY, "folder vanished from the %s; "
		    "not treating that as deleted messages (set 'remove' to "
		    "propagate folder removal, or recreate it)",
		    side_name[gone]);
	c->selected[other] = NULL;
	if (c->store[other]->ops->select(c->store[other], folder, &st, e) < 0 ||
	    c->store[other]->ops->list(c->store[other], &ml, e) < 0 ||
	    state_pairs_load(c->state, folder, &pairs, e) < 0)
		goto fail;
	/* The messages the state knows were removed with the folder on the
	 * other side; anything new since the last run is not the user's to
	 * lose: then the folder stays. */
	pair_lookup_build(&pl, &pairs, false);
	known = xcalloc(ml.n + 1, sizeof(*known));
	for (size_t i = 0; i < ml.n; i++) {
		if (other == SIDE_REMOTE ? pair_lookup_uid(&pl, ml.v[i].uid) :
		    pair_lookup_name(&pl, ml.v[i].name))
			known[nknown++] = &ml.v[i];
	}
	pair_lookup_free(&pl);
	if (nknown < ml.n) {
		err_set(e, ERR_SAFETY, "folder vanished from the %s but holds "
		    "%zu new messages on the %s; not removing it", side_name[gone],
		    ml.n - nknown, side_name[other]);
		goto fail;
	}
	if (c->opts->dry_run) {
		printf("%s %s: remove folder on %s (%zu messages)\n",
		    c->ch->name, folder, side_name[other], ml.n);
		rc = 0;
		goto fail;
	}
	if (nknown > 0 && c->store[other]->ops->remove(c->store[other], known,
	    nknown, e) < 0)
		goto fail;
	c->stats->deleted[other] += nknown;
	free(known);
	known = NULL;
	msg_list_free(&ml);
	state_pairs_free(&pairs);
	if (c->store[other]->ops->delete_folder(c->store[other], folder, e) < 0)
		return -1;
	log_msg(LOG_VERBOSE, "%s %s: removed folder on %s", c->ch->name,
	    folder, side_name[other]);
	if (state_begin(c->state, e) < 0 ||
	    state_folder_drop(c->state, folder, e) < 0 ||
	    state_commit(c->state, e) < 0)
		return -1;
	return 0;
fail:
	free(known);
	msg_list_free(&ml);
	state_pairs_free(&pairs);
	return rc;
}

/*
 * Settle a folder name's existence: vanished folders (refused or removed),
 * missing ones created per `create`.  *sync_it tells whether to sync it.
 */
static void
prepare_name(struct chan *c, const char *folder, const struct strv *known,
    bool exists[2], bool *sync_it)
{
	bool in_state = strv_contains(known, folder);
	struct err e = { 0 };

	*sync_it = false;
	for (int s = 0; s < 2; s++)
		exists[s] = folder_list_selectable(&c->folders[s], folder);
	for (int s = 0; s < 2; s++) {
		enum side side = (enum side)s;

		if (exists[s] || !in_state)
			continue;
		if (folder_vanished(c, folder, side, exists[1 - s], &e) < 0) {
			chan_fail(c, folder, &e);
			if (e.code == ERR_SAFETY)
				c->stats->failed_folders--;
		}
		return;
	}
	for (int s = 0; s < 2; s++) {
		unsigned bit = s == SIDE_REMOTE ? CFG_SIDE_SERVER :
		    CFG_SIDE_DISK;

		if (exists[s])
			continue;
		if (!(c->ch->create & bit)) {
			log_msg(LOG_VERBOSE, "%s %s: not on the %s and 'create' "
			    "does not allow creating it there; skipped",
			    c->ch->name, folder, side_name[s]);
			return;
		}
		if (c->opts->dry_run) {
			printf("%s %s: create folder on %s\n", c->ch->name,
			    folder, side_name[s]);
			continue;
		}
		if (c->store[s]->ops->create_folder(c->store[s], folder,
		    &e) < 0) {
			chan_fail(c, folder, &e);
			return;
		}
		log_msg(LOG_VERBOSE, "%s %s: created folder on %s", c->ch->name,
		    folder, side_name[s]);
		exists[s] = true;
	}
	*sync_it = true;
}

static int
open_stores(struct chan *c, const struct strv *known, struct err *e)
{
	bool known_msgs;

	if (state_knows_messages(c, known, &known_msgs, e) < 0)
		return -1;
	c->any_pairs = known_msgs;
	c->store[SIDE_REMOTE] = imap_store_new(c->ch->account, c->ch->name,
	    c->opts->connections ? c->opts->connections :
	    (unsigned)c->ch->account->connections);
	c->store[SIDE_LOCAL] = maildir_store_new(c->ch, c->ch->name);
	/* The root is created only on a first run; once the state knows
	 * messages a missing root means an unmounted disk, not a wish to
	 * delete everything on the server. */
	if (c->store[SIDE_LOCAL]->ops->open(c->store[SIDE_LOCAL],
	    !known_msgs && !c->opts->dry_run, e) < 0) {
		if (known_msgs)
			e->code = ERR_SAFETY;
		/* a dry first run: the root would be created, empty */
		if (!(c->opts->dry_run && !known_msgs && e->code == ERR_SAFETY))
			return -1;
		err_clear(e);
		printf("%s: create maildir root %s\n", c->ch->name,
		    c->ch->maildir);
	} else if (c->store[SIDE_LOCAL]->ops->list_folders(
	    c->store[SIDE_LOCAL], &c->folders[SIDE_LOCAL], e) < 0)
		return -1;
	if (known_msgs && c->folders[SIDE_LOCAL].n == 0)
		return err_set(e, ERR_SAFETY, "maildir root %s is empty but the "
		    "state knows %zu messages; refusing to sync (is the disk "
		    "mounted?)", c->ch->maildir, state_message_count(c, known));
	if (c->store[SIDE_REMOTE]->ops->open(c->store[SIDE_REMOTE], false,
	    e) < 0)
		return -1;
	return c->store[SIDE_REMOTE]->ops->list_folders(c->store[SIDE_REMOTE],
	    &c->folders[SIDE_REMOTE], e);
}

/* Sync a loaded folder (it fails if loading did), report it and let it
 * go; false when the connection is lost, so the rest would fail too. */
static bool
sync_loaded(struct chan *c, struct folder_work *fw)
{
	struct sync_stats before = *c->stats;
	struct folder_report *fr;
	size_t failed_before = c->stats->failed_folders;
	struct err err = { 0 };
	int frc = 0;

	c->stats->folder_i = ++c->nsynced;
	sync_tick(c->stats);
	if (!fw->loaded) {
		report_folder(c->stats, fw->name, "full")->failed = true;
		return true;
	}
	if ((frc = sync_folder(c, fw, &err)) < 0)
		chan_fail(c, fw->name, &err);
	fr = report_folder(c->stats, fw->name, fw->detection ?
	    fw->detection : "full");
	for (int s = 0; s < 2; s++) {
		fr->copied[s] = c->stats->copied[s] - before.copied[s];
		fr->flagged[s] = c->stats->flagged[s] - before.flagged[s];
		fr->deleted[s] = c->stats->deleted[s] - before.deleted[s];
	}
	fr->failed = c->stats->failed_folders > failed_before;
	folder_work_clear(fw);
	return !(frc < 0 && err.code == ERR_TEMP);
}

static int
cmp_report(const void *a, const void *b)
{
	return strcmp(((const struct folder_report *)a)->name,
	    ((const struct folder_report *)b)->name);
}

/* Phase one: load a folder, then sync it unless moves may touch it. */
static bool
load_item(void *w, size_t i)
{
	struct chan *c = w;
	struct folder_work *fw = &c->slots[i];
	struct err err = { 0 };
	int lrc = 1;

	*fw = (struct folder_work){ .name = c->names->v[i],
		.exists = { c->todo[i].exists[0], c->todo[i].exists[1] } };
	if (c->todo[i].server_flags) {
		lrc = delta_load(c->store, c->state, c->ch->name,
		    c->opts->dry_run, fw, &err);
		c->selected[SIDE_REMOTE] = c->selected[SIDE_LOCAL] =
		    lrc == 0 ? fw->name : NULL;
	}
	if (lrc == 1)
		lrc = load_folder(c, fw, &err);
	if (lrc < 0) {
		chan_fail(c, fw->name, &err);
		folder_work_clear(fw);
		if (err.code == ERR_TEMP)
			return !(c->lost = true);	/* the rest would fail too */
	}
	/* Only folders a move may touch wait for the moves pass; the
	 * others are synced and let go now, so memory holds one folder's
	 * listings, not the channel's. */
	if ((c->ch->propagate & CFG_PROP_MOVES) &&
	    moves_possible(fw, c->any_pairs))
		c->todo[i].held = true;
	else if (!sync_loaded(c, fw))
		return !(c->lost = true);
	return true;
}

/* Phase two, after the moves: sync a folder kept for them. */
static bool
held_item(void *w, size_t i)
{
	struct chan *c = w;
	struct folder_work *fw = &c->held[i];
	struct err err = { 0 };

	if (fw->reload && load_folder(c, fw, &err) < 0) {
		chan_fail(c, fw->name, &err);
		folder_work_clear(fw);
	}
	if (!sync_loaded(c, fw))
		return !(c->lost = true);
	return true;
}

static void
close_stores(struct chan *c)
{
	for (int s = 0; s < 2; s++)
		if (c->store[s] != NULL)
			c->store[s]->ops->close(&c->store[s]);
}

/* A worker's own sessions open in its own thread, at once with the
 * others'. */
static bool
worker_start(void *w)
{
	struct chan *c = w;
	struct err e = { 0 };

	if (!c->siblings || c->opened)
		return true;
	if (c->dead)
		return false;
	if (c->store[SIDE_LOCAL]->ops->open(c->store[SIDE_LOCAL], false,
	    &e) < 0 || c->store[SIDE_REMOTE]->ops->open(c->store[SIDE_REMOTE],
	    false, &e) < 0) {
		log_msg(LOG_VERBOSE, "%s: syncing folders over one connection "
		    "fewer: %s", c->ch->name, e.msg);
		c->dead = true;
		close_stores(c);	/* no more tried this run */
		return false;
	}
	c->opened = true;
	return true;
}

/* A worker done for this run: a transaction a failure left open goes (the
 * others would wait for it), and a session no longer needed is left to
 * another worker's large pull. */
static void
worker_finish(void *w, bool last_run)
{
	struct chan *c = w;

	state_abort(c->state);
	if (c->siblings && last_run)
		close_stores(c);
}

static const struct crew_ops load_ops = {
	.start = worker_start, .item = load_item, .finish = worker_finish,
};
static const struct crew_ops held_ops = {
	.start = worker_start, .item = held_item, .finish = worker_finish,
};

/*
 * The workers for n folders: the channel's own and one more for each
 * session the account leaves, up to one a folder.  A dry run prints its
 * plan folder by folder, in order: one worker.
 */
static size_t
workers_new(struct chan *c, size_t n, struct chan ***out)
{
	struct chan **w = xcalloc(n + 1, sizeof(*w));
	size_t k = 1;

	w[0] = c;
	while (k < n && !c->opts->dry_run) {
		struct store *r = c->store[SIDE_REMOTE]->ops->sibling(
		    c->store[SIDE_REMOTE]);

		if (r == NULL)
			break;
		w[k] = xcalloc(1, sizeof(*w[k]));
		*w[k] = (struct chan){ .ch = c->ch, .opts = c->opts,
			.state = c->state, .store = { r,
			c->store[SIDE_LOCAL]->ops->sibling(c->store[SIDE_LOCAL]) },
			.any_pairs = c->any_pairs, .names = c->names,
			.todo = c->todo, .slots = c->slots, .siblings = true };
		k++;
	}
	*out = w;
	return k;
}

/* What a worker did that the channel answers for, to the channel. */
static void
worker_merge(struct chan *c, struct chan *w)
{
	c->worst = err_worst(c->worst, w->worst);
	if (c->first.code == ERR_OK)
		c->first = w->first;
	w->worst = ERR_OK;
	w->first = (struct err){ 0 };
	if (w->nlater > 0) {
		xgrow(&c->later, &c->caplater, c->nlater + w->nlater,
		    sizeof(*c->later));
		memcpy(c->later + c->nlater, w->later,
		    w->nlater * sizeof(*w->later));
		c->nlater += w->nlater;
	}
	free(w->later);
	w->later = NULL;
	w->nlater = w->caplater = 0;
}

static void
workers_free(struct chan **w, size_t nw)
{
	for (size_t k = 1; k < nw; k++) {
		close_stores(w[k]);
		free(w[k]->later);
		free(w[k]);
	}
	free(w);
}

/* items[0..n) by the workers, at once when there are several. */
static void
run_items(struct chan **w, size_t nw, struct crew *cr, const size_t *items,
    size_t n, const struct crew_ops *ops, bool last_run)
{
	struct chan *c = w[0];
	struct sync_stats *main = c->stats;

	if (cr == NULL) {
		for (size_t i = 0; i < n && ops->item(c, items[i]); i++)
			;
		return;
	}
	c->stats = crew_stats(cr, 0);
	for (size_t k = 1; k < nw; k++)
		w[k]->stats = crew_stats(cr, k);
	crew_run(cr, (void *const *)w, items, n, ops, last_run);
	c->stats = main;
	for (size_t k = 1; k < nw; k++)
		worker_merge(c, w[k]);
}

int
sync_channel(const struct cfg_channel *ch, const struct strv *only,
    const struct sync_opts *opts, struct sync_stats *stats, struct err *e)
{
	struct chan c = { .ch = ch, .opts = opts, .stats = stats };
	struct strv known = { 0 }, names = { 0 };
	struct folder_work *work = NULL;
	struct todo *todo = NULL;
	struct chan **w = NULL;
	struct crew *cr = NULL;
	size_t *items = NULL;
	size_t nwork = 0, nitems = 0, nw = 0;
	struct err err = { 0 };
	int rc;

	if (state_open(ch->state_dir, ch->name, opts->dry_run, &c.state,
	    e) < 0)
		return -1;
	if (state_folders(c.state, &known, e) < 0 ||
	    open_stores(&c, &known, e) < 0) {
		chan_fail(&c, NULL, e);
		goto out;
	}
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < c.folders[s].n; i++)
			if (!c.folders[s].v[i].noselect &&
			    !strv_contains(&names, c.folders[s].v[i].name))
				strv_add(&names, c.folders[s].v[i].name);
	for (size_t i = 0; i < known.n; i++)
		if (!strv_contains(&names, known.v[i]))
			strv_add(&names, known.v[i]);
	strv_sort(&names);
	/* which folders need a sync, first: the progress counts them */
	todo = xcalloc(names.n + 1, sizeof(*todo));
	items = xcalloc(names.n + 1, sizeof(*items));
	for (size_t i = 0; i < names.n; i++) {
		struct folder_work fw = { .name = names.v[i] };
		enum folder_news news;
		bool sync_it;

		if (!sync_folder_selected(ch, only, names.v[i]))
			continue;
		prepare_name(&c, names.v[i], &known, fw.exists, &sync_it);
		if (!sync_it)
			continue;
		c.stats->folders++;
		news = folder_news(&c, &fw);
		if (news == FOLDER_UNCHANGED) {
			c.stats->skipped++;
			report_folder(c.stats, fw.name, "unchanged");
			continue;
		}
		todo[i].sync = true;
		todo[i].server_flags = news == FOLDER_SERVER_FLAGS;
		todo[i].exists[0] = fw.exists[0];
		todo[i].exists[1] = fw.exists[1];
		items[nitems++] = i;
		c.stats->folder_n++;
	}
	c.names = &names;
	c.todo = todo;
	c.slots = xcalloc(names.n + 1, sizeof(*c.slots));
	nw = workers_new(&c, nitems, &w);
	if (nw > 1) {
		cr = crew_new(c.stats, nw);
		log_msg(LOG_VERBOSE, "%s: %zu folders at once", ch->name, nw);
	}
	/* with no moves to wait for, a worker out of folders is done */
	run_items(w, nw, cr, items, nitems, &load_ops,
	    !(ch->propagate & CFG_PROP_MOVES) || !c.any_pairs);
	if (c.lost)
		goto out;
	work = xcalloc(nitems + 1, sizeof(*work));
	for (size_t j = 0; j < nitems; j++)
		if (todo[items[j]].held) {
			work[nwork++] = c.slots[items[j]];
			memset(&c.slots[items[j]], 0, sizeof(*c.slots));
		}
	if (c.ch->propagate & CFG_PROP_MOVES) {
		int dir = effective_direction(&c);
		struct moves_ctx mc = {
			.store = { c.store[0], c.store[1] },
			.state = c.state,
			.channel = ch->name,
			.dry_run = opts->dry_run,
			.may_change = { dir == CFG_DIR_BOTH || dir == CFG_DIR_PUSH,
			    dir == CFG_DIR_BOTH || dir == CFG_DIR_PULL },
			.stats = c.stats,
		};

		if (moves_run(&mc, work, nwork, &err) < 0) {
			chan_fail(&c, NULL, &err);
			goto out;
		}
		for (size_t i = 0; i < nwork; i++)
			drop_stale(&work[i]);
		/* moves select folders of their own */
		c.selected[SIDE_REMOTE] = c.selected[SIDE_LOCAL] = NULL;
		if (c.stats->move_errors > 0)
			c.worst = err_worst(c.worst, ERR_FAIL);
	}
	for (size_t k = 0; k < nw; k++)
		w[k]->held = work;
	for (size_t i = 0; i < nwork; i++)
		items[i] = i;
	run_items(w, nw, cr, items, nwork, &held_ops, true);
out:
	if (w != NULL)
		workers_free(w, nw);
	crew_free(&cr);
	if (flush_records(&c, &err) < 0)
		chan_fail(&c, NULL, &err);
	for (size_t i = 0; i < nwork; i++)
		folder_work_clear(&work[i]);
	for (size_t i = 0; c.slots != NULL && i < names.n; i++)
		folder_work_clear(&c.slots[i]);
	free(c.slots);
	free(work);
	free(todo);
	free(items);
	for (int s = 0; s < 2; s++) {
		if (c.store[s] != NULL)
			c.store[s]->ops->close(&c.store[s]);
		folder_list_free(&c.folders[s]);
	}
	state_close(&c.state);
	strv_free(&known);
	strv_free(&names);
	/* in name order, whichever worker synced what */
	if (stats->nper_folder > 0)
		qsort(stats->per_folder, stats->nper_folder,
		    sizeof(*stats->per_folder), cmp_report);
	if (c.worst == ERR_OK)
		return 0;
	rc = err_set(e, c.worst, "%s", c.first.msg);
	return rc;
}

int
sync_list_folders(const struct cfg_channel *ch, const struct strv *only,
    struct strv *out, struct err *e)
{
	struct store *st[2];
	struct folder_list fl[2] = { { 0 }, { 0 } };
	int rc = -1;

	st[SIDE_REMOTE] = imap_store_new(ch->account, ch->name, 1);
	st[SIDE_LOCAL] = maildir_store_new(ch, ch->name);
	if (st[SIDE_REMOTE]->ops->open(st[SIDE_REMOTE], false, e) < 0 ||
	    st[SIDE_REMOTE]->ops->list_folders(st[SIDE_REMOTE], &fl[0], e) < 0)
		goto out;
	/* A Maildir root that does not exist yet simply has no folders. */
	if (st[SIDE_LOCAL]->ops->open(st[SIDE_LOCAL], false, e) == 0 &&
	    st[SIDE_LOCAL]->ops->list_folders(st[SIDE_LOCAL], &fl[1], e) < 0)
		goto out;
	err_clear(e);
	for (int s = 0; s < 2; s++) {
		unsigned bit = s == SIDE_REMOTE ? CFG_SIDE_DISK :
		    CFG_SIDE_SERVER;

		for (size_t i = 0; i < fl[s].n; i++) {
			const char *name = fl[s].v[i].name;

			if (fl[s].v[i].noselect ||
			    !sync_folder_selected(ch, only, name) ||
			    strv_contains(out, name))
				continue;
			/* listed only if it exists on both sides or would be
			 * created on the other one */
			if (!folder_list_selectable(&fl[1 - s], name) &&
			    !(ch->create & bit))
				continue;
			strv_add(out, name);
		}
	}
	strv_sort(out);
	rc = 0;
out:
	for (int s = 0; s < 2; s++) {
		st[s]->ops->close(&st[s]);
		folder_list_free(&fl[s]);
	}
	return rc;
}
