/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for IMAP modified UTF-7 <-> UTF-8 (src/utf7.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "utf7.h"

static const struct {
	const char *utf8, *utf7;
} pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "Entwürfe", "Entw&APw-rfe" },
	{ "日本語", "&ZeVnLIqe-" },
	{ "&", "&-" },
	{ "Tom & Jerry", "Tom &- Jerry" },
	/* RFC 3501 section 5.1.3's example */
	{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "😀", "&2D3eAA-" },	/* U+1F600: a surrogate pair */
	{ "x😀y日", "x&2D3eAA-y&ZeU-" },
	{ "a\tb", "a&AAk-b" },	/* control characters are encoded */
	{ "ä&ö", "&AOQ-&-&APY-" },
	{ "Ärger-Ö", "&AMQ-rger-&ANY-" },
	{ "Привет/мир", "&BB8EQAQ4BDIENQRC-/&BDwEOARA-" },
};

static const struct {
	const char *in, *why;
} bad7[] = {
	{ "&", "'&' at the end of the name" },
	{ "a&", "'&' at the end of the name" },
	{ "&=", "'&' not followed by '-' or base64" },
	{ "&/x-", "'&' not followed by '-' or base64" },
	{ "&AOQ", "unterminated base64 shift" },
	{ "&AO!Q-", "bad base64 character in a shift" },
	{ "&AO/Q-", "bad base64 character in a shift" },
	{ "&AGE-", "encoded printable ASCII" },		/* 'a' */
	{ "&ACY-", "encoded printable ASCII" },		/* '&' */
	{ "&AAA-", "encoded NUL" },
	{ "&2D0-", "unpaired UTF-16 high surrogate" },
	{ "&2D0AYQ-", "unpaired UTF-16 high surrogate" },
	{ "&3gA-", "unpaired UTF-16 low surrogate" },
	{ "&AOQA-", "non-minimal base64 shift (extra characters)" },
	{ "&AOR-", "non-zero base64 padding bits" },
	{ "&AOQ-&APY-", "non-minimal: adjacent base64 shifts" },
	{ "&AA-", "base64 shift shorter than one character" },
	{ "Entw\xc3\xbcrfe", "byte outside printable US-ASCII" },
	{ "a\tb", "byte outside printable US-ASCII" },
	{ "a\x7f", "byte outside printable US-ASCII" },
};

static const char *const bad8[] = {
	"\xff",
	"ab\xc3",		/* truncated */
	"\xc0\xaf",		/* overlong '/' */
	"\xe0\x80\xaf",		/* overlong '/' */
	"\xed\xa0\x80",		/* UTF-16 surrogate */
	"\xf4\x90\x80\x80",	/* above U+10FFFF */
	"\xc3\x28",
};

int
main(void)
{
	struct err e;
	char *out, want[1100];
	struct buf b = { 0 };

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		out = NULL;
		err_clear(&e);
		ok(utf7_encode(pairs[i].utf8, &out, &e) == 0, "encode %s",
		    pairs[i].utf7);
		is_str(out, pairs[i].utf7, "encode %s: result", pairs[i].utf7);
		free(out);
		out = NULL;
		ok(utf7_decode(pairs[i].utf7, &out, &e) == 0, "decode %s",
		    pairs[i].utf7);
		is_str(out, pairs[i].utf8, "decode %s: result", pairs[i].utf7);
		free(out);
	}

	for (size_t i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++) {
		out = (char *)"untouched";
		err_clear(&e);
		ok(utf7_decode(bad7[i].in, &out, &e) == -1,
		    "decode refuses #%zu (%s)", i, bad7[i].why);
		ok(out == NULL, "decode #%zu: no result", i);
		is_int(e.code, ERR_FAIL, "decode #%zu: ERR_FAIL", i);
		buf_reset(&b);
		utf7_quote(&b, bad7[i].in, 200);
		snprintf(want, sizeof(want),
		    "invalid modified UTF-7 name '%s': %s", b.data,
		    bad7[i].why);
		is_str(e.msg, want, "decode #%zu: message", i);
	}
	is_str(e.msg, "invalid modified UTF-7 name 'a\\x7F': "
	    "byte outside printable US-ASCII", "raw bytes are escaped");

	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		out = (char *)"untouched";
		err_clear(&e);
		ok(!utf7_utf8_valid(bad8[i]), "invalid UTF-8 #%zu", i);
		ok(utf7_encode(bad8[i], &out, &e) == -1 && out == NULL,
		    "encode refuses invalid UTF-8 #%zu", i);
		is_int(e.code, ERR_FAIL, "encode #%zu: ERR_FAIL", i);
		ok(strncmp(e.msg, "invalid UTF-8 in name '", 23) == 0,
		    "encode #%zu: message names the input: %s", i, e.msg);
	}
	is_str(e.msg, "invalid UTF-8 in name '\\xC3('",
	    "encode: message with the input escaped");
	ok(utf7_utf8_valid("") && utf7_utf8_valid("Entwürfe") &&
	    utf7_utf8_valid("😀") && utf7_utf8_valid("\xf4\x8f\xbf\xbf"),
	    "valid UTF-8 accepted");

	buf_reset(&b);
	utf7_quote(&b, "a\x1b[31mb\\é\xc2\x9b\xff", 200);
	is_str(b.data, "a\\x1B[31mb\\x5Cé\\xC2\\x9B\\xFF",
	    "quote escapes C0, C1, backslash and invalid bytes");
	buf_reset(&b);
	utf7_quote(&b, "abcdef", 3);
	is_str(b.data, "abc...", "quote truncates");
	buf_reset(&b);
	utf7_quote(&b, "", 3);
	is_str(b.data, "", "quote of an empty string");
	buf_free(&b);
	return done_testing();
}
