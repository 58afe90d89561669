/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Whose changes a folder saw during a run (inotify), so that a run that
 * changed a folder itself can still record a stamp the next run trusts.
 *
 * A folder's stamp (directory times and entry count, see maildir_stamp) is
 * only worth recording when nobody else changed the folder between the
 * listing and the stamp: otherwise the next run would skip a change it
 * never saw.  Without tracking, a run that wrote to a folder leaves it to
 * be listed in full next time.  With it, every entry that appears in or
 * leaves cur/ and new/ is compared with what this store did there itself:
 * the expectations, noted before each rename or unlink.  One event nobody
 * expected (a reader renaming a file, a delivery), a lost event (queue
 * overflow) or a watch that fails makes the stamp untrusted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "maildir_priv.h"

#define TRACK_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
	IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* drain the queue this often while expecting, well below the kernel's
 * default limit of 16384 queued events */
#define DRAIN_EVERY 2048
/* A stamp's newest time this far ahead of the clock is in doubt. */
#define TICK_MARGIN_NS 20000000LL
/* how long to sleep at least while waiting for the coarse clock's tick */
#define TICK_POLL_NS 1000000L

struct track_ev {
	int sub;		/* SUB_CUR or SUB_NEW */
	bool arrive;		/* created or moved in; else removed/moved out */
	char *name;
};

struct tracked {
	char *folder;
	int wd[2];		/* cur/, new/ */
	bool foreign;		/* in doubt: not only our own changes */
	struct track_ev *want, *seen;
	size_t nwant, capwant, nseen, capseen;
};

/* One for the channel: the stores of the threads that sync its folders
 * at once share it (maildir_track_share), under lock. */
struct maildir_tracker {
	pthread_mutex_t lock;
	unsigned refs;
	int fd;
	struct tracked *v;
	size_t n, cap;
	size_t since_drain;
};

static void
evs_free(struct track_ev *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static void
tracked_free(struct tracked *t)
{
	free(t->folder);
	evs_free(t->want, t->nwant);
	evs_free(t->seen, t->nseen);
}

static struct tracked *
find_folder(struct maildir_tracker *k, const char *folder)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->v[i].folder, folder) == 0)
			return &k->v[i];
	return NULL;
}

static struct tracked *
find_wd(struct maildir_tracker *k, int wd, int *sub)
{
	for (size_t i = 0; i < k->n; i++)
		for (int j = 0; j < 2; j++)
			if (k->v[i].wd[j] == wd) {
				*sub = j == 0 ? SUB_CUR : SUB_NEW;
				return &k->v[i];
			}
	return NULL;
}

static void
add_ev(struct track_ev **v, size_t *n, size_t *cap, int sub, bool arrive,
    const char *name)
{
	xgrow(v, cap, *n + 1, sizeof(**v));
	(*v)[*n].sub = sub;
	(*v)[*n].arrive = arrive;
	(*v)[*n].name = xstrdup(name);
	(*n)++;
}

static void
all_foreign(struct maildir_tracker *k)
{
	for (size_t i = 0; i < k->n; i++)
		k->v[i].foreign = true;
}

static int
ev_cmp(const void *a, const void *b)
{
	const struct track_ev *x = a, *y = b;

	if (x->sub != y->sub)
		return x->sub < y->sub ? -1 : 1;
	if (x->arrive != y->arrive)
		return x->arrive ? 1 : -1;
	return strcmp(x->name, y->name);
}

/*
 * Whether every event seen was expected, each expectation used once.  The
 * matched pairs are let go (memory holds what is still to come, not every
 * file a run wrote); an event nobody expected makes the folder foreign.
 * Expectations are noted before their change, so an event never waits
 * for a later one.
 */
