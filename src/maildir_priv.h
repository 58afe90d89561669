/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the parts of the Maildir store share; private to src/maildir*.c. */
#ifndef MAILSYNC_MAILDIR_PRIV_H
#define MAILSYNC_MAILDIR_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "err.h"
#include "flags.h"
#include "store.h"
#include "util.h"

#define KW_MAX 26		/* dovecot-keywords letters a..z */
#define KW_FILE "dovecot-keywords"
#define LETTERS_MAX (6 + KW_MAX + 1)

enum { SUB_CUR, SUB_NEW, SUB_TMP, NSUB };
static const char *const sub_name[NSUB] = { "cur", "new", "tmp" };

struct maildir_store {
	struct store base;	/* first: a struct store * converts back */
	const struct cfg_channel *ch;
	char *root;
	char *inbox;
	int root_fd;
	char *sel;		/* the selected folder, or NULL */
	char *sel_path;
	int dir_fd;
	int sub_fd[NSUB];
	char *kw[KW_MAX];	/* keyword of letter 'a' + i, or NULL */
	bool kw_warned;
	/* group commit: appends written to tmp/, renamed by batch_end */
	bool deferred;
	struct pending {
		char *name;	/* in tmp/ */
		int dst;	/* SUB_CUR or SUB_NEW */
		char *target;
	} *pend;
	size_t npend, cappend;
	/* the batch sealed before these, syncing while they are written */
	struct sealed {
		bool on;	/* sealed and not yet ended */
		bool threaded;	/* thread runs (or ran) the sync */
		pthread_t thread;
		int fd;		/* its own descriptor of tmp/, or -1 */
		int err;	/* errno of the sync; 0: durable */
		struct pending *pend;
		size_t npend, cappend;
	} sealed;
	/* the append under way (append_begin .. append_end) */
	struct maildir_append {
		char *name;	/* in tmp/; NULL: none */
		int fd;
		uint64_t size;	/* wire size so far */
		bool after_cr;	/* the last byte written was a CR */
		char *msgid;	/* from the first piece's header */
		struct flags flags;
		int64_t date;
	} app;
	struct maildir_tracker *trk;	/* see maildir_track.c; NULL: none */
};

/* Where a folder lives: directories to walk down from a base. */
struct loc {
	bool in_root;		/* base: the root fd; else the inbox path */
	struct strv comps;	/* one directory name each */
	char *path;		/* the folder directory, for messages */
};

static inline struct maildir_store *
md(struct store *st)
{
	return (struct maildir_store *)st;
}

/*
 * A function named maildir_<member> implements that member of store_ops:
 * its contract is in store.h.  The table itself is in maildir.c.
 */

/* maildir.c: the store's lifecycle and its operations table */

/* A name or path in a form safe for messages (newly allocated). */
char *maildir_quote(const char *s);
/* Close *fd if open; *fd becomes -1. */
void maildir_close_fd(int *fd);
/* 0, or -1 with ERR_FAIL when the root is not open / no folder selected. */
int maildir_need_open(struct maildir_store *s, struct err *e);
int maildir_need_sel(struct maildir_store *s, struct err *e);

/* maildir_name.c: folder names to directories, no I/O */

/* dir/name, newly allocated ("/" gives "/name"). */
char *maildir_path_join(const char *dir, const char *name);
/* ch's root without trailing slashes, and its inbox directory (newly
 * allocated; see maildir_folder_path). */
char *maildir_root_of(const struct cfg_channel *ch);
char *maildir_inbox_of(const struct cfg_channel *ch, const char *root);
/* Whether s[0..len) is "cur", "new" or "tmp". */
bool maildir_is_sub_name(const char *s, size_t len);
/* Why name cannot be a folder under layout (the REASONs listed at
 * maildir_folder_path; why holds the formatted ones), or NULL if it can. */
const char *maildir_name_problem(const char *name, enum cfg_layout layout,
    char *why, size_t whysz);
/* Where folder name lives under ch, or the refusals of
 * maildir_folder_path; after success *l needs maildir_loc_free. */
int maildir_folder_loc(const struct cfg_channel *ch, const char *name,
    struct loc *l, struct err *e);
void maildir_loc_free(struct loc *l);

/* maildir_folder.c: folder directories */

/* The entries of directory fd but "." and ".." (and dot files if !dots),
 * appended to out; path is for messages. */
int maildir_read_names(int fd, const char *path, bool dots,
    struct strv *out, struct err *e);
/* The same, with each entry's d_type (DT_UNKNOWN where the file system
 * does not say) appended to types. */
int maildir_read_entries(int fd, const char *path, bool dots,
    struct strv *out, struct buf *types, struct err *e);
void maildir_close_subs(int sub[NSUB]);
/* Drop the selection; appends of an unfinished batch are unlinked. */
void maildir_unselect(struct maildir_store *s);
int maildir_list_folders(struct store *st, struct folder_list *out,
    struct err *e);
