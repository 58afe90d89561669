/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Channels of different accounts synced at once, one worker process each. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "progress.h"

/* ---- groups ------------------------------------------------------------ */

/* The paths of a channel that another channel must not share. */
struct paths {
	char *p[3];	/* Maildir root, inbox, state directory */
};

static char *
canon_path(const char *path)
{
	char *r = realpath(path, NULL);
	size_t n;

	/* a path not made yet (first run) is compared as written */
	if (r == NULL)
		r = xstrdup(path);
	n = strlen(r);
	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

/* Whether a is b or one of them lies inside the other. */
static bool
path_overlap(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;
	const char *longer = na < nb ? b : a;

	if (strncmp(a, b, n) != 0)
		return false;
	return na == nb || longer[n] == '/' || (n == 1 && *a == '/');
}

static bool
same_group(const struct cfg_channel *a, const struct paths *pa,
    const struct cfg_channel *b, const struct paths *pb)
{
	const struct cfg_account *x = a->account, *y = b->account;

	/* two accounts for one login would race on the same mailboxes */
	if (x == y || (strcasecmp(x->host, y->host) == 0 &&
	    x->port == y->port && strcmp(x->user, y->user) == 0))
		return true;
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 3; k++)
			if (path_overlap(pa->p[i], pb->p[k]))
				return true;
	return false;
}

static size_t
root_of(size_t *up, size_t i)
{
	while (up[i] != i)
		i = up[i] = up[up[i]];
	return i;
}

/* group_out[i]: the group of sel[i], numbered in order of first channel. */
static size_t
groups_assign(const struct cfg_selection *sel, size_t nsel, size_t *group_out)
{
	struct paths *ps = xcalloc(nsel, sizeof(*ps));
	size_t *up = xcalloc(nsel, sizeof(*up)), ng = 0;

	for (size_t i = 0; i < nsel; i++) {
		const struct cfg_channel *ch = sel[i].channel;

		ps[i].p[0] = canon_path(ch->maildir);
		ps[i].p[1] = canon_path(ch->inbox);
		ps[i].p[2] = canon_path(ch->state_dir);
		up[i] = i;
		/* a set's root is its first channel: roots are labelled
		 * before the channels under them */
		for (size_t k = 0; k < i; k++) {
			size_t ri = root_of(up, i), rk = root_of(up, k);

			if (ri != rk &&
			    same_group(ch, &ps[i], sel[k].channel, &ps[k]))
				up[ri > rk ? ri : rk] = ri > rk ? rk : ri;
		}
	}
	for (size_t i = 0; i < nsel; i++) {
		size_t r = root_of(up, i);

		group_out[i] = r == i ? ng++ : group_out[r];
		for (size_t k = 0; k < 3; k++)
			free(ps[i].p[k]);
	}
	free(ps);
	free(up);
	return ng;
}

size_t
jobs_ngroups(const struct cfg_selection *sel, size_t nsel)
{
	size_t *g = xcalloc(nsel + 1, sizeof(*g)), ng;

	ng = groups_assign(sel, nsel, g);
	free(g);
	return ng;
}

/* ---- state of a run ---------------------------------------------------- */

/*
 * What a worker tells the parent on its status pipe.  Each is one write
 * shorter than PIPE_BUF, so messages never tear.
 */
enum { MSG_TICK = 1, MSG_DONE };
struct wmsg {
	uint32_t kind;
	uint32_t index;		/* of the selected channel */
	int32_t code;		/* MSG_DONE: its enum err_code */
	uint32_t unused;
	uint64_t a, b;		/* MSG_TICK: folder a of b; MSG_DONE: the
				 * sizes of the worker's stdout and stderr */
};

struct chan {
	size_t group;
	bool reported;		/* its MSG_DONE came */
	bool lost;		/* its worker ended before reporting it */
	enum err_code code;
	uint64_t out_end, err_end;	/* where its output ends */
	uint64_t folder_i, folder_n;
	double seconds;		/* lost: how long it ran */
};

enum group_state { G_PENDING, G_RUNNING, G_REAPED, G_SKIPPED };

struct group {
	enum group_state state;
	size_t first, last;	/* its first and last selected channel */
	pid_t pid;
	int fd;			/* status pipe (read end) or -1 */
	int out, err;		/* the worker's stdout and stderr (memfds) */
	uint64_t out_pos, err_pos;	/* printed up to here */
	unsigned char buf[sizeof(struct wmsg)];
	size_t have;
	char *why;		/* how the worker ended, when not well */
	double mark;		/* when its current channel started */
};

