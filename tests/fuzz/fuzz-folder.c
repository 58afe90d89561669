/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: server folder names through modified UTF-7 and the
 * Maildir path mapping, which must stay strictly inside the root. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "maildir.h"
#include "utf7.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROOT "/fuzz/root"

/* path must be ROOT itself (maildir++ INBOX) or ROOT/ + a relative path
 * without empty, "." or ".." components */
static void
check_inside(const char *path)
{
	const char *p = path + strlen(ROOT), *c;

	if (strncmp(path, ROOT, strlen(ROOT)) != 0)
		abort();
	if (*p == '\0')
		return;
	if (*p != '/')
		abort();
	for (c = p + 1;; c = p + 1) {
		size_t n;

		p = strchr(c, '/');
		n = p ? (size_t)(p - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			abort();
		if (p == NULL)
			break;
	}
	for (p = path; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
}

static void
map(const char *name, enum cfg_layout layout)
{
	struct cfg_channel ch;
	struct err e = { 0 };
	char *path = NULL;

	memset(&ch, 0, sizeof(ch));
	ch.name = (char *)"fuzz";
	ch.maildir = (char *)ROOT;
	ch.layout = layout;
	ch.inbox = layout == CFG_LAYOUT_MAILDIRPP ? (char *)ROOT :
	    (char *)ROOT "/INBOX";
	if (maildir_folder_path(&ch, name, &path, &e) == 0) {
		if (path == NULL)
			abort();
		check_inside(path);
		free(path);
	} else if (path != NULL || strncmp(e.msg, "folder '", 8) != 0) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = xstrndup((const char *)data, size);
	char *utf8 = NULL, *back = NULL;
	struct err e = { 0 };
	struct buf q = { 0 };

	map(name, CFG_LAYOUT_VERBATIM);
	map(name, CFG_LAYOUT_MAILDIRPP);
	if (utf7_decode(name, &utf8, &e) == 0) {
		if (!utf7_utf8_valid(utf8))
			abort();
		/* the decoder accepts only canonical names: they round-trip */
		if (utf7_encode(utf8, &back, &e) < 0 || strcmp(back, name) != 0)
			abort();
		map(utf8, CFG_LAYOUT_VERBATIM);
		map(utf8, CFG_LAYOUT_MAILDIRPP);
		free(back);
		free(utf8);
	}
	/* and what the user types is encoded for the server, then back */
	if (utf7_encode(name, &back, &e) == 0) {
		if (utf7_decode(back, &utf8, &e) < 0 || strcmp(utf8, name) != 0)
			abort();
		free(utf8);
		free(back);
	}
	utf7_quote(&q, name, 64);
	if (q.data != NULL)
		for (const char *p = q.data; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	buf_free(&q);
	free(name);
	return 0;
}
