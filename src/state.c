/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Sync state, copy journal and channel lock in a Tokyo Cabinet B+ tree. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tcutil.h>
#include <tcbdb.h>

#include "state.h"
#include "state_priv.h"

/*
 * Key layout.  A B+ tree keeps keys in memcmp order, so all records of one
 * folder are one range scan; the NUL after the folder name keeps "A" from
 * scanning into "A/B" or "AB".  Ids are fixed-width hex so that they sort
 * numerically.
 *
 *   "v"                     format version, the text "1"
 *   "N"                     next id, 8 bytes big-endian (pairs and intents)
 *   "F" folder              folder record
 *   "P" folder NUL %016x    pair record
 *   "I" folder NUL %016x    intent record
 *   "G" folder              flag log (see "The flag log" below)
 *
 * The records' values are in state_record.c.
 */
#define STATE_FORMAT "1"

/*
 * Tokyo Cabinet as Debian builds it (1.4.48) calls sched_yield(2) in its
 * record and cursor functions even when no mutex was asked for: about two
 * per pair loaded, 75,000 for a 20,000-message folder.  On a busy machine
 * each one hands the CPU to another process for a time slice (a no-change
 * run measured 0.21 s instead of 0.15 s under load).  Its own locking is
 * off (folders synced at once share the database through struct state's
 * mutex instead), so it has nothing to yield to, and the executable's own
 * definition, which the dynamic linker binds Tokyo Cabinet's calls to,
 * does nothing.
 */
int
sched_yield(void)
{
	return 0;
}

struct flag_log;

/*
 * Threads (folders of a channel synced at once) share one state: every
 * call holds mu, so Tokyo Cabinet sees one call at a time, and one thread
 * at a time has a transaction open (owner): state_begin waits for the
 * others' to end.  Reads go on meanwhile; each thread reads and writes
 * its own folders.
 */
struct state {
	pthread_mutex_t mu;
	pthread_cond_t tran_done;
	pthread_t owner;	/* whose transaction is open (in_tran) */
	char *dir;
	char *path;		/* dir/state.tcb */
	char *wal;		/* its write-ahead log, dir/state.tcb.wal */
	TCBDB *db;		/* NULL: read-only view, no database */
	int lockfd;		/* -1: read-only without a lock file */
	bool readonly;
	bool in_tran;
	bool broken;		/* a commit failed: the cache is not trusted */
	char broken_why[sizeof(((struct err *)0)->msg)];
	size_t tran_bytes;	/* keys and values put in this transaction */
	struct flag_log *log;	/* one folder's, as this transaction has it */
	unsigned long commits;
	unsigned long crash_after;	/* MAILSYNC_CRASH_AFTER, 0 if unset */
};

/* Keys and database helpers. */

static int
db_err(struct state *s, const char *op, struct err *e)
{
	int saved = errno, ecode = tcbdbecode(s->db);

	/* TCEOPEN..TCERMDIR come from a failed system call: give its errno,
	 * so a full disk reads "No space left on device", not "write error" */
	if (ecode >= TCEOPEN && ecode <= TCERMDIR && saved != 0)
		return err_set(e, ERR_FAIL, "%s(%s) failed: %s: %s", op,
		    s->path, tcbdberrmsg(ecode), strerror(saved));
	return err_set(e, ERR_FAIL, "%s(%s) failed: %s", op, s->path,
	    tcbdberrmsg(ecode));
}

static int
corrupt(struct state *s, const char *folder, const char *what, uint64_t id,
    const char *why, struct err *e)
{
	if (folder == NULL)
		return err_set(e, ERR_FAIL, "state %s: corrupt record %s: %s",
		    s->dir, what, why);
	if (id == 0)
		return err_set(e, ERR_FAIL,
		    "state %s: corrupt record (folder %s, %s): %s", s->dir,
		    folder, what, why);
	return err_set(e, ERR_FAIL,
	    "state %s: corrupt record (folder %s, %s %" PRIu64 "): %s", s->dir,
	    folder, what, id, why);
}

static int
folder_ok(const char *folder, struct err *e)
{
	if (folder == NULL || strlen(folder) > 65536)
		return err_set(e, ERR_FAIL, "state: invalid folder name");
	return 0;
}

static void
key_folder(struct buf *k, char type, const char *folder)
{
	buf_reset(k);
	buf_addc(k, type);
	buf_adds(k, folder);
}

static void
key_prefix(struct buf *k, char type, const char *folder)
{
	key_folder(k, type, folder);
	buf_addc(k, '\0');
}

static void
key_item(struct buf *k, char type, const char *folder, uint64_t id)
{
	char hex[17];

	key_prefix(k, type, folder);
	snprintf(hex, sizeof(hex), "%016" PRIx64, id);
	buf_add(k, hex, 16);
}

/* The id from the tail of an item key, or 0 if it is not 16 hex digits. */
static uint64_t
key_id(const char *p, size_t n)
{
	uint64_t id = 0;

	if (n != 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return 0;
		id = id << 4 | (uint64_t)d;
	}
	return id;
}

static int
db_put(struct state *s, const struct buf *k, const struct buf *v,
    struct err *e)
{
	if (!tcbdbput(s->db, k->data, (int)k->len, v->data, (int)v->len))
		return db_err(s, "tcbdbput", e);
	s->tran_bytes += k->len + v->len;
	return 0;
}

/* Delete one key; a missing one is not an error (idempotent replays). */
static int
db_out(struct state *s, const struct buf *k, struct err *e)
{
	if (!tcbdbout(s->db, k->data, (int)k->len) &&
	    tcbdbecode(s->db) != TCENOREC)
		return db_err(s, "tcbdbout", e);
	return 0;
}

