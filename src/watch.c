/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Watch mode (-w): sync, wait for changes on either side, sync again. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "pattern.h"
#include "store.h"
#include "watch.h"

#define IN_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
	IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* One IDLE connection. */
struct watcher {
	char *folder;		/* NULL: every folder, with NOTIFY */
	struct store *store;
	int fd;
	double since;		/* when IDLE was (re)entered */
};

/* The clocks read together.  MONOTONIC stops while the machine sleeps,
 * BOOTTIME does not; a virtual machine that was paused may see neither
 * move, but has its wall clock (REALTIME) set right afterwards. */
struct clocks {
	double mono, boot, real;
};

/* One watched channel. */
struct wchan {
	const struct cfg_selection *sel;
	struct watcher *w;
	size_t nw;
	bool connected;		/* the watchers are up */
	bool outage;		/* reported once; quiet until fixed */
	double reconnect_at;
	double backoff;
	bool dirty;		/* a sync is due at `due` */
	bool full;		/* of the whole channel, else of `folders` */
	bool retrying;		/* `due` is a backoff; events keep it */
	struct strv folders;
	double first, due;
	double sync_backoff;
	double next_poll;
	bool rewatch;		/* inotify watches to be rebuilt */
	bool first_sync;	/* the next sync is the first one */
	bool warned;		/* about what cannot be watched */
};

/* What an inotify watch descriptor stands for (several may share one). */
enum went_kind {
	WENT_ROOT,		/* the Maildir root: new folders */
	WENT_FOLDER,		/* a folder's directory: new subfolders */
	WENT_SUB,		/* its cur/ or new/: messages */
};

struct went {
	int wd;
	size_t chan;
	enum went_kind kind;
	char *folder;		/* NULL for WENT_ROOT */
};

struct watch {
	const struct watch_params *p;
	struct cfg **cfgp;
	struct cfg_selection **selp;
	size_t *nselp;
	struct wchan *ch;
	size_t nch;
	int sigfd, infd;
	struct went *we;
	size_t nwe, cwe;
	bool stop;
	int tfd;		/* a CLOCK_BOOTTIME timer: see wait_events */
	double heartbeat;	/* WATCH_HEARTBEAT, or the test's */
	double late_max;	/* WATCH_CLOCK_JUMP, or the test's */
	struct clocks clk;	/* at the last check_resume */
	uint64_t rng;
};

/* ---- small helpers --------------------------------------------------- */

