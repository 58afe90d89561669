/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for folder patterns: matching, lists with exclusions, checks. */
#include "config.h"

#include "../tap.h"
#include "pattern.h"

static const struct {
	const char *pattern;
	const char *name;
	bool want;
} matches[] = {
	{ "*", "INBOX", true },
	{ "*", "Archive/2024/Q1", true },
	{ "*", "", true },
	{ "%", "Archive", true },
	{ "%", "Archive/2024", false },
	{ "%/%", "Archive/2024", true },
	{ "%/%", "Archive", false },
	{ "%/%", "Archive/2024/Q1", false },
	{ "Archive/*", "Archive/2024/Q1", true },
	{ "Archive/*", "Archive", false },
	{ "Archive*", "Archive", true },
	{ "Archive*", "Archive/2024", true },
	{ "Archive%", "Archive/2024", false },
	{ "Archive%", "Archives", true },
	{ "Archive/%", "Archive/2024", true },
	{ "Archive/%", "Archive/2024/Q1", false },
	{ "Archive/%/Q1", "Archive/2024/Q1", true },
	{ "Archive/%/Q1", "Archive/2024/x/Q1", false },
	{ "Archive/*/Q1", "Archive/2024/x/Q1", true },
	{ "*/Q1", "Archive/2024/Q1", true },
	{ "*/Q1", "Q1", false },
	{ "A*B*C", "AxxByyC", true },
	{ "A*B*C", "AxxByy", false },
	{ "*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	{ "Sent", "Sent", true },
	{ "Sent", "sent", false },
	{ "Sent", "Sent/Old", false },
	{ "Sent", "Sen", false },
	{ "", "", true },
	{ "", "x", false },
	/* RFC 3501: INBOX is case-insensitive, only as the first component */
	{ "INBOX", "inbox", true },
	{ "INBOX", "Inbox", true },
	{ "inbox", "INBOX", true },
	{ "INBOX/*", "inbox/Lists/x", true },
	{ "INBOX/Lists", "INBOX/lists", false },
	{ "INBOX*", "inbox", true },
	{ "Archive/INBOX", "Archive/inbox", false },
	{ "INBOX", "INBOXES", false },
	/* non-ASCII names: bytes match themselves, wildcards span them */
	{ "Entwürfe", "Entwürfe", true },
	{ "Entw%rfe", "Entwürfe", true },
	{ "Gesendete Objekte/%", "Gesendete Objekte/2024", true },
	{ "Архив/*", "Архив/2024", true },
	{ "Архив/*", "архив/2024", false },
	{ "*", "日本語/メール", true },
	{ "%", "日本語/メール", false },
	{ "日本語/%", "日本語/メール", true },
};

static bool
list_match(const char *const *pats, size_t n, const char *name)
{
	struct strv s = { 0 };
	bool res;

	for (size_t i = 0; i < n; i++)
		strv_add(&s, pats[i]);
	res = pattern_list_match(&s, name);
	strv_free(&s);
	return res;
}

static void
test_lists(void)
{
	const char *spec[] = { "*", "!Spam", "!Trash/*" };
	const char *later[] = { "*", "!Archive/*", "Archive/2024" };
	const char *earlier[] = { "Archive/2024", "!Archive/*" };
	const char *only_excl[] = { "!Spam" };
	const char *inbox[] = { "INBOX", "Lists/%" };

	ok(list_match(spec, 3, "INBOX"), "list: * selects INBOX");
	ok(!list_match(spec, 3, "Spam"), "list: !Spam excludes Spam");
	ok(list_match(spec, 3, "Spam/Old"), "list: !Spam keeps Spam/Old");
	ok(list_match(spec, 3, "Trash"), "list: !Trash/* keeps Trash");
	ok(!list_match(spec, 3, "Trash/2024"),
	    "list: !Trash/* excludes Trash/2024");
	ok(list_match(later, 3, "Archive/2024"),
	    "list: later include wins over earlier exclude");
	ok(!list_match(later, 3, "Archive/2023"),
	    "list: exclude still applies to the others");
	ok(!list_match(earlier, 2, "Archive/2024"),
	    "list: later exclude wins over earlier include");
	ok(!list_match(only_excl, 1, "INBOX"),
	    "list: no include matched means not selected");
	ok(list_match(inbox, 2, "inbox"), "list: INBOX case-insensitive");
	ok(list_match(inbox, 2, "Lists/foo"), "list: %% one level");
	ok(!list_match(inbox, 2, "Lists/foo/bar"), "list: %% not deeper");
	ok(!list_match(NULL, 0, "INBOX"), "list: empty list selects nothing");
}

static void
test_check(void)
{
	static const struct {
		const char *pattern;
		const char *reason;	/* NULL: valid */
	} checks[] = {
		{ "*", NULL },
		{ "%", NULL },
		{ "INBOX", NULL },
		{ "Archive/2024", NULL },
		{ "Archive/*", NULL },
		{ ".hidden", NULL },
		{ "a..b", NULL },
		{ "...", NULL },
		{ "Entwürfe/%", NULL },
		{ "", "empty pattern" },
		{ "a\tb", "control character in pattern" },
		{ "a\nb", "control character in pattern" },
		{ "a\x7f", "control character in pattern" },
		{ "/", "pattern must not start with '/'" },
		{ "/etc/*", "pattern must not start with '/'" },
		{ "a//b", "empty component in pattern" },
		{ "a/", "empty component in pattern" },
		{ ".", "'.' or '..' component in pattern" },
		{ "..", "'.' or '..' component in pattern" },
		{ "../x", "'.' or '..' component in pattern" },
		{ "a/../b", "'.' or '..' component in pattern" },
		{ "a/.", "'.' or '..' component in pattern" },
	};

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		struct err e = { 0 };
		int rc = pattern_check(checks[i].pattern, &e);

		if (checks[i].reason == NULL) {
			ok(rc == 0 && e.code == ERR_OK,
			    "check '%s' is valid", checks[i].pattern);
		} else {
			ok(rc == -1 && e.code == ERR_CONFIG,
			    "check pattern %zu fails with ERR_CONFIG", i);
			is_str(e.msg, checks[i].reason,
			    "check pattern %zu: reason", i);
		}
	}
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++)
		is_int(pattern_match(matches[i].pattern, matches[i].name),
		    matches[i].want, "'%s' %s '%s'", matches[i].pattern,
		    matches[i].want ? "matches" : "does not match",
		    matches[i].name);
	test_lists();
	test_check();
	return done_testing();
}
