/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for the configuration: schema, defaults, errors, secrets. */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "cfg.h"

static char tmpdir[PATH_MAX];

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static char *
slurp(const char *path)
{
	struct buf b = { 0 };
	char chunk[512];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return xstrdup("");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (b.data == NULL)
		buf_adds(&b, "");
	return b.data;
}

/* cfg_load with stderr captured (warnings go there). */
static int
load_capture(const char *path, struct cfg **c, struct err *e, char **stderr_out)
{
	char *errpath = xasprintf("%s/stderr", tmpdir);
	int saved = dup(2), fd, rc;

	fflush(stderr);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	rc = cfg_load(path, c, e);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	*stderr_out = slurp(errpath);
	unlink(errpath);
	free(errpath);
	return rc;
}

/* want is the message after "PATH:". */
static void
check_error(const char *yaml, const char *want, const char *what)
{
	char *path = write_file("err.yaml", yaml, 0600);
	char *full = xasprintf("%s:%s", path, want);
	struct cfg *c = NULL;
	struct err e = { 0 };
	int rc = cfg_load(path, &c, &e);

	ok(rc == -1 && e.code == ERR_CONFIG && c == NULL,
	    "%s: refused with ERR_CONFIG", what);
	is_str(e.msg, full, "%s: message", what);
	cfg_free(&c);
	unlink(path);
	free(path);
	free(full);
}

static struct cfg *
load_ok(const char *yaml, const char *what)
{
	char *path = write_file("ok.yaml", yaml, 0600);
	struct cfg *c = NULL;
	struct err e = { 0 };
	int rc = cfg_load(path, &c, &e);

	if (!ok(rc == 0 && c != NULL, "%s: loads", what))
		printf("#   error: %s\n", e.msg);
	unlink(path);
	free(path);
	return c;
}

static const char full_config[] =
    "# every key, most of them away from their default\n"
    "accounts:\n"
    "  work:\n"
    "    host: imap.example.org\n"
    "    port: 1993\n"
    "    tls: starttls\n"
    "    user: alice@example.org\n"
    "    pass-cmd: \"pass show mail/work\"\n"
    "    password: \"hunter2\"\n"
    "    auth: [PLAIN, login, XOAuth2, plain]\n"
    "    ca-file: ~/ca.pem\n"
    "    cert-fingerprint: \"SHA256:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:"
    "23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89\"\n"
    "    timeout: 60\n"
    "    connections: 2\n"
    "    compress: no\n"
    "  home:\n"
    "    host: localhost\n"
    "    tls: none\n"
    "    user: bob\n"
    "    password: s3cret\n"
    "  plain:\n"
    "    host: mail.example.net\n"
    "    user: carol\n"
    "    pass-cmd: echo x\n"
    "    compress: yes\n"
    "channels:\n"
    "  work:\n"
    "    account: work\n"
    "    maildir: ~/Mail/work/\n"
    "    inbox: $MAILROOT/inbox\n"
    "    layout: maildir++\n"
    "    folders: [\"*\", \"!Spam\", \"!Trash/*\"]\n"
    "    direction: pull\n"
    "    propagate: [new, flags]\n"
    "    create: disk\n"
    "    remove: server\n"
    "    expunge: none\n"
    "    max-size: 20M\n"
    "    max-age: 30\n"
    "    delete-limit: 12.5%\n"
    "    watch: [INBOX, Lists/dev]\n"
    "    poll-interval: 60\n"
    "    state-dir: ${MAILROOT}/state\n"
    "  home:\n"
    "    account: home\n"
    "    maildir: ~/Mail/home\n"
    "  pp:\n"
    "    account: plain\n"
    "    maildir: /srv/mail/pp\n"
    "    layout: maildir++\n"
    "    folders: INBOX\n"
    "    propagate: []\n"
    "groups:\n"
    "  all: [work, home, pp]\n"
    "  one: home\n"
    "hooks:\n"
    "  post-sync: notmuch new\n"
    "  new-mail: notify-send mail\n";

