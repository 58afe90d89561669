/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Maildir store: the local side, one Maildir per folder under a root. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "maildir.h"
#include "store.h"
#include "utf7.h"
#include "util.h"

#define KW_MAX 26		/* dovecot-keywords letters a..z */
#define KW_FILE "dovecot-keywords"
#define MAX_DEPTH 64		/* folder nesting the listing descends */
#define QUOTE_MAX 200		/* bytes of a name shown in a message */
#define LETTERS_MAX (6 + KW_MAX + 1)
#define NAME_MAX_LEN 200	/* unique part; room left for ":2,<letters>" */
/* Maildir spec: tmp/ files untouched this long are abandoned deliveries. */
#define TMP_STALE (36 * 3600)

enum { SUB_CUR, SUB_NEW, SUB_TMP, NSUB };
static const char *const sub_name[NSUB] = { "cur", "new", "tmp" };

struct maildir_store {
	struct store base;	/* first: a struct store * converts back */
	const struct cfg_channel *ch;
	char *root;
	char *inbox;
	int root_fd;
	char *sel;		/* the selected folder, or NULL */
	char *sel_path;
	int dir_fd;
	int sub_fd[NSUB];
	char *kw[KW_MAX];	/* keyword of letter 'a' + i, or NULL */
	bool kw_warned;
	/* group commit: appends written to tmp/, renamed by batch_end */
	bool deferred;
	struct pending {
		char *name;	/* in tmp/ */
		int dst;	/* SUB_CUR or SUB_NEW */
		char *target;
	} *pend;
	size_t npend, cappend;
};

/* Where a folder lives: directories to walk down from a base. */
struct loc {
	bool in_root;		/* base: the root fd; else the inbox path */
	struct strv comps;	/* one directory name each */
	char *path;		/* the folder directory, for messages */
};

static struct maildir_store *
md(struct store *st)
{
	return (struct maildir_store *)st;
}

