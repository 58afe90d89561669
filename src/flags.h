/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Message flags: IMAP system flags and keywords <-> Maildir ":2," letters. */
#ifndef MAILSYNC_FLAGS_H
#define MAILSYNC_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

/* Bit order follows the Maildir letters' ASCII order D F P R S T. */
enum {
	FLAG_DRAFT = 1 << 0,	 /* D  \Draft */
	FLAG_FLAGGED = 1 << 1,	 /* F  \Flagged */
	FLAG_FORWARDED = 1 << 2, /* P  $Forwarded ("passed") */
	FLAG_ANSWERED = 1 << 3,	 /* R  \Answered */
	FLAG_SEEN = 1 << 4,	 /* S  \Seen */
	FLAG_DELETED = 1 << 5,	 /* T  \Deleted ("trashed") */
	FLAG_ALL = (1 << 6) - 1,
};

/*
 * A message's flags: system bits plus IMAP keywords as one string of
 * space-separated keywords in strcmp order without duplicates ("" for none;
 * NULL is treated as ""), so two sets compare with strcmp.
 */
struct flags {
	unsigned bits;
	char *kw;	/* owned; may be NULL */
};

void flags_free(struct flags *f);
void flags_copy(struct flags *dst, const struct flags *src);
bool flags_equal(const struct flags *a, const struct flags *b);

/* "DFS" etc. from bits (letters only, no ":2,"); out needs 7 bytes. */
void flags_bits_to_maildir(unsigned bits, char out[7]);
/* Bits from Maildir letters; unknown letters and a-z are ignored. */
unsigned flags_bits_from_maildir(const char *letters);

/* IMAP flag name -> bit, or 0 if it is a keyword (case-insensitive). */
unsigned flags_bit_from_imap(const char *name);
/* Bit -> IMAP flag name ("\\Seen", "$Forwarded", ...). */
const char *flags_bit_to_imap(unsigned bit);
/*
 * Whether an IMAP keyword is safe to keep (RFC 3501 atom, at most 64 bytes,
 * printable ASCII without the specials "(){ %*\"\\]" and not starting '\').
 */
bool flags_keyword_valid(const char *kw);

/* Normalise a keyword list in place: sort, drop duplicates and invalid ones. */
void flags_kw_normalize(char **kw);
/* Add one keyword to a normalised list. */
void flags_kw_add(char **kw, const char *word);
/* a minus b and a plus b on keyword lists; results are newly allocated. */
char *flags_kw_minus(const char *a, const char *b);
char *flags_kw_union(const char *a, const char *b);

/*
 * Per-flag three-way merge (SPEC.md section 5): every flag or keyword that
 * one side changed relative to base takes that side's value; a flag changed
 * on both sides was necessarily changed the same way.
 */
void flags_merge(struct flags *out, const struct flags *base,
    const struct flags *remote, const struct flags *local);

/* Human-readable "+S -F +kw" difference from a to b into out (for plans). */
void flags_diff_text(const struct flags *from, const struct flags *to,
    char *out, size_t outsz);

#endif
