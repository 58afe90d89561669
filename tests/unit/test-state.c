/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for the sync state: records, transactions, lock, decoder. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "flags.h"
#include "state.h"
#include "state_priv.h"
#include "util.h"

#include "../tap.h"

#include <tcutil.h>
#include <tcbdb.h>

static char *
tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *t = xasprintf("%s/test-state.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");

	if (mkdtemp(t) == NULL) {
		perror("mkdtemp");
		exit(99);
	}
	return t;
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static void
tmpdir_free(char **t)
{
	nftw(*t, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*t);
	*t = NULL;
}

static int
file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Open a writable state in dir or report why not. */
static struct state *
open_rw(const char *dir)
{
	struct state *s = NULL;
	struct err e = { 0 };

	if (state_open(dir, "test", false, &s, &e) < 0)
		printf("# state_open(%s): %s\n", dir, e.msg);
	return s;
}

static struct state_pair
mkpair(uint32_t uid, const char *name, unsigned bits, const char *kw,
    uint64_t size, const char *msgid)
{
	struct state_pair p = { 0 };

	p.uid = uid;
	p.name = name ? xstrdup(name) : NULL;
	p.flags.bits = bits;
	p.flags.kw = kw ? xstrdup(kw) : NULL;
	p.size = size;
	p.msgid = msgid ? xstrdup(msgid) : NULL;
	return p;
}

static bool
pair_eq(const struct state_pair *a, const struct state_pair *b)
{
	return a->id == b->id && a->uid == b->uid && a->size == b->size &&
	    flags_equal(&a->flags, &b->flags) &&
	    (a->name == NULL ? b->name == NULL :
	    b->name != NULL && strcmp(a->name, b->name) == 0) &&
	    (a->msgid == NULL ? b->msgid == NULL :
	    b->msgid != NULL && strcmp(a->msgid, b->msgid) == 0);
}

static bool
folder_eq(const struct state_folder *a, const struct state_folder *b)
{
	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	    a->highestmodseq == b->highestmodseq && a->exists == b->exists &&
	    a->local_mtime[0] == b->local_mtime[0] &&
	    a->local_mtime[1] == b->local_mtime[1] &&
	    a->local_change == b->local_change &&
	    a->remote_unpaired == b->remote_unpaired;
}

static void
test_open_modes(void)
{
	char *t = tmpdir_new();
	char *dir = xasprintf("%s/a/b/st", t);
	char *a = xasprintf("%s/a", t), *ab = xasprintf("%s/a/b", t);
	char *lock = xasprintf("%s/lock", dir);
	char *db = xasprintf("%s/state.tcb", dir);
	char *wal = xasprintf("%s/state.tcb.wal", dir);
	struct state_folder f = { 1, 2, 3, 4, { 5, 6 }, 7, 0 };
	struct err e = { 0 };
	struct state *s;
	char buf[64] = "";
	long pid = 0;
	long long since = 0;
	mode_t old = umask(022);
	FILE *fp;

	s = open_rw(dir);
	ok(s != NULL, "open creates the state dir and its parents");
	is_int(file_mode(a), 0700, "parent dir created 0700");
	is_int(file_mode(ab), 0700, "parent dir created 0700 (2)");
	is_int(file_mode(dir), 0700, "state dir created 0700");
	is_int(file_mode(lock), 0600, "lock file 0600");
	is_int(file_mode(db), 0600, "state.tcb 0600");
	ok(state_begin(s, &e) == 0 && state_folder_put(s, "INBOX", &f, &e) == 0,
	    "begin and put");
	if (exists(wal))
		is_int(file_mode(wal), 0600, "write-ahead log 0600");
	else
		ok(1, "no write-ahead log file");
	ok(state_commit(s, &e) == 0, "commit");
	fp = fopen(lock, "r");
	if (fp != NULL) {
		if (fgets(buf, sizeof(buf), fp) == NULL)
			buf[0] = '\0';
		fclose(fp);
	}
	ok(sscanf(buf, "%ld %lld", &pid, &since) == 2 &&
	    pid == (long)getpid() && since > 0 &&
	    since <= (long long)time(NULL), "lock file records pid and time");
	state_close(&s);
	ok(s == NULL, "close sets the pointer to NULL");
	ok(exists(lock), "close keeps the lock file");
	state_close(&s);
	ok(1, "closing NULL is harmless");
	umask(old);
	free(a);
	free(ab);
	free(lock);
	free(db);
	free(wal);
	free(dir);
	tmpdir_free(&t);
}

static void
test_folders(void)
{
	char *t = tmpdir_new();
	struct state_folder fa = { 11, 12, 13, 14, { 15, -1 }, 16, 17 },
	    fab = { 21, 22, 0, 24, { 0, 0 }, 0, 0 };
	struct state_folder fab2 = { 31, 32, UINT64_MAX, UINT32_MAX,
	    { INT64_MAX, INT64_MIN }, UINT32_MAX, UINT32_MAX - 1 };
	struct state_folder got;
	struct state_pair p = mkpair(5, "n", 0, NULL, 1, NULL);
	struct strv names = { 0 };
	struct err e = { 0 };
	struct state *s = open_rw(t);
	bool found = true;

	ok(state_begin(s, &e) == 0, "begin");
	ok(state_folder_put(s, "A", &fa, &e) == 0 &&
	    state_folder_put(s, "A/B", &fab, &e) == 0 &&
	    state_folder_put(s, "AB", &fab2, &e) == 0, "put three folders");
	ok(state_pair_put(s, "Z", &p, &e) == 0, "a pair in a folder without "
	    "a folder record");
	ok(state_commit(s, &e) == 0, "commit");

	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && found &&
	    folder_eq(&got, &fa), "folder A round trip");
	ok(state_folder_get(s, "A/B", &got, &found, &e) == 0 && found &&
	    folder_eq(&got, &fab), "folder A/B round trip");
	ok(state_folder_get(s, "AB", &got, &found, &e) == 0 && found &&
	    folder_eq(&got, &fab2),
	    "folder AB round trip with maximal values");
	memset(&got, 0xff, sizeof(got));
	ok(state_folder_get(s, "A/", &got, &found, &e) == 0 && !found &&
	    got.uidvalidity == 0 && got.uidnext == 0 &&
	    got.highestmodseq == 0 && got.exists == 0 &&
	    got.local_mtime[0] == 0 && got.local_change == 0,
	    "unknown folder: not found, zeroed");

	ok(state_folders(s, &names, &e) == 0, "state_folders");
	is_int((long long)names.n, 4, "four folders known");
	if (names.n == 4) {
		is_str(names.v[0], "A", "sorted 0");
		is_str(names.v[1], "A/B", "sorted 1");
		is_str(names.v[2], "AB", "sorted 2");
		is_str(names.v[3], "Z", "folder known only by its pairs");
	}
	strv_free(&names);

	ok(state_begin(s, &e) == 0 && state_folder_put(s, "A", &fab, &e) == 0 &&
	    state_commit(s, &e) == 0, "replace folder A");
	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && found &&
	    folder_eq(&got, &fab), "folder A replaced");

	state_pair_free(&p);
	state_close(&s);
	tmpdir_free(&t);
}