/* A name or path in a form safe for messages (newly allocated). */
static char *
quote(const char *s)
{
	struct buf b = { 0 };

	utf7_quote(&b, s, QUOTE_MAX);
	return b.data;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static char *
path_clean(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return xstrndup(p, n);
}

static char *
path_join(const char *dir, const char *name)
{
	if (strcmp(dir, "/") == 0)
		return xasprintf("/%s", name);
	return xasprintf("%s/%s", dir, name);
}

static char *
root_of(const struct cfg_channel *ch)
{
	return path_clean(ch->maildir);
}

static char *
inbox_of(const struct cfg_channel *ch, const char *root)
{
	if (ch->inbox != NULL && *ch->inbox != '\0')
		return path_clean(ch->inbox);
	if (ch->layout == CFG_LAYOUT_MAILDIRPP)
		return xstrdup(root);
	return path_join(root, "INBOX");
}

/* Split on '/', keeping empty components. */
static void
split(const char *s, struct strv *out)
{
	const char *end;

	for (;;) {
		end = strchr(s, '/');
		if (end == NULL) {
			strv_add(out, s);
			return;
		}
		strv_add_owned(out, xstrndup(s, (size_t)(end - s)));
		s = end + 1;
	}
}

/*
 * The inbox's directories below the root, if it is the root or a plain path
 * inside it: then it is walked like any folder, without following links.
 */
static bool
inbox_below_root(const char *root, const char *inbox, struct strv *comps)
{
	size_t n = strlen(root);
	const char *rest;

	if (strcmp(root, inbox) == 0)
		return true;
	if (strncmp(root, inbox, n) != 0)
		return false;
	rest = inbox + n;
	if (strcmp(root, "/") != 0) {
		if (*rest != '/')
			return false;
		rest++;
	}
	split(rest, comps);
	for (size_t i = 0; i < comps->n; i++) {
		const char *c = comps->v[i];

		if (*c == '\0' || strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
			strv_free(comps);
			return false;
		}
	}
	return true;
}

static bool
is_sub_name(const char *s, size_t len)
{
	for (int i = 0; i < NSUB; i++)
		if (len == 3 && memcmp(s, sub_name[i], 3) == 0)
			return true;
	return false;
}

/* Why name cannot be a folder under layout, or NULL if it can. */
static const char *
name_problem(const char *name, enum cfg_layout layout, char *why,
    size_t whysz)
{
	const char *c, *end;
	size_t len;

	if (*name == '\0')
		return "empty name";
	if (*name == '/')
		return "absolute name";
	for (c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "control character";
	if (!utf7_utf8_valid(name))
		return "not valid UTF-8";
	for (c = name;; c = end + 1) {
		end = strchr(c, '/');
		if (end == NULL)
			end = c + strlen(c);
		len = (size_t)(end - c);
		if (len == 0)
			return "empty component";
		if (len == 1 && c[0] == '.')
			return "'.' component";
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return "'..' component";
		if (is_sub_name(c, len)) {
			snprintf(why, whysz, "reserved component '%.3s'", c);
			return why;
		}
		if (len > 255)
			return "component longer than 255 bytes";
		/* the listing skips hidden directories (.notmuch, ...) */
		if (layout == CFG_LAYOUT_VERBATIM && c[0] == '.') {
			snprintf(why, whysz, "component '%.*s' starts with '.'",
			    (int)len, c);
			return why;
		}
		if (layout == CFG_LAYOUT_MAILDIRPP && memchr(c, '.', len)) {
			snprintf(why, whysz,
			    "'.' inside component '%.*s' (maildir++)",
			    (int)len, c);
			return why;
		}
		if (*end == '\0')
			break;
	}
	if (layout == CFG_LAYOUT_MAILDIRPP && strlen(name) > 254)
		return "name longer than 254 bytes (maildir++)";
	return NULL;
}

static void
loc_free(struct loc *l)
{
	strv_free(&l->comps);
	free(l->path);
	l->path = NULL;
}

static int
folder_loc(const struct cfg_channel *ch, const char *name, struct loc *l,
    struct err *e)
{
	char why[512], *root, *inbox, *q;
	const char *problem, *rest = NULL;

	memset(l, 0, sizeof(*l));
	problem = name_problem(name, ch->layout, why, sizeof(why));
	if (problem != NULL) {
		q = quote(name);
		err_set(e, ERR_FAIL, "folder '%s': refused: %s", q, problem);
		free(q);
		return -1;
	}
	root = root_of(ch);
	inbox = inbox_of(ch, root);
	if (strcmp(name, "INBOX") == 0)
		rest = "";
	else if (ch->layout == CFG_LAYOUT_VERBATIM &&
	    strncmp(name, "INBOX/", 6) == 0)
		rest = name + 6;
	if (rest != NULL) {
		l->in_root = inbox_below_root(root, inbox, &l->comps);
		if (*rest != '\0') {
			split(rest, &l->comps);
			l->path = path_join(inbox, rest);
		} else
			l->path = xstrdup(inbox);
	} else if (ch->layout == CFG_LAYOUT_MAILDIRPP) {
		char *d = xasprintf(".%s", name);

		for (char *p = d; *p; p++)
			if (*p == '/')
				*p = '.';
		l->in_root = true;
		l->path = path_join(root, d);
		strv_add_owned(&l->comps, d);
	} else {
		l->in_root = true;
		split(name, &l->comps);
		l->path = path_join(root, name);
	}
	free(root);
	free(inbox);
	return 0;
}

int
maildir_folder_path(const struct cfg_channel *ch, const char *name,
    char **path_out, struct err *e)
{
	struct loc l;

	*path_out = NULL;
	if (folder_loc(ch, name, &l, e) < 0)
		return -1;
	*path_out = l.path;
	l.path = NULL;
	loc_free(&l);
	return 0;
}

static int
mkdir_p(const char *path, struct err *e)
{
	char *p = xstrdup(path);

	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			err_sys(e, ERR_FAIL, "mkdir(%s) failed", p);
			free(p);
			return -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return 0;
}

static int
open_dir_at(int fd, const char *name)
{
	return openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* The message for a failed open_dir_at(fd, name) of path (not ENOENT). */
static int
dir_error(struct err *e, int fd, const char *name, const char *folder,
    const char *path)
{
	int saved = errno;
	struct stat st;

	if ((saved == ELOOP || saved == ENOTDIR) &&
	    fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return err_set(e, ERR_FAIL, "folder '%s': %s is a "
			    "symbolic link (not followed)", folder, path);
		if (!S_ISDIR(st.st_mode))
			return err_set(e, ERR_FAIL,
			    "folder '%s': %s is not a directory", folder, path);
	}
	errno = saved;
	return err_sys(e, ERR_FAIL, "folder '%s': open(%s) failed", folder,
	    path);
}

/*
 * Open the directory of l's first ncomps components, creating missing ones
 * if create.  Every step is an openat(O_NOFOLLOW) from the one before, so
 * no symbolic link below the root is ever followed.  *missing (if not NULL)
 * tells a directory that does not exist from other failures.
 */
static int
loc_open(struct maildir_store *s, const char *name, const struct loc *l,
    size_t ncomps, bool create, int *fd_out, bool *missing, struct err *e)
{
	struct buf path = { 0 };
	int fd, nfd;
	bool made;

	*fd_out = -1;
	if (missing != NULL)
		*missing = false;
	if (l->in_root) {
		fd = fcntl(s->root_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return err_sys(e, ERR_FAIL, "folder '%s': dup failed",
			    name);
		buf_adds(&path, s->root);
	} else {
		/* a configured inbox path is the user's: links are fine */
		fd = open(s->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdir_p(s->inbox, e) < 0)
				return err_prefix(e, "folder '%s'", name);
			fd = open(s->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (fd < 0) {
			if (errno != ENOENT)
				return err_sys(e, ERR_FAIL,
				    "folder '%s': open(%s) failed", name,
				    s->inbox);
			if (missing != NULL)
				*missing = true;
			return err_set(e, ERR_FAIL,
			    "folder '%s': %s does not exist", name, l->path);
		}
		buf_adds(&path, s->inbox);
	}
	for (size_t i = 0; i < ncomps; i++) {
		const char *c = l->comps.v[i];

		if (strcmp(path.data, "/") != 0)
			buf_addc(&path, '/');
		buf_adds(&path, c);
		nfd = open_dir_at(fd, c);
		made = false;
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, c, 0700) == 0)
				made = true;
			else if (errno != EEXIST) {
				err_sys(e, ERR_FAIL,
				    "folder '%s': mkdir(%s) failed", name,
				    path.data);
				goto fail;
			}
			if (made && fsync(fd) < 0) {
				err_sys(e, ERR_FAIL, "folder '%s': fsync "
				    "of the directory above %s failed", name,
				    path.data);
				goto fail;
			}
			nfd = open_dir_at(fd, c);
		}
		if (nfd < 0) {
			if (errno == ENOENT) {
				if (missing != NULL)
					*missing = true;
				err_set(e, ERR_FAIL,
				    "folder '%s': %s does not exist", name,
				    l->path);
			} else
				dir_error(e, fd, c, name, path.data);
			goto fail;
		}
		close(fd);
		fd = nfd;
	}
	buf_free(&path);
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	buf_free(&path);
	return -1;
}

static void
close_subs(int sub[NSUB])
{
	for (int i = 0; i < NSUB; i++)
		close_fd(&sub[i]);
}

/* cur/, new/ and tmp/ of the folder directory fd, made if missing. */
static int
open_subs(const char *name, const char *dirpath, int fd, int sub[NSUB],
    struct err *e)
{
	bool made = false;
	char *path;

	for (int i = 0; i < NSUB; i++)
		sub[i] = -1;
	for (int i = 0; i < NSUB; i++) {
		sub[i] = open_dir_at(fd, sub_name[i]);
		if (sub[i] < 0 && errno == ENOENT) {
			if (mkdirat(fd, sub_name[i], 0700) == 0)
				made = true;
			else if (errno != EEXIST) {
				path = path_join(dirpath, sub_name[i]);
				err_sys(e, ERR_FAIL, "folder '%s': "
				    "mkdir(%s) failed", name, path);
				free(path);
				close_subs(sub);
				return -1;
			}
			sub[i] = open_dir_at(fd, sub_name[i]);
		}
		if (sub[i] < 0) {
			path = path_join(dirpath, sub_name[i]);
			if (errno == ENOENT)
				err_set(e, ERR_FAIL, "folder '%s': "
				    "%s does not exist", name, path);
			else
				dir_error(e, fd, sub_name[i], name, path);
			free(path);
			close_subs(sub);
			return -1;
		}
	}
	if (made && fsync(fd) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': fsync(%s) failed", name,
		    dirpath);
		close_subs(sub);
		return -1;
	}
	return 0;
}

/* The entries of directory fd but "." and ".." (and dot files if !dots). */
static int
read_names(int fd, const char *path, bool dots, struct strv *out,
    struct err *e)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		err_sys(e, ERR_FAIL, "opendir(%s) failed", path);
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	/* the duplicate shares the offset of fd, which an earlier read moved */
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_name[0] == '.' && !dots)
			continue;
		strv_add(out, de->d_name);
	}
	if (errno != 0) {
		err_sys(e, ERR_FAIL, "readdir(%s) failed", path);
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

/* Read fd to its end (or max bytes if max > 0), appending to out. */
static int
read_fd(int fd, size_t max, struct buf *out)
{
	size_t want;
	ssize_t n;

	for (;;) {
		want = 65536;
		if (max > 0) {
			if (out->len >= max)
				break;
			if (max - out->len < want)
				want = max - out->len;
		}
		xgrow(&out->data, &out->cap, out->len + want + 1, 1);
		n = read(fd, out->data + out->len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	xgrow(&out->data, &out->cap, out->len + 1, 1);
	out->data[out->len] = '\0';
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Rename without replacing an existing file: a journaled unique name that
 * exists already must not overwrite another message.
 */
static int
rename_noreplace(int ofd, const char *old, int nfd, const char *new)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(ofd, old, nfd, new, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	/* the Maildir spec's original delivery: link(2) never replaces */
	if (linkat(ofd, old, nfd, new, 0) == 0) {
		unlinkat(ofd, old, 0);
		return 0;
	}
	if (errno == EEXIST)
		return -1;
	return renameat(ofd, old, nfd, new);
}

static int
need_open(struct maildir_store *s, struct err *e)
{
	if (s->root_fd < 0)
		return err_set(e, ERR_FAIL, "%s: maildir %s is not open",
		    s->base.label ? s->base.label : "local", s->root);
	return 0;
}

static int
need_sel(struct maildir_store *s, struct err *e)
{
	if (s->sel == NULL)
		return err_set(e, ERR_FAIL, "%s: no folder selected",
		    s->base.label ? s->base.label : "local");
	return 0;
}

/* Keywords: Dovecot's dovecot-keywords map, lines "N keyword". */

static void
kw_clear(struct maildir_store *s)
{
	for (int i = 0; i < KW_MAX; i++) {
		free(s->kw[i]);
		s->kw[i] = NULL;
	}
}

static int
kw_find(const struct maildir_store *s, const char *word)
{
	for (int i = 0; i < KW_MAX; i++)
		if (s->kw[i] != NULL && strcmp(s->kw[i], word) == 0)
			return i;
	return -1;
}

static int
kw_load(struct maildir_store *s, struct err *e)
{
	char *path = path_join(s->sel_path, KW_FILE), *line, *next, *end;
	struct buf b = { 0 };
	unsigned long n;
	struct stat st;
	int fd, rc = -1;
	size_t len;

	kw_clear(s);
	fd = openat(s->dir_fd, KW_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			rc = 0;
		else if (errno == ELOOP)
			err_set(e, ERR_FAIL, "folder '%s': %s is a symbolic "
			    "link (not followed)", s->sel, path);
		else
			err_sys(e, ERR_FAIL, "folder '%s': open(%s) failed",
			    s->sel, path);
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, ERR_FAIL, "folder '%s': %s is not a regular file",
		    s->sel, path);
		goto out;
	}
	if (read_fd(fd, 1 << 20, &b) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': read(%s) failed", s->sel,
		    path);
		goto out;
	}
	for (line = b.data; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		if (line[0] < '0' || line[0] > '9')
			continue;
		n = strtoul(line, &end, 10);
		if (*end != ' ' || n >= KW_MAX || s->kw[n] != NULL ||
		    !flags_keyword_valid(end + 1) || kw_find(s, end + 1) >= 0)
			continue;
		s->kw[n] = xstrdup(end + 1);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&b);
	free(path);
	if (rc < 0)
		kw_clear(s);
	return rc;
}

static int
kw_save(struct maildir_store *s, struct err *e)
{
	char *un = maildir_unique_name();
	char *tmp = xasprintf(".%s.%s", KW_FILE, un);
	char *path = path_join(s->sel_path, tmp);
	struct buf b = { 0 };
	int fd, rc = -1;

	for (int i = 0; i < KW_MAX; i++)
		if (s->kw[i] != NULL)
			buf_printf(&b, "%d %s\n", i, s->kw[i]);
	fd = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': open(%s) failed", s->sel,
		    path);
		goto out;
	}
	if (write_all(fd, b.data ? b.data : "", b.len) < 0 || fsync(fd) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': write(%s) failed", s->sel,
		    path);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_sys(e, ERR_FAIL, "folder '%s': close(%s) failed", s->sel,
		    path);
		goto fail;
	}
	fd = -1;
	if (renameat(s->dir_fd, tmp, s->dir_fd, KW_FILE) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': rename(%s, %s) failed",
		    s->sel, path, KW_FILE);
		goto fail;
	}
	if (fsync(s->dir_fd) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': fsync(%s) failed", s->sel,
		    s->sel_path);
		goto out;
	}
	rc = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(s->dir_fd, tmp, 0);