struct jobs {
	const struct jobs_params *p;
	struct chan *ch;
	struct group *g;
	size_t ng, next_start, running, next_print, ndone;
	pid_t parent;
	int sigfd;
	sigset_t oldmask;
	int stop;		/* the signal that stops the run, or 0 */
	bool worker;		/* this process is a worker */
	enum err_code worker_code, worst;
	FILE *tty;		/* where the progress line goes, or NULL */
	bool drawn, dirty;
	double last_draw;
};

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
jobs_init(struct jobs *j, const struct jobs_params *p)
{
	size_t *grp = xcalloc(p->nsel + 1, sizeof(*grp));

	j->p = p;
	j->parent = getpid();
	j->ng = groups_assign(p->sel, p->nsel, grp);
	j->ch = xcalloc(p->nsel, sizeof(*j->ch));
	j->g = xcalloc(j->ng, sizeof(*j->g));
	for (size_t gi = 0; gi < j->ng; gi++) {
		j->g[gi].fd = j->g[gi].out = j->g[gi].err = -1;
		j->g[gi].first = SIZE_MAX;
	}
	for (size_t i = 0; i < p->nsel; i++) {
		struct group *g = &j->g[grp[i]];

		j->ch[i].group = grp[i];
		if (g->first == SIZE_MAX)
			g->first = i;
		g->last = i;
	}
	free(grp);
}

/* Every descriptor of the run: a worker keeps none of them but its own. */
static void
jobs_close(struct jobs *j)
{
	for (size_t gi = 0; gi < j->ng; gi++) {
		close_fd(&j->g[gi].fd);
		close_fd(&j->g[gi].out);
		close_fd(&j->g[gi].err);
	}
	close_fd(&j->sigfd);
}

static void
jobs_free(struct jobs *j)
{
	jobs_close(j);
	for (size_t gi = 0; gi < j->ng; gi++)
		free(j->g[gi].why);
	free(j->g);
	free(j->ch);
}

/* ---- the worker -------------------------------------------------------- */

struct worker {
	int fd;			/* status pipe (write end) */
	uint32_t index;
	uint64_t folder_i, folder_n;
};

static int
msg_send(int fd, const struct wmsg *m)
{
	ssize_t n;

	do
		n = write(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Only a new folder is news: the parent's line shows no more. */
static void
worker_tick(struct sync_stats *st, void *arg)
{
	struct worker *w = arg;
	struct wmsg m = { .kind = MSG_TICK, .index = w->index,
		.a = st->folder_i, .b = st->folder_n };

	if (m.a == w->folder_i && m.b == w->folder_n)
		return;
	w->folder_i = m.a;
	w->folder_n = m.b;
	/* a parent gone away ends the worker (PR_SET_PDEATHSIG) */
	msg_send(w->fd, &m);
}

static int
worker_done(struct worker *w, enum err_code code)
{
	struct wmsg m = { .kind = MSG_DONE, .index = w->index,
		.code = (int32_t)code };
	struct stat so, se;

	fflush(stdout);
	fflush(stderr);
	if (fstat(STDOUT_FILENO, &so) < 0 || fstat(STDERR_FILENO, &se) < 0)
		return -1;
	m.a = (uint64_t)so.st_size;
	m.b = (uint64_t)se.st_size;
	return msg_send(w->fd, &m);
}

static enum err_code
worker_main(struct jobs *j, size_t gi, int wfd)
{
	const struct jobs_params *p = j->p;
	const struct group *g = &j->g[gi];
	struct worker w = { .fd = wfd };

	sigprocmask(SIG_SETMASK, &j->oldmask, NULL);
	/* a parent killed outright must not leave workers behind */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != j->parent ||
	    dup2(g->out, STDOUT_FILENO) < 0 ||
	    dup2(g->err, STDERR_FILENO) < 0)
		return ERR_FAIL;
	jobs_close(j);
	for (size_t i = g->first; i <= g->last; i++) {
		enum err_code code;

		if (j->ch[i].group != gi)
			continue;
		w.index = (uint32_t)i;
		w.folder_i = w.folder_n = 0;
		code = p->run(p->arg, i, j->tty != NULL ? worker_tick : NULL,
		    &w);
		if (worker_done(&w, code) < 0)
			return ERR_FAIL;
	}
	close(wfd);
	return ERR_OK;
}

/* ---- starting and ending workers --------------------------------------- */

static int
group_fork(struct jobs *j, size_t gi, struct err *e)
{
	struct group *g = &j->g[gi];
	int pfd[2];
	pid_t pid;

	/* memory files: a worker's output never touches a disk */
	g->out = memfd_create("mailsync-stdout", MFD_CLOEXEC);
	if (g->out < 0)
		return err_sys(e, ERR_FAIL, "memfd_create failed");
	g->err = memfd_create("mailsync-stderr", MFD_CLOEXEC);
	if (g->err < 0)
		return err_sys(e, ERR_FAIL, "memfd_create failed");
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return err_sys(e, ERR_FAIL, "pipe failed");
	/* what stdio holds would be written twice */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return err_sys(e, ERR_FAIL, "fork failed");
	}
	if (pid == 0) {
		close(pfd[0]);
		j->worker = true;
		j->worker_code = worker_main(j, gi, pfd[1]);
		return 0;
	}
	close(pfd[1]);
	g->pid = pid;
	g->fd = pfd[0];
	return 0;
}

