/* SPDX-License-Identifier: GPL-3.0-or-later */
/* OpenSSL client sessions over a non-blocking socket, with verification. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "util.h"

/* Room for several 16 KiB TLS records per recv(2). */
#define TLS_READ_BUFFER (128u << 10)

struct tls {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO_METHOD *meth;
	int fd;
	bool system_later;	/* the system store is loaded only if needed */
};

/*
 * Our own socket BIO: OpenSSL's writes with write(2), which raises SIGPIPE
 * when the server has gone; send(MSG_NOSIGNAL) turns that into EPIPE.
 */
static int
bio_sock_write(BIO *b, const char *buf, int n)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_write(b);
	return (int)r;
}

static int
bio_sock_read(BIO *b, char *buf, int n)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = recv(fd, buf, (size_t)n, 0);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_read(b);
	return (int)r;
}

static long
bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* poll(2) for one fd: 1 ready, 0 timed out, -1 error (errno). */
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

/* The reason of the first queued OpenSSL error; the queue is emptied. */
static void
ssl_reason(char *out, size_t outsz)
{
	unsigned long code = ERR_get_error();
	const char *reason;

	if (code == 0)
		snprintf(out, outsz, "unknown TLS error");
	else if ((reason = ERR_reason_error_string(code)) != NULL)
		snprintf(out, outsz, "%s", reason);
	else
		ERR_error_string_n(code, out, outsz);
	ERR_clear_error();
}

static bool
is_unexpected_eof(void)
{
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	unsigned long code = ERR_peek_error();

	if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
	    ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		return true;
	}
#endif
	return false;
}

/*
 * After an SSL call returned ret <= 0: wait for the socket when OpenSSL
 * asks to (1: retry), report the end of the stream (0) or an error (-1).
 */
static int
tls_wait(struct tls *t, int ret, int timeout_ms, const char *what,
    struct err *e)
{
	int saved = errno;
	int r, code = SSL_get_error(t->ssl, ret);
	char reason[256];

	switch (code) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		r = wait_fd(t->fd,
		    code == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
		    timeout_ms);
		if (r > 0)
			return 1;
		if (r == 0)
			return err_set(e, ERR_TEMP,
			    "%s: timed out after %d s", what,
			    timeout_ms / 1000);
		return err_sys(e, ERR_TEMP, "%s: poll", what);
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (ret == 0 || saved == 0)
			return 0;
		errno = saved;
		return err_sys(e, ERR_TEMP, "%s", what);
	default:
		if (is_unexpected_eof())
			return 0;
		ssl_reason(reason, sizeof(reason));
		return err_set(e, ERR_TEMP, "%s: %s", what, reason);
	}
}

/* "AB:CD:..." (95 bytes + NUL) and lowercase "abcd..." (64 + NUL). */
static bool
cert_fingerprints(X509 *cert, char colon[96], char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32)
		return false;
	for (unsigned int i = 0; i < len; i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
		snprintf(colon + 3 * i, 4, "%02X%s", md[i],
		    i + 1 < len ? ":" : "");
	}
	return true;
}

static bool
is_ip_literal(const char *host)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
}

/* Whether dir holds OpenSSL's hashed names ("5ad8a5d6.0"). */
static bool
has_hashed_names(const char *dir)
{
	struct dirent *de;
	bool found = false;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		size_t n = strspn(de->d_name, "0123456789abcdef");

		found = n == 8 && de->d_name[8] == '.' &&
		    de->d_name[9] >= '0' && de->d_name[9] <= '9';
	}
	closedir(d);
	return found;
}

/*
 * The system's trust store.  Its hashed directory is read lazily, one
 * issuer at a time, while the default bundle file is parsed whole: about
 * 50 ms for Debian's 140 certificates, a third of a no-change run.  So the
 * bundle is loaded only when SSL_CERT_FILE names one or the directory has
 * no hashed names.
 */
static const char *
system_dir(void)
{
	const char *dir = getenv(X509_get_default_cert_dir_env());

	return dir != NULL ? dir : X509_get_default_cert_dir();
}

/* Whether trust_system would parse a whole bundle file. */
static bool
system_is_bundle(void)
{
	return getenv(X509_get_default_cert_file_env()) != NULL ||
	    !has_hashed_names(system_dir());
}

