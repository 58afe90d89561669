/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libetpan's stream driver over our socket and TLS, and raw commands. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libetpan/libetpan.h>
#define ZLIB_CONST
#include <zlib.h>

#include "imap_io.h"
#include "log.h"
#include "tls.h"
#include "util.h"

/* Longest piece of a line shown in the --debug trace. */
#define TRACE_MAX 2000

/* RFC 4978 DEFLATE, both ways: it sits between the raw bytes and
 * everything else here, so the checks and the trace see plain IMAP. */
struct io_deflate {
	z_stream in, out;
	unsigned char zin[16384];	/* compressed, not yet inflated */
	unsigned char zout[16384];
	bool more;	/* the last inflate filled its output: zlib may hold
			 * more */
};

struct imap_io {
	int fd;
	struct tls *tls;
	struct io_deflate *z;	/* NULL until imap_io_start_deflate */
	int timeout_ms;
	char *tag;
	/* A per-connection driver table, so that nothing here is global. */
	mailstream_low_driver driver;

	/* Server side: raw bytes, the line being assembled, checked bytes
	 * waiting for libetpan, and the literal being passed through. */
	char in[16384];
	size_t in_pos, in_len;
	struct buf line;
	struct buf out;
	size_t out_pos;
	uint64_t lit_left;
	uint64_t resp_bytes, resp_lits;	/* this response so far */
	uint64_t lit_max;	/* the largest literal taken; 0: the most */
	/* FETCH responses handed over one by one count one at a time */
	bool each_fetch, resp_fetch;
	uint64_t mark_bytes, mark_lits;	/* the counts before this one */
	unsigned long nlines;
	bool permflags_ok;
	char tagged[512];
	char copyuid[512];	/* last [COPYUID ...] status text */
	bool lit_nul;		/* a NUL byte came inside a literal */
	bool resp_cont;		/* the line goes on a response after a
				 * literal */
	uint32_t vanished;	/* UIDs VANISHED since the last EXISTS */
	bool keep_status;	/* keep "* STATUS" lines in status_lines */
	struct strv status_lines;

	/* Client side, for the trace only. */
	struct buf cline;
	uint64_t clit_left;
	bool secret;
	unsigned secret_lines;

	/* The first failure; the stream is dead after it. */
	enum err_code fail_code;
	char fail_msg[600];
};