static void
test_full(void)
{
	char *home = xasprintf("%s/home", tmpdir);
	char *want, *errs;
	char *path = write_file("full.yaml", full_config, 0600);
	struct cfg *c = NULL;
	struct err e = { 0 };
	struct cfg_account *a;
	struct cfg_channel *ch;

	setenv("MAILROOT", "/data/mail", 1);
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	if (!ok(load_capture(path, &c, &e, &errs) == 0, "full config loads")) {
		printf("#   error: %s\n", e.msg);
		free(errs);
		free(path);
		free(home);
		return;
	}
	is_str(errs, "", "mode 0600: no warning about the password");
	free(errs);
	is_str(c->path, path, "path kept");
	is_int(c->naccounts, 3, "three accounts");
	is_int(c->nchannels, 3, "three channels");
	is_int(c->ngroups, 2, "two groups");

	a = &c->accounts[0];
	is_str(a->name, "work", "account name");
	is_str(a->host, "imap.example.org", "host");
	is_int(a->port, 1993, "port");
	is_int(a->tls, CFG_TLS_STARTTLS, "tls");
	is_str(a->user, "alice@example.org", "user");
	is_str(a->pass_cmd, "pass show mail/work", "pass-cmd");
	is_str(a->password, "hunter2", "password");
	is_int(a->auth.n, 3, "auth: duplicates merged");
	is_str(a->auth.n > 2 ? a->auth.v[0] : NULL, "plain", "auth[0] lower");
	is_str(a->auth.n > 2 ? a->auth.v[1] : NULL, "login", "auth[1]");
	is_str(a->auth.n > 2 ? a->auth.v[2] : NULL, "xoauth2", "auth[2]");
	want = xasprintf("%s/ca.pem", home);
	is_str(a->ca_file, want, "ca-file: ~ expanded");
	free(want);
	is_str(a->cert_fingerprint, "abcdef0123456789abcdef0123456789"
	    "abcdef0123456789abcdef0123456789",
	    "cert-fingerprint: prefix and colons gone, lowercase");
	is_int(a->timeout, 60, "timeout");
	is_int(a->connections, 2, "connections");
	is_int(a->compress, CFG_COMPRESS_NO, "compress: no");

	a = &c->accounts[1];
	is_str(a->name, "home", "second account");
	is_int(a->tls, CFG_TLS_NONE, "tls: none on localhost");
	is_int(a->port, 143, "port default 143 without imaps");
	ok(a->pass_cmd == NULL, "pass-cmd default NULL");
	is_int(a->auth.n, 0, "auth default: empty");
	ok(a->ca_file == NULL, "ca-file default NULL");
	ok(a->cert_fingerprint == NULL, "cert-fingerprint default NULL");
	is_int(a->timeout, 30, "timeout default 30");
	is_int(a->connections, 4, "connections default 4");
	is_int(a->compress, CFG_COMPRESS_AUTO, "compress default auto");

	a = &c->accounts[2];
	is_int(a->tls, CFG_TLS_IMAPS, "tls default imaps");
	is_int(a->port, 993, "port default 993 with imaps");
	ok(a->password == NULL, "password default NULL");
	is_int(a->compress, CFG_COMPRESS_YES, "compress: yes");

	ch = &c->channels[0];
	is_str(ch->name, "work", "channel name");
	ok(ch->account == &c->accounts[0], "account resolved");
	want = xasprintf("%s/Mail/work", home);
	is_str(ch->maildir, want, "maildir: ~ expanded, trailing / dropped");
	free(want);
	is_str(ch->inbox, "/data/mail/inbox", "inbox: $VAR expanded");
	is_int(ch->layout, CFG_LAYOUT_MAILDIRPP, "layout");
	is_int(ch->folders.n, 3, "folders: three");
	is_str(ch->folders.n == 3 ? ch->folders.v[2] : NULL, "!Trash/*",
	    "folders kept in order with '!'");
	is_int(ch->direction, CFG_DIR_PULL, "direction");
	is_int(ch->propagate, CFG_PROP_NEW | CFG_PROP_FLAGS, "propagate");
	is_int(ch->create, CFG_SIDE_DISK, "create");
	is_int(ch->remove, CFG_SIDE_SERVER, "remove");
	is_int(ch->expunge, CFG_SIDE_NONE, "expunge");
	is_int((long long)ch->max_size, 20LL * 1024 * 1024, "max-size 20M");
	is_int(ch->max_age, 30, "max-age");
	ok(ch->delete_limit == 12.5, "delete-limit 12.5%%");
	is_int(ch->watch.n, 2, "watch: two");
	is_str(ch->watch.n == 2 ? ch->watch.v[1] : NULL, "Lists/dev",
	    "watch entries");
	is_int(ch->poll_interval, 60, "poll-interval");
	is_str(ch->state_dir, "/data/mail/state", "state-dir: ${VAR}");

	ch = &c->channels[1];
	ok(ch->account == &c->accounts[1], "second channel's account");
	want = xasprintf("%s/Mail/home/INBOX", home);
	is_str(ch->inbox, want, "inbox default <maildir>/INBOX (verbatim)");
	free(want);
	is_int(ch->layout, CFG_LAYOUT_VERBATIM, "layout default verbatim");
	is_int(ch->folders.n, 1, "folders default: one pattern");
	is_str(ch->folders.n ? ch->folders.v[0] : NULL, "*",
	    "folders default '*'");
	is_int(ch->direction, CFG_DIR_BOTH, "direction default both");
	is_int(ch->propagate, CFG_PROP_ALL, "propagate default all");
	is_int(ch->create, CFG_SIDE_BOTH, "create default both");
	is_int(ch->remove, CFG_SIDE_NONE, "remove default none");
	is_int(ch->expunge, CFG_SIDE_BOTH, "expunge default both");
	is_int((long long)ch->max_size, 0, "max-size default 0");
	is_int(ch->max_age, 0, "max-age default 0");
	ok(ch->delete_limit == 25, "delete-limit default 25%%");
	is_int(ch->watch.n, 1, "watch default: one");
	is_str(ch->watch.n ? ch->watch.v[0] : NULL, "INBOX",
	    "watch default INBOX");
	is_int(ch->poll_interval, 300, "poll-interval default 300");
	is_str(ch->state_dir, "/xdg/state/mailsync/home",
	    "state-dir default under $XDG_STATE_HOME");

	ch = &c->channels[2];
	is_str(ch->inbox, "/srv/mail/pp", "inbox default: root for maildir++");
	is_int(ch->folders.n, 1, "folders: a scalar is a one-item list");
	is_str(ch->folders.n ? ch->folders.v[0] : NULL, "INBOX",
	    "folders scalar kept");
	is_int(ch->propagate, 0, "propagate: [] is nothing");

	is_str(c->groups[0].name, "all", "group name");
	is_int(c->groups[0].channels.n, 3, "group members");
	is_str(c->groups[0].channels.v[2], "pp", "group member order");
	is_int(c->groups[1].channels.n, 1, "group: scalar member");
	is_str(c->hook_post_sync, "notmuch new", "post-sync hook");
	is_str(c->hook_new_mail, "notify-send mail", "new-mail hook");
	ok(cfg_channel_find(c, "pp") == &c->channels[2], "channel_find");
	ok(cfg_channel_find(c, "all") == NULL, "channel_find: not a group");

	cfg_free(&c);
	ok(c == NULL, "cfg_free clears the pointer");
	cfg_free(&c);
	unsetenv("MAILROOT");
	unlink(path);
	free(path);
	free(home);
}

