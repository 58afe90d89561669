/* SPDX-License-Identifier: GPL-3.0-or-later */
/* End-of-run reports: the summary line and the --json object per channel. */
#include "config.h"

#include <stdio.h>

#include "report.h"
#include "store.h"

static void
format_bytes(uint64_t n, char *out, size_t outsz)
{
	if (n >= 10ull << 20)
		snprintf(out, outsz, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 10ull << 10)
		snprintf(out, outsz, "%.1f KiB", (double)n / (1 << 10));
	else
		snprintf(out, outsz, "%llu B", (unsigned long long)n);
}

void
report_summary(FILE *f, const char *channel, const struct sync_stats *st)
{
	char pulled[32], pushed[32];

	format_bytes(st->bytes[SIDE_LOCAL], pulled, sizeof(pulled));
	format_bytes(st->bytes[SIDE_REMOTE], pushed, sizeof(pushed));
	fprintf(f, "%s: %zu folders, %zu pulled (%s), %zu pushed (%s), "
	    "%zu moved, %zu flag changes, %zu deleted on server, "
	    "%zu deleted locally\n",
	    channel, st->folders, st->copied[SIDE_LOCAL], pulled,
	    st->copied[SIDE_REMOTE], pushed,
	    st->moved[SIDE_LOCAL] + st->moved[SIDE_REMOTE],
	    st->flagged[SIDE_LOCAL] + st->flagged[SIDE_REMOTE],
	    st->deleted[SIDE_REMOTE], st->deleted[SIDE_LOCAL]);
}

static void
json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
json_sides(FILE *f, const char *key, const size_t v[2])
{
	fprintf(f, ",\"%s\":{\"server\":%zu,\"disk\":%zu}", key,
	    v[SIDE_REMOTE], v[SIDE_LOCAL]);
}

void
report_json(FILE *f, const char *channel, const struct sync_stats *st,
    enum err_code code, double seconds)
{
	fputs("{\"channel\":", f);
	json_string(f, channel);
	fprintf(f, ",\"exit\":%d,\"folders\":%zu,\"unchanged_folders\":%zu,"
	    "\"failed_folders\":%zu", err_exitcode(code), st->folders,
	    st->skipped, st->failed_folders);
	fprintf(f, ",\"pulled\":{\"messages\":%zu,\"bytes\":%llu}",
	    st->copied[SIDE_LOCAL], (unsigned long long)st->bytes[SIDE_LOCAL]);
	fprintf(f, ",\"pushed\":{\"messages\":%zu,\"bytes\":%llu}",
	    st->copied[SIDE_REMOTE],
	    (unsigned long long)st->bytes[SIDE_REMOTE]);
	json_sides(f, "moved", st->moved);
	json_sides(f, "flags", st->flagged);
	json_sides(f, "deleted", st->deleted);
	json_sides(f, "refused", st->refused);
	fputs(",\"folder_details\":[", f);
	for (size_t i = 0; i < st->nper_folder; i++) {
		const struct folder_report *r = &st->per_folder[i];

		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		json_string(f, r->name);
		fprintf(f, ",\"detection\":\"%s\",\"failed\":%s",
		    r->detection, r->failed ? "true" : "false");
		fprintf(f, ",\"pulled\":%zu,\"pushed\":%zu", r->copied[SIDE_LOCAL],
		    r->copied[SIDE_REMOTE]);
		json_sides(f, "flags", r->flagged);
		json_sides(f, "deleted", r->deleted);
		fputc('}', f);
	}
	fputc(']', f);
	fprintf(f, ",\"seconds\":%.3f,\"errors\":[", seconds);
	for (size_t i = 0; i < st->errors.n; i++) {
		if (i)
			fputc(',', f);
		json_string(f, st->errors.v[i]);
	}
	fputs("]}\n", f);
}
