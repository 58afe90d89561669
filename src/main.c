/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Command line: options, channel selection, exit status (SPEC.md section 2). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "err.h"
#include "hooks.h"
#include "jobs.h"
#include "log.h"
#include "mbsyncrc.h"
#include "progress.h"
#include "report.h"
#include "sync.h"
#include "util.h"
#include "verify.h"
#include "watch.h"

enum {
	OPT_PULL = 256,
	OPT_PUSH,
	OPT_DEBUG,
	OPT_FORCE,
	OPT_JSON,
	OPT_VERIFY,
	OPT_IMPORT_MBSYNCRC,
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
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "import-mbsyncrc", required_argument, NULL, OPT_IMPORT_MBSYNCRC },
	{ "jobs", required_argument, NULL, 'j' },
	{ "watch", no_argument, NULL, 'w' },
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
	    "  -j, --jobs N       sync at most N accounts at once "
	    "(default 4)\n"
	    "  -l, --list         list the folders each channel would sync\n"
	    "  -n, --dry-run      print what would be done; change nothing\n"
	    "      --pull         this run only: server -> disk only\n"
	    "      --push         this run only: disk -> server only\n"
	    "  -v, --verbose      say what is done, message by message\n"
	    "  -q, --quiet        errors only\n"
	    "      --debug        protocol trace on stderr (secrets masked)\n"
	    "      --force        carry out deletions delete-limit would "
	    "refuse\n"
	    "      --json         one JSON summary object per channel on "
	    "stdout\n"
	    "      --verify       compare both sides message by message "
	    "(slow); change\n"
	    "                     nothing; exit 1 if they differ\n"
	    "      --import-mbsyncrc FILE\n"
	    "                     print a mailsync config made from an mbsync "
	    "one\n"
	    "  -w, --watch        keep running: sync again within seconds of "
	    "a change\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         print this help\n"
	    "\n"
	    "Exit status: 0 synced, 1 a channel or folder failed, 2 usage or "
	    "config error,\n"
	    "3 refused for safety, 75 temporary failure (unreachable, "
	    "locked).\n"
	    "See mailsync(1) and mailsync.yaml(5).\n", f);
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

/* Hook failures, one "mailsync: " line each (ts: watch-mode time stamp). */
static void
run_hooks(const struct cfg *cfg, const char *channel,
    const struct sync_stats *st, const char *ts)
{
	struct strv errors = { 0 };
	/* -j workers run hooks one at a time: "notmuch new" and the like
	 * fail rather than wait for their database.  Each process opens the
	 * config file itself, so a lock on it excludes the others. */
	int lock = cfg->path != NULL ? open(cfg->path, O_RDONLY | O_CLOEXEC) :
	    -1;

	while (lock >= 0 && flock(lock, LOCK_EX) < 0 && errno == EINTR)
		;
	hooks_after_sync(cfg, channel, st, &errors);
	if (lock >= 0)
		close(lock);
	for (size_t i = 0; i < errors.n; i++)
		fprintf(stderr, "%s%smailsync: %s\n", ts, *ts ? " " : "",
		    errors.v[i]);
	strv_free(&errors);
}

/* tick, tick_arg: progress callback of a worker (NULL: the line of
 * progress.c) */
static enum err_code
sync_selected(const struct cfg *cfg, const struct cfg_selection *sel,
    const struct sync_opts *opts, bool json,
    void (*tick)(struct sync_stats *, void *), void *tick_arg)
{
	struct sync_stats st = { 0 };
	struct err e = { 0 };
	enum err_code rc = ERR_OK;
	double start = mono_seconds();
	struct progress pg;

	/* -v lines on stderr would tear the line apart: no progress then */
	progress_init(&pg, tick != NULL || json || log_level != LOG_NORMAL ||
	    opts->dry_run ? NULL : stdout, sel->channel->name);
	st.tick = tick != NULL ? tick : progress_tick;
	st.tick_arg = tick != NULL ? tick_arg : &pg;
	rc = sync_channel(sel->channel, &sel->folders, opts, &st, &e) < 0 ?
	    e.code : ERR_OK;
	progress_clear(&pg);
	if (rc != ERR_OK) {
		if (st.errors.n == 0)
			fprintf(stderr, "mailsync: channel %s: %s\n",
			    sel->channel->name, e.msg);
	}
	if (rc != ERR_OK && st.errors.n == 0)
		strv_add(&st.errors, e.msg);
	else
		for (size_t i = 0; i < st.errors.n; i++)
			fprintf(stderr, "mailsync: %s\n", st.errors.v[i]);
	if (json)
		report_json(stdout, sel->channel->name, &st, rc,
		    mono_seconds() - start);
	else if (log_level >= LOG_NORMAL && !opts->dry_run && rc != ERR_TEMP)
		report_summary(stdout, sel->channel->name, &st);
	fflush(stdout);
	if (!opts->dry_run)
		run_hooks(cfg, sel->channel->name, &st, "");
	sync_stats_free(&st);
	return rc;
}

