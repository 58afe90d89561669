/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An account's secret: the output of its pass-cmd, or its password. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfg.h"

/* pass-cmd output kept; the rest is read and dropped so the child can end. */
#define SECRET_MAX (64 * 1024)

static int
run_pass_cmd(const struct cfg_account *a, char **secret_out, struct err *e)
{
	char *argv[] = { "sh", "-c", a->pass_cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	char *out = xmalloc(SECRET_MAX), drop[512];
	size_t len = 0, line;
	bool truncated = false;
	int fds[2], status, rc, read_errno = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		free(out);
		return err_sys(e, ERR_FAIL, "account '%s': pass-cmd: pipe",
		    a->name);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	/* watch mode blocks SIGINT/SIGTERM/SIGHUP to read them from a
	 * signalfd; the command must not inherit that mask */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		free(out);
		errno = rc;
		return err_sys(e, ERR_FAIL, "account '%s': cannot run "
		    "pass-cmd", a->name);
	}
	for (;;) {
		ssize_t n;

		if (len < SECRET_MAX)
			n = read(fds[0], out + len, SECRET_MAX - len);
		else
			n = read(fds[0], drop, sizeof(drop));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			read_errno = errno;
		if (n <= 0)
			break;
		if (len < SECRET_MAX)
			len += (size_t)n;
	}
	close(fds[0]);
	explicit_bzero(drop, sizeof(drop));
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			rc = err_sys(e, ERR_FAIL, "account '%s': pass-cmd: "
			    "waitpid", a->name);
			goto out;
		}
	}
	rc = -1;
	if (WIFSIGNALED(status))
		err_set(e, ERR_FAIL, "account '%s': pass-cmd failed (killed "
		    "by signal %d)", a->name, WTERMSIG(status));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		err_set(e, ERR_FAIL, "account '%s': pass-cmd failed (exit "
		    "status %d)", a->name, WEXITSTATUS(status));
	else if (read_errno) {
		errno = read_errno;
		err_sys(e, ERR_FAIL, "account '%s': reading the output of "
		    "pass-cmd", a->name);
	} else {
		for (line = 0; line < len && out[line] != '\n'; line++)
			;
		if (line == len && len == SECRET_MAX)
			truncated = true;
		if (line > 0 && out[line - 1] == '\r')
			line--;
		if (truncated)
			err_set(e, ERR_FAIL, "account '%s': pass-cmd output "
			    "is longer than %d bytes", a->name, SECRET_MAX);
		else if (line == 0)
			err_set(e, ERR_FAIL, "account '%s': pass-cmd produced "
			    "no output", a->name);
		else {
			*secret_out = xstrndup(out, line);
			rc = 0;
		}
	}
out:
	explicit_bzero(out, SECRET_MAX);
	free(out);
	return rc;
}

int
cfg_get_secret(const struct cfg_account *a, char **secret_out, struct err *e)
{
	*secret_out = NULL;
	if (a->pass_cmd)
		return run_pass_cmd(a, secret_out, e);
	if (a->password == NULL)
		return err_set(e, ERR_CONFIG, "account '%s' needs 'pass-cmd' "
		    "or 'password'", a->name);
	*secret_out = xstrdup(a->password);
	return 0;
}