static double
clock_secs(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
now_mono(void)
{
	return clock_secs(CLOCK_MONOTONIC);
}

static void
clocks_read(struct clocks *c)
{
	c->mono = now_mono();
	c->boot = clock_secs(CLOCK_BOOTTIME);
	c->real = clock_secs(CLOCK_REALTIME);
}

static void
note(struct watch *w, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
note(struct watch *w, enum log_level level, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return;
	w->p->note(w->p->arg, level, msg);
	free(msg);
}

/* A delay of about d seconds, spread by +-25% so that many clients that
 * lost the same server do not all come back at once. */
static double
jitter(struct watch *w, double d)
{
	uint64_t x = w->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	w->rng = x;
	return d * (0.75 + (double)(x % 1000001) / 2000000.0);
}

static double
backoff_next(double b)
{
	b *= 2;
	return b > WATCH_BACKOFF_MAX ? WATCH_BACKOFF_MAX : b;
}

static const struct cfg_channel *
chan_cfg(const struct wchan *c)
{
	return c->sel->channel;
}

/* The channel syncs this folder (its patterns and the command line). */
static bool
folder_selected(const struct wchan *c, const char *name)
{
	const struct strv *only = &c->sel->folders;

	if (only->n > 0 && !strv_contains(only, name))
		return false;
	return pattern_list_match(&chan_cfg(c)->folders, name);
}

/* ---- scheduling ------------------------------------------------------ */

/* Ask for a sync of folder (NULL: the whole channel) after `debounce`
 * seconds of quiet, but no later than WATCH_MAX_DELAY after the first
 * change that is still waiting. */
static void
mark_dirty(struct wchan *c, const char *folder, double debounce)
{
	double now = now_mono();

	if (!c->dirty) {
		c->dirty = true;
		c->full = false;
		c->retrying = false;
		c->first = now;
		c->due = now + debounce;
	} else if (debounce == 0) {
		/* reconnected, polled, resumed: now, backoff or not */
		c->due = now;
		c->retrying = false;
	} else if (!c->retrying) {
		if (now + debounce > c->due)
			c->due = now + debounce;
		if (c->due > c->first + WATCH_MAX_DELAY)
			c->due = c->first + WATCH_MAX_DELAY;
	}
	if (folder == NULL)
		c->full = true;
	else if (!c->full && !strv_contains(&c->folders, folder))
		strv_add(&c->folders, folder);
}

/* ---- IDLE watchers --------------------------------------------------- */

static void
watcher_close(struct watcher *wt)
{
	bool changed;
	struct err e = { 0 };

	if (wt->store != NULL) {
		/* A failed DONE leaves the store broken, which close
		 * handles without a LOGOUT. */
		if (wt->fd >= 0)
			wt->store->ops->idle_done(wt->store, false, NULL,
			    &changed, &e);
		wt->store->ops->close(&wt->store);
	}
	wt->fd = -1;
	free(wt->folder);
	wt->folder = NULL;
}

static void
watchers_close(struct wchan *c)
{
	for (size_t i = 0; i < c->nw; i++)
		watcher_close(&c->w[i]);
	free(c->w);
	c->w = NULL;
	c->nw = 0;
	c->connected = false;
}

/* After a suspend the connections may be dead without knowing it (the
 * server or a NAT box on the way gave up on them): DONE and LOGOUT would
 * each wait the account's timeout for a reply.  With the sockets shut
 * down both fail at once, and the stores close without a word more. */
static void
watchers_drop(struct wchan *c)
{
	for (size_t i = 0; i < c->nw; i++)
		if (c->w[i].fd >= 0)
			shutdown(c->w[i].fd, SHUT_RDWR);
	watchers_close(c);
}

/* The server connection failed: report it once per outage, try again
 * after the backoff. */
static void
watchers_lost(struct watch *w, struct wchan *c, const struct err *e)
{
	double delay = jitter(w, c->backoff);

	watchers_close(c);
	note(w, c->outage ? LOG_VERBOSE : LOG_QUIET,
	    "channel %s: %s (retrying in %.0f s)",
	    chan_cfg(c)->name, e->msg, delay);
	c->outage = true;
	c->reconnect_at = now_mono() + delay;
	c->backoff = backoff_next(c->backoff);
}

/* How many IDLE connections an account may have: its `connections`, less
 * the one a sync uses, at least one. */
static size_t
idle_cap(const struct cfg_account *a)
{
	return a->connections > 2 ? (size_t)a->connections - 1 : 1;
}

/* Whether folder `name` is in the channel's `watch` list. */
static bool
watched(const struct wchan *c, const char *name)
{
	return folder_selected(c, name) &&
	    pattern_list_match(&chan_cfg(c)->watch, name);
}

/* A connection for watching, told apart from the syncs' in --debug. */
static struct store *
watch_store_new(const struct cfg_channel *ch)
{
	char *label = xasprintf("%s/watch", ch->name);
	struct store *st = imap_store_new(ch->account, label, 1);

	free(label);
	return st;
}

static const char *
watcher_name(const char *folder)
{
	return folder != NULL ? folder : "every folder (NOTIFY)";
}

/* IDLE on one folder (NULL: NOTIFY on all), on `st` (taken) or on a new
 * connection. */
static int
watcher_open(struct wchan *c, struct store *st, const char *folder,
    struct err *e)
{
	const struct cfg_channel *ch = chan_cfg(c);
	struct watcher *wt = &c->w[c->nw];
	bool changed;	/* the full sync after connecting covers it */

	if (st == NULL) {
		st = watch_store_new(ch);
		if (st->ops->open(st, false, e) < 0) {
			st->ops->close(&st);
			return err_prefix(e, "watching %s",
			    watcher_name(folder));
		}
	}
	if (st->ops->idle_start(st, folder, &wt->fd, &changed, e) < 0) {
		st->ops->close(&st);
		wt->fd = -1;
		return err_prefix(e, "watching %s", watcher_name(folder));
	}
	wt->store = st;
	wt->folder = folder != NULL ? xstrdup(folder) : NULL;
	wt->since = now_mono();
	c->nw++;
	return 0;
}

/*
 * NOTIFY on one connection when the server has it (every folder, as the
 * `watch` key is for servers without it); else resolve `watch` against the
 * server's folders and IDLE on each.  A folder that cannot be watched (no
 * IDLE, EXAMINE refused) is left to the polls; a temporary failure fails
 * the lot.
 */
static int
watchers_open(struct watch *w, struct wchan *c, struct err *e)
{
	const struct cfg_channel *ch = chan_cfg(c);
	struct folder_list fl = { 0 };
	struct strv names = { 0 };
	struct store *first;
	struct err fe = { 0 };
	size_t cap = idle_cap(ch->account);
	int rc = -1;

	first = watch_store_new(ch);
	if (first->ops->idle_start == NULL) {
		first->ops->close(&first);
		c->connected = true;
		return 0;
	}
	if (first->ops->open(first, false, e) < 0) {
		first->ops->close(&first);
		goto out;
	}
	c->w = xcalloc(cap + 1, sizeof(*c->w));
	if (watcher_open(c, first, NULL, &fe) == 0)
		goto connected;
	if (fe.code == ERR_TEMP) {
		*e = fe;
		goto out;
	}
	note(w, LOG_VERBOSE, "channel %s: %s; using IDLE", ch->name, fe.msg);
	first = watch_store_new(ch);
	if (first->ops->open(first, false, e) < 0) {
		first->ops->close(&first);
		goto out;
	}
	if (first->ops->list_folders(first, &fl, e) < 0) {
		first->ops->close(&first);
		goto out;
	}
	for (size_t i = 0; i < fl.n; i++)
		if (!fl.v[i].noselect && watched(c, fl.v[i].name))
			strv_add(&names, fl.v[i].name);
	if (names.n > cap && !c->warned) {
		note(w, LOG_NORMAL, "channel %s: %zu folders to watch but "
		    "connections allows %zu; the others are synced every %u s",
		    ch->name, names.n, cap, ch->poll_interval);
		c->warned = true;
	}
	for (size_t i = 0; i < names.n && c->nw < cap; i++) {
		if (watcher_open(c, first, names.v[i], &fe) == 0) {
			first = NULL;
			continue;
		}
		first = NULL;	/* closed */
		if (fe.code == ERR_TEMP) {
			*e = fe;
			goto out;
		}
		note(w, LOG_NORMAL, "channel %s: %s; that folder is synced "
		    "every %u s", ch->name, fe.msg, ch->poll_interval);
	}
	if (first != NULL)
		first->ops->close(&first);	/* nothing to watch */
	if (names.n == 0 && !c->warned) {
		note(w, LOG_NORMAL, "channel %s: no folder of 'watch' on the "
		    "server; syncing every %u s", ch->name, ch->poll_interval);
		c->warned = true;
	}
connected:
	c->connected = true;
	if (c->outage)
		note(w, LOG_NORMAL, "channel %s: connected to the server again",
		    ch->name);
	c->outage = false;
	c->backoff = WATCH_BACKOFF_MIN;
	if (c->nw == 1 && c->w[0].folder == NULL)
		note(w, LOG_VERBOSE, "channel %s: watching every folder with "
		    "NOTIFY", ch->name);
	else
		note(w, LOG_VERBOSE, "channel %s: watching %zu folder%s with "
		    "IDLE", ch->name, c->nw, c->nw == 1 ? "" : "s");
	rc = 0;
out:
	if (rc < 0)
		watchers_close(c);
	strv_free(&names);
	folder_list_free(&fl);
	return rc;
}

static void
watchers_connect(struct watch *w, struct wchan *c)
{
	struct err e = { 0 };

	if (watchers_open(w, c, &e) < 0) {
		watchers_lost(w, c, &e);
		return;
	}
	/* Whatever happened while we were not watching. */
	mark_dirty(c, NULL, 0);
}

/* End IDLE and enter it again: before the server's timeout, and after
 * news, so that no response grows without end (imap_io caps their size)
 * and the connection shows it is alive. */
static int
watcher_cycle(struct wchan *c, struct watcher *wt, struct err *e)
{
	bool changed = false;

	if (wt->store->ops->idle_done(wt->store, true, &wt->fd, &changed,
	    e) < 0) {
		wt->fd = -1;
		return -1;
	}
	wt->since = now_mono();
	if (changed)
		mark_dirty(c, NULL, WATCH_DEBOUNCE_SERVER);
	return 0;
}

static void
watcher_input(struct watch *w, struct wchan *c, struct watcher *wt)
{
	struct err e = { 0 };
	bool changed = false;

	if (wt->store->ops->idle_check(wt->store, &changed, &e) < 0) {
		err_prefix(&e, "watching %s", watcher_name(wt->folder));
		watchers_lost(w, c, &e);
		return;
	}
	if (!changed)
		return;
	/* A change in a watched folder may be half of a move from or to a
	 * folder nobody watches: sync the whole channel. */
	mark_dirty(c, NULL, WATCH_DEBOUNCE_SERVER);
	if (watcher_cycle(c, wt, &e) < 0) {
		err_prefix(&e, "watching %s", watcher_name(wt->folder));
		watchers_lost(w, c, &e);
	}
}

/* ---- inotify --------------------------------------------------------- */

static void
went_add(struct watch *w, size_t chan, const char *path, enum went_kind kind,
    const char *folder)
{
	int wd = inotify_add_watch(w->infd, path, IN_MASK | IN_MASK_ADD);
	struct went *x;

	if (wd < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			note(w, LOG_QUIET, "channel %s: cannot watch %s: %s",
			    chan_cfg(&w->ch[chan])->name, path,
			    strerror(errno));
		return;
	}
	xgrow(&w->we, &w->cwe, w->nwe + 1, sizeof(*w->we));
	x = &w->we[w->nwe++];
	x->wd = wd;
	x->chan = chan;
	x->kind = kind;
	x->folder = folder != NULL ? xstrdup(folder) : NULL;
}

static bool
wd_used(const struct watch *w, int wd)
{
	for (size_t i = 0; i < w->nwe; i++)
		if (w->we[i].wd == wd)
			return true;
	return false;
}

/* Drop channel chan's entries before keep_from (those of an earlier
 * rewatch); a descriptor that no entry uses any more is removed. */
static void
went_prune(struct watch *w, size_t chan, size_t keep_from)
{
	size_t out = 0;
	int *gone = xcalloc(w->nwe + 1, sizeof(*gone));
	size_t ngone = 0;

	for (size_t i = 0; i < w->nwe; i++) {
		struct went *x = &w->we[i];

		if (x->chan == chan && i < keep_from) {
			gone[ngone++] = x->wd;
			free(x->folder);
			continue;
		}
		w->we[out++] = *x;
	}
	w->nwe = out;
	for (size_t i = 0; i < ngone; i++) {
		if (gone[i] < 0 || wd_used(w, gone[i]))
			continue;
		inotify_rm_watch(w->infd, gone[i]);
		for (size_t j = i + 1; j < ngone; j++)
			if (gone[j] == gone[i])
				gone[j] = -1;
	}
	free(gone);
}

/* Watch the Maildir root, each synced folder and its cur/ and new/. */
static void
rewatch(struct watch *w, size_t chan)
{
	struct wchan *c = &w->ch[chan];
	const struct cfg_channel *ch = chan_cfg(c);
	size_t keep_from = w->nwe;
	struct store *md = maildir_store_new(ch, ch->name);
	struct folder_list fl = { 0 };
	struct err e = { 0 };

	c->rewatch = false;
	went_add(w, chan, ch->maildir, WENT_ROOT, NULL);
	if (md->ops->open(md, false, &e) == 0 &&
	    md->ops->list_folders(md, &fl, &e) == 0) {
		for (size_t i = 0; i < fl.n; i++) {
			char *path, *sub;

			if (fl.v[i].noselect || !folder_selected(c,
			    fl.v[i].name) || maildir_folder_path(ch,
			    fl.v[i].name, &path, &e) < 0)
				continue;
			went_add(w, chan, path, WENT_FOLDER, fl.v[i].name);
			sub = xasprintf("%s/cur", path);
			went_add(w, chan, sub, WENT_SUB, fl.v[i].name);
			free(sub);
			sub = xasprintf("%s/new", path);
			went_add(w, chan, sub, WENT_SUB, fl.v[i].name);
			free(sub);
			free(path);
		}
	}
	folder_list_free(&fl);
	md->ops->close(&md);
	went_prune(w, chan, keep_from);
}

static bool
is_maildir_sub(const char *name)
{
	return strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 ||
	    strcmp(name, "tmp") == 0;
}

static void
inotify_event(struct watch *w, const struct inotify_event *ev)
{
	const char *name = ev->len > 0 ? ev->name : NULL;

	if (ev->mask & IN_Q_OVERFLOW) {
		for (size_t i = 0; i < w->nch; i++) {
			mark_dirty(&w->ch[i], NULL, WATCH_DEBOUNCE_DISK);
			w->ch[i].rewatch = true;
		}
		return;
	}
	for (size_t i = 0; i < w->nwe; i++) {
		struct went *x = &w->we[i];
		struct wchan *c;

		if (x->wd != ev->wd)
			continue;
		c = &w->ch[x->chan];
		if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF |
		    IN_UNMOUNT)) {
			mark_dirty(c, NULL, WATCH_DEBOUNCE_DISK);
			c->rewatch = true;
			continue;
		}
		if (name == NULL)
			continue;
		if (x->kind == WENT_SUB) {
			/* Maildir readers ignore dot files; so does sync. */
			if (name[0] != '.')
				mark_dirty(c, x->folder, WATCH_DEBOUNCE_DISK);
		} else if ((ev->mask & IN_ISDIR) && !is_maildir_sub(name)) {
			/* A folder came or went. */
			mark_dirty(c, NULL, WATCH_DEBOUNCE_DISK);
			c->rewatch = true;
		}
	}
}

