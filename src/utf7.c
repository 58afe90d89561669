/* SPDX-License-Identifier: GPL-3.0-or-later */
/* IMAP modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8 conversion. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf7.h"
#include "util.h"

/* RFC 3501 5.1.3: RFC 2045 base64 with ',' in place of '/'. */
static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/*
 * Decode one UTF-8 sequence at p into *cp; returns its length, or 0 if it is
 * not well-formed.  Continuation bytes are checked before the next one is
 * read, so a NUL terminator is never overrun.
 */
static size_t
utf8_next(const unsigned char *p, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static void
utf8_put(struct buf *b, uint32_t c)
{
	char s[4];
	size_t n;

	if (c < 0x80) {
		s[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		s[0] = (char)(0xc0 | (c >> 6));
		s[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		s[0] = (char)(0xe0 | (c >> 12));
		s[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		s[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		s[0] = (char)(0xf0 | (c >> 18));
		s[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		s[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		s[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	buf_add(b, s, n);
}

bool
utf7_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;
	size_t n;

	while (*p) {
		if ((n = utf8_next(p, &c)) == 0)
			return false;
		p += n;
	}
	return true;
}

void
utf7_quote(struct buf *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *start = p;
	uint32_t c;
	size_t n;

	while (*p) {
		if ((size_t)(p - start) >= max) {
			buf_adds(out, "...");
			break;
		}
		n = utf8_next(p, &c);
		if (n == 0 || c < 0x20 || c == '\\' ||
		    (c >= 0x7f && c < 0xa0)) {
			/* an escaped C1 character shows all of its bytes */
			if (n == 0)
				n = 1;
			for (size_t i = 0; i < n; i++)
				buf_printf(out, "\\x%02X", p[i]);
		} else
			buf_add(out, p, n);
		p += n;
	}
	if (out->data == NULL)
		buf_add(out, "", 0);
}

static int
decode_error(struct err *e, const char *in, const char *why)
{
	struct buf q = { 0 };

	utf7_quote(&q, in, 200);
	err_set(e, ERR_FAIL, "invalid modified UTF-7 name '%s': %s", q.data,
	    why);
	buf_free(&q);
	return -1;
}

/*
 * One base64 shift starting after '&' at *pp; on success *pp points past the
 * closing '-'.  Strict (RFC 3501 5.1.3): every encoded character must need
 * the encoding, surrogates must pair, and the shift must be the shortest
 * one, so each name has exactly one spelling.
 */
static const char *
decode_shift(const unsigned char **pp, struct buf *b)
{
	const unsigned char *p = *pp;
	uint32_t bits = 0, high = 0, unit;
	unsigned nbits = 0;
	size_t nunits = 0;
	int v;

	if (*p == '\0')
		return "'&' at the end of the name";
	if (b64_value(*p) < 0)
		return "'&' not followed by '-' or base64";
	for (; *p != '-'; p++) {
		if (*p == '\0')
			return "unterminated base64 shift";
		if ((v = b64_value(*p)) < 0)
			return "bad base64 character in a shift";
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		unit = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		nunits++;
		if (high) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return "unpaired UTF-16 high surrogate";
			utf8_put(b, 0x10000 + ((high - 0xd800) << 10) +
			    (unit - 0xdc00));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff)
			high = unit;
		else if (unit >= 0xdc00 && unit <= 0xdfff)
			return "unpaired UTF-16 low surrogate";
		else if (unit == 0)
			return "encoded NUL";
		else if (unit >= 0x20 && unit <= 0x7e)
			return "encoded printable ASCII";
		else
			utf8_put(b, unit);
	}
	if (nunits == 0)
		return "base64 shift shorter than one character";
	if (high)
		return "unpaired UTF-16 high surrogate";
	if (nbits >= 6)
		return "non-minimal base64 shift (extra characters)";
	if (bits != 0)
		return "non-zero base64 padding bits";
	*pp = p + 1;
	return NULL;
}

int
utf7_decode(const char *in, char **out, struct err *e)
{
	const unsigned char *p = (const unsigned char *)in;
	struct buf b = { 0 };
	const char *why = NULL;
	int after_shift = 0;

	*out = NULL;
	while (*p) {
		if (*p < 0x20 || *p > 0x7e) {
			why = "byte outside printable US-ASCII";
			break;
		}
		if (*p != '&') {
			buf_addc(&b, (char)*p++);
			after_shift = 0;
			continue;
		}
		p++;
		if (*p == '-') {
			buf_addc(&b, '&');
			p++;
			after_shift = 0;
			continue;
		}
		/* two adjacent shifts would be one shift in the encoder */
		if (after_shift && b64_value(*p) >= 0) {
			why = "non-minimal: adjacent base64 shifts";
			break;
		}
		if ((why = decode_shift(&p, &b)) != NULL)
			break;
		after_shift = 1;
	}
	if (why != NULL) {
		buf_free(&b);
		return decode_error(e, in, why);
	}
	if (b.data == NULL)
		buf_add(&b, "", 0);
	*out = b.data;
	return 0;
}

static void
flush_shift(struct buf *b, uint32_t bits, unsigned nbits)
{
	if (nbits > 0)
		buf_addc(b, b64_chars[(bits << (6 - nbits)) & 0x3f]);
	buf_addc(b, '-');
}

int
utf7_encode(const char *in, char **out, struct err *e)
{
	const unsigned char *p = (const unsigned char *)in;
	struct buf b = { 0 };
	uint32_t c, bits = 0, units[2];
	unsigned nbits = 0;
	int shifted = 0;
	size_t n, nu;

	*out = NULL;
	while (*p) {
		if ((n = utf8_next(p, &c)) == 0) {
			struct buf q = { 0 };

			buf_free(&b);
			utf7_quote(&q, in, 200);
			err_set(e, ERR_FAIL, "invalid UTF-8 in name '%s'",
			    q.data);
			buf_free(&q);
			return -1;
		}
		p += n;
		if (c >= 0x20 && c <= 0x7e) {
			if (shifted) {
				flush_shift(&b, bits, nbits);
				shifted = 0;
			}
			if (c == '&')
				buf_adds(&b, "&-");
			else
				buf_addc(&b, (char)c);
			continue;
		}
		if (!shifted) {
			buf_addc(&b, '&');
			shifted = 1;
			bits = 0;
			nbits = 0;
		}
		nu = 0;
		if (c >= 0x10000) {
			units[nu++] = 0xd800 + ((c - 0x10000) >> 10);
			units[nu++] = 0xdc00 + ((c - 0x10000) & 0x3ff);
		} else
			units[nu++] = c;
		for (size_t i = 0; i < nu; i++) {
			bits = (bits << 16) | units[i];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				buf_addc(&b, b64_chars[(bits >> nbits) & 0x3f]);
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (shifted)
		flush_shift(&b, bits, nbits);
	if (b.data == NULL)
		buf_add(&b, "", 0);
	*out = b.data;
	return 0;
}
