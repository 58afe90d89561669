/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for flag conversions and the per-flag three-way merge. */
#include "config.h"

#include <stdlib.h>

#include "../tap.h"
#include "flags.h"
#include "util.h"

static struct flags
mk(const char *letters, const char *kw)
{
	struct flags f = { flags_bits_from_maildir(letters),
		kw ? xstrdup(kw) : NULL };

	flags_kw_normalize(&f.kw);
	return f;
}

static void
merge_case(const char *base, const char *r, const char *l, const char *want,
    const char *bkw, const char *rkw, const char *lkw, const char *wantkw)
{
	struct flags b = mk(base, bkw), rf = mk(r, rkw), lf = mk(l, lkw);
	struct flags out = { 0 };
	char got[7];

	flags_merge(&out, &b, &rf, &lf);
	flags_bits_to_maildir(out.bits, got);
	is_str(got, want, "merge base=%s remote=%s local=%s", base, r, l);
	is_str(out.kw, wantkw, "merge keywords base=%s remote=%s local=%s",
	    bkw ? bkw : "", rkw ? rkw : "", lkw ? lkw : "");
	flags_free(&b);
	flags_free(&rf);
	flags_free(&lf);
	flags_free(&out);
}

int
main(void)
{
	char letters[7], diff[128];
	struct flags a, b;

	flags_bits_to_maildir(FLAG_SEEN | FLAG_DRAFT | FLAG_DELETED |
	    FLAG_FLAGGED | FLAG_ANSWERED | FLAG_FORWARDED, letters);
	is_str(letters, "DFPRST", "letters come out in ASCII order");
	is_int(flags_bits_from_maildir("STabc"), FLAG_SEEN | FLAG_DELETED,
	    "lowercase keyword letters are not system flags");
	is_int(flags_bit_from_imap("\\seen"), FLAG_SEEN,
	    "IMAP names are case-insensitive");
	is_int(flags_bit_from_imap("$Forwarded"), FLAG_FORWARDED,
	    "$Forwarded is P");
	is_int(flags_bit_from_imap("work"), 0, "a keyword is no system flag");
	is_str(flags_bit_to_imap(FLAG_ANSWERED), "\\Answered", "R is \\Answered");

	ok(flags_keyword_valid("$Label1"), "$Label1 is a valid keyword");
	ok(!flags_keyword_valid("a/b c"), "space is refused in keywords");
	ok(!flags_keyword_valid("\\Seen"), "backslash-flags are no keywords");
	ok(!flags_keyword_valid("caf\xc3\xa9"), "non-ASCII is refused");

	a = mk("", "zeta alpha alpha bad(x)");
	is_str(a.kw, "alpha zeta", "keywords normalised: sorted, unique, valid");
	flags_kw_add(&a.kw, "beta");
	is_str(a.kw, "alpha beta zeta", "keyword added in order");
	b = mk("S", "alpha");
	flags_diff_text(&b, &a, diff, sizeof(diff));
	is_str(diff, "-S +[beta zeta]", "difference text");
	ok(!flags_equal(&a, &b), "different sets are not equal");
	flags_copy(&b, &a);
	ok(flags_equal(&a, &b), "a copy is equal");
	flags_free(&a);
	flags_free(&b);

	merge_case("S", "S", "S", "S", NULL, NULL, NULL, NULL);
	merge_case("", "S", "", "S", NULL, NULL, NULL, NULL);
	merge_case("", "", "F", "F", NULL, NULL, NULL, NULL);
	merge_case("", "S", "F", "FS", NULL, NULL, NULL, NULL);
	merge_case("S", "", "FS", "F", NULL, NULL, NULL, NULL);
	merge_case("FS", "F", "S", "", NULL, NULL, NULL, NULL);
	merge_case("S", "ST", "S", "ST", NULL, NULL, NULL, NULL);
	merge_case("", "", "", "", "a", "a b", "", "b");
	merge_case("", "", "", "", "a b", "a", "a b c", "a c");
	return done_testing();
}
