/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The Maildir store: the local side, one Maildir per folder under a root. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "maildir_priv.h"
#include "utf7.h"

#define QUOTE_MAX 200		/* bytes of a name shown in a message */

/* A name or path in a form safe for messages (newly allocated). */
char *
maildir_quote(const char *s)
{
	struct buf b = { 0 };

	utf7_quote(&b, s, QUOTE_MAX);
	return b.data;
}

void
maildir_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int
maildir_need_open(struct maildir_store *s, struct err *e)
{
	if (s->root_fd < 0)
		return err_set(e, ERR_FAIL, "%s: maildir %s is not open",
		    s->base.label ? s->base.label : "local", s->root);
	return 0;
}

int
maildir_need_sel(struct maildir_store *s, struct err *e)
{
	if (s->sel == NULL)
		return err_set(e, ERR_FAIL, "%s: no folder selected",
		    s->base.label ? s->base.label : "local");
	return 0;
}

static int
md_open(struct store *st, bool create_root, struct err *e)
{
	struct maildir_store *s = md(st);

	maildir_close_fd(&s->root_fd);
	s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0 && errno == ENOENT) {
		if (!create_root)
			return err_set(e, ERR_SAFETY,
			    "maildir root %s does not exist", s->root);
		if (mkdir_p(s->root, e) < 0)
			return -1;
		s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->root_fd < 0)
		return err_sys(e, ERR_FAIL, "open(%s) failed", s->root);
	return 0;
}

static void
md_close(struct store **sp)
{
	struct maildir_store *s;

	if (*sp == NULL)
		return;
	s = md(*sp);
	maildir_unselect(s);
	maildir_track_free(s);
	free(s->pend);
	free(s->sealed.pend);
	maildir_close_fd(&s->root_fd);
	free(s->root);
	free(s->inbox);
	free(s);
	*sp = NULL;
}

static struct store *
md_sibling(struct store *st)
{
	struct maildir_store *s = md(st);
	struct store *n = maildir_store_new(s->ch, st->label);

	maildir_track_share(s, md(n));
	return n;
}

static const struct store_ops maildir_ops = {
	.open = md_open,
	.close = md_close,
	.sibling = md_sibling,
	.list_folders = maildir_list_folders,
	.create_folder = maildir_create_folder,
	.delete_folder = maildir_delete_folder,
	.select = maildir_select,
	.list = maildir_list,
	.find = maildir_find,
	.details = maildir_details,
	.fetch_many = maildir_fetch_many,
	.append = maildir_append,
	.append_begin = maildir_append_begin,
	.append_write = maildir_append_write,
	.append_end = maildir_append_end,
	.append_abort = maildir_append_abort,
	.discard = maildir_discard,
	.set_flags = maildir_set_flags,
	.remove = maildir_remove,
	.move = maildir_move,
	.stamp = maildir_stamp,
	.track = maildir_track,
	.tracked_stamp = maildir_tracked_stamp,
	.batch_begin = maildir_batch_begin,
	.batch_seal = maildir_batch_seal,
	.batch_end = maildir_batch_end,
};

struct store *
maildir_store_new(const struct cfg_channel *ch, const char *label)
{
	struct maildir_store *s = xcalloc(1, sizeof(*s));

	s->base.ops = &maildir_ops;
	s->base.side = SIDE_LOCAL;
	s->base.label = label;
	s->ch = ch;
	s->root = maildir_root_of(ch);
	s->inbox = maildir_inbox_of(ch, s->root);
	s->root_fd = -1;
	s->dir_fd = -1;
	s->app.fd = -1;
	s->sealed.fd = -1;
	for (int i = 0; i < NSUB; i++)
		s->sub_fd[i] = -1;
	return &s->base;
}
