/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The YAML configuration (SPEC.md section 3) as validated C structures. */
#ifndef MAILSYNC_CFG_H
#define MAILSYNC_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

enum cfg_tls {
	CFG_TLS_IMAPS,
	CFG_TLS_STARTTLS,
	CFG_TLS_NONE,
};

/* COMPRESS=DEFLATE (RFC 4978), when the server offers it. */
enum cfg_compress {
	CFG_COMPRESS_AUTO,	/* unless the host is a loopback address */
	CFG_COMPRESS_YES,
	CFG_COMPRESS_NO,
};

struct cfg_account {
	char *name;
	char *host;
	int port;		/* default 993 for imaps, 143 otherwise */
	enum cfg_tls tls;	/* default imaps */
	char *user;		/* required */
	char *pass_cmd;		/* may be NULL */
	char *password;		/* may be NULL; pass_cmd wins */
	struct strv auth;	/* lowercase mechanisms in order; empty: any */
	char *ca_file;		/* expanded path or NULL */
	char *cert_fingerprint;	/* 64 lowercase hex digits, or NULL */
	int timeout;		/* seconds, default 30 */
	int connections;	/* default 4 */
	bool connections_set;	/* given in the file, not the default */
	enum cfg_compress compress;	/* default auto */
};

enum cfg_direction {
	CFG_DIR_BOTH,
	CFG_DIR_PULL,	/* server -> disk only */
	CFG_DIR_PUSH,	/* disk -> server only */
};

/* propagate: bit set */
enum {
	CFG_PROP_NEW = 1,
	CFG_PROP_FLAGS = 2,
	CFG_PROP_DELETIONS = 4,
	CFG_PROP_MOVES = 8,
	CFG_PROP_ALL = 15,
};

/* create / remove / expunge: which sides, as a bit set */
enum {
	CFG_SIDE_NONE = 0,
	CFG_SIDE_SERVER = 1,
	CFG_SIDE_DISK = 2,
	CFG_SIDE_BOTH = 3,
};

enum cfg_layout {
	CFG_LAYOUT_VERBATIM,
	CFG_LAYOUT_MAILDIRPP,
};

struct cfg_channel {
	char *name;
	struct cfg_account *account;	/* resolved; never NULL */
	char *maildir;		/* expanded, required */
	char *inbox;		/* expanded; default <maildir>/INBOX, or the
				 * root itself for maildir++ */
	enum cfg_layout layout;	/* default verbatim */
	struct strv folders;	/* default ["*"] */
	enum cfg_direction direction;
	unsigned propagate;	/* default CFG_PROP_ALL */
	unsigned create;	/* default both */
	unsigned remove;	/* default none */
	unsigned expunge;	/* default both */
	uint64_t max_size;	/* bytes, 0 = no limit */
	unsigned max_age;	/* days, 0 = all */
	double delete_limit;	/* percent, default 25 */
	struct strv watch;	/* default ["INBOX"] */
	unsigned poll_interval;	/* seconds, default 300 */
	char *state_dir;	/* expanded; default $XDG_STATE_HOME/mailsync/<name> */
};

struct cfg_group {
	char *name;
	struct strv channels;
};

struct cfg {
	char *path;
	struct cfg_account *accounts;
	size_t naccounts;
	struct cfg_channel *channels;
	size_t nchannels;
	struct cfg_group *groups;
	size_t ngroups;
	char *hook_post_sync;	/* NULL if unset */
	char *hook_new_mail;
};

/*
 * Parse and validate path.  Every problem is ERR_CONFIG with a message
 * "PATH:LINE:COL: what is wrong" (1-based), e.g. an unknown key with the
 * nearest valid one suggested.  Warnings (a password in a file others can
 * read) go through log_warn.
 */
int cfg_load(const char *path, struct cfg **out, struct err *e);
void cfg_free(struct cfg **cp);

/* $XDG_CONFIG_HOME/mailsync/config.yaml (newly allocated). */
char *cfg_default_path(void);

/* Expand a leading "~" / "~/" and $VAR / ${VAR} references.  NULL when a
 * variable is unset or a "${" is not closed. */
char *cfg_expand_path(const char *path);

/*
 * The account's secret: the first line of pass-cmd's stdout (run with
 * /bin/sh -c), else password.  A failing command is ERR_FAIL naming the
 * account and the exit status; the secret itself is never in a message.
 */
int cfg_get_secret(const struct cfg_account *a, char **secret_out,
    struct err *e);

/* Whether host is the loopback interface ("localhost", 127.0.0.0/8, ::1):
 * the only place tls: none may connect to. */
bool cfg_is_loopback(const char *host);

struct cfg_channel *cfg_channel_find(const struct cfg *c, const char *name);

/* One selected channel and, optionally, the folders named on the command
 * line (empty: every folder its patterns select). */
struct cfg_selection {
	struct cfg_channel *channel;
	struct strv folders;
};

/*
 * Resolve command-line selectors ("CHANNEL", "CHANNEL:F1,F2", "GROUP") or
 * all channels into a list without duplicates, in config order for -a and in
 * argument order otherwise.  Unknown names are ERR_CONFIG naming them.
 */
int cfg_select(const struct cfg *c, char *const *args, int nargs, bool all,
    struct cfg_selection **out, size_t *nout, struct err *e);
void cfg_selection_free(struct cfg_selection **sel, size_t n);

#endif
