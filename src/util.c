/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Allocation, buffers, string lists and small message helpers. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

void
xoom(void)
{
	fputs("mailsync: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		xoom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		xoom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		xoom();
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		xoom();
	va_end(ap);
	return p;
}

void
xgrow(void *array_ptr, size_t *cap, size_t need, size_t size)
{
	void **array = array_ptr;
	size_t ncap = *cap ? *cap : 8;

	if (need <= *cap)
		return;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / size)
		xoom();
	*array = xrealloc(*array, ncap * size);
	*cap = ncap;
}

int
strcmp_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
xfit(void *array_ptr, size_t *cap, size_t n, size_t size)
{
	void **array = array_ptr;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / size)
		xoom();
	if (n == *cap)
		return;
	*array = xrealloc(*array, n * size);
	*cap = n;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	xgrow(&b->data, &b->cap, b->len + n + 1, 1);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		xoom();
	buf_add(b, p, (size_t)n);
	free(p);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
strv_add(struct strv *s, const char *str)
{
	strv_add_owned(s, xstrdup(str));
}

void
strv_add_owned(struct strv *s, char *str)
{
	xgrow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = str;
}

bool
strv_contains(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
strv_sort(struct strv *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

void
strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

double
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
crlf_to_lf(struct buf *out, const char *p, size_t n)
{
	size_t start = 0;

	xgrow(&out->data, &out->cap, out->len + n + 1, 1);
	/* memchr, not a byte loop: this runs over every byte pulled */
	for (const char *cr = memchr(p, '\r', n); cr != NULL;
	    cr = memchr(cr + 1, '\r', n - (size_t)(cr + 1 - p))) {
		size_t i = (size_t)(cr - p);

		if (i + 1 < n && p[i + 1] == '\n') {
			buf_add(out, p + start, i - start);
			start = i + 1;
		}
	}
	buf_add(out, p + start, n - start);
}

size_t
crlf_to_lf_in_place(char *p, size_t n)
{
	size_t start = 0, w = 0;

	for (char *cr = memchr(p, '\r', n); cr != NULL;
	    cr = memchr(cr + 1, '\r', n - (size_t)(cr + 1 - p))) {
		size_t i = (size_t)(cr - p);

		if (i + 1 < n && p[i + 1] == '\n') {
			memmove(p + w, p + start, i - start);
			w += i - start;
			start = i + 1;
		}
	}
	memmove(p + w, p + start, n - start);
	return w + n - start;
}

int
lf_to_crlf_each(const char *p, size_t n, crlf_piece_fn *fn, void *arg)
{
	size_t start = 0;
	int r;

	for (const char *lf = memchr(p, '\n', n); lf != NULL;
	    lf = memchr(lf + 1, '\n', n - (size_t)(lf + 1 - p))) {
		size_t i = (size_t)(lf - p);

		if (i > 0 && p[i - 1] == '\r')
			continue;
		if ((r = fn(arg, p + start, i - start)) != 0 ||
		    (r = fn(arg, "\r\n", 2)) != 0)
			return r;
		start = i + 1;
	}
	return fn(arg, p + start, n - start);
}

int
lf_to_crlf_piece(const char *p, size_t n, bool *after_cr, crlf_piece_fn *fn,
    void *arg)
{
	bool joined = n > 0 && *after_cr && p[0] == '\n';
	int r;

	if (n > 0)
		*after_cr = p[n - 1] == '\r';
	if (!joined)
		return lf_to_crlf_each(p, n, fn, arg);
	/* the CR that ended the last piece makes this LF no bare one */
	if ((r = fn(arg, p, 1)) != 0)
		return r;
	return lf_to_crlf_each(p + 1, n - 1, fn, arg);
}

static int
buf_piece(void *arg, const void *p, size_t n)
{
	buf_add(arg, p, n);
	return 0;
}

void
lf_to_crlf(struct buf *out, const char *p, size_t n)
{
	size_t need = out->len + (size_t)wire_size(p, n) + 1;

	/* room for exactly the result: a guess grown by doubling could
	 * hold a message twice over */
	if (out->cap < need)
		xfit(&out->data, &out->cap, need, 1);
	lf_to_crlf_each(p, n, buf_piece, out);
}

uint64_t
wire_size(const char *p, size_t n)
{
	uint64_t size = n;

	for (const char *lf = memchr(p, '\n', n); lf != NULL;
	    lf = memchr(lf + 1, '\n', n - (size_t)(lf + 1 - p))) {
		if (lf == p || lf[-1] != '\r')
			size++;
	}
	return size;
}

uint64_t
wire_size_piece(const char *p, size_t n, bool *after_cr)
{
	uint64_t size = wire_size(p, n);

	if (n > 0 && *after_cr && p[0] == '\n')
		size--;
	if (n > 0)
		*after_cr = p[n - 1] == '\r';
	return size;
}

char *
header_message_id(const char *p, size_t n)
{
	size_t i = 0, limit = n < 8192 ? n : 8192;
	struct buf v = { 0 };

	while (i < limit) {
		size_t eol = i;

		while (eol < limit && p[eol] != '\n')
			eol++;
		if (eol == i || (eol == i + 1 && p[i] == '\r'))
			break;	/* end of headers */
		if (eol - i >= 11 && strncasecmp(p + i, "message-id:", 11) == 0) {
			size_t j = i + 11;

			for (;;) {
				for (; j < eol; j++)
					if (p[j] != '\r')
						buf_addc(&v, p[j]);
				/* folded continuation lines belong to the value */
				if (eol + 1 < limit &&
				    (p[eol + 1] == ' ' || p[eol + 1] == '\t')) {
					j = eol + 1;
					eol = j;
					while (eol < limit && p[eol] != '\n')
						eol++;
					continue;
				}
				break;
			}
			break;
		}
		i = eol + 1;
	}
	if (v.data == NULL)
		return NULL;
	/* keep only the <...> token, without surrounding blanks */
	{
		char *lt = strchr(v.data, '<'), *gt;
		char *res = NULL;

		if (lt && (gt = strchr(lt, '>')) != NULL)
			res = xstrndup(lt, (size_t)(gt - lt + 1));
		else {
			char *s = v.data;
			size_t len;

			while (*s == ' ' || *s == '\t')
				s++;
			len = strlen(s);
			while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
				len--;
			if (len)
				res = xstrndup(s, len);
		}
		buf_free(&v);
		return res;
	}
}

int
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
