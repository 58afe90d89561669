/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The live progress line of a channel on a terminal. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "store.h"

/* A rate over less copying than this is noise, and so is an estimate. */
#define RATE_SECS 3.0
/* Past this an estimate says nothing useful: none is shown. */
#define MAX_ESTIMATE (100.0 * 3600)

void
progress_init(struct progress *p, FILE *f, const char *channel)
{
	p->out = f != NULL && isatty(fileno(f)) ? f : NULL;
	p->channel = channel;
	p->last = mono_seconds() - 1;	/* the first tick draws */
	p->copying = false;
	p->copy_t = 0;
	p->copy_base = 0;
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

static void
duration_text(double secs, char *out, size_t outsz)
{
	unsigned long s = (unsigned long)(secs + 0.5);

	if (s < 60)
		snprintf(out, outsz, "%lus", s);
	else if (s < 3600)
		snprintf(out, outsz, "%lum%02lus", s / 60, s % 60);
	else
		snprintf(out, outsz, "%luh%02lum", s / 3600, s / 60 % 60);
}

/*
 * ", 2.3 MiB/s, about 1m20s left": the rate is measured from the first
 * copied message on, not from the start, where listing many folders may
 * take a while and would make it look slow.  The estimate covers the copies
 * planned so far: the folder's, which are the channel's on its last folder.
 */
static void
rate_text(const struct progress *p, const struct sync_stats *st,
    uint64_t bytes, double now, char *out, size_t outsz)
{
	double secs = now - p->copy_t, rate, left;
	char r[32], d[32];

	if (!p->copying || secs < RATE_SECS || bytes <= p->copy_base)
		return;
	rate = (double)(bytes - p->copy_base) / secs;
	size_text((unsigned long long)rate, r, sizeof(r));
	left = (double)st->copy_left / rate;
	if (st->copy_left == 0 || left >= MAX_ESTIMATE) {
		snprintf(out, outsz, ", %s/s", r);
		return;
	}
	duration_text(left, d, sizeof(d));
	snprintf(out, outsz, ", %s/s, about %s left%s", r, d,
	    st->folder_i < st->folder_n ? " in this folder" : "");
}

/* A line longer than the terminal wraps, and the next redraw's \r and
 * erase would only reach its last row: every redraw would leave one
 * behind.  So the line is cut one column short of the width. */
void
progress_fit_width(FILE *f, char *line)
{
	struct winsize ws;
	unsigned cols = 0;

	if (ioctl(fileno(f), TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return;
	for (char *s = line; *s != '\0'; s++) {
		/* UTF-8 continuation bytes take no column of their own */
		if (((unsigned char)*s & 0xc0) != 0x80 && ++cols == ws.ws_col) {
			*s = '\0';
			return;
		}
	}
}

void
progress_tick(struct sync_stats *st, void *arg)
{
	struct progress *p = arg;
	uint64_t bytes = st->bytes[SIDE_LOCAL] + st->bytes[SIDE_REMOTE];
	char line[1024], down[32], up[32], tail[96] = "";
	double now;

	if (p->out == NULL)
		return;
	now = mono_seconds();
	if (!p->copying && bytes > 0) {
		p->copying = true;
		p->copy_t = now;
		p->copy_base = bytes;
	}
	if (now - p->last < 0.1)
		return;
	p->last = now;
	size_text(st->bytes[SIDE_LOCAL], down, sizeof(down));
	size_text(st->bytes[SIDE_REMOTE], up, sizeof(up));
	rate_text(p, st, bytes, now, tail, sizeof(tail));
	snprintf(line, sizeof(line), "%s: folder %zu/%zu, pulled %zu (%s), "
	    "pushed %zu (%s), %zu flags, %zu deleted, %zu moved%s",
	    p->channel, st->folder_i, st->folder_n, st->copied[SIDE_LOCAL],
	    down, st->copied[SIDE_REMOTE], up,
	    st->flagged[0] + st->flagged[1], st->deleted[0] + st->deleted[1],
	    st->moved[0] + st->moved[1], tail);
	progress_fit_width(p->out, line);
	fprintf(p->out, "\r\033[K%s", line);
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