static void
test_minimal(void)
{
	struct cfg *c;
	char *want;

	c = load_ok("{}\n", "empty mapping");
	if (c) {
		is_int(c->naccounts + c->nchannels + c->ngroups, 0,
		    "empty mapping: nothing defined");
		ok(c->hook_post_sync == NULL && c->hook_new_mail == NULL,
		    "hooks default unset");
		cfg_free(&c);
	}
	c = load_ok("accounts:\nchannels:\ngroups:\nhooks:\n",
	    "empty sections");
	cfg_free(&c);

	unsetenv("XDG_STATE_HOME");
	c = load_ok("accounts:\n  a:\n    host: h\n    user: u\n"
	    "    password: p\n"
	    "channels:\n  c1:\n    account: a\n    maildir: /m\n",
	    "minimal channel");
	if (c) {
		want = xasprintf("%s/home/.local/state/mailsync/c1", tmpdir);
		is_str(c->channels[0].state_dir, want,
		    "state-dir default without $XDG_STATE_HOME");
		free(want);
		is_str(c->channels[0].inbox, "/m/INBOX", "inbox default");
		cfg_free(&c);
	}
	/* XDG Base Directory spec: a relative value is ignored */
	setenv("XDG_STATE_HOME", "relative/state", 1);
	c = load_ok("accounts:\n  a:\n    host: h\n    user: u\n"
	    "    password: p\n"
	    "channels:\n  c1:\n    account: a\n    maildir: /m\n",
	    "relative XDG_STATE_HOME");
	if (c) {
		want = xasprintf("%s/home/.local/state/mailsync/c1", tmpdir);
		is_str(c->channels[0].state_dir, want,
		    "relative $XDG_STATE_HOME ignored");
		free(want);
		cfg_free(&c);
	}
	setenv("XDG_STATE_HOME", "/xdg/state", 1);

	c = load_ok("accounts:\n  lo4:\n    host: 127.1.2.3\n    tls: none\n"
	    "    user: u\n    password: p\n"
	    "  lo6:\n    host: \"::1\"\n    tls: none\n    user: u\n"
	    "    password: p\n"
	    "  LO:\n    host: LOCALHOST\n    tls: none\n    port: 10143\n"
	    "    user: u\n    password: p\n",
	    "tls: none on 127/8, ::1 and localhost");
	if (c) {
		is_int(c->accounts[2].port, 10143, "explicit port with none");
		cfg_free(&c);
	}
}

static void
test_sizes(void)
{
	static const struct {
		const char *text;
		unsigned long long want;
	} sizes[] = {
		{ "0", 0 },
		{ "12345", 12345 },
		{ "100K", 100 * 1024 },
		{ "100k", 100 * 1024 },
		{ "3m", 3 * 1024 * 1024 },
		{ "2G", 2ULL * 1024 * 1024 * 1024 },
	};
	static const struct {
		const char *text;
		double want;
	} limits[] = {
		{ "0%", 0 }, { "100%", 100 }, { "33.3%", 33.3 }, { "5%", 5 },
		{ "0.25%", 0.25 }, { "100.000%", 100 },
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *y = xasprintf("accounts:\n  a:\n    host: h\n"
		    "    user: u\n    password: p\n"
		    "channels:\n  c:\n    account: a\n    maildir: /m\n"
		    "    max-size: %s\n", sizes[i].text);
		struct cfg *c = load_ok(y, "max-size");

		if (c)
			ok(c->channels[0].max_size == sizes[i].want,
			    "max-size %s", sizes[i].text);
		cfg_free(&c);
		free(y);
	}
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		char *y = xasprintf("accounts:\n  a:\n    host: h\n"
		    "    user: u\n    password: p\n"
		    "channels:\n  c:\n    account: a\n    maildir: /m\n"
		    "    delete-limit: %s\n", limits[i].text);
		struct cfg *c = load_ok(y, "delete-limit");

		if (c)
			ok(c->channels[0].delete_limit == limits[i].want,
			    "delete-limit %s", limits[i].text);
		cfg_free(&c);
		free(y);
	}
}

/* Lines 1-5; a channel section can follow at line 6. */
#define ACCT "accounts:\n  work:\n    host: imap.example.org\n" \
	"    user: alice\n    pass-cmd: pass work\n"
/* Lines 6-9 */
#define CHAN "channels:\n  work:\n    account: work\n    maildir: /m\n"

