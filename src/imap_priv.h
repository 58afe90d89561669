/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the parts of the IMAP store (src/imap*.c) share; libetpan inside. */
#ifndef MAILSYNC_IMAP_PRIV_H
#define MAILSYNC_IMAP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#include "cfg.h"
#include "err.h"
#include "imap_io.h"
#include "store.h"

/* UIDs per UID set in one command. */
#define SET_CHUNK 1000

struct append_queue;
struct imap_budget;

/* A folder's STATUS that came with the LIST (LIST-STATUS). */
struct listed_status {
	char *wire;
	struct folder_status st;
};

struct imap_store {
	struct store base;	/* first: the engine sees only this */
	const struct cfg_account *acct;
	char *label;
	struct imap_io *io;
	mailimap *imap;
	bool ready;		/* open succeeded */
	bool broken;		/* the session is unusable */
	enum err_code broken_code;
	char broken_msg[sizeof(((struct err *)0)->msg)];
	char delim;		/* hierarchy delimiter; 0 for none (NIL) */
	bool delim_known;	/* from the folder list, or asked for */
	bool uidplus, condstore;
	bool qresync;		/* enabled (RFC 7162 section 3.2.3) */
	bool selected_once;	/* too late to enable anything */
	char *sel_name;		/* canonical name of the selected one */
	char *sel_wire;
	struct folder_status sel;
	struct append_queue *aq;	/* batch_begin .. batch_end */
	struct append_pieces *ap;	/* append_begin .. append_end */
	struct listed_status *listed;	/* unused ones of the last LIST */
	size_t nlisted;
	double listed_at;	/* mono_seconds() of that LIST */
	/* expect_changes asked the next SELECT for what changed (QRESYNC):
	 * kept for the list_changed right after it (same command tag) */
	uint32_t want_uidvalidity;
	uint64_t want_since;
	struct store_changes kept;
	bool have_kept;
	uint64_t kept_since;
	int kept_tag;
	uint32_t *prefetch;	/* sorted UIDs of a UID FETCH sent, unread */
	size_t prefetch_n;
	bool prefetch_claimed;	/* fetch_many is about to read it */
	unsigned connections;	/* sessions at once, this one included */
	struct imap_budget *budget;	/* shared with siblings (imap_sessions.c) */
	bool open_failed;
	struct imap_store **aux;	/* the extra ones (imap_fetchers.c) */
	size_t naux;
	bool aux_refused;	/* one could not be had: no more this run */
};

static inline struct imap_store *
imap_of(struct store *st)
{
	return (struct imap_store *)st;
}

static inline bool
has_cap(struct imap_store *s, const char *name)
{
	return imap_has_cap(s->imap, name);
}

/*
 * A function named imap_<member> implements that member of store_ops: its
 * contract is in store.h.  The table itself is in imap.c.
 */

/* ---- session (imap.c) ------------------------------------------------ */

/* The server's words from the last tagged reply ("[CODE] text"), never
 * NULL; valid until the next command. */
const char *imap_server_text(struct imap_store *s);
/* Whether the last tagged reply was OK (libetpan takes a NO that came
 * with data for a success). */
bool imap_tagged_ok(struct imap_store *s);
/* Mark the session unusable (the first reason is kept for later calls)
 * and fill e with "label: what: why"; returns -1. */
int imap_set_broken(struct imap_store *s, enum err_code code,
    const char *what, const char *why, struct err *e);
/* Turn the MAILIMAP_* code r of a failed libetpan call during `what` into
 * e, marking the session broken when the connection is in doubt; -1. */
int imap_fail(struct imap_store *s, int r, const char *what, struct err *e);
/* 0, or -1 with e filled when the session is not open or broken (and for
 * imap_check_selected, when no folder is selected). */
int imap_check_usable(struct imap_store *s, const char *what, struct err *e);
int imap_check_selected(struct imap_store *s, const char *what,
    struct err *e);
