/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Table-driven tests of the pure planner, in the style of isync scenarios. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "cfg.h"
#include "plan.h"

/*
 * Scenario notation (tokens separated by blanks; brackets may hold blanks):
 *
 *   flags    LETTERS[kw kw]  e.g. "S", "FS[$Junk work]", "[x]", "-" or ""
 *   remote   UID:FLAGS ATTRS                 e.g. "3:S/m3#120@900"
 *   local    NAME:FLAGS ATTRS                e.g. "a:FS/m3#120~"
 *   state    UID=NAME:FLAGS ATTRS            "-" for uid 0 or no name
 *   intents  dUID>NAME:FLAGS                 a download of UID into NAME
 *            uNAME:FLAGS ATTRS               an upload of NAME
 *   ATTRS    /MSGID  #SIZE (default 100)  @DATE (default 1000)
 *            ~ (local: no details)  ^UIDNEXT (upload intents)
 *   options  both|pull|push  prop=new,flags,del  expunge=none|server|disk|
 *            both  max=N  mindate=N  limit=P  force  uidv
 *
 * Defaults: direction both, propagate everything, expunge both, no limits,
 * delete-limit 25%.
 */
struct tcase {
	const char *name;
	const char *opts;
	const char *state;
	const char *intents;
	const char *remote;
	const char *local;
	const char *want;
};

struct fixture {
	struct msg *msgs[2];
	size_t nmsgs[2], cap[2];
	struct state_pair *pairs;
	size_t npairs, pcap;
	struct state_intent *intents;
	size_t nintents, icap;
	struct plan_input in;
};

struct attrs {
	char *msgid;
	uint64_t size;
	int64_t date;
	bool details;
	uint32_t uidnext;
};

/* Next blank-separated token (blanks inside [] belong to it), or NULL. */
static char *
next_token(const char **pp)
{
	const char *p = *pp, *start;
	int depth = 0;

	while (*p == ' ' || *p == '\n' || *p == '\t')
		p++;
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	start = p;
	while (*p != '\0' && (depth > 0 || (*p != ' ' && *p != '\n' &&
	    *p != '\t'))) {
		if (*p == '[')
			depth++;
		else if (*p == ']')
			depth--;
		p++;
	}
	*pp = p;
	return xstrndup(start, (size_t)(p - start));
}

static void
parse_flags(const char **pp, struct flags *f)
{
	const char *p = *pp;

	memset(f, 0, sizeof(*f));
	for (;;) {
		if (*p == '[') {
			const char *e = strchr(p, ']');

			if (e == NULL)
				abort();
			f->kw = xstrndup(p + 1, (size_t)(e - p - 1));
			flags_kw_normalize(&f->kw);
			p = e + 1;
		} else if (*p != '\0' && strchr("DFPRST", *p)) {
			char l[2] = { *p, '\0' };

			f->bits |= flags_bits_from_maildir(l);
			p++;
		} else if (*p == '-') {
			p++;
		} else {
			break;
		}
	}
	*pp = p;
}

static void
parse_attrs(const char *p, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->size = 100;
	a->date = 1000;
	a->details = true;
	while (*p != '\0') {
		char c = *p++;
		size_t n = strcspn(p, "/#@~^");

		switch (c) {
		case '/':
			free(a->msgid);
			a->msgid = xstrndup(p, n);
			break;
		case '#':
			a->size = strtoull(p, NULL, 10);
			break;
		case '@':
			a->date = strtoll(p, NULL, 10);
			break;
		case '^':
			a->uidnext = (uint32_t)strtoul(p, NULL, 10);
			break;
		case '~':
			a->details = false;
			n = 0;
			break;
		default:
			abort();
		}
		p += n;
	}
}

static uint32_t
parse_uid(const char *s)
{
	return strcmp(s, "-") == 0 ? 0 : (uint32_t)strtoul(s, NULL, 10);
}

static void
add_msg(struct fixture *fx, enum side s, const char *tok)
{
	const char *colon = strchr(tok, ':'), *p;
	struct msg *m;
	struct attrs a;

	if (colon == NULL)
		abort();
	xgrow(&fx->msgs[s], &fx->cap[s], fx->nmsgs[s] + 1, sizeof(struct msg));
	m = &fx->msgs[s][fx->nmsgs[s]++];
	memset(m, 0, sizeof(*m));
	if (s == SIDE_REMOTE) {
		m->uid = (uint32_t)strtoul(tok, NULL, 10);
	} else {
		m->name = xstrndup(tok, (size_t)(colon - tok));
		m->file = xasprintf("cur/%s:2,", m->name);
	}
	p = colon + 1;
	parse_flags(&p, &m->flags);
	parse_attrs(p, &a);
	m->msgid = a.msgid;
	m->size = a.size;
	m->date = a.date;
	m->has_details = s == SIDE_REMOTE || a.details;
}