static void
inotify_input(struct watch *w)
{
	char buf[65536]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->infd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			inotify_event(w, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* ---- channels -------------------------------------------------------- */

static void
channels_init(struct watch *w)
{
	double now = now_mono();

	w->nch = *w->nselp;
	w->ch = xcalloc(w->nch + 1, sizeof(*w->ch));
	for (size_t i = 0; i < w->nch; i++) {
		struct wchan *c = &w->ch[i];

		c->sel = &(*w->selp)[i];
		c->backoff = WATCH_BACKOFF_MIN;
		c->sync_backoff = WATCH_BACKOFF_MIN;
		c->reconnect_at = now;
		c->next_poll = now + c->sel->channel->poll_interval;
		c->rewatch = true;
		c->first_sync = true;
		mark_dirty(c, NULL, 0);
	}
}

static void
channels_free(struct watch *w)
{
	for (size_t i = 0; i < w->nch; i++) {
		watchers_close(&w->ch[i]);
		strv_free(&w->ch[i].folders);
		went_prune(w, i, w->nwe);
	}
	free(w->ch);
	w->ch = NULL;
	w->nch = 0;
}

static void
run_sync(struct watch *w, struct wchan *c)
{
	const struct cfg_channel *ch = chan_cfg(c);
	struct strv only = { 0 };
	struct sync_stats st = { 0 };
	struct sync_opts opts;
	struct err e = { 0 };
	bool full = c->full;
	double start;
	int rc;

	if (full) {
		for (size_t i = 0; i < c->sel->folders.n; i++)
			strv_add(&only, c->sel->folders.v[i]);
	} else {
		only = c->folders;
		memset(&c->folders, 0, sizeof(c->folders));
	}
	strv_free(&c->folders);
	c->dirty = false;
	c->full = false;
	c->retrying = false;

	start = now_mono();
	opts = *w->p->opts;
	opts.connections = 1;
	rc = sync_channel(ch, &only, &opts, &st, &e);
	w->p->synced(w->p->arg, *w->cfgp, ch, &st, rc < 0 ? &e : NULL,
	    now_mono() - start, c->first_sync);
	sync_stats_free(&st);
	c->first_sync = false;
	if (full)
		c->next_poll = now_mono() + ch->poll_interval;

	if (rc < 0 && e.code == ERR_TEMP) {
		/* Unreachable or locked: the same again after a while. */
		double delay = jitter(w, c->sync_backoff);

		if (full)
			mark_dirty(c, NULL, 0);
		for (size_t i = 0; !full && i < only.n; i++)
			mark_dirty(c, only.v[i], 0);
		c->due = now_mono() + delay;
		c->retrying = true;
		c->sync_backoff = backoff_next(c->sync_backoff);
		/* A sync may notice a lost or restarted server long before
		 * the watching connections do (a server restart need not end
		 * an idle session at once): renew those too, and report the
		 * reconnection. */
		if (c->connected) {
			watchers_close(c);
			c->reconnect_at = c->due;
		}
		c->outage = true;
		note(w, LOG_VERBOSE, "channel %s: next try in %.0f s", ch->name,
		    delay);
	} else {
		c->sync_backoff = WATCH_BACKOFF_MIN;
		if (full)
			c->rewatch = true;
	}
	strv_free(&only);
}

/* ---- signals, clocks, config ----------------------------------------- */

static int
signals_open(struct watch *w, sigset_t *old, struct err *e)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked, they wait in the signalfd until the current step is
	 * done: a sync is never cut in the middle. */
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return err_sys(e, ERR_FAIL, "sigprocmask");
	w->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->sigfd < 0) {
		err_sys(e, ERR_FAIL, "signalfd");
		sigprocmask(SIG_SETMASK, old, NULL);
		return -1;
	}
	return 0;
}