static void
test_pairs(void)
{
	char *t = tmpdir_new();
	struct state_pair p[6];
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	struct state *s = open_rw(t);
	const char *folder[6] = { "A", "A", "A/B", "AB", "A", "A" };
	bool all = true;

	p[0] = mkpair(1, "1.host,U=1:2,S", FLAG_SEEN, "$label1 work", 1234,
	    "<a@b>");
	/* Gone from the server, kept on disk. */
	p[1] = mkpair(0, "2.host", 0, NULL, 0, NULL);
	p[2] = mkpair(7, NULL, FLAG_ALL, "x", UINT64_MAX, "<c@d>");
	p[3] = mkpair(UINT32_MAX, "3.host", FLAG_DRAFT, "", 5, "");
	p[4] = mkpair(9, "", FLAG_FLAGGED, NULL, 9, NULL);
	p[5] = mkpair(10, "x", 0, NULL, 10, "<e@f>");

	ok(state_begin(s, &e) == 0, "begin");
	for (int i = 0; i < 6; i++)
		if (state_pair_put(s, folder[i], &p[i], &e) < 0) {
			printf("# %s\n", e.msg);
			all = false;
		}
	ok(all, "put six pairs");
	ok(p[0].id > 0, "an id is assigned");
	for (int i = 1; i < 6; i++)
		if (p[i].id <= p[i - 1].id)
			all = false;
	ok(all, "ids are unique and increase");
	ok(state_commit(s, &e) == 0, "commit");

	/* "" keywords are stored as none. */
	free(p[3].flags.kw);
	p[3].flags.kw = NULL;

	{
		uint32_t *u = NULL;
		size_t nu = 0;

		/* A: UIDs 1, (none), 9, 10 */
		ok(state_pair_uids(s, "A", &u, &nu, &e) == 0 && nu == 3 &&
		    u[0] + u[1] + u[2] == 20 && u[0] * u[1] * u[2] == 90,
		    "the UIDs of A's pairs, those without one left out");
		free(u);
		ok(state_pair_uids(s, "nowhere", &u, &nu, &e) == 0 && nu == 0,
		    "no UIDs for a folder without pairs");
		free(u);
	}
	{
		static const uint32_t want[] = { 7, 9, 11 };

		/* A has UIDs 1, 9, 10 (and a pair without one); A/B has 7 */
		ok(state_pairs_with_uids(s, "A", want, 3, &l, &e) == 0 &&
		    l.n == 1 && pair_eq(&l.v[0], &p[4]),
		    "the pairs with some UIDs: only A's, only those");
		state_pairs_free(&l);
		ok(state_pairs_with_uids(s, "A", want, 0, &l, &e) == 0 &&
		    l.n == 0, "no UIDs asked: none");
	}
	ok(state_pairs_load(s, "A", &l, &e) == 0, "load A");
	is_int((long long)l.n, 4, "A has four pairs, not those of A/B or AB");
	if (l.n == 4) {
		ok(pair_eq(&l.v[0], &p[0]), "pair with every field");
		ok(pair_eq(&l.v[1], &p[1]),
		    "pair without uid, keywords, msgid");
		ok(l.v[1].flags.kw == NULL && l.v[1].msgid == NULL,
		    "absent strings stay NULL");
		ok(pair_eq(&l.v[2], &p[4]), "pair with an empty name");
		is_str(l.v[2].name, "", "empty name stays empty");
		ok(pair_eq(&l.v[3], &p[5]), "pair 4 of A");
	}
	state_pairs_free(&l);
	ok(l.v == NULL && l.n == 0, "free empties the list");
	ok(state_pairs_load(s, "A/B", &l, &e) == 0 && l.n == 1 &&
	    pair_eq(&l.v[0], &p[2]), "A/B: pair without name");
	ok(state_pairs_load(s, "AB", &l, &e) == 0 && l.n == 2 &&
	    pair_eq(&l.v[1], &p[3]), "load appends: AB after A/B");
	is_str(l.n == 2 ? l.v[1].msgid : NULL, "", "empty msgid stays empty");
	state_pairs_free(&l);
	ok(state_pairs_load(s, "", &l, &e) == 0 && l.n == 0,
	    "no pairs in folder \"\"");
	ok(state_pairs_load(s, "A/", &l, &e) == 0 && l.n == 0,
	    "no pairs in folder A/");

	/* Replace, delete, explicit ids. */
	p[0].flags.bits = FLAG_SEEN | FLAG_ANSWERED;
	free(p[0].name);
	p[0].name = xstrdup("1.host,U=1:2,RS");
	ok(state_begin(s, &e) == 0 && state_pair_put(s, "A", &p[0], &e) == 0,
	    "replace a pair");
	ok(state_pair_del(s, "A", p[1].id, &e) == 0, "delete a pair");
	ok(state_pair_del(s, "A", 999999, &e) == 0,
	    "deleting a missing pair is not an error");
	{
		struct state_pair x = mkpair(1, "x", 0, NULL, 1, NULL);
		struct state_pair y = mkpair(2, "y", 0, NULL, 1, NULL);

		x.id = 1000;
		ok(state_pair_put(s, "B", &x, &e) == 0 && x.id == 1000,
		    "put with an explicit id keeps it");
		ok(state_pair_put(s, "B", &y, &e) == 0 && y.id == 1001,
		    "later ids go past an explicit one");
		state_pair_free(&x);
		state_pair_free(&y);
	}
	ok(state_commit(s, &e) == 0, "commit");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 3 &&
	    pair_eq(&l.v[0], &p[0]) && pair_eq(&l.v[1], &p[4]),
	    "replaced and deleted");
	state_pairs_free(&l);

	for (int i = 0; i < 6; i++)
		state_pair_free(&p[i]);
	state_close(&s);
	tmpdir_free(&t);
}