static bool
only_expected(struct tracked *t)
{
	size_t j = 0, keep = 0;

	if (t->foreign)
		return false;
	if (t->nseen == 0)
		return true;
	if (t->nwant > 1)
		qsort(t->want, t->nwant, sizeof(*t->want), ev_cmp);
	if (t->nseen > 1)
		qsort(t->seen, t->nseen, sizeof(*t->seen), ev_cmp);
	for (size_t i = 0; i < t->nseen && !t->foreign; i++) {
		int c = -1;

		while (j < t->nwant &&
		    (c = ev_cmp(&t->want[j], &t->seen[i])) < 0)
			t->want[keep++] = t->want[j++];
		if (j == t->nwant || c != 0)
			t->foreign = true;
		else
			free(t->want[j++].name);
	}
	while (j < t->nwant)
		t->want[keep++] = t->want[j++];
	t->nwant = keep;
	evs_free(t->seen, t->nseen);
	t->seen = NULL;
	t->nseen = t->capseen = 0;
	return !t->foreign;
}

/* Read every queued event and match it with its expectation. */
static void
drain(struct maildir_tracker *k)
{
	_Alignas(struct inotify_event) char buf[65536];
	const struct inotify_event *ev;
	struct tracked *t;
	ssize_t len;
	int sub;

	k->since_drain = 0;
	for (;;) {
		len = read(k->fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			if (len < 0 && errno != EAGAIN)
				all_foreign(k);
			return;
		}
		for (char *p = buf; p < buf + len;
		    p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				all_foreign(k);
				continue;
			}
			if ((t = find_wd(k, ev->wd, &sub)) == NULL ||
			    t->foreign)
				continue;
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF |
			    IN_IGNORED | IN_UNMOUNT) || ev->len == 0) {
				t->foreign = true;
				continue;
			}
			add_ev(&t->seen, &t->nseen, &t->capseen, sub,
			    (ev->mask & (IN_CREATE | IN_MOVED_TO)) != 0,
			    ev->name);
		}
		for (size_t i = 0; i < k->n; i++)
			only_expected(&k->v[i]);
	}
}

/*
 * inotify reports only what this kernel did: on a network file system
 * another machine's changes would go unseen.  So only local file systems
 * are tracked (f_type of statfs(2)); anywhere else a changed folder is
 * simply listed again next time.
 */
