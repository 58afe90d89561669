/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers for the data types shared by both stores. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"

void
folder_list_free(struct folder_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

long
folder_list_find(const struct folder_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return (long)i;
	return -1;
}

bool
folder_list_selectable(const struct folder_list *l, const char *name)
{
	long i = folder_list_find(l, name);

	return i >= 0 && !l->v[i].noselect;
}

void
msg_free(struct msg *m)
{
	free(m->name);
	free(m->file);
	free(m->msgid);
	flags_free(&m->flags);
	memset(m, 0, sizeof(*m));
}

void
msg_list_free(struct msg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		msg_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* A reading buffer up to this size serves the next message too. */
#define STORE_KEEP_BYTES (1u << 20)

int
store_fetch_many(struct store *s, struct msg **msgs, size_t n,
    store_body_fn *fn, void *arg, struct err *e)
{
	struct buf data = { 0 };

	if (s->ops->fetch_many != NULL)
		return s->ops->fetch_many(s, msgs, n, fn, arg, e);
	for (size_t i = 0; i < n; i++) {
		struct err fe = { 0 };

		buf_reset(&data);
		if (s->ops->fetch(s, msgs[i], &data, &fe) < 0) {
			fn(arg, i, NULL, 0, &fe);
			if (fe.code == ERR_TEMP) {
				/* the session is gone: the rest fail alike */
				while (++i < n)
					fn(arg, i, NULL, 0, &fe);
				*e = fe;
				buf_free(&data);
				return -1;
			}
			continue;
		}
		fn(arg, i, data.data ? data.data : "", data.len, NULL);
		/* a large message's room is not kept for the rest */
		if (data.cap > STORE_KEEP_BYTES)
			buf_free(&data);
	}
	buf_free(&data);
	return 0;
}