static void
trust_system(SSL_CTX *ctx)
{
	if (system_is_bundle() ||
	    SSL_CTX_load_verify_locations(ctx, NULL, system_dir()) != 1)
		SSL_CTX_set_default_verify_paths(ctx);
}

/*
 * Verify the server's chain again, with the store as it is now and the
 * handshake's parameters (host name or address); the X509_V_* result.
 */
static long
verify_again(struct tls *t)
{
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	X509 *leaf = SSL_get_peer_certificate(t->ssl);
	long vr = X509_V_ERR_UNSPECIFIED;

	if (sc != NULL && leaf != NULL &&
	    X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(t->ctx), leaf,
	    SSL_get_peer_cert_chain(t->ssl)) == 1 &&
	    X509_STORE_CTX_set_default(sc, "ssl_server") == 1 &&
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(sc),
	    SSL_get0_param(t->ssl)) == 1)
		vr = X509_verify_cert(sc) == 1 ? X509_V_OK :
		    X509_STORE_CTX_get_error(sc);
	X509_STORE_CTX_free(sc);
	X509_free(leaf);
	return vr;
}

static int
verify_peer(struct tls *t, const struct tls_params *p, struct err *e)
{
	X509 *cert;
	char colon[96], hex[65], subject[256];
	long vr;
	int rc = 0;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = SSL_get1_peer_certificate(t->ssl);
#else
	cert = SSL_get_peer_certificate(t->ssl);
#endif
	if (cert == NULL)
		return err_set(e, ERR_FAIL,
		    "TLS: %s presented no certificate", p->host);
	if (!cert_fingerprints(cert, colon, hex)) {
		X509_free(cert);
		return err_set(e, ERR_FAIL,
		    "TLS: cannot compute the certificate fingerprint");
	}
	X509_NAME_oneline(X509_get_subject_name(cert), subject,
	    sizeof(subject));
	X509_free(cert);

	if (p->fingerprint != NULL) {
		/* A pin replaces the chain and name checks entirely. */
		if (strcmp(hex, p->fingerprint) != 0)
			rc = err_set(e, ERR_FAIL,
			    "TLS certificate of %s does not match "
			    "cert-fingerprint: it is %s (subject %s)",
			    p->host, colon, subject);
		return rc;
	}
	vr = SSL_get_verify_result(t->ssl);
	if (vr != X509_V_OK && t->system_later) {
		trust_system(t->ctx);
		vr = verify_again(t);
	}
	if (vr != X509_V_OK)
		rc = err_set(e, ERR_FAIL,
		    "TLS certificate verification failed for %s: %s "
		    "(subject %s; SHA-256 fingerprint %s; set "
		    "cert-fingerprint to trust exactly this certificate, "
		    "or ca-file to trust its issuer)",
		    p->host, X509_verify_cert_error_string(vr), subject,
		    colon);
	return rc;
}

static int
tls_setup(struct tls *t, const struct tls_params *p, struct err *e)
{
	X509_VERIFY_PARAM *vp;
	BIO *bio;
	char reason[256];

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL) {
		ssl_reason(reason, sizeof(reason));
		return err_set(e, ERR_FAIL, "TLS: %s", reason);
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	/* Verification is checked by hand after the handshake, so that a
	 * pin can override the chain and errors can be explained. */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	/* With a ca-file, parsing a bundle of 140 system certificates (a
	 * third of a no-change run) waits until the ca-file alone does not
	 * verify the server; a hashed directory costs nothing up front. */
	t->system_later = p->ca_file != NULL && system_is_bundle();
	if (!t->system_later)
		trust_system(t->ctx);
	if (p->ca_file != NULL &&
	    SSL_CTX_load_verify_locations(t->ctx, p->ca_file, NULL) != 1) {
		ssl_reason(reason, sizeof(reason));
		return err_set(e, ERR_FAIL, "cannot load ca-file %s: %s",
		    p->ca_file, reason);
	}
	t->ssl = SSL_new(t->ctx);
	if (t->ssl == NULL) {
		ssl_reason(reason, sizeof(reason));
		return err_set(e, ERR_FAIL, "TLS: %s", reason);
	}
	SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Without read-ahead OpenSSL reads each record in two recv(2) calls
	 * (header, then body): 260,000 calls for 500 MB of mail.  With it,
	 * one call fills the buffer with many records; tls_pending then
	 * counts those bytes, which poll(2) no longer sees. */
	SSL_set_read_ahead(t->ssl, 1);
	SSL_set_default_read_buffer_len(t->ssl, TLS_READ_BUFFER);
	vp = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip_literal(p->host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, p->host) != 1)
			return err_set(e, ERR_FAIL, "TLS: bad address %s",
			    p->host);
	} else {
		if (X509_VERIFY_PARAM_set1_host(vp, p->host, 0) != 1 ||
		    SSL_set_tlsext_host_name(t->ssl, p->host) != 1)
			return err_set(e, ERR_FAIL, "TLS: bad host name %s",
			    p->host);
	}

	t->meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "mailsync socket");
	if (t->meth == NULL ||
	    BIO_meth_set_write(t->meth, bio_sock_write) != 1 ||
	    BIO_meth_set_read(t->meth, bio_sock_read) != 1 ||
	    BIO_meth_set_ctrl(t->meth, bio_sock_ctrl) != 1 ||
	    (bio = BIO_new(t->meth)) == NULL)
		return err_set(e, ERR_FAIL, "TLS: cannot create a BIO");
	BIO_set_data(bio, (void *)(intptr_t)t->fd);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio);
	return 0;
}