/* Forget the STATUS answers kept from the last LIST. */
void imap_listed_status_clear(struct imap_store *s);
/* Before a SELECT or EXAMINE of folder name: its wire name into *wire
 * (the caller frees it), the old selection forgotten, PERMANENTFLAGS let
 * through; the first call of a session enables QRESYNC where the server
 * offers it.  0, or -1 with e. */
int imap_prepare_select(struct imap_store *s, const char *name, char **wire,
    struct err *e);
/* Forget the selected folder (the server's selection is gone or about
 * to change). */
void imap_forget_selection(struct imap_store *s);
/* Bring s->sel.exists up to date after a command on the selected folder:
 * libetpan's EXISTS less what VANISHED took away since (see
 * imap_io_take_vanished).  Call it before every use of the count; -1 with
 * the session broken when the server took away more than it held. */
int imap_count(struct imap_store *s, const char *what, struct err *e);

/* The hierarchy delimiter by LIST "" "" (imap.c); the folder list sets it
 * without a round trip of its own. */
int imap_learn_delimiter(struct imap_store *s, struct err *e);

/* ---- folders (imap_folders.c) ---------------------------------------- */

/* Canonical folder name -> server name (delimiter, modified UTF-7) in
 * *out, which the caller frees; -1 for a name the server cannot hold. */
int imap_wire_name(struct imap_store *s, const char *name, char **out,
    struct err *e);
/* STATUS of a folder by its server name (name is for messages), without
 * selecting it. */
int imap_status_wire(struct imap_store *s, const char *wname,
    const char *name, struct folder_status *out, struct err *e);
int imap_list_folders(struct store *st, struct folder_list *out,
    struct err *e);
int imap_create_folder(struct store *st, const char *name, struct err *e);
int imap_delete_folder(struct store *st, const char *name, struct err *e);
int imap_status(struct store *st, const char *name,
    struct folder_status *out, struct err *e);

/* ---- reading (imap_read.c) ------------------------------------------- */

/* What one FETCH response carried. */
struct fetched {
	uint32_t uid;
	bool has_uid, has_flags, has_size, has_date;
	struct flags flags;
	uint32_t size;
	int64_t date;
	const char *body;	/* BODY[...] content, owned by libetpan */
	size_t body_len;
	uint32_t body_origin;	/* of a partial body: <origin> */
	bool has_body;
};

/* Fill f from att; the caller frees f->flags (f->body stays att's). */
/*
 * Have libetpan hand each message of a FETCH response to fn as soon as it
 * is parsed, and free it then, instead of holding the whole response
 * (fn NULL: back to that).
 */
void imap_each_message(struct imap_store *s,
    void (*fn)(struct mailimap_msg_att *, void *), void *arg);
void imap_read_msg_att(struct mailimap_msg_att *att, struct fetched *f);
/* UID, plus FLAGS for a listing, INTERNALDATE, RFC822.SIZE and the
 * Message-ID header for msgid, the whole body (peeking) for body. */
struct mailimap_fetch_type *imap_fetch_type_new(bool listing, bool msgid,
    bool body);
/* A UID set from sorted uids[0..n), as ranges. */
struct mailimap_set *imap_uid_set(const uint32_t *uids, size_t n);
int imap_select(struct store *st, const char *name,
    struct folder_status *out, struct err *e);
int imap_list(struct store *st, struct msg_list *out, struct err *e);
int imap_list_changed(struct store *st, uint64_t since,
    struct store_changes *out, struct err *e);
void imap_expect_changes(struct store *st, uint32_t uidvalidity,
    uint64_t since);
/* Let go of what a SELECT (QRESYNC) brought and nobody took. */
void imap_kept_clear(struct imap_store *s);
int imap_uids(struct store *st, uint32_t **out, size_t *n, struct err *e);
int imap_details(struct store *st, struct msg **msgs, size_t n,
    struct err *e);
/* Read and drop the answer of a prefetch nobody claimed; 0, or -1 with e
 * (the session is then broken). */
