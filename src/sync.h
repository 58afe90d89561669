/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Synchronizing one channel: folders, listings, planning and applying. */
#ifndef MAILSYNC_SYNC_H
#define MAILSYNC_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"
#include "store.h"

struct sync_opts {
	bool dry_run;		/* -n: plan only, change nothing */
	bool pull_only;		/* --pull */
	bool push_only;		/* --push */
	bool force;		/* --force: override the delete guard */
	/* Sessions a run may hold with one server; 0: the account's
	 * `connections`.  Watch mode says 1: its IDLE ones hold the rest. */
	unsigned connections;
};

/* One folder of a run, for --json. */
struct folder_report {
	char *name;
	const char *detection;	/* "unchanged", "changes", "full" (static) */
	size_t copied[2];
	size_t flagged[2];
	size_t deleted[2];
	bool failed;
};

/* What one channel run did; every count is indexed by the side acted on
 * (copied[SIDE_LOCAL] = messages pulled to disk). */
struct sync_stats {
	size_t folders;
	size_t skipped;		/* unchanged on both sides: not listed */
	size_t copied[2];
	uint64_t bytes[2];
	size_t flagged[2];
	size_t deleted[2];
	size_t refused[2];
	size_t moved[2];	/* moves carried out on that side */
	size_t move_errors;
	size_t failed_folders;
	struct strv errors;	/* one line per failure, for main.c to print */
	struct folder_report *per_folder;
	size_t nper_folder, cap_per_folder;
	/* progress: the folder being synced (1-based) of how many, and a
	 * callback made after each step (NULL: none) */
	size_t folder_i, folder_n;
	uint64_t copy_left;	/* bytes the folder's plan has yet to copy,
				 * both ways (listed sizes): for an estimate */
	void (*tick)(struct sync_stats *st, void *arg);
	void *tick_arg;
};

/* Call the progress callback, if any. */
void sync_tick(struct sync_stats *st);
/* Free what a run allocated in st (errors, per-folder reports). */
void sync_stats_free(struct sync_stats *st);

/*
 * Sync one channel (optionally only the named folders).  Per-folder
 * failures are reported through log and counted, and the worst of them is
 * returned in e (0 when everything synced): ERR_FAIL for a failed folder,
 * ERR_SAFETY when deletions were refused, ERR_TEMP when the server could
 * not be reached or the channel is locked.  -1 is returned whenever e is
 * set; folders that could sync did.
 */
int sync_channel(const struct cfg_channel *ch, const struct strv *folders,
    const struct sync_opts *opts, struct sync_stats *stats, struct err *e);

/* Whether the channel syncs folder name: its patterns select it, and it is
 * among `only` when that is not empty. */
bool sync_folder_selected(const struct cfg_channel *ch,
    const struct strv *only, const char *name);

/*
 * The folders a channel syncs, for -l: selectable folders of either side
 * that its patterns (and folders, when not empty) select; sorted.
 */
int sync_list_folders(const struct cfg_channel *ch, const struct strv *folders,
    struct strv *out, struct err *e);

#endif
