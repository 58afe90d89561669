/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Allocation that aborts on exhaustion, growable buffers and string lists. */
#ifndef MAILSYNC_UTIL_H
#define MAILSYNC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Allocators: never return NULL; out of memory aborts the process. */
void xoom(void) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Grow *array (of *cap elements of size) so that it holds at least need. */
void xgrow(void *array_ptr, size_t *cap, size_t need, size_t size);
/* Set the capacity of *array_ptr to exactly n elements (at least 1): room
 * reserved for a known count, or the slack of xgrow's doubling given back,
 * which for a 100,000-message listing is megabytes. */
void xfit(void *array_ptr, size_t *cap, size_t n, size_t size);
/* qsort/bsearch order of uint32_t values. */
int u32_cmp(const void *a, const void *b);
/* strcmp where NULL sorts before every string and equals only NULL. */
int strcmp_null(const char *a, const char *b);

/* A growable byte buffer; data is always NUL-terminated (not counted). */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_add(struct buf *b, const void *p, size_t n);
void buf_addc(struct buf *b, char c);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Free the storage; b is left empty and reusable. */
void buf_free(struct buf *b);

/* A growable list of owned strings. */
struct strv {
	char **v;
	size_t n;
	size_t cap;
};
void strv_add(struct strv *s, const char *str);	/* copies str */
void strv_add_owned(struct strv *s, char *str);	/* takes str */
bool strv_contains(const struct strv *s, const char *str);
void strv_sort(struct strv *s);
void strv_free(struct strv *s);

/* Seconds on CLOCK_MONOTONIC. */
double mono_seconds(void);
/* Line endings: CRLF -> LF (wire to disk) and LF -> CRLF (disk to wire). */
void crlf_to_lf(struct buf *out, const char *p, size_t n);
/* crlf_to_lf over p itself; the new length. */
size_t crlf_to_lf_in_place(char *p, size_t n);
void lf_to_crlf(struct buf *out, const char *p, size_t n);
/* The pieces of p[0..n) with CRLF line ends (each LF not after a CR
 * becomes CRLF), in order, to fn; stops at fn's first nonzero return,
 * which it returns. */
typedef int crlf_piece_fn(void *arg, const void *piece, size_t n);
int lf_to_crlf_each(const char *p, size_t n, crlf_piece_fn *fn, void *arg);
/* Size of p once every bare LF becomes CRLF (the IMAP RFC822.SIZE). */
uint64_t wire_size(const char *p, size_t n);
/* lf_to_crlf_each and wire_size for a text given in pieces: *after_cr
 * (false before the first) tells whether the last piece ended with a CR,
 * and is updated. */
int lf_to_crlf_piece(const char *p, size_t n, bool *after_cr,
    crlf_piece_fn *fn, void *arg);
uint64_t wire_size_piece(const char *p, size_t n, bool *after_cr);

/* The Message-ID header value of a message (LF or CRLF), or NULL; unfolded,
 * angle brackets included, at most the first 8 KiB of headers searched. */
char *header_message_id(const char *p, size_t n);

/* mkdir -p path, each directory made mode 0700; ERR_FAIL naming the one
 * that failed. */
int mkdir_p(const char *path, struct err *e);

#endif