/* The value of key k into *val (the caller frees it with tcfree): 1, or 0
 * when there is none. */
static int
db_get(struct state *s, const struct buf *k, void **val, int *len,
    struct err *e)
{
	*val = tcbdbget(s->db, k->data, (int)k->len, len);
	if (*val != NULL)
		return 1;
	return tcbdbecode(s->db) == TCENOREC ? 0 : db_err(s, "tcbdbget", e);
}

/*
 * After a failed commit, Tokyo Cabinet's page cache may still hold pages of
 * the rolled-back transaction; reading or writing through it again could
 * show or store changes that never happened, so the run stops using it.
 */
static int
usable(struct state *s, struct err *e)
{
	if (s->broken)
		return err_set(e, ERR_FAIL, "not used again after a failed "
		    "commit: %s", s->broken_why);
	return 0;
}

static int
writable(struct state *s, struct err *e)
{
	if (!s->in_tran || !pthread_equal(s->owner, pthread_self()))
		return err_set(e, ERR_FAIL,
		    "state: write outside a transaction");
	return 0;
}

static int
counter_get(struct state *s, uint64_t *out, struct err *e)
{
	const unsigned char *p;
	int len;

	p = tcbdbget3(s->db, "N", 1, &len);
	if (p == NULL) {
		if (tcbdbecode(s->db) != TCENOREC)
			return db_err(s, "tcbdbget", e);
		*out = 1;
		return 0;
	}
	if (len != 8)
		return corrupt(s, NULL, "N", 0, "bad length", e);
	*out = 0;
	for (int i = 0; i < 8; i++)
		*out = *out << 8 | p[i];
	return 0;
}

static int
counter_set(struct state *s, uint64_t next, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	int rc;

	buf_addc(&k, 'N');
	rec_put_u64(&v, next);
	rc = db_put(s, &k, &v, e);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/*
 * A new id when *id is 0; otherwise keep the counter past *id so that an
 * explicitly given id is never handed out again.
 */
static int
claim_id(struct state *s, uint64_t *id, struct err *e)
{
	uint64_t next = 0;

	if (counter_get(s, &next, e) < 0)
		return -1;
	if (*id == 0) {
		if (next == 0 || next == UINT64_MAX)
			return err_set(e, ERR_FAIL, "state %s: ids exhausted",
			    s->dir);
		*id = next;
	} else if (*id < next) {
		return 0;
	} else if (*id == UINT64_MAX) {
		return err_set(e, ERR_FAIL, "state %s: ids exhausted", s->dir);
	}
	return counter_set(s, *id + 1, e);
}

/*
 * The flag log.  Tokyo Cabinet rewrites a changed leaf of the tree whole
 * (up to 2048 pairs), with an fsync of its write-ahead log for each: 100
 * flags changed across a 100,000-message folder rewrote about 50 leaves,
 * with 201 fsyncs and 34 MB written.  So a change of a pair's flags alone
 * goes into one record per folder instead, whose entries override the
 * flags of their pairs wherever pairs are read.  Writing a pair whole or
 * deleting it drops its entry; past FLAG_LOG_MAX entries the log is folded
 * into the pairs, in the same transaction.
 */
#define FLAG_LOG_MAX 4096

/* A folder's flag log as stored (empty when it has none) into *out,
 * which the caller frees in any case. */
static int
log_read(struct state *s, const char *folder, struct flag_log **out,
    struct err *e)
{
	struct flag_log *l = xcalloc(1, sizeof(*l));
	struct buf k = { 0 };
	const char *why;
	void *val;
	int len, rc;

	l->folder = xstrdup(folder);
	*out = l;
	if (s->db == NULL)
		return 0;
	key_folder(&k, 'G', folder);
	rc = db_get(s, &k, &val, &len, e);
	buf_free(&k);
	if (rc <= 0)
		return rc;
	why = rec_log_decode(val, (size_t)len, l);
	tcfree(val);
	return why == NULL ? 0 : corrupt(s, folder, "flag log", 0, why, e);
}

/* A pair record by id, decoded; *found false when there is none. */
static int
pair_get(struct state *s, const char *folder, uint64_t id,
    struct state_pair *p, bool *found, struct err *e)
{
	struct buf k = { 0 };
	const char *why;
	void *val;
	int len, rc;

	*found = false;
	key_item(&k, 'P', folder, id);
	rc = db_get(s, &k, &val, &len, e);
	buf_free(&k);
	if (rc <= 0)
		return rc;
	why = rec_pair_decode(val, (size_t)len, p);
	tcfree(val);
	if (why != NULL)
		return corrupt(s, folder, "pair", id, why, e);
	*found = true;
	return 0;
}

/* Write each logged pair whole with its flags, and empty the log. */
static int
log_fold(struct state *s, struct flag_log *l, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	struct state_pair p;
	bool found;
	int rc = 0;

	for (size_t i = 0; i < l->n && rc == 0; i++) {
		rc = pair_get(s, l->folder, l->v[i].id, &p, &found, e);
		if (rc < 0 || !found)
			continue;	/* none: its deletion dropped it */
		flags_free(&p.flags);
		p.flags = l->v[i].flags;
		memset(&l->v[i].flags, 0, sizeof(l->v[i].flags));
		key_item(&k, 'P', l->folder, p.id);
		buf_reset(&v);
		rec_pair_encode(&v, &p);
		rc = db_put(s, &k, &v, e);
		state_pair_free(&p);
	}
	buf_free(&k);
	buf_free(&v);
	for (size_t i = 0; i < l->n; i++)
		flags_free(&l->v[i].flags);
	l->n = 0;
	return rc;
}

/* Write the transaction's log to its record (none when it is empty). */
static int
log_store(struct state *s, struct err *e)
{
	struct flag_log *l = s->log;
	struct buf k = { 0 }, v = { 0 };
	int rc;

	if (l == NULL || !l->dirty)
		return 0;
	if (l->n > FLAG_LOG_MAX && log_fold(s, l, e) < 0)
		return -1;
	key_folder(&k, 'G', l->folder);
	if (l->n == 0) {
		rc = db_out(s, &k, e);
	} else {
		rec_log_encode(&v, l);
		rc = db_put(s, &k, &v, e);
	}
	buf_free(&k);
	buf_free(&v);
	if (rc == 0)
		l->dirty = false;
	return rc;
}

/* The log of folder, to change within the transaction. */
static struct flag_log *
log_for(struct state *s, const char *folder, struct err *e)
{
	struct flag_log *l;

	if (s->log != NULL && strcmp(s->log->folder, folder) == 0)
		return s->log;
	if (log_store(s, e) < 0)
		return NULL;
	flag_log_free(s->log);
	s->log = NULL;
	if (log_read(s, folder, &l, e) < 0) {
		flag_log_free(l);
		return NULL;
	}
	s->log = l;
	return l;
}

/* The log of folder to read pairs with: the transaction's, or *tmp read
 * from the database (the caller frees *tmp). */
static int
log_get(struct state *s, const char *folder, const struct flag_log **out,
    struct flag_log **tmp, struct err *e)
{
	*tmp = NULL;
	if (s->log != NULL && strcmp(s->log->folder, folder) == 0) {
		*out = s->log;
		return 0;
	}
	if (log_read(s, folder, tmp, e) < 0)
		return -1;
	*out = *tmp;
	return 0;
}

/* Open, lock and close. */

static int
state_dir_make(const char *dir, struct err *e)
{
	struct stat st;

	if (*dir == '\0')
		return err_set(e, ERR_FAIL, "state directory name is empty");
	if (mkdir_p(dir, e) < 0)
		return -1;
	if (stat(dir, &st) < 0)
		return err_sys(e, ERR_FAIL, "stat(%s) failed", dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_FAIL,
		    "state directory %s is not a directory", dir);
	return 0;
}

static int
lock_held(int fd, const char *channel, struct err *e)
{
	char buf[64], when[32];
	long long since;
	struct tm tm;
	ssize_t n;
	time_t t;
	long pid;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		/*
		 * A stale record (left by a holder that died, the lock now
		 * held by a read-only run that writes none) names nobody.
		 */
		if (sscanf(buf, "%ld %lld", &pid, &since) == 2 && pid > 0 &&
		    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
			t = (time_t)since;
			if (localtime_r(&t, &tm) != NULL &&
			    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			    &tm) > 0)
				return err_set(e, ERR_TEMP, "channel %s is "
				    "locked by pid %ld (since %s)", channel,
				    pid, when);
		}
	}
	return err_set(e, ERR_TEMP, "channel %s is locked by another process",
	    channel);
}

