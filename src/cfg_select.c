/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The channels and folders that command-line selectors name. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_priv.h"
#include "pattern.h"

struct cfg_channel *
cfg_channel_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i].name, name) == 0)
			return &c->channels[i];
	return NULL;
}

static struct cfg_group *
group_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

struct selection {
	struct cfg_selection *v;
	size_t n;
	size_t cap;
};

/* Add ch whole (folders NULL) or restricted to folders; whole wins. */
static void
select_add(struct selection *s, struct cfg_channel *ch,
    const struct strv *folders)
{
	struct cfg_selection *sel = NULL;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].channel == ch)
			sel = &s->v[i];
	if (sel == NULL) {
		xgrow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
		sel = &s->v[s->n++];
		memset(sel, 0, sizeof(*sel));
		sel->channel = ch;
		if (folders)
			for (size_t i = 0; i < folders->n; i++)
				strv_add(&sel->folders, folders->v[i]);
		return;
	}
	if (sel->folders.n == 0)
		return;
	if (folders == NULL) {
		strv_free(&sel->folders);
		return;
	}
	for (size_t i = 0; i < folders->n; i++)
		if (!strv_contains(&sel->folders, folders->v[i]))
			strv_add(&sel->folders, folders->v[i]);
}

static int
unknown_selector(const struct cfg *c, const char *name, bool groups,
    struct err *e)
{
	size_t n = c->nchannels + (groups ? c->ngroups : 0);
	const char **names = xcalloc(n + 1, sizeof(*names));
	char dym[300];

	for (size_t i = 0; i < c->nchannels; i++)
		names[i] = c->channels[i].name;
	for (size_t i = 0; groups && i < c->ngroups; i++)
		names[c->nchannels + i] = c->groups[i].name;
	cfg_did_you_mean(dym, sizeof(dym), cfg_nearest(name, names, n));
	free(names);
	return err_set(e, ERR_CONFIG, "unknown %s '%s'%s",
	    groups ? "channel or group" : "channel", name, dym);
}

static int
select_arg(const struct cfg *c, const char *arg, struct selection *s,
    struct err *e)
{
	const char *colon = strchr(arg, ':');
	struct cfg_channel *ch;
	struct cfg_group *g;

	if (colon) {
		char *name = xstrndup(arg, (size_t)(colon - arg));
		struct strv folders = { 0 };
		const char *f = colon + 1;

		ch = cfg_channel_find(c, name);
		if (ch == NULL) {
			unknown_selector(c, name, false, e);
			free(name);
			return -1;
		}
		free(name);
		while (*f) {
			size_t len = strcspn(f, ",");
			char *folder = xstrndup(f, len);
			struct err pe = { 0 };

			if (len && pattern_check(folder, &pe) == -1) {
				err_set(e, ERR_CONFIG, "invalid folder name "
				    "'%s': %s", folder, pe.msg);
				free(folder);
				strv_free(&folders);
				return -1;
			}
			if (len && !strv_contains(&folders, folder))
				strv_add_owned(&folders, folder);
			else
				free(folder);
			f += len;
			if (*f == ',')
				f++;
		}
		if (folders.n == 0)
			return err_set(e, ERR_CONFIG, "no folder given after "
			    "'%s'", arg);
		select_add(s, ch, &folders);
		strv_free(&folders);
		return 0;
	}
	if ((ch = cfg_channel_find(c, arg)) != NULL) {
		select_add(s, ch, NULL);
		return 0;
	}
	if ((g = group_find(c, arg)) != NULL) {
		for (size_t i = 0; i < g->channels.n; i++) {
			ch = cfg_channel_find(c, g->channels.v[i]);
			if (ch)
				select_add(s, ch, NULL);
		}
		return 0;
	}
	return unknown_selector(c, arg, true, e);
}

int
cfg_select(const struct cfg *c, char *const *args, int nargs, bool all,
    struct cfg_selection **out, size_t *nout, struct err *e)
{
	struct selection s = { 0 };

	*out = NULL;
	*nout = 0;
	if (all && nargs > 0)
		return err_set(e, ERR_CONFIG,
		    "-a and channel names cannot be combined");
	if (!all && nargs <= 0)
		return err_set(e, ERR_CONFIG,
		    "no channel given (use -a or name channels)");
	if (all)
		for (size_t i = 0; i < c->nchannels; i++)
			select_add(&s, &c->channels[i], NULL);
	for (int i = 0; i < nargs; i++) {
		if (select_arg(c, args[i], &s, e) == -1) {
			cfg_selection_free(&s.v, s.n);
			return -1;
		}
	}
	*out = s.v;
	*nout = s.n;
	return 0;
}

void
cfg_selection_free(struct cfg_selection **sel, size_t n)
{
	if (*sel == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		strv_free(&(*sel)[i].folders);
	free(*sel);
	*sel = NULL;
}
