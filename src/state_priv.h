/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What state.c and state_record.c share; private to src/state*.c. */
#ifndef MAILSYNC_STATE_PRIV_H
#define MAILSYNC_STATE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"
#include "state.h"
#include "util.h"

/* A folder's flag log (see state.c): flags that override its pairs'. */
struct flag_entry {
	uint64_t id;
	struct flags flags;
};

struct flag_log {
	char *folder;
	struct flag_entry *v;	/* ids ascending */
	size_t n, cap;
	bool dirty;		/* differs from its record */
};

void flag_log_free(struct flag_log *l);
/* The logged flags of pair id, or NULL (l may be NULL). */
const struct flags *flag_log_find(const struct flag_log *l, uint64_t id);
void flag_log_set(struct flag_log *l, uint64_t id, const struct flags *f);
void flag_log_drop(struct flag_log *l, uint64_t id);

/* Whether a string fits a record. */
bool rec_str_ok(const char *s);
void rec_put_u64(struct buf *b, uint64_t v);
void rec_folder_encode(struct buf *b, const struct state_folder *f);
void rec_pair_encode(struct buf *b, const struct state_pair *p);
void rec_intent_encode(struct buf *b, const struct state_intent *i);
void rec_log_encode(struct buf *b, const struct flag_log *l);
/* Decoders return NULL, or what was wrong (*out is then empty). */
const char *rec_folder_decode(const void *buf, size_t len,
    struct state_folder *out);
const char *rec_pair_decode(const void *buf, size_t len,
    struct state_pair *out);
const char *rec_intent_decode(const void *buf, size_t len,
    struct state_intent *out);
/* Appends the entries to l. */
const char *rec_log_decode(const void *buf, size_t len, struct flag_log *l);
/* Only the UID of a pair record. */
const char *rec_pair_uid(const void *buf, size_t len, uint32_t *uid);

#endif