static void
reload(struct watch *w)
{
	struct cfg *nc = NULL;
	struct cfg_selection *ns = NULL;
	size_t nn = 0;
	struct err e = { 0 };

	if (cfg_load(w->p->config, &nc, &e) < 0 ||
	    cfg_select(nc, w->p->args, w->p->nargs, w->p->all, &ns, &nn,
	    &e) < 0) {
		note(w, LOG_QUIET, "SIGHUP: keeping the old configuration: %s",
		    e.msg);
		cfg_free(&nc);
		return;
	}
	channels_free(w);
	cfg_selection_free(w->selp, *w->nselp);
	cfg_free(w->cfgp);
	*w->cfgp = nc;
	*w->selp = ns;
	*w->nselp = nn;
	channels_init(w);
	note(w, LOG_NORMAL, "configuration reloaded from %s", w->p->config);
}

static void
signals_input(struct watch *w)
{
	struct signalfd_siginfo si;
	bool hup = false;

	while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			hup = true;
		else
			w->stop = true;
	}
	if (hup && !w->stop)
		reload(w);
}

/* Every connection is suspect: renew them all, then a full sync. */
static void
resume(struct watch *w)
{
	for (size_t i = 0; i < w->nch; i++) {
		struct wchan *c = &w->ch[i];

		watchers_drop(c);
		c->backoff = WATCH_BACKOFF_MIN;
		c->sync_backoff = WATCH_BACKOFF_MIN;
		c->reconnect_at = now_mono();
		mark_dirty(c, NULL, 0);
	}
}