static int
io_fail(struct imap_io *io, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
io_fail(struct imap_io *io, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (io->fail_code != ERR_OK)
		return -1;
	io->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(io->fail_msg, sizeof(io->fail_msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r;
}

/* ---- connection ------------------------------------------------------ */

int
imap_io_connect(const char *host, int port, int timeout_s, const char *tag,
    struct imap_io **out, struct err *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[16], why[256] = "no address";
	struct imap_io *io;
	int fd = -1, r;

	*out = NULL;
	if (timeout_s <= 0)
		timeout_s = 30;
	snprintf(portstr, sizeof(portstr), "%d", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0)
		return err_set(e, ERR_TEMP, "cannot resolve %s: %s", host,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			snprintf(why, sizeof(why), "socket: %s",
			    strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			r = wait_fd(fd, POLLOUT, timeout_s * 1000);
			if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &soerr, &len) == 0 && soerr == 0)
				break;
			if (r == 0)
				snprintf(why, sizeof(why),
				    "timed out after %d s", timeout_s);
			else
				snprintf(why, sizeof(why), "%s",
				    strerror(r > 0 ? soerr : errno));
		} else {
			snprintf(why, sizeof(why), "%s", strerror(errno));
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_set(e, ERR_TEMP, "cannot connect to %s port %d: %s",
		    host, port, why);

	io = xcalloc(1, sizeof(*io));
	io->fd = fd;
	io->timeout_ms = timeout_s * 1000;
	io->tag = xstrdup(tag);
	*out = io;
	return 0;
}

int
imap_io_start_tls(struct imap_io *io, const char *host, const char *ca_file,
    const char *fingerprint, struct err *e)
{
	struct tls_params p = {
		.host = host,
		.ca_file = ca_file,
		.fingerprint = fingerprint,
		.timeout_ms = io->timeout_ms,
	};

	if (io->tls != NULL)
		return err_set(e, ERR_FAIL, "TLS is already active");
	return tls_connect(io->fd, &p, &io->tls, e);
}

void
imap_io_set_secret(struct imap_io *io, bool on)
{
	io->secret = on;
	io->secret_lines = 0;
	if (!on && io->cline.data != NULL)
		explicit_bzero(io->cline.data, io->cline.cap);
}

void
imap_io_allow_permflags(struct imap_io *io, bool on)
{
	io->permflags_ok = on;
}

const char *
imap_io_error(const struct imap_io *io, enum err_code *code)
{
	if (io->fail_code == ERR_OK)
		return NULL;
	if (code != NULL)
		*code = io->fail_code;
	return io->fail_msg;
}

bool
imap_io_take_literal_nul(struct imap_io *io)
{
	bool seen = io->lit_nul;

	io->lit_nul = false;
	return seen;
}

const char *
imap_io_take_copyuid(struct imap_io *io, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", io->copyuid);
	io->copyuid[0] = '\0';
	return out;
}

uint32_t
imap_io_take_vanished(struct imap_io *io)
{
	uint32_t n = io->vanished;

	io->vanished = 0;
	return n;
}

void
imap_io_keep_status(struct imap_io *io, bool on)
{
	io->keep_status = on;
}

void
imap_io_take_status_lines(struct imap_io *io, struct strv *out)
{
	*out = io->status_lines;
	memset(&io->status_lines, 0, sizeof(io->status_lines));
}

void
imap_io_literal_max(struct imap_io *io, uint64_t max)
{
	io->lit_max = max < IMAP_IO_LITERAL_MAX ? max : 0;
}

void
imap_io_each_fetch(struct imap_io *io, bool on)
{
	io->each_fetch = on;
}

const char *
imap_io_last_tagged(const struct imap_io *io)
{
	return io->tagged;
}

void
imap_io_free(struct imap_io **iop)
{
	struct imap_io *io = *iop;

	if (io == NULL)
		return;
	if (io->z != NULL) {
		inflateEnd(&io->z->in);
		deflateEnd(&io->z->out);
		free(io->z);
	}
	tls_free(&io->tls);
	if (io->fd >= 0)
		close(io->fd);
	buf_free(&io->line);
	buf_free(&io->out);
	buf_free(&io->cline);
	strv_free(&io->status_lines);
	free(io->tag);
	free(io);
	*iop = NULL;
}

/* ---- raw I/O --------------------------------------------------------- */

static ssize_t
raw_read(struct imap_io *io, void *p, size_t n)
{
	struct err e;
	ssize_t r;

	if (io->tls != NULL) {
		r = tls_read(io->tls, p, n, io->timeout_ms, &e);
		if (r < 0)
			return io_fail(io, e.code, "%s", e.msg);
	} else {
		for (;;) {
			r = recv(io->fd, p, n, 0);
			if (r >= 0)
				break;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return io_fail(io, ERR_TEMP, "read: %s",
				    strerror(errno));
			r = wait_fd(io->fd, POLLIN, io->timeout_ms);
			if (r == 0)
				return io_fail(io, ERR_TEMP,
				    "no data from the server for %d s",
				    io->timeout_ms / 1000);
			if (r < 0)
				return io_fail(io, ERR_TEMP, "poll: %s",
				    strerror(errno));
		}
	}
	/* libetpan 1.9.4 treats a 0-byte read inside a literal as "try
	 * again" and spins at 100% CPU: the end of the stream is an error. */
	if (r == 0)
		return io_fail(io, ERR_TEMP,
		    "the server closed the connection%s", io->lit_left > 0 ?
		    " in the middle of a literal" : "");
	return r;
}

static ssize_t
raw_write(struct imap_io *io, const void *p, size_t n)
{
	struct err e;
	ssize_t r;

	if (io->tls != NULL) {
		r = tls_write(io->tls, p, n, io->timeout_ms, &e);
		if (r < 0)
			return io_fail(io, e.code, "%s", e.msg);
		return r;
	}
	for (;;) {
		r = send(io->fd, p, n, MSG_NOSIGNAL);
		if (r > 0)
			return r;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return io_fail(io, ERR_TEMP, "write: %s",
			    strerror(errno));
		r = wait_fd(io->fd, POLLOUT, io->timeout_ms);
		if (r == 0)
			return io_fail(io, ERR_TEMP,
			    "the server accepted no data for %d s",
			    io->timeout_ms / 1000);
		if (r < 0)
			return io_fail(io, ERR_TEMP, "poll: %s",
			    strerror(errno));
	}
}

/* ---- compression (RFC 4978) ----------------------------------------- */

/* Inflate what is already here into p; the bytes made, or -1. */
static ssize_t
inflate_some(struct imap_io *io, void *p, size_t n)
{
	struct io_deflate *z = io->z;
	int r;

	z->in.next_out = p;
	z->in.avail_out = (uInt)n;
	r = inflate(&z->in, Z_SYNC_FLUSH);
	/* Dovecot ends the stream after its reply to LOGOUT: like the end
	 * of the connection, it is an error only when more is wanted. */
	if (r == Z_STREAM_END && z->in.avail_out == n)
		return io_fail(io, ERR_TEMP, "the server ended its compressed "
		    "stream");
	if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
		return io_fail(io, ERR_FAIL, "corrupt compressed data from the "
		    "server (%s)", z->in.msg != NULL ? z->in.msg : zError(r));
	z->more = z->in.avail_out == 0;
	return (ssize_t)(n - z->in.avail_out);
}

static ssize_t
inflate_read(struct imap_io *io, void *p, size_t n)
{
	struct io_deflate *z = io->z;
	ssize_t r;

	for (;;) {
		r = inflate_some(io, p, n);
		if (r != 0)
			return r;
		r = raw_read(io, z->zin, sizeof(z->zin));
		if (r < 0)
			return -1;
		z->in.next_in = z->zin;
		z->in.avail_in = (uInt)r;
	}
}

/* Whether what zlib holds inflates to anything (put in io->in, which is
 * empty); a block cut short waits for the socket like any other byte. */
static bool
inflate_pending(struct imap_io *io)
{
	ssize_t r;

	if (io->z->in.avail_in == 0 && !io->z->more)
		return false;
	r = inflate_some(io, io->in, sizeof(io->in));
	io->in_pos = 0;
	io->in_len = r > 0 ? (size_t)r : 0;
	/* A failure is news too: the reader is the one to report it. */
	return r != 0;
}

static int
write_all(struct imap_io *io, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = raw_write(io, p, n);

		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t
deflate_write(struct imap_io *io, const void *p, size_t n)
{
	struct io_deflate *z = io->z;
	size_t left = n;
	int flush, r;

	/* avail_in is a uInt: a huge APPEND goes in slices, flushed once. */
	z->out.next_in = p;
	do {
		z->out.avail_in = (uInt)(left < 65536 ? left : 65536);
		left -= z->out.avail_in;
		flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		do {
			z->out.next_out = z->zout;
			z->out.avail_out = sizeof(z->zout);
			r = deflate(&z->out, flush);
			if (r != Z_OK && r != Z_BUF_ERROR)
				return io_fail(io, ERR_FAIL, "compression "
				    "failed (%s)", zError(r));
			if (write_all(io, z->zout, sizeof(z->zout) -
			    z->out.avail_out) < 0)
				return -1;
		} while (z->out.avail_out == 0 || z->out.avail_in > 0);
	} while (left > 0);
	return (ssize_t)n;
}

int
imap_io_start_deflate(struct imap_io *io)
{
	struct io_deflate *z;

	if (io->z != NULL)
		return io_fail(io, ERR_FAIL, "compression is already on");
	z = xcalloc(1, sizeof(*z));
	/* RFC 4978 uses raw deflate (RFC 1951): no zlib header. */
	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		return io_fail(io, ERR_FAIL, "cannot start decompression");
	}
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&z->in);
		free(z);
		return io_fail(io, ERR_FAIL, "cannot start compression");
	}
	/* What the server sent after its OK, in the same read, is
	 * compressed already (fill stops at a tagged line). */
	memcpy(z->zin, io->in + io->in_pos, io->in_len - io->in_pos);
	z->in.next_in = z->zin;
	z->in.avail_in = (uInt)(io->in_len - io->in_pos);
	io->in_pos = io->in_len = 0;
	io->z = z;
	if (log_debug) {
		static const char note[] = "COMPRESS=DEFLATE is on; the trace "
		    "goes on uncompressed";

		log_trace(io->tag, "*", note, strlen(note));
	}
	return 0;
}

bool
imap_io_has_input(struct imap_io *io)
{
	char c;

	if (io->out_pos < io->out.len || io->in_pos < io->in_len ||
	    io->line.len > 0 || io->lit_left > 0)
		return true;
	if (io->z != NULL && inflate_pending(io))
		return true;
	if (io->tls != NULL)
		return tls_pending(io->tls);
	return recv(io->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* ---- server lines ---------------------------------------------------- */

static void
trace(struct imap_io *io, const char *dir, const char *p, size_t n)
{
	char *t;

	if (!log_debug)
		return;
	if (n <= TRACE_MAX) {
		log_trace(io->tag, dir, p, n);
		return;
	}
	t = xasprintf("%.*s... (%zu bytes)", TRACE_MAX, p, n);
	log_trace(io->tag, dir, t, strlen(t));
	free(t);
}

/* Length of the token at p (up to a space or the end). */
static size_t
token_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != ' ')
		i++;
	return i;
}

static bool
token_is(const char *p, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(p, word, len) == 0;
}

/*
 * For a status response ("* OK ...", "TAG NO ...", "* BYE ..."), the
 * offset of its resp-text; 0 for any other line.
 */
static size_t
status_text_offset(const char *p, size_t n, bool *tagged)
{
	size_t t1 = token_len(p, n), t2;

	if (t1 == 0 || t1 >= n || p[0] == '+')
		return 0;
	t2 = token_len(p + t1 + 1, n - t1 - 1);
	if (!token_is(p + t1 + 1, t2, "OK") &&
	    !token_is(p + t1 + 1, t2, "NO") &&
	    !token_is(p + t1 + 1, t2, "BAD") &&
	    !token_is(p + t1 + 1, t2, "BYE") &&
	    !token_is(p + t1 + 1, t2, "PREAUTH"))
		return 0;
	*tagged = !(t1 == 1 && p[0] == '*');
	return t1 + 1 + t2 + (t1 + 1 + t2 < n ? 1 : 0);
}

static bool
is_atom_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("(){ %*\"\\]", c) == NULL;
}