/* The worker is gone (or never came): what it did not report is lost. */
static void
group_end(struct jobs *j, size_t gi)
{
	struct group *g = &j->g[gi];
	uint64_t out = 0, err = 0;
	struct stat st;
	double now = mono_seconds();

	if (g->out >= 0 && fstat(g->out, &st) == 0)
		out = (uint64_t)st.st_size;
	if (g->err >= 0 && fstat(g->err, &st) == 0)
		err = (uint64_t)st.st_size;
	g->state = G_REAPED;
	if (g->why == NULL && !j->ch[g->last].reported)
		g->why = xstrdup("worker ended before reporting");
	/* what came after its last report (a sanitizer's, say) is printed
	 * with the channel that was running, or with its last */
	for (size_t i = g->first; i <= g->last; i++) {
		struct chan *c = &j->ch[i];

		if (c->group != gi || (c->reported && i != g->last))
			continue;
		c->out_end = out;
		c->err_end = err;
		if (!c->reported) {
			c->lost = true;
			c->code = ERR_FAIL;
			c->seconds = now - g->mark;
			g->mark = now;
			j->ndone++;
		}
	}
	j->dirty = true;
}

static void
group_start(struct jobs *j, size_t gi)
{
	struct group *g = &j->g[gi];
	struct err e = { 0 };

	g->mark = mono_seconds();
	if (group_fork(j, gi, &e) < 0) {
		g->why = xasprintf("cannot start a worker: %s", e.msg);
		group_end(j, gi);
		return;
	}
	if (!j->worker) {
		g->state = G_RUNNING;
		j->running++;
		j->dirty = true;
	}
}

