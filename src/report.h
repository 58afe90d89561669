/* SPDX-License-Identifier: GPL-3.0-or-later */
/* End-of-run reports: the summary line and the --json object per channel. */
#ifndef MAILSYNC_REPORT_H
#define MAILSYNC_REPORT_H

#include <stdio.h>

#include "err.h"
#include "sync.h"

/* "NAME: N folders, N pulled (SIZE), N pushed (SIZE), N moved, N flag
 * changes, N deleted on server, N deleted locally" and a newline. */
void report_summary(FILE *f, const char *channel, const struct sync_stats *st);

/* One JSON object on one line (documented in mailsync(1), JSON OUTPUT). */
void report_json(FILE *f, const char *channel, const struct sync_stats *st,
    enum err_code code, double seconds);

#endif