static void
test_intents(void)
{
	char *t = tmpdir_new();
	struct state_intent d = { 0 }, u = { 0 }, o = { 0 };
	struct state_pair p = mkpair(1, "n", 0, NULL, 1, NULL);
	struct state_intents l = { 0 };
	struct err e = { 0 };
	struct state *s = open_rw(t);

	d.kind = STATE_INTENT_DOWNLOAD;
	d.uid = 42;
	d.name = xstrdup("1700000000.M1P2.host");
	d.size = 4096;
	d.msgid = xstrdup("<x@y>");
	d.flags.bits = FLAG_SEEN;
	d.flags.kw = xstrdup("$junk");
	u.kind = STATE_INTENT_UPLOAD;
	u.name = xstrdup("cur/1.host:2,S");
	u.size = 77;
	u.uidnext = 901;
	o.kind = STATE_INTENT_UPLOAD;
	o.name = xstrdup("other");

	ok(state_begin(s, &e) == 0 && state_pair_put(s, "A", &p, &e) == 0 &&
	    state_intent_put(s, "A", &d, &e) == 0 &&
	    state_intent_put(s, "A", &u, &e) == 0 &&
	    state_intent_put(s, "AB", &o, &e) == 0 &&
	    state_commit(s, &e) == 0, "put intents");
	ok(d.id > p.id && u.id > d.id && o.id > u.id,
	    "intent ids are unique and increase, shared with pairs");
	ok(state_intents_load(s, "A", &l, &e) == 0, "load intents of A");
	is_int((long long)l.n, 2, "A has two intents");
	if (l.n == 2) {
		struct state_intent *x = &l.v[0], *y = &l.v[1];

		ok(x->id == d.id && x->kind == STATE_INTENT_DOWNLOAD &&
		    x->uid == 42 && x->size == 4096 && x->uidnext == 0 &&
		    flags_equal(&x->flags, &d.flags),
		    "download intent round trip");
		is_str(x->name, d.name, "download name");
		is_str(x->msgid, "<x@y>", "download msgid");
		ok(y->id == u.id && y->kind == STATE_INTENT_UPLOAD &&
		    y->uid == 0 && y->size == 77 && y->uidnext == 901 &&
		    y->flags.bits == 0 && y->flags.kw == NULL &&
		    y->msgid == NULL, "upload intent round trip");
		is_str(y->name, u.name, "upload name");
	}
	state_intents_free(&l);
	ok(state_begin(s, &e) == 0 && state_intent_del(s, "A", d.id, &e) == 0 &&
	    state_commit(s, &e) == 0, "delete an intent");
	ok(state_intents_load(s, "A", &l, &e) == 0 && l.n == 1 &&
	    l.v[0].id == u.id, "one intent left");
	state_intents_free(&l);
	{
		struct state_intent bad = { 0 };

		bad.kind = (enum state_intent_kind)7;
		ok(state_begin(s, &e) == 0 &&
		    state_intent_put(s, "A", &bad, &e) < 0 &&
		    strcmp(e.msg, "state: unknown intent kind") == 0,
		    "an unknown intent kind is refused");
		state_abort(s);
	}

	state_intent_free(&d);
	state_intent_free(&u);
	state_intent_free(&o);
	state_pair_free(&p);
	state_close(&s);
	tmpdir_free(&t);
}

/* The flags of pair id in folder as loaded, or ~0u when it is missing. */
static unsigned
loaded_bits(struct state *s, const char *folder, uint64_t id)
{
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	unsigned bits = ~0u;

	if (state_pairs_load(s, folder, &l, &e) < 0)
		printf("# %s\n", e.msg);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].id == id)
			bits = l.v[i].flags.bits;
	state_pairs_free(&l);
	return bits;
}

static bool
put_bits(struct state *s, const char *folder, struct state_pair *p,
    unsigned bits)
{
	struct err e = { 0 };

	p->flags.bits = bits;
	if (state_pair_put(s, folder, p, &e) == 0)
		return true;
	printf("# %s\n", e.msg);
	return false;
}

static bool
log_bits(struct state *s, const char *folder, struct state_pair *p,
    unsigned bits)
{
	struct err e = { 0 };

	p->flags.bits = bits;
	if (state_pair_flags(s, folder, p->id, &p->flags, &e) == 0)
		return true;
	printf("# %s\n", e.msg);
	return false;
}

/* Flag changes alone go to the folder's flag log, read over the pairs. */
static void
test_flag_log(void)
{
	char *t = tmpdir_new();
	struct state *s = open_rw(t);
	struct state_pair p[3], more[5000];
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	uint32_t uid2 = 2;
	bool all = true;

	p[0] = mkpair(1, "one", FLAG_SEEN, NULL, 10, "<1@x>");
	p[1] = mkpair(2, "two", 0, NULL, 20, NULL);
	p[2] = mkpair(3, "three", 0, "work", 30, "<3@x>");
	ok(state_begin(s, &e) == 0 && put_bits(s, "A", &p[0], FLAG_SEEN) &&
	    put_bits(s, "A", &p[1], 0) && put_bits(s, "B", &p[2], 0) &&
	    state_commit(s, &e) == 0, "three pairs in two folders");

	ok(state_begin(s, &e) == 0 &&
	    log_bits(s, "A", &p[0], FLAG_SEEN | FLAG_FLAGGED) &&
	    log_bits(s, "B", &p[2], FLAG_ANSWERED) &&
	    log_bits(s, "A", &p[1], FLAG_DRAFT), "flag changes, folders "
	    "interleaved");
	is_int(loaded_bits(s, "A", p[1].id), FLAG_DRAFT,
	    "read within the transaction");
	ok(state_commit(s, &e) == 0, "committed");
	is_int(loaded_bits(s, "A", p[0].id), FLAG_SEEN | FLAG_FLAGGED,
	    "A: the new flags are read");
	is_int(loaded_bits(s, "A", p[1].id), FLAG_DRAFT, "A: both");
	ok(state_pairs_load(s, "B", &l, &e) == 0 && l.n == 1 &&
	    l.v[0].flags.bits == FLAG_ANSWERED && l.v[0].flags.kw != NULL &&
	    strcmp(l.v[0].flags.kw, "work") == 0, "B: with its keywords");
	state_pairs_free(&l);
	ok(state_pairs_with_uids(s, "A", &uid2, 1, &l, &e) == 0 &&
	    l.n == 1 && l.v[0].flags.bits == FLAG_DRAFT,
	    "by UID, with the new flags");
	state_pairs_free(&l);

	ok(state_begin(s, &e) == 0 && log_bits(s, "A", &p[1], FLAG_SEEN),
	    "another change");
	state_abort(s);
	is_int(loaded_bits(s, "A", p[1].id), FLAG_DRAFT, "undone by abort");

	ok(state_begin(s, &e) == 0 && log_bits(s, "A", &p[0], FLAG_SEEN) &&
	    state_commit(s, &e) == 0, "back to the recorded flags");
	is_int(loaded_bits(s, "A", p[0].id), FLAG_SEEN, "read as such");

	free(p[1].name);
	p[1].name = xstrdup("two-renamed");
	ok(state_begin(s, &e) == 0 && put_bits(s, "A", &p[1], FLAG_SEEN) &&
	    state_commit(s, &e) == 0, "a pair written whole");
	is_int(loaded_bits(s, "A", p[1].id), FLAG_SEEN,
	    "its new flags, not the logged ones");
	ok(state_begin(s, &e) == 0 && log_bits(s, "A", &p[1], FLAG_DRAFT) &&
	    state_pair_del(s, "A", p[1].id, &e) == 0 &&
	    state_commit(s, &e) == 0, "a logged pair deleted");
	is_int(loaded_bits(s, "A", p[1].id), ~0u, "it is gone");

	/* past the log's size it is folded into the pairs */
	ok(state_begin(s, &e) == 0, "begin");
	for (size_t i = 0; i < 5000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%zu", i);
		more[i] = mkpair((uint32_t)(10 + i), name, 0, NULL, 5, NULL);
		all = all && put_bits(s, "C", &more[i], 0);
	}
	ok(all && state_commit(s, &e) == 0, "5000 pairs");
	ok(state_begin(s, &e) == 0, "begin");
	for (size_t i = 0; i < 5000; i++)
		all = all && log_bits(s, "C", &more[i],
		    i % 2 ? FLAG_SEEN : FLAG_FLAGGED);
	ok(all && state_commit(s, &e) == 0, "5000 flag changes");
	ok(state_pairs_load(s, "C", &l, &e) == 0 && l.n == 5000, "loaded");
	for (size_t i = 0; i < l.n; i++)
		all = all && l.v[i].flags.bits ==
		    (l.v[i].uid % 2 ? FLAG_SEEN : FLAG_FLAGGED);
	ok(all, "every one with its new flags");
	state_pairs_free(&l);
	ok(state_begin(s, &e) == 0 && log_bits(s, "C", &more[7], 0) &&
	    state_commit(s, &e) == 0, "one more after the fold");
	is_int(loaded_bits(s, "C", more[7].id), 0, "read right");
	ok(state_pair_flags(s, "C", more[7].id, &more[7].flags, &e) < 0,
	    "no flag change outside a transaction");

	ok(state_begin(s, &e) == 0 && log_bits(s, "A", &p[0], FLAG_DRAFT) &&
	    state_folder_drop(s, "A", &e) == 0 && state_commit(s, &e) == 0,
	    "a folder with a log dropped");
	is_int(loaded_bits(s, "A", p[0].id), ~0u, "nothing left of it");
	state_close(&s);
	s = open_rw(t);
	is_int(loaded_bits(s, "B", p[2].id), FLAG_ANSWERED,
	    "the log is read after reopening");
	state_close(&s);
	for (int i = 0; i < 3; i++)
		state_pair_free(&p[i]);
	for (size_t i = 0; i < 5000; i++)
		state_pair_free(&more[i]);
	tmpdir_free(&t);
}

