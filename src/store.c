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
