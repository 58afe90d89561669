/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Folders of a channel synced at once (sync.c): a thread for each worker
 * but the first, which is the caller's.  A worker counts into stats of
 * its own, so the engine's counting needs no lock; what changed reaches
 * the channel's stats (and its progress line) under the crew's lock on
 * each of the worker's ticks, and the rest (errors, folder reports) when
 * the run is over.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "crew.h"
#include "util.h"

struct member {
	struct crew *cr;
	struct sync_stats st;	/* the worker's own */
	struct sync_stats seen;	/* its counts already in main */
	void *worker;
	pthread_t th;
	bool started;
};

struct crew {
	pthread_mutex_t lock;
	struct sync_stats *main;
	struct member *m;
	size_t n;
	/* the run under way */
	const size_t *items;
	size_t nitems, next;
	const struct crew_ops *ops;
	bool last_run;
};

/* Add what worker m counted since the last time to main (lock held). */
static void
merge_counts(struct sync_stats *main, struct member *m)
{
	struct sync_stats *w = &m->st, *s = &m->seen;

	/* unsigned wrap-around makes a count that went down work too */
#define MERGE(f) do { main->f += w->f - s->f; s->f = w->f; } while (0)
	MERGE(folders);
	MERGE(skipped);
	MERGE(move_errors);
	MERGE(failed_folders);
	MERGE(folder_i);
	MERGE(copy_left);
	for (int k = 0; k < 2; k++) {
		MERGE(copied[k]);
		MERGE(bytes[k]);
		MERGE(flagged[k]);
		MERGE(deleted[k]);
		MERGE(refused[k]);
		MERGE(moved[k]);
	}
#undef MERGE
}

static void
tick(struct sync_stats *st, void *arg)
{
	struct member *m = arg;
	struct crew *cr = m->cr;

	(void)st;
	pthread_mutex_lock(&cr->lock);
	merge_counts(cr->main, m);
	sync_tick(cr->main);
	pthread_mutex_unlock(&cr->lock);
}

struct crew *
crew_new(struct sync_stats *main, size_t n)
{
	struct crew *cr = xcalloc(1, sizeof(*cr));

	pthread_mutex_init(&cr->lock, NULL);
	cr->main = main;
	cr->n = n;
	cr->m = xcalloc(n + 1, sizeof(*cr->m));
	for (size_t k = 0; k < n; k++) {
		cr->m[k].cr = cr;
		cr->m[k].st.tick = tick;
		cr->m[k].st.tick_arg = &cr->m[k];
	}
	return cr;
}

struct sync_stats *
crew_stats(struct crew *cr, size_t k)
{
	return &cr->m[k].st;
}

static bool
take(struct crew *cr, size_t *item)
{
	bool got;

	pthread_mutex_lock(&cr->lock);
	got = cr->next < cr->nitems;
	if (got)
		*item = cr->items[cr->next++];
	pthread_mutex_unlock(&cr->lock);
	return got;
}

static void *
work(void *arg)
{
	struct member *m = arg;
	struct crew *cr = m->cr;
	size_t item;

	if (cr->ops->start == NULL || cr->ops->start(m->worker)) {
		while (take(cr, &item) && cr->ops->item(m->worker, item))
			;
	}
	cr->ops->finish(m->worker, cr->last_run);
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The errors and folder reports of the run, from each worker to main. */
static void
collect(struct crew *cr)
{
	struct sync_stats *main = cr->main;
	size_t er0 = main->errors.n;

	for (size_t k = 0; k < cr->n; k++) {
		struct sync_stats *w = &cr->m[k].st;

		merge_counts(main, &cr->m[k]);
		for (size_t i = 0; i < w->nper_folder; i++) {
			xgrow(&main->per_folder, &main->cap_per_folder,
			    main->nper_folder + 1, sizeof(*main->per_folder));
			main->per_folder[main->nper_folder++] =
			    w->per_folder[i];
		}
		w->nper_folder = 0;
		for (size_t i = 0; i < w->errors.n; i++)
			strv_add_owned(&main->errors, w->errors.v[i]);
		w->errors.n = 0;
	}
	if (main->errors.n > er0)
		qsort(main->errors.v + er0, main->errors.n - er0,
		    sizeof(*main->errors.v), cmp_str);
}

void
crew_run(struct crew *cr, void *const *workers, const size_t *items,
    size_t n, const struct crew_ops *ops, bool last_run)
{
	sigset_t all, old;

	cr->items = items;
	cr->nitems = n;
	cr->next = 0;
	cr->ops = ops;
	cr->last_run = last_run;
	for (size_t k = 0; k < cr->n; k++)
		cr->m[k].worker = workers[k];
	/* signals stay with the main thread, as in a run without workers */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t k = 1; k < cr->n; k++)
		cr->m[k].started = pthread_create(&cr->m[k].th, NULL, work,
		    &cr->m[k]) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	work(&cr->m[0]);
	for (size_t k = 1; k < cr->n; k++) {
		if (cr->m[k].started)
			pthread_join(cr->m[k].th, NULL);
		else
			ops->finish(workers[k], last_run);
		cr->m[k].started = false;
	}
	collect(cr);
}

void
crew_free(struct crew **crp)
{
	struct crew *cr = *crp;

	if (cr == NULL)
		return;
	for (size_t k = 0; k < cr->n; k++)
		sync_stats_free(&cr->m[k].st);
	pthread_mutex_destroy(&cr->lock);
	free(cr->m);
	free(cr);
	*crp = NULL;
}
