/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers for the data types shared by both stores. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "msgnorm.h"
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

/* fetch_many's receiver for store_fetch_norm. */
struct norm_fetch {
	struct msgnorm *nm;
	char **msgid;
	bool first;
	bool done;
	struct err why;
};

static int
norm_body(void *arg, size_t i, const char *data, size_t len, bool more,
    const struct err *why)
{
	struct norm_fetch *nf = arg;

	(void)i;
	if (why != NULL) {
		nf->why = *why;
		return -1;
	}
	if (nf->first && nf->msgid != NULL && *nf->msgid == NULL && len > 0)
		*nf->msgid = header_message_id(data, len);
	nf->first = false;
	msgnorm_feed(nf->nm, data, len);
	if (!more)
		nf->done = true;
	return 0;
}

int
store_fetch_norm(struct store *st, struct msg *m, struct msgnorm *nm,
    char **msgid, struct err *e)
{
	struct norm_fetch nf = { .nm = nm, .msgid = msgid, .first = true };
	int rc = 0;

	if (st->ops->fetch_many(st, &m, 1, norm_body, &nf, e) < 0 ||
	    !nf.done) {
		if (e->code == ERR_OK)
			*e = nf.why;
		rc = -1;
	}
	msgnorm_end(nm);
	return rc;
}
