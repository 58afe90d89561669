/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Maildir changes made durable: append (alone or by group commit), flag
 * changes, removal and moves. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir_priv.h"

#define NAME_MAX_LEN 200	/* unique part; room left for ":2,<letters>" */

int
maildir_write_all(int fd, const char *p, size_t n)
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

int
maildir_rename_noreplace(int ofd, const char *old, int nfd, const char *new)
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

/*
 * A run killed while its batch was in tmp/ (written, or sealed and syncing)
 * left those files there; they are its own, by the journaled name.
 */
void
maildir_discard(struct store *st, const char *name)
{
	struct maildir_store *s = md(st);

	if (s->sub_fd[SUB_TMP] >= 0 && unique_name_ok(name))
		unlinkat(s->sub_fd[SUB_TMP], name, 0);
}

/*
 * An append is begin, write (once, or once per piece of a message too large
 * to hold at once), end; abort drops it.  The file grows in tmp/ and
 * becomes a message only by end's rename.
 */
int
maildir_append_begin(struct store *st, const struct flags *fl, int64_t date,
    uint64_t size, const char *name, struct err *e)
{
	struct maildir_store *s = md(st);
	struct maildir_append *a = &s->app;
	char *q;

	if (maildir_need_sel(s, e) < 0)
		return -1;
	maildir_append_abort(st);
	a->name = name != NULL ? xstrdup(name) : maildir_unique_name();
	if (!unique_name_ok(a->name)) {
		q = maildir_quote(a->name);
		err_set(e, ERR_FAIL, "folder '%s': append: invalid unique name "
		    "'%s'", s->sel, q);
		free(q);
		goto refused;
	}
	/* O_EXCL|O_NOFOLLOW: a file or link planted at tmp/NAME is an error,
	 * never written through */
	a->fd = openat(s->sub_fd[SUB_TMP], a->name, O_WRONLY | O_CREAT |
	    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->fd < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: open(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, a->name);
		goto refused;
	}
	a->size = 0;
	a->after_cr = false;
	flags_copy(&a->flags, fl);
	a->date = date;
	(void)size;	/* counted as written instead */
	return 0;
refused:
	/* nothing of ours in tmp/: a file there by that name is another's */
	free(a->name);
	a->name = NULL;
	return -1;
}

int
maildir_append_write(struct store *st, const char *data, size_t len,
    struct err *e)
{
	struct maildir_store *s = md(st);
	struct maildir_append *a = &s->app;

	if (a->name == NULL)
		return err_set(e, ERR_FAIL, "folder '%s': append: no message "
		    "begun", s->sel ? s->sel : "");
	if (maildir_write_all(a->fd, data, len) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: write(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, a->name);
		maildir_append_abort(st);
		return -1;
	}
	if (a->size == 0 && len > 0)
		a->msgid = header_message_id(data, len);
	a->size += wire_size_piece(data, len, &a->after_cr);
	return 0;
}