out:
	buf_free(&b);
	free(path);
	free(tmp);
	free(un);
	return rc;
}

/*
 * Give every keyword of lists[0..n) a letter.  The map is read again first,
 * so a letter another program (a local Dovecot) added since select is kept.
 */
static int
kw_ensure(struct maildir_store *s, const char *const *lists, size_t n,
    struct err *e)
{
	bool dirty = false, loaded = false;
	char *copy, *word, *save;
	int slot;

	for (size_t i = 0; i < n; i++) {
		if (lists[i] == NULL)
			continue;
		copy = xstrdup(lists[i]);
		for (word = strtok_r(copy, " ", &save); word != NULL;
		    word = strtok_r(NULL, " ", &save)) {
			if (!flags_keyword_valid(word) || kw_find(s, word) >= 0)
				continue;
			if (!loaded) {
				if (kw_load(s, e) < 0) {
					free(copy);
					return -1;
				}
				loaded = true;
				if (kw_find(s, word) >= 0)
					continue;
			}
			for (slot = 0; slot < KW_MAX; slot++)
				if (s->kw[slot] == NULL)
					break;
			if (slot == KW_MAX) {
				if (!s->kw_warned)
					log_warn("folder '%s': all 26 "
					    "keyword letters are taken; '%s' "
					    "and further keywords stay out of "
					    "the file names", s->sel, word);
				s->kw_warned = true;
				continue;
			}
			s->kw[slot] = xstrdup(word);
			dirty = true;
		}
		free(copy);
	}
	return dirty ? kw_save(s, e) : 0;
}

/* The ":2," letters of fl and the flags they store (keywords with letters). */
static void
letters_for(struct maildir_store *s, const struct flags *fl,
    char out[LETTERS_MAX], struct flags *stored)
{
	bool mark[KW_MAX] = { false };
	char *copy, *word, *save;
	struct buf kw = { 0 };
	size_t n;
	int slot;

	flags_bits_to_maildir(fl->bits & FLAG_ALL, out);
	n = strlen(out);
	if (fl->kw != NULL) {
		copy = xstrdup(fl->kw);
		for (word = strtok_r(copy, " ", &save); word != NULL;
		    word = strtok_r(NULL, " ", &save))
			if ((slot = kw_find(s, word)) >= 0)
				mark[slot] = true;
		free(copy);
	}
	for (int i = 0; i < KW_MAX; i++) {
		if (!mark[i])
			continue;
		out[n++] = (char)('a' + i);
		if (kw.len)
			buf_addc(&kw, ' ');
		buf_adds(&kw, s->kw[i]);
	}
	out[n] = '\0';
	stored->bits = fl->bits & FLAG_ALL;
	stored->kw = kw.data;
	flags_kw_normalize(&stored->kw);
}

/* Messages */

/* "cur/NAME" or "new/NAME" into its directory and file name. */
static int
parse_file(const char *file, int *sub, const char **fname)
{
	if (file == NULL)
		return -1;
	if (strncmp(file, "cur/", 4) == 0)
		*sub = SUB_CUR;
	else if (strncmp(file, "new/", 4) == 0)
		*sub = SUB_NEW;
	else
		return -1;
	*fname = file + 4;
	if (**fname == '\0' || **fname == '.' || strchr(*fname, '/') != NULL)
		return -1;
	return 0;
}

static char *
name_of(const char *fname)
{
	const char *info = strstr(fname, ":2,");

	return info ? xstrndup(fname, (size_t)(info - fname)) : xstrdup(fname);
}

static bool
name_matches(const char *fname, const char *name)
{
	size_t n = strlen(name);

	return strncmp(fname, name, n) == 0 &&
	    (fname[n] == '\0' || strncmp(fname + n, ":2,", 3) == 0);
}

static void
flags_of(const struct maildir_store *s, const char *fname, int sub,
    struct flags *f)
{
	const char *info = strstr(fname, ":2,");
	struct buf kw = { 0 };

	f->bits = 0;
	f->kw = NULL;
	/* a file in new/ has not been seen by a reader: no flags yet */
	if (sub != SUB_CUR || info == NULL)
		return;
	f->bits = flags_bits_from_maildir(info + 3);
	for (const char *p = info + 3; *p; p++) {
		if (*p < 'a' || *p > 'z' || s->kw[*p - 'a'] == NULL)
			continue;
		if (kw.len)
			buf_addc(&kw, ' ');
		buf_adds(&kw, s->kw[*p - 'a']);
	}
	f->kw = kw.data;
	flags_kw_normalize(&f->kw);
}

/* The file holding unique name now, after a reader renamed it. */
static int
find_by_name(struct maildir_store *s, const char *name, int *sub,
    char **fname, struct err *e)
{
	static const int order[] = { SUB_CUR, SUB_NEW };
	struct strv names = { 0 };
	char *path;

	*fname = NULL;
	for (size_t k = 0; k < 2 && *fname == NULL; k++) {
		path = path_join(s->sel_path, sub_name[order[k]]);
		if (read_names(s->sub_fd[order[k]], path, false, &names,
		    e) < 0) {
			free(path);
			strv_free(&names);
			return err_prefix(e, "folder '%s'", s->sel);
		}
		free(path);
		for (size_t i = 0; i < names.n; i++)
			if (name_matches(names.v[i], name)) {
				*fname = xstrdup(names.v[i]);
				*sub = order[k];
				break;
			}
		strv_free(&names);
	}
	return 0;
}