static void
test_errors(void)
{
	static const struct {
		const char *yaml;
		const char *want;
		const char *what;
	} cases[] = {
		/* unknown keys */
		{ "accounts:\n  work:\n    hots: x\n",
		  "3:5: unknown key 'hots' in account 'work' (did you mean "
		  "'host'?)", "unknown key in account" },
		{ "acounts:\n  work: {}\n",
		  "1:1: unknown key 'acounts' at top level (did you mean "
		  "'accounts'?)", "unknown key at top level" },
		{ ACCT CHAN "    folder: '*'\n",
		  "10:5: unknown key 'folder' in channel 'work' (did you mean "
		  "'folders'?)", "unknown key in channel" },
		{ "hooks:\n  post-snyc: x\n",
		  "2:3: unknown key 'post-snyc' in hooks (did you mean "
		  "'post-sync'?)", "unknown key in hooks" },
		{ "accounts:\n  work:\n    xyzzy-frobnicate: 1\n",
		  "3:5: unknown key 'xyzzy-frobnicate' in account 'work'",
		  "unknown key, nothing near" },
		/* wrong types */
		{ "accounts:\n  work:\n    host: h\n    port: 0\n",
		  "4:11: 'port' must be an integer between 1 and 65535",
		  "port 0" },
		{ "accounts:\n  work:\n    port: 65536\n",
		  "3:11: 'port' must be an integer between 1 and 65535",
		  "port 65536" },
		{ "accounts:\n  work:\n    port: imap\n",
		  "3:11: 'port' must be an integer between 1 and 65535",
		  "port not a number" },
		{ "accounts:\n  work:\n    port: [993]\n",
		  "3:11: 'port' must be an integer between 1 and 65535",
		  "port a list" },
		{ "accounts:\n  work:\n    tls: ssl\n",
		  "3:10: 'tls' must be one of imaps, starttls, none",
		  "tls value" },
		{ "accounts:\n  work:\n    host: [a, b]\n",
		  "3:11: 'host' must be a string", "host a list" },
		{ "accounts:\n  work:\n    user: ''\n",
		  "3:11: 'user' must not be empty", "user empty" },
		{ "accounts:\n  work:\n    timeout: 0\n",
		  "3:14: 'timeout' must be an integer between 1 and 3600",
		  "timeout 0" },
		{ "accounts:\n  work:\n    connections: 65\n",
		  "3:18: 'connections' must be an integer between 1 and 64",
		  "connections 65" },
		{ "accounts:\n  work:\n    compress: true\n",
		  "3:15: 'compress' must be one of auto, yes, no",
		  "compress value" },
		{ "accounts:\n  work:\n    compress: [yes]\n",
		  "3:15: 'compress' must be one of auto, yes, no",
		  "compress a list" },
		{ "accounts:\n  work:\n    auth: [plain, cram-md5]\n",
		  "3:19: 'auth' must be a list of plain, login, xoauth2",
		  "auth mechanism" },
		{ "accounts:\n  work:\n    cert-fingerprint: abcd\n",
		  "3:23: 'cert-fingerprint' must be a SHA-256 fingerprint: 64 "
		  "hex digits, colons and a 'sha256:' prefix optional",
		  "cert-fingerprint short" },
		{ "accounts:\n  work:\n    cert-fingerprint: sha1:"
		  "01234567890123456789012345678901"
		  "23456789012345678901234567890123\n",
		  "3:23: 'cert-fingerprint' must be a SHA-256 fingerprint: 64 "
		  "hex digits, colons and a 'sha256:' prefix optional",
		  "cert-fingerprint other hash" },
		{ ACCT CHAN "    folders: {a: b}\n",
		  "10:14: 'folders' must be a list of strings",
		  "folders a mapping" },
		{ ACCT CHAN "    folders: [a, [b]]\n",
		  "10:18: 'folders' must be a list of strings",
		  "folders nested list" },
		{ ACCT CHAN "    direction: sideways\n",
		  "10:16: 'direction' must be one of both, pull, push",
		  "direction" },
		{ ACCT CHAN "    layout: mbox\n",
		  "10:13: 'layout' must be one of verbatim, maildir++",
		  "layout" },
		{ ACCT CHAN "    propagate: [new, bogus]\n",
		  "10:22: 'propagate' must be a list of new, flags, "
		  "deletions, moves", "propagate entry" },
		{ ACCT CHAN "    create: sometimes\n",
		  "10:13: 'create' must be one of both, server, disk, none",
		  "create" },
		{ ACCT CHAN "    remove: yes\n",
		  "10:13: 'remove' must be one of both, server, disk, none",
		  "remove" },
		{ ACCT CHAN "    expunge: 1\n",
		  "10:14: 'expunge' must be one of both, server, disk, none",
		  "expunge" },
		{ ACCT CHAN "    max-size: 10T\n",
		  "10:15: 'max-size' must be a number of bytes, optionally "
		  "with a K, M or G suffix (e.g. 20M)", "max-size suffix" },
		{ ACCT CHAN "    max-size: 1.5M\n",
		  "10:15: 'max-size' must be a number of bytes, optionally "
		  "with a K, M or G suffix (e.g. 20M)", "max-size fraction" },
		{ ACCT CHAN "    max-size: 99999999999999999999\n",
		  "10:15: 'max-size' must be a number of bytes, optionally "
		  "with a K, M or G suffix (e.g. 20M)", "max-size overflow" },
		{ ACCT CHAN "    max-age: -1\n",
		  "10:14: 'max-age' must be an integer between 0 and 100000",
		  "max-age negative" },
		{ ACCT CHAN "    delete-limit: 101%\n",
		  "10:19: 'delete-limit' must be a percentage between 0% and "
		  "100% (e.g. 25%)", "delete-limit over 100" },
		{ ACCT CHAN "    delete-limit: 12.%\n",
		  "10:19: 'delete-limit' must be a percentage between 0% and "
		  "100% (e.g. 25%)", "delete-limit 12.%" },
		{ ACCT CHAN "    delete-limit: -5%\n",
		  "10:19: 'delete-limit' must be a percentage between 0% and "
		  "100% (e.g. 25%)", "delete-limit negative" },
		{ ACCT CHAN "    delete-limit: 100.001%\n",
		  "10:19: 'delete-limit' must be a percentage between 0% and "
		  "100% (e.g. 25%)", "delete-limit just over 100" },
		{ ACCT CHAN "    delete-limit: 25\n",
		  "10:19: 'delete-limit' must be a percentage between 0% and "
		  "100% (e.g. 25%)", "delete-limit without %" },
		{ ACCT CHAN "    poll-interval: 0\n",
		  "10:20: 'poll-interval' must be an integer between 1 and "
		  "86400", "poll-interval 0" },
		{ ACCT CHAN "    watch: [INBOX, '']\n",
		  "10:20: invalid folder name '' in 'watch': empty pattern",
		  "watch entry" },
		{ "accounts: [work]\n",
		  "1:11: 'accounts' must be a mapping", "accounts a list" },
		{ "accounts:\n  work: imap.example.org\n",
		  "2:9: account 'work' must be a mapping",
		  "account a scalar" },
		{ "hooks:\n  post-sync: [a]\n",
		  "2:14: 'post-sync' must be a string", "hook a list" },
		/* missing required keys */
		{ "accounts:\n  work:\n    user: a\n    pass-cmd: p\n",
		  "3:5: account 'work' is missing required key 'host'",
		  "missing host" },
		{ "accounts:\n  work:\n    host: h\n    pass-cmd: p\n",
		  "3:5: account 'work' is missing required key 'user'",
		  "missing user" },
		{ "accounts:\n  work:\n    host: h\n    user: u\n",
		  "3:5: account 'work' needs 'pass-cmd' or 'password'",
		  "missing secret" },
		{ "accounts:\n  work:\n",
		  "2:3: account 'work' is missing required key 'host'",
		  "account without settings" },
		{ ACCT "channels:\n  work:\n    maildir: /m\n",
		  "8:5: channel 'work' is missing required key 'account'",
		  "missing account" },
		{ ACCT "channels:\n  work:\n    account: work\n",
		  "8:5: channel 'work' is missing required key 'maildir'",
		  "missing maildir" },
		/* top level */
		{ "", "1:1: top level must be a mapping", "empty file" },
		{ "# only a comment\n", "1:1: top level must be a mapping",
		  "comment only" },
		{ "- a\n- b\n", "1:1: top level must be a mapping",
		  "top level a list" },
		{ "just text\n", "1:1: top level must be a mapping",
		  "top level a scalar" },
		/* references */
		{ ACCT "channels:\n  work:\n    account: wrok\n"
		  "    maildir: /m\n",
		  "8:14: channel 'work' names unknown account 'wrok' (did you "
		  "mean 'work'?)", "unknown account" },
		{ ACCT "channels:\n  work:\n    account: personal-mail\n"
		  "    maildir: /m\n",
		  "8:14: channel 'work' names unknown account 'personal-mail'",
		  "unknown account, nothing near" },
		{ ACCT CHAN "groups:\n  all: [work, x]\n",
		  "11:15: group 'all' names unknown channel 'x'",
		  "unknown channel in group" },
		{ ACCT CHAN "groups:\n  all: {work: 1}\n",
		  "11:8: group 'all' must be a list of channel names",
		  "group a mapping" },
		/* patterns */
		{ ACCT CHAN "    folders: ['*', '..']\n",
		  "10:20: invalid folder pattern '..': '.' or '..' component "
		  "in pattern", "pattern .." },
		{ ACCT CHAN "    folders: ['!/etc']\n",
		  "10:15: invalid folder pattern '!/etc': pattern must not "
		  "start with '/'", "excluded pattern checked too" },
		{ ACCT CHAN "    folders: '!'\n",
		  "10:14: invalid folder pattern '!': empty pattern",
		  "bare '!'" },
		{ ACCT CHAN "    folders: \"a\\tb\"\n",
		  "10:14: invalid folder pattern 'a\tb': control character "
		  "in pattern", "control character" },
		/* tls: none */
		{ "accounts:\n  work:\n    host: imap.example.org\n"
		  "    tls: none\n    user: a\n    pass-cmd: p\n",
		  "4:10: tls: none is only allowed for loopback hosts (host is "
		  "'imap.example.org')", "tls: none remote" },
		{ "accounts:\n  work:\n    host: 128.0.0.1\n"
		  "    tls: none\n    user: a\n    pass-cmd: p\n",
		  "4:10: tls: none is only allowed for loopback hosts (host is "
		  "'128.0.0.1')", "tls: none near-loopback address" },
		/* duplicates */
		{ "accounts:\n  work:\n    host: a\n    host: b\n",
		  "4:5: duplicate key 'host'", "duplicate key" },
		{ ACCT "  work:\n    host: x\n",
		  "6:3: duplicate account 'work'", "duplicate account" },
		{ ACCT CHAN "  work:\n    account: work\n",
		  "10:3: duplicate channel 'work'", "duplicate channel" },
		{ ACCT CHAN "groups:\n  g: work\n  g: work\n",
		  "12:3: duplicate group 'g'", "duplicate group" },
		{ ACCT CHAN "groups:\n  work: [work]\n",
		  "11:3: group 'work' has the same name as a channel",
		  "group named like a channel" },
		{ "hooks: {}\nhooks: {}\n",
		  "2:1: duplicate key 'hooks'", "duplicate top-level key" },
		/* names */
		{ ACCT "channels:\n  a/b:\n    account: work\n",
		  "7:3: channel name 'a/b' must not contain '/', ':', ',' or "
		  "control characters", "channel name with /" },
		{ ACCT "channels:\n  ..:\n    account: work\n",
		  "7:3: channel name '..' must not be '.' or '..'",
		  "channel name .." },
		/* YAML itself */
		{ "accounts:\n  work: [a\n",
		  "3:1: YAML syntax error: did not find expected ',' or ']'",
		  "unclosed flow sequence" },
		{ "accounts:\n  work:\n   host: a\n  user: b\n    x: y\n",
		  "5:6: YAML syntax error: mapping values are not allowed in "
		  "this context", "bad indentation" },
		{ "accounts:\n  work: &a\n    host: h\n  home: *a\n",
		  "4:9: YAML aliases are not supported", "alias" },
		{ "hooks: {}\n---\nhooks: {}\n",
		  "2:1: only one YAML document is allowed", "two documents" },
		{ "hooks:\n  new-mail: \"a\\0b\"\n",
		  "2:13: NUL character in a string", "NUL in a string" },
		{ "hooks:\n  new-mail: \"\xff\"\n",
		  "2:14: YAML syntax error: invalid leading UTF-8 octet",
		  "invalid UTF-8" },
		/* paths */
		{ ACCT "channels:\n  work:\n    account: work\n"
		  "    maildir: $XDG_FOO/mail\n",
		  "9:14: 'maildir': environment variable XDG_FOO is not set",
		  "unset variable" },
		{ ACCT CHAN "    state-dir: ${XDG_FOO\n",
		  "10:16: 'state-dir': '${' without a variable name and '}'",
		  "unterminated ${" },
	};

	unsetenv("XDG_FOO");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_error(cases[i].yaml, cases[i].want, cases[i].what);
}