void
maildir_append_abort(struct store *st)
{
	struct maildir_store *s = md(st);
	struct maildir_append *a = &s->app;

	if (a->name == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	if (s->sub_fd[SUB_TMP] >= 0)
		unlinkat(s->sub_fd[SUB_TMP], a->name, 0);
	free(a->name);
	free(a->msgid);
	flags_free(&a->flags);
	*a = (struct maildir_append){ .fd = -1 };
}

int
maildir_append_end(struct store *st, struct msg *out, struct err *e)
{
	struct maildir_store *s = md(st);
	struct maildir_append *a = &s->app;
	const struct flags *fl = &a->flags;
	char letters[LETTERS_MAX], *target = NULL;
	const char *kwlist;
	struct flags stored = { 0, NULL };
	struct timespec ts[2];
	struct stat sb;
	int fd, dst, rc = -1;
	int64_t date = a->date, mtime = date;

	if (a->name == NULL)
		return err_set(e, ERR_FAIL, "folder '%s': append: no message "
		    "begun", s->sel ? s->sel : "");
	kwlist = fl->kw;
	if (kwlist != NULL && maildir_kw_ensure(s, &kwlist, 1, e) < 0)
		goto out;
	maildir_letters_for(s, fl, letters, &stored);
	/* in a batch, durability comes from batch_end's one syncfs */
	if (!s->deferred && fsync(a->fd) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: fsync(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, a->name);
		goto out;
	}
	if (date > 0) {
		ts[0].tv_sec = 0;
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_sec = (time_t)date;
		ts[1].tv_nsec = 0;
		if (futimens(a->fd, ts) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': append: futimens("
			    "%s/tmp/%s) failed", s->sel, s->sel_path, a->name);
			goto out;
		}
	} else if (fstat(a->fd, &sb) == 0)
		mtime = (int64_t)sb.st_mtime;
	fd = a->fd;
	a->fd = -1;
	if (close(fd) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: close(%s/tmp/%s) "
		    "failed", s->sel, s->sel_path, a->name);
		goto out;
	}
	if (*letters != '\0') {
		dst = SUB_CUR;
		target = xasprintf("%s:2,%s", a->name, letters);
	} else {
		dst = SUB_NEW;
		target = xstrdup(a->name);
	}
	if (s->deferred) {
		/* batch_end owns the tmp file now */
		xgrow(&s->pend, &s->cappend, s->npend + 1, sizeof(*s->pend));
		s->pend[s->npend++] = (struct pending){ xstrdup(a->name), dst,
			xstrdup(target) };
		goto done;
	}
	maildir_track_expect(s, s->sel, dst, true, target);
	if (maildir_rename_noreplace(s->sub_fd[SUB_TMP], a->name,
	    s->sub_fd[dst], target) < 0) {
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
	if (fsync(s->sub_fd[dst]) < 0) {
		err_sys(e, ERR_FAIL, "folder '%s': append: fsync(%s/%s) failed",
		    s->sel, s->sel_path, sub_name[dst]);
		unlinkat(s->sub_fd[dst], target, 0);
		goto out;
	}
done:
	msg_free(out);
	out->name = a->name;
	out->file = xasprintf("%s/%s", sub_name[dst], target);
	out->flags = stored;
	stored.kw = NULL;
	out->size = a->size;
	out->date = mtime;
	out->msgid = a->msgid;
	out->has_details = true;
	flags_free(&a->flags);
	*a = (struct maildir_append){ .fd = -1 };
	rc = 0;
out:
	maildir_append_abort(st);
	flags_free(&stored);
	free(target);
	return rc;
}

