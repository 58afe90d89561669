/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for the Maildir store (src/maildir.c) in a temporary tree. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "cfg.h"
#include "maildir.h"
#include "store.h"
#include "util.h"

static char *base;	/* the test's temporary directory */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whether base/rel exists (without following a final link). */
static bool
exists(const char *rel)
{
	char *p = xasprintf("%s/%s", base, rel);
	struct stat st;
	bool r = lstat(p, &st) == 0;

	free(p);
	return r;
}

static void
put(const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", base, rel);
	FILE *f = fopen(p, "w");

	if (f == NULL) {
		perror(p);
		abort();
	}
	fputs(content, f);
	fclose(f);
	free(p);
}

static char *
slurp(const char *rel, size_t *len)
{
	char *p = xasprintf("%s/%s", base, rel);
	struct buf b = { 0 };
	char chunk[4096];
	FILE *f = fopen(p, "r");
	size_t n;

	free(p);
	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (b.data == NULL)
		buf_add(&b, "", 0);
	if (len != NULL)
		*len = b.len;
	return b.data;
}

static void
mkd(const char *rel)
{
	char *p = xasprintf("%s/%s", base, rel);

	if (mkdir(p, 0700) < 0 && errno != EEXIST) {
		perror(p);
		abort();
	}
	free(p);
}

static void
mkmaildir(const char *rel)
{
	char *p;

	mkd(rel);
	p = xasprintf("%s/cur", rel);
	mkd(p);
	free(p);
	p = xasprintf("%s/new", rel);
	mkd(p);
	free(p);
	p = xasprintf("%s/tmp", rel);
	mkd(p);
	free(p);
}

static ino_t
inode(const char *rel)
{
	char *p = xasprintf("%s/%s", base, rel);
	struct stat st;

	if (lstat(p, &st) < 0)
		st.st_ino = 0;
	free(p);
	return st.st_ino;
}