static void
test_unreadable(void)
{
	char *path = xasprintf("%s/missing.yaml", tmpdir);
	char *want = xasprintf("cannot read %s: No such file or directory",
	    path);
	struct cfg *c = NULL;
	struct err e = { 0 };

	ok(cfg_load(path, &c, &e) == -1 && e.code == ERR_CONFIG && !c,
	    "missing file: ERR_CONFIG");
	is_str(e.msg, want, "missing file: message without line/col");
	free(want);
	free(path);

	want = xasprintf("cannot read %s: Is a directory", tmpdir);
	ok(cfg_load(tmpdir, &c, &e) == -1 && e.code == ERR_CONFIG,
	    "directory: ERR_CONFIG");
	is_str(e.msg, want, "directory: message");
	free(want);
}

static void
test_password_warning(void)
{
	static const char yaml[] = "accounts:\n  a:\n    host: h\n"
	    "    user: u\n    password: topsecret\n";
	static const char cmd_yaml[] = "accounts:\n  a:\n    host: h\n"
	    "    user: u\n    pass-cmd: pass a\n";
	char *path = write_file("pw.yaml", yaml, 0644), *errs, *want;
	struct cfg *c = NULL;
	struct err e = { 0 };

	ok(load_capture(path, &c, &e, &errs) == 0, "0644 with password loads");
	want = xasprintf("mailsync: warning: %s: holds a password and is "
	    "readable by others; chmod 600 it\n", path);
	is_str(errs, want, "0644 with password: warning names the path");
	ok(strstr(errs, "topsecret") == NULL, "warning hides the password");
	free(want);
	free(errs);
	cfg_free(&c);
	free(path);

	path = write_file("pw.yaml", yaml, 0640);
	ok(load_capture(path, &c, &e, &errs) == 0, "0640 loads");
	ok(strstr(errs, "holds a password") != NULL, "0640: group too");
	free(errs);
	cfg_free(&c);
	free(path);

	path = write_file("pw.yaml", yaml, 0600);
	ok(load_capture(path, &c, &e, &errs) == 0, "0600 loads");
	is_str(errs, "", "0600: no warning");
	free(errs);
	cfg_free(&c);
	free(path);

	path = write_file("pw.yaml", cmd_yaml, 0644);
	ok(load_capture(path, &c, &e, &errs) == 0, "pass-cmd 0644 loads");
	is_str(errs, "", "0644 without password: no warning");
	free(errs);
	cfg_free(&c);
	unlink(path);
	free(path);
}

