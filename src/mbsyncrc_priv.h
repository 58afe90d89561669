/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the parts of the mbsync converter share; private to src/mbsyncrc*.c. */
#ifndef MAILSYNC_MBSYNCRC_PRIV_H
#define MAILSYNC_MBSYNCRC_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

#include "err.h"
#include "util.h"

/* The two sides of an mbsync channel (formerly Master and Slave). */
enum { FAR = 0, NEAR = 1 };

/* mbsync's sync operations, kept per target side, and its direction words */
enum {
	OP_NEW = 1,
	OP_OLD = 2,
	OP_UPGRADE = 4,		/* ReNew before isync 1.5 */
	OP_GONE = 8,		/* Delete before isync 1.5 */
	OP_FLAGS = 16,
	OP_ALL = 31,
	XOP_PULL = 32,
	XOP_PUSH = 64,
};

enum mb_tls { MB_TLS_UNSET, MB_TLS_NONE, MB_TLS_STARTTLS, MB_TLS_IMAPS };
enum mb_subfolders { SF_UNSET, SF_VERBATIM, SF_MAILDIRPP, SF_LEGACY };

struct mb_account {
	char *name;
	char *key;		/* YAML key, unique among accounts */
	int line;
	bool in_store;		/* options written inside an IMAPStore */
	char *host, *user, *user_cmd, *pass, *pass_cmd, *tunnel;
	bool keychain, use_imaps;
	enum mb_tls tls;
	int port;		/* 0: not given */
	long timeout;		/* -1: not given */
	struct strv auth;
	struct strv ca_files;
	struct strv notes;
};

struct mb_store {
	char *name;
	int line;
	bool imap;
	bool has_account;	/* "Account NAME" */
	bool inline_opts;	/* account options in the store itself */
	size_t account;		/* IMAP stores: index into accounts */
	char *path, *inbox;
	enum mb_subfolders subfolders;
	bool max_size_set;
	uint64_t max_size;
	struct strv notes;	/* go to the channels that use the store */
};

/* Channel options, which may also be given before any section. */
struct mb_chopts {
	bool have_sync;
	unsigned cops;		/* plain Sync words */
	unsigned ops[2];	/* PullX/PushX words, by target side */
	char *sync_text;
	bool have_create, have_remove, have_expunge;
	unsigned create, remove, expunge;	/* 1 << FAR | 1 << NEAR */
	long max_messages;	/* -1: not given */
	char *sync_state;
	struct strv notes;
};

struct mb_channel {
	char *name;
	char *key;
	int line;
	size_t store[2];
	bool store_set[2];
	char *box[2];		/* after ":store:", NULL when empty */
	struct strv patterns;
	bool max_size_set;
	uint64_t max_size;
	struct mb_chopts o;
	/* the conversion */
	char *reason;		/* why it is written commented out */
	int remote;		/* FAR or NEAR: the IMAP side */
	char *root, *inbox;
	bool maildirpp;
	struct strv folders;
	struct strv notes;
};

struct mb_group {
	char *name;
	char *key;
	int line;
	struct strv members;
	struct strv notes;
};

struct mb_conv {
	const char *path;
	struct err *e;
	struct mb_account *accounts;
	size_t naccounts, cap_accounts;
	struct mb_store *stores;
	size_t nstores, cap_stores;
	struct mb_channel *channels;
	size_t nchannels, cap_channels;
	struct mb_group *groups;
	size_t ngroups, cap_groups;
	struct mb_chopts global;
	struct strv global_notes;
};

/* mbsync's keywords and words are case-insensitive. */
static inline bool
is_word(const char *s, const char *word)
{
	return strcasecmp(s, word) == 0;
}

/* mbsyncrc.c: the conversion of each channel, and the YAML keys */

/* Append a comment: formatted, control characters replaced by '?'. */
void mbsyncrc_note(struct strv *notes, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* a->v[from..] joined by spaces (newly allocated, "" for none). */
char *mbsyncrc_join_args(const struct strv *a, size_t from);
/* Why account a cannot be converted (newly allocated), or NULL. */
char *mbsyncrc_account_problem(const struct mb_account *a);
/* Decide ch's mailsync channel (root, inbox, folders), or set ch->reason
 * why there is none. */
void mbsyncrc_plan_channel(struct mb_conv *c, struct mb_channel *ch);
/* Give accounts, channels and groups YAML keys that cfg_load accepts and
 * that do not collide, noting each renaming. */
void mbsyncrc_assign_keys(struct mb_conv *c);

/* mbsyncrc_lex.c: the syntax */

/* ERR_CONFIG "PATH:LINE: message"; returns -1. */
int mbsyncrc_bad(struct mb_conv *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The arguments of line s, as mbsync's get_arg() splits them, appended to
 * out; an unterminated quote or escape is mbsyncrc_bad. */
int mbsyncrc_split_line(struct mb_conv *c, int line, const char *s,
    struct strv *out);
/*
 * The value of the option line a ("Keyword value..."): each is 0, or -1
 * after mbsyncrc_bad naming the keyword.  need_value: at least one;
 * one_value: exactly one; get_bool: yes/no/true/false/on/off/1/0;
 * get_long: an integer in [lo, hi]; get_size: a number with an optional
 * k or m and b; get_sides: None/Far/Near/Both words ORed into *out.
 */
int mbsyncrc_need_value(struct mb_conv *c, int line, const struct strv *a);
int mbsyncrc_one_value(struct mb_conv *c, int line, const struct strv *a,
    const char **out);
int mbsyncrc_get_bool(struct mb_conv *c, int line, const struct strv *a,
    bool *out);
int mbsyncrc_get_long(struct mb_conv *c, int line, const struct strv *a,
    long lo, long hi, long *out);
int mbsyncrc_get_size(struct mb_conv *c, int line, const struct strv *a,
    uint64_t *out);
int mbsyncrc_get_sides(struct mb_conv *c, int line, const struct strv *a,
    unsigned *out);

/* mbsyncrc_model.c: sections and options */

/* Read the whole file into c; errors as mbsyncrc_convert describes. */
int mbsyncrc_parse_file(struct mb_conv *c, FILE *f);
/* The operations per target side that Sync options o ask for. */
void mbsyncrc_sync_ops(const struct mb_chopts *o, unsigned ops[2]);
void mbsyncrc_chopts_init(struct mb_chopts *o);
/* Free everything c holds (not c itself). */
void mbsyncrc_conv_free(struct mb_conv *c);

/* mbsyncrc_yaml.c: the output */

/* Plan every channel, then write the whole configuration to out. */
void mbsyncrc_render(struct mb_conv *c, struct buf *out);

#endif