/* Open a listed message for reading, following a rename by a reader. */
static int
msg_open(struct maildir_store *s, const struct msg *m, const char *op,
    int *fd_out, struct err *e)
{
	const int oflags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	const char *fname;
	char *found = NULL, *path;
	struct stat st;
	int sub, fd;

	*fd_out = -1;
	if (parse_file(m->file, &sub, &fname) < 0) {
		char *q = quote(m->file ? m->file : "(none)");

		err_set(e, ERR_FAIL, "folder '%s': %s: bad message file '%s'",
		    s->sel, op, q);
		free(q);
		return -1;
	}
	fd = openat(s->sub_fd[sub], fname, oflags);
	if (fd < 0 && errno == ENOENT && m->name != NULL) {
		if (find_by_name(s, m->name, &sub, &found, e) < 0)
			return -1;
		if (found != NULL)
			fd = openat(s->sub_fd[sub], found, oflags);
		else
			errno = ENOENT;
	}
	path = xasprintf("%s/%s", s->sel_path, m->file);
	if (fd < 0) {
		if (errno == ENOENT)
			err_set(e, ERR_FAIL, "folder '%s': %s: %s no longer "
			    "exists", s->sel, op, path);
		else if (errno == ELOOP)
			err_set(e, ERR_FAIL, "folder '%s': %s: %s is a "
			    "symbolic link (not followed)", s->sel, op, path);
		else
			err_sys(e, ERR_FAIL, "folder '%s': %s: open(%s) failed",
			    s->sel, op, path);
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, ERR_FAIL, "folder '%s': %s: %s is not a regular "
		    "file", s->sel, op, path);
		close_fd(&fd);
	}
	free(path);
	free(found);
	*fd_out = fd;
	return fd < 0 ? -1 : 0;
}

/* Dovecot's ",W=<size>" field of a unique name: the size with CRLF. */
static bool
name_wire_size(const char *name, uint64_t *size)
{
	unsigned long long v;
	const char *p;
	char *end;

	for (p = strchr(name, ','); p != NULL; p = strchr(p + 1, ',')) {
		if (p[1] != 'W' || p[2] != '=' || p[3] < '0' || p[3] > '9')
			continue;
		errno = 0;
		v = strtoull(p + 3, &end, 10);
		if (errno != 0 || (*end != '\0' && *end != ',' && *end != ':'))
			continue;
		*size = v;
		return true;
	}
	return false;
}

static bool
unique_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.')
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '/' ||
		    *p == ':')
			return false;
	return true;
}

/* Store operations */

static int
md_open(struct store *st, bool create_root, struct err *e)
{
	struct maildir_store *s = md(st);

	close_fd(&s->root_fd);
	s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0 && errno == ENOENT) {
		if (!create_root)
			return err_set(e, ERR_SAFETY,
			    "maildir root %s does not exist", s->root);
		if (mkdir_p(s->root, e) < 0)
			return -1;
		s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->root_fd < 0)
		return err_sys(e, ERR_FAIL, "open(%s) failed", s->root);
	return 0;
}

static void
unselect(struct maildir_store *s)
{
	/* an unfinished batch never becomes visible */
	for (size_t i = 0; i < s->npend; i++) {
		if (s->sub_fd[SUB_TMP] >= 0)
			unlinkat(s->sub_fd[SUB_TMP], s->pend[i].name, 0);
		free(s->pend[i].name);
		free(s->pend[i].target);
	}
	s->npend = 0;
	s->deferred = false;
	free(s->sel);
	s->sel = NULL;
	free(s->sel_path);
	s->sel_path = NULL;
	close_fd(&s->dir_fd);
	close_subs(s->sub_fd);
	kw_clear(s);
	s->kw_warned = false;
}

static void
md_close(struct store **sp)
{
	struct maildir_store *s;

	if (*sp == NULL)
		return;
	s = md(*sp);
	unselect(s);
	free(s->pend);
	close_fd(&s->root_fd);
	free(s->root);
	free(s->inbox);
	free(s);
	*sp = NULL;
}

static void
list_add(struct folder_list *l, const char *name, bool noselect)
{
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n].name = xstrdup(name);
	l->v[l->n].noselect = noselect;
	l->n++;
}

/*
 * Whether directory fd is a Maildir.  cur/ decides, as for mutt and Dovecot;
 * select makes a missing new/ or tmp/.
 */
