/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Test driver: one IMAP store operation from the command line. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfg.h"
#include "log.h"
#include "store.h"
#include "util.h"

static void
usage(void)
{
	fputs("usage: imap-tool [--debug] CONFIG ACCOUNT OP [ARGS...]\n"
	      "  list-folders | create F | delete F | select F [F...] |\n"
	      "  list F | changed F MODSEQ | details F | fetch F UID [SIZE] |\n"
	      "  append F FLAGS FILE |\n"
	      "  store F UID FLAGS | remove F UID\n"
	      "FLAGS: space-separated IMAP flags and keywords, or \"\"\n",
	    stderr);
}

/* "\\Seen $Forwarded kw" -> struct flags; -1 on an invalid word. */
static int
parse_flags(const char *text, struct flags *out, struct err *e)
{
	char *copy = xstrdup(text), *save = NULL, *w;

	memset(out, 0, sizeof(*out));
	for (w = strtok_r(copy, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		unsigned bit = flags_bit_from_imap(w);

		if (bit != 0)
			out->bits |= bit;
		else if (flags_keyword_valid(w))
			flags_kw_add(&out->kw, w);
		else {
			err_set(e, ERR_FAIL, "invalid flag \"%s\"", w);
			free(copy);
			flags_free(out);
			return -1;
		}
	}
	free(copy);
	return 0;
}

/* store_body_fn for fetch: the content to stdout, a failure kept. */
static int
print_body(void *arg, size_t i, const char *data, size_t len, bool more,
    const struct err *why)
{
	struct err *failed = arg;

	(void)i;
	(void)more;
	if (why != NULL) {
		*failed = *why;
		return -1;
	}
	fwrite(data, 1, len, stdout);
	return 0;
}

static void
print_flags(const struct flags *f)
{
	static const unsigned order[] = { FLAG_DRAFT, FLAG_FLAGGED,
		FLAG_FORWARDED, FLAG_ANSWERED, FLAG_SEEN, FLAG_DELETED };
	const char *sep = "";

	putchar('(');
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		if (f->bits & order[i]) {
			printf("%s%s", sep, flags_bit_to_imap(order[i]));
			sep = " ";
		}
	}
	if (f->kw != NULL && *f->kw)
		printf("%s%s", sep, f->kw);
	putchar(')');
}

static int
read_file(const char *path, struct buf *out, int64_t *mtime, struct err *e)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	char chunk[8192];
	size_t n;

	if (fp == NULL)
		return err_sys(e, ERR_FAIL, "open(%s) failed", path);
	if (fstat(fileno(fp), &st) == 0)
		*mtime = (int64_t)st.st_mtime;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(out, chunk, n);
	if (ferror(fp)) {
		fclose(fp);
		return err_sys(e, ERR_FAIL, "read(%s) failed", path);
	}
	fclose(fp);
	return 0;
}

static int
parse_uid(const char *s, uint32_t *uid, struct err *e)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return err_set(e, ERR_FAIL, "invalid UID \"%s\"", s);
	*uid = (uint32_t)v;
	return 0;
}

/* The listed message with this UID, or an error. */
static struct msg *
find_uid(struct msg_list *l, uint32_t uid, struct err *e)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].uid == uid)
			return &l->v[i];
	err_set(e, ERR_FAIL, "no message with UID %" PRIu32, uid);
	return NULL;
}

