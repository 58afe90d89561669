/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Maildir messages: file names, listing the selected folder, reading. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir_priv.h"

/* "cur/NAME" or "new/NAME" into its directory and file name. */
int
maildir_parse_file(const char *file, int *sub, const char **fname)
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

int
maildir_msg_file(struct maildir_store *s, const struct msg *m,
    const char *op, int *sub, const char **fname, struct err *e)
{
	char *q;

	if (maildir_parse_file(m->file, sub, fname) == 0)
		return 0;
	q = maildir_quote(m->file ? m->file : "(none)");
	err_set(e, ERR_FAIL, "folder '%s': %s: bad message file '%s'", s->sel,
	    op, q);
	free(q);
	return -1;
}

char *
maildir_name_of(const char *fname)
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

/* The file holding unique name now, after a reader renamed it. */
int
maildir_find_by_name(struct maildir_store *s, const char *name, int *sub,
    char **fname, struct err *e)
{
	static const int order[] = { SUB_CUR, SUB_NEW };
	struct strv names = { 0 };
	char *path;

	*fname = NULL;
	for (size_t k = 0; k < 2 && *fname == NULL; k++) {
		path = maildir_path_join(s->sel_path, sub_name[order[k]]);
		if (maildir_read_names(s->sub_fd[order[k]], path, false, &names,
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
    int *fd_out, int64_t *mtime, struct err *e)
{
	const int oflags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	const char *fname;
	char *found = NULL, *path;
	struct stat st;
	int sub, fd;

	*fd_out = -1;
	if (maildir_msg_file(s, m, op, &sub, &fname, e) < 0)
		return -1;
	fd = openat(s->sub_fd[sub], fname, oflags);
	if (fd < 0 && errno == ENOENT && m->name != NULL) {
		if (maildir_find_by_name(s, m->name, &sub, &found, e) < 0)
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
		maildir_close_fd(&fd);
	} else if (mtime != NULL) {
		*mtime = (int64_t)st.st_mtime;
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

/* Read up to n bytes (fewer only at the end of the file) into p. */
static int
read_full(int fd, char *p, size_t n, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < n) {
		r = read(fd, p + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/* Add to *wire the size with CRLF line ends of the rest of fd, read
 * through in chunks; *cr as for wire_size_piece. */
static int
wire_size_rest(int fd, uint64_t *wire, bool *cr)
{
	char chunk[65536];
	size_t got;

	do {
		if (read_full(fd, chunk, sizeof(chunk), &got) < 0)
			return -1;
		*wire += wire_size_piece(chunk, got, cr);
	} while (got > 0);
	return 0;
}

/* Read fd to its end (or max bytes if max > 0), appending to out. */
int
maildir_read_fd(int fd, size_t max, struct buf *out)
{
	char chunk[16384];
	struct stat st;
	size_t want;
	ssize_t n;
	char *dst;

	/*
	 * A whole file is read into room of its size: growing by doubling
	 * held a 1.1 MB message in 2 MiB.  Past that room (the end, or a
	 * file that grew meanwhile) reads go through chunk.
	 */
	if (max == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < SIZE_MAX / 2 - out->len &&
	    out->cap < out->len + (size_t)st.st_size + 1)
		xfit(&out->data, &out->cap, out->len + (size_t)st.st_size + 1,
		    1);
	for (;;) {
		if (max > 0 && out->len >= max)
			break;
		if (out->cap > out->len + 1) {
			dst = out->data + out->len;
			want = out->cap - out->len - 1;
		} else {
			dst = chunk;
			want = sizeof(chunk);
		}
		if (max > 0 && max - out->len < want)
			want = max - out->len;
		n = read(fd, dst, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (dst == chunk)
			buf_add(out, chunk, (size_t)n);
		else
			out->len += (size_t)n;
	}
	xgrow(&out->data, &out->cap, out->len + 1, 1);
	out->data[out->len] = '\0';
	return 0;
}

struct entry {
	char *name;
	char *fname;
	int sub;
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
 * meanwhile makes it appear twice (deduplicated), never not at all.  The
 * directory's d_type spares a stat per message (the listing needs no
 * dates: details has them); only where the file system does not give it
 * is the file looked at, and a file gone meanwhile was renamed: *raced
 * asks for another pass.
 */
static int
scan(struct maildir_store *s, struct entry **v_out, size_t *n_out,
    bool *raced, struct err *e)
{
	static const int order[] = { SUB_NEW, SUB_CUR };
	struct strv names = { 0 };
	struct buf types = { 0 };
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	char *dpath, *q;
	struct stat st;
	int sub;

	*raced = false;
	for (size_t k = 0; k < 2; k++) {
		sub = order[k];
		dpath = maildir_path_join(s->sel_path, sub_name[sub]);
		buf_reset(&types);
		if (maildir_read_entries(s->sub_fd[sub], dpath, false, &names,
		    &types, e) < 0) {
			free(dpath);
			buf_free(&types);
			entries_free(v, n);
			return err_prefix(e, "folder '%s'", s->sel);
		}
		for (size_t i = 0; i < names.n; i++) {
			const char *f = names.v[i];
			unsigned char type = (unsigned char)types.data[i];

			if (type == DT_UNKNOWN) {
				if (fstatat(s->sub_fd[sub], f, &st,
				    AT_SYMLINK_NOFOLLOW) < 0) {
					if (errno == ENOENT) {
						*raced = true;
						continue;
					}
					err_sys(e, ERR_FAIL, "folder '%s': "
					    "stat(%s/%s) failed", s->sel,
					    dpath, f);
					free(dpath);
					strv_free(&names);
					buf_free(&types);
					entries_free(v, n);
					return -1;
				}
				if (S_ISREG(st.st_mode))
					type = DT_REG;
			}
			if (type != DT_REG) {
				q = maildir_quote(f);
				log_warn("folder '%s': skipping %s/%s: not a "
				    "regular file", s->sel, dpath, q);
				free(q);
				continue;
			}
			xgrow(&v, &cap, n + 1, sizeof(*v));
			v[n].name = maildir_name_of(f);
			v[n].fname = xstrdup(f);
			v[n].sub = sub;
			n++;
		}
		free(dpath);
		strv_free(&names);
	}
	buf_free(&types);
	*v_out = v;
	*n_out = n;
	return 0;
}

int
maildir_list(struct store *st, struct msg_list *out, struct err *e)
{
	struct maildir_store *s = md(st);
	struct entry *v = NULL;
	const char *prev = NULL;
	struct msg *m;
	size_t n = 0;
	bool raced = true;
	char *q;

	if (maildir_need_sel(s, e) < 0)
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
	xfit(&out->v, &out->cap, out->n + n, sizeof(*out->v));
	for (size_t i = 0; i < n; i++) {
		if (prev != NULL && strcmp(v[i].name, prev) == 0) {
			q = maildir_quote(v[i].fname);
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
		maildir_flags_of(s, v[i].fname, v[i].sub, &m->flags);
	}
	entries_free(v, n);
	return 0;
}

/*
 * One stat instead of a listing.  Anything unexpected (not there, not a
 * regular file, a name that is not a plain file name, an error) is "not
 * found": the caller then lists the folder, which reports what is wrong.
 */
int
maildir_find(struct store *st, const char *name, const struct flags *fl,
    struct msg *out, bool *found, struct err *e)
{
	struct maildir_store *s = md(st);
	char letters[LETTERS_MAX], *fname;
	struct flags stored;
	struct stat sb;
	int sub;

	*found = false;
	memset(out, 0, sizeof(*out));
	if (maildir_need_sel(s, e) < 0)
		return -1;
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL ||
	    strstr(name, ":2,") != NULL)
		return 0;
	maildir_letters_for(s, fl, letters, &stored);
	flags_free(&stored);
	/* as maildir_list would have it: cur/ first, and a message without
	 * flags may still be in new/ (where append leaves it) */
	fname = xasprintf("%s:2,%s", name, letters);
	sub = SUB_CUR;
	if (fstatat(s->sub_fd[sub], fname, &sb, AT_SYMLINK_NOFOLLOW) < 0 &&
	    letters[0] == '\0') {
		free(fname);
		fname = xstrdup(name);
		sub = SUB_NEW;
	}
	if (fstatat(s->sub_fd[sub], fname, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode)) {
		free(fname);
		return 0;
	}
	out->name = xstrdup(name);
	out->file = xasprintf("%s/%s", sub_name[sub], fname);
	maildir_flags_of(s, fname, sub, &out->flags);
	free(fname);
	*found = true;
	return 0;
}

int
maildir_details(struct store *st, struct msg **msgs, size_t n, struct err *e)
{
	struct maildir_store *s = md(st);
	struct buf b = { 0 };
	uint64_t w = 0;
	int fd, rc;

	if (maildir_need_sel(s, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = msgs[i];
		bool have_w = m->name != NULL && name_wire_size(m->name, &w);
		bool cr = false;

		if (msg_open(s, m, "details", &fd, &m->date, e) < 0)
			return -1;
		/* header_message_id looks at the first 8 KiB only; the rest
		 * is only counted */
		rc = maildir_read_fd(fd, 8192, &b);
		if (rc == 0 && !have_w) {
			w = wire_size_piece(b.data, b.len, &cr);
			rc = wire_size_rest(fd, &w, &cr);
		}
		if (rc < 0) {
			err_sys(e, ERR_FAIL, "folder '%s': details: "
			    "read(%s/%s) failed", s->sel, s->sel_path,
			    m->file);
			close(fd);
			buf_free(&b);
			return -1;
		}
		close(fd);
		m->size = w;
		free(m->msgid);
		m->msgid = header_message_id(b.data, b.len);
		m->has_details = true;
		buf_free(&b);
	}
	return 0;
}

/* e says that reading m failed (errno). */
static void
fetch_failed(struct maildir_store *s, const struct msg *m, struct err *e)
{
	err_sys(e, ERR_FAIL, "folder '%s': fetch: read(%s/%s) failed", s->sel,
	    s->sel_path, m->file);
}

/*
 * fetch_many hands over a message from PIECES_FROM bytes on in pieces of
 * PIECE_BYTES, so that pushing it holds one piece, whatever its size.
 * Such a file is read twice: first for its exact size with CRLF line
 * ends, which an IMAP APPEND announces before its first byte.
 */
#define PIECES_FROM (4u << 20)
#define PIECE_BYTES (1u << 20)
/* A reading buffer up to this size serves the next message too. */
#define KEEP_BYTES (1u << 20)

static int
fetch_pieces(struct maildir_store *s, struct msg *m, int fd, size_t i,
    store_body_fn *fn, void *arg)
{
	char *piece = xmalloc(PIECE_BYTES);
	uint64_t wire = 0;
	bool cr = false;
	size_t got;
	struct err e = { 0 };

	if (wire_size_rest(fd, &wire, &cr) < 0 ||
	    lseek(fd, 0, SEEK_SET) != 0)
		goto fail;
	m->size = wire;
	for (;;) {
		if (read_full(fd, piece, PIECE_BYTES, &got) < 0)
			goto fail;
		if (got == 0)
			break;
		fn(arg, i, piece, got, true, NULL);
	}
	fn(arg, i, "", 0, false, NULL);
	free(piece);
	return 0;
fail:
	fetch_failed(s, m, &e);
	fn(arg, i, NULL, 0, false, &e);
	free(piece);
	return -1;
}

int
maildir_fetch_many(struct store *st, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e)
{
	struct maildir_store *s = md(st);
	struct buf data = { 0 };
	struct stat sb;

	(void)e;	/* a file that cannot be read fails alone */
	for (size_t i = 0; i < n; i++) {
		struct err fe = { 0 };
		int fd;

		if (maildir_need_sel(s, &fe) < 0 ||
		    msg_open(s, msgs[i], "fetch", &fd, NULL, &fe) < 0) {
			fn(arg, i, NULL, 0, false, &fe);
			continue;
		}
		if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size >= PIECES_FROM) {
			fetch_pieces(s, msgs[i], fd, i, fn, arg);
			close(fd);
			continue;
		}
		buf_reset(&data);
		if (maildir_read_fd(fd, 0, &data) < 0) {
			fetch_failed(s, msgs[i], &fe);
			fn(arg, i, NULL, 0, false, &fe);
		} else {
			fn(arg, i, data.data ? data.data : "", data.len, false,
			    NULL);
		}
		close(fd);
		/* a large message's room is not kept for the rest */
		if (data.cap > KEEP_BYTES)
			buf_free(&data);
	}
	buf_free(&data);
	return 0;
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
