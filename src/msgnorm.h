/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A message's content as copies of it are compared (moves, --verify):
 * CRLF as LF, and every header mail clients add when they save a copy
 * (Content-Length, Lines, Status, X-Status, X-UID; SPEC.md section 5;
 * case-insensitive, with its continuation lines) left out of the header
 * block.  Taken in pieces of any size, so that a message of any size is
 * hashed in the room of one piece.
 */
#ifndef MAILSYNC_MSGNORM_H
#define MAILSYNC_MSGNORM_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef void msgnorm_out_fn(void *arg, const char *p, size_t n);

struct msgnorm {
	msgnorm_out_fn *out;
	void *arg;
	bool cr;		/* a CR held: dropped if an LF follows */
	bool body;		/* past the header block */
	bool line_start;	/* at the start of a header line */
	bool skipping;		/* in a client header or its folded lines */
	struct buf held;	/* a line's start, until it is known whether it
				 * names a client header */
};

void msgnorm_init(struct msgnorm *nm, msgnorm_out_fn *out, void *arg);
void msgnorm_feed(struct msgnorm *nm, const char *p, size_t n);
/* The end of the message: what was held goes out; nm is then freed (a
 * second end does nothing). */
void msgnorm_end(struct msgnorm *nm);

/* The lowercase hex SHA-256 of a normalised message: fed in pieces
 * through its nm (msgnorm_feed). */
struct msgnorm_hash {
	struct msgnorm nm;
	void *md;		/* EVP_MD_CTX */
};
void msgnorm_hash_init(struct msgnorm_hash *h);
/* hex_out: 65 bytes with the NUL; h is then freed. */
void msgnorm_hash_end(struct msgnorm_hash *h, char hex_out[65]);
/* Free h without a result (a fetch that failed half way). */
void msgnorm_hash_drop(struct msgnorm_hash *h);

#endif
