/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A message's normalised content, taken in pieces: see msgnorm.h. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "msgnorm.h"

/* SPEC.md section 5: headers mail clients add when they save a copy. */
static const char *const client_headers[] = {
	"content-length", "lines", "status", "x-status", "x-uid",
};
#define NHEADERS (sizeof(client_headers) / sizeof(client_headers[0]))

/*
 * Past this, a line start still undecided ("Status" and then only blanks)
 * is taken as no client header, so that a hostile line cannot make us hold
 * it whole.  Both sides of a comparison use the same rule.
 */
#define HELD_MAX 4096

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Whether header line start p[0..n) names a client header: 1 yes (its
 * name, blanks, ':'), 0 no, -1 not known yet (more of the line may tell).
 * With the whole line (end true), never -1.
 */
static int
names_client_header(const char *p, size_t n, bool end)
{
	bool maybe = false;

	for (size_t i = 0; i < NHEADERS; i++) {
		size_t k = strlen(client_headers[i]), j;

		if (strncasecmp(p, client_headers[i], n < k ? n : k) != 0)
			continue;
		if (n < k) {	/* a name cut short */
			maybe = true;
			continue;
		}
		/* RFC 5322 section 4.5.1 (obsolete syntax): WSP before ':' */
		for (j = k; j < n && is_wsp(p[j]); j++)
			;
		if (j < n && p[j] == ':')
			return 1;
		if (j == n)
			maybe = true;
	}
	return maybe && !end ? -1 : 0;
}

static void
decide(struct msgnorm *nm, bool end)
{
	int r = names_client_header(nm->held.data, nm->held.len,
	    end || nm->held.len >= HELD_MAX);

	if (r < 0)
		return;
	nm->skipping = r == 1;
	if (!nm->skipping)
		nm->out(nm->arg, nm->held.data, nm->held.len);
	buf_reset(&nm->held);
	nm->line_start = false;
}

/* Bytes with LF line ends through the header filter. */
static void
filter(struct msgnorm *nm, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl;
		size_t len;

		if (nm->body) {
			nm->out(nm->arg, p, n);
			return;
		}
		if (nm->line_start && nm->held.len == 0) {
			if (*p == '\n') {	/* the header block ends */
				nm->body = true;
				continue;
			}
			if (is_wsp(*p)) {	/* folded: as the line before */
				nm->line_start = false;
				continue;
			}
		}
		if (nm->line_start) {
			nl = memchr(p, '\n', n);
			len = nl != NULL ? (size_t)(nl - p) : n;
			if (len > HELD_MAX - nm->held.len)
				len = HELD_MAX - nm->held.len;
			buf_add(&nm->held, p, len);
			p += len;
			n -= len;
			decide(nm, n > 0 && *p == '\n');
			continue;
		}
		nl = memchr(p, '\n', n);
		len = nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (!nm->skipping)
			nm->out(nm->arg, p, len);
		if (nl != NULL)
			nm->line_start = true;
		p += len;
		n -= len;
	}
}

void
msgnorm_init(struct msgnorm *nm, msgnorm_out_fn *out, void *arg)
{
	*nm = (struct msgnorm){ .out = out, .arg = arg, .line_start = true };
}

/* CRLF -> LF by the rule of crlf_to_lf, across pieces. */
void
msgnorm_feed(struct msgnorm *nm, const char *p, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return;
	if (nm->cr) {
		nm->cr = false;
		if (p[0] != '\n')
			filter(nm, "\r", 1);
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\r')
			continue;
		if (i + 1 == n) {	/* the next piece tells */
			filter(nm, p + start, i - start);
			nm->cr = true;
			return;
		}
		if (p[i + 1] == '\n') {
			filter(nm, p + start, i - start);
			start = i + 1;
		}
	}
	filter(nm, p + start, n - start);
}

void
msgnorm_end(struct msgnorm *nm)
{
	if (nm->cr)
		filter(nm, "\r", 1);
	nm->cr = false;
	if (nm->held.len > 0)
		decide(nm, true);
	buf_free(&nm->held);
}

static void
digest(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

void
msgnorm_hash_init(struct msgnorm_hash *h)
{
	h->md = EVP_MD_CTX_new();
	if (h->md == NULL || !EVP_DigestInit_ex(h->md, EVP_sha256(), NULL))
		xoom();
	msgnorm_init(&h->nm, digest, h->md);
}

void
msgnorm_hash_end(struct msgnorm_hash *h, char hex_out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	msgnorm_end(&h->nm);
	EVP_DigestFinal_ex(h->md, md, &mdlen);
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
	for (unsigned int i = 0; i < 32; i++)
		snprintf(hex_out + 2 * i, 3, "%02x", md[i]);
}

void
msgnorm_hash_drop(struct msgnorm_hash *h)
{
	buf_free(&h->nm.held);
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}
