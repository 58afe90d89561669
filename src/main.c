/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Command line: options, channel selection, exit status (SPEC.md section 2). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "err.h"
#include "log.h"
#include "sync.h"
#include "util.h"

enum {
	OPT_PULL = 256,
	OPT_PUSH,
	OPT_DEBUG,
	OPT_FORCE,
};

static const struct option long_options[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "config", required_argument, NULL, 'c' },
	{ "list", no_argument, NULL, 'l' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "pull", no_argument, NULL, OPT_PULL },
	{ "push", no_argument, NULL, OPT_PUSH },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fputs("usage: mailsync [OPTIONS] -a\n"
	    "       mailsync [OPTIONS] CHANNEL[:FOLDER[,FOLDER...]]|GROUP ...\n"
	    "\n"
	    "  -a, --all          sync every channel in the config\n"
	    "  -c, --config FILE  config file (default "
	    "$XDG_CONFIG_HOME/mailsync/config.yaml)\n"
	    "  -l, --list         list the folders each channel would sync\n"
	    "  -n, --dry-run      print what would be done; change nothing\n"
	    "      --pull         this run only: server -> disk only\n"
	    "      --push         this run only: disk -> server only\n"
	    "  -v, --verbose      say what is done, message by message\n"
	    "  -q, --quiet        errors only\n"
	    "      --debug        protocol trace on stderr (secrets masked)\n"
	    "      --force        carry out deletions delete-limit would "
	    "refuse\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         print this help\n"
	    "\n"
	    "Exit status: 0 synced, 1 a channel or folder failed, 2 usage or "
	    "config error,\n"
	    "3 refused for safety, 75 temporary failure (unreachable, "
	    "locked).\n"
	    "See mailsync(1) and mailsync.yaml(5).\n", f);
}

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

static void
print_summary(const char *channel, const struct sync_stats *st)
{
	char pulled[32], pushed[32];

	format_bytes(st->bytes[SIDE_LOCAL], pulled, sizeof(pulled));
	format_bytes(st->bytes[SIDE_REMOTE], pushed, sizeof(pushed));
	printf("%s: %zu folders, %zu pulled (%s), %zu pushed (%s), "
	    "%zu flag changes, %zu deleted on server, %zu deleted locally\n",
	    channel, st->folders, st->copied[SIDE_LOCAL], pulled,
	    st->copied[SIDE_REMOTE], pushed,
	    st->flagged[SIDE_LOCAL] + st->flagged[SIDE_REMOTE],
	    st->deleted[SIDE_REMOTE], st->deleted[SIDE_LOCAL]);
	fflush(stdout);
}

static enum err_code
list_channel(const struct cfg_selection *sel, bool prefix)
{
	struct strv folders = { 0 };
	struct err e = { 0 };

	if (sync_list_folders(sel->channel, &sel->folders, &folders, &e) < 0) {
		fprintf(stderr, "mailsync: channel %s: %s\n",
		    sel->channel->name, e.msg);
		strv_free(&folders);
		return e.code;
	}
	for (size_t i = 0; i < folders.n; i++)
		printf("%s%s%s\n", prefix ? sel->channel->name : "",
		    prefix ? ":" : "", folders.v[i]);
	strv_free(&folders);
	return ERR_OK;
}

static enum err_code
sync_selected(const struct cfg_selection *sel, const struct sync_opts *opts)
{
	struct sync_stats st = { 0 };
	struct err e = { 0 };
	enum err_code rc = ERR_OK;

	if (sync_channel(sel->channel, &sel->folders, opts, &st, &e) < 0) {
		rc = e.code;
		if (st.errors.n == 0)
			fprintf(stderr, "mailsync: channel %s: %s\n",
			    sel->channel->name, e.msg);
	}
	for (size_t i = 0; i < st.errors.n; i++)
		fprintf(stderr, "mailsync: %s\n", st.errors.v[i]);
	if (log_level >= LOG_NORMAL && !opts->dry_run && rc != ERR_TEMP)
		print_summary(sel->channel->name, &st);
	strv_free(&st.errors);
	return rc;
}

int
main(int argc, char **argv)
{
	struct sync_opts opts = { 0 };
	struct cfg *cfg = NULL;
	struct cfg_selection *sel = NULL;
	size_t nsel = 0;
	char *config = NULL;
	bool all = false, list = false;
	struct err e = { 0 };
	enum err_code worst = ERR_OK;
	int c;

	while ((c = getopt_long(argc, argv, "ac:lnvqVh", long_options,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'c':
			free(config);
			config = xstrdup(optarg);
			break;
		case 'l':
			list = true;
			break;
		case 'n':
			opts.dry_run = true;
			break;
		case OPT_PULL:
			opts.pull_only = true;
			break;
		case OPT_PUSH:
			opts.push_only = true;
			break;
		case 'v':
			log_level = LOG_VERBOSE;
			break;
		case 'q':
			log_level = LOG_QUIET;
			break;
		case OPT_DEBUG:
			log_debug = 1;
			break;
		case OPT_FORCE:
			opts.force = true;
			break;
		case 'V':
			printf("mailsync %s\n", PACKAGE_VERSION);
			free(config);
			return 0;
		case 'h':
			usage(stdout);
			free(config);
			return 0;
		default:
			fputs("Try 'mailsync --help' for more information.\n",
			    stderr);
			free(config);
			return err_exitcode(ERR_CONFIG);
		}
	}
	if (opts.pull_only && opts.push_only) {
		fputs("mailsync: --pull and --push cannot be combined\n",
		    stderr);
		free(config);
		return err_exitcode(ERR_CONFIG);
	}
	if (config == NULL)
		config = cfg_default_path();
	if (cfg_load(config, &cfg, &e) < 0 ||
	    cfg_select(cfg, argv + optind, argc - optind, all, &sel, &nsel,
	    &e) < 0) {
		fprintf(stderr, "mailsync: %s\n", e.msg);
		cfg_free(&cfg);
		free(config);
		return err_exitcode(e.code == ERR_OK ? ERR_CONFIG : e.code);
	}
	for (size_t i = 0; i < nsel; i++) {
		enum err_code rc = list ? list_channel(&sel[i], nsel > 1) :
		    sync_selected(&sel[i], &opts);

		worst = err_worst(worst, rc);
	}
	cfg_selection_free(&sel, nsel);
	cfg_free(&cfg);
	free(config);
	return err_exitcode(worst);
}