static bool
is_maildir(int fd, const char *path)
{
	struct stat st;
	char *q;

	if (fstatat(fd, "cur", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (S_ISLNK(st.st_mode)) {
		q = quote(path);
		log_warn("skipping %s: %s/cur is a symbolic link (not "
		    "followed)", q, q);
		free(q);
		return false;
	}
	return S_ISDIR(st.st_mode);
}

struct walk {
	struct folder_list *out;
	bool skip_inbox;	/* the inbox is listed on its own */
	struct stat inbox_st, root_st;
	bool inbox_elsewhere;	/* <root>/INBOX is not the inbox */
	const char *inbox;
};

static bool
same_dir(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A symbolic link found where a folder could be: warn if it leads to one. */
static void
warn_link(int fd, const char *ent, const char *path)
{
	struct stat t;
	char *q;

	if (fstatat(fd, ent, &t, 0) == 0 && S_ISDIR(t.st_mode)) {
		q = quote(path);
		log_warn("skipping symbolic link %s (not followed)", q);
		free(q);
	}
}

static bool walk_dir(struct walk *w, int fd, const char *prefix,
    const char *path, int depth);

/* One directory ent of fd met by walk_dir; returns whether it listed any. */
static bool
walk_child(struct walk *w, int fd, const char *ent, const char *child,
    const char *cpath, int depth)
{
	const char *problem;
	bool sel, below;
	char why[512], *q = quote(cpath);
	int cfd = -1;

	if (depth == 0 && w->inbox_elsewhere && strcmp(ent, "INBOX") == 0)
		log_warn("skipping %s: INBOX is %s", q, w->inbox);
	else if ((problem = name_problem(child, CFG_LAYOUT_VERBATIM, why,
	    sizeof(why))) != NULL)
		log_warn("skipping %s: %s", q, problem);
	else if (depth >= MAX_DEPTH)
		log_warn("skipping %s: nested deeper than %d levels", q,
		    MAX_DEPTH);
	else
		cfd = open_dir_at(fd, ent);
	free(q);
	if (cfd < 0)
		return false;
	sel = is_maildir(cfd, cpath);
	below = walk_dir(w, cfd, child, cpath, depth + 1);
	close(cfd);
	if (sel || below)
		list_add(w->out, child, !sel);
	return sel || below;
}

/* List the folders below directory fd, named prefix ("" for the root);
 * returns whether anything was listed. */
static bool
walk_dir(struct walk *w, int fd, const char *prefix, const char *path,
    int depth)
{
	struct strv names = { 0 };
	char *child, *cpath;
	bool any = false;
	const char *ent;
	struct stat st;
	struct err e;

	if (read_names(fd, path, false, &names, &e) < 0) {
		log_warn("%s", e.msg);
		return false;
	}
	for (size_t i = 0; i < names.n; i++) {
		ent = names.v[i];
		if (is_sub_name(ent, strlen(ent)) ||
		    fstatat(fd, ent, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		cpath = path_join(path, ent);
		child = *prefix ? xasprintf("%s/%s", prefix, ent) :
		    xstrdup(ent);
		if (S_ISLNK(st.st_mode))
			warn_link(fd, ent, cpath);
		else if (S_ISDIR(st.st_mode) && !same_dir(&st, &w->root_st) &&
		    !(w->skip_inbox && same_dir(&st, &w->inbox_st)) &&
		    walk_child(w, fd, ent, child, cpath, depth))
			any = true;
		free(child);
		free(cpath);
	}
	strv_free(&names);
	return any;
}

/* maildir++: the root's ".A.B" entries, and parents as noselect. */
static int
list_pp(struct maildir_store *s, struct walk *w, struct err *e)
{
	struct strv names = { 0 };
	const char *problem, *ent;
	char why[512], *name, *cpath, *q;
	size_t nlisted;
	struct stat st;
	int cfd;
	bool sel;

	if (read_names(s->root_fd, s->root, true, &names, e) < 0)
		return -1;
	for (size_t i = 0; i < names.n; i++) {
		ent = names.v[i];
		if (ent[0] != '.' || fstatat(s->root_fd, ent, &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		cpath = path_join(s->root, ent);
		if (S_ISLNK(st.st_mode)) {
			warn_link(s->root_fd, ent, cpath);
			free(cpath);
			continue;
		}
		sel = false;
		if (S_ISDIR(st.st_mode) &&
		    !(w->skip_inbox && same_dir(&st, &w->inbox_st)) &&
		    (cfd = open_dir_at(s->root_fd, ent)) >= 0) {
			sel = is_maildir(cfd, cpath);
			close(cfd);
		}
		if (!sel) {
			free(cpath);
			continue;
		}
		name = xstrdup(ent + 1);
		for (char *p = name; *p; p++)
			if (*p == '.')
				*p = '/';
		q = quote(cpath);
		problem = name_problem(name, CFG_LAYOUT_MAILDIRPP, why,
		    sizeof(why));
		if (problem != NULL)
			log_warn("skipping %s: %s", q, problem);
		else if (strcmp(name, "INBOX") == 0)
			log_warn("skipping %s: INBOX is %s", q, s->inbox);
		else
			list_add(w->out, name, false);
		free(q);
		free(name);
		free(cpath);
	}
	strv_free(&names);
	nlisted = w->out->n;
	for (size_t i = 0; i < nlisted; i++) {
		name = xstrdup(w->out->v[i].name);
		for (char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
			*p = '\0';
			if (folder_list_find(w->out, name) < 0)
				list_add(w->out, name, true);
			*p = '/';
		}
		free(name);
	}
	return 0;
}

static int
folder_cmp(const void *a, const void *b)
{
	return strcmp(((const struct folder_info *)a)->name,
	    ((const struct folder_info *)b)->name);
}

static int
md_list_folders(struct store *st, struct folder_list *out, struct err *e)
{
	struct maildir_store *s = md(st);
	struct walk w = { 0 };
	struct folder_list l = { 0 };
	bool missing = false, sel, below = false;
	int ifd = -1, rc = -1;
	struct loc il;

	if (need_open(s, e) < 0)
		return -1;
	w.out = &l;
	w.inbox = s->inbox;
	if (fstat(s->root_fd, &w.root_st) < 0)
		return err_sys(e, ERR_FAIL, "fstat(%s) failed", s->root);
	/* a root removed since open reads as empty: never "all deleted" */
	if (w.root_st.st_nlink == 0)
		return err_set(e, ERR_SAFETY, "maildir root %s was removed",
		    s->root);
	if (folder_loc(s->ch, "INBOX", &il, e) < 0)
		return -1;
	w.inbox_elsewhere = s->ch->layout == CFG_LAYOUT_MAILDIRPP ||
	    !il.in_root || il.comps.n != 1 ||
	    strcmp(il.comps.v[0], "INBOX") != 0;
	if (w.inbox_elsewhere) {
		if (loc_open(s, "INBOX", &il, il.comps.n, false, &ifd,
		    &missing, e) < 0) {
			if (!missing)
				goto out;
		} else if (fstat(ifd, &w.inbox_st) < 0) {
			err_sys(e, ERR_FAIL, "fstat(%s) failed", il.path);
			goto out;
		} else {
			w.skip_inbox = true;
			sel = is_maildir(ifd, il.path);
			if (s->ch->layout == CFG_LAYOUT_VERBATIM &&
			    !same_dir(&w.inbox_st, &w.root_st))
				below = walk_dir(&w, ifd, "INBOX", il.path, 1);
			if (sel || below)
				list_add(&l, "INBOX", !sel);
		}
	}
	if (s->ch->layout == CFG_LAYOUT_MAILDIRPP) {
		if (list_pp(s, &w, e) < 0)
			goto out;
	} else
		walk_dir(&w, s->root_fd, "", s->root, 0);
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(*l.v), folder_cmp);
	for (size_t i = 0; i < l.n; i++) {
		xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		out->v[out->n++] = l.v[i];
	}
	free(l.v);
	l.v = NULL;
	l.n = 0;
	rc = 0;
out:
	close_fd(&ifd);
	loc_free(&il);
	folder_list_free(&l);
	return rc;
}

static int
md_create_folder(struct store *st, const char *name, struct err *e)
{
	struct maildir_store *s = md(st);
	int fd, sub[NSUB];
	struct loc l;

	if (need_open(s, e) < 0 || folder_loc(s->ch, name, &l, e) < 0)
		return -1;
	if (loc_open(s, name, &l, l.comps.n, true, &fd, NULL, e) < 0) {
		loc_free(&l);
		return -1;
	}
	if (open_subs(name, l.path, fd, sub, e) < 0) {
		close(fd);
		loc_free(&l);
		return -1;
	}
	close_subs(sub);
	close(fd);
	loc_free(&l);
	return 0;
}

/* Remove tmp/'s abandoned files; a recent one is a delivery in progress. */
static int
clean_tmp(const char *name, int tfd, const char *tpath, struct err *e)
{
	struct strv names = { 0 };
	time_t now = time(NULL);
	struct stat st;
	char *q;
	int rc = 0;

	if (read_names(tfd, tpath, true, &names, e) < 0)
		return err_prefix(e, "folder '%s'", name);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		if (fstatat(tfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode) && st.st_mtime < now - TMP_STALE &&
		    unlinkat(tfd, names.v[i], 0) == 0)
			continue;
		q = quote(names.v[i]);
		rc = err_set(e, ERR_FAIL, "folder '%s': not deleted: %s/%s "
		    "may be a delivery in progress", name, tpath, q);
		free(q);
	}
	strv_free(&names);
	return rc;
}

static int
md_delete_folder(struct store *st, const char *name, struct err *e)
{
	struct maildir_store *s = md(st);
	int pfd = -1, fd = -1, sub[NSUB] = { -1, -1, -1 }, rc = -1;
	struct strv names = { 0 };
	const char *last;
	char *path;
	struct loc l;

	if (need_open(s, e) < 0 || folder_loc(s->ch, name, &l, e) < 0)
		return -1;
	if (strcmp(name, "INBOX") == 0 || l.comps.n == 0) {
		err_set(e, ERR_FAIL, "folder '%s': the inbox is not deleted",
		    name);
		goto out;
	}
	if (s->sel != NULL && strcmp(s->sel, name) == 0)
		unselect(s);
	last = l.comps.v[l.comps.n - 1];
	if (loc_open(s, name, &l, l.comps.n - 1, false, &pfd, NULL, e) < 0)
		goto out;
	if ((fd = open_dir_at(pfd, last)) < 0) {
		if (errno == ENOENT)
			err_set(e, ERR_FAIL, "folder '%s': %s does not exist",
			    name, l.path);
		else
			dir_error(e, pfd, last, name, l.path);
		goto out;
	}
	for (int i = 0; i < NSUB; i++) {
		sub[i] = open_dir_at(fd, sub_name[i]);
		if (sub[i] >= 0 || errno == ENOENT)
			continue;
		path = path_join(l.path, sub_name[i]);
		dir_error(e, fd, sub_name[i], name, path);
		free(path);
		goto out;
	}
	for (int i = SUB_CUR; i <= SUB_NEW; i++) {
		if (sub[i] < 0)
			continue;
		path = path_join(l.path, sub_name[i]);
		if (read_names(sub[i], path, false, &names, e) < 0) {
			err_prefix(e, "folder '%s'", name);
			free(path);
			goto out;
		}
		if (names.n > 0)
			err_set(e, ERR_FAIL, "folder '%s': not deleted: %s "
			    "holds %zu message(s)", name, path, names.n);
		free(path);
		if (names.n > 0)
			goto out;
		strv_free(&names);
	}
	if (sub[SUB_TMP] >= 0) {
		path = path_join(l.path, "tmp");
		rc = clean_tmp(name, sub[SUB_TMP], path, e);
		free(path);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (unlinkat(fd, KW_FILE, 0) < 0 && errno != ENOENT) {
		err_sys(e, ERR_FAIL, "folder '%s': unlink(%s/%s) failed", name,
		    l.path, KW_FILE);
		goto out;
	}
	for (int i = SUB_TMP; i >= SUB_CUR; i--) {
		if (sub[i] < 0)
			continue;
		if (unlinkat(fd, sub_name[i], AT_REMOVEDIR) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': rmdir(%s/%s) failed",
			    name, l.path, sub_name[i]);
			goto out;
		}
	}
	/* other files or subfolders stay: then it is only a parent now */
	if (unlinkat(pfd, last, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY &&
	    errno != EEXIST) {
		err_sys(e, ERR_FAIL, "folder '%s': rmdir(%s) failed", name,
		    l.path);
		goto out;
	}
	if (fsync(fd) < 0 || fsync(pfd) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': fsync failed", name);
		goto out;
	}
	rc = 0;
out:
	strv_free(&names);
	close_subs(sub);
	close_fd(&fd);
	close_fd(&pfd);
	loc_free(&l);
	return rc;
}

static int
md_select(struct store *st, const char *name, struct folder_status *out,
    struct err *e)
{
	struct maildir_store *s = md(st);
	struct strv names = { 0 };
	char *path;
	struct loc l;

	unselect(s);
	if (need_open(s, e) < 0 || folder_loc(s->ch, name, &l, e) < 0)
		return -1;
	if (loc_open(s, name, &l, l.comps.n, false, &s->dir_fd, NULL, e) < 0)
		goto fail;
	s->sel = xstrdup(name);
	s->sel_path = l.path;
	l.path = NULL;
	if (open_subs(name, s->sel_path, s->dir_fd, s->sub_fd, e) < 0 ||
	    kw_load(s, e) < 0)
		goto fail;
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		for (int i = SUB_CUR; i <= SUB_NEW; i++) {
			path = path_join(s->sel_path, sub_name[i]);
			if (read_names(s->sub_fd[i], path, false, &names,
			    e) < 0) {
				free(path);
				err_prefix(e, "folder '%s'", name);
				goto fail;
			}
			free(path);
		}
		out->exists = (uint32_t)names.n;
		strv_free(&names);
	}
	loc_free(&l);
	return 0;
fail:
	strv_free(&names);
	loc_free(&l);
	unselect(s);
	return -1;
}

struct entry {
	char *name;
	char *fname;
	int sub;
	int64_t mtime;
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->sub != y->sub)
		return x->sub - y->sub;	/* cur/ first: already seen */
	return strcmp(x->fname, y->fname);
}

static void
entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].fname);
	}
	free(v);
}