static void
test_expand(void)
{
	char *home = getenv("HOME"), *p, *want;

	setenv("MS_A", "/alpha", 1);
	setenv("MS_EMPTY", "", 1);
	unsetenv("MS_UNSET");

	p = cfg_expand_path("~");
	is_str(p, home, "~ alone");
	free(p);
	p = cfg_expand_path("~/Mail/x");
	want = xasprintf("%s/Mail/x", home);
	is_str(p, want, "~/");
	free(want);
	free(p);
	p = cfg_expand_path("~alice/Mail");
	is_str(p, "~alice/Mail", "~user is left alone");
	free(p);
	p = cfg_expand_path("/a/~/b");
	is_str(p, "/a/~/b", "~ only at the start");
	free(p);
	p = cfg_expand_path("$MS_A/mail");
	is_str(p, "/alpha/mail", "$VAR");
	free(p);
	p = cfg_expand_path("${MS_A}mail");
	is_str(p, "/alphamail", "${VAR}");
	free(p);
	p = cfg_expand_path("/x$MS_EMPTY/y");
	is_str(p, "/x/y", "empty variable");
	free(p);
	p = cfg_expand_path("/cost$5/a$");
	is_str(p, "/cost$5/a$", "$ without a name is literal");
	free(p);
	p = cfg_expand_path("$MS_UNSET/x");
	ok(p == NULL, "unset variable: NULL");
	free(p);
	p = cfg_expand_path("${MS_A");
	ok(p == NULL, "unterminated ${: NULL");
	free(p);
	p = cfg_expand_path("");
	is_str(p, "", "empty path");
	free(p);

	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	p = cfg_default_path();
	is_str(p, "/xdg/config/mailsync/config.yaml",
	    "default path under $XDG_CONFIG_HOME");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	p = cfg_default_path();
	want = xasprintf("%s/.config/mailsync/config.yaml", home);
	is_str(p, want, "default path under ~/.config");
	free(want);
	free(p);
}