/*
 * After a wait of `asked` seconds that began at BOOTTIME `start`: whether
 * the process was away (suspended or stopped) since the last check, so that
 * its connections may have died unnoticed.  Three signs: the wait ended
 * much later than asked (a SIGSTOP, a frozen cgroup, a suspend); BOOTTIME
 * gained on MONOTONIC (a suspend, even one during a sync, whose length is
 * not otherwise known); the wall clock jumped against MONOTONIC (a paused
 * virtual machine, or a clock set by hand: a false alarm that costs one
 * sync).  If so, say it once and renew everything.
 */
static bool
check_resume(struct watch *w, double start, double asked)
{
	struct clocks now;
	double late, gap, jump;

	clocks_read(&now);
	late = now.boot - start - asked;
	gap = (now.boot - now.mono) - (w->clk.boot - w->clk.mono);
	jump = (now.real - now.mono) - (w->clk.real - w->clk.mono);
	w->clk = now;
	if (gap > late)
		late = gap;
	if (late > w->late_max)
		note(w, LOG_NORMAL, "woke up %.0f s late (suspend or stop?): "
		    "reconnecting and syncing", late);
	else if (jump > w->late_max || jump < -w->late_max)
		note(w, LOG_NORMAL, "the clock jumped by %+.0f s (suspend and "
		    "resume?): reconnecting and syncing", jump);
	else
		return false;
	resume(w);
	return true;
}