static void
add_pair(struct fixture *fx, const char *tok)
{
	const char *eq = strchr(tok, '='), *colon, *p;
	struct state_pair *sp;
	struct attrs a;
	char *uid;

	if (eq == NULL || (colon = strchr(eq, ':')) == NULL)
		abort();
	xgrow(&fx->pairs, &fx->pcap, fx->npairs + 1, sizeof(*sp));
	sp = &fx->pairs[fx->npairs++];
	memset(sp, 0, sizeof(*sp));
	sp->id = fx->npairs;
	uid = xstrndup(tok, (size_t)(eq - tok));
	sp->uid = parse_uid(uid);
	free(uid);
	if (colon - eq - 1 != 1 || eq[1] != '-')
		sp->name = xstrndup(eq + 1, (size_t)(colon - eq - 1));
	p = colon + 1;
	parse_flags(&p, &sp->flags);
	parse_attrs(p, &a);
	sp->msgid = a.msgid;
	sp->size = a.size;
}

static void
add_intent(struct fixture *fx, const char *tok)
{
	struct state_intent *it;
	const char *colon = strchr(tok, ':'), *p;
	struct attrs a;

	if (colon == NULL)
		abort();
	xgrow(&fx->intents, &fx->icap, fx->nintents + 1, sizeof(*it));
	it = &fx->intents[fx->nintents++];
	memset(it, 0, sizeof(*it));
	it->id = fx->nintents;
	if (tok[0] == 'd') {
		const char *gt = strchr(tok, '>');

		if (gt == NULL || gt > colon)
			abort();
		it->kind = STATE_INTENT_DOWNLOAD;
		it->uid = (uint32_t)strtoul(tok + 1, NULL, 10);
		it->name = xstrndup(gt + 1, (size_t)(colon - gt - 1));
	} else if (tok[0] == 'u') {
		it->kind = STATE_INTENT_UPLOAD;
		it->name = xstrndup(tok + 1, (size_t)(colon - tok - 1));
	} else {
		abort();
	}
	p = colon + 1;
	parse_flags(&p, &it->flags);
	parse_attrs(p, &a);
	it->msgid = a.msgid;
	it->size = a.size;
	it->uidnext = a.uidnext;
}

static void
parse_opts(struct plan_opts *o, bool *uidv, const char *s)
{
	const char *p = s;
	char *tok;

	memset(o, 0, sizeof(*o));
	o->direction = CFG_DIR_BOTH;
	o->propagate = CFG_PROP_ALL;
	o->expunge = CFG_SIDE_BOTH;
	o->delete_limit = 25;
	*uidv = false;
	while ((tok = next_token(&p)) != NULL) {
		if (strcmp(tok, "both") == 0)
			o->direction = CFG_DIR_BOTH;
		else if (strcmp(tok, "pull") == 0)
			o->direction = CFG_DIR_PULL;
		else if (strcmp(tok, "push") == 0)
			o->direction = CFG_DIR_PUSH;
		else if (strcmp(tok, "force") == 0)
			o->force = true;
		else if (strcmp(tok, "uidv") == 0)
			*uidv = true;
		else if (strncmp(tok, "prop=", 5) == 0) {
			o->propagate = 0;
			if (strstr(tok, "new"))
				o->propagate |= CFG_PROP_NEW;
			if (strstr(tok, "flags"))
				o->propagate |= CFG_PROP_FLAGS;
			if (strstr(tok, "del"))
				o->propagate |= CFG_PROP_DELETIONS;
		} else if (strcmp(tok, "expunge=none") == 0)
			o->expunge = CFG_SIDE_NONE;
		else if (strcmp(tok, "expunge=server") == 0)
			o->expunge = CFG_SIDE_SERVER;
		else if (strcmp(tok, "expunge=disk") == 0)
			o->expunge = CFG_SIDE_DISK;
		else if (strcmp(tok, "expunge=both") == 0)
			o->expunge = CFG_SIDE_BOTH;
		else if (strncmp(tok, "max=", 4) == 0)
			o->max_size = strtoull(tok + 4, NULL, 10);
		else if (strncmp(tok, "mindate=", 8) == 0)
			o->min_date = strtoll(tok + 8, NULL, 10);
		else if (strncmp(tok, "limit=", 6) == 0)
			o->delete_limit = strtod(tok + 6, NULL);
		else
			abort();
		free(tok);
	}
}

static void
fixture_load(struct fixture *fx, const struct tcase *t)
{
	const char *p;
	char *tok;

	memset(fx, 0, sizeof(*fx));
	for (p = t->remote ? t->remote : ""; (tok = next_token(&p)); free(tok))
		add_msg(fx, SIDE_REMOTE, tok);
	for (p = t->local ? t->local : ""; (tok = next_token(&p)); free(tok))
		add_msg(fx, SIDE_LOCAL, tok);
	for (p = t->state ? t->state : ""; (tok = next_token(&p)); free(tok))
		add_pair(fx, tok);
	for (p = t->intents ? t->intents : ""; (tok = next_token(&p));
	    free(tok))
		add_intent(fx, tok);
	fx->in.pairs = fx->pairs;
	fx->in.npairs = fx->npairs;
	fx->in.intents = fx->intents;
	fx->in.nintents = fx->nintents;
	for (int s = 0; s < 2; s++) {
		fx->in.msgs[s] = fx->msgs[s];
		fx->in.nmsgs[s] = fx->nmsgs[s];
	}
	parse_opts(&fx->in.opts, &fx->in.uidvalidity_changed,
	    t->opts ? t->opts : "");
}