static int
lock_take(struct state *s, const char *channel, struct err *e)
{
	char *path = xasprintf("%s/lock", s->dir);
	int flags = s->readonly ? O_RDONLY : O_RDWR | O_CREAT;
	char line[64];
	int fd, n;

	fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* Read-only runs create nothing; no lock file, no holder. */
		if (s->readonly && errno == ENOENT) {
			free(path);
			return 0;
		}
		err_sys(e, ERR_FAIL, "open(%s) failed", path);
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			lock_held(fd, channel, e);
		else
			err_sys(e, ERR_FAIL, "flock(%s) failed", path);
		close(fd);
		free(path);
		return -1;
	}
	if (!s->readonly) {
		n = snprintf(line, sizeof(line), "%ld %lld\n", (long)getpid(),
		    (long long)time(NULL));
		if (ftruncate(fd, 0) < 0 ||
		    pwrite(fd, line, (size_t)n, 0) != n) {
			err_sys(e, ERR_FAIL, "write(%s) failed", path);
			close(fd);
			free(path);
			return -1;
		}
	}
	s->lockfd = fd;
	free(path);
	return 0;
}

/*
 * Tokyo Cabinet creates its files with mode 0644 (less the umask); creating
 * them first makes them 0600.  The write-ahead log is opened without O_TRUNC
 * so that a log left by a crash is still there for recovery.
 */
static int
precreate(const char *path, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_sys(e, ERR_FAIL, "open(%s) failed", path);
	close(fd);
	return 0;
}

static int
check_version(struct state *s, struct err *e)
{
	char shown[16];
	char *v;
	int len;
	bool ok;

	v = tcbdbget(s->db, "v", 1, &len);
	if (v == NULL) {
		if (tcbdbecode(s->db) != TCENOREC)
			return db_err(s, "tcbdbget", e);
		if (tcbdbrnum(s->db) != 0)
			return err_set(e, ERR_FAIL,
			    "%s: no format version record: not a mailsync "
			    "state", s->path);
		if (s->readonly)
			return 0;
		if (!tcbdbtranbegin(s->db))
			return db_err(s, "tcbdbtranbegin", e);
		if (!tcbdbput(s->db, "v", 1, STATE_FORMAT, 1) ||
		    !tcbdbtrancommit(s->db)) {
			db_err(s, "tcbdbput", e);
			tcbdbtranabort(s->db);
			return -1;
		}
		return 0;
	}
	ok = len == 1 && memcmp(v, STATE_FORMAT, 1) == 0;
	if (!ok) {
		snprintf(shown, sizeof(shown), "(unreadable)");
		if (len > 0 && (size_t)len < sizeof(shown) &&
		    strspn(v, "0123456789") == (size_t)len)
			snprintf(shown, sizeof(shown), "%s", v);
		err_set(e, ERR_FAIL, "%s: unknown state format version %s",
		    s->path, shown);
	}
	tcfree(v);
	return ok ? 0 : -1;
}

