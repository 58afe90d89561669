/* SPDX-License-Identifier: GPL-3.0-or-later */
/* --verify: compare both sides of a channel message by message, read-only. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msgnorm.h"
#include "state.h"
#include "store.h"
#include "sync.h"
#include "verify.h"

struct vchan {
	const struct cfg_channel *ch;
	FILE *out;
	struct verify_stats *stats;
	struct state *state;
	struct store *store[2];
	struct folder_list folders[2];
	enum err_code worst;
	struct err first;
};

/* One folder being compared. */
struct vfolder {
	const char *name;
	struct msg_list ml[2];
	struct msg **idx[2];	/* by uid (server), by name (disk) */
	bool *seen[2];		/* parallel to ml[s].v: claimed by a pair */
	struct state_pairs pairs;
	uint32_t *uid;		/* per pair: its UID on the server now */
};

static const char *const side_name[2] = { "server", "disk" };

enum vkind {
	V_DIFF,		/* a difference: counted, always printed */
	V_KEPT,		/* a deliberate keep: counted apart, not with -q */
	V_NOTE,		/* context for the lines that follow, not with -q */
};

static void
vfail(struct vchan *c, const char *folder, const struct err *e)
{
	c->worst = err_worst(c->worst, e->code);
	if (c->first.code == ERR_OK)
		c->first = *e;
	if (folder != NULL)
		strv_add_owned(&c->stats->errors, xasprintf(
		    "channel %s, folder %s: %s", c->ch->name, folder, e->msg));
	else
		strv_add_owned(&c->stats->errors, xasprintf("channel %s: %s",
		    c->ch->name, e->msg));
}

/* SHA-256 of a message's normalised content, read in pieces when it is
 * large (a message of any size costs one piece of memory). */
static int
content_hash(struct store *st, struct msg *m, char hex[65], char **msgid,
    struct err *e)
{
	struct msgnorm_hash h;

	msgnorm_hash_init(&h);
	if (store_fetch_norm(st, m, &h.nm, msgid, e) < 0) {
		msgnorm_hash_drop(&h);
		return -1;
	}
	msgnorm_hash_end(&h, hex);
	return 0;
}

/* ---- output ---------------------------------------------------------- */