static void
test_drop(void)
{
	char *t = tmpdir_new();
	struct state_folder f = { 1, 1, 1, 1, { 0, 0 }, 0, 0 };
	struct state_folder got;
	struct state_pairs l = { 0 };
	struct state_intents il = { 0 };
	struct strv names = { 0 };
	struct err e = { 0 };
	struct state *s = open_rw(t);
	const char *fs[] = { "A", "A/B", "AB" };
	bool all = true, found;

	ok(state_begin(s, &e) == 0, "begin");
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < 50; j++) {
			struct state_pair p = mkpair((uint32_t)j + 1, "n", 0,
			    NULL, 1, NULL);
			struct state_intent in = { 0 };

			in.name = xstrdup("i");
			if (state_pair_put(s, fs[i], &p, &e) < 0 ||
			    (j < 3 && state_intent_put(s, fs[i], &in, &e) < 0))
				all = false;
			state_pair_free(&p);
			state_intent_free(&in);
		}
		if (state_folder_put(s, fs[i], &f, &e) < 0)
			all = false;
	}
	ok(all, "three folders of 50 pairs and 3 intents");
	ok(state_commit(s, &e) == 0, "commit");
	ok(state_begin(s, &e) == 0 && state_folder_drop(s, "A", &e) == 0 &&
	    state_commit(s, &e) == 0, "drop A");
	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && !found,
	    "folder record of A gone");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 0,
	    "pairs of A gone");
	ok(state_intents_load(s, "A", &il, &e) == 0 && il.n == 0,
	    "intents of A gone");
	ok(state_pairs_load(s, "A/B", &l, &e) == 0 && l.n == 50 &&
	    state_pairs_load(s, "AB", &l, &e) == 0 && l.n == 100,
	    "pairs of A/B and AB kept");
	ok(state_intents_load(s, "A/B", &il, &e) == 0 &&
	    state_intents_load(s, "AB", &il, &e) == 0 && il.n == 6,
	    "intents of A/B and AB kept");
	ok(state_folders(s, &names, &e) == 0 && names.n == 2 &&
	    strcmp(names.v[0], "A/B") == 0 && strcmp(names.v[1], "AB") == 0,
	    "A is no longer known");
	ok(state_begin(s, &e) == 0 && state_folder_drop(s, "nope", &e) == 0 &&
	    state_folder_drop(s, "AB", &e) == 0 && state_commit(s, &e) == 0,
	    "dropping an unknown folder is harmless; drop AB (the last)");
	state_pairs_free(&l);
	ok(state_pairs_load(s, "AB", &l, &e) == 0 && l.n == 0 &&
	    state_pairs_load(s, "A/B", &l, &e) == 0 && l.n == 50,
	    "only A/B left");
	state_pairs_free(&l);
	state_intents_free(&il);
	strv_free(&names);
	state_close(&s);
	tmpdir_free(&t);
}

static void
test_transactions(void)
{
	char *t = tmpdir_new();
	struct state_folder f = { 5, 6, 7, 8, { 0, 0 }, 0, 0 },
	    g = { 9, 9, 9, 9, { 0, 0 }, 0, 0 }, got;
	struct state_pair p = mkpair(1, "kept", 0, NULL, 1, NULL);
	struct state_pair q = mkpair(2, "aborted", 0, NULL, 1, NULL);
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	struct state *s = open_rw(t);
	bool found;

	e.code = ERR_OK;
	ok(state_folder_put(s, "A", &f, &e) < 0 && e.code == ERR_FAIL &&
	    strcmp(e.msg, "state: write outside a transaction") == 0,
	    "put outside a transaction is refused");
	ok(state_pair_put(s, "A", &p, &e) < 0 && p.id == 0 &&
	    strcmp(e.msg, "state: write outside a transaction") == 0,
	    "pair put outside a transaction is refused");
	ok(state_pair_del(s, "A", 1, &e) < 0 && state_intent_del(s, "A", 1,
	    &e) < 0 && state_folder_drop(s, "A", &e) < 0,
	    "deletes outside a transaction are refused");
	ok(state_commit(s, &e) < 0 && e.code == ERR_FAIL,
	    "commit without begin is refused");

	ok(state_begin(s, &e) == 0 && state_folder_put(s, "A", &f, &e) == 0 &&
	    state_pair_put(s, "A", &p, &e) == 0 && state_commit(s, &e) == 0,
	    "commit one transaction");
	ok(state_begin(s, &e) == 0, "begin");
	ok(state_begin(s, &e) < 0 && e.code == ERR_FAIL,
	    "nested begin is refused");
	ok(state_folder_put(s, "A", &g, &e) == 0 &&
	    state_pair_put(s, "A", &q, &e) == 0, "changes in a transaction");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 2,
	    "a transaction sees its own changes");
	state_pairs_free(&l);
	state_abort(s);
	state_abort(s);
	ok(1, "abort twice is harmless");
	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && found &&
	    got.uidvalidity == 5, "abort discards the folder change");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 1 &&
	    strcmp(l.v[0].name, "kept") == 0, "abort discards the pair");
	state_pairs_free(&l);

	/* Closing with an open transaction discards it. */
	ok(state_begin(s, &e) == 0 && state_folder_put(s, "B", &g, &e) == 0,
	    "begin and put, then close");
	state_close(&s);
	s = open_rw(t);
	ok(s != NULL, "reopen");
	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && found &&
	    folder_eq(&got, &f), "reopen sees committed data");
	ok(state_folder_get(s, "B", &got, &found, &e) == 0 && !found,
	    "close discards an open transaction");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 1 &&
	    pair_eq(&l.v[0], &p), "reopen sees the committed pair");
	state_pairs_free(&l);
	{
		struct state_pair r = mkpair(3, "r", 0, NULL, 1, NULL);

		ok(state_begin(s, &e) == 0 &&
		    state_pair_put(s, "A", &r, &e) == 0 && r.id > p.id,
		    "after a reopen, ids continue past the committed ones");
		state_abort(s);
		state_pair_free(&r);
	}
	state_pair_free(&p);
	state_pair_free(&q);
	state_close(&s);
	tmpdir_free(&t);
}