static int
db_open(struct state *s, struct err *e)
{
	struct stat st;
	int omode;

	if (s->readonly) {
		if (stat(s->path, &st) < 0) {
			if (errno == ENOENT)
				return 0;
			return err_sys(e, ERR_FAIL, "stat(%s) failed", s->path);
		}
		if (st.st_size == 0)
			return 0;
		omode = BDBOREADER;
	} else {
		if (precreate(s->path, e) < 0 || precreate(s->wal, e) < 0)
			return -1;
		/* BDBOTSYNC: a commit reaches the disk before it returns, so
		 * an intent is durable before its copy starts and a pair
		 * before the next step relies on it (power loss included) */
		omode = BDBOWRITER | BDBOCREAT | BDBOTSYNC;
	}
	s->db = tcbdbnew();
	/*
	 * Leaves of up to 128 KiB and 2048 records instead of 16 KiB and
	 * 128: a commit rewrites every leaf it touched, and Tokyo Cabinet
	 * logs the old bytes of each region it overwrites with an fsync;
	 * with 16 KiB leaves 200 scattered flag changes cost 418 fsyncs
	 * (before flag changes went to a log of their own).  128 KiB rather
	 * than 256: a commit copies each leaf it writes three times (leaf,
	 * record, old bytes for the log), and 500 moves between two folders
	 * of 20,000 pairs peaked at 12.8 MiB instead of 13.4, with the same
	 * fsyncs and times (64 KiB: 12.4 MiB, but a first pull 5% slower).
	 * 16 cached leaves hold at most 2 MiB: with 64 of 256 KiB, a first
	 * pull of a 100,000-message folder peaked at 59 MiB instead of 47,
	 * as fast.  The record limit is kept in the file: a state made by an
	 * earlier version keeps its 128.
	 */
	tcbdbtune(s->db, 2048, 0, 0, -1, -1, 0);
	tcbdbsetlsmax(s->db, 128u << 10);
	tcbdbsetcache(s->db, 16, 0);
	/* Our flock already excludes other runs; never hang on someone
	 * else's lock (a database tool holding the file). */
	if (!tcbdbopen(s->db, s->path, omode | BDBOLCKNB)) {
		db_err(s, "tcbdbopen", e);
		tcbdbdel(s->db);
		s->db = NULL;
		return -1;
	}
	return check_version(s, e);
}

int
state_open(const char *dir, const char *channel, bool readonly,
    struct state **out, struct err *e)
{
	struct state *s;
	struct stat st;
	const char *crash;

	*out = NULL;
	s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->tran_done, NULL);
	s->dir = xstrdup(dir);
	s->path = xasprintf("%s/state.tcb", dir);
	s->wal = xasprintf("%s.wal", s->path);
	s->lockfd = -1;
	s->readonly = readonly;
	crash = getenv("MAILSYNC_CRASH_AFTER");
	if (crash != NULL) {
		char *end;
		long n;

		errno = 0;
		n = strtol(crash, &end, 10);
		if (errno == 0 && end != crash && *end == '\0' && n > 0)
			s->crash_after = (unsigned long)n;
	}
	if (readonly) {
		if (stat(dir, &st) < 0) {
			if (errno == ENOENT) {
				*out = s;
				return 0;
			}
			err_sys(e, ERR_FAIL, "stat(%s) failed", dir);
			goto fail;
		}
	} else if (state_dir_make(dir, e) < 0) {
		goto fail;
	}
	if (lock_take(s, channel, e) < 0 || db_open(s, e) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	state_close(&s);
	return -1;
}