static char *
wait_text(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	if (WIFEXITED(status))
		return xasprintf("worker exited with status %d",
		    WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return xasprintf("worker killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	return xasprintf("worker ended with wait status %#x", status);
}

/* The status pipe is at its end: the worker exited, or is exiting. */
static void
group_reap(struct jobs *j, size_t gi)
{
	struct group *g = &j->g[gi];
	int status = 0;
	pid_t r;

	close_fd(&g->fd);
	do
		r = waitpid(g->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	g->why = r < 0 ? xasprintf("waitpid(%ld) failed: %s", (long)g->pid,
	    strerror(errno)) : wait_text(status);
	j->running--;
	group_end(j, gi);
}

static void
msg_take(struct jobs *j, size_t gi, const struct wmsg *m)
{
	struct group *g = &j->g[gi];
	struct chan *c;

	/* trust a worker no further than its own channels */
	if (m->index < g->first || m->index > g->last ||
	    j->ch[m->index].group != gi || j->ch[m->index].reported)
		return;
	c = &j->ch[m->index];
	if (m->kind == MSG_TICK) {
		c->folder_i = m->a;
		c->folder_n = m->b;
	} else if (m->kind == MSG_DONE) {
		c->reported = true;
		c->code = m->code >= ERR_OK && m->code <= ERR_TEMP ?
		    (enum err_code)m->code : ERR_FAIL;
		c->out_end = m->a;
		c->err_end = m->b;
		g->mark = mono_seconds();
		j->ndone++;
	}
	j->dirty = true;
}

static void
group_input(struct jobs *j, size_t gi)
{
	struct group *g = &j->g[gi];
	struct wmsg m;
	ssize_t n;

	n = read(g->fd, g->buf + g->have, sizeof(g->buf) - g->have);
	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		group_reap(j, gi);
		return;
	}
	g->have += (size_t)n;
	if (g->have < sizeof(g->buf))
		return;
	g->have = 0;
	memcpy(&m, g->buf, sizeof(m));
	msg_take(j, gi, &m);
}

/* ---- output, in selection order ---------------------------------------- */

static void
line_clear(struct jobs *j)
{
	if (j->tty != NULL && j->drawn) {
		fputs("\r\033[K", j->tty);
		fflush(j->tty);
	}
	j->drawn = false;
}

/* The channel a running group is at. */
static const struct chan *
group_current(const struct jobs *j, size_t gi, size_t *index_out)
{
	const struct group *g = &j->g[gi];

	for (size_t i = g->first; i <= g->last; i++)
		if (j->ch[i].group == gi && !j->ch[i].reported) {
			*index_out = i;
			return &j->ch[i];
		}
	return NULL;
}

/* "2/5 channels done; work: folder 3/12; home: starting", ten times a
 * second at most. */
static void
line_draw(struct jobs *j)
{
	char line[1024];
	size_t n, i;
	double now;

	if (j->tty == NULL || !j->dirty || j->running == 0)
		return;
	now = mono_seconds();
	if (now - j->last_draw < 0.1)
		return;
	n = (size_t)snprintf(line, sizeof(line), "%zu/%zu channels done",
	    j->ndone, j->p->nsel);
	for (size_t gi = 0; gi < j->ng && n < sizeof(line); gi++) {
		const struct chan *c;

		if (j->g[gi].state != G_RUNNING ||
		    (c = group_current(j, gi, &i)) == NULL)
			continue;
		if (c->folder_n > 0)
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "; %s: folder %llu/%llu",
			    j->p->sel[i].channel->name,
			    (unsigned long long)c->folder_i,
			    (unsigned long long)c->folder_n);
		else
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "; %s: starting", j->p->sel[i].channel->name);
	}
	progress_fit_width(j->tty, line);
	fprintf(j->tty, "\r\033[K%s", line);
	fflush(j->tty);
	j->drawn = true;
	j->dirty = false;
	j->last_draw = now;
}

static void
copy_out(int fd, uint64_t *pos, uint64_t end, FILE *to)
{
	char buf[16384];

	while (fd >= 0 && *pos < end) {
		size_t want = end - *pos < sizeof(buf) ? end - *pos :
		    sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)*pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, to);
		*pos += (uint64_t)n;
	}
	fflush(to);
}

static void
chan_print(struct jobs *j, size_t i)
{
	const struct jobs_params *p = j->p;
	struct chan *c = &j->ch[i];
	struct group *g = &j->g[c->group];

	line_clear(j);
	copy_out(g->err, &g->err_pos, c->err_end, stderr);
	copy_out(g->out, &g->out_pos, c->out_end, stdout);
	if (c->lost)
		c->code = p->failed(p->arg, i, g->why, false, c->seconds);
	else if (i == g->last && g->why != NULL)
		c->code = err_worst(c->code,
		    p->failed(p->arg, i, g->why, true, 0));
	j->worst = err_worst(j->worst, c->code);
	if (i == g->last) {
		close_fd(&g->out);
		close_fd(&g->err);
	}
	j->dirty = true;
}

/* A group's last channel waits for its worker to exit: what the worker
 * prints after its last report belongs to it. */
static bool
chan_ready(const struct jobs *j, size_t i)
{
	const struct group *g = &j->g[j->ch[i].group];

	return g->state == G_REAPED || (j->ch[i].reported && i != g->last);
}

/* Print every channel that is done and has only done ones before it. */
static void
deliver(struct jobs *j)
{
	for (; j->next_print < j->p->nsel; j->next_print++) {
		size_t i = j->next_print;

		if (j->g[j->ch[i].group].state == G_SKIPPED)
			continue;
		if (!chan_ready(j, i))
			return;
		chan_print(j, i);
	}
}

/* ---- the parent's loop ------------------------------------------------- */