/*
 * p points at "[PERMANENTFLAGS": the offset just past its "]" if it is
 * well formed (RFC 3501: "(" [flag-perm *(SP flag-perm)] ")"), else 0.
 */
static size_t
permflags_end(const char *p, size_t n)
{
	size_t i = strlen("[PERMANENTFLAGS");

	if (i + 2 > n || p[i] != ' ' || p[i + 1] != '(')
		return 0;
	i += 2;
	if (i < n && p[i] == ')')
		goto close;
	for (;;) {
		size_t start;

		if (i < n && p[i] == '\\') {
			i++;
			if (i < n && p[i] == '*') {
				i++;
				goto next;
			}
		}
		start = i;
		while (i < n && is_atom_char((unsigned char)p[i]))
			i++;
		if (i == start)
			return 0;
next:
		if (i < n && p[i] == ')')
			break;
		if (i + 1 < n && p[i] == ' ' && p[i + 1] != ' ' &&
		    p[i + 1] != ')') {
			i++;
			continue;
		}
		return 0;
	}
close:
	if (i + 1 < n && p[i] == ')' && p[i + 1] == ']')
		return i + 2;
	return 0;
}

/* The size N of a literal "{N}" / "{N+}" / "~{N}" ending the line, if any. */
static bool
literal_at_end(const char *p, size_t n, uint64_t *size)
{
	size_t i;
	uint64_t v = 0;

	if (n < 3 || p[n - 1] != '}')
		return false;
	i = n - 1;
	if (p[i - 1] == '+')
		i--;
	while (i > 0 && isdigit((unsigned char)p[i - 1]))
		i--;
	if (i == 0 || p[i - 1] != '{' || i == n - 1 ||
	    (p[n - 2] == '+' && i == n - 2))
		return false;
	for (size_t j = i; j < n && isdigit((unsigned char)p[j]); j++) {
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + (uint64_t)(p[j] - '0');
	}
	*size = v;
	return true;
}

