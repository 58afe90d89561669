/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the YAML configuration parser (cfg_load) on any bytes. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/mailsync-fuzz-cfg.XXXXXX";
	struct cfg *c = NULL;
	struct err e = { 0 };
	int fd;

	log_level = LOG_QUIET;
	/* cfg_load reads a file: give it one, 0600 so no warning is due */
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	/* expansions of ~ and $VAR must not depend on the caller */
	setenv("HOME", "/nonexistent-home", 1);
	if (cfg_load(path, &c, &e) == 0) {
		if (c == NULL)
			abort();
		/* a valid config names its channels' accounts */
		for (size_t i = 0; i < c->nchannels; i++)
			if (c->channels[i].account == NULL ||
			    c->channels[i].maildir == NULL)
				abort();
		cfg_free(&c);
		if (c != NULL)
			abort();
	} else {
		/* every refusal says where: "PATH:LINE:COL: ..." or a cause */
		if (e.code == ERR_OK || e.msg[0] == '\0')
			abort();
	}
	unlink(path);
	return 0;
}