int
maildir_append(struct store *st, const char *data, size_t len,
    const struct flags *fl, int64_t date, struct msg *out, struct err *e)
{
	static const struct flags none = { 0, NULL };

	if (maildir_append_begin(st, fl != NULL ? fl : &none, date, 0,
	    out->name, e) < 0 || maildir_append_write(st, data, len, e) < 0)
		return -1;
	return maildir_append_end(st, out, e);
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

int
maildir_set_flags(struct store *st, struct flag_change *v, size_t n,
    struct err *e)
{
	struct maildir_store *s = md(st);
	bool touched[NSUB] = { false };
	char letters[LETTERS_MAX], *name, *target, *found;
	const char **lists, *fname;
	struct flags stored;
	int sub, r, rc = -1;
	size_t i;

	if (maildir_need_sel(s, e) < 0)
		return -1;
	lists = xcalloc(n, sizeof(*lists));
	for (i = 0; i < n; i++)
		lists[i] = v[i].to.kw;
	r = maildir_kw_ensure(s, lists, n, e);
	free(lists);
	if (r < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct msg *m = v[i].msg;

		if (maildir_msg_file(s, m, "set flags", &sub, &fname, e) < 0)
			goto out;
		name = m->name ? xstrdup(m->name) : maildir_name_of(fname);
		maildir_letters_for(s, &v[i].to, letters, &stored);
		target = xasprintf("%s:2,%s", name, letters);
		found = NULL;
		r = 0;
		/* even a file already in place gets its directory synced:
		 * a retry after a failed fsync must make the rename durable */
		touched[SUB_CUR] = true;
		if (sub != SUB_CUR || strcmp(fname, target) != 0) {
			maildir_track_expect(s, s->sel, sub, false, fname);
			maildir_track_expect(s, s->sel, SUB_CUR, true, target);
			r = renameat(s->sub_fd[sub], fname, s->sub_fd[SUB_CUR],
			    target);
			if (r < 0 && errno == ENOENT) {
				/* a reader changed its flags meanwhile */
				if (maildir_find_by_name(s, name, &sub, &found,
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
				else {
					maildir_track_expect(s, s->sel, sub,
					    false, found);
					r = renameat(s->sub_fd[sub], found,
					    s->sub_fd[SUB_CUR], target);
				}
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

int
maildir_remove(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct maildir_store *s = md(st);
	bool touched[NSUB] = { false };
	const char *fname;
	char *found;
	int sub, r, rc = -1;

	if (maildir_need_sel(s, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msgs[i];

		if (maildir_msg_file(s, m, "remove", &sub, &fname, e) < 0)
			goto out;
		found = NULL;
		maildir_track_expect(s, s->sel, sub, false, fname);
		r = unlinkat(s->sub_fd[sub], fname, 0);
		if (r < 0 && errno == ENOENT && m->name != NULL) {
			if (maildir_find_by_name(s, m->name, &sub, &found,
			    e) < 0)
				goto out;
			/* not found at all: already gone, as wanted */
			if (found != NULL)
				maildir_track_expect(s, s->sel, sub, false,
				    found);
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
int
maildir_move(struct store *st, struct msg **msgs, size_t n, const char *to,
    struct msg *out, struct err *e)
{
	struct maildir_store *s = md(st);
	char *from, letters[LETTERS_MAX], *target;
	int src[NSUB], sub, rc = -1;
	const char **lists;
	const char *fname;
	bool touched_src[NSUB] = { false }, touched_dst[NSUB] = { false };

	if (maildir_need_sel(s, e) < 0)
		return -1;
	for (int i = 0; i < NSUB; i++)
		src[i] = -1;
	for (int i = 0; i < NSUB; i++)
		if ((src[i] = fcntl(s->sub_fd[i], F_DUPFD_CLOEXEC, 0)) < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': move: dup failed",
			    s->sel);
			maildir_close_subs(src);
			return -1;
		}
	from = xstrdup(s->sel);
	if (maildir_select(st, to, NULL, e) < 0)
		goto out;
	lists = xcalloc(n + 1, sizeof(*lists));
	for (size_t i = 0; i < n; i++)
		lists[i] = msgs[i]->flags.kw;
	if (maildir_kw_ensure(s, lists, n, e) < 0) {
		free(lists);
		goto out;
	}
	free(lists);
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msgs[i];
		struct flags stored = { 0 };

		if (maildir_parse_file(m->file, &sub, &fname) < 0 ||
		    m->name == NULL) {
			err_set(e, ERR_FAIL, "folder '%s': move: bad message "
			    "file", from);
			goto out;
		}
		if (sub == SUB_NEW && m->flags.bits == 0 && m->flags.kw == NULL)
			target = xstrdup(fname);
		else {
			maildir_letters_for(s, &m->flags, letters, &stored);
			target = xasprintf("%s:2,%s", m->name, letters);
			sub = sub == SUB_NEW ? SUB_NEW : SUB_CUR;
		}
		maildir_track_expect(s, from, sub, false, fname);
		maildir_track_expect(s, to, sub, true, target);
		if (maildir_rename_noreplace(src[sub], fname, s->sub_fd[sub],
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
		if (touched_dst[i] && s->sub_fd[i] >= 0 &&
		    fsync(s->sub_fd[i]) < 0 && rc == 0)
			rc = err_sys(e, ERR_FAIL, "folder '%s': fsync failed",
			    to);
		if (touched_src[i] && fsync(src[i]) < 0 && rc == 0)
			rc = err_sys(e, ERR_FAIL, "folder '%s': fsync failed",
			    from);
	}
	maildir_close_subs(src);
	/* leave the source selected, as the caller expects */
	if (maildir_select(st, from, NULL, rc == 0 ? e : NULL) < 0)
		rc = -1;
	free(from);
	return rc;
}