/* $MAILSYNC_WATCH_HEARTBEAT, a whole number of seconds, lets a test stop
 * the process for a few seconds instead of a minute. */
static void
heartbeat_init(struct watch *w)
{
	const char *v = getenv("MAILSYNC_WATCH_HEARTBEAT");
	char *end;
	long n;

	w->heartbeat = WATCH_HEARTBEAT;
	w->late_max = WATCH_CLOCK_JUMP;
	if (v == NULL || *v == '\0')
		return;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n <= 0 || n > WATCH_HEARTBEAT)
		return;
	w->heartbeat = (double)n;
	w->late_max = (double)n;
}

/* ---- the loop -------------------------------------------------------- */

static double
next_wakeup(const struct watch *w, double now)
{
	double t = now + w->heartbeat;

	for (size_t i = 0; i < w->nch; i++) {
		const struct wchan *c = &w->ch[i];

		if (c->dirty && c->due < t)
			t = c->due;
		if (c->next_poll < t)
			t = c->next_poll;
		if (!c->connected && c->reconnect_at < t)
			t = c->reconnect_at;
		for (size_t j = 0; j < c->nw; j++)
			if (c->w[j].since + WATCH_IDLE_REFRESH < t)
				t = c->w[j].since + WATCH_IDLE_REFRESH;
	}
	return t;
}