/* Run fn in a child; returns its exit status, or -signal. */
static int
in_child(void (*fn)(const char *dir, int fd), const char *dir, char *msg,
    size_t msgsz)
{
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1000;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1000;
	if (pid == 0) {
		close(fds[0]);
		fn(dir, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], msg, msgsz - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1000;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void
child_open(const char *dir, int fd, bool readonly)
{
	struct state *s = NULL;
	struct err e = { 0 };

	if (state_open(dir, "test", readonly, &s, &e) == 0) {
		state_close(&s);
		_exit(0);
	}
	if (write(fd, e.msg, strlen(e.msg)) < 0)
		_exit(98);
	_exit(e.code == ERR_TEMP ? 75 : 1);
}

static void
child_open_rw(const char *dir, int fd)
{
	child_open(dir, fd, false);
}

static void
child_open_ro(const char *dir, int fd)
{
	child_open(dir, fd, true);
}

static void
test_lock(void)
{
	char *t = tmpdir_new();
	char *lock = xasprintf("%s/lock", t);
	char msg[1024], want[1024], when[32], buf[64] = "";
	struct state *s = open_rw(t);
	long long since = 0;
	struct tm tm;
	time_t tt;
	FILE *fp;
	int rc;

	fp = fopen(lock, "r");
	if (fp != NULL) {
		if (fgets(buf, sizeof(buf), fp) == NULL)
			buf[0] = '\0';
		fclose(fp);
	}
	if (sscanf(buf, "%*d %lld", &since) != 1)
		since = 0;
	tt = (time_t)since;
	localtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(want, sizeof(want),
	    "channel test is locked by pid %ld (since %s)", (long)getpid(),
	    when);

	rc = in_child(child_open_rw, t, msg, sizeof(msg));
	is_int(rc, 75, "a second open fails with ERR_TEMP");
	is_str(msg, want, "the message names the holder's pid and start");
	rc = in_child(child_open_ro, t, msg, sizeof(msg));
	is_int(rc, 75, "a read-only open honours the lock");
	is_str(msg, want, "same message for a read-only open");

	state_close(&s);
	rc = in_child(child_open_rw, t, msg, sizeof(msg));
	is_int(rc, 0, "after close another process gets the lock");

	/* A stale record from a dead holder names nobody. */
	{
		struct state *ro = NULL;
		struct err e = { 0 };

		fp = fopen(lock, "w");
		if (fp != NULL) {
			fputs("999999999 1700000000\n", fp);
			fclose(fp);
		}
		ok(state_open(t, "test", true, &ro, &e) == 0,
		    "read-only open takes the lock");
		rc = in_child(child_open_rw, t, msg, sizeof(msg));
		is_int(rc, 75, "locked by a read-only run");
		is_str(msg, "channel test is locked by another process",
		    "a stale lock record is not shown");
		state_close(&ro);
	}
	free(lock);
	tmpdir_free(&t);
}

static void
test_readonly(void)
{
	char *t = tmpdir_new();
	char *dir = xasprintf("%s/missing", t);
	char *lock = xasprintf("%s/lock", t);
	char *db = xasprintf("%s/state.tcb", t);
	struct state_folder f = { 1, 2, 3, 4, { 0, 0 }, 0, 0 }, got;
	struct state_pair p = mkpair(1, "n", 0, NULL, 1, NULL);
	struct state_pairs l = { 0 };
	struct state_intents il = { 0 };
	struct strv names = { 0 };
	struct err e = { 0 };
	struct state *s = NULL;
	bool found = true;

	ok(state_open(dir, "test", true, &s, &e) == 0 && s != NULL,
	    "read-only open of a missing dir succeeds");
	ok(!exists(dir), "and creates nothing");
	ok(state_folders(s, &names, &e) == 0 && names.n == 0, "no folders");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 0, "no pairs");
	ok(state_intents_load(s, "A", &il, &e) == 0 && il.n == 0,
	    "no intents");
	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && !found,
	    "no folder");
	ok(state_begin(s, &e) < 0 && e.code == ERR_FAIL,
	    "no transaction on a read-only state");
	state_close(&s);
	ok(!exists(dir), "still nothing after close");

	ok(state_open(t, "test", true, &s, &e) == 0,
	    "read-only open of an empty dir");
	ok(!exists(lock) && !exists(db), "creates no lock and no database");
	state_close(&s);

	s = open_rw(t);
	ok(s != NULL && state_begin(s, &e) == 0 &&
	    state_folder_put(s, "A", &f, &e) == 0 &&
	    state_pair_put(s, "A", &p, &e) == 0 && state_commit(s, &e) == 0,
	    "write a state");
	state_close(&s);
	ok(state_open(t, "test", true, &s, &e) == 0, "read-only open");
	ok(state_folder_get(s, "A", &got, &found, &e) == 0 && found &&
	    folder_eq(&got, &f), "read-only sees the folder");
	ok(state_pairs_load(s, "A", &l, &e) == 0 && l.n == 1 &&
	    pair_eq(&l.v[0], &p), "read-only sees the pair");
	{
		char *want = xasprintf("state %s: opened read-only", t);

		ok(state_begin(s, &e) < 0 && e.code == ERR_FAIL,
		    "no transaction on a read-only state");
		is_str(e.msg, want, "read-only message");
		free(want);
	}
	state_close(&s);

	state_pairs_free(&l);
	state_pair_free(&p);
	free(dir);
	free(lock);
	free(db);
	tmpdir_free(&t);
}

/* Records built by hand, following the format comment in state.c. */
struct rec {
	unsigned char b[256];
	size_t n;
};

static void
r8(struct rec *r, unsigned v)
{
	r->b[r->n++] = (unsigned char)v;
}

static void
r32(struct rec *r, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		r8(r, (v >> (8 * i)) & 0xff);
}

static void
r64(struct rec *r, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		r8(r, (unsigned)(v >> (8 * i)) & 0xff);
}

static void
rstr(struct rec *r, const char *s)
{
	if (s == NULL) {
		r8(r, 0);
		return;
	}
	r8(r, 1);
	r32(r, (uint32_t)strlen(s));
	memcpy(r->b + r->n, s, strlen(s));
	r->n += strlen(s);
}