static void
fixture_free(struct fixture *fx)
{
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < fx->nmsgs[s]; i++)
			msg_free(&fx->msgs[s][i]);
		free(fx->msgs[s]);
	}
	for (size_t i = 0; i < fx->npairs; i++) {
		free(fx->pairs[i].name);
		free(fx->pairs[i].msgid);
		flags_free(&fx->pairs[i].flags);
	}
	free(fx->pairs);
	for (size_t i = 0; i < fx->nintents; i++) {
		free(fx->intents[i].name);
		free(fx->intents[i].msgid);
		flags_free(&fx->intents[i].flags);
	}
	free(fx->intents);
}

/*
 * What the executor relies on: groups are numbered densely in plan order,
 * each contiguous; every action names the messages it acts on; an intent's
 * group ends with its DROP_INTENT.  Returns NULL or what is wrong.
 */
static const char *
check_shape(const struct plan_input *in, const struct plan *p)
{
	size_t next = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		enum side o = SIDE_OTHER(a->side);

		if (i == 0 || a->group != p->v[i - 1].group) {
			if (a->group != next)
				return "groups not dense and contiguous";
			next++;
		}
		switch (a->kind) {
		case PLAN_COPY:
			if (a->idx[a->side] != PLAN_NONE ||
			    a->idx[o] >= in->nmsgs[o])
				return "copy without a source";
			break;
		case PLAN_FLAGS:
		case PLAN_DELETE:
			if (a->idx[a->side] >= in->nmsgs[a->side])
				return "flags/delete without a message";
			break;
		case PLAN_STATE:
			if (a->forget && a->pair >= in->npairs)
				return "forget without a pair";
			if (!a->forget && a->idx[0] == PLAN_NONE &&
			    a->idx[1] == PLAN_NONE)
				return "record of nothing";
			break;
		case PLAN_DROP_INTENT:
			if (a->intent >= in->nintents)
				return "drop of no intent";
			break;
		}
		if (a->intent != PLAN_NONE && (i + 1 == p->n ||
		    p->v[i + 1].group != a->group) &&
		    a->kind != PLAN_DROP_INTENT)
			return "intent group does not end with its drop";
	}
	if (next != p->ngroups)
		return "ngroups does not count the groups";
	return NULL;
}

static void
run(const struct tcase *t)
{
	struct fixture fx;
	struct plan p;
	struct err e = { 0 };
	struct buf b = { 0 };
	const char *shape;

	fixture_load(&fx, t);
	if (plan_build(&fx.in, &p, &e) != 0) {
		ok(0, "%s: plan_build failed: %s", t->name, e.msg);
		ok(0, "%s: shape", t->name);
		fixture_free(&fx);
		return;
	}
	plan_format(&fx.in, &p, &b);
	is_str(b.data ? b.data : "", t->want, "%s", t->name);
	shape = check_shape(&fx.in, &p);
	ok(shape == NULL, "%s: shape%s%s", t->name, shape ? ": " : "",
	    shape ? shape : "");
	buf_free(&b);
	plan_free(&p);
	fixture_free(&fx);
}

