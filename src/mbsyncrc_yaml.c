/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The converted configuration written as YAML, with the reasons as
 * comments. */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "mbsyncrc_priv.h"
#include "util.h"

/* A scalar libyaml reads back as this exact string, and that cfg_yaml.c
 * does not take for null. */
static bool
plain_ok(const char *s)
{
	static const char *const words[] = {
		"null", "true", "false", "yes", "no", "on", "off", "y", "n",
	};

	if (!(isalnum((unsigned char)s[0]) || s[0] == '_' || s[0] == '.' ||
	    s[0] == '/' || (s[0] == '~' && s[1] != '\0')))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("_./~@+-", *p) == NULL)
			return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (is_word(s, words[i]))
			return false;
	return true;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void
yaml_quoted(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)*p++);
		} else if (*p < 0x20 || *p == 0x7f || n == 0)
			/* not UTF-8: most likely Latin-1, which \x means */
			buf_printf(b, "\\x%02x", *p++);
		else {
			buf_add(b, p, n);
			p += n;
		}
	}
	buf_addc(b, '"');
}

static void
yaml_scalar(struct buf *b, const char *s)
{
	if (plain_ok(s))
		buf_adds(b, s);
	else
		yaml_quoted(b, s);
}

static void
emit_kv(struct buf *b, int indent, const char *key, const char *value)
{
	buf_printf(b, "%*s%s: ", indent, "", key);
	yaml_scalar(b, value);
	buf_addc(b, '\n');
}

static void
emit_list(struct buf *b, int indent, const char *key,
    const struct strv *items, bool quote)
{
	buf_printf(b, "%*s%s: [", indent, "", key);
	for (size_t i = 0; i < items->n; i++) {
		if (i)
			buf_adds(b, ", ");
		if (quote)
			yaml_quoted(b, items->v[i]);
		else
			yaml_scalar(b, items->v[i]);
	}
	buf_adds(b, "]\n");
}

/* One comment, wrapped before column 80. */
static void
emit_note(struct buf *b, int indent, const char *text)
{
	size_t width = indent + 2 < 60 ? 78 - (size_t)indent - 2 : 20;
	bool first = true;

	while (*text) {
		size_t avail = first ? width : width - 2;
		size_t len = strlen(text), cut = len;

		if (len > avail) {
			cut = avail;
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				for (cut = avail; text[cut] && text[cut] != ' ';
				    cut++)
					;
		}
		buf_printf(b, "%*s# %s%.*s\n", indent, "", first ? "" : "  ",
		    (int)cut, text);
		text += cut;
		while (*text == ' ')
			text++;
		first = false;
	}
}

static void
emit_notes(struct buf *b, int indent, const struct strv *notes)
{
	for (size_t i = 0; i < notes->n; i++)
		emit_note(b, indent, notes->v[i]);
}

/* Append a rendered entry, commented out after its indentation when it
 * cannot be used as it is. */
static void
append_block(struct buf *out, const struct buf *blk, int indent, bool active)
{
	const char *p = blk->data;

	if (p == NULL)
		return;
	if (active) {
		buf_add(out, blk->data, blk->len);
		return;
	}
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		size_t sp = 0;

		while (sp < n && sp < (size_t)indent && p[sp] == ' ')
			sp++;
		buf_printf(out, "%*s# %.*s\n", (int)sp, "", (int)(n - sp),
		    p + sp);
		p += n + (nl != NULL);
	}
}

/* 'text' for /bin/sh, whatever text holds. */
static void
sh_quote(struct buf *b, const char *s)
{
	buf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '\'');
}

/* ---- accounts ---- */

