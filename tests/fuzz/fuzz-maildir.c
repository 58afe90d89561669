/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the Maildir store on hostile file names, flag suffixes
 * and dovecot-keywords maps, through list, details and set_flags. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "flags.h"
#include "log.h"
#include "store.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void
rm_rf(const char *path)
{
	struct dirent *d;
	DIR *dir = opendir(path);
	char sub[4096];

	if (dir == NULL) {
		unlink(path);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, d->d_name);
		rm_rf(sub);
	}
	closedir(dir);
	rmdir(path);
}

static void
remove_root(void)
{
	rm_rf(root);
}

static void
put(const char *dir, const char *name, const char *text)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;	/* a name the file system refuses */
	if (write(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
}

/*
 * Input: the dovecot-keywords file, a NUL, then file names one a line (a
 * leading '!' puts one in new/ instead of cur/), a NUL, then keywords to
 * set on every message.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *sep;
	char inbox[128], cur[160], new[160], *kwmap, *names, *kws, *line;
	struct cfg_channel ch;
	struct store *st;
	struct msg_list ml = { 0 };
	struct flag_change *fc;
	struct msg **msgs;
	struct err e = { 0 };

	log_level = LOG_QUIET;
	if (root[0] == '\0') {
		snprintf(root, sizeof(root), "/tmp/mailsync-fuzz-md.XXXXXX");
		if (mkdtemp(root) == NULL)
			abort();
		atexit(remove_root);
	}
	sep = memchr(p, '\0', size);
	kwmap = xstrndup(p, sep ? (size_t)(sep - p) : size);
	p = sep ? sep + 1 : end;
	sep = memchr(p, '\0', (size_t)(end - p));
	names = xstrndup(p, sep ? (size_t)(sep - p) : (size_t)(end - p));
	p = sep ? sep + 1 : end;
	kws = xstrndup(p, (size_t)(end - p));

	snprintf(inbox, sizeof(inbox), "%s/INBOX", root);
	snprintf(cur, sizeof(cur), "%s/cur", inbox);
	snprintf(new, sizeof(new), "%s/new", inbox);
	mkdir(inbox, 0700);
	mkdir(cur, 0700);
	mkdir(new, 0700);
	snprintf(cur + strlen(inbox), sizeof(cur) - strlen(inbox), "/tmp");
	mkdir(cur, 0700);
	snprintf(cur + strlen(inbox), sizeof(cur) - strlen(inbox), "/cur");
	put(inbox, "dovecot-keywords", kwmap);
	for (line = strtok(names, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		bool in_new = line[0] == '!';
		const char *n = line + in_new;

		if (*n == '\0' || strchr(n, '/') || strcmp(n, ".") == 0 ||
		    strcmp(n, "..") == 0 || strlen(n) > 250)
			continue;
		put(in_new ? new : cur, n,
		    "Message-ID: <x@y>\nSubject: s\n\nbody\n");
	}

	memset(&ch, 0, sizeof(ch));
	ch.name = (char *)"fuzz";
	ch.maildir = root;
	ch.inbox = inbox;
	ch.layout = CFG_LAYOUT_VERBATIM;
	st = maildir_store_new(&ch, "local fuzz");
	if (st->ops->open(st, false, &e) == 0 &&
	    st->ops->select(st, "INBOX", NULL, &e) == 0 &&
	    st->ops->list(st, &ml, &e) == 0) {
		msgs = xcalloc(ml.n + 1, sizeof(*msgs));
		fc = xcalloc(ml.n + 1, sizeof(*fc));
		for (size_t i = 0; i < ml.n; i++) {
			const struct msg *m = &ml.v[i];

			/* what the store reports stays a plain name */
			if (m->name == NULL || strchr(m->name, '/') ||
			    strstr(m->name, ":2,") || m->file == NULL ||
			    (strncmp(m->file, "cur/", 4) &&
			    strncmp(m->file, "new/", 4)))
				abort();
			if ((m->flags.bits & ~FLAG_ALL) != 0)
				abort();
			msgs[i] = &ml.v[i];
			fc[i].msg = &ml.v[i];
			fc[i].to.bits = (unsigned)(i % 64) & FLAG_ALL;
			fc[i].to.kw = xstrdup(kws);
			flags_kw_normalize(&fc[i].to.kw);
		}
		err_clear(&e);
		(void)st->ops->details(st, msgs, ml.n, &e);
		err_clear(&e);
		if (st->ops->set_flags(st, fc, ml.n, &e) == 0)
			for (size_t i = 0; i < ml.n; i++) {
				const char *f = ml.v[i].file;
				const char *info = strstr(f, ":2,");

				/* only flag letters and keyword letters */
				if (strncmp(f, "cur/", 4) != 0 || info == NULL)
					abort();
				for (info += 3; *info; info++)
					if (!strchr("DFPRST", *info) &&
					    (*info < 'a' || *info > 'z'))
						abort();
			}
		for (size_t i = 0; i < ml.n; i++)
			flags_free(&fc[i].to);
		free(fc);
		free(msgs);
	}
	msg_list_free(&ml);
	st->ops->close(&st);
	rm_rf(inbox);
	free(kwmap);
	free(names);
	free(kws);
	return 0;
}