static struct rec
pair_rec(uint64_t id, unsigned bits, const char *name)
{
	struct rec r = { .n = 0 };

	r8(&r, 'p');
	r8(&r, 1);
	r64(&r, id);
	r32(&r, 42);
	r32(&r, bits);
	r64(&r, 1000);
	rstr(&r, name);
	rstr(&r, "a b");
	rstr(&r, "<m@x>");
	return r;
}

static struct rec
intent_rec(unsigned kind)
{
	struct rec r = { .n = 0 };

	r8(&r, 'i');
	r8(&r, 1);
	r64(&r, 9);
	r8(&r, kind);
	r32(&r, 5);
	r64(&r, 300);
	r32(&r, 77);
	r32(&r, FLAG_DRAFT);
	rstr(&r, "name");
	rstr(&r, NULL);
	rstr(&r, "<i@x>");
	return r;
}

static struct rec
folder_rec(void)
{
	struct rec r = { .n = 0 };

	r8(&r, 'f');
	r8(&r, 1);
	r32(&r, 1);
	r32(&r, 2);
	r64(&r, 3);
	r32(&r, 4);
	r64(&r, 5);
	r64(&r, 6);
	r32(&r, 7);
	return r;
}

/* The same with the remote-unpaired count that newer records end with. */
static struct rec
folder_rec2(void)
{
	struct rec r = folder_rec();

	r32(&r, 8);
	return r;
}

static bool
pair_zero(const struct state_pair *p)
{
	return p->id == 0 && p->uid == 0 && p->name == NULL &&
	    p->msgid == NULL && p->flags.kw == NULL && p->flags.bits == 0;
}

/* Decode buf as each kind: never crash; succeed or fail cleanly. */
static bool
decode_any(const void *buf, size_t n)
{
	struct state_folder f;
	struct state_pair p;
	struct state_intent in;
	struct err e = { 0 };
	bool good = true;

	if (state_decode_pair(buf, n, &p, &e) == 0)
		state_pair_free(&p);
	else if (e.code != ERR_FAIL ||
	    strncmp(e.msg, "corrupt record: ", 16) != 0 || !pair_zero(&p))
		good = false;
	if (state_decode_intent(buf, n, &in, &e) == 0)
		state_intent_free(&in);
	else if (e.code != ERR_FAIL ||
	    strncmp(e.msg, "corrupt record: ", 16) != 0 || in.name != NULL)
		good = false;
	if (state_decode_folder(buf, n, &f, &e) < 0 &&
	    (e.code != ERR_FAIL || strncmp(e.msg, "corrupt record: ", 16) != 0))
		good = false;
	return good;
}

static uint64_t
rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
expect_bad_pair(const struct rec *r, const char *want, const char *what)
{
	struct state_pair p;
	struct err e = { 0 };

	ok(state_decode_pair(r->b, r->n, &p, &e) < 0 && e.code == ERR_FAIL &&
	    pair_zero(&p), "%s is rejected", what);
	is_str(e.msg, want, "%s: message", what);
}

static void
test_decode(void)
{
	struct rec r = pair_rec(7, FLAG_SEEN, "n1"), bad;
	struct state_pair p;
	struct state_intent in;
	struct state_folder f;
	struct err e = { 0 };
	bool all = true;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t cut;

	ok(state_decode_pair(r.b, r.n, &p, &e) == 0 && p.id == 7 &&
	    p.uid == 42 && p.flags.bits == FLAG_SEEN && p.size == 1000,
	    "a hand-built pair decodes");
	is_str(p.name, "n1", "its name");
	is_str(p.flags.kw, "a b", "its keywords");
	is_str(p.msgid, "<m@x>", "its msgid");
	state_pair_free(&p);
	in.name = NULL;
	bad = intent_rec(1);
	ok(state_decode_intent(bad.b, bad.n, &in, &e) == 0 &&
	    in.id == 9 && in.kind == STATE_INTENT_UPLOAD && in.uid == 5 &&
	    in.size == 300 && in.uidnext == 77 && in.flags.bits == FLAG_DRAFT &&
	    in.flags.kw == NULL && in.name != NULL &&
	    strcmp(in.name, "name") == 0 && in.msgid != NULL &&
	    strcmp(in.msgid, "<i@x>") == 0, "a hand-built intent decodes");
	state_intent_free(&in);
	ok(state_decode_folder(folder_rec().b, folder_rec().n, &f, &e) == 0 &&
	    f.uidvalidity == 1 && f.uidnext == 2 && f.highestmodseq == 3 &&
	    f.exists == 4 && f.local_change == 7 &&
	    f.remote_unpaired == UINT32_MAX,
	    "a hand-built folder record decodes (remote unpaired unknown)");
	ok(state_decode_folder(folder_rec2().b, folder_rec2().n, &f, &e) == 0 &&
	    f.uidvalidity == 1 && f.local_change == 7 && f.remote_unpaired == 8,
	    "a folder record with the remote unpaired count decodes");

	for (cut = 0; cut < r.n; cut++) {
		if (state_decode_pair(r.b, cut, &p, &e) == 0) {
			state_pair_free(&p);
			all = false;
		} else if (!pair_zero(&p) ||
		    strncmp(e.msg, "corrupt record: ", 16) != 0) {
			all = false;
		}
	}
	ok(all, "every truncation of a pair is rejected");
	ok(state_decode_pair(NULL, 0, &p, &e) < 0,
	    "an empty record is rejected");
	is_str(e.msg, "corrupt record: truncated", "message for truncation");
	all = true;
	for (cut = 0; cut < intent_rec(0).n; cut++)
		if (state_decode_intent(intent_rec(0).b, cut, &in, &e) == 0)
			all = false;
	for (cut = 0; cut < folder_rec().n; cut++)
		if (state_decode_folder(folder_rec().b, cut, &f, &e) == 0)
			all = false;
	ok(all, "every truncation of an intent or folder record is rejected");
	all = true;
	for (cut = folder_rec().n + 1; cut < folder_rec2().n; cut++)
		if (state_decode_folder(folder_rec2().b, cut, &f, &e) == 0)
			all = false;
	ok(all, "a truncated remote unpaired count is rejected");

	bad = r;
	r8(&bad, 0);
	expect_bad_pair(&bad, "corrupt record: trailing bytes",
	    "a trailing byte");
	bad = r;
	bad.b[0] = 'i';
	expect_bad_pair(&bad, "corrupt record: wrong record type",
	    "wrong type");
	bad = r;
	bad.b[1] = 2;
	expect_bad_pair(&bad, "corrupt record: unknown record version",
	    "record version 2");
	bad = pair_rec(0, 0, "n");
	expect_bad_pair(&bad, "corrupt record: id 0", "id 0");
	bad = pair_rec(1, 1u << 6, "n");
	expect_bad_pair(&bad, "corrupt record: unknown flag bits",
	    "unknown flag bits");
	bad = pair_rec(1, 0, "n\001");
	bad.b[2 + 8 + 4 + 4 + 8 + 1 + 4 + 1] = '\0';
	expect_bad_pair(&bad, "corrupt record: NUL inside a string",
	    "a NUL inside the name");
	bad = r;
	bad.b[2 + 8 + 4 + 4 + 8] = 2;
	expect_bad_pair(&bad, "corrupt record: bad string marker",
	    "string marker 2");
	for (int i = 0; i < 4; i++) {
		uint32_t huge[] = {
			0xffffffffu, 0x80000000u, 0x7fffffffu, 256
		};

		bad = r;
		bad.n = 2 + 8 + 4 + 4 + 8 + 1;
		r32(&bad, huge[i]);
		bad.n = r.n;
		expect_bad_pair(&bad,
		    "corrupt record: string length beyond the record",
		    "a huge string length");
	}
	{
		struct rec ib = intent_rec(2);

		ok(state_decode_intent(ib.b, ib.n, &in, &e) < 0 &&
		    in.name == NULL, "intent kind 2 is rejected");
		is_str(e.msg, "corrupt record: unknown intent kind",
		    "intent kind message");
		ib = folder_rec();
		r8(&ib, 0);
		ok(state_decode_folder(ib.b, ib.n, &f, &e) < 0 &&
		    f.uidvalidity == 0, "a long folder record is rejected");
		ib = folder_rec2();
		r8(&ib, 0);
		ok(state_decode_folder(ib.b, ib.n, &f, &e) < 0 &&
		    f.uidvalidity == 0, "a longer folder record is rejected");
		is_str(e.msg, "corrupt record: trailing bytes",
		    "its message");
	}

	all = true;
	for (int i = 0; i < 20000; i++) {
		unsigned char buf[96];
		size_t n = rnd(&x) % sizeof(buf);

		for (size_t j = 0; j < n; j++)
			buf[j] = (unsigned char)rnd(&x);
		if (n >= 2 && i % 2 == 0) {
			buf[0] = "pif"[i % 3];
			buf[1] = 1;
		}
		if (!decode_any(buf, n))
			all = false;
	}
	ok(all, "random bytes are rejected cleanly");
	all = true;
	for (int i = 0; i < 20000; i++) {
		struct rec m = i % 3 == 0 ? pair_rec(3, 0, "abc") :
		    i % 3 == 1 ? intent_rec(0) : folder_rec();
		int flips = 1 + (int)(rnd(&x) % 3);

		for (int j = 0; j < flips; j++)
			m.b[rnd(&x) % m.n] = (unsigned char)rnd(&x);
		if (i % 5 == 0)
			m.n = rnd(&x) % (m.n + 1);
		if (!decode_any(m.b, m.n))
			all = false;
	}
	ok(all, "mutated records are decoded or rejected cleanly");
}