/* An nz-number at p[*i..n) (RFC 3501), moving *i past it; 0 if none. */
static uint32_t
nz_number(const char *p, size_t n, size_t *i)
{
	uint64_t v = 0;

	while (*i < n && isdigit((unsigned char)p[*i]) && v <= UINT32_MAX)
		v = v * 10 + (uint64_t)(p[(*i)++] - '0');
	return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/*
 * libetpan 1.9.4 counts each EXPUNGE off its EXISTS, but not VANISHED
 * (RFC 7162 section 3.2.10), which replaces EXPUNGE for the whole session
 * once QRESYNC is enabled.  Untagged line p[0..n) starts a response: keep
 * the number of UIDs that VANISHED (without EARLIER, which only reports
 * the past) took away since the last EXISTS; EXISTS is absolute, so it
 * starts the count again.  -1 for a VANISHED whose UIDs cannot be read.
 */
static int
count_vanished(struct imap_io *io, const char *p, size_t n)
{
	size_t i = 2, len = token_len(p + 2, n - 2);
	uint64_t total = io->vanished;

	if (isdigit((unsigned char)p[2])) {
		i += len + 1;
		if (i < n && token_is(p + i, token_len(p + i, n - i),
		    "EXISTS"))
			io->vanished = 0;
		return 0;
	}
	if (!token_is(p + 2, len, "VANISHED"))
		return 0;
	i += len + 1;
	if (i >= n)
		return io_fail(io, ERR_FAIL, "malformed VANISHED response "
		    "from the server");
	if (n - i >= 9 && strncasecmp(p + i, "(EARLIER)", 9) == 0)
		return 0;
	while (i < n) {
		uint32_t lo = nz_number(p, n, &i), hi = lo;

		if (lo != 0 && i < n && p[i] == ':') {
			i++;
			hi = nz_number(p, n, &i);
		}
		if (lo == 0 || hi == 0 || (i < n && (p[i] != ',' ||
		    ++i == n)))
			return io_fail(io, ERR_FAIL, "malformed VANISHED "
			    "response from the server");
		total += (lo < hi ? hi - lo : lo - hi) + 1ull;
	}
	io->vanished = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
	return 0;
}

static void
keep_tagged(struct imap_io *io, const char *p, size_t n)
{
	size_t i;

	if (n >= sizeof(io->tagged))
		n = sizeof(io->tagged) - 1;
	for (i = 0; i < n; i++)
		io->tagged[i] = ((unsigned char)p[i] < ' ' || p[i] == 0x7f) ?
		    '?' : p[i];
	io->tagged[i] = '\0';
}

/* Whether p[0..n) starts a FETCH response: "* <number> FETCH ...". */
static bool
is_fetch(const char *p, size_t n)
{
	size_t i = 2;

	if (n < 2 || p[0] != '*' || p[1] != ' ')
		return false;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	if (i == 2 || i >= n || p[i] != ' ')
		return false;
	i++;
	return token_is(p + i, token_len(p + i, n - i), "FETCH");
}

/* A complete line (CRLF included) is in io->line: check it and pass it.
 * 1 for a tagged status response, else 0, or -1. */
static int
line_done(struct imap_io *io)
{
	const char *p = io->line.data;
	size_t n = io->line.len, text;
	bool tagged = false, first = io->nlines++ == 0;
	bool start = !io->resp_cont;
	uint64_t lit;

	io->resp_cont = false;
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (start)
		io->resp_fetch = io->each_fetch && is_fetch(p, n);
	trace(io, "S", p, n);
	text = status_text_offset(p, n, &tagged);
	if (tagged)
		keep_tagged(io, p, n);
	if (start && text == 0 && n > 2 && p[0] == '*' && p[1] == ' ' &&
	    count_vanished(io, p, n) < 0)
		return -1;
	/* libetpan keeps only the last STATUS of a response; LIST-STATUS
	 * sends one per folder.  A line cut by a literal is not kept. */
	if (io->keep_status && start && n > 9 &&
	    strncasecmp(p, "* STATUS ", 9) == 0 && p[n - 1] == ')') {
		char *l = xmalloc(n + 1);

		memcpy(l, p, n);
		l[n] = '\0';
		strv_add_owned(&io->status_lines, l);
	}
	/* RFC 6851 sends COPYUID for MOVE in an untagged OK, which libetpan
	 * does not keep: remember it here. */
	if (text > 0 && n - text >= 9 &&
	    strncasecmp(p + text, "[COPYUID ", 9) == 0) {
		size_t k = n - text < sizeof(io->copyuid) - 1 ? n - text :
		    sizeof(io->copyuid) - 1;

		memcpy(io->copyuid, p + text, k);
		io->copyuid[k] = '\0';
	}
	if (tagged || p[0] == '+')
		io->resp_bytes = io->resp_lits = 0;

	if (text > 0 && n - text >= 15 &&
	    strncasecmp(p + text, "[PERMANENTFLAGS", 15) == 0) {
		size_t end = permflags_end(p + text, n - text);

		/* libetpan 1.9.4 dereferences NULL on these: in the
		 * greeting (no selection yet) and when its parser fails
		 * inside the list.  Refuse those; outside a selected
		 * mailbox, hide even well-formed ones from it. */
		if (first)
			return io_fail(io, ERR_FAIL, "the server greeting "
			    "carries a PERMANENTFLAGS response code "
			    "(protocol violation)");
		if (end == 0)
			return io_fail(io, ERR_FAIL, "malformed PERMANENTFLAGS "
			    "response code from the server");
		if (!io->permflags_ok) {
			if (!tagged)
				goto consumed;
			buf_add(&io->out, p, text);
			end += text;
			while (end < n && p[end] == ' ')
				end++;
			if (end < n)
				buf_add(&io->out, p + end, n - end);
			else
				buf_adds(&io->out, "done");
			buf_add(&io->out, "\r\n", 2);
			goto consumed;
		}
	}
	if (first && text > 0 && tagged == false && n >= 5 &&
	    strncasecmp(p + 2, "BYE", 3) == 0)
		return io_fail(io, ERR_TEMP, "the server refused the session: "
		    "%.*s", (int)(n - text), p + text);

	/* Status responses carry no literals; elsewhere a trailing {N}
	 * announces N bytes that are passed through unparsed. */
	if (text == 0 && p[0] != '+' && literal_at_end(p, n, &lit)) {
		uint64_t max = io->lit_max ? io->lit_max : IMAP_IO_LITERAL_MAX;

		if (lit > max)
			return io_fail(io, ERR_FAIL, "the server announced a "
			    "literal of %llu bytes (limit %llu)",
			    (unsigned long long)lit, (unsigned long long)max);
		io->resp_lits += lit;
		if (io->resp_lits > IMAP_IO_LITERAL_MAX)
			return io_fail(io, ERR_FAIL, "the server sent more "
			    "than %llu bytes of literals in one response",
			    (unsigned long long)IMAP_IO_LITERAL_MAX);
		io->lit_left = lit;
		io->resp_cont = true;
		if (log_debug && lit > 0) {
			char note[64];

			snprintf(note, sizeof(note), "<%llu bytes>",
			    (unsigned long long)lit);
			log_trace(io->tag, "S", note, strlen(note));
		}
	}
	/* a FETCH response handed over is not kept: forget its size */
	if (!io->resp_cont && io->resp_fetch) {
		io->resp_bytes = io->mark_bytes;
		io->resp_lits = io->mark_lits;
	}
	buf_add(&io->out, io->line.data, io->line.len);
consumed:
	buf_reset(&io->line);
	return tagged ? 1 : 0;
}

/*
 * Whether a line that starts with p[0..n) may run past IMAP_IO_LINE_MAX
 * (up to the limit on a response): VANISHED (EARLIER), answering
 * CHANGEDSINCE, names every message expunged since, one by one where
 * they were scattered (200,000 of them take 1.3 MB).
 */
static bool
may_be_long(const char *p, size_t n)
{
	return n >= 11 && strncasecmp(p, "* VANISHED ", 11) == 0;
}

/* Read more from the server and move what passes the checks to out. */
static int
fill(struct imap_io *io)
{
	ssize_t r;

	if (io->in_pos == io->in_len) {
		r = io->z != NULL ? inflate_read(io, io->in, sizeof(io->in)) :
		    raw_read(io, io->in, sizeof(io->in));
		if (r < 0)
			return -1;
		io->in_pos = 0;
		io->in_len = (size_t)r;
	}
	while (io->in_pos < io->in_len) {
		const char *p = io->in + io->in_pos, *lf;
		size_t avail = io->in_len - io->in_pos, take;

		if (io->lit_left > 0) {
			take = avail < io->lit_left ? avail :
			    (size_t)io->lit_left;
			if (memchr(p, '\0', take) != NULL)
				io->lit_nul = true;
			buf_add(&io->out, p, take);
			io->in_pos += take;
			io->lit_left -= take;
			continue;
		}
		lf = memchr(p, '\n', avail);
		take = lf != NULL ? (size_t)(lf - p) + 1 : avail;
		if (io->line.len + take > IMAP_IO_LINE_MAX &&
		    !may_be_long(io->line.len > 0 ? io->line.data : p,
		    io->line.len > 0 ? io->line.len : take))
			return io_fail(io, ERR_FAIL, "the server sent a line "
			    "longer than %d bytes", IMAP_IO_LINE_MAX);
		/* libetpan keeps a whole response in memory */
		if (io->line.len == 0 && !io->resp_cont) {
			io->mark_bytes = io->resp_bytes;
			io->mark_lits = io->resp_lits;
		}
		io->resp_bytes += take;
		if (io->resp_bytes > IMAP_IO_RESPONSE_MAX)
			return io_fail(io, ERR_FAIL, "the server sent more "
			    "than %d bytes in one response",
			    IMAP_IO_RESPONSE_MAX);
		buf_add(&io->line, p, take);
		io->in_pos += take;
		if (lf == NULL)
			continue;
		r = line_done(io);
		if (r < 0)
			return -1;
		/* After a tagged reply the layer below may change (STARTTLS,
		 * COMPRESS): what follows is not read as plain text yet. */
		if (r > 0)
			break;
	}
	return 0;
}

static ssize_t
drv_read(mailstream_low *low, void *p, size_t count)
{
	struct imap_io *io = low->data;
	size_t n;

	while (io->out_pos == io->out.len) {
		buf_reset(&io->out);
		io->out_pos = 0;
		if (io->fail_code != ERR_OK || fill(io) < 0) {
			if (io->out.len > 0)
				break;
			return -1;
		}
	}
	n = io->out.len - io->out_pos;
	if (n > count)
		n = count;
	memcpy(p, io->out.data + io->out_pos, n);
	io->out_pos += n;
	return (ssize_t)n;
}

/* ---- client lines (trace only) --------------------------------------- */

static void
trace_client_line(struct imap_io *io)
{
	const char *p = io->cline.data;
	size_t n = io->cline.len, keep, t;
	uint64_t lit;
	char *masked;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (io->secret) {
		/* Tag and command (and the SASL mechanism) only. */
		if (io->secret_lines++ == 0) {
			keep = token_len(p, n);
			if (keep < n) {
				t = token_len(p + keep + 1, n - keep - 1);
				if (token_is(p + keep + 1, t, "AUTHENTICATE") &&
				    keep + 1 + t < n)
					t += 1 + token_len(p + keep + 2 + t,
					    n - keep - 2 - t);
				keep += 1 + t;
			}
		} else {
			keep = 0;
		}
		masked = xasprintf("%.*s%s****", (int)keep, p,
		    keep > 0 ? " " : "");
		if (keep >= n)
			masked[keep] = '\0';
		log_trace(io->tag, "C", masked, strlen(masked));
		free(masked);
	} else {
		trace(io, "C", p, n);
	}
	if (literal_at_end(p, n, &lit) && lit > 0) {
		io->clit_left = lit;
		if (!io->secret) {
			char note[64];

			snprintf(note, sizeof(note), "<%llu bytes>",
			    (unsigned long long)lit);
			log_trace(io->tag, "C", note, strlen(note));
		}
	}
	buf_reset(&io->cline);
}

static void
trace_client(struct imap_io *io, const char *p, size_t n)
{
	while (n > 0) {
		const char *lf;
		size_t take;

		if (io->clit_left > 0) {
			take = n < io->clit_left ? n : (size_t)io->clit_left;
			io->clit_left -= take;
			p += take;
			n -= take;
			continue;
		}
		lf = memchr(p, '\n', n);
		take = lf != NULL ? (size_t)(lf - p) + 1 : n;
		if (io->cline.len < 65536)
			buf_add(&io->cline, p, take);
		p += take;
		n -= take;
		if (lf != NULL)
			trace_client_line(io);
	}
}

static ssize_t
drv_write(mailstream_low *low, const void *p, size_t count)
{
	struct imap_io *io = low->data;
	ssize_t r;

	if (io->fail_code != ERR_OK)
		return -1;
	r = io->z != NULL ? deflate_write(io, p, count) :
	    raw_write(io, p, count);
	if (r > 0 && log_debug)
		trace_client(io, p, (size_t)r);
	return r;
}

/* ---- the rest of the driver ------------------------------------------ */

static int
drv_close(mailstream_low *low)
{
	(void)low;
	return 0;
}

static int
drv_get_fd(mailstream_low *low)
{
	struct imap_io *io = low->data;

	return io->fd;
}

static void
drv_free(mailstream_low *low)
{
	free(low);
}

static struct mailstream_cancel *
drv_get_cancel(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static carray *
drv_get_certificate_chain(mailstream_low *low)
{
	(void)low;
	return NULL;
}

static int
drv_idle_unsupported(mailstream_low *low)
{
	(void)low;
	return -1;
}

struct _mailstream *
imap_io_stream(struct imap_io *io)
{
	mailstream_low *low;
	mailstream *s;

	io->driver = (mailstream_low_driver){
		.mailstream_read = drv_read,
		.mailstream_write = drv_write,
		.mailstream_close = drv_close,
		.mailstream_get_fd = drv_get_fd,
		.mailstream_free = drv_free,
		.mailstream_cancel = NULL,
		.mailstream_get_cancel = drv_get_cancel,
		.mailstream_get_certificate_chain = drv_get_certificate_chain,
		.mailstream_setup_idle = drv_idle_unsupported,
		.mailstream_unsetup_idle = drv_idle_unsupported,
		.mailstream_interrupt_idle = drv_idle_unsupported,
	};
	low = mailstream_low_new(io, &io->driver);
	if (low == NULL)
		return NULL;
	s = mailstream_new(low, 8192);
	if (s == NULL)
		free(low);
	return s;
}

/* ---- raw commands -------------------------------------------------- */

int
imap_cmd_add(struct mailimap *imap, const void *p, size_t n)
{
	if (n > 0 && mailstream_write(imap->imap_stream, p, n) < 0)
		return MAILIMAP_ERROR_STREAM;
	return MAILIMAP_NO_ERROR;
}

int
imap_cmd_begin(struct mailimap *imap, const char *text)
{
	int r = mailimap_send_current_tag(imap);

	if (r != MAILIMAP_NO_ERROR)
		return r;
	return imap_cmd_add(imap, text, strlen(text));
}

int
imap_cmd_parse(struct mailimap *imap)
{
	struct mailimap_response *resp;
	int r, type;

	r = mailimap_parse_response(imap, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	type = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state
	    ->rsp_type;
	mailimap_response_free(resp);
	return type == MAILIMAP_RESP_COND_STATE_OK ? MAILIMAP_NO_ERROR :
	    MAILIMAP_ERROR_CUSTOM_COMMAND;
}

int
imap_cmd_flush_read(struct mailimap *imap)
{
	if (mailstream_flush(imap->imap_stream) < 0)
		return MAILIMAP_ERROR_STREAM;
	if (mailimap_read_line(imap) == NULL)
		return MAILIMAP_ERROR_STREAM;
	return MAILIMAP_NO_ERROR;
}

bool
imap_cmd_continuation(struct mailimap *imap)
{
	return imap->imap_stream_buffer->len > 0 &&
	    imap->imap_stream_buffer->str[0] == '+';
}

/* Whether the line read is untagged data without a literal. */
static bool
untagged_plain(struct mailimap *imap)
{
	const MMAPString *b = imap->imap_stream_buffer;

	return b->len > 2 && b->str[0] == '*' && b->str[1] == ' ' &&
	    !(b->len >= 3 && b->str[b->len - 3] == '}');
}

int
imap_cmd_literal_open(struct mailimap *imap, uint64_t n, bool plus)
{
	char hdr[32];
	int r;

	snprintf(hdr, sizeof(hdr), plus ? "{%" PRIu64 "+}\r\n" :
	    "{%" PRIu64 "}\r\n", n);
	if ((r = imap_cmd_add(imap, hdr, strlen(hdr))) != MAILIMAP_NO_ERROR ||
	    plus)
		return r;
	if ((r = imap_cmd_flush_read(imap)) != MAILIMAP_NO_ERROR)
		return r;
	/* A server may send untagged data before the "+" (an EXISTS for
	 * mail that just arrived): nothing an open command needs, and
	 * parsing it as the reply would wait for a tagged line the server
	 * sends only after the literal. */
	for (int i = 0; i < 1000 && untagged_plain(imap); i++)
		if (mailimap_read_line(imap) == NULL)
			return MAILIMAP_ERROR_STREAM;
	if (!imap_cmd_continuation(imap)) {
		r = imap_cmd_parse(imap);
		return r == MAILIMAP_NO_ERROR ? MAILIMAP_ERROR_PROTOCOL : r;
	}
	return MAILIMAP_NO_ERROR;
}

int
imap_cmd_literal(struct mailimap *imap, const void *p, size_t n)
{
	int r = imap_cmd_literal_open(imap, n, false);

	return r != MAILIMAP_NO_ERROR ? r : imap_cmd_add(imap, p, n);
}

int
imap_cmd_literal_plus(struct mailimap *imap, const void *p, size_t n)
{
	int r = imap_cmd_literal_open(imap, n, true);

	return r != MAILIMAP_NO_ERROR ? r : imap_cmd_add(imap, p, n);
}

static int
cmd_piece(void *imap, const void *p, size_t n)
{
	return imap_cmd_add(imap, p, n);
}

int
imap_cmd_add_crlf(struct mailimap *imap, const char *p, size_t n,
    bool *after_cr)
{
	return lf_to_crlf_piece(p, n, after_cr, cmd_piece, imap);
}

int
imap_cmd_literal_crlf(struct mailimap *imap, const char *p, size_t n,
    bool plus)
{
	int r = imap_cmd_literal_open(imap, wire_size(p, n), plus);

	return r != MAILIMAP_NO_ERROR ? r :
	    lf_to_crlf_each(p, n, cmd_piece, imap);
}

int
imap_cmd_end(struct mailimap *imap)
{
	int r;

	if ((r = imap_cmd_add(imap, "\r\n", 2)) != MAILIMAP_NO_ERROR ||
	    (r = imap_cmd_flush_read(imap)) != MAILIMAP_NO_ERROR)
		return r;
	return imap_cmd_parse(imap);
}

int
imap_cmd_send(struct mailimap *imap)
{
	int r = imap_cmd_add(imap, "\r\n", 2);

	if (r == MAILIMAP_NO_ERROR && mailstream_flush(imap->imap_stream) < 0)
		r = MAILIMAP_ERROR_STREAM;
	return r;
}

int
imap_cmd_simple(struct mailimap *imap, const char *text)
{
	int r = imap_cmd_begin(imap, text);

	return r != MAILIMAP_NO_ERROR ? r : imap_cmd_end(imap);
}

int
imap_cmd_string(struct mailimap *imap, const char *p, size_t n)
{
	struct buf b = { 0 };
	int r;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80) {
			buf_free(&b);
			return imap_cmd_literal(imap, p, n);
		}
	}
	buf_addc(&b, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			buf_addc(&b, '\\');
		buf_addc(&b, p[i]);
	}
	buf_addc(&b, '"');
	r = imap_cmd_add(imap, b.data, b.len);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return r;
}

/* ---- capabilities ---------------------------------------------------- */

bool
imap_has_cap(struct mailimap *imap, const char *name)
{
	struct mailimap_connection_info *ci = imap->imap_connection_info;
	bool auth = strncasecmp(name, "AUTH=", 5) == 0;
	clistiter *it;

	if (ci == NULL || ci->imap_capability == NULL ||
	    ci->imap_capability->cap_list == NULL)
		return false;
	for (it = clist_begin(ci->imap_capability->cap_list); it != NULL;
	    it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);

		if (auth && c->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE &&
		    c->cap_data.cap_auth_type != NULL &&
		    strcasecmp(c->cap_data.cap_auth_type, name + 5) == 0)
			return true;
		if (!auth && c->cap_type == MAILIMAP_CAPABILITY_NAME &&
		    c->cap_data.cap_name != NULL &&
		    strcasecmp(c->cap_data.cap_name, name) == 0)
			return true;
	}
	return false;
}

bool
imap_have_caps(struct mailimap *imap)
{
	struct mailimap_connection_info *ci = imap->imap_connection_info;

	return ci != NULL && ci->imap_capability != NULL;
}

void
imap_forget_caps(struct mailimap *imap)
{
	struct mailimap_connection_info *ci = imap->imap_connection_info;

	if (ci != NULL && ci->imap_capability != NULL) {
		mailimap_capability_data_free(ci->imap_capability);
		ci->imap_capability = NULL;
	}
}