static bool
local_fs(int fd)
{
	static const unsigned long local[] = {
		0xEF53,		/* ext2, ext3, ext4 */
		0x58465342,	/* xfs */
		0x9123683E,	/* btrfs */
		0x01021994,	/* tmpfs */
		0xF2F52010,	/* f2fs */
		0x2FC12FC1,	/* zfs */
		0x794C7630,	/* overlayfs */
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if ((unsigned long)sf.f_type == local[i])
			return true;
	return false;
}

/* Watch one of folder's subdirectories through its descriptor, so that
 * no path is looked up again (and no link followed). */
static int
watch_sub(struct maildir_tracker *k, int dirfd, const char *sub)
{
	char path[64];
	int fd, wd;

	fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(k->fd, path, TRACK_MASK);
	close(fd);
	return wd;
}

static struct maildir_tracker *
tracker_of(struct maildir_store *s)
{
	struct maildir_tracker *k = s->trk;

	if (k == NULL) {
		k = s->trk = xcalloc(1, sizeof(*k));
		pthread_mutex_init(&k->lock, NULL);
		k->refs = 1;
		k->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	}
	return k;
}

void
maildir_track_share(struct maildir_store *from, struct maildir_store *to)
{
	struct maildir_tracker *k = tracker_of(from);

	pthread_mutex_lock(&k->lock);
	k->refs++;
	pthread_mutex_unlock(&k->lock);
	to->trk = k;
}

static void
track_locked(struct maildir_store *s, struct maildir_tracker *k,
    const char *name)
{
	struct tracked *t;
	struct err e = { 0 };
	int dirfd;

	if (k->fd < 0 || find_folder(k, name) != NULL)
		return;	/* untracked (tracked_stamp says so), or already */
	xgrow(&k->v, &k->cap, k->n + 1, sizeof(*k->v));
	t = &k->v[k->n++];
	memset(t, 0, sizeof(*t));
	t->folder = xstrdup(name);
	t->wd[0] = t->wd[1] = -1;
	if (maildir_folder_dir(s, name, &dirfd, &e) < 0) {
		t->foreign = true;
		return;
	}
	if (!local_fs(dirfd)) {
		close(dirfd);
		t->foreign = true;
		return;
	}
	t->wd[0] = watch_sub(k, dirfd, "cur");
	t->wd[1] = watch_sub(k, dirfd, "new");
	close(dirfd);
	if (t->wd[0] < 0 || t->wd[1] < 0 || t->wd[0] == t->wd[1])
		t->foreign = true;
}

void
maildir_track(struct store *st, const char *name)
{
	struct maildir_tracker *k = tracker_of(md(st));

	pthread_mutex_lock(&k->lock);
	track_locked(md(st), k, name);
	pthread_mutex_unlock(&k->lock);
}

void
maildir_track_expect(struct maildir_store *s, const char *folder, int sub,
    bool arrive, const char *name)
{
	struct maildir_tracker *k = s->trk;
	struct tracked *t;

	if (k == NULL || k->fd < 0 || (sub != SUB_CUR && sub != SUB_NEW))
		return;
	pthread_mutex_lock(&k->lock);
	if ((t = find_folder(k, folder)) != NULL && !t->foreign) {
		add_ev(&t->want, &t->nwant, &t->capwant, sub, arrive, name);
		if (++k->since_drain >= DRAIN_EVERY)
			drain(k);
	}
	pthread_mutex_unlock(&k->lock);
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A change gets its time stamp from the kernel's coarse clock
 * (CLOCK_REALTIME_COARSE, which advances one tick at a time), or from a
 * finer one that is never earlier (multigrain time stamps).  So once the
 * coarse clock is past the stamp's newest time, any later change shows
 * as a newer time: only the changes until then must be checked, so wait
 * for that (a tick at most; the run used to sleep a fixed 20 ms past the
 * newest time, 12 ms a run over five folders) and drain once more.  A
 * file system with whole-second times (no nanoseconds) would need
 * seconds: such a stamp is not trusted.
 */
static bool
settled(struct maildir_tracker *k, struct tracked *t,
    const struct folder_stamp *sp)
{
	int64_t newest = sp->mtime[0] > sp->mtime[1] ? sp->mtime[0] :
	    sp->mtime[1], wait;
	struct timespec ts;

	if (sp->mtime[0] % 1000000000 == 0 && sp->mtime[1] % 1000000000 == 0)
		return false;
	if (newest - clock_ns(CLOCK_REALTIME) > TICK_MARGIN_NS)
		return false;	/* a time in the future: in doubt */
	for (int i = 0; (wait = newest - clock_ns(CLOCK_REALTIME_COARSE)) >= 0;
	    i++) {
		if (i == 100)
			return false;	/* a clock that does not advance */
		ts.tv_sec = 0;
		ts.tv_nsec = wait < TICK_POLL_NS ? TICK_POLL_NS : (long)wait;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	drain(k);
	return !t->foreign && only_expected(t);
}

int
maildir_tracked_stamp(struct store *st, const char *name,
    struct folder_stamp *out, bool *own, struct err *e)
{
	struct maildir_store *s = md(st);
	struct maildir_tracker *k = s->trk;
	struct tracked *t;
	int rc;

	*own = false;
	if (k == NULL)
		return maildir_stamp(st, name, out, e);
	pthread_mutex_lock(&k->lock);
	if (k->fd >= 0)
		drain(k);
	t = find_folder(k, name);
	rc = maildir_stamp(st, name, out, e);
	if (t != NULL) {
		if (rc == 0 && !t->foreign && only_expected(t))
			*own = settled(k, t, out);
		for (int j = 0; j < 2; j++)
			if (t->wd[j] >= 0)
				inotify_rm_watch(k->fd, t->wd[j]);
		tracked_free(t);
		*t = k->v[--k->n];
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

void
maildir_track_free(struct maildir_store *s)
{
	struct maildir_tracker *k = s->trk;
	unsigned refs;

	if (k == NULL)
		return;
	s->trk = NULL;
	pthread_mutex_lock(&k->lock);
	refs = --k->refs;
	pthread_mutex_unlock(&k->lock);
	if (refs > 0)
		return;
	for (size_t i = 0; i < k->n; i++)
		tracked_free(&k->v[i]);
	free(k->v);
	if (k->fd >= 0)
		close(k->fd);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