/* A copy safe to print: a hostile server chooses Message-IDs. */
static char *
clean(const char *s)
{
	char *c = xstrdup(s != NULL ? s : "");

	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

/* " <id>" or "" when there is none. */
static char *
id_part(const char *msgid)
{
	char *c, *r;

	if (msgid == NULL || *msgid == '\0')
		return xstrdup("");
	c = clean(msgid);
	r = xasprintf(" %s", c);
	free(c);
	return r;
}

static char *
flags_text(const struct flags *f)
{
	const char *kw = f->kw != NULL ? f->kw : "";
	char letters[7], *t, *c;

	flags_bits_to_maildir(f->bits, letters);
	if (letters[0] == '\0' && kw[0] == '\0')
		return xstrdup("none");
	t = xasprintf("%s%s%s", letters, letters[0] && kw[0] ? " " : "", kw);
	c = clean(t);
	free(t);
	return c;
}

static void report(struct vchan *c, const char *folder, enum vkind kind,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
report(struct vchan *c, const char *folder, enum vkind kind,
    const char *fmt, ...)
{
	va_list ap;
	char *f;

	if (kind == V_DIFF)
		c->stats->differences++;
	else if (kind == V_KEPT)
		c->stats->kept++;
	if (kind != V_DIFF && log_level < LOG_NORMAL)
		return;
	f = clean(folder);
	fprintf(c->out, "%s %s: ", c->ch->name, f);
	free(f);
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
}

/* ---- indexes --------------------------------------------------------- */

static int
cmp_uid(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a;
	const struct msg *y = *(const struct msg *const *)b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int
cmp_name(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a;
	const struct msg *y = *(const struct msg *const *)b;

	return strcmp(x->name, y->name);
}

static int
cmp_msgid_size(const void *a, const void *b)
{
	const struct msg *x = *(const struct msg *const *)a;
	const struct msg *y = *(const struct msg *const *)b;
	int r = strcmp(x->msgid, y->msgid);

	if (r != 0)
		return r;
	return x->size < y->size ? -1 : x->size > y->size;
}

static struct msg *
find_uid(const struct vfolder *vf, uint32_t uid)
{
	struct msg key = { .uid = uid };
	const struct msg *kp = &key;
	struct msg **hit;

	if (uid == 0)
		return NULL;
	hit = bsearch(&kp, vf->idx[SIDE_REMOTE], vf->ml[SIDE_REMOTE].n,
	    sizeof(struct msg *), cmp_uid);
	return hit != NULL ? *hit : NULL;
}

static struct msg *
find_name(const struct vfolder *vf, char *name)
{
	struct msg key = { .name = name };
	const struct msg *kp = &key;
	struct msg **hit;

	if (name == NULL)
		return NULL;
	hit = bsearch(&kp, vf->idx[SIDE_LOCAL], vf->ml[SIDE_LOCAL].n,
	    sizeof(struct msg *), cmp_name);
	return hit != NULL ? *hit : NULL;
}

static void
claim(struct vfolder *vf, enum side s, const struct msg *m)
{
	vf->seen[s][m - vf->ml[s].v] = true;
}

static bool
claimed(const struct vfolder *vf, enum side s, const struct msg *m)
{
	return vf->seen[s][m - vf->ml[s].v];
}

static void
vfolder_free(struct vfolder *vf)
{
	for (int s = 0; s < 2; s++) {
		msg_list_free(&vf->ml[s]);
		free(vf->idx[s]);
		free(vf->seen[s]);
	}
	state_pairs_free(&vf->pairs);
	free(vf->uid);
	memset(vf, 0, sizeof(*vf));
}

/* Fill in Message-IDs (and sizes) of msgs that lack them, per side. */
static int
load_details(struct vchan *c, struct msg **todo[2], size_t n[2],
    struct err *e)
{
	for (int s = 0; s < 2; s++)
		if (n[s] > 0 && c->store[s]->ops->details(c->store[s], todo[s],
		    n[s], e) < 0)
			return -1;
	return 0;
}

/*
 * After a UIDVALIDITY change the state's UIDs name nothing; find each
 * pair's message again by Message-ID and size, as the next sync will
 * (SPEC.md section 5), taking only unambiguous matches.
 */
static int
rematch(struct vchan *c, struct vfolder *vf, struct err *e)
{
	struct msg_list *rl = &vf->ml[SIDE_REMOTE];
	struct msg **todo[2] = { NULL, NULL }, **byid;
	size_t n[2] = { 0, 0 }, nid = 0;
	int rc;

	todo[SIDE_REMOTE] = xcalloc(rl->n + 1, sizeof(struct msg *));
	for (size_t i = 0; i < rl->n; i++)
		if (!rl->v[i].has_details)
			todo[SIDE_REMOTE][n[SIDE_REMOTE]++] = &rl->v[i];
	rc = load_details(c, todo, n, e);
	free(todo[SIDE_REMOTE]);
	if (rc < 0)
		return -1;
	byid = xcalloc(rl->n + 1, sizeof(*byid));
	for (size_t i = 0; i < rl->n; i++)
		if (rl->v[i].msgid != NULL)
			byid[nid++] = &rl->v[i];
	qsort(byid, nid, sizeof(*byid), cmp_msgid_size);
	for (size_t i = 0; i < vf->pairs.n; i++) {
		struct state_pair *p = &vf->pairs.v[i];
		struct msg key = { .msgid = p->msgid, .size = p->size };
		const struct msg *kp = &key;
		struct msg **hit;
		size_t lo, hi;

		vf->uid[i] = 0;
		if (p->uid == 0 || p->msgid == NULL)
			continue;
		hit = bsearch(&kp, byid, nid, sizeof(*byid), cmp_msgid_size);
		if (hit == NULL)
			continue;
		lo = hi = (size_t)(hit - byid);
		while (lo > 0 && cmp_msgid_size(&byid[lo - 1], &kp) == 0)
			lo--;
		while (hi + 1 < nid && cmp_msgid_size(&byid[hi + 1], &kp) == 0)
			hi++;
		if (lo == hi && !claimed(vf, SIDE_REMOTE, byid[lo])) {
			vf->uid[i] = byid[lo]->uid;
			claim(vf, SIDE_REMOTE, byid[lo]);
		}
	}
	free(byid);
	return 0;
}

/* ---- one folder ------------------------------------------------------ */

static int
load_folder(struct vchan *c, struct vfolder *vf, struct err *e)
{
	struct folder_status rst = { 0 };
	struct state_folder sf;
	bool known;

	for (int s = 0; s < 2; s++) {
		struct store *st = c->store[s];

		if (st->ops->select(st, vf->name, s == SIDE_REMOTE ? &rst :
		    NULL, e) < 0 || st->ops->list(st, &vf->ml[s], e) < 0)
			return -1;
		vf->idx[s] = xcalloc(vf->ml[s].n + 1, sizeof(struct msg *));
		vf->seen[s] = xcalloc(vf->ml[s].n + 1, sizeof(bool));
		for (size_t i = 0; i < vf->ml[s].n; i++)
			vf->idx[s][i] = &vf->ml[s].v[i];
		qsort(vf->idx[s], vf->ml[s].n, sizeof(struct msg *),
		    s == SIDE_REMOTE ? cmp_uid : cmp_name);
	}
	if (state_folder_get(c->state, vf->name, &sf, &known, e) < 0 ||
	    state_pairs_load(c->state, vf->name, &vf->pairs, e) < 0)
		return -1;
	vf->uid = xcalloc(vf->pairs.n + 1, sizeof(*vf->uid));
	if (known && sf.uidvalidity != 0 && sf.uidvalidity != rst.uidvalidity) {
		report(c, vf->name, V_NOTE, "UIDVALIDITY changed since the "
		    "last sync (%u -> %u); pairs matched by Message-ID and "
		    "size", sf.uidvalidity, rst.uidvalidity);
		return rematch(c, vf, e);
	}
	for (size_t i = 0; i < vf->pairs.n; i++)
		vf->uid[i] = vf->pairs.v[i].uid;
	return 0;
}

/*
 * Content and flags of a message present on both sides.  A message that
 * cannot be read is recorded and skipped; -1 only for ERR_TEMP (the
 * connection is gone, so is the rest of the channel).
 */
static int
compare_pair(struct vchan *c, struct vfolder *vf, const struct state_pair *p,
    struct msg *r, struct msg *l, struct err *e)
{
	char hex[2][65], *msgid = p->msgid != NULL ? xstrdup(p->msgid) : NULL;
	char *id, *fr, *fl, *nm;

	/* the listing has no sizes; the state's tells the server side to
	 * come in pieces when the message is large */
	if (!r->has_details && r->size == 0)
		r->size = p->size;
	if (content_hash(c->store[SIDE_REMOTE], r, hex[SIDE_REMOTE], &msgid,
	    e) < 0 ||
	    content_hash(c->store[SIDE_LOCAL], l, hex[SIDE_LOCAL], &msgid,
	    e) < 0) {
		free(msgid);
		if (e->code == ERR_TEMP)
			return -1;
		vfail(c, vf->name, e);
		return 0;
	}
	id = id_part(msgid);
	nm = clean(l->name);
	if (strcmp(hex[SIDE_REMOTE], hex[SIDE_LOCAL]) != 0)
		report(c, vf->name, V_DIFF, "content differs%s (uid %u, %s)", id,
		    r->uid, nm);
	if (!flags_equal(&r->flags, &l->flags)) {
		fr = flags_text(&r->flags);
		fl = flags_text(&l->flags);
		if (*id != '\0')
			report(c, vf->name, V_DIFF, "flags differ%s: server %s, "
			    "disk %s", id, fr, fl);
		else
			report(c, vf->name, V_DIFF, "flags differ (uid %u, %s): "
			    "server %s, disk %s", r->uid, nm, fr, fl);
		free(fr);
		free(fl);
	}
	free(nm);
	free(id);
	free(msgid);
	return 0;
}

static void
report_one_sided(struct vchan *c, struct vfolder *vf, enum side s,
    const struct msg *m, const char *msgid, bool kept)
{
	char *id = id_part(msgid != NULL ? msgid : m->msgid), *nm;

	c->stats->messages++;
	if (s == SIDE_REMOTE) {
		report(c, vf->name, kept ? V_KEPT : V_DIFF, "%s server%s uid %u%s",
		    kept ? "kept on" : "only on", kept ? " only" : "", m->uid,
		    id);
	} else {
		nm = clean(m->name);
		report(c, vf->name, kept ? V_KEPT : V_DIFF, "%s disk%s %s%s",
		    kept ? "kept on" : "only on", kept ? " only" : "", nm, id);
		free(nm);
	}
	free(id);
}

/* Message-IDs to show for one-sided messages the state cannot name. */
static int
load_missing_ids(struct vchan *c, struct vfolder *vf, struct msg **pr,
    struct msg **pl, struct err *e)
{
	struct msg **todo[2];
	size_t n[2] = { 0, 0 };
	int rc;

	for (int s = 0; s < 2; s++)
		todo[s] = xcalloc(vf->ml[s].n + 1, sizeof(struct msg *));
	for (size_t i = 0; i < vf->pairs.n; i++) {
		if (vf->pairs.v[i].msgid != NULL || (pr[i] != NULL) ==
		    (pl[i] != NULL))
			continue;
		if (pr[i] != NULL && !pr[i]->has_details)
			todo[SIDE_REMOTE][n[SIDE_REMOTE]++] = pr[i];
		if (pl[i] != NULL && !pl[i]->has_details)
			todo[SIDE_LOCAL][n[SIDE_LOCAL]++] = pl[i];
	}
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < vf->ml[s].n; i++)
			if (!vf->seen[s][i] && !vf->ml[s].v[i].has_details)
				todo[s][n[s]++] = &vf->ml[s].v[i];
	rc = load_details(c, todo, n, e);
	for (int s = 0; s < 2; s++)
		free(todo[s]);
	return rc;
}

static int
verify_folder(struct vchan *c, const char *name, struct err *e)
{
	struct vfolder vf = { .name = name };
	struct msg **pr = NULL, **pl = NULL;
	int rc = -1;

	if (load_folder(c, &vf, e) < 0)
		goto out;
	pr = xcalloc(vf.pairs.n + 1, sizeof(*pr));
	pl = xcalloc(vf.pairs.n + 1, sizeof(*pl));
	for (size_t i = 0; i < vf.pairs.n; i++) {
		pr[i] = find_uid(&vf, vf.uid[i]);
		pl[i] = find_name(&vf, vf.pairs.v[i].name);
		if (pr[i] != NULL)
			claim(&vf, SIDE_REMOTE, pr[i]);
		if (pl[i] != NULL)
			claim(&vf, SIDE_LOCAL, pl[i]);
	}
	if (load_missing_ids(c, &vf, pr, pl, e) < 0)
		goto out;
	for (size_t i = 0; i < vf.pairs.n; i++) {
		const struct state_pair *p = &vf.pairs.v[i];

		if (pr[i] != NULL && pl[i] != NULL) {
			c->stats->messages++;
			if (compare_pair(c, &vf, p, pr[i], pl[i], e) < 0)
				goto out;
		} else if (pr[i] != NULL) {
			report_one_sided(c, &vf, SIDE_REMOTE, pr[i], p->msgid,
			    p->name == NULL);
		} else if (pl[i] != NULL) {
			report_one_sided(c, &vf, SIDE_LOCAL, pl[i], p->msgid,
			    p->uid == 0);
		}
	}
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < vf.ml[s].n; i++)
			if (!vf.seen[s][i])
				report_one_sided(c, &vf, (enum side)s,
				    &vf.ml[s].v[i], NULL, false);
	rc = 0;
out:
	free(pr);
	free(pl);
	vfolder_free(&vf);
	return rc;
}

/* A selected folder that exists on one side only. */
static int
verify_one_sided_folder(struct vchan *c, const char *name, enum side s,
    struct err *e)
{
	struct msg_list ml = { 0 };

	if (c->store[s]->ops->select(c->store[s], name, NULL, e) < 0 ||
	    c->store[s]->ops->list(c->store[s], &ml, e) < 0) {
		msg_list_free(&ml);
		return -1;
	}
	c->stats->messages += ml.n;
	report(c, name, V_DIFF, "folder only on %s (%zu messages)", side_name[s],
	    ml.n);
	msg_list_free(&ml);
	return 0;
}

/* ---- channel --------------------------------------------------------- */

static int
open_stores(struct vchan *c, struct err *e)
{
	c->store[SIDE_REMOTE] = imap_store_new(c->ch->account, c->ch->name,
	    (unsigned)c->ch->account->connections);
	c->store[SIDE_LOCAL] = maildir_store_new(c->ch, c->ch->name);
	/* nothing to refuse here: a missing root is plainly a failure */
	if (c->store[SIDE_LOCAL]->ops->open(c->store[SIDE_LOCAL], false,
	    e) < 0) {
		if (e->code == ERR_SAFETY)
			e->code = ERR_FAIL;
		return -1;
	}
	if (c->store[SIDE_LOCAL]->ops->list_folders(c->store[SIDE_LOCAL],
	    &c->folders[SIDE_LOCAL], e) < 0 ||
	    c->store[SIDE_REMOTE]->ops->open(c->store[SIDE_REMOTE], false,
	    e) < 0)
		return -1;
	return c->store[SIDE_REMOTE]->ops->list_folders(c->store[SIDE_REMOTE],
	    &c->folders[SIDE_REMOTE], e);
}

/*
 * Which folders to look at: those a sync would sync.  A folder on one side
 * only counts when the state knows it (it vanished) or `create` would make
 * it on the other side; the rest a sync leaves alone, as -l shows.
 */
static bool
wanted(const struct vchan *c, const char *name, const struct strv *known,
    const bool exists[2])
{
	if (exists[SIDE_REMOTE] == exists[SIDE_LOCAL])
		return exists[SIDE_REMOTE];
	if (strv_contains(known, name))
		return true;
	return (c->ch->create & (exists[SIDE_REMOTE] ? CFG_SIDE_DISK :
	    CFG_SIDE_SERVER)) != 0;
}

int
verify_channel(const struct cfg_channel *ch, const struct strv *only,
    FILE *out, struct verify_stats *stats, struct err *e)
{
	struct vchan c = { .ch = ch, .out = out, .stats = stats };
	struct strv known = { 0 }, names = { 0 };
	struct err err = { 0 };

	if (state_open(ch->state_dir, ch->name, true, &c.state, e) < 0)
		return -1;
	if (state_folders(c.state, &known, e) < 0 || open_stores(&c, e) < 0) {
		vfail(&c, NULL, e);
		goto out;
	}
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < c.folders[s].n; i++)
			if (!c.folders[s].v[i].noselect &&
			    !strv_contains(&names, c.folders[s].v[i].name))
				strv_add(&names, c.folders[s].v[i].name);
	for (size_t i = 0; i < known.n; i++)
		if (!strv_contains(&names, known.v[i]))
			strv_add(&names, known.v[i]);
	strv_sort(&names);
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		bool exists[2];
		int rc;

		if (!sync_folder_selected(ch, only, name))
			continue;
		for (int s = 0; s < 2; s++)
			exists[s] = folder_list_selectable(&c.folders[s], name);
		if (!wanted(&c, name, &known, exists))
			continue;
		stats->folders++;
		if (exists[SIDE_REMOTE] && exists[SIDE_LOCAL])
			rc = verify_folder(&c, name, &err);
		else
			rc = verify_one_sided_folder(&c, name,
			    exists[SIDE_REMOTE] ? SIDE_REMOTE : SIDE_LOCAL,
			    &err);
		if (rc < 0) {
			vfail(&c, name, &err);
			if (err.code == ERR_TEMP)
				break;	/* the rest would fail too */
		}
	}
out:
	for (int s = 0; s < 2; s++) {
		if (c.store[s] != NULL)
			c.store[s]->ops->close(&c.store[s]);
		folder_list_free(&c.folders[s]);
	}
	state_close(&c.state);
	strv_free(&known);
	strv_free(&names);
	if (c.worst == ERR_OK)
		return 0;
	return err_set(e, c.worst, "%s", c.first.msg);
}

void
verify_summary(FILE *f, const char *channel, const struct verify_stats *st)
{
	fprintf(f, "%s: verified %zu messages in %zu folders, %zu "
	    "differences\n", channel, st->messages, st->folders,
	    st->differences);
}
