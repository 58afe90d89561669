/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the parts of the configuration reader share; private to src/cfg*.c. */
#ifndef MAILSYNC_CFG_PRIV_H
#define MAILSYNC_CFG_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

enum ynode_type {
	YN_SCALAR,
	YN_SEQ,
	YN_MAP,
};

/* libyaml's events turned into a tree that keeps every node's position. */
struct ynode {
	enum ynode_type type;
	char *value;		/* scalars: NUL-free text */
	size_t len;
	bool plain;		/* unquoted scalar: may spell null */
	unsigned long line, col;	/* 1-based */
	struct ynode **kids;	/* items, or key, value, key, value, ... */
	size_t nkids;
	size_t cap;
};

struct ctx {
	const char *path;
	struct err *e;
	struct cfg *c;
	bool has_password;
};

/* cfg_yaml.c: the YAML tree */

/* ERR_CONFIG "PATH:LINE:COL: message" at node n (1:1 if n is NULL);
 * returns -1. */
int cfg_at(struct ctx *x, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The first document of buf[0..len) as a tree, or NULL for a stream
 * without one; a syntax error, an alias, a NUL in a string, nesting too
 * deep or a second document is reported through cfg_at. */
int cfg_build_tree(struct ctx *x, const char *buf, size_t len,
    struct ynode **out);
/* Free n and its children; scalars are wiped first. */
void cfg_ynode_free(struct ynode *n);
/* Whether n is absent or a plain scalar that YAML reads as null. */
bool cfg_is_null(const struct ynode *n);

/* cfg_schema.c: keys, types and checks */

/* Fill x->c from the document root (NULL for an empty file). */
int cfg_parse_root(struct ctx *x, const struct ynode *root);
/* The candidate of cands[0..n) nearest to word (NULL entries skipped)
 * within 3 edits, the first of equals; else NULL. */
const char *cfg_nearest(const char *word, const char *const *cands,
    size_t n);
/* " (did you mean 'BEST'?)" into buf, or "" when best is NULL. */
void cfg_did_you_mean(char *buf, size_t size, const char *best);

/* cfg.c: loading, paths */

/* path with "~" and $VAR / ${VAR} expanded (newly allocated), or NULL with
 * the reason in *why_out (newly allocated). */
char *cfg_expand(const char *path, char **why_out);
/* $XDG_*_HOME if it is set and absolute, else ~/fallback (newly
 * allocated). */
char *cfg_xdg_dir(const char *var, const char *fallback);

#endif
