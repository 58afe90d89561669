/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The sessions a channel may hold with its server at once: the account's
 * `connections`, shared by the stores of the threads that sync folders at
 * once (siblings) and the extra sessions of large pulls
 * (imap_fetchers.c).  Each store holds one; an extra session or a sibling
 * is opened only while one is left, and a closed one is left again for
 * whoever needs it next (a pull still going when the other folders are
 * done).  Once the server refused one, no more are tried.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include "imap_priv.h"
#include "util.h"

struct imap_budget {
	pthread_mutex_t lock;
	unsigned refs;
	unsigned left;		/* sessions that may still be opened */
	unsigned next;		/* number of the next one, for its label */
	bool refused;
	char *label;		/* the first store's */
};

/*
 * A server on a loopback address gets one session unless `connections`
 * was set: it shares the processors with us, and a second session made a
 * 20,000-message pull on two cores 11% slower (a tunnel to a remote
 * server is what the setting is for).
 */
void
imap_sessions_new(struct imap_store *s)
{
	struct imap_budget *b = xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	b->refs = 1;
	b->left = s->connections - 1;
	if (!s->acct->connections_set && cfg_is_loopback(s->acct->host))
		b->left = 0;
	b->next = 2;
	b->label = xstrdup(s->label);
	s->budget = b;
}

void
imap_sessions_drop(struct imap_store *s)
{
	struct imap_budget *b = s->budget;
	unsigned refs;

	if (b == NULL)
		return;
	s->budget = NULL;
	pthread_mutex_lock(&b->lock);
	b->left++;	/* s's own */
	/* a sibling the server would not let in: nor will it the next */
	b->refused = b->refused || s->open_failed;
	refs = --b->refs;
	pthread_mutex_unlock(&b->lock);
	if (refs > 0)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->label);
	free(b);
}

struct store *
imap_sibling(struct store *st)
{
	struct imap_store *s = imap_of(st), *n;
	struct imap_budget *b = s->budget;
	char *label = NULL;

	pthread_mutex_lock(&b->lock);
	if (b->left > 0 && !b->refused) {
		b->left--;	/* n's own, left again when it closes */
		b->refs++;
		label = xasprintf("%s#%u", b->label, b->next++);
	}
	pthread_mutex_unlock(&b->lock);
	if (label == NULL)
		return NULL;
	n = imap_store_alloc(s->acct, label, s->connections);
	free(label);
	n->budget = b;
	n->delim = s->delim;
	n->delim_known = s->delim_known;
	return &n->base;
}