static void
timers(struct watch *w)
{
	double now = now_mono();

	for (size_t i = 0; i < w->nch; i++) {
		struct wchan *c = &w->ch[i];

		if (!c->connected && now >= c->reconnect_at)
			watchers_connect(w, c);
		for (size_t j = 0; c->connected && j < c->nw; j++) {
			struct watcher *wt = &c->w[j];
			struct err e = { 0 };

			if (now < wt->since + WATCH_IDLE_REFRESH)
				continue;
			if (watcher_cycle(c, wt, &e) < 0) {
				err_prefix(&e, "watching %s",
				    watcher_name(wt->folder));
				watchers_lost(w, c, &e);
			}
		}
		if (now >= c->next_poll) {
			c->next_poll = now + chan_cfg(c)->poll_interval;
			mark_dirty(c, NULL, 0);
		}
	}
}

static void
syncs(struct watch *w)
{
	for (size_t i = 0; i < w->nch && !w->stop; i++) {
		struct wchan *c = &w->ch[i];

		if (c->rewatch)
			rewatch(w, i);
		if (!c->dirty || now_mono() < c->due)
			continue;
		run_sync(w, c);
		if (c->rewatch)
			rewatch(w, i);
		/* A signal that came during the sync ends the loop before
		 * the next channel's. */
		signals_input(w);
	}
}

