/* SPDX-License-Identifier: GPL-3.0-or-later */
/* TLS client on a connected socket; OpenSSL stays behind this header. */
#ifndef MAILSYNC_TLS_H
#define MAILSYNC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct tls;

struct tls_params {
	const char *host;	 /* DNS name or IP literal the certificate
				  * must match */
	const char *ca_file;	 /* extra trust anchor (PEM), or NULL */
	const char *fingerprint; /* 64 lowercase hex digits: accept exactly
				  * the certificate with this SHA-256 of its
				  * DER bytes, whatever its chain; or NULL */
	int timeout_ms;		 /* longest wait for any progress */
};

/*
 * Handshake (TLS >= 1.2, SNI for names) over the non-blocking socket fd,
 * then verify the peer: chain against the system store plus ca_file and
 * host name, or the pin alone.  Nothing is sent after the handshake, so a
 * failure happens before any credential.  Errors: ERR_FAIL for a rejected
 * certificate (the message names the reason and the certificate's SHA-256
 * fingerprint so the user can pin it), a failed handshake or an unreadable
 * ca_file; ERR_TEMP for a timeout or a connection closed or reset.  The fd
 * stays owned by the caller.
 */
int tls_connect(int fd, const struct tls_params *p, struct tls **out,
    struct err *e);

/* Read up to n bytes: the count, 0 at the end of the stream, or -1 with e
 * set (ERR_TEMP; a timeout says so). */
ssize_t tls_read(struct tls *t, void *buf, size_t n, int timeout_ms,
    struct err *e);
/* Write up to n bytes: the count written (> 0) or -1 with e set. */
ssize_t tls_write(struct tls *t, const void *buf, size_t n, int timeout_ms,
    struct err *e);
/* Whether bytes wait inside the TLS layer, decrypted or not yet. */
bool tls_pending(const struct tls *t);

/* Send close_notify (best effort, no waiting) and free; *tp becomes NULL. */
void tls_free(struct tls **tp);

#endif
