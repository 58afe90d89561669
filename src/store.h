/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The store interface shared by the IMAP and the Maildir backends. */
#ifndef MAILSYNC_STORE_H
#define MAILSYNC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flags.h"
#include "util.h"

struct cfg_account;
struct cfg_channel;

/* Everything two-sided is indexed by side. */
enum side {
	SIDE_REMOTE = 0,
	SIDE_LOCAL = 1,
};
#define SIDE_OTHER(s) ((enum side)(1 - (s)))

/*
 * Folder names between the engine and the stores are canonical: UTF-8, with
 * '/' as the hierarchy separator and "INBOX" for the inbox, whatever the
 * server's delimiter or the Maildir layout.  Each backend maps them.
 */
struct folder_info {
	char *name;
	bool noselect;	/* exists only as a parent; holds no messages */
};

struct folder_list {
	struct folder_info *v;
	size_t n, cap;
};
void folder_list_free(struct folder_list *l);
/* Index of name in l, or -1. */
long folder_list_find(const struct folder_list *l, const char *name);
/* Whether l has name as a folder that can hold messages. */
bool folder_list_selectable(const struct folder_list *l, const char *name);

struct folder_status {
	uint32_t uidvalidity;	/* remote only; 0 for Maildir */
	uint32_t uidnext;	/* remote only */
	uint64_t highestmodseq;	/* remote only; 0 without CONDSTORE */
	uint32_t exists;	/* number of messages */
};

/*
 * One message as listed.  Remote messages have uid != 0 and name == NULL;
 * local ones have name (the unique part of the file name, before ":2,")
 * and file (its path relative to the folder directory, e.g. "cur/NAME:2,S").
 */
struct msg {
	char *name;
	char *file;
	struct flags flags;
	uint64_t size;	/* wire size (CRLF line ends) if has_details or remote */
	int64_t date;	/* INTERNALDATE / file mtime, Unix time; 0 if unknown */
	char *msgid;	/* Message-ID header value if has_details, may be NULL */
	uint32_t uid;	/* here, with has_details: 64 bytes, not 72 */
	bool has_details;
};
void msg_free(struct msg *m);

struct msg_list {
	struct msg *v;
	size_t n, cap;
};
void msg_list_free(struct msg_list *l);

/*
 * A cheap fingerprint of a Maildir folder: the mtimes of cur/ and new/
 * (which change whenever a file is added, removed or renamed there) and
 * their number of entries.
 */
struct folder_stamp {
	int64_t mtime[2];	/* cur/, new/, in nanoseconds */
	uint32_t change;	/* a digest of their inode change times */
};

/* One flag change for store_ops.set_flags. */
struct flag_change {
	struct msg *msg;	/* its flags (and file, locally) are updated */
	struct flags to;	/* the complete new set */
};

/* The UIDs lo to hi, both included. */
struct uid_range {
	uint32_t lo, hi;
};

