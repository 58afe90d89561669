/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The IMAP connection under libetpan: socket, TLS, limits, masked trace. */
#ifndef MAILSYNC_IMAP_IO_H
#define MAILSYNC_IMAP_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * libetpan is given bytes only through our own mailstream_low_driver, which
 * contains its known defects: every wait is bounded by the timeout, the end
 * of the stream is an error (libetpan 1.9.4 spins forever on an EOF inside a
 * literal), server lines are checked before libetpan parses them (size
 * caps, PERMANENTFLAGS), and it never does TLS itself.
 */
/* outside literals; a VANISHED line may be as long as a response */
#define IMAP_IO_LINE_MAX (1024 * 1024)
#define IMAP_IO_RESPONSE_MAX (32 * 1024 * 1024)	/* lines of a response */
#define IMAP_IO_LITERAL_MAX (512ull * 1024 * 1024) /* a literal; all the
						    * literals of a response */

struct imap_io;
struct _mailstream;

/* Connect to host:port (DNS name or IP literal) within timeout_s.  Any
 * failure is ERR_TEMP ("server unreachable").  tag prefixes trace lines. */
int imap_io_connect(const char *host, int port, int timeout_s,
    const char *tag, struct imap_io **out, struct err *e);

/* Run the TLS handshake on the connection and verify the server (see
 * tls_connect); fingerprint and ca_file may be NULL. */
int imap_io_start_tls(struct imap_io *io, const char *host,
    const char *ca_file, const char *fingerprint, struct err *e);

/* Compress both ways from the next byte (RFC 4978 DEFLATE), under the
 * checks and the trace, which go on seeing plain IMAP; call it right
 * after the server's OK to COMPRESS DEFLATE.  -1 with the reason in
 * imap_io_error (the stream is dead then). */
int imap_io_start_deflate(struct imap_io *io);

/* Whether bytes from the server are waiting unread anywhere below
 * libetpan's own buffer (driver buffers, decompressor, TLS layer,
 * socket). */
bool imap_io_has_input(struct imap_io *io);

/* A new libetpan stream over the connection (NULL when out of memory).
 * Closing or freeing the stream leaves the connection to imap_io_free. */
struct _mailstream *imap_io_stream(struct imap_io *io);

/* While on, client lines are traced with everything after the command
 * (and the SASL mechanism) replaced by "****". */
void imap_io_set_secret(struct imap_io *io, bool on);
/* While off, a well-formed PERMANENTFLAGS response code never reaches
 * libetpan (it only belongs to a selected mailbox); a malformed one, or
 * one in the greeting, is always an error. */
void imap_io_allow_permflags(struct imap_io *io, bool on);

/* Until set again, a literal over max bytes is refused before it is read
 * (0, or more than IMAP_IO_LITERAL_MAX: that). */
void imap_io_literal_max(struct imap_io *io, uint64_t max);

/* While on, the limits on lines and literals apply to each FETCH
 * response by itself rather than to all of a command's responses:
 * libetpan hands each over as it is parsed (imap_each_message), so a
 * FETCH of many messages never holds them all. */
void imap_io_each_fetch(struct imap_io *io, bool on);

/* Why the stream failed (timeout, end of stream, over-long line, hostile
 * response...), or NULL; *code gets its class (ERR_TEMP or ERR_FAIL). */
const char *imap_io_error(const struct imap_io *io, enum err_code *code);
/* The last tagged status line from the server ("7 NO [CODE] text"),
 * control characters replaced, without CRLF; "" if none yet. */
const char *imap_io_last_tagged(const struct imap_io *io);
/* Whether a literal held a NUL byte since the last call (libetpan reads
 * names as C strings: a NUL would silently cut a folder name short). */
bool imap_io_take_literal_nul(struct imap_io *io);
/* The "[COPYUID ...] text" of the last status response that carried one
 * (tagged or not), copied into out and forgotten; "" if none since. */
const char *imap_io_take_copyuid(struct imap_io *io, char *out,
    size_t outsz);

/* How many UIDs VANISHED responses (RFC 7162 section 3.2.10, without
 * EARLIER) took away since the last EXISTS response, forgotten by the
 * call: libetpan 1.9.4 counts them off no message count. */
uint32_t imap_io_take_vanished(struct imap_io *io);

/* While on, the "* STATUS" lines the server sends are kept, whole (ones
 * that carry a literal are not); take them (clearing the list) into out. */
void imap_io_keep_status(struct imap_io *io, bool on);
struct strv;
void imap_io_take_status_lines(struct imap_io *io, struct strv *out);

/* Close the connection; *iop becomes NULL. */
void imap_io_free(struct imap_io **iop);

/*
 * Raw commands on a libetpan session, for what its API cannot send the way
 * we need (SASL-IR, literals we control, APPEND with exact bytes).  Each
 * returns a MAILIMAP_* code; the responses go through libetpan's parser,
 * so its state (capabilities, selection) follows.  A command is
 * imap_cmd_begin (tag and text), then imap_cmd_add / imap_cmd_string /
 * imap_cmd_literal pieces, then imap_cmd_end (CRLF, wait for the tagged
 * reply: NO_ERROR for OK, MAILIMAP_ERROR_CUSTOM_COMMAND for NO).
 */
struct mailimap;
int imap_cmd_begin(struct mailimap *imap, const char *text);
int imap_cmd_add(struct mailimap *imap, const void *p, size_t n);
/* An astring: quoted when possible, else a synchronizing literal. */
int imap_cmd_string(struct mailimap *imap, const char *p, size_t n);
/* Announce a literal of n bytes: "{n+}" (LITERAL+), or "{n}" and the
 * server's go-ahead (else its refusal); its bytes are for the caller to
 * add. */
int imap_cmd_literal_open(struct mailimap *imap, uint64_t n, bool plus);
/* A piece of LF-ended text, with CRLF line ends; *after_cr as for
 * lf_to_crlf_piece. */
int imap_cmd_add_crlf(struct mailimap *imap, const char *p, size_t n,
    bool *after_cr);
/* "{n}", the server's "+" (else its refusal), then the bytes as they are. */
int imap_cmd_literal(struct mailimap *imap, const void *p, size_t n);
/* "{n+}" and the bytes without waiting (LITERAL+, RFC 7888). */
int imap_cmd_literal_plus(struct mailimap *imap, const void *p, size_t n);
/* A literal of LF-ended text, sent with CRLF line ends as it goes (no
 * copy of it is made); plus: LITERAL+. */
int imap_cmd_literal_crlf(struct mailimap *imap, const char *p, size_t n,
    bool plus);
int imap_cmd_end(struct mailimap *imap);
/* CRLF and flush, without waiting: the answer is read later with
 * imap_cmd_flush_read and imap_cmd_parse, before any other command. */
int imap_cmd_send(struct mailimap *imap);
/* begin + end for a command without arguments to send. */
int imap_cmd_simple(struct mailimap *imap, const char *text);
/* Flush what was sent and read one line into libetpan's buffer. */
int imap_cmd_flush_read(struct mailimap *imap);
/* Whether that line is a continuation request ("+ ..."). */
bool imap_cmd_continuation(struct mailimap *imap);
/* Parse the response whose first line was read: as imap_cmd_end. */
int imap_cmd_parse(struct mailimap *imap);

/* Capabilities as libetpan last recorded them ("AUTH=PLAIN" matches the
 * mechanism); imap_forget_caps drops them. */
bool imap_has_cap(struct mailimap *imap, const char *name);
bool imap_have_caps(struct mailimap *imap);
void imap_forget_caps(struct mailimap *imap);

#endif