/* poll(2) counts its timeout on MONOTONIC, which stops while the machine
 * sleeps: a BOOTTIME timer set for the same moment ends the wait as soon as
 * the machine wakes up, if it slept past it.  Setting it again clears what
 * it counted, so it is never read. */
static void
timer_arm(struct watch *w, int timeout)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = timeout / 1000;
	its.it_value.tv_nsec = (long)(timeout % 1000) * 1000000;
	timerfd_settime(w->tfd, 0, &its, NULL);
}

static void
wait_events(struct watch *w)
{
	size_t n = 3, k = 0;
	struct pollfd *pf;
	double now = now_mono(), t = next_wakeup(w, now), start;
	/* rounded up: waking a little early would spin until due */
	int timeout = t <= now ? 0 : (int)((t - now) * 1000) + 1;
	bool resumed;
	int r;

	for (size_t i = 0; i < w->nch; i++)
		n += w->ch[i].nw;
	pf = xcalloc(n, sizeof(*pf));
	pf[k++] = (struct pollfd){ .fd = w->sigfd, .events = POLLIN };
	pf[k++] = (struct pollfd){ .fd = w->infd, .events = POLLIN };
	pf[k++] = (struct pollfd){ .fd = w->tfd, .events = POLLIN };
	for (size_t i = 0; i < w->nch; i++)
		for (size_t j = 0; j < w->ch[i].nw; j++)
			pf[k++] = (struct pollfd){ .fd = w->ch[i].w[j].fd,
				.events = POLLIN };
	timer_arm(w, timeout);
	start = clock_secs(CLOCK_BOOTTIME);
	r = poll(pf, k, timeout);
	/* What the watchers say after that is stale: they are gone. */
	resumed = check_resume(w, start, timeout / 1000.0);
	if (r > 0) {
		if (pf[1].revents)
			inotify_input(w);
		/* Watchers before signals: a reload frees them. */
		k = 3;
		for (size_t i = 0; i < w->nch && !resumed; i++) {
			struct wchan *c = &w->ch[i];
			size_t nw = c->nw;

			for (size_t j = 0; j < nw; j++, k++)
				if (pf[k].revents && j < c->nw &&
				    c->w[j].fd == pf[k].fd)
					watcher_input(w, c, &c->w[j]);
		}
		if (pf[0].revents)
			signals_input(w);
	}
	free(pf);
}

int
watch_run(const struct watch_params *p, struct cfg **cfgp,
    struct cfg_selection **selp, size_t *nselp, struct err *e)
{
	struct watch w = {
		.p = p, .cfgp = cfgp, .selp = selp, .nselp = nselp,
		.sigfd = -1, .infd = -1, .tfd = -1,
	};
	sigset_t old;

	w.rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
	    (uint64_t)(clock_secs(CLOCK_REALTIME) * 1e6);
	if (w.rng == 0)
		w.rng = 1;
	if (signals_open(&w, &old, e) < 0)
		return -1;
	w.infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w.infd < 0) {
		err_sys(e, ERR_FAIL, "inotify_init1");
		close(w.sigfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	w.tfd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w.tfd < 0) {
		err_sys(e, ERR_FAIL, "timerfd_create");
		close(w.infd);
		close(w.sigfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	heartbeat_init(&w);
	clocks_read(&w.clk);
	channels_init(&w);
	while (!w.stop) {
		timers(&w);
		syncs(&w);
		if (w.stop)
			break;
		wait_events(&w);
	}
	channels_free(&w);
	free(w.we);
	close(w.tfd);
	close(w.infd);
	close(w.sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}