/* SIGINT and SIGTERM wait in a signalfd, read between two events. */
static int
signals_open(struct jobs *j, struct err *e)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, &j->oldmask) < 0)
		return err_sys(e, ERR_FAIL, "sigprocmask failed");
	j->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (j->sigfd < 0) {
		err_sys(e, ERR_FAIL, "signalfd failed");
		sigprocmask(SIG_SETMASK, &j->oldmask, NULL);
		return -1;
	}
	return 0;
}

static void
stop_all(struct jobs *j, int sig)
{
	for (size_t gi = 0; gi < j->ng; gi++)
		if (j->g[gi].state == G_RUNNING)
			kill(j->g[gi].pid, sig);
}

static void
signals_input(struct jobs *j)
{
	struct signalfd_siginfo si;

	while (read(j->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		j->stop = (int)si.ssi_signo;
		stop_all(j, j->stop);
	}
}

/* Wait for a signal or a worker's message; false if poll failed. */
static bool
jobs_wait(struct jobs *j, struct pollfd *pf, size_t *who)
{
	nfds_t n = 0;
	int r;

	pf[n++] = (struct pollfd){ .fd = j->sigfd, .events = POLLIN };
	for (size_t gi = 0; gi < j->ng; gi++) {
		if (j->g[gi].state != G_RUNNING)
			continue;
		who[n] = gi;
		pf[n++] = (struct pollfd){ .fd = j->g[gi].fd,
			.events = POLLIN };
	}
	/* a redraw held back by the rate limit is due within 0.1 s */
	r = poll(pf, n, j->tty != NULL && j->dirty ? 100 : -1);
	if (r < 0)
		return errno == EINTR;
	if (pf[0].revents != 0)
		signals_input(j);
	for (nfds_t k = 1; k < n; k++)
		if (pf[k].revents != 0)
			group_input(j, who[k]);
	return true;
}

/* Without poll(2) no news can be waited for: the workers are ended and
 * the groups not started fail. */
static void
jobs_abort(struct jobs *j, const char *poll_error)
{
	char *why = xasprintf("not started: poll failed: %s", poll_error);

	stop_all(j, SIGTERM);
	for (size_t gi = 0; gi < j->ng; gi++)
		if (j->g[gi].state == G_RUNNING)
			group_reap(j, gi);
	for (; j->next_start < j->ng; j->next_start++) {
		struct group *g = &j->g[j->next_start];

		g->why = xstrdup(why);
		g->mark = mono_seconds();
		group_end(j, j->next_start);
	}
	free(why);
}

static void
jobs_loop(struct jobs *j)
{
	struct pollfd *pf = xcalloc(j->ng + 1, sizeof(*pf));
	size_t *who = xcalloc(j->ng + 1, sizeof(*who));

	for (;;) {
		while (j->stop == 0 && j->next_start < j->ng &&
		    j->running < j->p->max_workers) {
			group_start(j, j->next_start++);
			if (j->worker)
				goto out;
		}
		deliver(j);
		line_draw(j);
		if (j->running == 0)
			break;
		if (!jobs_wait(j, pf, who))
			jobs_abort(j, strerror(errno));
	}
	/* groups a signal kept from starting print nothing */
	for (size_t gi = j->next_start; gi < j->ng; gi++)
		j->g[gi].state = G_SKIPPED;
	deliver(j);
	line_clear(j);
out:
	free(pf);
	free(who);
}

int
jobs_run(const struct jobs_params *p, struct jobs_outcome *out,
    struct err *e)
{
	struct jobs j = { .sigfd = -1 };
	int probe;

	memset(out, 0, sizeof(*out));
	/* where memfd_create is forbidden (a seccomp filter), find out
	 * before any worker runs: the caller then syncs one at a time */
	if ((probe = memfd_create("mailsync-probe", MFD_CLOEXEC)) < 0)
		return err_sys(e, ERR_FAIL, "memfd_create failed");
	close(probe);
	if (signals_open(&j, e) < 0)
		return -1;
	jobs_init(&j, p);
	j.tty = p->progress && isatty(STDOUT_FILENO) ? stdout : NULL;
	jobs_loop(&j);
	out->worker = j.worker;
	out->worst = j.worker ? j.worker_code : j.worst;
	out->signal = j.worker ? 0 : j.stop;
	jobs_free(&j);
	if (!out->worker)
		sigprocmask(SIG_SETMASK, &j.oldmask, NULL);
	return 0;
}