/* A flag log that does not decode: refused, never half read. */
static void
test_bad_flag_log(void)
{
	static const struct {
		const char *what, *bytes;
		size_t n;
	} bad[] = {
		/* 'g' 1, count 1, id 0, bits 0, no keywords */
		{ "id 0", "g\1\0\0\0\1\0\0\0\0\0\0\0\0\0\0\0\0\0", 19 },
		/* count 2, ids 5 then 5 */
		{ "ids out of order", "g\1\0\0\0\2"
		    "\0\0\0\0\0\0\0\5\0\0\0\0\0"
		    "\0\0\0\0\0\0\0\5\0\0\0\0\0", 32 },
		{ "count beyond the record", "g\1\0\0\0\3", 6 },
		{ "a pair record", "p\1", 2 },
		{ "trailing bytes", "g\1\0\0\0\0\0", 7 },
	};
	char *t = tmpdir_new();
	char *db = xasprintf("%s/state.tcb", t);
	struct state *s = open_rw(t);
	struct state_pair p = mkpair(1, "one", FLAG_SEEN, NULL, 10, NULL);
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	TCBDB *raw;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct flag_log *fl = xcalloc(1, sizeof(*fl));

		ok(rec_log_decode(bad[i].bytes, bad[i].n, fl) != NULL,
		    "flag log refused: %s", bad[i].what);
		flag_log_free(fl);
	}
	ok(state_begin(s, &e) == 0 && put_bits(s, "A", &p, FLAG_SEEN) &&
	    state_commit(s, &e) == 0, "a pair");
	state_close(&s);
	raw = tcbdbnew();
	ok(tcbdbopen(raw, db, BDBOWRITER) &&
	    tcbdbput(raw, "GA", 2, "g\1\0\0\0\3", 6) && tcbdbclose(raw),
	    "a broken flag log written behind its back");
	tcbdbdel(raw);
	s = open_rw(t);
	ok(state_pairs_load(s, "A", &l, &e) < 0 && l.n == 0 &&
	    strstr(e.msg, "corrupt record (folder A, flag log)") != NULL,
	    "reading the folder's pairs fails and says why");
	state_pairs_free(&l);
	state_close(&s);
	state_pair_free(&p);
	free(db);
	tmpdir_free(&t);
}

static void
test_garbage_db(void)
{
	char *t = tmpdir_new();
	char *db = xasprintf("%s/state.tcb", t);
	char *want = xasprintf("tcbdbopen(%s) failed: ", db);
	unsigned char junk[4096];
	struct state *s = NULL;
	struct err e = { 0 };
	uint64_t x = 12345;
	FILE *fp;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rnd(&x);
	fp = fopen(db, "w");
	if (fp != NULL) {
		fwrite(junk, 1, sizeof(junk), fp);
		fclose(fp);
	}
	ok(state_open(t, "test", false, &s, &e) < 0 && s == NULL &&
	    e.code == ERR_FAIL, "a garbage database is refused");
	ok(strncmp(e.msg, want, strlen(want)) == 0,
	    "the message names the file: %s", e.msg);
	ok(state_open(t, "test", true, &s, &e) < 0 && s == NULL &&
	    strncmp(e.msg, want, strlen(want)) == 0,
	    "also when read-only");
	ok(state_open(t, "test", false, &s, &e) < 0 && e.code == ERR_FAIL,
	    "the lock is released after a failed open (fails on the data "
	    "again, not on the lock)");
	free(db);
	free(want);
	tmpdir_free(&t);
}

static void
child_crash(const char *dir, int fd, const char *after)
{
	struct state *s = NULL;
	struct err e = { 0 };

	setenv("MAILSYNC_CRASH_AFTER", after, 1);
	if (state_open(dir, "test", false, &s, &e) < 0)
		_exit(2);
	for (int i = 1; i <= 3; i++) {
		char name[8];
		struct state_pair p = { 0 };

		snprintf(name, sizeof(name), "c%d", i);
		p.name = name;
		if (state_begin(s, &e) < 0 ||
		    state_pair_put(s, "A", &p, &e) < 0 ||
		    state_commit(s, &e) < 0)
			_exit(3);
	}
	if (write(fd, "survived", 8) < 0)
		_exit(4);
	state_close(&s);
	_exit(0);
}

static void
child_crash_2(const char *dir, int fd)
{
	child_crash(dir, fd, "2");
}

static void
child_crash_0(const char *dir, int fd)
{
	child_crash(dir, fd, "0");
}

