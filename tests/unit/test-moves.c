/* SPDX-License-Identifier: GPL-3.0-or-later */
/* moves_possible: which listed folders must wait for the moves pass. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "moves.h"
#include "util.h"

/* The blank-separated words of s. */
static void
words(struct strv *t, const char *s)
{
	char *copy = xstrdup(s), *save = NULL;

	for (char *w = strtok_r(copy, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		strv_add(t, w);
	free(copy);
}

/*
 * A folder from three short lists: remote UIDs ("1 2 3"), local names
 * ("a b"), pairs "UID=NAME" ("1=a 2=b", "0=c": kept only on disk,
 * "3=-": kept only on the server).
 */
static void
folder(struct folder_work *fw, const char *remote, const char *local,
    const char *pairs)
{
	struct strv t = { 0 };

	memset(fw, 0, sizeof(*fw));
	fw->loaded = true;
	words(&t, remote);
	for (size_t i = 0; i < t.n; i++) {
		xgrow(&fw->ml[SIDE_REMOTE].v, &fw->ml[SIDE_REMOTE].cap,
		    fw->ml[SIDE_REMOTE].n + 1, sizeof(struct msg));
		fw->ml[SIDE_REMOTE].v[fw->ml[SIDE_REMOTE].n++] =
		    (struct msg){ .uid = (uint32_t)atoi(t.v[i]) };
	}
	strv_free(&t);
	words(&t, local);
	for (size_t i = 0; i < t.n; i++) {
		xgrow(&fw->ml[SIDE_LOCAL].v, &fw->ml[SIDE_LOCAL].cap,
		    fw->ml[SIDE_LOCAL].n + 1, sizeof(struct msg));
		fw->ml[SIDE_LOCAL].v[fw->ml[SIDE_LOCAL].n++] =
		    (struct msg){ .name = xstrdup(t.v[i]) };
	}
	strv_free(&t);
	words(&t, pairs);
	for (size_t i = 0; i < t.n; i++) {
		const char *eq = strchr(t.v[i], '=');
		struct state_pair p = { .id = i + 1 };

		p.uid = (uint32_t)atoi(t.v[i]);
		if (strcmp(eq + 1, "-") != 0)
			p.name = xstrdup(eq + 1);
		xgrow(&fw->pairs.v, &fw->pairs.cap, fw->pairs.n + 1,
		    sizeof(p));
		fw->pairs.v[fw->pairs.n++] = p;
	}
	strv_free(&t);
}

static void
check(const char *remote, const char *local, const char *pairs,
    bool any_pairs, bool want, const char *what)
{
	struct folder_work fw;

	folder(&fw, remote, local, pairs);
	ok(moves_possible(&fw, any_pairs) == want, "%s", what);
	folder_work_clear(&fw);
}

int
main(void)
{
	struct folder_work fw;

	check("1 2", "a b", "1=a 2=b", true, false,
	    "every pair on both sides, nothing new: synced at once");
	check("1", "a b", "1=a 2=b", true, true,
	    "a pair gone from the server only: a move's source");
	check("1 2", "a", "1=a 2=b", true, true,
	    "a pair gone from disk only: a move's source");
	check("1", "a", "1=a 2=b", true, false,
	    "a pair gone from both sides: deleted, no move");
	check("1 2 3", "a b", "1=a 2=b", true, true,
	    "a new message on the server: may be a move's target");
	check("1 2", "a b c", "1=a 2=b", true, true,
	    "a new file on disk: may be a move's target");
	check("1 2 3", "a b c", "", false, false,
	    "new messages where the channel has no pairs: no move possible");
	check("1", "a", "1=a 0=c", true, false,
	    "a pair kept only on disk, gone from the server: not a source");
	check("1", "a", "1=a 3=-", true, false,
	    "a pair kept only on the server, not on disk: not a source");

	folder(&fw, "1", "a b", "1=a 2=b");
	fw.uidvalidity_changed = true;
	ok(!moves_possible(&fw, true),
	    "UIDVALIDITY changed: the folder is re-paired, not a move");
	folder_work_clear(&fw);
	folder(&fw, "1", "a b", "1=a 2=b");
	fw.loaded = false;
	ok(!moves_possible(&fw, true), "a folder that failed to load");
	folder_work_clear(&fw);
	return done_testing();
}