/* ---- channels of different accounts at once (jobs.c) ---- */

struct run_ctx {
	const struct cfg *cfg;
	const struct cfg_selection *sel;
	size_t nsel;
	const struct sync_opts *opts;
	bool json;
};

static enum err_code
run_channel(void *arg, size_t i, void (*tick)(struct sync_stats *, void *),
    void *tick_arg)
{
	const struct run_ctx *rx = arg;

	return sync_selected(rx->cfg, &rx->sel[i], rx->opts, rx->json, tick,
	    tick_arg);
}

/* as sync_selected prints a channel's error */
static enum err_code
run_failed(void *arg, size_t i, const char *why, bool synced,
    double seconds)
{
	const struct run_ctx *rx = arg;
	const char *name = rx->sel[i].channel->name;
	struct sync_stats st = { 0 };

	fprintf(stderr, "mailsync: channel %s: %s\n", name, why);
	if (rx->json && !synced) {
		strv_add(&st.errors, why);
		report_json(stdout, name, &st, ERR_FAIL, seconds);
		fflush(stdout);
		sync_stats_free(&st);
	}
	return ERR_FAIL;
}

static enum err_code
sync_all(struct run_ctx *rx, unsigned jobs, struct jobs_outcome *jo)
{
	struct jobs_params jp = {
		.sel = rx->sel, .nsel = rx->nsel, .max_workers = jobs,
		.progress = !rx->json && log_level == LOG_NORMAL,
		.run = run_channel, .failed = run_failed, .arg = rx,
	};
	enum err_code worst = ERR_OK;
	struct err e = { 0 };

	/* a --debug trace is wanted live, not a channel at a time */
	if (jobs > 1 && !rx->opts->dry_run && !log_debug &&
	    jobs_ngroups(rx->sel, rx->nsel) > 1) {
		if (jobs_run(&jp, jo, &e) == 0)
			return jo->worst;
		fprintf(stderr, "mailsync: %s; syncing one channel at a "
		    "time\n", e.msg);
	}
	for (size_t i = 0; i < rx->nsel; i++)
		worst = err_worst(worst, sync_selected(rx->cfg, &rx->sel[i],
		    rx->opts, rx->json, NULL, NULL));
	return worst;
}

static int
parse_jobs(const char *s, unsigned *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 1 || n > JOBS_MAX)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* ---- -w: main.c prints what the watch loop reports ---- */

struct watch_ctx {
	bool json;
};

static void
timestamp(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(out, n, "%lld", (long long)t);
}

/* One line per sync that changed something or failed (every sync with
 * -v, the first one always), hooks, and errors, all time-stamped. */
static void
watch_synced(void *arg, const struct cfg *cfg, const struct cfg_channel *ch,
    const struct sync_stats *st, const struct err *e, double seconds,
    bool first)
{
	const struct watch_ctx *wx = arg;
	enum log_level level = first || e != NULL ||
	    hooks_changed_count(st) > 0 ? LOG_NORMAL : LOG_VERBOSE;
	char ts[64];

	timestamp(ts, sizeof(ts));
	if (e != NULL && st->errors.n == 0)
		fprintf(stderr, "%s mailsync: channel %s: %s\n", ts, ch->name,
		    e->msg);
	for (size_t i = 0; i < st->errors.n; i++)
		fprintf(stderr, "%s mailsync: %s\n", ts, st->errors.v[i]);
	if (wx->json) {
		struct sync_stats js = *st;

		/* as sync_selected: the object names the channel's error */
		memset(&js.errors, 0, sizeof(js.errors));
		if (e != NULL && st->errors.n == 0)
			strv_add(&js.errors, e->msg);
		report_json(stdout, ch->name, js.errors.n > 0 ? &js : st,
		    e != NULL ? e->code : ERR_OK, seconds);
		strv_free(&js.errors);
		fflush(stdout);
	} else if (log_level >= level && (e == NULL || e->code != ERR_TEMP)) {
		fprintf(stderr, "%s ", ts);
		report_summary(stderr, ch->name, st);
	}
	run_hooks(cfg, ch->name, st, ts);
}

static void
watch_note(void *arg, enum log_level level, const char *msg)
{
	char ts[64];

	(void)arg;
	timestamp(ts, sizeof(ts));
	fprintf(stderr, "%s %s%s\n", ts, level == LOG_QUIET ? "mailsync: " : "",
	    msg);
}

