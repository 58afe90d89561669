/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Sorted lookups of messages and pairs by UID and by unique name, so that
 * matching a folder's listings against its state is O(n log n). */
#ifndef MAILSYNC_LOOKUP_H
#define MAILSYNC_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"
#include "store.h"

/* Positions in a listing, by UID or by name (the listing must outlive it
 * and not change). */
struct msg_lookup {
	const struct msg_list *l;
	const struct msg **v;
	size_t n;
	bool by_uid;
};
void msg_lookup_build(struct msg_lookup *ix, const struct msg_list *l,
    bool by_uid);
/* Index in the listing, or -1. */
long msg_lookup_uid(const struct msg_lookup *ix, uint32_t uid);
long msg_lookup_name(const struct msg_lookup *ix, const char *name);
void msg_lookup_free(struct msg_lookup *ix);
/* qsort order of an array of struct msg by UID. */
int msg_cmp_uid(const void *a, const void *b);

/* The UIDs and names that pairs of the state hold (uids_stale: none of the
 * UIDs, after a UIDVALIDITY change). */
struct pair_lookup {
	uint32_t *uids;
	size_t nuids;
	const char **names;
	size_t nnames;
};
void pair_lookup_build(struct pair_lookup *pl, const struct state_pairs *p,
    bool uids_stale);
bool pair_lookup_uid(const struct pair_lookup *pl, uint32_t uid);
bool pair_lookup_name(const struct pair_lookup *pl, const char *name);
void pair_lookup_free(struct pair_lookup *pl);

#endif