static void
test_secret(void)
{
	struct cfg_account a = { .name = "work" };
	struct err e = { 0 };
	char *s = NULL;

	a.pass_cmd = "printf 'sekrit\\nsecond\\n'";
	ok(cfg_get_secret(&a, &s, &e) == 0, "pass-cmd runs");
	is_str(s, "sekrit", "pass-cmd: first line");
	free(s);
	s = NULL;

	a.pass_cmd = "printf 'crlf\\r\\n'";
	ok(cfg_get_secret(&a, &s, &e) == 0, "pass-cmd with CRLF");
	is_str(s, "crlf", "pass-cmd: CR dropped");
	free(s);
	s = NULL;

	a.pass_cmd = "printf nonewline";
	ok(cfg_get_secret(&a, &s, &e) == 0, "pass-cmd without newline");
	is_str(s, "nonewline", "pass-cmd: unterminated line");
	free(s);
	s = NULL;

	a.pass_cmd = "echo sekrit; exit 3";
	ok(cfg_get_secret(&a, &s, &e) == -1 && e.code == ERR_FAIL && !s,
	    "exit 3: ERR_FAIL");
	is_str(e.msg, "account 'work': pass-cmd failed (exit status 3)",
	    "exit 3: message names account and status");
	ok(strstr(e.msg, "sekrit") == NULL, "exit 3: no secret in message");

	a.pass_cmd = "echo sekrit; kill -9 $$";
	ok(cfg_get_secret(&a, &s, &e) == -1 && e.code == ERR_FAIL,
	    "killed: ERR_FAIL");
	is_str(e.msg, "account 'work': pass-cmd failed (killed by signal 9)",
	    "killed: message");

	a.pass_cmd = "cat";
	ok(cfg_get_secret(&a, &s, &e) == -1 && e.code == ERR_FAIL,
	    "stdin is /dev/null: no output");
	is_str(e.msg, "account 'work': pass-cmd produced no output",
	    "no output: message");

	a.pass_cmd = "printf '\\nsecond\\n'";
	ok(cfg_get_secret(&a, &s, &e) == -1, "empty first line fails");
	is_str(e.msg, "account 'work': pass-cmd produced no output",
	    "empty first line: message");

	a.pass_cmd = "head -c 70000 /dev/zero | tr '\\0' x";
	ok(cfg_get_secret(&a, &s, &e) == -1, "over-long line fails");
	is_str(e.msg, "account 'work': pass-cmd output is longer than 65536 "
	    "bytes", "over-long line: message");

	a.pass_cmd = "echo short; head -c 200000 /dev/zero";
	ok(cfg_get_secret(&a, &s, &e) == 0, "long output after the line");
	is_str(s, "short", "long output: first line kept");
	free(s);
	s = NULL;

	a.pass_cmd = NULL;
	a.password = "hunter2";
	ok(cfg_get_secret(&a, &s, &e) == 0, "password fallback");
	is_str(s, "hunter2", "password returned");
	ok(s != a.password, "password copied");
	free(s);
	s = NULL;

	a.pass_cmd = "echo fromcmd";
	ok(cfg_get_secret(&a, &s, &e) == 0, "both set");
	is_str(s, "fromcmd", "pass-cmd wins over password");
	free(s);
	s = NULL;

	a.pass_cmd = "exit 1";
	ok(cfg_get_secret(&a, &s, &e) == -1, "failing pass-cmd with password");
	ok(strstr(e.msg, "hunter2") == NULL, "no password in the message");
}