static enum err_code
run_watch(const char *config, char *const *args, int nargs, bool all,
    const struct sync_opts *opts, bool json, struct cfg **cfg,
    struct cfg_selection **sel, size_t *nsel)
{
	struct watch_ctx wx = { .json = json };
	struct watch_params p = {
		.config = config, .args = args, .nargs = nargs, .all = all,
		.opts = opts, .synced = watch_synced, .note = watch_note,
		.arg = &wx,
	};
	struct err e = { 0 };

	if (watch_run(&p, cfg, sel, nsel, &e) < 0) {
		fprintf(stderr, "mailsync: %s\n", e.msg);
		return e.code;
	}
	return ERR_OK;
}

static enum err_code
verify_selected(const struct cfg_selection *sel)
{
	struct verify_stats st = { 0 };
	struct err e = { 0 };
	enum err_code rc = ERR_OK;

	if (verify_channel(sel->channel, &sel->folders, stdout, &st,
	    &e) < 0) {
		rc = e.code;
		if (st.errors.n == 0)
			fprintf(stderr, "mailsync: channel %s: %s\n",
			    sel->channel->name, e.msg);
	}
	for (size_t i = 0; i < st.errors.n; i++)
		fprintf(stderr, "mailsync: %s\n", st.errors.v[i]);
	if (log_level >= LOG_NORMAL && rc != ERR_TEMP)
		verify_summary(stdout, sel->channel->name, &st);
	fflush(stdout);
	strv_free(&st.errors);
	if (rc == ERR_OK && st.differences > 0)
		rc = ERR_FAIL;
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
	bool all = false, list = false, json = false, verify = false;
	bool watch = false;
	struct err e = { 0 };
	enum err_code worst = ERR_OK;
	struct jobs_outcome jo = { 0 };
	unsigned jobs = JOBS_DEFAULT;
	int c;

	/* a SIGCHLD ignored by whoever started us would make waitpid()
	 * fail for hooks, pass-cmd and -j workers alike */
	signal(SIGCHLD, SIG_DFL);
	/* glibc raises its mmap threshold to the largest block freed, so a
	 * message of a few MiB, once freed, is kept in the heap of each
	 * thread that held one: a pull over four sessions peaked at 37 MiB
	 * (median of 5), with the threshold held at 256 KiB at 30, and a
	 * pull over one session the same (14.0 against 13.7 MiB, same time) */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	while ((c = getopt_long(argc, argv, "ac:j:lnvqwVh", long_options,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'c':
			free(config);
			config = xstrdup(optarg);
			break;
		case 'j':
			if (parse_jobs(optarg, &jobs) < 0) {
				fprintf(stderr, "mailsync: --jobs wants a "
				    "number from 1 to %d\n", JOBS_MAX);
				free(config);
				return err_exitcode(ERR_CONFIG);
			}
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
		case OPT_JSON:
			json = true;
			break;
		case OPT_VERIFY:
			verify = true;
			break;
		case 'w':
			watch = true;
			break;
		case OPT_IMPORT_MBSYNCRC:
			free(config);
			if (mbsyncrc_convert(optarg, stdout, &e) < 0) {
				fprintf(stderr, "mailsync: %s\n", e.msg);
				return err_exitcode(e.code);
			}
			return 0;
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
	if (verify && (list || json)) {
		fputs("mailsync: --verify cannot be combined with --list or "
		    "--json\n", stderr);
		free(config);
		return err_exitcode(ERR_CONFIG);
	}
	if (watch && (list || verify || opts.dry_run)) {
		fputs("mailsync: --watch cannot be combined with --list, "
		    "--verify or --dry-run\n", stderr);
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
	if (watch) {
		worst = run_watch(config, argv + optind, argc - optind, all,
		    &opts, json, &cfg, &sel, &nsel);
	} else if (list || verify) {
		for (size_t i = 0; i < nsel; i++)
			worst = err_worst(worst, list ?
			    list_channel(&sel[i], nsel > 1) :
			    verify_selected(&sel[i]));
	} else {
		struct run_ctx rx = { .cfg = cfg, .sel = sel, .nsel = nsel,
			.opts = &opts, .json = json };

		worst = sync_all(&rx, jobs, &jo);
	}
	cfg_selection_free(&sel, nsel);
	cfg_free(&cfg);
	free(config);
	/* a worker's channels are reported; its status says only whether
	 * the reports reached the parent */
	if (jo.worker)
		return worst == ERR_OK ? 0 : 1;
	/* stopped by a signal: die of it, as a run without workers would */
	if (jo.signal != 0)
		raise(jo.signal);
	return err_exitcode(worst);
}
