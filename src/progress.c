/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The live progress line of a channel on a terminal. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "store.h"

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
progress_init(struct progress *p, FILE *f, const char *channel)
{
	p->out = f != NULL && isatty(fileno(f)) ? f : NULL;
	p->channel = channel;
	p->start = mono();
	p->last = p->start - 1;	/* the first tick draws */
	p->drawn = false;
}

static void
size_text(unsigned long long n, char *out, size_t outsz)
{
	if (n >= 10ull << 20)
		snprintf(out, outsz, "%.1f MiB", (double)n / (1 << 20));
	else
		snprintf(out, outsz, "%.1f KiB", (double)n / (1 << 10));
}

void
progress_tick(struct sync_stats *st, void *arg)
{
	struct progress *p = arg;
	double now = mono(), secs;
	char down[32], up[32], rate[48] = "";
	unsigned long long bytes;

	if (p->out == NULL || now - p->last < 0.1)
		return;
	p->last = now;
	secs = now - p->start;
	bytes = st->bytes[SIDE_LOCAL] + st->bytes[SIDE_REMOTE];
	size_text(st->bytes[SIDE_LOCAL], down, sizeof(down));
	size_text(st->bytes[SIDE_REMOTE], up, sizeof(up));
	/* a long first sync: say how fast it goes */
	if (secs >= 2 && bytes > 0) {
		size_text((unsigned long long)(bytes / secs), rate,
		    sizeof(rate) - 3);
		snprintf(rate + strlen(rate), 3, "/s");
	}
	fprintf(p->out, "\r\033[K%s: folder %zu/%zu, pulled %zu (%s), "
	    "pushed %zu (%s), %zu flags, %zu deleted, %zu moved%s%s",
	    p->channel, st->folder_i, st->folder_n, st->copied[SIDE_LOCAL],
	    down, st->copied[SIDE_REMOTE], up,
	    st->flagged[0] + st->flagged[1], st->deleted[0] + st->deleted[1],
	    st->moved[0] + st->moved[1], *rate ? ", " : "", rate);
	fflush(p->out);
	p->drawn = true;
}

void
progress_clear(struct progress *p)
{
	if (p->out != NULL && p->drawn) {
		fputs("\r\033[K", p->out);
		fflush(p->out);
	}
	p->drawn = false;
}
