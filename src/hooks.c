/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The post-sync and new-mail hooks: shell commands run after a sync. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks.h"
#include "store.h"

extern char **environ;

size_t
hooks_new_count(const struct sync_stats *st)
{
	return st->copied[SIDE_LOCAL];
}

size_t
hooks_changed_count(const struct sync_stats *st)
{
	size_t n = 0;

	for (int s = 0; s < 2; s++)
		n += st->copied[s] + st->moved[s] + st->flagged[s] +
		    st->deleted[s];
	return n;
}

int
hooks_timeout(void)
{
	const char *v = getenv("MAILSYNC_HOOK_TIMEOUT");
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return HOOKS_TIMEOUT;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n <= 0 || n > 86400)
		return HOOKS_TIMEOUT;
	return (int)n;
}

static bool
env_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* Our environment with the three MAILSYNC_ variables set (replaced). */
static char **
hook_env(const char *channel, size_t nnew, size_t nchanged)
{
	static const char *const ours[] = { "MAILSYNC_CHANNEL", "MAILSYNC_NEW",
		"MAILSYNC_CHANGED" };
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = xcalloc(n + 4, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		bool skip = false;

		for (size_t j = 0; j < 3; j++)
			skip |= env_is(environ[i], ours[j]);
		if (!skip)
			env[k++] = xstrdup(environ[i]);
	}
	env[k++] = xasprintf("MAILSYNC_CHANNEL=%s", channel);
	env[k++] = xasprintf("MAILSYNC_NEW=%zu", nnew);
	env[k++] = xasprintf("MAILSYNC_CHANGED=%zu", nchanged);
	env[k] = NULL;
	return env;
}

static void
env_free(char **env)
{
	for (size_t i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

static int
spawn_hook(const char *name, const char *cmd, char **env, pid_t *pid_out,
    struct err *e)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int rc;

	/* A watcher blocks its signals to read them from a signalfd; the hook
	 * must not inherit that, and gets a group of its own so a timeout
	 * reaches whatever the shell started. */
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	rc = posix_spawn(pid_out, "/bin/sh", &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return err_set(e, ERR_FAIL, "hook %s: cannot run /bin/sh: %s",
		    name, strerror(rc));
	return 0;
}

/*
 * Wait until pid exits or `deadline` (monotonic) passes: 1 when it exited
 * (*status filled), 0 on timeout, -1 on error.  A pidfd lets poll(2) sleep
 * until the exit; without one (old kernels) we look every 50 ms.
 */
static int
wait_until(pid_t pid, int pidfd, double deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		double left;

		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		left = deadline - mono_seconds();
		if (left <= 0)
			return 0;
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			poll(&p, 1, (int)(left * 1000) + 1);
		} else {
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
}

int
hooks_run(const char *name, const char *cmd, const char *channel,
    size_t nnew, size_t nchanged, int timeout_s, struct err *e)
{
	char **env = hook_env(channel, nnew, nchanged);
	int pidfd = -1, status = 0, r;
	double start;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	r = spawn_hook(name, cmd, env, &pid, e);
	env_free(env);
	if (r < 0)
		return -1;
	start = mono_seconds();
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	r = wait_until(pid, pidfd, start + timeout_s, &status);
	if (r == 0) {
		kill(-pid, SIGTERM);
		r = wait_until(pid, pidfd, mono_seconds() + HOOKS_GRACE, &status);
		if (r == 0) {
			kill(-pid, SIGKILL);
			r = wait_until(pid, pidfd, mono_seconds() + 3600, &status);
		}
		if (pidfd >= 0)
			close(pidfd);
		return err_set(e, ERR_FAIL, "hook %s timed out after %d s and "
		    "was killed", name, timeout_s);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (r < 0)
		return err_sys(e, ERR_FAIL, "hook %s: waitpid", name);
	if (WIFSIGNALED(status))
		return err_set(e, ERR_FAIL, "hook %s failed (killed by signal "
		    "%d)", name, WTERMSIG(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return err_set(e, ERR_FAIL, "hook %s failed (exit status %d)",
		    name, WEXITSTATUS(status));
	return 0;
}

void
hooks_after_sync(const struct cfg *cfg, const char *channel,
    const struct sync_stats *st, struct strv *errors)
{
	size_t nnew = hooks_new_count(st), nchanged = hooks_changed_count(st);
	int timeout_s = hooks_timeout();
	struct err e = { 0 };

	if (cfg->hook_post_sync != NULL && nchanged > 0 &&
	    hooks_run("post-sync", cfg->hook_post_sync, channel, nnew,
	    nchanged, timeout_s, &e) < 0)
		strv_add(errors, e.msg);
	if (cfg->hook_new_mail != NULL && nnew > 0 &&
	    hooks_run("new-mail", cfg->hook_new_mail, channel, nnew,
	    nchanged, timeout_s, &e) < 0)
		strv_add(errors, e.msg);
}
