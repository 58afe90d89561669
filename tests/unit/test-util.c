/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for buffers, line-ending conversion and header helpers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "err.h"
#include "msgnorm.h"
#include "util.h"

/* crlf_piece_fn that appends each piece to the buf at arg. */
static int
collect(void *arg, const void *piece, size_t n)
{
	buf_add(arg, piece, n);
	return 0;
}

/* crlf_piece_fn that stops after `left` pieces (counted in *arg). */
static int
count_pieces(void *arg, const void *piece, size_t n)
{
	int *left = arg;

	(void)piece, (void)n;
	return --*left <= 0 ? 7 : 0;
}

static void
gather(void *arg, const char *p, size_t n)
{
	buf_add(arg, p, n);
}

/* p[0..n) normalised in one piece, into out. */
static void
normalised(const char *p, size_t n, struct buf *out)
{
	struct msgnorm nm;

	msgnorm_init(&nm, gather, out);
	msgnorm_feed(&nm, p, n);
	msgnorm_end(&nm);
}

int
main(void)
{
	struct buf b = { 0 };
	struct err e = { 0 };
	char hex[65];
	char *id;

	lf_to_crlf(&b, "a\nb\r\nc\n", 7);
	is_str(b.data, "a\r\nb\r\nc\r\n", "LF to CRLF keeps existing CRLF");
	is_int((long long)wire_size("a\nb\r\nc\n", 7), 9, "wire size counts bare LFs");
	buf_reset(&b);
	lf_to_crlf(&b, "\nx", 2);
	is_str(b.data, "\r\nx", "LF to CRLF: a LF first, no LF last");
	{
		int left = 3;

		is_int(lf_to_crlf_each("a\nb\nc\n", 6, count_pieces, &left), 7,
		    "LF to CRLF in pieces: the callback's nonzero is returned");
		is_int(left, 0, "LF to CRLF in pieces: and none given after it");
	}
	buf_reset(&b);
	crlf_to_lf(&b, "a\r\nb\rc\r\n", 8);
	is_str(b.data, "a\nb\rc\n", "CRLF to LF keeps a lone CR");
	buf_reset(&b);
	crlf_to_lf(&b, "\r\r\nx\r", 5);
	is_str(b.data, "\r\nx\r", "CRLF to LF: CR before CRLF, CR at the end");
	buf_reset(&b);
	crlf_to_lf(&b, "", 0);
	is_int((long long)b.len, 0, "CRLF to LF of nothing");
	{
		char in[] = "\r\na\r\r\nb\rc\r\n\r\n";
		size_t n = crlf_to_lf_in_place(in, sizeof(in) - 1);

		in[n] = '\0';
		is_str(in, "\na\r\nb\rc\n\n",
		    "CRLF to LF in place: first, after a CR, a lone CR, last");
		is_int((long long)crlf_to_lf_in_place(in, 0), 0,
		    "CRLF to LF in place of nothing");
	}
	is_int((long long)wire_size("\n\r\n\n", 4), 6,
	    "wire size: LF first, CRLF, LF last");
	is_int((long long)wire_size("", 0), 0, "wire size of nothing");
	{
		/* "a\r" | "\nb\n" | "" | "\n\r" | "\r\n": the CRLF cut between
		 * the first two pieces is one, the LF after an empty piece
		 * is bare, the CR that ends the fourth piece is whole */
		static const char *const piece[] = { "a\r", "\nb\n", "", "\n\r",
			"\r\n" };
		bool cr = false, cr2 = false;
		uint64_t size = 0;

		buf_reset(&b);
		for (size_t i = 0; i < 5; i++) {
			lf_to_crlf_piece(piece[i], strlen(piece[i]), &cr,
			    collect, &b);
			size += wire_size_piece(piece[i], strlen(piece[i]),
			    &cr2);
		}
		buf_addc(&b, '\0');
		is_str(b.data, "a\r\nb\r\n\r\n\r\r\n",
		    "LF to CRLF piece by piece: as the whole text");
		is_int((long long)size, (long long)wire_size("a\r\nb\n\n\r\r\n",
		    9), "wire size piece by piece: as the whole text's");
		is_int((long long)size, 11, "wire size piece by piece: 11");
	}
	buf_free(&b);

	id = header_message_id("Subject: x\nMessage-Id:\n <a@b>\n\nbody\n", 37);
	is_str(id, "<a@b>", "folded Message-ID found");
	free(id);
	id = header_message_id("Subject: x\n\nMessage-ID: <no@body>\n", 34);
	ok(id == NULL, "Message-ID in the body is not a header");
	free(id);
	id = header_message_id("message-id: <c@d>\r\n\r\n", 21);
	is_str(id, "<c@d>", "CRLF headers, lowercase name");
	free(id);

	{
		char m[] = "Status: RO\r\nSubject: x\r\nLines: 2\r\n  folded\r\n"
		    "X-UID : 7\r\nContent-Length: 5\r\n\r\nStatus: body\r\n";
		struct buf got = { 0 };

		normalised(m, sizeof(m) - 1, &got);
		is_str(got.data, "Subject: x\n\nStatus: body\n",
		    "client-added headers (folded, WSP before ':') dropped, "
		    "body kept");
		buf_free(&got);
	}

	{
		struct msgnorm_hash h;

		msgnorm_hash_init(&h);
		msgnorm_feed(&h.nm, "a", 1);
		msgnorm_feed(&h.nm, "bc", 2);
		msgnorm_hash_end(&h, hex);
		is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		    "sha256 of abc, fed in two pieces");
	}
	{
		/* every cut of these into two pieces, and byte by byte,
		 * normalises as the whole does */
		static const char *const msgs[] = {
			"Status: RO\r\nSubject: x\r\nLines: 2\r\n  folded\r\n"
			    "X-UID : 7\r\nContent-Length: 5\r\n\r\nStatus: b\r\n",
			"Statu: x\r\nStatus\r\nX-Status\t:\rN\nA: 1\r\r\n\nb\r",
			"lines:\r\n\tx\r\n",
			"\r\nStatus: body only\r\n",
			"Subject: no end",
		};
		int bad = 0;

		for (size_t k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
			size_t n = strlen(msgs[k]);
			struct buf whole = { 0 };

			normalised(msgs[k], n, &whole);

			for (size_t cut = 0; cut <= n + 1; cut++) {
				struct buf got = { 0 };
				struct msgnorm nm;

				msgnorm_init(&nm, gather, &got);
				if (cut <= n) {
					msgnorm_feed(&nm, msgs[k], cut);
					msgnorm_feed(&nm, msgs[k] + cut, n - cut);
				} else {
					for (size_t i = 0; i < n; i++)
						msgnorm_feed(&nm, msgs[k] + i, 1);
				}
				msgnorm_end(&nm);
				if (got.len != whole.len || (whole.len > 0 &&
				    memcmp(got.data, whole.data, whole.len) != 0))
					bad++;
				buf_free(&got);
			}
			buf_free(&whole);
		}
		is_int(bad, 0, "normalised in pieces as whole, at every cut");
	}
	{
		/* a line start held past its limit is let go */
		struct buf m = { 0 }, got = { 0 };
		struct msgnorm nm;

		buf_add(&m, "Status", 6);
		for (int i = 0; i < 10000; i++)
			buf_addc(&m, ' ');
		buf_add(&m, ": x\n\nbody\n", 11);
		msgnorm_init(&nm, gather, &got);
		msgnorm_feed(&nm, m.data, m.len);
		msgnorm_end(&nm);
		is_int((long)got.len, (long)m.len,
		    "a header name with 10000 blanks is not held whole");
		buf_free(&m);
		buf_free(&got);
	}

	err_set(&e, ERR_FAIL, "open(%s) failed", "/x");
	err_prefix(&e, "folder %s", "INBOX");
	is_str(e.msg, "folder INBOX: open(/x) failed", "err_prefix adds context");
	is_int(err_exitcode(ERR_SAFETY), 3, "safety exits 3");
	is_int(err_exitcode(ERR_TEMP), 75, "temporary exits 75");
	is_int(err_worst(ERR_TEMP, ERR_FAIL), ERR_FAIL, "failure outranks temporary");
	is_int(err_worst(ERR_SAFETY, ERR_FAIL), ERR_SAFETY, "safety outranks failure");
	return done_testing();
}