static void
test_crash(void)
{
	char *t = tmpdir_new();
	struct state_pair p = { 0 };
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	struct state *s;
	char msg[64];
	int rc;

	rc = in_child(child_crash_2, t, msg, sizeof(msg));
	is_int(rc, -SIGKILL, "MAILSYNC_CRASH_AFTER=2: killed by SIGKILL");
	is_str(msg, "", "the child did not get past the hook");
	s = open_rw(t);
	ok(s != NULL, "reopen after the crash");
	ok(s != NULL && state_pairs_load(s, "A", &l, &e) == 0 && l.n == 2,
	    "the two committed transactions are there");
	ok(l.n == 2 && strcmp(l.v[0].name, "c1") == 0 &&
	    strcmp(l.v[1].name, "c2") == 0, "c1 and c2, not c3");
	state_pairs_free(&l);
	p.name = xstrdup("after");
	ok(s != NULL && state_begin(s, &e) == 0 &&
	    state_pair_put(s, "A", &p, &e) == 0 && state_commit(s, &e) == 0,
	    "the state is writable after the crash");
	state_close(&s);
	s = open_rw(t);
	ok(s != NULL && state_pairs_load(s, "A", &l, &e) == 0 && l.n == 3,
	    "and keeps the new write");
	state_pairs_free(&l);
	state_close(&s);

	rc = in_child(child_crash_0, t, msg, sizeof(msg));
	is_int(rc, 0, "MAILSYNC_CRASH_AFTER=0 is ignored");
	is_str(msg, "survived", "the child ran to the end");
	state_pair_free(&p);
	tmpdir_free(&t);
}

/*
 * Power loss, modelled: a file keeps on disk what it held at its last
 * fsync.  This fsync replaces the C library's for Tokyo Cabinet too (as
 * sched_yield does in state.c).  While power.dir is set, each fsync of a
 * regular file in it first copies the file into power.disk, the disk as a
 * power loss would leave it if no write since the fsync had reached it (the
 * kill -9 tests cover the other end, every write kept); after power.left
 * such fsyncs the power is out and the copies stay as they are.
 */
static struct {
	const char *dir, *disk;
	int left, seen;
	bool lost;		/* a copy failed: the model is void */
} power;

static bool
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in, out;
	ssize_t n = -1;

	in = open(from, O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in >= 0 && out >= 0)
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n) {
				n = -1;
				break;
			}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return n == 0;
}

int
fsync(int fd)
{
	char link[64], path[4096], *to;
	size_t dlen;
	struct stat st;
	ssize_t n;

	if (power.dir != NULL && power.left > 0 && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		path[n > 0 ? n : 0] = '\0';
		dlen = strlen(power.dir);
		if (strncmp(path, power.dir, dlen) == 0 && path[dlen] == '/') {
			to = xasprintf("%s%s", power.disk, path + dlen);
			if (!copy_file(path, to))
				power.lost = true;
			free(to);
			power.left--;
			power.seen++;
		}
	}
	return (int)syscall(SYS_fsync, fd);
}

#define PL_PAIRS 1000
#define PL_CHANGED 40

/* Copy the state files of dir "from" into "to"; a clean close leaves no log. */
static bool
copy_state(const char *from, const char *to)
{
	static const char *const names[] = { "state.tcb", "state.tcb.wal" };
	bool good = true;

	for (size_t i = 0; i < 2; i++) {
		char *a = xasprintf("%s/%s", from, names[i]),
		    *b = xasprintf("%s/%s", to, names[i]);

		if (i == 0 || exists(a))
			good = good && copy_file(a, b);
		free(a);
		free(b);
	}
	return good;
}

/*
 * One commit that renames PL_CHANGED pairs spread over the folder (so over
 * many leaves), with the power failing after its k-th fsync.  Returns the
 * number of renamed pairs the disk then holds (-1: the state is damaged),
 * and in *seen the fsyncs the commit made before the power went out.
 */
static int
commit_until_power_loss(const char *base, int k, int *seen)
{
	char *work = tmpdir_new(), *disk = tmpdir_new();
	struct state_pairs l = { 0 };
	struct err e = { 0 };
	struct state *s;
	int renamed = -1;

	*seen = 0;
	if (!copy_state(base, work) || !copy_state(base, disk) ||
	    (s = open_rw(work)) == NULL)
		goto out;
	if (state_pairs_load(s, "A", &l, &e) < 0 || l.n != PL_PAIRS) {
		state_close(&s);
		goto out;
	}
	power.dir = work;
	power.disk = disk;
	power.left = k;
	power.seen = 0;
	power.lost = false;
	if (state_begin(s, &e) == 0) {
		for (size_t i = 0; i < PL_PAIRS; i += PL_PAIRS / PL_CHANGED) {
			struct state_pair *p = &l.v[i];

			free(p->name);
			p->name = xstrdup("renamed");
			state_pair_put(s, "A", p, &e);
		}
		state_commit(s, &e);
	}
	power.dir = NULL;
	*seen = power.seen;
	state_close(&s);
	state_pairs_free(&l);
	if (power.lost || (s = open_rw(disk)) == NULL)
		goto out;
	if (state_pairs_load(s, "A", &l, &e) == 0 && l.n == PL_PAIRS) {
		renamed = 0;
		for (size_t i = 0; i < l.n; i++)
			renamed += strcmp(l.v[i].name, "renamed") == 0;
	}
	state_close(&s);
out:
	state_pairs_free(&l);
	tmpdir_free(&work);
	tmpdir_free(&disk);
	return renamed;
}

static void
test_power_loss(void)
{
	char *base = tmpdir_new();
	struct err e = { 0 };
	struct state *s = open_rw(base);
	int k, seen = 0, renamed = 0, torn = 0;

	ok(s != NULL && state_begin(s, &e) == 0, "power loss: a base state");
	for (uint32_t uid = 1; s != NULL && uid <= PL_PAIRS; uid++) {
		char *name = xasprintf("1700000000.M%uP1.host,S=4242:2,S", uid);
		struct state_pair p = mkpair(uid, name, 0, NULL, 4242,
		    "<some-message-id@example.org>");

		state_pair_put(s, "A", &p, &e);
		state_pair_free(&p);
		free(name);
	}
	ok(s != NULL && state_commit(s, &e) == 0, "with %d pairs", PL_PAIRS);
	state_close(&s);

	/* bounded: a commit of this size makes well under 200 fsyncs */
	for (k = 1; k < 200; k++) {
		renamed = commit_until_power_loss(base, k, &seen);
		if (renamed != 0 && renamed != PL_CHANGED) {
			printf("# power lost after fsync %d: %d renamed\n", k,
			    renamed);
			torn++;
		}
		if (seen < k)
			break;
	}
	ok(seen > 3 && seen < k, "begin to commit: %d fsyncs", seen);
	ok(torn == 0, "power lost after any of them: the old or the new state");
	is_int(renamed, PL_CHANGED,
	    "power lost after state_commit returned: the new state");
	tmpdir_free(&base);
}

int
main(void)
{
	test_open_modes();
	test_folders();
	test_pairs();
	test_intents();
	test_flag_log();
	test_drop();
	test_transactions();
	test_lock();
	test_readonly();
	test_decode();
	test_bad_flag_log();
	test_garbage_db();
	test_crash();
	test_power_loss();
	return done_testing();
}