/*
 * Read new/ before cur/: a reader moving a message from new/ to cur/
 * meanwhile makes it appear twice (deduplicated), never not at all.  A file
 * gone between readdir and stat was renamed: *raced asks for another pass.
 */
static int
scan(struct maildir_store *s, struct entry **v_out, size_t *n_out,
    bool *raced, struct err *e)
{
	static const int order[] = { SUB_NEW, SUB_CUR };
	struct strv names = { 0 };
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	char *dpath, *q;
	struct stat st;
	int sub;

	*raced = false;
	for (size_t k = 0; k < 2; k++) {
		sub = order[k];
		dpath = path_join(s->sel_path, sub_name[sub]);
		if (read_names(s->sub_fd[sub], dpath, false, &names, e) < 0) {
			free(dpath);
			entries_free(v, n);
			return err_prefix(e, "folder '%s'", s->sel);
		}
		for (size_t i = 0; i < names.n; i++) {
			const char *f = names.v[i];

			if (fstatat(s->sub_fd[sub], f, &st,
			    AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT) {
					*raced = true;
					continue;
				}
				err_sys(e, ERR_FAIL, "folder '%s': stat(%s/%s) "
				    "failed", s->sel, dpath, f);
				free(dpath);
				strv_free(&names);
				entries_free(v, n);
				return -1;
			}
			if (!S_ISREG(st.st_mode)) {
				q = quote(f);
				log_warn("folder '%s': skipping %s/%s: not a "
				    "regular file", s->sel, dpath, q);
				free(q);
				continue;
			}
			xgrow(&v, &cap, n + 1, sizeof(*v));
			v[n].name = name_of(f);
			v[n].fname = xstrdup(f);
			v[n].sub = sub;
			v[n].mtime = (int64_t)st.st_mtime;
			n++;
		}
		free(dpath);
		strv_free(&names);
	}
	*v_out = v;
	*n_out = n;
	return 0;
}

static int
md_list(struct store *st, struct msg_list *out, struct err *e)
{
	struct maildir_store *s = md(st);
	struct entry *v = NULL;
	const char *prev = NULL;
	struct msg *m;
	size_t n = 0;
	bool raced = true;
	char *q;

	if (need_sel(s, e) < 0)
		return -1;
	for (int tries = 0; raced && tries < 3; tries++) {
		entries_free(v, n);
		v = NULL;
		n = 0;
		if (scan(s, &v, &n, &raced, e) < 0)
			return -1;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < n; i++) {
		if (prev != NULL && strcmp(v[i].name, prev) == 0) {
			q = quote(v[i].fname);
			log_warn("folder '%s': %s/%s has the unique name of "
			    "another message; ignored", s->sel,
			    sub_name[v[i].sub], q);
			free(q);
			continue;
		}
		xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		m = &out->v[out->n++];
		memset(m, 0, sizeof(*m));
		m->name = v[i].name;
		v[i].name = NULL;
		prev = m->name;
		m->file = xasprintf("%s/%s", sub_name[v[i].sub], v[i].fname);
		flags_of(s, v[i].fname, v[i].sub, &m->flags);
		m->date = v[i].mtime;
	}
	entries_free(v, n);
	return 0;
}

static int
md_details(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct maildir_store *s = md(st);
	struct buf b = { 0 };
	uint64_t w = 0;
	bool have_w;
	int fd;

	if (need_sel(s, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msgs[i];

		have_w = m->name != NULL && name_wire_size(m->name, &w);
		if (msg_open(s, m, "details", &fd, e) < 0)
			return -1;
		/* header_message_id looks at the first 8 KiB only */
		if (read_fd(fd, have_w ? 8192 : 0, &b) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': details: "
			    "read(%s/%s) failed", s->sel, s->sel_path,
			    m->file);
			close(fd);
			buf_free(&b);
			return -1;
		}
		close(fd);
		m->size = have_w ? w : wire_size(b.data, b.len);
		free(m->msgid);
		m->msgid = header_message_id(b.data, b.len);
		m->has_details = true;
		buf_free(&b);
	}
	return 0;
}

static int
md_fetch(struct store *st, const struct msg *m, struct buf *out,
    struct err *e)
{
	struct maildir_store *s = md(st);
	size_t len0 = out->len;
	int fd;

	if (need_sel(s, e) < 0 || msg_open(s, m, "fetch", &fd, e) < 0)
		return -1;
	if (read_fd(fd, 0, out) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': fetch: read(%s/%s) failed",
		    s->sel, s->sel_path, m->file);
		close(fd);
		out->len = len0;
		if (out->data != NULL)
			out->data[len0] = '\0';
		return -1;
	}
	close(fd);
	return 0;
}