/* Whether uid is in v[0..n), sorted ranges that do not overlap. */
static inline bool
uid_ranges_have(const struct uid_range *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uid < v[mid].lo)
			hi = mid;
		else if (uid > v[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* What list_changed found; the caller frees msgs (msg_list_free) and
 * vanished (free). */
struct store_changes {
	struct msg_list msgs;	/* changed or arrived, as list gives them */
	uint32_t exists;	/* the folder's message count after */
	bool has_vanished;	/* the expunges are told, in vanished */
	struct uid_range *vanished;	/* sorted, not overlapping */
	size_t nvanished;
};

struct store;

/*
 * Receives each message of a fetch_many: its content (disk form) or, when
 * that message could not be fetched, NULL and the reason.  A message too
 * large to hold at once comes in pieces: consecutive calls for the same i
 * with more set, then one without (its data may be empty) that completes
 * it; a call with a reason ends it as failed, whatever came before.
 * Returning -1 stops nothing; it only tells the caller the message was not
 * handled.
 */
typedef int store_body_fn(void *arg, size_t i, const char *data, size_t len,
    bool more, const struct err *why);

/*
 * Contract common to every member: return 0 on success, or -1 with e set to
 * a message naming the operation, the folder and the cause (syscall + path,
 * or IMAP command + the server's text).  ERR_TEMP marks failures worth a
 * retry later (connection lost, server unreachable); ERR_FAIL the rest.
 * The message-level calls act on the folder chosen by the last select.
 */
struct store_ops {
	/* Connect and authenticate (IMAP), or check/create the root (Maildir).
	 * create_root: whether a missing Maildir root may be created. */
	int (*open)(struct store *s, bool create_root, struct err *e);
	/* Release everything; *sp becomes NULL. Safe on a half-open store. */
	void (*close)(struct store **sp);
	/* A second store of the same side and channel, not open yet, for
	 * another thread to sync other folders with at once.  It shares with
	 * s what the two must agree on: IMAP the account's sessions (the
	 * sibling holds one of them; NULL when none is left) and the
	 * hierarchy delimiter; Maildir the record of this run's own changes
	 * (maildir_track.c).  s must outlive it. */
	struct store *(*sibling)(struct store *s);

	/* Every folder on this side, canonical names, sorted by strcmp. */
	int (*list_folders)(struct store *s, struct folder_list *out,
	    struct err *e);
	/* Create a folder (and its missing parents). Exists already: OK. */
	int (*create_folder)(struct store *s, const char *name, struct err *e);
	/* Remove an empty folder. */
	int (*delete_folder)(struct store *s, const char *name, struct err *e);

	/* Open a folder for the message calls below; out may be NULL.  A folder
	 * that does not exist is an error (never an empty listing). */
	int (*select)(struct store *s, const char *name,
	    struct folder_status *out, struct err *e);
	/* Every message of the selected folder: ids, flags, date, and for the
	 * remote side the size.  out is appended to; the caller frees it. */
	int (*list)(struct store *s, struct msg_list *out, struct err *e);
	/* One message of the selected folder by its unique name, looked for
	 * only where a file with flags fl would be (Maildir:
	 * cur/NAME:2,LETTERS, or new/NAME without flags); *out as list gives
	 * it, or *found false when it is not there.  For a folder known
	 * unchanged since it was last listed.  NULL: not possible (IMAP). */
	int (*find)(struct store *s, const char *name, const struct flags *fl,
	    struct msg *out, bool *found, struct err *e);
	/* Fill size, msgid and has_details for msgs[0..n) (batched). */
	int (*details)(struct store *s, struct msg **msgs, size_t n,
	    struct err *e);
	/* Store a new message from disk-form content with flags and date.
	 * On success *out describes it (uid or name+file, flags, size).  The
	 * Maildir side uses out->name as the unique name if it is set, so a
	 * journal can record it beforehand. */
	int (*append)(struct store *s, const char *data, size_t len,
	    const struct flags *fl, int64_t date, struct msg *out,
	    struct err *e);
	/* The same in steps, for a message that comes in pieces:
	 * append_begin (flags and date as for append, name as out->name
	 * there; size: the message's exact size with CRLF line ends, which
	 * IMAP announces first), append_write for each piece in order, then append_end
	 * (out as append gives it) or append_abort, which leaves nothing
	 * behind (IMAP: drops the connection, cut in the middle of a
	 * literal).  One message at a time; after a failed step the
	 * message is dropped already. */
	int (*append_begin)(struct store *s, const struct flags *fl,
	    int64_t date, uint64_t size, const char *name, struct err *e);
	int (*append_write)(struct store *s, const char *data, size_t len,
	    struct err *e);
	int (*append_end)(struct store *s, struct msg *out, struct err *e);
	void (*append_abort)(struct store *s);
	/* Drop what an append under unique name `name` to the selected
	 * folder left unfinished when a run died (Maildir: tmp/NAME), once
	 * its journaled intent is resolved.  NULL where nothing is left. */
	void (*discard)(struct store *s, const char *name);
	/* Set the complete flag set of each message; batched (IMAP: one
	 * UID STORE per distinct change over a UID set). */
	int (*set_flags)(struct store *s, struct flag_change *v, size_t n,
	    struct err *e);
	/* Remove these messages for good: IMAP marks them \Deleted and
	 * UID EXPUNGEs exactly these UIDs (never a plain EXPUNGE); Maildir
	 * unlinks and fsyncs the directory. */
	int (*remove)(struct store *s, struct msg **msgs, size_t n,
	    struct err *e);
	/* Move msgs[0..n) of the selected folder into folder `to` (which
	 * exists) without transferring their content: IMAP UID MOVE (or
	 * UID COPY, \Deleted, UID EXPUNGE), Maildir rename(2) keeping each
	 * unique name and its flags.  out[i] (zeroed by the caller) then
	 * describes msgs[i] in `to`; a new UID the server did not report
	 * (no COPYUID) is 0.  The selection stays on the source folder. */
	int (*move)(struct store *s, struct msg **msgs, size_t n,
	    const char *to, struct msg *out, struct err *e);
	/* What a folder holds (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, count)
	 * without selecting it; the selection is unchanged.  NULL for stores
	 * without such a cheap query (Maildir). */
	int (*status)(struct store *s, const char *name,
	    struct folder_status *out, struct err *e);
	/* The folder's stamp, without listing it or changing the selection.
	 * NULL for stores without one (IMAP). */
	int (*stamp)(struct store *s, const char *name,
	    struct folder_stamp *out, struct err *e);
	/* Start noticing who changes folder's messages (before its stamp
	 * is taken); a store that cannot (out of watches, say) just tells
	 * tracked_stamp "not only mine".  NULL: never possible (IMAP). */
	void (*track)(struct store *s, const char *name);
	/* The folder's stamp now, with *own telling whether every change
	 * to its messages since track was this store's own and no later
	 * change can hide behind the stamp (false when in doubt).  Ends
	 * the tracking of the folder. */
	int (*tracked_stamp)(struct store *s, const char *name,
	    struct folder_stamp *out, bool *own, struct err *e);

	/*
	 * Waiting for changes (IMAP IDLE, RFC 2177), in steps so that one
	 * thread can poll(2) several connections and other descriptors.
	 * NULL for stores that cannot wait (Maildir: use inotify).  Between
	 * idle_start and the last idle_done the store is usable for nothing
	 * else (close included); the selection is lost.  *changed_out tells
	 * whether the server reported new, expunged or changed messages (or
	 * folders) in what was read.  A connection the server closed or
	 * ended is ERR_TEMP (reconnect); what the server cannot do is
	 * ERR_FAIL.
	 *
	 * idle_start: watch folder `name`, opened read-only (EXAMINE), or with
	 * name NULL every folder of the account (NOTIFY, RFC 5465; ERR_FAIL
	 * when the server lacks it or CONDSTORE), then enter IDLE.  *fd_out
	 * becomes readable when the server says more; lines that already
	 * arrived are read, so poll(2) need not report them.
	 */
	int (*idle_start)(struct store *s, const char *name, int *fd_out,
	    bool *changed_out, struct err *e);
	/* Call when the descriptor is readable: reads one line (waiting at
	 * most the account's timeout for the rest of it) and any more that
	 * are already buffered. */
	int (*idle_check)(struct store *s, bool *changed_out, struct err *e);
	/* Leave IDLE (DONE) and read up to the server's reply; with again,
	 * enter IDLE once more on what idle_start set up (*fd_out as there;
	 * may be NULL without again).  Renewing this way at least every 29
	 * minutes keeps servers from logging the client out. */
	int (*idle_done)(struct store *s, bool again, int *fd_out,
	    bool *changed_out, struct err *e);

	/* Fetch msgs[0..n) of the selected folder in as few round trips as
	 * the store allows (IMAP: one UID FETCH per UID set), calling fn once
	 * per message as it arrives, so only one message is held at a time
	 * (a large one in pieces: its size is then set, exact, before the
	 * first).  The content comes with LF line ends (disk form); nothing
	 * is marked as seen.  A server's message is taken as large by its
	 * listed size (0: unknown, fetched whole up to 64 MiB).
	 * -1 only when the session failed (fn was then called with the
	 * reason for every message not delivered). */
	int (*fetch_many)(struct store *s, struct msg **msgs, size_t n,
	    store_body_fn *fn, void *arg, struct err *e);
	/* Ask for these bodies now, so that they come while the caller does
	 * other work (makes the previous batch durable); the next fetch_many
	 * of exactly these messages reads them.  Any other request first
	 * reads and drops them.  NULL where that gains nothing. */
	int (*prefetch)(struct store *s, struct msg **msgs, size_t n,
	    struct err *e);
	/* Group commit (NULL where every append is durable by itself): after
	 * batch_begin, appends to the selected folder are written but made
	 * durable and visible only by batch_end, all at once (one file system
	 * sync, the renames, one fsync per directory; on a server, few
	 * APPEND commands of many messages each).  ok[k] tells whether the
	 * k-th successful append since batch_begin made it (the others left
	 * nothing behind), and on a server uids[k] its UID (append's out->uid
	 * is 0 then).  The selection must not change in between.
	 * batch_seal (NULL where it gains nothing) closes the batch and
	 * starts making it durable in the background: the next batch_begin
	 * may follow at once, and batch_end then ends the sealed batch (the
	 * oldest), not the one being written.  At most one batch is sealed. */
	void (*batch_begin)(struct store *s);
	int (*batch_seal)(struct store *s, struct err *e);
	int (*batch_end)(struct store *s, bool *ok, uint32_t *uids,
	    struct err *e);

	/* The messages of the selected folder whose flags changed, or that
	 * arrived, after modification sequence `since` (CONDSTORE, RFC 7162
	 * section 3.1.4), and its message count then, into *out (which it
	 * clears first).  Where the server names expunges (QRESYNC, RFC 7162
	 * section 3.2.6) out->has_vanished is set and out->vanished holds
	 * every UID expunged since `since`, and maybe UIDs that never
	 * existed; otherwise expunges are not reported.  NULL for stores
	 * without modification sequences (Maildir). */
	int (*list_changed)(struct store *s, uint64_t since,
	    struct store_changes *out, struct err *e);
	/* Before a select: the caller means to ask list_changed right after
	 * it for the changes since modseq `since` of UIDVALIDITY
	 * uidvalidity.  A store that can answer both in one command
	 * (SELECT ... QRESYNC, RFC 7162 section 3.2.5) does, and list_changed
	 * then costs no round trip.  NULL where there is no such thing. */
	void (*expect_changes)(struct store *s, uint32_t uidvalidity,
	    uint64_t since);
	/* Every UID of the selected folder, ascending, in *out (the caller
	 * frees it).  NULL for stores without UIDs (Maildir). */
	int (*uids)(struct store *s, uint32_t **out, size_t *n,
	    struct err *e);
};

struct store {
	const struct store_ops *ops;
	enum side side;
	const char *label;	/* "remote"/"local" + channel, for messages */
};

/* Backends.  The config objects must outlive the store.  connections:
 * how many sessions the IMAP store may hold at once (large fetches use
 * the extra ones); at least 1. */
struct store *imap_store_new(const struct cfg_account *acct,
    const char *label, unsigned connections);
struct store *maildir_store_new(const struct cfg_channel *ch,
    const char *label);

/* A fresh Maildir unique name ("<sec>.M<usec>P<pid>Q<n>.<host>"). */
char *maildir_unique_name(void);

/*
 * Read message m of st's selected folder through nm (msgnorm.h), in
 * pieces when it is large; *msgid, when given and still NULL, gets its
 * Message-ID.  nm is ended either way; -1 when the message did not come
 * whole.
 */
struct msgnorm;
int store_fetch_norm(struct store *st, struct msg *m, struct msgnorm *nm,
    char **msgid, struct err *e);

#endif