void
state_close(struct state **sp)
{
	struct state *s = *sp;

	if (s == NULL)
		return;
	if (s->db != NULL) {
		if (s->in_tran)
			tcbdbtranabort(s->db);
		tcbdbclose(s->db);
		tcbdbdel(s->db);
	}
	if (s->lockfd >= 0) {
		flock(s->lockfd, LOCK_UN);
		close(s->lockfd);
	}
	flag_log_free(s->log);
	free(s->dir);
	free(s->path);
	free(s->wal);
	pthread_cond_destroy(&s->tran_done);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

/* Reading. */

/*
 * Visit every record whose key starts with prefix.  fn gets the rest of the
 * key after the prefix and the value.
 */
typedef int (*scan_fn)(struct state *s, const char *rest, size_t restlen,
    const void *val, size_t vallen, void *arg, struct err *e);

/*
 * Tokyo Cabinet keeps every leaf a cursor passes in its cache, beyond the
 * limit set with tcbdbsetcache, until some later call trims it: a scan of
 * a 100,000-pair folder held its 49 leaves, 8 MB.  So outside a
 * transaction (where nothing is dirty) the cache is cleared every
 * SCAN_CLEAR records; a cursor keeps only the id of its leaf and loads it
 * again.
 */
#define SCAN_CLEAR 4096

/*
 * The same at the end of a read that passed many leaves: the listing of
 * folders jumps into each folder's pairs, and held a leaf of each, 1.2 MB
 * of a 3.2 MB peak in a run that changed 200 flags.
 */
static int
trim_cache(struct state *s, int rc, struct err *e)
{
	if (rc == 0 && !s->in_tran && !tcbdbcacheclear(s->db))
		rc = db_err(s, "tcbdbcacheclear", e);
	return rc;
}

static int
scan(struct state *s, const struct buf *prefix, scan_fn fn, void *arg,
    struct err *e)
{
	TCXSTR *k, *v;
	BDBCUR *c;
	size_t n = 0;
	int rc = 0;

	c = tcbdbcurnew(s->db);
	k = tcxstrnew();
	v = tcxstrnew();
	if (!tcbdbcurjump(c, prefix->data, (int)prefix->len)) {
		if (tcbdbecode(s->db) != TCENOREC)
			rc = db_err(s, "tcbdbcurjump", e);
		goto out;
	}
	for (;;) {
		const char *kp;
		size_t klen;

		if (!tcbdbcurrec(c, k, v)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurrec", e);
			break;
		}
		kp = tcxstrptr(k);
		klen = (size_t)tcxstrsize(k);
		if (klen < prefix->len ||
		    memcmp(kp, prefix->data, prefix->len) != 0)
			break;
		if (fn(s, kp + prefix->len, klen - prefix->len, tcxstrptr(v),
		    (size_t)tcxstrsize(v), arg, e) < 0) {
			rc = -1;
			break;
		}
		if (++n % SCAN_CLEAR == 0 && !s->in_tran &&
		    !tcbdbcacheclear(s->db)) {
			rc = db_err(s, "tcbdbcacheclear", e);
			break;
		}
		if (!tcbdbcurnext(c)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurnext", e);
			break;
		}
	}
out:
	tcxstrdel(k);
	tcxstrdel(v);
	tcbdbcurdel(c);
	return trim_cache(s, rc, e);
}

/* Add to out the distinct folder names of the keys starting with type. */
static int
folders_of(struct state *s, char type, struct strv *out, struct err *e)
{
	struct buf jump = { 0 };
	TCXSTR *k, *v;
	BDBCUR *c;
	int rc = 0;

	c = tcbdbcurnew(s->db);
	k = tcxstrnew();
	v = tcxstrnew();
	buf_addc(&jump, type);
	for (;;) {
		const char *kp, *nul;
		size_t klen, flen;

		if (!tcbdbcurjump(c, jump.data, (int)jump.len) ||
		    !tcbdbcurrec(c, k, v)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurjump", e);
			break;
		}
		kp = tcxstrptr(k);
		klen = (size_t)tcxstrsize(k);
		if (klen < 1 || kp[0] != type)
			break;
		nul = memchr(kp + 1, '\0', klen - 1);
		if (type == 'F') {
			if (nul != NULL) {
				rc = corrupt(s, NULL, "key", 0,
				    "NUL in a folder key", e);
				break;
			}
			flen = klen - 1;
		} else {
			if (nul == NULL) {
				rc = corrupt(s, NULL, "key", 0,
				    "item key without folder end", e);
				break;
			}
			flen = (size_t)(nul - (kp + 1));
		}
		strv_add_owned(out, xstrndup(kp + 1, flen));
		/*
		 * Skip the rest of this folder: the first key after "F" name
		 * is "F" name NUL, and "P" name \1 sorts after every
		 * "P" name NUL id.
		 */
		buf_reset(&jump);
		buf_addc(&jump, type);
		buf_add(&jump, kp + 1, flen);
		buf_addc(&jump, type == 'F' ? '\0' : '\1');
	}
	buf_free(&jump);
	tcxstrdel(k);
	tcxstrdel(v);
	tcbdbcurdel(c);
	return trim_cache(s, rc, e);
}

static int
folders_in(struct state *s, struct strv *out, struct err *e)
{
	struct strv all = { 0 };
	int rc = 0;

	if (s->db == NULL)
		return 0;
	if (usable(s, e) < 0)
		return -1;
	if (folders_of(s, 'F', &all, e) < 0 ||
	    folders_of(s, 'P', &all, e) < 0 ||
	    folders_of(s, 'I', &all, e) < 0) {
		rc = -1;
	} else {
		strv_sort(&all);
		for (size_t i = 0; i < all.n; i++) {
			if (i > 0 && strcmp(all.v[i], all.v[i - 1]) == 0)
				continue;
			strv_add(out, all.v[i]);
		}
	}
	strv_free(&all);
	return rc;
}

int
state_folders(struct state *s, struct strv *out, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = folders_in(s, out, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
folder_get_in(struct state *s, const char *folder, struct state_folder *out,
    bool *found, struct err *e)
{
	struct buf k = { 0 };
	const char *why;
	void *v;
	int len, rc = 0;

	memset(out, 0, sizeof(*out));
	*found = false;
	if (folder_ok(folder, e) < 0 || usable(s, e) < 0)
		return -1;
	if (s->db == NULL)
		return 0;
	key_folder(&k, 'F', folder);
	rc = db_get(s, &k, &v, &len, e);
	buf_free(&k);
	if (rc <= 0)
		return rc;
	rc = 0;
	why = rec_folder_decode(v, (size_t)len, out);
	if (why != NULL)
		rc = corrupt(s, folder, "folder", 0, why, e);
	else
		*found = true;
	tcfree(v);
	return rc;
}

int
state_folder_get(struct state *s, const char *folder, struct state_folder *out,
    bool *found, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = folder_get_in(s, folder, out, found, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

struct load_arg {
	const char *folder;
	void *list;
	const struct flag_log *log;	/* pairs only */
};

static int
load_pair(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	struct load_arg *a = arg;
	struct state_pairs *l = a->list;
	uint64_t id = key_id(rest, restlen);
	const struct flags *logged;
	struct state_pair p;
	const char *why;

	if (id == 0)
		return corrupt(s, a->folder, "pair key", 0, "bad id", e);
	why = rec_pair_decode(val, vallen, &p);
	if (why != NULL)
		return corrupt(s, a->folder, "pair", id, why, e);
	if (p.id != id) {
		state_pair_free(&p);
		return corrupt(s, a->folder, "pair", id, "id differs from key",
		    e);
	}
	if ((logged = flag_log_find(a->log, id)) != NULL) {
		flags_free(&p.flags);
		flags_copy(&p.flags, logged);
	}
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = p;
	return 0;
}

static int
load_intent(struct state *s, const char *rest, size_t restlen,
    const void *val, size_t vallen, void *arg, struct err *e)
{
	struct load_arg *a = arg;
	struct state_intents *l = a->list;
	uint64_t id = key_id(rest, restlen);
	struct state_intent in;
	const char *why;

	if (id == 0)
		return corrupt(s, a->folder, "intent key", 0, "bad id", e);
	why = rec_intent_decode(val, vallen, &in);
	if (why != NULL)
		return corrupt(s, a->folder, "intent", id, why, e);
	if (in.id != id) {
		state_intent_free(&in);
		return corrupt(s, a->folder, "intent", id,
		    "id differs from key", e);
	}
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = in;
	return 0;
}

/* scan_fn for state_has_pairs: the first record answers, so stop there. */
static int
found_one(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	(void)s, (void)rest, (void)restlen, (void)val, (void)vallen, (void)e;
	*(bool *)arg = true;
	return -1;
}

/* scan over a folder's records of one type ('P', 'I'); none before the
 * database exists. */
static int
scan_folder(struct state *s, char type, const char *folder, scan_fn fn,
    void *arg, struct err *e)
{
	struct buf k = { 0 };
	int rc;

	if (folder_ok(folder, e) < 0 || usable(s, e) < 0)
		return -1;
	if (s->db == NULL)
		return 0;
	key_prefix(&k, type, folder);
	rc = scan(s, &k, fn, arg, e);
	buf_free(&k);
	return rc;
}

static int
has_pairs_in(struct state *s, const char *folder, bool *out,
    struct err *e)
{
	*out = false;
	/* found_one stops the scan at the first pair: not a failure */
	if (scan_folder(s, 'P', folder, found_one, out, e) < 0 && !*out)
		return -1;
	return 0;
}

int
state_has_pairs(struct state *s, const char *folder, bool *out,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = has_pairs_in(s, folder, out, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
pairs_load_in(struct state *s, const char *folder, struct state_pairs *out,
    struct err *e)
{
	struct load_arg a = { folder, out, NULL };
	struct flag_log *tmp = NULL;
	int rc;

	if (folder_ok(folder, e) < 0 || usable(s, e) < 0 ||
	    log_get(s, folder, &a.log, &tmp, e) < 0) {
		flag_log_free(tmp);
		return -1;
	}
	rc = scan_folder(s, 'P', folder, load_pair, &a, e);
	flag_log_free(tmp);
	if (out->v != NULL)
		xfit(&out->v, &out->cap, out->n, sizeof(*out->v));
	return rc;
}

int
state_pairs_load(struct state *s, const char *folder, struct state_pairs *out,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = pairs_load_in(s, folder, out, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

struct uid_arg {
	const char *folder;
	uint32_t **v;
	size_t *n, cap;
};

/* scan_fn for state_pair_uids: the UID of each pair, nothing else kept. */
static int
load_uid(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	struct uid_arg *a = arg;
	struct state_pair p;
	const char *why = rec_pair_decode(val, vallen, &p);

	if (why != NULL)
		return corrupt(s, a->folder, "pair", key_id(rest, restlen), why,
		    e);
	if (p.uid != 0) {
		xgrow(a->v, &a->cap, *a->n + 1, sizeof(**a->v));
		(*a->v)[(*a->n)++] = p.uid;
	}
	state_pair_free(&p);
	return 0;
}

static int
pair_uids_in(struct state *s, const char *folder, uint32_t **out,
    size_t *n, struct err *e)
{
	struct uid_arg a = { folder, out, n, 1 };

	/* never NULL, so that an empty one can be searched */
	*out = xcalloc(1, sizeof(**out));
	*n = 0;
	if (scan_folder(s, 'P', folder, load_uid, &a, e) < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int
state_pair_uids(struct state *s, const char *folder, uint32_t **out,
    size_t *n, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = pair_uids_in(s, folder, out, n, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

struct some_arg {
	struct load_arg load;
	const uint32_t *uids;
	size_t n;
};

/* scan_fn for state_pairs_with_uids: only the UID is read of the others. */
static int
load_some(struct state *s, const char *rest, size_t restlen, const void *val,
    size_t vallen, void *arg, struct err *e)
{
	struct some_arg *a = arg;
	const char *why;
	uint32_t uid;

	if ((why = rec_pair_uid(val, vallen, &uid)) != NULL)
		return corrupt(s, a->load.folder, "pair",
		    key_id(rest, restlen), why, e);
	if (uid == 0 || bsearch(&uid, a->uids, a->n, sizeof(*a->uids),
	    u32_cmp) == NULL)
		return 0;
	return load_pair(s, rest, restlen, val, vallen, &a->load, e);
}

static int
pairs_with_uids_in(struct state *s, const char *folder,
    const uint32_t *uids, size_t n, struct state_pairs *out, struct err *e)
{
	struct some_arg a = { { folder, out, NULL }, uids, n };
	struct flag_log *tmp = NULL;
	int rc;

	if (n == 0)
		return 0;
	if (folder_ok(folder, e) < 0 || usable(s, e) < 0 ||
	    log_get(s, folder, &a.load.log, &tmp, e) < 0) {
		flag_log_free(tmp);
		return -1;
	}
	rc = scan_folder(s, 'P', folder, load_some, &a, e);
	flag_log_free(tmp);
	return rc;
}

int
state_pairs_with_uids(struct state *s, const char *folder,
    const uint32_t *uids, size_t n, struct state_pairs *out, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = pairs_with_uids_in(s, folder, uids, n, out, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
intents_load_in(struct state *s, const char *folder,
    struct state_intents *out, struct err *e)
{
	struct load_arg a = { folder, out, NULL };

	return scan_folder(s, 'I', folder, load_intent, &a, e);
}

int
state_intents_load(struct state *s, const char *folder,
    struct state_intents *out, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = intents_load_in(s, folder, out, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Writing. */

/*
 * Tokyo Cabinet 1.4 does not survive a full disk inside a commit: a write
 * that fails half-way can leave a record pointing past the end of the file,
 * and the state is unreadable from then on.  So the room a commit may need
 * is reserved beyond the end of the database and of its write-ahead log
 * (fallocate(2), FALLOC_FL_KEEP_SIZE) before it starts, and a commit that
 * cannot have it is aborted cleanly: a margin, plus four times what the
 * transaction put, as whole leaves are rewritten and logged.
 */
#define STATE_RESERVE_MIN (2u << 20)

static int
reserve(struct state *s, struct err *e)
{
	off_t need = (off_t)STATE_RESERVE_MIN + 4 * (off_t)s->tran_bytes;
	const char *paths[2] = { s->path, s->wal };
	struct stat st;
	int fd, rc = 0;

	for (int i = 0; i < 2 && rc == 0; i++) {
		fd = open(paths[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = err_sys(e, ERR_FAIL, "open(%s) failed", paths[i]);
			break;
		}
		/* a file system without fallocate keeps the old risk */
		if (fstat(fd, &st) < 0 ||
		    (fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, need) < 0 &&
		    errno != EOPNOTSUPP && errno != ENOSYS))
			rc = err_sys(e, ERR_FAIL, "reserving %lld bytes for "
			    "the state commit: fallocate(%s) failed",
			    (long long)need, paths[i]);
		close(fd);
	}
	return rc;
}

/*
 * Tokyo Cabinet ends a commit by syncing the database and then truncating
 * the write-ahead log, and it does not sync the truncation.  Until that
 * reaches the disk, a power loss leaves the transaction's log behind with
 * the database marked open, and the next open replays the log: the commit
 * is undone.  Syncing the log makes the commit durable when state_commit
 * returns (one fsync of an empty file).
 */
static int
wal_sync(struct state *s, struct err *e)
{
	int fd, rc = 0;

	fd = open(s->wal, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, ERR_FAIL, "open(%s) failed", s->wal);
	if (fsync(fd) < 0)
		rc = err_sys(e, ERR_FAIL, "fsync(%s) failed", s->wal);
	close(fd);
	return rc;
}

static int
mark_broken(struct state *s, struct err *e)
{
	s->broken = true;
	snprintf(s->broken_why, sizeof(s->broken_why), "%s", e->msg);
	return -1;
}

static int
begin_in(struct state *s, struct err *e)
{
	if (s->readonly)
		return err_set(e, ERR_FAIL, "state %s: opened read-only",
		    s->dir);
	if (s->in_tran && pthread_equal(s->owner, pthread_self()))
		return err_set(e, ERR_FAIL, "state: transaction already open");
	while (s->in_tran)
		pthread_cond_wait(&s->tran_done, &s->mu);
	if (usable(s, e) < 0)
		return -1;
	if (!tcbdbtranbegin(s->db))
		return db_err(s, "tcbdbtranbegin", e);
	s->tran_bytes = 0;
	s->in_tran = true;
	s->owner = pthread_self();
	return 0;
}

int
state_begin(struct state *s, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = begin_in(s, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
commit_in(struct state *s, struct err *e)
{
	if (!s->in_tran || !pthread_equal(s->owner, pthread_self()))
		return err_set(e, ERR_FAIL,
		    "state: commit outside a transaction");
	s->in_tran = false;
	pthread_cond_broadcast(&s->tran_done);
	if (log_store(s, e) < 0 || reserve(s, e) < 0) {
		tcbdbtranabort(s->db);
		flag_log_free(s->log);
		s->log = NULL;
		return -1;
	}
	flag_log_free(s->log);
	s->log = NULL;
	if (!tcbdbtrancommit(s->db)) {
		db_err(s, "tcbdbtrancommit", e);
		tcbdbtranabort(s->db);
		return mark_broken(s, e);
	}
	/* committed, but not known to be durable: not relied on again */
	if (wal_sync(s, e) < 0)
		return mark_broken(s, e);
	s->commits++;
	if (s->crash_after > 0 && s->commits == s->crash_after)
		raise(SIGKILL);
	return 0;
}

int
state_commit(struct state *s, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = commit_in(s, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void
state_abort(struct state *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->in_tran && pthread_equal(s->owner, pthread_self())) {
		s->in_tran = false;
		pthread_cond_broadcast(&s->tran_done);
		flag_log_free(s->log);
		s->log = NULL;
		tcbdbtranabort(s->db);
	}
	pthread_mutex_unlock(&s->mu);
}

static int
folder_put_in(struct state *s, const char *folder,
    const struct state_folder *f, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	key_folder(&k, 'F', folder);
	rec_folder_encode(&v, f);
	rc = db_put(s, &k, &v, e);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int
state_folder_put(struct state *s, const char *folder,
    const struct state_folder *f, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = folder_put_in(s, folder, f, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Remove every record whose key starts with prefix. */
static int
drop_range(struct state *s, const struct buf *prefix, struct err *e)
{
	TCXSTR *k, *v;
	BDBCUR *c;
	int rc = 0;

	c = tcbdbcurnew(s->db);
	k = tcxstrnew();
	v = tcxstrnew();
	if (!tcbdbcurjump(c, prefix->data, (int)prefix->len)) {
		if (tcbdbecode(s->db) != TCENOREC)
			rc = db_err(s, "tcbdbcurjump", e);
		goto out;
	}
	for (;;) {
		if (!tcbdbcurrec(c, k, v)) {
			if (tcbdbecode(s->db) != TCENOREC)
				rc = db_err(s, "tcbdbcurrec", e);
			break;
		}
		if ((size_t)tcxstrsize(k) < prefix->len ||
		    memcmp(tcxstrptr(k), prefix->data, prefix->len) != 0)
			break;
		/* Removing moves the cursor to the next record. */
		if (!tcbdbcurout(c)) {
			rc = db_err(s, "tcbdbcurout", e);
			break;
		}
	}
out:
	tcxstrdel(k);
	tcxstrdel(v);
	tcbdbcurdel(c);
	return rc;
}

static int
folder_drop_in(struct state *s, const char *folder, struct err *e)
{
	struct buf k = { 0 };
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	key_folder(&k, 'F', folder);
	rc = db_out(s, &k, e);
	if (rc == 0) {
		key_prefix(&k, 'P', folder);
		rc = drop_range(s, &k, e);
	}
	if (rc == 0) {
		key_prefix(&k, 'I', folder);
		rc = drop_range(s, &k, e);
	}
	if (rc == 0) {
		key_folder(&k, 'G', folder);
		rc = db_out(s, &k, e);
	}
	if (s->log != NULL && strcmp(s->log->folder, folder) == 0) {
		flag_log_free(s->log);
		s->log = NULL;
	}
	buf_free(&k);
	return rc;
}

int
state_folder_drop(struct state *s, const char *folder, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = folder_drop_in(s, folder, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* A pair written whole or deleted: its flags are its record's again. */
static int
drop_logged(struct state *s, const char *folder, uint64_t id, struct err *e)
{
	struct flag_log *l = log_for(s, folder, e);

	if (l == NULL)
		return -1;
	flag_log_drop(l, id);
	return 0;
}

static int
pair_flags_in(struct state *s, const char *folder, uint64_t id,
    const struct flags *flags, struct err *e)
{
	struct flag_log *l;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	if (id == 0 || !rec_str_ok(flags->kw) || (flags->bits & ~(unsigned)FLAG_ALL))
		return err_set(e, ERR_FAIL, "state: invalid flag change");
	if ((l = log_for(s, folder, e)) == NULL)
		return -1;
	flag_log_set(l, id, flags);
	return 0;
}

int
state_pair_flags(struct state *s, const char *folder, uint64_t id,
    const struct flags *flags, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = pair_flags_in(s, folder, id, flags, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
pair_put_in(struct state *s, const char *folder, struct state_pair *p,
    struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	uint64_t id = p->id, old;
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	if (!rec_str_ok(p->name) || !rec_str_ok(p->flags.kw) || !rec_str_ok(p->msgid))
		return err_set(e, ERR_FAIL, "state: pair field too long");
	if (p->flags.bits & ~(unsigned)FLAG_ALL)
		return err_set(e, ERR_FAIL, "state: unknown flag bits");
	if (claim_id(s, &id, e) < 0)
		return -1;
	key_item(&k, 'P', folder, id);
	old = p->id;
	p->id = id;
	rec_pair_encode(&v, p);
	rc = db_put(s, &k, &v, e);
	if (rc < 0)
		p->id = old;
	else if (old != 0)
		rc = drop_logged(s, folder, id, e);
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int
state_pair_put(struct state *s, const char *folder, struct state_pair *p,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = pair_put_in(s, folder, p, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Delete the pair ('P') or intent ('I') record id of a folder. */
static int
item_del(struct state *s, char type, const char *folder, uint64_t id,
    struct err *e)
{
	struct buf k = { 0 };
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	key_item(&k, type, folder, id);
	rc = db_out(s, &k, e);
	buf_free(&k);
	return rc;
}

static int
pair_del_in(struct state *s, const char *folder, uint64_t id,
    struct err *e)
{
	if (writable(s, e) < 0 || folder_ok(folder, e) < 0 ||
	    drop_logged(s, folder, id, e) < 0)
		return -1;
	return item_del(s, 'P', folder, id, e);
}

int
state_pair_del(struct state *s, const char *folder, uint64_t id,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = pair_del_in(s, folder, id, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
intent_put_in(struct state *s, const char *folder,
    struct state_intent *i, struct err *e)
{
	struct buf k = { 0 }, v = { 0 };
	uint64_t id = i->id, old;
	int rc;

	if (writable(s, e) < 0 || folder_ok(folder, e) < 0)
		return -1;
	if (!rec_str_ok(i->name) || !rec_str_ok(i->flags.kw) || !rec_str_ok(i->msgid))
		return err_set(e, ERR_FAIL, "state: intent field too long");
	if (i->flags.bits & ~(unsigned)FLAG_ALL)
		return err_set(e, ERR_FAIL, "state: unknown flag bits");
	if (i->kind != STATE_INTENT_DOWNLOAD && i->kind != STATE_INTENT_UPLOAD)
		return err_set(e, ERR_FAIL, "state: unknown intent kind");
	if (claim_id(s, &id, e) < 0)
		return -1;
	key_item(&k, 'I', folder, id);
	old = i->id;
	i->id = id;
	rec_intent_encode(&v, i);
	rc = db_put(s, &k, &v, e);
	if (rc < 0)
		i->id = old;
	buf_free(&k);
	buf_free(&v);
	return rc;
}

int
state_intent_put(struct state *s, const char *folder,
    struct state_intent *i, struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = intent_put_in(s, folder, i, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int
intent_del_in(struct state *s, const char *folder, uint64_t id,
    struct err *e)
{
	return item_del(s, 'I', folder, id, e);
}

int
state_intent_del(struct state *s, const char *folder, uint64_t id,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = intent_del_in(s, folder, id, e);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