int
tls_connect(int fd, const struct tls_params *p, struct tls **out,
    struct err *e)
{
	struct tls *t = xcalloc(1, sizeof(*t));
	char what[300];
	int r;

	*out = NULL;
	t->fd = fd;
	ERR_clear_error();
	if (tls_setup(t, p, e) < 0)
		goto fail;
	snprintf(what, sizeof(what), "TLS handshake with %s", p->host);
	for (;;) {
		r = SSL_connect(t->ssl);
		if (r == 1)
			break;
		if (SSL_get_error(t->ssl, r) == SSL_ERROR_SSL &&
		    !is_unexpected_eof()) {
			char reason[256];

			/* A protocol failure, not a network one: retrying
			 * later will not help. */
			ssl_reason(reason, sizeof(reason));
			err_set(e, ERR_FAIL, "%s failed: %s", what, reason);
			goto fail;
		}
		r = tls_wait(t, r, p->timeout_ms, what, e);
		if (r == 0)
			err_set(e, ERR_TEMP,
			    "%s: the server closed the connection", what);
		if (r <= 0)
			goto fail;
	}
	if (verify_peer(t, p, e) < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	tls_free(&t);
	return -1;
}

ssize_t
tls_read(struct tls *t, void *buf, size_t n, int timeout_ms, struct err *e)
{
	int chunk = n > INT32_MAX ? INT32_MAX : (int)n;
	int r;

	ERR_clear_error();
	for (;;) {
		r = SSL_read(t->ssl, buf, chunk);
		if (r > 0)
			return r;
		r = tls_wait(t, r, timeout_ms, "TLS read", e);
		if (r <= 0)
			return r;
	}
}

ssize_t
tls_write(struct tls *t, const void *buf, size_t n, int timeout_ms,
    struct err *e)
{
	int chunk = n > INT32_MAX ? INT32_MAX : (int)n;
	int r;

	ERR_clear_error();
	for (;;) {
		r = SSL_write(t->ssl, buf, chunk);
		if (r > 0)
			return r;
		r = tls_wait(t, r, timeout_ms, "TLS write", e);
		if (r == 0)
			return err_set(e, ERR_TEMP,
			    "TLS write: the server closed the connection");
		if (r < 0)
			return -1;
	}
}

bool
tls_pending(const struct tls *t)
{
	char c;

	if (SSL_pending(t->ssl) > 0)
		return true;
	if (SSL_has_pending(t->ssl) != 1)
		return false;
	/* read-ahead bytes may be a record without data for us (a TLS 1.3
	 * session ticket): peek, which does not block on this socket, to
	 * tell; calling that input would make a reader wait for nothing */
	ERR_clear_error();
	if (SSL_peek(t->ssl, &c, 1) > 0)
		return true;
	ERR_clear_error();
	return SSL_pending(t->ssl) > 0;
}

void
tls_free(struct tls **tp)
{
	struct tls *t = *tp;

	if (t == NULL)
		return;
	if (t->ssl != NULL) {
		/* close_notify is a courtesy; never wait for the reply. */
		if (SSL_is_init_finished(t->ssl))
			SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	BIO_meth_free(t->meth);
	ERR_clear_error();
	free(t);
	*tp = NULL;
}
