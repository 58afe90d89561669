/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Sorted lookups of messages and pairs by UID and by unique name. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "util.h"

int
msg_cmp_uid(const void *a, const void *b)
{
	const struct msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int
cmp_msg_uid(const void *a, const void *b)
{
	uint32_t x = (*(const struct msg *const *)a)->uid;
	uint32_t y = (*(const struct msg *const *)b)->uid;

	return x < y ? -1 : x > y;
}

static int
cmp_msg_name(const void *a, const void *b)
{
	const char *x = (*(const struct msg *const *)a)->name;
	const char *y = (*(const struct msg *const *)b)->name;

	return strcmp(x ? x : "", y ? y : "");
}

void
msg_lookup_build(struct msg_lookup *ix, const struct msg_list *l, bool by_uid)
{
	ix->l = l;
	ix->by_uid = by_uid;
	ix->v = xcalloc(l->n + 1, sizeof(*ix->v));
	ix->n = l->n;
	for (size_t i = 0; i < l->n; i++)
		ix->v[i] = &l->v[i];
	qsort(ix->v, ix->n, sizeof(*ix->v), by_uid ? cmp_msg_uid :
	    cmp_msg_name);
}

static long
position(const struct msg_lookup *ix, const struct msg *key)
{
	const struct msg **hit = bsearch(&key, ix->v, ix->n, sizeof(*ix->v),
	    ix->by_uid ? cmp_msg_uid : cmp_msg_name);

	return hit ? (long)(*hit - ix->l->v) : -1;
}

long
msg_lookup_uid(const struct msg_lookup *ix, uint32_t uid)
{
	struct msg key = { .uid = uid };

	return position(ix, &key);
}

long
msg_lookup_name(const struct msg_lookup *ix, const char *name)
{
	struct msg key = { .name = (char *)name };

	return position(ix, &key);
}

void
msg_lookup_free(struct msg_lookup *ix)
{
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
pair_lookup_build(struct pair_lookup *pl, const struct state_pairs *p,
    bool uids_stale)
{
	pl->uids = xcalloc(p->n + 1, sizeof(*pl->uids));
	pl->names = xcalloc(p->n + 1, sizeof(*pl->names));
	pl->nuids = pl->nnames = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].uid && !uids_stale)
			pl->uids[pl->nuids++] = p->v[i].uid;
		if (p->v[i].name)
			pl->names[pl->nnames++] = p->v[i].name;
	}
	qsort(pl->uids, pl->nuids, sizeof(*pl->uids), u32_cmp);
	qsort(pl->names, pl->nnames, sizeof(*pl->names), cmp_str);
}

bool
pair_lookup_uid(const struct pair_lookup *pl, uint32_t uid)
{
	return bsearch(&uid, pl->uids, pl->nuids, sizeof(*pl->uids),
	    u32_cmp) != NULL;
}

bool
pair_lookup_name(const struct pair_lookup *pl, const char *name)
{
	return name != NULL && bsearch(&name, pl->names, pl->nnames,
	    sizeof(*pl->names), cmp_str) != NULL;
}

void
pair_lookup_free(struct pair_lookup *pl)
{
	free(pl->uids);
	free(pl->names);
	pl->uids = NULL;
	pl->names = NULL;
	pl->nuids = pl->nnames = 0;
}