static int
md_append(struct store *st, const char *data, size_t len,
    const struct flags *fl, int64_t date, struct msg *out, struct err *e)
{
	struct maildir_store *s = md(st);
	static const struct flags none = { 0, NULL };
	char letters[LETTERS_MAX], *name, *target = NULL, *q;
	const char *kwlist;
	bool created = false, renamed = false;
	struct flags stored = { 0, NULL };
	struct timespec ts[2];
	struct stat sb;
	int fd = -1, dst, rc = -1;
	int64_t mtime = date;

	if (need_sel(s, e) < 0)
		return -1;
	if (fl == NULL)
		fl = &none;
	name = out->name != NULL ? xstrdup(out->name) : maildir_unique_name();
	if (!unique_name_ok(name)) {
		q = quote(name);
		err_set(e, ERR_FAIL, "folder '%s': append: invalid unique name "
		    "'%s'", s->sel, q);
		free(q);
		goto out;
	}
	kwlist = fl->kw;
	if (kwlist != NULL && kw_ensure(s, &kwlist, 1, e) < 0)
		goto out;
	letters_for(s, fl, letters, &stored);
	/* O_EXCL|O_NOFOLLOW: a file or link planted at tmp/NAME is an error,
	 * never written through */
	fd = openat(s->sub_fd[SUB_TMP], name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: open(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, name);
		goto out;
	}
	created = true;
	/* in a batch, durability comes from batch_end's one syncfs */
	if (write_all(fd, data, len) < 0 || (!s->deferred && fsync(fd) < 0)) {
		err_sys(e, ERR_FAIL, "folder '%s': append: write(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, name);
		goto out;
	}
	if (date > 0) {
		ts[0].tv_sec = 0;
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_sec = (time_t)date;
		ts[1].tv_nsec = 0;
		if (futimens(fd, ts) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': append: futimens("
			    "%s/tmp/%s) failed", s->sel, s->sel_path, name);
			goto out;
		}
	} else if (fstat(fd, &sb) == 0)
		mtime = (int64_t)sb.st_mtime;
	if (close(fd) < 0) {
		fd = -1;
		err_sys(e, ERR_FAIL, "folder '%s': append: close(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, name);
		goto out;
	}
	fd = -1;
	if (*letters != '\0') {
		dst = SUB_CUR;
		target = xasprintf("%s:2,%s", name, letters);
	} else {
		dst = SUB_NEW;
		target = xstrdup(name);
	}
	if (s->deferred) {
		xgrow(&s->pend, &s->cappend, s->npend + 1, sizeof(*s->pend));
		s->pend[s->npend++] = (struct pending){ xstrdup(name), dst,
			xstrdup(target) };
		renamed = true;	/* batch_end owns the tmp file now */
		goto done;
	}
	if (rename_noreplace(s->sub_fd[SUB_TMP], name, s->sub_fd[dst],
	    target) < 0) {
		if (errno == EEXIST)
			err_set(e, ERR_FAIL, "folder '%s': append: %s/%s/%s "
			    "exists already", s->sel, s->sel_path,
			    sub_name[dst], target);
		else
			err_sys(e, ERR_FAIL, "folder '%s': append: rename into "
			    "%s/%s/%s failed", s->sel, s->sel_path,
			    sub_name[dst], target);
		goto out;
	}
	renamed = true;
	if (fsync(s->sub_fd[dst]) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: fsync(%s/%s) failed",
		    s->sel, s->sel_path, sub_name[dst]);
		unlinkat(s->sub_fd[dst], target, 0);
		goto out;
	}
done:
	msg_free(out);
	out->name = name;
	name = NULL;
	out->file = xasprintf("%s/%s", sub_name[dst], target);
	out->flags = stored;
	stored.kw = NULL;
	out->size = wire_size(data, len);
	out->date = mtime;
	out->msgid = header_message_id(data, len);
	out->has_details = true;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created && !renamed)
		unlinkat(s->sub_fd[SUB_TMP], name, 0);
	flags_free(&stored);
	free(target);
	free(name);
	return rc;
}

static int
fsync_touched(struct maildir_store *s, const bool touched[NSUB], int rc,
    struct err *e)
{
	for (int i = 0; i < NSUB; i++)
		if (touched[i] && fsync(s->sub_fd[i]) < 0 && rc == 0)
			rc = err_sys(e, ERR_FAIL, "folder '%s': fsync(%s/%s) "
			    "failed", s->sel, s->sel_path, sub_name[i]);
	return rc;
}

static int
md_set_flags(struct store *st, struct flag_change *v, size_t n,
    struct err *e)
{
	struct maildir_store *s = md(st);
	bool touched[NSUB] = { false };
	char letters[LETTERS_MAX], *name, *target, *found;
	const char **lists, *fname;
	struct flags stored;
	int sub, r, rc = -1;
	size_t i;

	if (need_sel(s, e) < 0)
		return -1;
	lists = xcalloc(n, sizeof(*lists));
	for (i = 0; i < n; i++)
		lists[i] = v[i].to.kw;
	r = kw_ensure(s, lists, n, e);
	free(lists);
	if (r < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct msg *m = v[i].msg;

		if (parse_file(m->file, &sub, &fname) < 0) {
			char *q = quote(m->file ? m->file : "(none)");

			err_set(e, ERR_FAIL, "folder '%s': set flags: bad "
			    "message file '%s'", s->sel, q);
			free(q);
			goto out;
		}
		name = m->name ? xstrdup(m->name) : name_of(fname);
		letters_for(s, &v[i].to, letters, &stored);
		target = xasprintf("%s:2,%s", name, letters);
		found = NULL;
		r = 0;
		/* even a file already in place gets its directory synced:
		 * a retry after a failed fsync must make the rename durable */
		touched[SUB_CUR] = true;
		if (sub != SUB_CUR || strcmp(fname, target) != 0) {
			r = renameat(s->sub_fd[sub], fname, s->sub_fd[SUB_CUR],
			    target);
			if (r < 0 && errno == ENOENT) {
				/* a reader changed its flags meanwhile */
				if (find_by_name(s, name, &sub, &found,
				    e) < 0) {
					free(name);
					free(target);
					flags_free(&stored);
					goto out;
				}
				if (found == NULL)
					errno = ENOENT;
				else if (sub == SUB_CUR &&
				    strcmp(found, target) == 0)
					r = 0;
				else
					r = renameat(s->sub_fd[sub], found,
					    s->sub_fd[SUB_CUR], target);
			}
			if (r == 0) {
				touched[sub] = true;
				touched[SUB_CUR] = true;
			}
		}
		if (r < 0) {
			if (errno == ENOENT)
				err_set(e, ERR_FAIL, "folder '%s': set flags: "
				    "%s/%s no longer exists", s->sel,
				    s->sel_path, m->file);
			else
				err_sys(e, ERR_FAIL, "folder '%s': set flags: "
				    "rename(%s/%s, cur/%s) failed", s->sel,
				    s->sel_path, m->file, target);
			free(found);
			free(name);
			free(target);
			flags_free(&stored);
			goto out;
		}
		free(m->file);
		m->file = xasprintf("cur/%s", target);
		flags_free(&m->flags);
		m->flags = stored;
		free(found);
		free(name);
		free(target);
	}
	rc = 0;
out:
	return fsync_touched(s, touched, rc, e);
}

static int
md_remove(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct maildir_store *s = md(st);
	bool touched[NSUB] = { false };
	const char *fname;
	char *found, *q;
	int sub, r, rc = -1;

	if (need_sel(s, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msgs[i];

		if (parse_file(m->file, &sub, &fname) < 0) {
			q = quote(m->file ? m->file : "(none)");
			err_set(e, ERR_FAIL, "folder '%s': remove: bad message "
			    "file '%s'", s->sel, q);
			free(q);
			goto out;
		}
		found = NULL;
		r = unlinkat(s->sub_fd[sub], fname, 0);
		if (r < 0 && errno == ENOENT && m->name != NULL) {
			if (find_by_name(s, m->name, &sub, &found, e) < 0)
				goto out;
			/* not found at all: already gone, as wanted */
			r = found ? unlinkat(s->sub_fd[sub], found, 0) : 0;
		}
		free(found);
		if (r < 0 && errno != ENOENT) {
			err_sys(e, ERR_FAIL, "folder '%s': remove: "
			    "unlink(%s/%s) failed", s->sel, s->sel_path,
			    m->file);
			goto out;
		}
		touched[sub] = true;
	}
	rc = 0;
out:
	return fsync_touched(s, touched, rc, e);
}

/*
 * Moving renames each file into the target folder under the same unique
 * name.  Keyword letters are per folder (dovecot-keywords), so the target's
 * map is loaded and extended and the letters rewritten; system letters and
 * the cur/new location stay as they are.
 */
static int
md_move(struct store *st, struct msg **msgs, size_t n, const char *to,
    struct msg *out, struct err *e)
{
	struct maildir_store *s = md(st);
	char *from, letters[LETTERS_MAX], *target;
	int src[NSUB], sub, rc = -1;
	const char **lists;
	const char *fname;
	bool touched_src[NSUB] = { false }, touched_dst[NSUB] = { false };

	if (need_sel(s, e) < 0)
		return -1;
	for (int i = 0; i < NSUB; i++)
		src[i] = -1;
	for (int i = 0; i < NSUB; i++)
		if ((src[i] = fcntl(s->sub_fd[i], F_DUPFD_CLOEXEC, 0)) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': move: dup failed",
			    s->sel);
			close_subs(src);
			return -1;
		}
	from = xstrdup(s->sel);
	if (md_select(st, to, NULL, e) < 0)
		goto out;
	lists = xcalloc(n + 1, sizeof(*lists));
	for (size_t i = 0; i < n; i++)
		lists[i] = msgs[i]->flags.kw;
	if (kw_ensure(s, lists, n, e) < 0) {
		free(lists);
		goto out;
	}
	free(lists);
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msgs[i];
		struct flags stored = { 0 };

		if (parse_file(m->file, &sub, &fname) < 0 || m->name == NULL) {
			err_set(e, ERR_FAIL, "folder '%s': move: bad message "
			    "file", from);
			goto out;
		}
		if (sub == SUB_NEW && m->flags.bits == 0 && m->flags.kw == NULL)
			target = xstrdup(fname);
		else {
			letters_for(s, &m->flags, letters, &stored);
			target = xasprintf("%s:2,%s", m->name, letters);
			sub = sub == SUB_NEW ? SUB_NEW : SUB_CUR;
		}
		if (rename_noreplace(src[sub], fname, s->sub_fd[sub],
		    target) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': move %s to '%s': "
			    "rename failed", from, m->file, to);
			free(target);
			flags_free(&stored);
			goto out;
		}
		touched_src[sub] = touched_dst[sub] = true;
		msg_free(&out[i]);
		out[i].name = xstrdup(m->name);
		out[i].file = xasprintf("%s/%s", sub_name[sub], target);
		if (stored.bits == 0 && stored.kw == NULL)
			flags_copy(&out[i].flags, &m->flags);
		else
			out[i].flags = stored;
		out[i].size = m->size;
		out[i].date = m->date;
		out[i].msgid = m->msgid ? xstrdup(m->msgid) : NULL;
		out[i].has_details = m->has_details;
		free(target);
	}
	rc = 0;