int maildir_create_folder(struct store *st, const char *name, struct err *e);
int maildir_delete_folder(struct store *st, const char *name, struct err *e);
int maildir_select(struct store *st, const char *name,
    struct folder_status *out, struct err *e);
int maildir_stamp(struct store *st, const char *name,
    struct folder_stamp *out, struct err *e);
/* A descriptor of folder name's directory (no link below the root
 * followed); the caller closes it. */
int maildir_folder_dir(struct maildir_store *s, const char *name, int *fd,
    struct err *e);

/* maildir_msg.c: message file names, listing, reading */

/* "cur/NAME" or "new/NAME" into its SUB_ directory and file name; -1 for
 * anything else. */
int maildir_parse_file(const char *file, int *sub, const char **fname);
/* The same for m->file, or ERR_FAIL "folder 'F': OP: bad message file
 * 'FILE'". */
int maildir_msg_file(struct maildir_store *s, const struct msg *m,
    const char *op, int *sub, const char **fname, struct err *e);
/* The unique name of file name fname (without ":2,..."), newly allocated. */
char *maildir_name_of(const char *fname);
/* The file holding unique name now, after a reader renamed it: *fname
 * newly allocated and *sub set, or *fname NULL when there is none. */
int maildir_find_by_name(struct maildir_store *s, const char *name,
    int *sub, char **fname, struct err *e);
/* Read fd to its end (or max bytes if max > 0), appending to out; -1 with
 * errno set. */
int maildir_read_fd(int fd, size_t max, struct buf *out);
int maildir_list(struct store *st, struct msg_list *out, struct err *e);
int maildir_details(struct store *st, struct msg **msgs, size_t n,
    struct err *e);
int maildir_fetch_many(struct store *st, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e);

/* maildir_write.c: changes, made durable */

/* write(2) all n bytes, retrying on EINTR; -1 with errno set. */
int maildir_write_all(int fd, const char *p, size_t n);
/* Rename without replacing an existing file: a journaled unique name that
 * exists already must not overwrite another message.  -1 with errno set. */
int maildir_rename_noreplace(int ofd, const char *old, int nfd,
    const char *new);
int maildir_append(struct store *st, const char *data, size_t len,
    const struct flags *fl, int64_t date, struct msg *out, struct err *e);
int maildir_append_begin(struct store *st, const struct flags *fl,
    int64_t date, uint64_t size, const char *name, struct err *e);
int maildir_append_write(struct store *st, const char *data, size_t len,
    struct err *e);
int maildir_append_end(struct store *st, struct msg *out, struct err *e);
void maildir_append_abort(struct store *st);
void maildir_discard(struct store *st, const char *name);
int maildir_find(struct store *st, const char *name, const struct flags *fl,
    struct msg *out, bool *found, struct err *e);
int maildir_set_flags(struct store *st, struct flag_change *v, size_t n,
    struct err *e);
int maildir_remove(struct store *st, struct msg **msgs, size_t n,
    struct err *e);
int maildir_move(struct store *st, struct msg **msgs, size_t n,
    const char *to, struct msg *out, struct err *e);

/* maildir_batch.c: group commit of appends */

void maildir_batch_begin(struct store *st);
int maildir_batch_seal(struct store *st, struct err *e);
int maildir_batch_end(struct store *st, bool *ok, uint32_t *uids,
    struct err *e);
/* Drop the batches not ended (waiting for a sealed one's sync): none of
 * their files becomes visible. */
void maildir_batch_drop(struct maildir_store *s);

/* maildir_track.c: whose changes a folder saw */

void maildir_track(struct store *st, const char *name);
int maildir_tracked_stamp(struct store *st, const char *name,
    struct folder_stamp *out, bool *own, struct err *e);
/* This store is about to make entry name appear in (arrive) or leave
 * sub (SUB_CUR, SUB_NEW) of folder: an event that is its own. */
void maildir_track_expect(struct maildir_store *s, const char *folder,
    int sub, bool arrive, const char *name);
/* Let go of s's share of its tracker (the last one frees it). */
void maildir_track_free(struct maildir_store *s);
/* to records its changes with from's: one tracker for the channel. */
void maildir_track_share(struct maildir_store *from, struct maildir_store *to);

/* maildir_kw.c: keyword letters of the selected folder */

void maildir_kw_clear(struct maildir_store *s);
/* Read the selected folder's dovecot-keywords (none is an empty map). */
int maildir_kw_load(struct maildir_store *s, struct err *e);
/* Give every keyword of the space-separated lists[0..n) (NULL entries
 * skipped) a letter, saving the map if it grew. */
int maildir_kw_ensure(struct maildir_store *s, const char *const *lists,
    size_t n, struct err *e);
/* The ":2," letters of fl and the flags they store (keywords with
 * letters; stored->kw newly allocated). */
void maildir_letters_for(struct maildir_store *s, const struct flags *fl,
    char out[LETTERS_MAX], struct flags *stored);
/* The flags of file name fname in directory sub (none in new/). */
void maildir_flags_of(const struct maildir_store *s, const char *fname,
    int sub, struct flags *f);

#endif
