/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Maildir keywords: Dovecot's dovecot-keywords map (lines "N keyword"),
 * which gives each keyword of a folder a letter a..z of the ":2," info. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "log.h"
#include "maildir_priv.h"

void
maildir_kw_clear(struct maildir_store *s)
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

int
maildir_kw_load(struct maildir_store *s, struct err *e)
{
	char *path = maildir_path_join(s->sel_path, KW_FILE);
	char *line, *next, *end;
	struct buf b = { 0 };
	unsigned long n;
	struct stat st;
	int fd, rc = -1;
	size_t len;

	maildir_kw_clear(s);
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
	if (maildir_read_fd(fd, 1 << 20, &b) < 0) {
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
		maildir_kw_clear(s);
	return rc;
}

static int
kw_save(struct maildir_store *s, struct err *e)
{
	char *un = maildir_unique_name();
	char *tmp = xasprintf(".%s.%s", KW_FILE, un);
	char *path = maildir_path_join(s->sel_path, tmp);
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
	if (maildir_write_all(fd, b.data ? b.data : "", b.len) < 0 ||
	    fsync(fd) < 0) {
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
int
maildir_kw_ensure(struct maildir_store *s, const char *const *lists, size_t n,
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
				if (maildir_kw_load(s, e) < 0) {
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
void
maildir_letters_for(struct maildir_store *s, const struct flags *fl,
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

void
maildir_flags_of(const struct maildir_store *s, const char *fname, int sub,
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