static int
count_entries(const char *rel)
{
	char *p = xasprintf("%s/%s", base, rel), *cmd;
	int n = 0;
	FILE *f;
	char line[512];

	cmd = xasprintf("ls -A '%s'", p);
	f = popen(cmd, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n++;
	if (f != NULL)
		pclose(f);
	free(cmd);
	free(p);
	return n;
}

static char *
folders_text(struct store *s)
{
	struct folder_list l = { 0 };
	struct buf b = { 0 };
	struct err e;

	if (s->ops->list_folders(s, &l, &e) < 0) {
		buf_printf(&b, "error: %s", e.msg);
		return b.data;
	}
	for (size_t i = 0; i < l.n; i++)
		buf_printf(&b, "%s%s%s", i ? " " : "", l.v[i].name,
		    l.v[i].noselect ? "(noselect)" : "");
	folder_list_free(&l);
	if (b.data == NULL)
		buf_add(&b, "", 0);
	return b.data;
}

static struct msg *
find_msg(struct msg_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

/* store_body_fn: a whole message into the struct buf at arg. */
static int
keep_body(void *arg, size_t i, const char *data, size_t len, bool more,
    const struct err *why)
{
	(void)i;
	(void)more;
	if (why != NULL)
		return -1;
	buf_add(arg, data, len);
	return 0;
}

/* One message's content, through fetch_many; -1 when it did not come. */
static int
fetch_one(struct store *s, struct msg *m, struct buf *out, struct err *e)
{
	buf_reset(out);
	if (s->ops->fetch_many(s, &m, 1, keep_body, out, e) < 0)
		return -1;
	return out->data != NULL ? 0 : -1;
}

static void
check_path(const struct cfg_channel *ch, const char *name, const char *want,
    const char *what)
{
	struct err e;
	char *path = NULL;

	err_clear(&e);
	ok(maildir_folder_path(ch, name, &path, &e) == 0, "%s: maps", what);
	is_str(path, want, "%s: path", what);
	free(path);
}

static void
check_refused(const struct cfg_channel *ch, const char *name,
    const char *want_msg, const char *what)
{
	struct err e;
	char *path = (char *)"untouched";

	err_clear(&e);
	ok(maildir_folder_path(ch, name, &path, &e) == -1 && path == NULL,
	    "%s: refused", what);
	is_int(e.code, ERR_FAIL, "%s: ERR_FAIL", what);
	if (want_msg != NULL)
		is_str(e.msg, want_msg, "%s: message", what);
}

static void
test_paths(void)
{
	struct cfg_channel ch = { 0 };
	char long_comp[300];

	ch.maildir = (char *)"/r/";
	ch.layout = CFG_LAYOUT_VERBATIM;
	check_path(&ch, "Archive/2024", "/r/Archive/2024", "verbatim nested");
	check_path(&ch, "INBOX", "/r/INBOX", "verbatim inbox default");
	check_path(&ch, "INBOX/sub", "/r/INBOX/sub", "verbatim inbox child");
	check_path(&ch, "Entwürfe", "/r/Entwürfe", "verbatim UTF-8");
	check_path(&ch, "a.b", "/r/a.b", "verbatim dot inside");
	ch.inbox = (char *)"/i";
	check_path(&ch, "INBOX", "/i", "verbatim inbox configured");
	check_path(&ch, "INBOX/sub", "/i/sub", "verbatim inbox child moved");
	ch.inbox = NULL;
	ch.layout = CFG_LAYOUT_MAILDIRPP;
	check_path(&ch, "INBOX", "/r", "maildir++ inbox is the root");
	check_path(&ch, "Archive/2024", "/r/.Archive.2024", "maildir++ nested");
	check_path(&ch, "INBOX/sub", "/r/.INBOX.sub", "maildir++ inbox child");
	ch.inbox = (char *)"/i";
	check_path(&ch, "INBOX", "/i", "maildir++ inbox configured");
	ch.inbox = NULL;

	ch.layout = CFG_LAYOUT_VERBATIM;
	check_refused(&ch, "", "folder '': refused: empty name", "empty");
	check_refused(&ch, "/etc", "folder '/etc': refused: absolute name",
	    "absolute");
	check_refused(&ch, "a\nb", "folder 'a\\x0Ab': refused: control "
	    "character", "newline");
	check_refused(&ch, "a\x1b[2J", "folder 'a\\x1B[2J': refused: control "
	    "character", "escape");
	check_refused(&ch, "a\x7f", "folder 'a\\x7F': refused: control "
	    "character", "DEL");
	check_refused(&ch, "Entw\xfcrfe", "folder 'Entw\\xFCrfe': refused: "
	    "not valid UTF-8", "Latin-1");
	check_refused(&ch, "a//b", "folder 'a//b': refused: empty component",
	    "double slash");
	check_refused(&ch, "a/", "folder 'a/': refused: empty component",
	    "trailing slash");
	check_refused(&ch, ".", "folder '.': refused: '.' component", "dot");
	check_refused(&ch, "a/./b", "folder 'a/./b': refused: '.' component",
	    "inner dot");
	check_refused(&ch, "..", "folder '..': refused: '..' component",
	    "dotdot");
	check_refused(&ch, "../x", "folder '../x': refused: '..' component",
	    "leading dotdot");
	check_refused(&ch, "a/../../etc", "folder 'a/../../etc': refused: "
	    "'..' component", "inner dotdot");
	check_refused(&ch, "INBOX/..", "folder 'INBOX/..': refused: '..' "
	    "component", "inbox dotdot");
	check_refused(&ch, "cur", "folder 'cur': refused: reserved component "
	    "'cur'", "cur");
	check_refused(&ch, "a/new", "folder 'a/new': refused: reserved "
	    "component 'new'", "new");
	check_refused(&ch, "tmp/x", "folder 'tmp/x': refused: reserved "
	    "component 'tmp'", "tmp");
	memset(long_comp, 'x', 256);
	long_comp[256] = '\0';
	check_refused(&ch, long_comp, NULL, "256-byte component");
	{
		struct err e;
		char *p = NULL;

		maildir_folder_path(&ch, long_comp, &p, &e);
		ok(strstr(e.msg, ": refused: component longer than 255 bytes")
		    != NULL, "256-byte component: reason");
		free(p);
	}
	long_comp[255] = '\0';
	{
		struct err e;
		char *p = NULL;

		ok(maildir_folder_path(&ch, long_comp, &p, &e) == 0,
		    "255-byte component is fine");
		free(p);
	}
	check_refused(&ch, ".hidden", "folder '.hidden': refused: component "
	    "'.hidden' starts with '.'", "hidden");
	check_refused(&ch, "a/.git", "folder 'a/.git': refused: component "
	    "'.git' starts with '.'", "inner hidden");
	ch.layout = CFG_LAYOUT_MAILDIRPP;
	check_refused(&ch, "a.b", "folder 'a.b': refused: '.' inside "
	    "component 'a.b' (maildir++)", "maildir++ dot");
	check_refused(&ch, "x/.y", "folder 'x/.y': refused: '.' inside "
	    "component '.y' (maildir++)", "maildir++ leading dot");
	check_refused(&ch, "../x", "folder '../x': refused: '..' component",
	    "maildir++ dotdot");
	memset(long_comp, 'x', sizeof(long_comp));
	long_comp[200] = '/';
	long_comp[260] = '\0';
	check_refused(&ch, long_comp, NULL, "maildir++ long name");
	{
		struct err e;
		char *p = NULL;

		maildir_folder_path(&ch, long_comp, &p, &e);
		ok(strstr(e.msg, ": refused: name longer than 254 bytes "
		    "(maildir++)") != NULL, "maildir++ long name: reason");
		free(p);
	}
}

static void
test_open(void)
{
	struct cfg_channel ch = { 0 };
	struct store *s;
	struct err e;
	char *want, *txt;
	struct stat st;

	ch.maildir = xasprintf("%s/none/Mail", base);
	ch.layout = CFG_LAYOUT_VERBATIM;
	s = maildir_store_new(&ch, "local t");
	ok(s->side == SIDE_LOCAL, "store is the local side");
	ok(s->ops->select(s, "INBOX", NULL, &e) == -1, "select before open");
	ok(s->ops->open(s, false, &e) == -1, "missing root refused");
	is_int(e.code, ERR_SAFETY, "missing root: ERR_SAFETY");
	want = xasprintf("maildir root %s does not exist", ch.maildir);
	is_str(e.msg, want, "missing root: message");
	free(want);
	ok(!exists("none"), "nothing created");
	ok(s->ops->open(s, true, &e) == 0, "root created with create_root");
	ok(stat(ch.maildir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "root is a 0700 directory");
	ok(rmdir(ch.maildir) == 0, "remove the root behind its back");
	txt = folders_text(s);
	want = xasprintf("error: maildir root %s was removed", ch.maildir);
	is_str(txt, want, "list_folders of a removed root is an error");
	free(want);
	free(txt);
	s->ops->close(&s);
	ok(s == NULL, "close clears the pointer");
	s = maildir_store_new(&ch, "local t");
	s->ops->close(&s);
	ok(s == NULL, "close of a store never opened");
	free(ch.maildir);
}

static void
test_verbatim(void)
{
	struct cfg_channel ch = { 0 };
	struct folder_status fs;
	struct msg_list ml = { 0 };
	struct msg m1 = { 0 }, m2 = { 0 }, m3 = { 0 }, *mp, *mv[3];
	struct flags fl = { 0 };
	struct flag_change fc[2];
	struct store *s;
	struct buf b = { 0 };
	struct err e;
	char *txt, *want, *data;
	const char *msg1 = "Message-ID: <one@example.org>\nSubject: one\n\n"
	    "body\n";
	struct stat st;
	size_t len;

	mkd("v");
	ch.maildir = xasprintf("%s/v/", base);
	ch.layout = CFG_LAYOUT_VERBATIM;
	s = maildir_store_new(&ch, "local v");
	ok(s->ops->open(s, false, &e) == 0, "open existing root");

	ok(s->ops->create_folder(s, "INBOX", &e) == 0, "create INBOX");
	ok(s->ops->create_folder(s, "Archive/2024", &e) == 0,
	    "create nested");
	ok(s->ops->create_folder(s, "Entwürfe", &e) == 0, "create UTF-8");
	ok(s->ops->create_folder(s, "日本語/子", &e) == 0,
	    "create nested UTF-8");
	ok(s->ops->create_folder(s, "Archive/2024", &e) == 0,
	    "create again is fine");
	ok(exists("v/INBOX/cur") && exists("v/INBOX/new") &&
	    exists("v/INBOX/tmp"), "INBOX has cur/new/tmp");
	ok(exists("v/Archive/2024/cur") && !exists("v/Archive/cur"),
	    "parent made as a plain directory");
	ok(exists("v/日本語/子/tmp"), "UTF-8 names stored as is");
	ok(s->ops->create_folder(s, "../escape", &e) == -1 &&
	    !exists("escape"), "create refuses '..'");
	is_str(e.msg, "folder '../escape': refused: '..' component",
	    "create: refusal message");

	/* things the listing must skip */
	mkd("v/junk");
	mkd("v/.notmuch");
	mkmaildir("v/.notmuch/x");
	mkmaildir("v/bad\x01name");
	mkd("v/curonly");
	mkd("v/curonly/cur");
	put("v/Archive/dovecot-uidlist", "3 V1 N1\n");
	mkmaildir("outside");
	txt = xasprintf("%s/outside", base);
	want = xasprintf("%s/v/Linked", base);
	ok(symlink(txt, want) == 0, "plant a symlinked folder");
	free(txt);
	free(want);
	txt = folders_text(s);
	is_str(txt, "Archive(noselect) Archive/2024 Entwürfe INBOX curonly "
	    "日本語(noselect) 日本語/子", "list_folders (verbatim)");
	free(txt);

	ok(s->ops->select(s, "Linked", NULL, &e) == -1,
	    "select a symlinked folder fails");
	want = xasprintf("folder 'Linked': %s/v/Linked is a symbolic link "
	    "(not followed)", base);
	is_str(e.msg, want, "symlinked folder: message");
	free(want);
	ok(s->ops->create_folder(s, "Linked/sub", &e) == -1 &&
	    !exists("outside/sub"), "create below a symlink fails, nothing "
	    "written outside");
	ok(s->ops->select(s, "Nope", &fs, &e) == -1,
	    "select a missing folder fails");
	is_int(e.code, ERR_FAIL, "missing folder: ERR_FAIL");
	want = xasprintf("folder 'Nope': %s/v/Nope does not exist", base);
	is_str(e.msg, want, "missing folder: message");
	free(want);
	ok(!exists("v/Nope"), "select does not create the folder");
	ok(s->ops->list(s, &ml, &e) == -1 && ml.n == 0,
	    "list after a failed select fails");
	ok(s->ops->select(s, "curonly", &fs, &e) == 0 &&
	    exists("v/curonly/new") && exists("v/curonly/tmp"),
	    "select makes a missing new/ and tmp/");

	/* append, no flags: new/ */
	ok(s->ops->select(s, "INBOX", &fs, &e) == 0, "select INBOX");
	is_int(fs.exists, 0, "empty INBOX");
	ok(s->ops->append(s, msg1, strlen(msg1), &fl, 1700000000, &m1, &e) ==
	    0, "append without flags");
	ok(m1.name != NULL && strchr(m1.name, ':') == NULL, "fresh name");
	want = xasprintf("new/%s", m1.name);
	is_str(m1.file, want, "stored in new/ without an info part");
	txt = xasprintf("v/INBOX/%s", want);
	data = slurp(txt, &len);
	ok(data != NULL && len == strlen(msg1) && memcmp(data, msg1, len) == 0,
	    "content byte-exact (LF kept, nothing added)");
	free(data);
	{
		char *p = xasprintf("%s/%s", base, txt);

		ok(stat(p, &st) == 0 && st.st_mtime == 1700000000 &&
		    (st.st_mode & 0777) == 0600,
		    "mtime is the date, mode 0600");
		free(p);
	}
	free(txt);
	free(want);
	is_int((long long)m1.size, (long long)strlen(msg1) + 4,
	    "size counts CRLF");
	is_str(m1.msgid, "<one@example.org>", "Message-ID");
	ok(m1.has_details && m1.flags.bits == 0 && m1.flags.kw == NULL,
	    "details, no flags");
	is_int(count_entries("v/INBOX/tmp"), 0, "tmp/ empty afterwards");

	/* append with flags and keywords, with a journaled name */
	m2.name = xstrdup("1700000001.M2P3Q4.host");
	fl.bits = FLAG_SEEN | FLAG_FLAGGED;
	fl.kw = xstrdup("work $Junk");
	flags_kw_normalize(&fl.kw);
	ok(s->ops->append(s, "Subject: two\r\n\r\nx\r\n", 19, &fl, 0, &m2,
	    &e) == 0, "append with flags");
	is_str(m2.name, "1700000001.M2P3Q4.host", "the given name is used");
	is_str(m2.file, "cur/1700000001.M2P3Q4.host:2,FSab",
	    "cur/ with system letters then keyword letters");
	ok(exists("v/INBOX/cur/1700000001.M2P3Q4.host:2,FSab"), "on disk");
	is_str(m2.flags.kw, "$Junk work", "keywords reported");
	is_int(m2.flags.bits, FLAG_SEEN | FLAG_FLAGGED, "bits reported");
	is_int((long long)m2.size, 19, "CRLF data: size unchanged");
	ok(m2.msgid == NULL, "no Message-ID");
	data = slurp("v/INBOX/dovecot-keywords", NULL);
	is_str(data, "0 $Junk\n1 work\n", "dovecot-keywords written");
	free(data);
	ok(s->ops->append(s, "x\n", 2, &fl, 0, &m2, &e) == -1,
	    "append with an existing name and flags fails");
	want = xasprintf("folder 'INBOX': append: %s/v/INBOX/cur/"
	    "1700000001.M2P3Q4.host:2,FSab exists already", base);
	is_str(e.msg, want, "existing name: message");
	free(want);
	is_int(count_entries("v/INBOX/tmp"), 0, "tmp/ cleaned up");
	flags_free(&fl);
	msg_free(&m2);

	/* messages planted by other programs */
	put("v/INBOX/cur/planted:2,Sz", "Message-ID: <p@x>\n\nhi\n");
	put("v/INBOX/new/fresh:2,S", "new with info\n");
	put("v/INBOX/cur/dup:2,R", "dup in cur\n");
	put("v/INBOX/new/dup", "dup in new\n");
	put("v/INBOX/cur/.hidden", "dot file\n");
	put("v/INBOX/tmp/crashed", "half written\n");
	put("v/INBOX/cur/1.M2,S=10,W=999:2,T", "short\n");
	mkd("v/INBOX/cur/adir");
	ok(s->ops->select(s, "INBOX", &fs, &e) == 0, "select again");
	is_int(fs.exists, 8, "exists counts cur/ and new/ entries");
	ok(s->ops->list(s, &ml, &e) == 0, "list");
	is_int(ml.n, 6, "six messages (dup once, no dot/tmp/dir)");
	mp = find_msg(&ml, m1.name);
	ok(mp != NULL && strcmp(mp->file, m1.file) == 0 && mp->flags.bits == 0
	    && mp->date == 0 && !mp->has_details,
	    "first message listed, without a date (one stat less each)");
	ok(mp != NULL && s->ops->details(s, &mp, 1, &e) == 0 &&
	    mp->date == 1700000000, "its date comes with the details");
	mp = find_msg(&ml, "1700000001.M2P3Q4.host");
	ok(mp != NULL && mp->flags.bits == (FLAG_SEEN | FLAG_FLAGGED),
	    "flags from letters");
	is_str(mp ? mp->flags.kw : NULL, "$Junk work", "keywords from letters");
	mp = find_msg(&ml, "planted");
	ok(mp != NULL && mp->flags.bits == FLAG_SEEN && mp->flags.kw == NULL,
	    "unknown keyword letter ignored");
	mp = find_msg(&ml, "fresh");
	ok(mp != NULL && mp->flags.bits == 0 &&
	    strcmp(mp->file, "new/fresh:2,S") == 0, "files in new/ carry no "
	    "flags");
	mp = find_msg(&ml, "dup");
	ok(mp != NULL && strcmp(mp->file, "cur/dup:2,R") == 0,
	    "duplicate unique name: cur/ kept");
	{
		struct flags fw = { FLAG_SEEN | FLAG_FLAGGED, (char *)"$Junk" };
		struct msg fm;
		bool found = false;

		ok(s->ops->find(s, "1700000001.M2P3Q4.host", &fw, &fm,
		    &found, &e) == 0 && !found,
		    "find: not where other flags would put it");
		fw.kw = (char *)"$Junk work";
		ok(s->ops->find(s, "1700000001.M2P3Q4.host", &fw, &fm,
		    &found, &e) == 0 && found &&
		    strcmp(fm.file, "cur/1700000001.M2P3Q4.host:2,FSab") == 0 &&
		    fm.flags.bits == fw.bits &&
		    strcmp(fm.flags.kw, "$Junk work") == 0,
		    "find: where its flags put it, as the listing has it");
		msg_free(&fm);
		fw.bits = FLAG_ANSWERED;
		fw.kw = NULL;
		ok(s->ops->find(s, "dup", &fw, &fm, &found, &e) == 0 &&
		    found && strcmp(fm.file, "cur/dup:2,R") == 0,
		    "find: cur/ as the listing");
		msg_free(&fm);
		fw.bits = 0;
		ok(s->ops->find(s, "nosuch", &fw, &fm, &found, &e) == 0 &&
		    !found, "find: a message that is not there");
		ok(s->ops->find(s, m1.name, &fw, &fm, &found, &e) == 0 &&
		    found && strcmp(fm.file, m1.file) == 0 &&
		    fm.flags.bits == 0, "find: without flags, in new/");
		msg_free(&fm);
		ok(s->ops->find(s, "../INBOX/cur/dup", &fw, &fm, &found,
		    &e) == 0 && !found, "find: a name with a slash is none");
	}
	ok(find_msg(&ml, "crashed") == NULL, "tmp/ leftovers not listed");

	/* details */
	mp = find_msg(&ml, "1.M2,S=10,W=999");
	mv[0] = mp;
	mv[1] = find_msg(&ml, "planted");
	mv[2] = find_msg(&ml, m1.name);
	ok(mv[0] && mv[1] && mv[2] &&
	    s->ops->details(s, mv, 3, &e) == 0, "details");
	is_int(mv[0] ? (long long)mv[0]->size : -1, 999, "size from ,W=");
	is_int(mv[1] ? (long long)mv[1]->size : -1, 25, "size computed");
	is_str(mv[1] ? mv[1]->msgid : NULL, "<p@x>", "Message-ID read");
	ok(mv[0] && mv[0]->has_details && mv[0]->msgid == NULL,
	    "has_details set");

	/* discard: a crashed run's own tmp/ file goes; a name from a
	 * damaged journal reaches nothing outside tmp/ */
	put("v/INBOX/tmp/1700000009.crashed.host", "half a message");
	put("v/INBOX/outside", "not ours");
	put("v/INBOX/tmp/.hidden", "not ours either");
	s->ops->discard(s, "1700000009.crashed.host");
	s->ops->discard(s, "../outside");
	s->ops->discard(s, ".hidden");
	s->ops->discard(s, "");
	ok(!exists("v/INBOX/tmp/1700000009.crashed.host"),
	    "discard removes tmp/NAME");
	ok(exists("v/INBOX/outside") && exists("v/INBOX/tmp/.hidden"),
	    "discard refuses a path or a dot name");
	{
		char *o = xasprintf("%s/v/INBOX/outside", base);
		char *h = xasprintf("%s/v/INBOX/tmp/.hidden", base);

		unlink(o);
		unlink(h);
		free(o);
		free(h);
	}

	/* fetch */
	mp = find_msg(&ml, m1.name);
	ok(mp && fetch_one(s, mp, &b, &e) == 0, "fetch");
	ok(b.len == strlen(msg1) && memcmp(b.data, msg1, b.len) == 0,
	    "fetch is byte-exact");
	buf_free(&b);

	{
		static const char bin[] = "Subject: bin\r\n\r\na\0b\rc\r\r\n"
		    "\xff\n";
		struct msg mb = { 0 };

		ok(s->ops->append(s, bin, sizeof(bin) - 1, NULL, 0, &mb,
		    &e) == 0 && fetch_one(s, &mb, &b, &e) == 0,
		    "append and fetch binary content");
		ok(b.len == sizeof(bin) - 1 && memcmp(b.data, bin, b.len) == 0,
		    "NUL, CR and 8-bit bytes kept exactly");
		is_int((long long)mb.size, (long long)sizeof(bin) - 1 + 1,
		    "size: only the bare LF grows");
		mv[0] = &mb;
		ok(s->ops->remove(s, mv, 1, &e) == 0, "remove it again");
		msg_free(&mb);
		buf_free(&b);
	}

	/* set_flags: from new/ and within cur/, one rename each */
	mp = find_msg(&ml, m1.name);
	want = xasprintf("v/INBOX/%s", mp->file);
	{
		ino_t ino = inode(want);
		char *after;

		memset(fc, 0, sizeof(fc));
		fc[0].msg = mp;
		fc[0].to.bits = FLAG_SEEN | FLAG_DELETED | FLAG_DRAFT |
		    FLAG_ANSWERED;
		fc[0].to.kw = xstrdup("newkw work");
		fc[1].msg = find_msg(&ml, "planted");
		fc[1].to.bits = FLAG_FLAGGED;
		ok(s->ops->set_flags(s, fc, 2, &e) == 0, "set_flags");
		after = xasprintf("cur/%s:2,DRSTbc", m1.name);
		is_str(mp->file, after, "file updated, letters in order");
		is_int(mp->flags.bits, FLAG_SEEN | FLAG_DELETED | FLAG_DRAFT |
		    FLAG_ANSWERED, "flags updated");
		is_str(mp->flags.kw, "newkw work", "keywords updated");
		free(after);
		after = xasprintf("v/INBOX/%s", mp->file);
		ok(ino != 0 && inode(after) == ino && !exists(want),
		    "renamed, same inode");
		free(after);
		ok(exists("v/INBOX/cur/planted:2,F"), "second message renamed");
		flags_free(&fc[0].to);
	}
	free(want);
	data = slurp("v/INBOX/dovecot-keywords", NULL);
	is_str(data, "0 $Junk\n1 work\n2 newkw\n", "new keyword gets the "
	    "lowest free letter");
	free(data);

	/* a reader renamed one meanwhile; a user deleted another */
	{
		char *p1 = xasprintf("%s/v/INBOX/cur/planted:2,F", base);
		char *p2 = xasprintf("%s/v/INBOX/cur/planted:2,FS", base);

		ok(rename(p1, p2) == 0, "simulate a reader's flag change");
		free(p1);
		free(p2);
	}
	memset(fc, 0, sizeof(fc));
	fc[0].msg = find_msg(&ml, "planted");
	fc[0].to.bits = FLAG_ANSWERED;
	ok(s->ops->set_flags(s, fc, 1, &e) == 0 &&
	    exists("v/INBOX/cur/planted:2,R"),
	    "set_flags finds a renamed file");
	{
		char *p = xasprintf("%s/v/INBOX/cur/1.M2,S=10,W=999:2,T", base);

		unlink(p);
		free(p);
	}
	fc[0].msg = find_msg(&ml, "1.M2,S=10,W=999");
	fc[0].to.bits = FLAG_SEEN;
	ok(s->ops->set_flags(s, fc, 1, &e) == -1, "set_flags on a deleted "
	    "file fails");
	want = xasprintf("folder 'INBOX': set flags: %s/v/INBOX/cur/"
	    "1.M2,S=10,W=999:2,T no longer exists", base);
	is_str(e.msg, want, "deleted file: message names it");
	free(want);
	is_str(fc[0].msg->file, "cur/1.M2,S=10,W=999:2,T",
	    "failed change leaves the msg alone");

	/* remove */
	mv[0] = find_msg(&ml, "fresh");
	mv[1] = find_msg(&ml, "1.M2,S=10,W=999");
	ok(s->ops->remove(s, mv, 2, &e) == 0, "remove (one already gone)");
	ok(!exists("v/INBOX/new/fresh:2,S") && exists("v/INBOX/new/dup") &&
	    exists("v/INBOX/cur/dup:2,R"), "file unlinked, others untouched");

	/* delete_folder */
	ok(s->ops->delete_folder(s, "INBOX", &e) == -1, "INBOX not deleted");
	ok(s->ops->select(s, "Archive/2024", NULL, &e) == 0,
	    "select Archive/2024");
	ok(s->ops->append(s, msg1, strlen(msg1), NULL, 0, &m3, &e) == 0,
	    "append to Archive/2024");
	ok(s->ops->delete_folder(s, "Archive/2024", &e) == -1,
	    "delete of a non-empty folder refused");
	want = xasprintf("folder 'Archive/2024': not deleted: "
	    "%s/v/Archive/2024/new holds 1 message(s)", base);
	is_str(e.msg, want, "refusal message");
	free(want);
	ok(exists("v/Archive/2024/new"), "nothing removed");
	ok(s->ops->select(s, "Archive/2024", NULL, &e) == 0, "select again");
	mv[0] = &m3;
	ok(s->ops->remove(s, mv, 1, &e) == 0, "remove its message");
	put("v/Archive/2024/tmp/busy", "delivery\n");
	ok(s->ops->delete_folder(s, "Archive/2024", &e) == -1,
	    "delivery in progress in tmp/ blocks deletion");
	{
		char *p = xasprintf("%s/v/Archive/2024/tmp/busy", base);
		struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };

		utimensat(AT_FDCWD, p, old, 0);
		free(p);
	}
	ok(s->ops->delete_folder(s, "Archive/2024", &e) == 0,
	    "delete of an emptied folder");
	ok(!exists("v/Archive/2024") && exists("v/Archive"), "directory gone");
	ok(s->ops->delete_folder(s, "Archive/2024", &e) == -1,
	    "delete of a missing folder fails");
	ok(s->ops->list(s, &ml, &e) == -1, "deleting the selected folder "
	    "unselects it");

	msg_free(&m1);
	msg_free(&m3);
	msg_list_free(&ml);
	s->ops->close(&s);
	free(ch.maildir);
}

static void
test_hostile(void)
{
	struct cfg_channel ch = { 0 };
	struct msg m = { 0 };
	struct store *s;
	struct err e;
	char *t, *l, *want;

	mkd("h");
	mkmaildir("h/F");
	mkmaildir("h/CurLink");
	mkmaildir("target");
	ch.maildir = xasprintf("%s/h", base);
	s = maildir_store_new(&ch, "local h");
	ok(s->ops->open(s, false, &e) == 0, "open");

	/* a link planted at tmp/NAME is never written through */
	t = xasprintf("%s/target/victim", base);
	l = xasprintf("%s/h/F/tmp/evil", base);
	ok(symlink(t, l) == 0, "plant tmp/evil -> outside");
	ok(s->ops->select(s, "F", NULL, &e) == 0, "select F");
	m.name = xstrdup("evil");
	ok(s->ops->append(s, "x\n", 2, NULL, 0, &m, &e) == -1,
	    "append through a planted link fails");
	want = xasprintf("folder 'F': append: open(%s/h/F/tmp/evil) failed: "
	    "File exists", base);
	is_str(e.msg, want, "message names the tmp file");
	free(want);
	ok(!exists("target/victim"), "nothing written outside");
	ok(exists("h/F/tmp/evil") && count_entries("h/F/new") == 0 &&
	    count_entries("h/F/cur") == 0, "nothing delivered, link left");
	msg_free(&m);
	m.name = xstrdup("../../escape");
	ok(s->ops->append(s, "x\n", 2, NULL, 0, &m, &e) == -1 &&
	    !exists("escape"), "a unique name with '/' is refused");
	msg_free(&m);
	free(t);
	free(l);

	/* cur/ as a link */
	t = xasprintf("%s/target/cur", base);
	l = xasprintf("%s/h/CurLink/cur", base);
	ok(rmdir(l) == 0 && symlink(t, l) == 0, "plant CurLink/cur -> outside");
	ok(s->ops->select(s, "CurLink", NULL, &e) == -1,
	    "select with a symlinked cur/ fails");
	want = xasprintf("folder 'CurLink': %s/h/CurLink/cur is a symbolic "
	    "link (not followed)", base);
	is_str(e.msg, want, "cur/ link: message");
	free(want);
	free(t);
	free(l);

	/* a linked dovecot-keywords is an error, not read */
	t = xasprintf("%s/target/kw", base);
	l = xasprintf("%s/h/F/dovecot-keywords", base);
	put("target/kw", "0 stolen\n");
	ok(symlink(t, l) == 0, "plant a linked dovecot-keywords");
	ok(s->ops->select(s, "F", NULL, &e) == -1, "select refuses it");
	free(t);
	free(l);
	t = folders_text(s);
	is_str(t, "F", "linked cur/ folder not listed");
	free(t);
	s->ops->close(&s);
	free(ch.maildir);
}

static void
test_keywords_full(void)
{
	struct cfg_channel ch = { 0 };
	struct flags fl = { 0 };
	struct msg m = { 0 };
	struct buf want = { 0 };
	struct store *s;
	struct err e;
	char *data, w[8];

	mkd("k");
	ch.maildir = xasprintf("%s/k", base);
	s = maildir_store_new(&ch, "local k");
	ok(s->ops->open(s, false, &e) == 0 &&
	    s->ops->create_folder(s, "K", &e) == 0 &&
	    s->ops->select(s, "K", NULL, &e) == 0, "folder K");
	put("k/K/dovecot-keywords", "0 old\n3 three\nbad line\n40 big\n");
	ok(s->ops->select(s, "K", NULL, &e) == 0, "select reads the map");
	for (int i = 0; i < 27; i++) {
		snprintf(w, sizeof(w), "k%02d", i);
		flags_kw_add(&fl.kw, w);
	}
	ok(s->ops->append(s, "x\n", 2, &fl, 0, &m, &e) == 0,
	    "append with 27 new keywords");
	/* a and d are taken: 24 free letters for k00..k23 */
	is_str(strstr(m.file, ":2,"), ":2,bcefghijklmnopqrstuvwxyz",
	    "the 24 free letters used");
	ok(strstr(m.flags.kw, "k23") != NULL && strstr(m.flags.kw, "k24") ==
	    NULL && strstr(m.flags.kw, "old") == NULL,
	    "keywords without a letter are left out");
	data = slurp("k/K/dovecot-keywords", NULL);
	buf_adds(&want, "0 old\n1 k00\n2 k01\n3 three\n");
	for (int i = 4; i < 26; i++)
		buf_printf(&want, "%d k%02d\n", i, i - 2);
	is_str(data, want.data, "existing letters kept, free ones filled, "
	    "26 at most");
	buf_free(&want);
	free(data);
	flags_free(&fl);
	msg_free(&m);
	s->ops->close(&s);
	free(ch.maildir);
}

static void
test_maildirpp(void)
{
	struct cfg_channel ch = { 0 };
	struct msg m = { 0 };
	struct flags fl = { FLAG_SEEN, NULL };
	struct store *s;
	struct err e;
	char *txt;

	mkd("p");
	ch.maildir = xasprintf("%s/p", base);
	ch.layout = CFG_LAYOUT_MAILDIRPP;
	s = maildir_store_new(&ch, "local p");
	ok(s->ops->open(s, false, &e) == 0, "open maildir++");
	ok(s->ops->create_folder(s, "INBOX", &e) == 0 && exists("p/cur") &&
	    exists("p/tmp"), "INBOX is the root");
	ok(s->ops->create_folder(s, "Archive/2024", &e) == 0 &&
	    exists("p/.Archive.2024/new") && !exists("p/.Archive"),
	    "nested folder as .Archive.2024");
	ok(s->ops->create_folder(s, "Entwürfe", &e) == 0 &&
	    exists("p/.Entwürfe/cur"), "UTF-8 folder");
	ok(s->ops->create_folder(s, "a.b", &e) == -1 && !exists("p/.a.b"),
	    "dot in a component refused");
	mkmaildir("p/.bad..x");
	mkd("p/.notmaildir");
	mkmaildir("p/.INBOX");
	txt = folders_text(s);
	is_str(txt, "Archive(noselect) Archive/2024 Entwürfe INBOX",
	    "list_folders (maildir++)");
	free(txt);
	ok(s->ops->select(s, "Archive/2024", NULL, &e) == 0 &&
	    s->ops->append(s, "a\n", 2, &fl, 0, &m, &e) == 0,
	    "append in maildir++");
	txt = xasprintf("p/.Archive.2024/cur/%s:2,S", m.name);
	ok(exists(txt), "stored in .Archive.2024/cur");
	free(txt);
	msg_free(&m);
	ok(s->ops->select(s, "INBOX", NULL, &e) == 0 &&
	    s->ops->append(s, "b\n", 2, NULL, 0, &m, &e) == 0,
	    "append to INBOX");
	txt = xasprintf("p/new/%s", m.name);
	ok(exists(txt), "stored in the root's new/");
	free(txt);
	msg_free(&m);
	s->ops->close(&s);
	free(ch.maildir);
}

static void
test_inbox_elsewhere(void)
{
	struct cfg_channel ch = { 0 };
	struct store *s;
	struct err e;
	char *txt;

	mkd("x");
	mkmaildir("x/INBOX");
	ch.maildir = xasprintf("%s/x", base);
	ch.inbox = xasprintf("%s/xin/box", base);
	s = maildir_store_new(&ch, "local x");
	ok(s->ops->open(s, false, &e) == 0, "open");
	ok(s->ops->create_folder(s, "INBOX", &e) == 0 &&
	    exists("xin/box/cur"), "configured inbox created with parents");
	ok(s->ops->create_folder(s, "INBOX/sub", &e) == 0 &&
	    exists("xin/box/sub/new"), "inbox child below it");
	ok(s->ops->create_folder(s, "Other", &e) == 0, "another folder");
	txt = folders_text(s);
	is_str(txt, "INBOX INBOX/sub Other", "root/INBOX is shadowed");
	free(txt);
	s->ops->close(&s);
	free(ch.maildir);
	free(ch.inbox);
}

static void
test_unique(void)
{
	char *a = maildir_unique_name(), *b = maildir_unique_name();
	char host[256], *p;
	unsigned long long sec, usec, pid, q;
	int n = -1;

	ok(strcmp(a, b) != 0, "unique names differ");
	ok(sscanf(a, "%llu.M%lluP%lluQ%llu.%n", &sec, &usec, &pid, &q, &n) ==
	    4 && n > 0, "format <sec>.M<usec>P<pid>Q<n>.<host>: %s", a);
	ok(usec < 1000000 && pid == (unsigned long long)getpid(),
	    "usec and pid");
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = '\0';
	p = n > 0 ? a + n : a;
	ok(strchr(p, '/') == NULL && strchr(p, ':') == NULL,
	    "no '/' or ':' in the host part");
	if (strchr(host, '/') == NULL && strchr(host, ':') == NULL)
		is_str(p, host, "host part");
	else
		ok(1, "host part escaped");
	free(a);
	free(b);
}

int
main(void)
{
	const char *tmpdir = getenv("TMPDIR");
	char *tmpl;

	tmpl = xasprintf("%s/test-maildir.XXXXXX", tmpdir && *tmpdir ? tmpdir :
	    "/tmp");
	base = mkdtemp(tmpl);
	if (base == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_paths();
	test_open();
	test_verbatim();
	test_hostile();
	test_keywords_full();
	test_maildirpp();
	test_inbox_elsewhere();
	test_unique();
	rm_rf(base);
	free(tmpl);
	return done_testing();
}