static void
render_account(struct mb_account *a, struct buf *out)
{
	static const char *const tls_names[] = {
		[MB_TLS_UNSET] = "starttls", [MB_TLS_NONE] = "none",
		[MB_TLS_STARTTLS] = "starttls", [MB_TLS_IMAPS] = "imaps",
	};
	struct buf b = { 0 };
	struct strv notes = { 0 }, auth = { 0 }, dropped = { 0 };
	char *reason = mbsyncrc_account_problem(a);
	enum mb_tls tls = a->tls;
	bool any = false;

	if (reason)
		mbsyncrc_note(&notes, "%s %s is not converted: %s.",
		    a->in_store ? "IMAPStore" : "IMAPAccount", a->name, reason);
	emit_notes(out, 2, &notes);
	strv_free(&notes);

	buf_printf(&b, "  ");
	yaml_scalar(&b, a->key);
	buf_adds(&b, ":\n");
	if (a->host)
		emit_kv(&b, 4, "host", a->host);
	if (a->port)
		buf_printf(&b, "    port: %d\n", a->port);
	if (tls == MB_TLS_UNSET) {
		tls = a->use_imaps ? MB_TLS_IMAPS : a->tunnel ? MB_TLS_NONE :
		    MB_TLS_STARTTLS;
		if (tls == MB_TLS_STARTTLS)
			mbsyncrc_note(&notes,
			    "no TLSType: STARTTLS, mbsync's default");
	}
	if (tls == MB_TLS_NONE && a->host && !cfg_is_loopback(a->host)) {
		tls = MB_TLS_STARTTLS;
		mbsyncrc_note(&notes, "TLSType None: mailsync connects without "
		    "encryption only to loopback hosts, so STARTTLS is "
		    "required instead");
	}
	emit_kv(&b, 4, "tls", tls_names[tls]);
	if (a->user)
		emit_kv(&b, 4, "user", a->user);
	if (a->pass) {
		emit_kv(&b, 4, "password", a->pass);
		if (a->pass_cmd)
			mbsyncrc_note(&notes, "PassCmd is not converted: Pass "
			    "is set, and mbsync uses Pass then");
	} else if (a->pass_cmd) {
		emit_kv(&b, 4, "pass-cmd", a->pass_cmd + (a->pass_cmd[0] ==
		    '+'));
		if (a->pass_cmd[0] == '+')
			mbsyncrc_note(&notes, "PassCmd '+': not needed; the "
			    "command's standard error and terminal stay the "
			    "user's");
	} else if (a->keychain && a->host && a->user) {
		struct buf cmd = { 0 };

		buf_adds(&cmd, "security find-internet-password -r imap -s ");
		sh_quote(&cmd, a->host);
		buf_adds(&cmd, " -a ");
		sh_quote(&cmd, a->user);
		buf_adds(&cmd, " -w");
		emit_kv(&b, 4, "pass-cmd", cmd.data);
		buf_free(&cmd);
		mbsyncrc_note(&notes, "UseKeychain yes: the password is read "
		    "from the macOS Keychain with security(1)");
	} else {
		emit_kv(&b, 4, "pass-cmd", "echo 'mailsync: set pass-cmd' >&2; "
		    "exit 1");
		mbsyncrc_note(&notes, "no Pass or PassCmd: mbsync asked for "
		    "the password on the terminal, mailsync cannot; replace "
		    "this pass-cmd with a command that prints it, such as "
		    "\"pass show mail/%s\"", a->name);
	}
	for (size_t i = 0; i < a->auth.n; i++) {
		const char *m = a->auth.v[i];

		if (strcmp(m, "*") == 0)
			any = true;
		else if (is_word(m, "PLAIN") || is_word(m, "LOGIN") ||
		    is_word(m, "XOAUTH2")) {
			char *low = xstrdup(m);

			for (char *p = low; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (!strv_contains(&auth, low))
				strv_add(&auth, low);
			free(low);
		} else
			strv_add(&dropped, m);
	}
	if (!any && auth.n > 0)
		emit_list(&b, 4, "auth", &auth, false);
	if (dropped.n > 0) {
		char *all = mbsyncrc_join_args(&dropped, 0);

		mbsyncrc_note(&notes, "AuthMechs %s: not supported; mailsync "
		    "knows PLAIN, LOGIN and XOAUTH2%s", all,
		    !any && auth.n == 0 ?
		    ", and uses any of them the server offers" : "");
		free(all);
	}
	if (a->ca_files.n > 0)
		emit_kv(&b, 4, "ca-file", a->ca_files.v[0]);
	for (size_t i = 1; i < a->ca_files.n; i++)
		mbsyncrc_note(&notes, "CertificateFile %s: mailsync takes one "
		    "ca-file; put the certificates of both files into one",
		    a->ca_files.v[i]);
	if (a->timeout == 0 || a->timeout > 3600) {
		buf_adds(&b, "    timeout: 3600\n");
		mbsyncrc_note(&notes,
		    "Timeout %ld: mailsync waits at most 3600 seconds",
		    a->timeout);
	} else if (a->timeout > 0)
		buf_printf(&b, "    timeout: %ld\n", a->timeout);
	if (a->user && a->user_cmd)
		mbsyncrc_note(&notes, "UserCmd is not converted: User is set");
	emit_notes(&b, 4, &notes);
	emit_notes(&b, 4, &a->notes);
	append_block(out, &b, 2, reason == NULL);
	free(reason);
	buf_free(&b);
	strv_free(&notes);
	strv_free(&auth);
	strv_free(&dropped);
}

/* ---- channels ---- */

static const char *
sides_name(unsigned sides, int remote)
{
	bool server = sides & 1u << remote, disk = sides & 1u << (1 - remote);

	return server && disk ? "both" : server ? "server" : disk ? "disk" :
	    "none";
}

static unsigned
to_prop(unsigned ops)
{
	unsigned p = 0;

	if (ops & OP_NEW)
		p |= CFG_PROP_NEW;
	if (ops & OP_FLAGS)
		p |= CFG_PROP_FLAGS;
	if (ops & OP_GONE)
		p |= CFG_PROP_DELETIONS;
	/* a move is a new message in one folder and a deletion in another */
	if ((p & CFG_PROP_NEW) && (p & CFG_PROP_DELETIONS))
		p |= CFG_PROP_MOVES;
	return p;
}

static void
prop_names(struct strv *out, unsigned p)
{
	if (p & CFG_PROP_NEW)
		strv_add(out, "new");
	if (p & CFG_PROP_FLAGS)
		strv_add(out, "flags");
	if (p & CFG_PROP_DELETIONS)
		strv_add(out, "deletions");
	if (p & CFG_PROP_MOVES)
		strv_add(out, "moves");
}

static char *
prop_text(unsigned p)
{
	struct strv names = { 0 };
	char *s;

	prop_names(&names, p);
	s = mbsyncrc_join_args(&names, 0);
	strv_free(&names);
	return s;
}

static int
prop_count(unsigned p)
{
	return !!(p & CFG_PROP_NEW) + !!(p & CFG_PROP_FLAGS) +
	    !!(p & CFG_PROP_DELETIONS);
}

/* direction and propagate, as close to mbsync's Sync as one list allows */
static void
render_sync(const struct mb_conv *c, struct mb_channel *ch, struct buf *b)
{
	const struct mb_chopts *o = ch->o.have_sync ? &ch->o : &c->global;
	unsigned ops[2] = { OP_ALL, OP_ALL }, pull, push, prop;
	const char *dir;

	if (o->have_sync)
		mbsyncrc_sync_ops(o, ops);
	/* pull: server to disk, the operations whose target is the disk */
	pull = to_prop(ops[1 - ch->remote]);
	push = to_prop(ops[ch->remote]);
	if (pull == push) {
		dir = "both";
		prop = pull;
	} else if (push == 0) {
		dir = "pull";
		prop = pull;
	} else if (pull == 0) {
		dir = "push";
		prop = push;
	} else {
		/* never propagate what mbsync did not: the largest subset */
		unsigned both = to_prop(ops[0] & ops[1]);
		int nb = 2 * prop_count(both), np = prop_count(pull),
		    nq = prop_count(push);

		/* on a tie, keep mail arriving from the server */
		if (np >= nb && np >= nq) {
			dir = "pull";
			prop = pull;
		} else if (nb >= nq) {
			dir = "both";
			prop = both;
		} else {
			dir = "push";
			prop = push;
		}
	}
	if (strcmp(dir, "both") != 0)
		buf_printf(b, "    direction: %s\n", dir);
	if (prop != CFG_PROP_ALL) {
		struct strv names = { 0 };

		prop_names(&names, prop);
		emit_list(b, 4, "propagate", &names, false);
		strv_free(&names);
	}
	if (o->have_sync) {
		unsigned lost_pull = strcmp(dir, "push") == 0 ? pull :
		    pull & ~prop;
		unsigned lost_push = strcmp(dir, "pull") == 0 ? push :
		    push & ~prop;

		lost_pull &= ~CFG_PROP_MOVES;
		lost_push &= ~CFG_PROP_MOVES;
		if (lost_pull || lost_push) {
			struct buf lost = { 0 };
			char *t;

			if (lost_pull) {
				t = prop_text(lost_pull);
				buf_printf(&lost, "%s (server to disk)", t);
				free(t);
			}
			if (lost_push) {
				t = prop_text(lost_push);
				buf_printf(&lost, "%s%s (disk to server)",
				    lost_pull ? "; " : "", t);
				free(t);
			}
			mbsyncrc_note(&ch->notes, "Sync %s: mailsync "
			    "propagates the same kinds of change in each "
			    "direction it syncs; not converted: %s",
			    o->sync_text, lost.data);
			buf_free(&lost);
		}
		if (prop == 0)
			mbsyncrc_note(&ch->notes,
			    "Sync %s: nothing is propagated", o->sync_text);
		if ((o->cops | o->ops[0] | o->ops[1]) & OP_UPGRADE)
			mbsyncrc_note(&ch->notes, "Sync %s: mailsync copies no "
			    "placeholders, so there is nothing to upgrade",
			    o->sync_text);
	}
}

static void
format_size(char *out, size_t n, uint64_t size)
{
	if (size % (1024 * 1024) == 0)
		snprintf(out, n, "%lluM", (unsigned long long)(size >> 20));
	else if (size % 1024 == 0)
		snprintf(out, n, "%lluK", (unsigned long long)(size >> 10));
	else
		snprintf(out, n, "%llu", (unsigned long long)size);
}

static void
render_channel(const struct mb_conv *c, struct mb_channel *ch, struct buf *out)
{
	const struct mb_chopts *g = &c->global;
	struct buf b = { 0 };
	unsigned create, remove, expunge;
	const struct mb_store *rs, *ls;
	long max_messages;
	const char *sync_state;
	char size[32];

	if (ch->reason) {
		struct strv n = { 0 };

		mbsyncrc_note(&n, "Channel %s is not converted: %s.", ch->name,
		    ch->reason);
		emit_notes(out, 2, &n);
		strv_free(&n);
		if (ch->root == NULL) {
			/* nothing usable to show below the reason */
			buf_printf(out, "  # ");
			yaml_scalar(out, ch->key);
			buf_adds(out, ": (not converted)\n");
			return;
		}
	}
	rs = &c->stores[ch->store[ch->remote]];
	ls = &c->stores[ch->store[1 - ch->remote]];
	buf_adds(&b, "  ");
	yaml_scalar(&b, ch->key);
	buf_adds(&b, ":\n");
	emit_kv(&b, 4, "account", c->accounts[rs->account].key);
	emit_kv(&b, 4, "maildir", ch->root);
	if (ch->inbox)
		emit_kv(&b, 4, "inbox", ch->inbox);
	if (ch->maildirpp)
		buf_adds(&b, "    layout: maildir++\n");
	emit_list(&b, 4, "folders", &ch->folders, true);
	render_sync(c, ch, &b);

	create = ch->o.have_create ? ch->o.create : g->create;
	remove = ch->o.have_remove ? ch->o.remove : g->remove;
	expunge = ch->o.have_expunge ? ch->o.expunge : g->expunge;
	buf_printf(&b, "    create: %s\n", sides_name(create, ch->remote));
	buf_printf(&b, "    remove: %s\n", sides_name(remove, ch->remote));
	buf_printf(&b, "    expunge: %s\n", sides_name(expunge, ch->remote));
	if (!ch->o.have_create && !g->have_create)
		mbsyncrc_note(&ch->notes, "no Create: none, mbsync's default");
	if (!ch->o.have_expunge && !g->have_expunge)
		mbsyncrc_note(&ch->notes, "no Expunge: none, mbsync's default; "
		    "deleted messages stay marked deleted");

	if (ch->max_size_set && ch->max_size > 0) {
		format_size(size, sizeof(size), ch->max_size);
		buf_printf(&b, "    max-size: %s\n", size);
		mbsyncrc_note(&ch->notes, "MaxSize %s: mbsync copied a "
		    "placeholder of bigger messages, mailsync does not copy "
		    "them", size);
	} else if (!ch->max_size_set && ls->max_size_set &&
	    ls->max_size > 0) {
		format_size(size, sizeof(size), ls->max_size);
		buf_printf(&b, "    max-size: %s\n", size);
		mbsyncrc_note(&ch->notes, "MaildirStore %s: MaxSize %s: mbsync "
		    "copied a placeholder of bigger messages to disk; mailsync "
		    "does not copy them in either direction", ls->name, size);
	}
	if (!ch->max_size_set && rs->max_size_set && rs->max_size > 0) {
		format_size(size, sizeof(size), rs->max_size);
		mbsyncrc_note(&ch->notes, "IMAPStore %s: MaxSize %s: not "
		    "converted; mailsync's max-size would also keep big "
		    "messages from reaching the disk", rs->name, size);
	}
	max_messages = ch->o.max_messages >= 0 ? ch->o.max_messages :
	    g->max_messages;
	if (max_messages > 0)
		mbsyncrc_note(&ch->notes, "MaxMessages %ld: no equivalent; "
		    "mailsync keeps every message (max-age limits by age what "
		    "is copied)", max_messages);
	sync_state = ch->o.sync_state ? ch->o.sync_state : g->sync_state;
	if (sync_state && strcmp(sync_state, "*") != 0)
		mbsyncrc_note(&ch->notes, "SyncState %s: not converted; "
		    "mailsync keeps its state in state-dir, by default "
		    "$XDG_STATE_HOME/mailsync/CHANNEL", sync_state);
	emit_notes(&b, 4, &ch->notes);
	emit_notes(&b, 4, &rs->notes);
	emit_notes(&b, 4, &ls->notes);
	emit_notes(&b, 4, &ch->o.notes);
	append_block(out, &b, 2, ch->reason == NULL);
	buf_free(&b);
}

static void
render_group(const struct mb_conv *c, struct mb_group *g, struct buf *out)
{
	struct strv members = { 0 };

	for (size_t i = 0; i < g->members.n; i++) {
		const char *m = g->members.v[i];
		const char *colon = strchr(m, ':');
		char *name = colon ? xstrndup(m, (size_t)(colon - m)) :
		    xstrdup(m);
		const struct mb_channel *ch = NULL;

		for (size_t j = 0; j < c->nchannels; j++)
			if (strcmp(c->channels[j].name, name) == 0)
				ch = &c->channels[j];
		if (ch == NULL)
			mbsyncrc_note(&g->notes,
			    "group %s: channel %s left out: no such channel",
			    g->name, name);
		else if (ch->reason)
			mbsyncrc_note(&g->notes, "group %s: channel %s left "
			    "out: it is not converted", g->name, name);
		else {
			if (colon)
				mbsyncrc_note(&g->notes, "group %s: the "
				    "mailboxes %s of channel %s are dropped; a "
				    "group names whole channels (select "
				    "folders with CHANNEL:FOLDER on the "
				    "command line)", g->name, colon + 1, name);
			if (!strv_contains(&members, ch->key))
				strv_add(&members, ch->key);
		}
		free(name);
	}
	emit_notes(out, 2, &g->notes);
	buf_adds(out, "  ");
	yaml_scalar(out, g->key);
	buf_adds(out, ": [");
	for (size_t i = 0; i < members.n; i++) {
		if (i)
			buf_adds(out, ", ");
		yaml_scalar(out, members.v[i]);
	}
	buf_adds(out, "]\n");
	strv_free(&members);
}

void
mbsyncrc_render(struct mb_conv *c, struct buf *out)
{
	struct strv head = { 0 };

	mbsyncrc_assign_keys(c);
	for (size_t i = 0; i < c->nchannels; i++)
		mbsyncrc_plan_channel(c, &c->channels[i]);
	for (size_t i = 0; i < c->nchannels; i++) {
		struct mb_channel *a = &c->channels[i];

		for (size_t j = 0; j < c->nchannels && !a->reason; j++) {
			struct mb_channel *z = &c->channels[j];

			if (j != i && !z->reason &&
			    strcmp(a->root, z->root) == 0)
				mbsyncrc_note(&a->notes, "this channel shares "
				    "its Maildir root with channel %s: keep "
				    "their folders apart", z->key);
		}
	}

	mbsyncrc_note(&head, "mailsync configuration converted from %s.",
	    c->path);
	mbsyncrc_note(&head, "mbsync options without an equivalent are kept as "
	    "comments that say why; read them, then try: mailsync -n -a");
	emit_notes(out, 0, &head);
	emit_notes(out, 0, &c->global_notes);
	emit_notes(out, 0, &c->global.notes);
	strv_free(&head);

	buf_adds(out, "\naccounts:\n");
	for (size_t i = 0; i < c->naccounts; i++)
		render_account(&c->accounts[i], out);
	buf_adds(out, "\nchannels:\n");
	for (size_t i = 0; i < c->nchannels; i++)
		render_channel(c, &c->channels[i], out);
	if (c->ngroups > 0) {
		buf_adds(out, "\ngroups:\n");
		for (size_t i = 0; i < c->ngroups; i++)
			render_group(c, &c->groups[i], out);
	}
}