static const char select_config[] =
    "accounts:\n  a:\n    host: h\n    user: u\n    password: p\n"
    "channels:\n"
    "  work:\n    account: a\n    maildir: /m/work\n"
    "  home:\n    account: a\n    maildir: /m/home\n"
    "  lists:\n    account: a\n    maildir: /m/lists\n"
    "groups:\n  personal: [home, lists]\n  nothing: []\n";

static void
test_select(void)
{
	struct cfg *c = load_ok(select_config, "selection config");
	struct cfg_selection *sel = NULL;
	struct err e = { 0 };
	size_t n = 0;
	char *a1[] = { "home" };
	char *a2[] = { "work:INBOX,Archive/2024", "work:Sent,INBOX" };
	char *a3[] = { "lists", "personal", "work:INBOX" };
	char *a4[] = { "work:INBOX", "work", "work:Sent" };
	char *a5[] = { "wokr" };
	char *a6[] = { "zzzzzzzz" };
	char *a7[] = { "wrk:INBOX" };
	char *a8[] = { "work:" };
	char *a9[] = { "work:../x" };
	char *a10[] = { "nothing" };

	if (c == NULL)
		return;
	ok(cfg_select(c, NULL, 0, true, &sel, &n, &e) == 0, "-a");
	is_int(n, 3, "-a: every channel");
	if (n == 3) {
		is_str(sel[0].channel->name, "work", "-a: config order 1");
		is_str(sel[2].channel->name, "lists", "-a: config order 3");
		is_int(sel[0].folders.n, 0, "-a: whole channels");
	}
	cfg_selection_free(&sel, n);
	ok(sel == NULL, "selection_free clears the pointer");

	ok(cfg_select(c, a1, 1, false, &sel, &n, &e) == 0, "one channel");
	ok(n == 1 && sel[0].channel == &c->channels[1] &&
	    sel[0].folders.n == 0, "one channel, whole");
	cfg_selection_free(&sel, n);

	ok(cfg_select(c, a2, 2, false, &sel, &n, &e) == 0, "channel:folders");
	is_int(n, 1, "channel:folders: merged into one");
	if (n == 1) {
		is_int(sel[0].folders.n, 3, "folders merged, no duplicates");
		is_str(sel[0].folders.v[0], "INBOX", "folder 1");
		is_str(sel[0].folders.v[1], "Archive/2024", "folder 2");
		is_str(sel[0].folders.v[2], "Sent", "folder 3");
	}
	cfg_selection_free(&sel, n);

	ok(cfg_select(c, a3, 3, false, &sel, &n, &e) == 0, "group");
	is_int(n, 3, "group: members added once");
	if (n == 3) {
		is_str(sel[0].channel->name, "lists", "argument order 1");
		is_str(sel[1].channel->name, "home", "argument order 2");
		is_str(sel[2].channel->name, "work", "argument order 3");
		is_int(sel[2].folders.n, 1, "channel:folder after a group");
	}
	cfg_selection_free(&sel, n);

	ok(cfg_select(c, a4, 3, false, &sel, &n, &e) == 0, "whole wins");
	ok(n == 1 && sel[0].folders.n == 0,
	    "selected whole and with folders stays whole");
	cfg_selection_free(&sel, n);

	ok(cfg_select(c, a10, 1, false, &sel, &n, &e) == 0 && n == 0,
	    "empty group selects nothing");
	cfg_selection_free(&sel, n);

	ok(cfg_select(c, a5, 1, false, &sel, &n, &e) == -1 &&
	    e.code == ERR_CONFIG && sel == NULL && n == 0, "unknown name");
	is_str(e.msg, "unknown channel or group 'wokr' (did you mean "
	    "'work'?)", "unknown name: suggestion");
	cfg_select(c, a6, 1, false, &sel, &n, &e);
	is_str(e.msg, "unknown channel or group 'zzzzzzzz'",
	    "unknown name: nothing near");
	cfg_select(c, a7, 1, false, &sel, &n, &e);
	is_str(e.msg, "unknown channel 'wrk' (did you mean 'work'?)",
	    "unknown channel with folders");
	ok(cfg_select(c, a8, 1, false, &sel, &n, &e) == -1,
	    "channel: without folders");
	is_str(e.msg, "no folder given after 'work:'", "channel: message");
	ok(cfg_select(c, a9, 1, false, &sel, &n, &e) == -1, "bad folder");
	is_str(e.msg, "invalid folder name '../x': '.' or '..' component in "
	    "pattern", "bad folder: message");
	ok(cfg_select(c, a1, 1, true, &sel, &n, &e) == -1 &&
	    e.code == ERR_CONFIG, "-a with names");
	is_str(e.msg, "-a and channel names cannot be combined",
	    "-a with names: message");
	ok(cfg_select(c, NULL, 0, false, &sel, &n, &e) == -1 &&
	    e.code == ERR_CONFIG, "nothing selected");
	is_str(e.msg, "no channel given (use -a or name channels)",
	    "nothing selected: message");
	cfg_free(&c);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char *home;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-cfg.XXXXXX",
	    t && t[0] ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	home = xasprintf("%s/home", tmpdir);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");

	test_full();
	test_minimal();
	test_sizes();
	test_errors();
	test_unreadable();
	test_password_warning();
	test_expand();
	test_secret();
	test_select();

	rmdir(tmpdir);
	free(home);
	return done_testing();
}