static const struct tcase cases[] = {
	/* name, options, state, intents, remote, local, expected plan */
	{ "nothing at all", "", "", "", "", "", "" },

	/* one side changed */
	{ "new on remote", "", "", "", "1:S", "",
	  "copy remote->local uid 1 flags S\n" },
	{ "new on local", "", "", "", "", "a:F",
	  "copy local->remote a flags F\n" },
	{ "new without flags", "", "", "", "1:", "a:-",
	  "copy remote->local uid 1 flags -\n"
	  "copy local->remote a flags -\n" },
	{ "new with keywords", "", "", "", "1:S[work $Junk]", "a:[x]",
	  "copy remote->local uid 1 flags S[$Junk work]\n"
	  "copy local->remote a flags [x]\n" },
	{ "unchanged", "", "1=a:S 2=b:-", "", "1:S 2:", "a:S b:", "" },
	{ "flag added on remote", "", "1=a:S", "", "1:FS", "a:S",
	  "flags local a +F\n"
	  "state uid 1 a flags FS\n" },
	{ "flag added on local", "", "1=a:S", "", "1:S", "a:RS",
	  "flags remote uid 1 +R\n"
	  "state uid 1 a flags RS\n" },
	{ "flag removed on remote", "", "1=a:FS", "", "1:S", "a:FS",
	  "flags local a -F\n"
	  "state uid 1 a flags S\n" },
	{ "flag removed on local", "", "1=a:FS", "", "1:FS", "a:S",
	  "flags remote uid 1 -F\n"
	  "state uid 1 a flags S\n" },
	{ "deleted on remote", "", "1=a:S", "", "", "a:S",
	  "delete local a (deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "deleted on local", "", "1=a:S", "", "1:S", "",
	  "delete remote uid 1 (deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "marked deleted on remote", "", "1=a:S", "", "1:ST", "a:S",
	  "delete remote uid 1 (marked deleted on remote)\n"
	  "delete local a (marked deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "marked deleted on local", "", "1=a:S", "", "1:S", "a:ST",
	  "delete remote uid 1 (marked deleted on local)\n"
	  "delete local a (marked deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "pairs in state order, news in uid and listing order", "",
	  "7=g:S 2=b:S", "", "9: 7:FS 5: 2:", "c: g:S a: b:S",
	  "flags local g +F\n"
	  "state uid 7 g flags FS\n"
	  "flags local b -S\n"
	  "state uid 2 b flags -\n"
	  "copy remote->local uid 5 flags -\n"
	  "copy remote->local uid 9 flags -\n"
	  "copy local->remote c flags -\n"
	  "copy local->remote a flags -\n" },

	/* both sides changed the same message */
	{ "both add different flags", "", "1=a:-", "", "1:S", "a:F",
	  "flags remote uid 1 +F\n"
	  "flags local a +S\n"
	  "state uid 1 a flags FS\n" },
	{ "both add the same flag", "", "1=a:-", "", "1:S", "a:S",
	  "state uid 1 a flags S\n" },
	{ "both remove the same flag", "", "1=a:FS", "", "1:S", "a:S",
	  "state uid 1 a flags S\n" },
	{ "one adds, the other removes another flag", "", "1=a:F", "",
	  "1:FS", "a:-",
	  "flags remote uid 1 -F\n"
	  "flags local a +S\n"
	  "state uid 1 a flags S\n" },
	{ "remote adds and removes, local adds", "", "1=a:RS", "",
	  "1:FR", "a:DRS",
	  "flags remote uid 1 +D\n"
	  "flags local a +F -S\n"
	  "state uid 1 a flags DFR\n" },
	{ "deleted on remote, flags changed on local: deletion wins", "",
	  "1=a:S", "", "", "a:FS",
	  "delete local a (deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "deleted on local, flags changed on remote: deletion wins", "",
	  "1=a:S", "", "1:FS", "",
	  "delete remote uid 1 (deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "marked deleted on local, flags changed on remote", "", "1=a:S",
	  "", "1:FS", "a:ST",
	  "delete remote uid 1 (marked deleted on local)\n"
	  "delete local a (marked deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "deleted on both", "", "1=a:S", "", "", "", "forget uid 1 a\n" },
	{ "marked deleted on both", "", "1=a:S", "", "1:ST", "a:ST",
	  "delete remote uid 1 (marked deleted on remote)\n"
	  "delete local a (marked deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "undeleted on local wins over an old mark", "", "1=a:ST", "",
	  "1:ST", "a:S",
	  "flags remote uid 1 -T\n"
	  "state uid 1 a flags S\n" },

	/* keywords */
	{ "keywords merge per keyword", "", "1=a:S[work]", "",
	  "1:S[work $Junk]", "a:S",
	  "flags remote uid 1 -[work]\n"
	  "flags local a +[$Junk]\n"
	  "state uid 1 a flags S[$Junk]\n" },
	{ "keywords added on both sides", "", "1=a:-", "", "1:[a1]",
	  "a:[b1]",
	  "flags remote uid 1 +[b1]\n"
	  "flags local a +[a1]\n"
	  "state uid 1 a flags [a1 b1]\n" },
	{ "letters and keywords together", "", "1=a:S", "", "1:FS[x]",
	  "a:S",
	  "flags local a +F +[x]\n"
	  "state uid 1 a flags FS[x]\n" },

	/* directions */
	{ "pull copies only from remote", "pull", "", "", "1:S", "b:F",
	  "copy remote->local uid 1 flags S\n" },
	{ "push copies only from local", "push", "", "", "1:S", "b:F",
	  "copy local->remote b flags F\n" },
	{ "pull: remote flags reach local, local ones stay local", "pull",
	  "1=a:S", "", "1:FS", "a:RS",
	  "flags local a +F\n"
	  "state uid 1 a flags FS\n" },
	{ "push: local flags reach remote, remote ones stay remote", "push",
	  "1=a:S", "", "1:FS", "a:RS",
	  "flags remote uid 1 +R\n"
	  "state uid 1 a flags RS\n" },
	{ "pull: a local-only change stays pending", "pull", "1=a:S", "",
	  "1:S", "a:FS", "" },
	{ "pull: deleted on remote", "pull", "1=a:S", "", "", "a:S",
	  "delete local a (deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "pull: deleted on local is remembered, not pushed", "pull",
	  "1=a:S", "", "1:S", "",
	  "state uid 1 - flags S\n" },
	{ "push: deleted on local", "push", "1=a:S", "", "1:S", "",
	  "delete remote uid 1 (deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "push: deleted on remote is remembered, not pulled", "push",
	  "1=a:S", "", "", "a:S",
	  "state - a flags S\n" },
	{ "pull: marked deleted on remote", "pull", "1=a:S", "", "1:ST",
	  "a:S",
	  "delete remote uid 1 (marked deleted on remote)\n"
	  "delete local a (marked deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "pull: marked deleted on local stays pending", "pull", "1=a:S",
	  "", "1:S", "a:ST", "" },
	{ "push: marked deleted on remote stays pending", "push", "1=a:S",
	  "", "1:ST", "a:S", "" },
	{ "push: marked deleted on local", "push", "1=a:S", "", "1:S",
	  "a:ST",
	  "delete remote uid 1 (marked deleted on local)\n"
	  "delete local a (marked deleted on local)\n"
	  "forget uid 1 a\n" },

	/* propagate subsets */
	{ "no new: nothing copied", "prop=flags,del", "", "", "1:S", "b:",
	  "" },
	{ "no flags: flag changes ignored", "prop=new,del", "1=a:S", "",
	  "1:FS", "a:S", "" },
	{ "no flags: marks ignored too", "prop=new,del", "1=a:S", "",
	  "1:ST", "a:S", "" },
	{ "no flags: deletions still propagate", "prop=new,del", "1=a:S",
	  "", "", "a:S",
	  "delete local a (deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "no deletions: deleted on remote is remembered", "prop=new,flags",
	  "1=a:S", "", "", "a:S",
	  "state - a flags S\n" },
	{ "no deletions: deleted on local is remembered", "prop=new,flags",
	  "1=a:S", "", "1:S", "",
	  "state uid 1 - flags S\n" },
	{ "no deletions: a remote mark travels as a flag", "prop=new,flags",
	  "1=a:S", "", "1:ST", "a:S",
	  "delete remote uid 1 (marked deleted on remote)\n"
	  "flags local a +T\n"
	  "state - a flags ST\n" },
	{ "nothing propagated", "prop=", "1=a:S", "", "1:FS 2:", "a:S b:",
	  "" },

	/* expunge */
	{ "expunge none: deleted on remote is marked on local",
	  "expunge=none", "1=a:S", "", "", "a:S",
	  "flags local a +T\n"
	  "state - a flags ST\n" },
	{ "expunge none: deleted on local is marked on remote",
	  "expunge=none", "1=a:S", "", "1:S", "",
	  "flags remote uid 1 +T\n"
	  "state uid 1 - flags ST\n" },
	{ "expunge none: already marked needs no flags", "expunge=none",
	  "1=a:ST", "", "", "a:ST",
	  "state - a flags ST\n" },
	{ "expunge none: a remote mark is copied", "expunge=none", "1=a:S",
	  "", "1:ST", "a:S",
	  "flags local a +T\n"
	  "state uid 1 a flags ST\n" },
	{ "expunge server: deleted on remote", "expunge=server", "1=a:S",
	  "", "", "a:S",
	  "flags local a +T\n"
	  "state - a flags ST\n" },
	{ "expunge server: deleted on local", "expunge=server", "1=a:S", "",
	  "1:S", "",
	  "delete remote uid 1 (deleted on local)\n"
	  "forget uid 1 a\n" },
	{ "expunge server: marked deleted on local", "expunge=server",
	  "1=a:S", "", "1:S", "a:ST",
	  "delete remote uid 1 (marked deleted on local)\n"
	  "state - a flags ST\n" },
	{ "expunge disk: deleted on remote", "expunge=disk", "1=a:S", "",
	  "", "a:S",
	  "delete local a (deleted on remote)\n"
	  "forget uid 1 a\n" },
	{ "expunge disk: deleted on local", "expunge=disk", "1=a:S", "",
	  "1:S", "",
	  "flags remote uid 1 +T\n"
	  "state uid 1 - flags ST\n" },
	{ "expunge disk: marked deleted on remote", "expunge=disk",
	  "1=a:S", "", "1:ST", "a:S",
	  "delete local a (marked deleted on remote)\n"
	  "state uid 1 - flags ST\n" },

	/* new but marked deleted */
	{ "new but marked deleted: expunged where it is", "", "", "",
	  "1:ST", "a:T",
	  "delete remote uid 1 (new but marked deleted)\n"
	  "delete local a (new but marked deleted)\n" },
	{ "new but marked deleted, expunge none: left alone",
	  "expunge=none", "", "", "1:ST", "a:T", "" },
	{ "new but marked deleted, expunge disk", "expunge=disk", "", "",
	  "1:ST", "a:T",
	  "delete local a (new but marked deleted)\n" },

	/* max-size, max-age */
	{ "max-size limits copies both ways", "max=150", "", "",
	  "1:S#100 2:S#200 3:#150", "a:#150 b:#151",
	  "copy remote->local uid 1 flags S\n"
	  "copy remote->local uid 3 flags -\n"
	  "copy local->remote a flags -\n" },
	{ "min-date limits copies both ways", "mindate=500", "", "",
	  "1:@400 2:@500", "a:@499 b:@600",
	  "copy remote->local uid 2 flags -\n"
	  "copy local->remote b flags -\n" },
	{ "max-size leaves paired messages alone", "max=10", "1=a:S", "",
	  "1:FS#500", "a:S#500",
	  "flags local a +F\n"
	  "state uid 1 a flags FS\n" },

	/* first run with both sides full */
	{ "first run pairs by message-id and size", "", "", "",
	  "1:S/m1#100 2:/m2#200", "a:S/m1#100 b:/m3#200",
	  "pair uid 1 a flags S\n"
	  "copy remote->local uid 2 flags -\n"
	  "copy local->remote b flags -\n" },
	{ "first run unites the flags of both sides", "", "", "",
	  "1:S/m1", "a:F/m1",
	  "flags remote uid 1 +F\n"
	  "flags local a +S\n"
	  "pair uid 1 a flags FS\n" },
	{ "first run never removes flags", "", "", "", "1:FS[x]/m1",
	  "a:S[y]/m1",
	  "flags remote uid 1 +[y]\n"
	  "flags local a +F +[x]\n"
	  "pair uid 1 a flags FS[x y]\n" },
	{ "first run: different size is another message", "", "", "",
	  "1:/m1#100", "a:/m1#101",
	  "copy remote->local uid 1 flags -\n"
	  "copy local->remote a flags -\n" },
	{ "first run: duplicates on remote are ambiguous", "", "", "",
	  "1:/m1 2:/m1", "a:/m1",
	  "copy remote->local uid 1 flags -\n"
	  "copy remote->local uid 2 flags -\n"
	  "copy local->remote a flags -\n" },
	{ "first run: duplicates on local are ambiguous", "", "", "",
	  "1:/m1", "a:/m1 b:/m1",
	  "copy remote->local uid 1 flags -\n"
	  "copy local->remote a flags -\n"
	  "copy local->remote b flags -\n" },
	{ "first run: no message-id, no pairing", "", "", "", "1:", "a:",
	  "copy remote->local uid 1 flags -\n"
	  "copy local->remote a flags -\n" },
	{ "first run: local without details is not paired", "", "", "",
	  "1:/m1", "a:/m1~",
	  "copy remote->local uid 1 flags -\n"
	  "copy local->remote a flags -\n" },
	{ "first run pairs in uid order", "", "", "", "5:/m5 3:/m3",
	  "x:/m3 y:/m5",
	  "pair uid 3 x flags -\n"
	  "pair uid 5 y flags -\n" },
	{ "first run: a remote mark deletes the pair", "", "", "",
	  "1:ST/m1", "a:S/m1",
	  "delete remote uid 1 (marked deleted on remote)\n"
	  "delete local a (marked deleted on remote)\n" },
	{ "first run pull: remote flags reach local only", "pull", "", "",
	  "1:S/m1", "a:F/m1",
	  "flags local a +S\n"
	  "pair uid 1 a flags S\n" },
	{ "first run without flag propagation still pairs", "prop=new",
	  "", "", "1:S/m1", "a:F/m1",
	  "pair uid 1 a flags -\n" },
	{ "paired messages are not matched again", "", "1=a:S", "",
	  "1:S/m1 2:S/m1", "a:S/m1",
	  "copy remote->local uid 2 flags S\n" },

	/* UIDVALIDITY change */
	{ "uidvalidity: re-paired by message-id and size", "uidv",
	  "1=a:S/m1#100 2=b:F/m2#100", "",
	  "11:S/m1#100 12:F/m2#100", "a:S b:F",
	  "state uid 11 a flags S\n"
	  "state uid 12 b flags F\n" },
	{ "uidvalidity: flags merged against the state", "uidv",
	  "1=a:S/m1", "", "11:FS/m1", "a:RS",
	  "flags remote uid 11 +R\n"
	  "flags local a +F\n"
	  "state uid 11 a flags FRS\n" },
	{ "uidvalidity: old uids mean nothing", "uidv", "1=a:S/m1", "",
	  "1:S/m2", "a:S",
	  "forget uid 1 a\n"
	  "copy remote->local uid 1 flags S\n"
	  "copy local->remote a flags S\n" },
	{ "uidvalidity: gone from the server is uploaded, not deleted",
	  "uidv", "1=a:S/m1", "", "", "a:S",
	  "forget uid 1 a\n"
	  "copy local->remote a flags S\n" },
	{ "uidvalidity: without message-id kept on disk only", "uidv",
	  "1=a:S", "", "", "a:S",
	  "state - a flags S\n" },
	{ "uidvalidity: deleted on disk is not deleted on the server",
	  "uidv", "1=a:S/m1", "", "11:S/m1", "",
	  "state uid 11 - flags S\n" },
	{ "uidvalidity: gone from both sides", "uidv", "1=a:S/m1", "", "",
	  "", "forget uid 1 a\n" },
	{ "uidvalidity: duplicates re-paired one to one", "uidv",
	  "1=a:/m1 2=b:/m1", "", "11:/m1 12:/m1", "a: b:",
	  "state uid 11 a flags -\n"
	  "state uid 12 b flags -\n" },
	{ "uidvalidity: new remote mail still copied", "uidv", "1=a:S/m1",
	  "", "11:S/m1 12:/m9", "a:S",
	  "state uid 11 a flags S\n"
	  "copy remote->local uid 12 flags -\n" },
	{ "uidvalidity: half-pair kept on disk stays", "uidv", "-=a:S/m1",
	  "", "", "a:S", "" },
	{ "uidvalidity: full pairs claim before kept-on-disk ones", "uidv",
	  "-=a:S/m1 1=b:S/m1", "", "11:S/m1", "a:S b:S",
	  "state uid 11 b flags S\n" },
	{ "uidvalidity: upload intent ignores the stale uidnext", "uidv",
	  "", "ua:S/m1^50", "11:S/m1", "a:S/m1",
	  "pair uid 11 a flags S\n"
	  "drop-intent upload a\n" },
	{ "uidvalidity: download intent defers to matching", "uidv", "",
	  "d5>n:S", "11:S/m1", "n:S/m1",
	  "drop-intent download uid 5 n\n"
	  "pair uid 11 n flags S\n" },
	{ "uidvalidity: pull deletes nothing either", "uidv pull",
	  "1=a:S/m1 2=b:S/m2", "", "11:S/m1", "",
	  "state uid 11 - flags S\n"
	  "forget uid 2 b\n" },

	/* intents of a crashed run */
	{ "download intent: copy done", "", "", "d5>n:S", "5:S", "n:S",
	  "pair uid 5 n flags S\n"
	  "drop-intent download uid 5 n\n" },
	{ "download intent: copy done, remote flags changed", "", "",
	  "d5>n:S", "5:FS", "n:S",
	  "flags local n +F\n"
	  "pair uid 5 n flags FS\n"
	  "drop-intent download uid 5 n\n" },
	{ "download intent: copy not done", "", "", "d5>n:S", "5:S", "",
	  "drop-intent download uid 5 n\n"
	  "copy remote->local uid 5 flags S\n" },
	{ "download intent: done, then deleted on remote", "", "",
	  "d5>n:S", "", "n:S",
	  "delete local n (deleted on remote)\n"
	  "drop-intent download uid 5 n\n" },
	{ "download intent: done, deleted on remote, expunge none",
	  "expunge=none", "", "d5>n:S", "", "n:S",
	  "flags local n +T\n"
	  "pair - n flags ST\n"
	  "drop-intent download uid 5 n\n" },
	{ "download intent: neither side has it", "", "", "d5>n:S", "", "",
	  "drop-intent download uid 5 n\n" },
	{ "upload intent: append done", "", "", "ua:S/m1#100^10",
	  "10:S/m1#100", "a:S/m1#100",
	  "pair uid 10 a flags S\n"
	  "drop-intent upload a\n" },
	{ "upload intent: takes the lowest uid from uidnext on", "", "",
	  "ua:/m1^10", "9:/m1 12:/m1 11:/m1", "a:/m1",
	  "pair uid 11 a flags -\n"
	  "drop-intent upload a\n"
	  "copy remote->local uid 9 flags -\n"
	  "copy remote->local uid 12 flags -\n" },
	{ "upload intent: append not done", "", "", "ua:S/m1^10", "",
	  "a:S/m1",
	  "drop-intent upload a\n"
	  "copy local->remote a flags S\n" },
	{ "upload intent: other size is not the copy", "", "",
	  "ua:S/m1#100^10", "10:S/m1#101", "a:S/m1#100",
	  "drop-intent upload a\n"
	  "copy remote->local uid 10 flags S\n"
	  "copy local->remote a flags S\n" },
	{ "upload intent: no message-id matches no message-id", "", "",
	  "ua:S^10", "10:S", "a:S",
	  "pair uid 10 a flags S\n"
	  "drop-intent upload a\n" },
	{ "upload intent: done, then deleted on local", "", "",
	  "ua:S/m1^10", "10:S/m1", "",
	  "delete remote uid 10 (deleted on local)\n"
	  "drop-intent upload a\n" },
	{ "upload intent: done, deleted on local, expunge disk",
	  "expunge=disk", "", "ua:S/m1^10", "10:S/m1", "",
	  "flags remote uid 10 +T\n"
	  "pair uid 10 - flags ST\n"
	  "drop-intent upload a\n" },
	{ "upload intent: done, local flags changed", "", "",
	  "ua:S/m1^10", "10:S/m1", "a:FS/m1",
	  "flags remote uid 10 +F\n"
	  "pair uid 10 a flags FS\n"
	  "drop-intent upload a\n" },
	{ "intents come after pairs, before matching", "", "1=a:S",
	  "d5>n:S ub:/m2^6", "1:S 5:S 6:/m2 7:/m3", "a:S n:S b:/m2 c:/m3",
	  "pair uid 5 n flags S\n"
	  "drop-intent download uid 5 n\n"
	  "pair uid 6 b flags -\n"
	  "drop-intent upload b\n"
	  "pair uid 7 c flags -\n" },

	/* half-pairs */
	{ "half-pair kept on disk: never uploaded", "", "-=a:S", "", "",
	  "a:FS", "" },
	{ "half-pair kept on disk: gone", "", "-=a:S", "", "", "",
	  "forget - a\n" },
	{ "half-pair kept on server: never downloaded", "", "1=-:S", "",
	  "1:FS", "", "" },
	{ "half-pair kept on server: gone", "", "1=-:S", "", "", "",
	  "forget uid 1 -\n" },
};

/* n pairs "UID=mUID:S" with both messages, of which `gone` lost their local
 * side; expunge decides between deletions and deletion marks. */
static void
guard_case(const char *name, const char *opts, int n, int gone,
    const char *extra_remote, const char *want_tail)
{
	struct buf state = { 0 }, remote = { 0 }, local = { 0 };
	struct buf want = { 0 };
	bool marks = opts && strstr(opts, "expunge=none");
	struct tcase t = { 0 };

	for (int i = 1; i <= n; i++) {
		buf_printf(&state, "%d=m%d:S ", i, i);
		buf_printf(&remote, "%d:S ", i);
		if (i > gone)
			buf_printf(&local, "m%d:S ", i);
	}
	buf_adds(&remote, extra_remote);
	for (int i = 1; i <= gone && want_tail == NULL; i++)
		if (marks)
			buf_printf(&want,
			    "flags remote uid %d +T\n"
			    "state uid %d - flags ST\n", i, i);
		else
			buf_printf(&want,
			    "delete remote uid %d (deleted on local)\n"
			    "forget uid %d m%d\n", i, i, i);
	if (want_tail != NULL)
		buf_adds(&want, want_tail);
	t.name = name;
	t.opts = opts;
	t.state = state.data;
	t.remote = remote.data;
	t.local = local.data;
	t.want = want.data ? want.data : "";
	run(&t);
	buf_free(&state);
	buf_free(&remote);
	buf_free(&local);
	buf_free(&want);
}

static void
test_guard(void)
{
	struct fixture fx;
	struct plan p;
	struct err e = { 0 };
	const struct tcase t = { "guard fields", "", "1=a:S 2=b:S", "",
		"1:S 2:S 3:", "", NULL };

	guard_case("guard: 11 of 20 deletions refused at 25%", "", 20, 11,
	    "", "refused 11 deletions on remote (delete-limit 25%)\n");
	guard_case("guard: refused groups leave other work alone", "", 20, 11,
	    "99:", "copy remote->local uid 99 flags -\n"
	    "refused 11 deletions on remote (delete-limit 25%)\n");
	guard_case("guard: 10 deletions are always allowed", "", 20, 10, "",
	    NULL);
	guard_case("guard: --force allows them", "force", 20, 11, "", NULL);
	guard_case("guard: 11 of 50 is under 25%", "", 50, 11, "", NULL);
	guard_case("guard: deletion marks count too", "expunge=none", 20, 11,
	    "", "refused 11 deletions on remote (delete-limit 25%)\n");
	guard_case("guard: limit printed with %g", "limit=12.5", 40, 11, "",
	    "refused 11 deletions on remote (delete-limit 12.5%)\n");
	guard_case("guard: exactly at the limit is allowed", "limit=55", 20,
	    11, "", NULL);

	/* The fields behind the text: refused[] and dense groups. */
	fixture_load(&fx, &t);
	fx.in.opts.delete_limit = 1;
	fx.in.opts.force = false;
	ok(plan_build(&fx.in, &p, &e) == 0, "guard fields: builds");
	is_int((long long)p.refused[SIDE_REMOTE], 0,
	    "two deletions are under the minimum count");
	is_int((long long)p.n, 5, "two deletions, two forgets, a copy");
	plan_free(&p);
	fixture_free(&fx);
}

/* The executor needs the indexes behind the words. */
static void
test_fields(void)
{
	struct fixture fx;
	struct plan p;
	struct err e = { 0 };
	const struct tcase t = { "fields", "", "4=x:S", "d5>n:S",
		"9: 5:S 4:FS", "n:S x:S", NULL };

	fixture_load(&fx, &t);
	if (!ok(plan_build(&fx.in, &p, &e) == 0, "fields: builds")) {
		fixture_free(&fx);
		return;
	}
	is_int((long long)p.n, 5, "fields: five actions");
	is_int((long long)p.ngroups, 3, "fields: three groups");
	is_int(p.v[0].kind, PLAN_FLAGS, "fields: flags first");
	is_int((long long)p.v[0].idx[SIDE_LOCAL], 1, "fields: local x");
	is_int((long long)p.v[0].idx[SIDE_REMOTE], 2, "fields: remote 4");
	is_int((long long)p.v[0].pair, 0, "fields: of pair 0");
	is_int(p.v[1].kind, PLAN_STATE, "fields: state record");
	is_int((long long)p.v[1].pair, 0, "fields: rewrites pair 0");
	is_int((long long)p.v[1].group, 0, "fields: same group");
	is_int((long long)p.v[2].pair, (long long)PLAN_NONE,
	    "fields: intent pair is new");
	is_int((long long)p.v[2].intent, 0, "fields: intent 0");
	is_int((long long)p.v[2].idx[SIDE_REMOTE], 1, "fields: remote 5");
	is_int((long long)p.v[2].idx[SIDE_LOCAL], 0, "fields: local n");
	is_int(p.v[3].kind, PLAN_DROP_INTENT, "fields: then the drop");
	is_int((long long)p.v[3].group, 1, "fields: in the intent's group");
	{
		struct buf b = { 0 };

		plan_format_action(&fx.in, &p.v[0], &b);
		is_str(b.data, "flags local x +F",
		    "fields: one action's line has no newline");
		buf_free(&b);
	}
	is_int(p.v[4].kind, PLAN_COPY, "fields: copy last");
	is_int(p.v[4].side, SIDE_LOCAL, "fields: copy to local");
	is_int((long long)p.v[4].idx[SIDE_REMOTE], 0, "fields: from uid 9");
	is_int((long long)p.v[4].idx[SIDE_LOCAL], (long long)PLAN_NONE,
	    "fields: to a new file");
	plan_free(&p);
	fixture_free(&fx);
}

static void
expect_error(const char *name, const char *state, const char *remote,
    const char *local, const char *msg)
{
	struct fixture fx;
	struct plan p;
	struct err e = { 0 };
	const struct tcase t = { name, "", state, "", remote, local, NULL };

	fixture_load(&fx, &t);
	is_int(plan_build(&fx.in, &p, &e), -1, "%s: refused", name);
	is_str(e.msg, msg, "%s: message", name);
	is_int((long long)p.n, 0, "%s: empty plan", name);
	plan_free(&p);
	fixture_free(&fx);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	test_guard();
	test_fields();
	expect_error("duplicate uid", "", "3:S 3:F", "",
	    "remote listing has UID 3 twice");
	expect_error("duplicate name", "", "", "a:S a:F",
	    "local listing has message a twice");
	expect_error("two pairs for one file", "1=a:S 2=a:S", "1:S 2:S",
	    "a:S", "state has two pairs for local message a");
	expect_error("two pairs for one uid", "1=a:S 1=b:S", "1:S",
	    "a:S b:S", "state has two pairs for UID 1");
	return done_testing();
}