static int
run(struct store *st, const char *op, int argc, char **argv, struct err *e)
{
	const struct store_ops *o = st->ops;
	struct folder_list fl = { 0 };
	struct msg_list ml = { 0 };
	struct folder_status fs;
	struct buf b = { 0 };
	struct msg out = { 0 }, *m;
	struct flags f = { 0 };
	uint32_t uid;
	int64_t mtime = 0;
	int rc = -1;

#define NEED(n)                                                            \
	do {                                                               \
		if (argc != (n)) {                                         \
			err_set(e, ERR_CONFIG, "%s takes %d argument(s)", op, \
			    (n));                                          \
			goto done;                                         \
		}                                                          \
	} while (0)

	if (strcmp(op, "list-folders") == 0) {
		NEED(0);
		if (o->list_folders(st, &fl, e) < 0)
			goto done;
		for (size_t i = 0; i < fl.n; i++)
			printf("%s%s\n", fl.v[i].name,
			    fl.v[i].noselect ? " (noselect)" : "");
		rc = 0;
	} else if (strcmp(op, "list-status") == 0) {
		/* the STATUS of each folder right after listing them, as a
		 * run checks which changed */
		NEED(0);
		if (o->list_folders(st, &fl, e) < 0)
			goto done;
		rc = 0;
		for (size_t i = 0; i < fl.n && rc == 0; i++) {
			if (fl.v[i].noselect)
				continue;
			rc = o->status(st, fl.v[i].name, &fs, e);
			if (rc == 0)
				printf("%s %u %u %u %llu\n", fl.v[i].name,
				    fs.exists, fs.uidnext, fs.uidvalidity,
				    (unsigned long long)fs.highestmodseq);
		}
	} else if (strcmp(op, "create") == 0) {
		NEED(1);
		rc = o->create_folder(st, argv[0], e);
	} else if (strcmp(op, "delete") == 0) {
		NEED(1);
		rc = o->delete_folder(st, argv[0], e);
	} else if (strcmp(op, "select") == 0) {
		/* Several folders: exercises re-selecting and switching. */
		if (argc < 1) {
			err_set(e, ERR_CONFIG, "select takes folder names");
			goto done;
		}
		for (int i = 0; i < argc; i++) {
			if (o->select(st, argv[i], &fs, e) < 0)
				goto done;
			printf("uidvalidity %" PRIu32 " uidnext %" PRIu32
			       " highestmodseq %" PRIu64 " exists %" PRIu32
			       "\n", fs.uidvalidity, fs.uidnext,
			    fs.highestmodseq, fs.exists);
		}
		rc = 0;
	} else if (strcmp(op, "list") == 0 || strcmp(op, "details") == 0) {
		bool details = strcmp(op, "details") == 0;

		NEED(1);
		if (o->select(st, argv[0], NULL, e) < 0 ||
		    o->list(st, &ml, e) < 0)
			goto done;
		if (details) {
			struct msg **pv = xcalloc(ml.n + 1, sizeof(*pv));

			for (size_t i = 0; i < ml.n; i++)
				pv[i] = &ml.v[i];
			rc = o->details(st, pv, ml.n, e);
			free(pv);
			if (rc < 0)
				goto done;
		}
		for (size_t i = 0; i < ml.n; i++) {
			m = &ml.v[i];
			if (details) {
				printf("%" PRIu32 " %" PRIu64 " %s\n", m->uid,
				    m->size, m->msgid ? m->msgid : "-");
				continue;
			}
			printf("%" PRIu32 " ", m->uid);
			print_flags(&m->flags);
			printf(" %" PRIu64 "\n", m->size);
		}
		rc = 0;
	} else if (strcmp(op, "changed") == 0) {
		struct store_changes ch;

		NEED(2);
		if (o->select(st, argv[0], NULL, e) < 0 ||
		    o->list_changed(st, strtoull(argv[1], NULL, 10), &ch,
		    e) < 0)
			goto done;
		printf("%zu changed, %zu vanished ranges\n", ch.msgs.n,
		    ch.nvanished);
		msg_list_free(&ch.msgs);
		free(ch.vanished);
		rc = 0;
	} else if (strcmp(op, "fetch") == 0) {
		/* SIZE as listed (0 if not given): a large one comes in
		 * pieces */
		struct msg *one = &out;
		struct err failed = { 0 };

		if (argc != 3)
			NEED(2);
		if (parse_uid(argv[1], &uid, e) < 0 ||
		    o->select(st, argv[0], NULL, e) < 0)
			goto done;
		out.uid = uid;
		out.size = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
		rc = o->fetch_many(st, &one, 1, print_body, &failed, e);
		if (failed.code != ERR_OK) {
			*e = failed;
			rc = -1;
		}
	} else if (strcmp(op, "append") == 0) {
		NEED(3);
		if (parse_flags(argv[1], &f, e) < 0 ||
		    read_file(argv[2], &b, &mtime, e) < 0 ||
		    o->select(st, argv[0], NULL, e) < 0 ||
		    o->append(st, b.data ? b.data : "", b.len, &f, mtime, &out,
		    e) < 0)
			goto done;
		printf("%" PRIu32 "\n", out.uid);
		rc = 0;
	} else if (strcmp(op, "store") == 0) {
		struct flag_change ch;

		NEED(3);
		if (parse_uid(argv[1], &uid, e) < 0 ||
		    parse_flags(argv[2], &f, e) < 0 ||
		    o->select(st, argv[0], NULL, e) < 0 ||
		    o->list(st, &ml, e) < 0 ||
		    (m = find_uid(&ml, uid, e)) == NULL)
			goto done;
		ch.msg = m;
		ch.to = f;
		if (o->set_flags(st, &ch, 1, e) < 0)
			goto done;
		print_flags(&m->flags);
		putchar('\n');
		rc = 0;
	} else if (strcmp(op, "remove") == 0) {
		NEED(2);
		if (parse_uid(argv[1], &uid, e) < 0 ||
		    o->select(st, argv[0], NULL, e) < 0)
			goto done;
		out.uid = uid;
		m = &out;
		rc = o->remove(st, &m, 1, e);
	} else {
		err_set(e, ERR_CONFIG, "unknown operation \"%s\"", op);
	}
done:
	folder_list_free(&fl);
	msg_list_free(&ml);
	msg_free(&out);
	flags_free(&f);
	buf_free(&b);
	return rc;
#undef NEED
}

int
main(int argc, char **argv)
{
	struct err e = { 0 };
	struct cfg *cfg = NULL;
	struct cfg_account *acct = NULL;
	struct store *st = NULL;
	char *label = NULL;
	int argi = 1, rc = 1;

	if (argi < argc && strcmp(argv[argi], "--debug") == 0) {
		log_debug = 1;
		argi++;
	}
	if (argc - argi < 3) {
		usage();
		return 2;
	}
	if (cfg_load(argv[argi], &cfg, &e) < 0)
		goto out;
	for (size_t i = 0; i < cfg->naccounts; i++)
		if (strcmp(cfg->accounts[i].name, argv[argi + 1]) == 0)
			acct = &cfg->accounts[i];
	if (acct == NULL) {
		err_set(&e, ERR_CONFIG, "no account \"%s\"", argv[argi + 1]);
		goto out;
	}
	label = xasprintf("remote %s", acct->name);
	st = imap_store_new(acct, label, 1);
	if (st->ops->open(st, false, &e) < 0)
		goto out;
	if (run(st, argv[argi + 2], argc - argi - 3, argv + argi + 3, &e) < 0)
		goto out;
	rc = 0;
out:
	if (st != NULL)
		st->ops->close(&st);
	if (rc != 0)
		fprintf(stderr, "imap-tool: %s: %s\n",
		    e.code == ERR_TEMP ? "TEMP" :
		    e.code == ERR_CONFIG ? "CONFIG" : "FAIL", e.msg);
	free(label);
	cfg_free(&cfg);
	return rc;
}
