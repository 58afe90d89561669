/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Loading the configuration file into struct cfg, freeing it, and paths. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_priv.h"
#include "log.h"

/* A config file is a few kilobytes; this only stops reading a wrong file. */
#define CFG_MAX_SIZE (1024 * 1024)

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && h[0])
		return h;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0])
		return pw->pw_dir;
	return NULL;
}

/* $XDG_*_HOME if it is set and absolute (XDG Base Directory spec), or
 * ~/fallback. */
char *
cfg_xdg_dir(const char *var, const char *fallback)
{
	const char *v = getenv(var), *home;

	if (v && v[0] == '/')
		return xstrdup(v);
	home = home_dir();
	return xasprintf("%s/%s", home ? home : "", fallback);
}

/* The expansion of path, or NULL with the reason in *why_out. */
char *
cfg_expand(const char *path, char **why_out)
{
	struct buf b = { 0 };
	const char *s = path;

	*why_out = NULL;
	if (s[0] == '~' && (s[1] == '\0' || s[1] == '/')) {
		const char *home = home_dir();

		if (home == NULL) {
			*why_out = xstrdup("HOME is not set");
			return NULL;
		}
		buf_adds(&b, home);
		s++;
	}
	while (*s) {
		const char *name, *val;
		size_t len;
		char *var;

		if (s[0] != '$' ||
		    !(s[1] == '{' || s[1] == '_' ||
		    (s[1] >= 'A' && s[1] <= 'Z') ||
		    (s[1] >= 'a' && s[1] <= 'z'))) {
			buf_addc(&b, *s++);
			continue;
		}
		if (s[1] == '{') {
			const char *close = strchr(s + 2, '}');

			if (close == NULL || close == s + 2) {
				*why_out = xasprintf("'${' without a "
				    "variable name and '}'");
				buf_free(&b);
				return NULL;
			}
			name = s + 2;
			len = (size_t)(close - name);
			s = close + 1;
		} else {
			name = s + 1;
			len = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789_");
			s = name + len;
		}
		var = xstrndup(name, len);
		val = getenv(var);
		if (val == NULL) {
			*why_out = xasprintf("environment variable %s is "
			    "not set", var);
			free(var);
			buf_free(&b);
			return NULL;
		}
		free(var);
		buf_adds(&b, val);
	}
	if (b.data == NULL)
		buf_adds(&b, "");
	return b.data;
}

char *
cfg_expand_path(const char *path)
{
	char *why, *res = cfg_expand(path, &why);

	free(why);
	return res;
}

char *
cfg_default_path(void)
{
	char *dir = cfg_xdg_dir("XDG_CONFIG_HOME", ".config");
	char *p = xasprintf("%s/mailsync/config.yaml", dir);

	free(dir);
	return p;
}

static int
read_file(const char *path, char **buf_out, size_t *len_out, mode_t *mode_out,
    struct err *e)
{
	struct buf b = { 0 };
	struct stat st;
	char chunk[8192];
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_sys(e, ERR_CONFIG, "cannot read %s", path);
	if (fstat(fd, &st) == -1) {
		err_sys(e, ERR_CONFIG, "cannot read %s", path);
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_sys(e, ERR_CONFIG, "cannot read %s", path);
			goto fail;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > CFG_MAX_SIZE) {
			err_set(e, ERR_CONFIG, "cannot read %s: larger than "
			    "%d bytes", path, CFG_MAX_SIZE);
			goto fail;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if (b.data == NULL)
		buf_adds(&b, "");
	*buf_out = b.data;
	*len_out = b.len;
	*mode_out = st.st_mode;
	return 0;
fail:
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if (b.data)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
	return -1;
}

int
cfg_load(const char *path, struct cfg **out, struct err *e)
{
	struct ctx x = { .path = path, .e = e };
	struct ynode *root = NULL;
	char *buf;
	size_t len;
	mode_t mode;
	int rc;

	*out = NULL;
	if (read_file(path, &buf, &len, &mode, e) == -1)
		return -1;
	x.c = xcalloc(1, sizeof(*x.c));
	x.c->path = xstrdup(path);
	rc = cfg_build_tree(&x, buf, len, &root);
	explicit_bzero(buf, len);
	free(buf);
	if (rc == 0)
		rc = cfg_parse_root(&x, root);
	cfg_ynode_free(root);
	if (rc == -1) {
		cfg_free(&x.c);
		return -1;
	}
	if (x.has_password && (mode & 077))
		log_warn("%s: holds a password and is readable by others; "
		    "chmod 600 it", path);
	*out = x.c;
	return 0;
}

void
cfg_free(struct cfg **cp)
{
	struct cfg *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->naccounts; i++) {
		struct cfg_account *a = &c->accounts[i];

		free(a->name);
		free(a->host);
		free(a->user);
		free(a->pass_cmd);
		if (a->password)
			explicit_bzero(a->password, strlen(a->password));
		free(a->password);
		strv_free(&a->auth);
		free(a->ca_file);
		free(a->cert_fingerprint);
	}
	free(c->accounts);
	for (size_t i = 0; i < c->nchannels; i++) {
		struct cfg_channel *ch = &c->channels[i];

		free(ch->name);
		free(ch->maildir);
		free(ch->inbox);
		strv_free(&ch->folders);
		strv_free(&ch->watch);
		free(ch->state_dir);
	}
	free(c->channels);
	for (size_t i = 0; i < c->ngroups; i++) {
		free(c->groups[i].name);
		strv_free(&c->groups[i].channels);
	}
	free(c->groups);
	free(c->hook_post_sync);
	free(c->hook_new_mail);
	free(c->path);
	free(c);
	*cp = NULL;
}