out:
	/* the target first (where the files are now), then the source */
	for (int i = 0; i < NSUB; i++) {
		if (touched_dst[i] && s->sub_fd[i] >= 0 && fsync(s->sub_fd[i]) < 0
		    && rc == 0)
			rc = err_sys(e, ERR_FAIL, "folder '%s': fsync failed",
			    to);
		if (touched_src[i] && fsync(src[i]) < 0 && rc == 0)
			rc = err_sys(e, ERR_FAIL, "folder '%s': fsync failed",
			    from);
	}
	close_subs(src);
	/* leave the source selected, as the caller expects */
	if (md_select(st, from, NULL, rc == 0 ? e : NULL) < 0)
		rc = -1;
	free(from);
	return rc;
}

static int
md_stamp(struct store *st, const char *name, struct folder_stamp *out,
    struct err *e)
{
	struct maildir_store *s = md(st);
	int fd = -1, rc = -1;
	struct loc l;

	memset(out, 0, sizeof(*out));
	if (need_open(s, e) < 0 || folder_loc(s->ch, name, &l, e) < 0)
		return -1;
	if (loc_open(s, name, &l, l.comps.n, false, &fd, NULL, e) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		int sub = open_dir_at(fd, sub_name[i == 0 ? SUB_CUR : SUB_NEW]);
		struct dirent *de;
		struct stat sb;
		DIR *d;

		if (sub < 0 || fstat(sub, &sb) < 0 ||
		    (d = fdopendir(sub)) == NULL) {
			err_sys(e, ERR_FAIL, "folder '%s': stat of %s/%s failed",
			    name, l.path, sub_name[i == 0 ? SUB_CUR : SUB_NEW]);
			if (sub >= 0)
				close(sub);
			goto out;
		}
		out->mtime[i] = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
		    sb.st_mtim.tv_nsec;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				out->count++;
		closedir(d);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	loc_free(&l);
	return rc;
}

static void
md_batch_begin(struct store *st)
{
	md(st)->deferred = true;
}

/*
 * One syncfs(2) makes every file of the batch durable (instead of one
 * fsync and one journal commit per message), then the files become visible
 * by rename, then each directory is fsync'ed once.  A crash before the end
 * leaves only files in tmp/, which no reader lists.
 */
static int
md_batch_end(struct store *st, bool *ok, struct err *e)
{
	struct maildir_store *s = md(st);
	bool touched[NSUB] = { false };
	size_t n = s->npend;
	int rc = 0;

	s->deferred = false;
	if (n == 0)
		return 0;
	if (need_sel(s, e) < 0 || syncfs(s->sub_fd[SUB_TMP]) < 0) {
		if (e->code == ERR_OK)
			err_sys(e, ERR_FAIL, "folder '%s': syncfs(%s) failed",
			    s->sel, s->sel_path);
		rc = -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct pending *p = &s->pend[i];

		ok[i] = false;
		if (rc == 0 && rename_noreplace(s->sub_fd[SUB_TMP], p->name,
		    s->sub_fd[p->dst], p->target) == 0) {
			ok[i] = true;
			touched[p->dst] = true;
		} else {
			if (rc == 0)
				rc = err_sys(e, ERR_FAIL, "folder '%s': rename "
				    "into %s/%s/%s failed", s->sel, s->sel_path,
				    sub_name[p->dst], p->target);
			unlinkat(s->sub_fd[SUB_TMP], p->name, 0);
		}
		free(p->name);
		free(p->target);
	}
	s->npend = 0;
	for (int i = 0; i < NSUB; i++)
		if (touched[i] && fsync(s->sub_fd[i]) < 0 && rc == 0) {
			rc = err_sys(e, ERR_FAIL, "folder '%s': fsync(%s/%s) "
			    "failed", s->sel, s->sel_path, sub_name[i]);
			/* visible but perhaps not durable: the journal must
			 * keep looking for them */
			for (size_t k = 0; k < n; k++)
				ok[k] = false;
		}
	return rc;
}

static const struct store_ops maildir_ops = {
	.open = md_open,
	.close = md_close,
	.list_folders = md_list_folders,
	.create_folder = md_create_folder,
	.delete_folder = md_delete_folder,
	.select = md_select,
	.list = md_list,
	.details = md_details,
	.fetch = md_fetch,
	.append = md_append,
	.set_flags = md_set_flags,
	.remove = md_remove,
	.move = md_move,
	.stamp = md_stamp,
	.batch_begin = md_batch_begin,
	.batch_end = md_batch_end,
};

struct store *
maildir_store_new(const struct cfg_channel *ch, const char *label)
{
	struct maildir_store *s = xcalloc(1, sizeof(*s));

	s->base.ops = &maildir_ops;
	s->base.side = SIDE_LOCAL;
	s->base.label = label;
	s->ch = ch;
	s->root = root_of(ch);
	s->inbox = inbox_of(ch, s->root);
	s->root_fd = -1;
	s->dir_fd = -1;
	for (int i = 0; i < NSUB; i++)
		s->sub_fd[i] = -1;
	return &s->base;
}

char *
maildir_unique_name(void)
{
	/*
	 * The one mutable static of this module: the Maildir spec makes a name
	 * unique with time, pid and a per-process delivery count, so two names
	 * made in the same microsecond by this process must still differ, and
	 * only a counter kept across calls can do that.  Atomic, since stores
	 * for several connections may run in threads.
	 */
	static atomic_ulong counter;
	unsigned long n = atomic_fetch_add(&counter, 1);
	char host[256];
	struct buf h = { 0 };
	struct timespec ts;
	char *name;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	/* Maildir spec: '/' and ':' in the host name as octal escapes */
	for (const char *p = host; *p; p++) {
		if (*p == '/')
			buf_adds(&h, "\\057");
		else if (*p == ':')
			buf_adds(&h, "\\072");
		else
			buf_addc(&h, *p);
	}
	name = xasprintf("%lld.M%ldP%ldQ%lu.%s", (long long)ts.tv_sec,
	    (long)(ts.tv_nsec / 1000), (long)getpid(), n, h.data);
	buf_free(&h);
	return name;
}