int imap_prefetch_drain(struct imap_store *s, struct err *e);
/* fetch_many and prefetch over session s alone. */
int imap_fetch_many_one(struct imap_store *s, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e);
int imap_prefetch_one(struct imap_store *s, struct msg **msgs, size_t n,
    struct err *e);

/* ---- a large message in pieces (imap_pieces.c) ---------------------- */

/* A message this large (by its listed size) is fetched in pieces. */
#define IMAP_PIECES_FROM (4u * 1024 * 1024)
/* The largest literal a FETCH of whole messages takes: they were listed
 * under IMAP_PIECES_FROM, and a server that far off is not believed. */
#define IMAP_WHOLE_MAX (16ull * IMAP_PIECES_FROM)
/* Fetch msgs[0..n) (of the selected folder) in pieces and hand them to
 * fn as idx[0..n), one message after the other: 0, or -1 when the
 * session failed; fn is told of each either way. */
int imap_fetch_pieces(struct imap_store *s, struct msg **msgs,
    const size_t *idx, size_t n, store_body_fn *fn, void *arg,
    struct err *e);

/* ---- fetching over several sessions (imap_fetchers.c) ----------------- */

int imap_prefetch(struct store *st, struct msg **msgs, size_t n,
    struct err *e);
int imap_fetch_many(struct store *st, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e);
/* Close the extra sessions. */
void imap_aux_close(struct imap_store *s);

/* ---- sessions at once (imap_sessions.c) ------------------------------ */

/* imap_store_new without a share of sessions (imap.c): for a sibling,
 * which takes its share of another store's. */
struct imap_store *imap_store_alloc(const struct cfg_account *acct,
    const char *label, unsigned connections);

/* s's share of the account's sessions: the first store of a run holds
 * one of `connections`; imap_sibling takes another. */
void imap_sessions_new(struct imap_store *s);
/* Leave s's session for others (the last store frees the budget). */
void imap_sessions_drop(struct imap_store *s);
struct store *imap_sibling(struct store *st);

/* ---- appending (imap_append.c) -------------------------------------- */

int imap_append(struct store *st, const char *data, size_t len,
    const struct flags *fl, int64_t date, struct msg *out, struct err *e);
int imap_append_begin(struct store *st, const struct flags *fl,
    int64_t date, uint64_t size, const char *name, struct err *e);
int imap_append_write(struct store *st, const char *data, size_t len,
    struct err *e);
int imap_append_end(struct store *st, struct msg *out, struct err *e);
void imap_append_abort(struct store *st);
void imap_batch_begin(struct store *st);
int imap_batch_end(struct store *st, bool *ok, uint32_t *uids,
    struct err *e);
/* Drop the batch queue of a closing session. */
void imap_append_queue_free(struct imap_store *s);

/* ---- writing (imap_write.c) ------------------------------------------ */

/* "(\Seen $Forwarded kw)", as APPEND takes flags. */
void imap_flag_text(struct buf *b, const struct flags *fl);
/* "1:3,7" at *pp into ascending UIDs (appended to *v), *pp moved past
 * it; false on a malformed set or one of more than max UIDs in all. */
bool imap_parse_uid_seq(const char **pp, uint32_t **v, size_t *n,
    size_t *cap, size_t max);
/* The most UIDs a COPYUID set may name. */
#define UID_SET_MAX 1000000
int imap_set_flags(struct store *st, struct flag_change *v, size_t n,
    struct err *e);
int imap_remove(struct store *st, struct msg **msgs, size_t n,
    struct err *e);
int imap_move(struct store *st, struct msg **msgs, size_t n,
    const char *to, struct msg *out, struct err *e);

/* ---- watching (imap_idle.c) ------------------------------------------ */

int imap_idle_start(struct store *st, const char *name, int *fd_out,
    bool *changed_out, struct err *e);
int imap_idle_check(struct store *st, bool *changed_out, struct err *e);
int imap_idle_done(struct store *st, bool again, int *fd_out,
    bool *changed_out, struct err *e);

#endif
