/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for --import-mbsyncrc: real-world mbsync configs and errors. */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "cfg.h"
#include "mbsyncrc.h"

static char tmpdir[PATH_MAX];
static char *rc_path;

static char *
write_file(const char *name, const char *text, size_t len)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		abort();
	}
	fwrite(text, 1, len, f);
	fclose(f);
	chmod(path, 0600);
	return path;
}

/* mbsyncrc_convert on text; the YAML, "" when nothing was written. */
static char *
convert_n(const char *text, size_t len, int *rc, struct err *e)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	free(rc_path);
	rc_path = write_file("mbsyncrc", text, len);
	err_clear(e);
	*rc = mbsyncrc_convert(rc_path, f, e);
	fclose(f);
	return out;
}

static char *
convert(const char *text, int *rc, struct err *e)
{
	return convert_n(text, strlen(text), rc, e);
}

/* What mailsync itself makes of the YAML; NULL (with a diagnostic) if it
 * refuses it. */
static struct cfg *
load(const char *yaml)
{
	char *path = write_file("config.yaml", yaml, strlen(yaml));
	struct cfg *c = NULL;
	struct err e = { 0 };

	if (cfg_load(path, &c, &e) < 0) {
		printf("# cfg_load: %s\n", e.msg);
		cfg_free(&c);
	}
	free(path);
	return c;
}

static const struct cfg_account *
account(const struct cfg *c, const char *name)
{
	for (size_t i = 0; c && i < c->naccounts; i++)
		if (strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}

static const struct cfg_group *
group(const struct cfg *c, const char *name)
{
	for (size_t i = 0; c && i < c->ngroups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

static char *
home(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

static void
is_path(const char *got, const char *rel, const char *what)
{
	char *want = home(rel);

	is_str(got, want, "%s", what);
	free(want);
}

static void
has(const char *text, const char *needle, const char *what)
{
	if (!ok(text != NULL && strstr(text, needle) != NULL, "%s", what))
		printf("# missing: %s\n", needle);
}

/* ---- mutt-wizard ---- */

/* What mw generates for one account (share/mbsync-temp, isync 1.4). */
static const char mw_rc[] =
    "IMAPStore alice@example.org-remote\n"
    "Host imap.example.org\n"
    "Port 993\n"
    "User alice@example.org\n"
    "PassCmd \"pass mutt-wizard-alice@example.org\"\n"
    "AuthMechs LOGIN\n"
    "SSLType IMAPS\n"
    "CertificateFile /etc/ssl/certs/ca-certificates.crt\n"
    "\n"
    "MaildirStore alice@example.org-local\n"
    "Subfolders Verbatim\n"
    "Path ~/.local/share/mail/alice@example.org/\n"
    "Inbox ~/.local/share/mail/alice@example.org/INBOX\n"
    "\n"
    "Channel alice@example.org\n"
    "Expunge Both\n"
    "Far :alice@example.org-remote:\n"
    "Near :alice@example.org-local:\n"
    "Patterns * !\"[Gmail]/All Mail\" !\"*fts-flatcurve*\" !\"*virtual*\"\n"
    "Create Both\n"
    "SyncState *\n"
    "MaxMessages 0\n"
    "ExpireUnread no\n"
    "# End profile\n";

static void
test_mutt_wizard(void)
{
	struct err e = { 0 };
	struct cfg *c;
	const struct cfg_account *a;
	struct cfg_channel *ch;
	char *head, *want;
	int rc;
	char *out = convert(mw_rc, &rc, &e);

	is_int(rc, 0, "mutt-wizard: converted");
	head = xasprintf("# mailsync configuration converted from %s",
	    rc_path);
	ok(strncmp(out, head, strlen(head)) == 0, "mutt-wizard: the YAML "
	    "says where it comes from");
	/* the rest does not depend on where the test runs */
	want = xstrdup(
	    "# mbsync options without an equivalent are kept as comments "
	    "that say why; read\n"
	    "#   them, then try: mailsync -n -a\n"
	    "\n"
	    "accounts:\n"
	    "  alice@example.org-remote:\n"
	    "    host: imap.example.org\n"
	    "    port: 993\n"
	    "    tls: imaps\n"
	    "    user: alice@example.org\n"
	    "    pass-cmd: \"pass mutt-wizard-alice@example.org\"\n"
	    "    auth: [login]\n"
	    "    ca-file: /etc/ssl/certs/ca-certificates.crt\n"
	    "\n"
	    "channels:\n"
	    "  alice@example.org:\n"
	    "    account: alice@example.org-remote\n"
	    "    maildir: ~/.local/share/mail/alice@example.org\n"
	    "    folders: [\"*\", \"![Gmail]/All Mail\", "
	    "\"!*fts-flatcurve*\", \"!*virtual*\"]\n"
	    "    create: both\n"
	    "    remove: none\n"
	    "    expunge: both\n");
	is_str(strstr(out, "\n# mbsync options") ? strstr(out,
	    "\n# mbsync options") + 1 : out, want, "mutt-wizard: the whole "
	    "YAML");
	free(head);
	free(want);

	c = load(out);
	ok(c != NULL, "mutt-wizard: mailsync loads the result");
	a = account(c, "alice@example.org-remote");
	ok(a != NULL, "mutt-wizard: the inline IMAPStore is an account");
	if (a) {
		is_str(a->host, "imap.example.org", "mw: host");
		is_int(a->port, 993, "mw: port");
		is_int(a->tls, CFG_TLS_IMAPS, "mw: SSLType IMAPS is tls imaps");
		is_str(a->pass_cmd, "pass mutt-wizard-alice@example.org",
		    "mw: PassCmd unquoted");
		is_int((long long)a->auth.n, 1, "mw: one mechanism");
		is_str(a->auth.n ? a->auth.v[0] : NULL, "login",
		    "mw: AuthMechs LOGIN is auth [login]");
		is_str(a->ca_file, "/etc/ssl/certs/ca-certificates.crt",
		    "mw: CertificateFile is ca-file");
	}
	ch = c ? cfg_channel_find(c, "alice@example.org") : NULL;
	ok(ch != NULL, "mw: the channel keeps its name");
	if (ch) {
		is_path(ch->maildir, ".local/share/mail/alice@example.org",
		    "mw: Path without its slash is the maildir");
		is_path(ch->inbox, ".local/share/mail/alice@example.org/INBOX",
		    "mw: the Inbox is the default one");
		is_int(ch->layout, CFG_LAYOUT_VERBATIM, "mw: verbatim layout");
		is_int((long long)ch->folders.n, 4, "mw: four patterns");
		is_str(ch->folders.n > 1 ? ch->folders.v[1] : NULL,
		    "![Gmail]/All Mail", "mw: quoted exclusion unquoted");
		is_int(ch->direction, CFG_DIR_BOTH, "mw: both directions");
		is_int(ch->propagate, CFG_PROP_ALL, "mw: everything propagated");
		is_int(ch->create, CFG_SIDE_BOTH, "mw: Create Both");
		is_int(ch->remove, CFG_SIDE_NONE, "mw: no Remove");
		is_int(ch->expunge, CFG_SIDE_BOTH, "mw: Expunge Both");
		is_int((long long)ch->max_size, 0, "mw: no size limit");
	}
	cfg_free(&c);
	free(out);
}

/* ---- the Arch wiki's Gmail example ---- */

static const char arch_rc[] =
    "IMAPAccount gmail\n"
    "# Address to connect to\n"
    "Host imap.gmail.com\n"
    "User username@gmail.com\n"
    "Pass ***************\n"
    "# To store the password in an encrypted file use PassCmd instead of "
    "Pass\n"
    "# PassCmd \"gpg2 -q --for-your-eyes-only --no-tty -d "
    "~/.mailpass.gpg\"\n"
    "#\n"
    "# Use TLS\n"
    "TLSType IMAPS\n"
    "# The following line should work. If you get certificate errors, "
    "uncomment the two following lines and read the \"Troubleshooting\" "
    "section.\n"
    "CertificateFile /etc/ssl/certs/ca-certificates.crt\n"
    "#CertificateFile ~/.cert/imap.gmail.com.pem\n"
    "#CertificateFile ~/.cert/Equifax_Secure_CA.pem\n"
    "\n"
    "IMAPStore gmail-remote\n"
    "Account gmail\n"
    "\n"
    "MaildirStore gmail-local\n"
    "SubFolders Verbatim\n"
    "# The trailing \"/\" is important\n"
    "Path ~/.mail/gmail/\n"
    "Inbox ~/.mail/gmail/Inbox\n"
    "\n"
    "Channel gmail\n"
    "Far :gmail-remote:\n"
    "Near :gmail-local:\n"
    "# Exclude everything under the internal [Gmail] folder, except the "
    "interesting folders\n"
    "Patterns * ![Gmail]* \"[Gmail]/Sent Mail\" \"[Gmail]/Starred\" "
    "\"[Gmail]/All Mail\"\n"
    "# Or include everything\n"
    "#Patterns *\n"
    "# Automatically create missing mailboxes, both locally and on the "
    "server\n"
    "Create Both\n"
    "# Sync the movement of messages between folders and deletions, add "
    "after making sure the sync works\n"
    "Expunge Both\n"
    "# Save the synchronization state files in the relevant directory\n"
    "SyncState *\n"
    "\n"
    "Channel gmail-inbox\n"
    "Far :gmail-remote:\n"
    "Near :gmail-local:\n"
    "Patterns \"INBOX\"\n"
    "Create Both\n"
    "Expunge Both\n"
    "SyncState *\n"
    "\n"
    "Channel gmail-trash\n"
    "Far :gmail-remote:\"[Gmail]/Bin\"\n"
    "Near :gmail-local:\"Bin\"\n"
    "Create Both\n"
    "Expunge Both\n"
    "SyncState *\n"
    "\n"
    "Channel gmail-sent\n"
    "Far :gmail-remote:\"[Gmail]/Sent Mail\"\n"
    "Near :gmail-local:\"Sent Mail\"\n"
    "Create Both\n"
    "Expunge Both\n"
    "SyncState *\n"
    "\n"
    "Group gmail\n"
    "Channel gmail-inbox\n"
    "Channel gmail-sent\n"
    "Channel gmail-trash\n";

static void
test_arch_gmail(void)
{
	struct err e = { 0 };
	struct cfg *c;
	const struct cfg_account *a;
	const struct cfg_group *g;
	struct cfg_channel *ch;
	int rc;
	char *out = convert(arch_rc, &rc, &e);

	is_int(rc, 0, "arch: converted");
	c = load(out);
	ok(c != NULL, "arch: mailsync loads the result");
	is_int(c ? (long long)c->naccounts : -1, 1, "arch: one account");
	a = account(c, "gmail");
	ok(a != NULL, "arch: IMAPAccount gmail is account gmail");
	if (a) {
		is_str(a->host, "imap.gmail.com", "arch: host");
		is_int(a->tls, CFG_TLS_IMAPS, "arch: TLSType IMAPS");
		is_int(a->port, 993, "arch: port 993 by default");
		is_str(a->password, "***************", "arch: Pass as password");
		ok(a->pass_cmd == NULL, "arch: commented PassCmd ignored");
	}
	has(out, "    password: \"***************\"\n",
	    "arch: a password starting with '*' is quoted");
	is_int(c ? (long long)c->nchannels : -1, 2,
	    "arch: two channels usable, two renaming ones are not");
	ch = c ? cfg_channel_find(c, "gmail") : NULL;
	ok(ch != NULL, "arch: channel gmail");
	if (ch) {
		is_path(ch->maildir, ".mail/gmail", "arch: maildir");
		is_path(ch->inbox, ".mail/gmail/Inbox", "arch: Inbox kept");
		is_int((long long)ch->folders.n, 5, "arch: five patterns");
		is_str(ch->folders.n > 1 ? ch->folders.v[1] : NULL,
		    "![Gmail]*", "arch: exclusion");
		is_str(ch->folders.n > 4 ? ch->folders.v[4] : NULL,
		    "[Gmail]/All Mail", "arch: quoted pattern with a space");
		is_int(ch->create, CFG_SIDE_BOTH, "arch: Create Both");
		is_int(ch->expunge, CFG_SIDE_BOTH, "arch: Expunge Both");
	}
	ch = c ? cfg_channel_find(c, "gmail-inbox") : NULL;
	ok(ch != NULL, "arch: channel gmail-inbox");
	if (ch) {
		is_int((long long)ch->folders.n, 1, "arch: one folder");
		is_str(ch->folders.v[0], "INBOX", "arch: the INBOX");
		is_path(ch->inbox, ".mail/gmail/Inbox",
		    "arch: INBOX where mbsync kept it");
	}
	has(out, "  # Channel gmail-trash is not converted: the folder is "
	    "'[Gmail]/Bin' on the\n", "arch: renamed folder: reason given");
	has(out, "  # gmail-sent:\n  #   account: gmail\n",
	    "arch: renamed folder: channel written commented out");
	has(out, "root with channel gmail-inbox",
	    "arch: a shared Maildir root is pointed out");
	g = group(c, "gmail-group");
	ok(g != NULL, "arch: group renamed away from channel gmail");
	if (g) {
		is_int((long long)g->channels.n, 1, "arch: one member left");
		is_str(g->channels.v[0], "gmail-inbox", "arch: the member");
	}
	has(out, "  # group gmail renamed: a channel has that name\n",
	    "arch: the rename is explained");
	has(out, "  # group gmail: channel gmail-sent left out: it is not "
	    "converted\n", "arch: dropped member explained");
	cfg_free(&c);
	free(out);
}

/* ---- several accounts, global options, a group ---- */

static const char multi_rc[] =
    "# defaults for every channel\n"
    "Create Near\n"
    "Expunge Both\n"
    "SyncState *\n"
    "FSync no\n"
    "\n"
    "IMAPAccount work\n"
    "Host mail.example.com\n"
    "Port 143\n"
    "User alice\n"
    "PassCmd +\"gpg --quiet --decrypt ~/.work-pass.gpg\"\n"
    "TLSType STARTTLS\n"
    "AuthMechs CRAM-MD5 LOGIN\n"
    "PipelineDepth 1\n"
    "Timeout 0\n"
    "\n"
    "IMAPAccount home\n"
    "Host imap.fastmail.com\n"
    "User alice@fastmail.com\n"
    "PassCmd \"pass show fastmail\"\n"
    "SSLType IMAPS\n"
    "CertificateFile /etc/ssl/certs/ca-certificates.crt\n"
    "\n"
    "IMAPAccount tunnel\n"
    "Tunnel \"ssh -q mail.example.net /usr/lib/dovecot/imap\"\n"
    "\n"
    "IMAPStore work-remote\n"
    "Account work\n"
    "\n"
    "IMAPStore home-remote\n"
    "Account home\n"
    "SubscribedOnly yes\n"
    "\n"
    "IMAPStore old-remote\n"
    "Account tunnel\n"
    "\n"
    "MaildirStore work-local\n"
    "Inbox ~/Mail/work\n"
    "SubFolders Maildir++\n"
    "Trash Trash\n"
    "\n"
    "MaildirStore home-local\n"
    "Path ~/Mail/home/\n"
    "Inbox ~/Mail/home/INBOX\n"
    "SubFolders Verbatim\n"
    "MaxSize 20m\n"
    "\n"
    "MaildirStore old-local\n"
    "Path ~/Mail/old/\n"
    "Inbox ~/Mail/old/INBOX\n"
    "\n"
    "Channel work\n"
    "Far :work-remote:\n"
    "Near :work-local:\n"
    "Patterns * !Junk\n"
    "Sync Pull\n"
    "MaxMessages 500\n"
    "\n"
    "Channel home\n"
    "Master :home-remote:\n"
    "Slave :home-local:\n"
    "Patterns *\n"
    "Sync PullNew PullGone Flags\n"
    "Remove Both\n"
    "\n"
    "Channel archive\n"
    "Far :home-remote:Archive\n"
    "Near :home-local:Archive\n"
    "Sync Pull New Flags\n"
    "Expunge None\n"
    "\n"
    "Channel old\n"
    "Far :old-remote:\n"
    "Near :old-local:\n"
    "\n"
    "Group everything work home\n"
    "Channel archive\n"
    "Channels old work\n";

static void
test_multi(void)
{
	struct err e = { 0 };
	struct cfg *c;
	const struct cfg_account *a;
	const struct cfg_group *g;
	struct cfg_channel *ch;
	int rc;
	char *out = convert(multi_rc, &rc, &e);

	is_int(rc, 0, "multi: converted");
	c = load(out);
	ok(c != NULL, "multi: mailsync loads the result");
	is_int(c ? (long long)c->naccounts : -1, 2,
	    "multi: the Tunnel account is left out");
	has(out, "  # IMAPAccount tunnel is not converted: it connects with "
	    "Tunnel", "multi: Tunnel explained");
	has(out, "# FSync no: mailsync always flushes mail and state to disk\n",
	    "multi: global FSync noted at the top");
	a = account(c, "work");
	if (ok(a != NULL, "multi: account work")) {
		is_int(a->port, 143, "multi: Port");
		is_int(a->tls, CFG_TLS_STARTTLS, "multi: STARTTLS");
		is_str(a->pass_cmd, "gpg --quiet --decrypt ~/.work-pass.gpg",
		    "multi: PassCmd without its '+'");
		is_int((long long)a->auth.n, 1, "multi: CRAM-MD5 dropped");
		is_str(a->auth.n ? a->auth.v[0] : NULL, "login",
		    "multi: LOGIN kept");
		is_int(a->timeout, 3600, "multi: Timeout 0 is the longest");
	}
	has(out, "    # AuthMechs CRAM-MD5: not supported;",
	    "multi: dropped mechanism explained");
	has(out, "    # PipelineDepth 1: no equivalent;",
	    "multi: PipelineDepth explained");
	is_int(c ? (long long)c->nchannels : -1, 3, "multi: three channels");

	ch = c ? cfg_channel_find(c, "work") : NULL;
	if (ok(ch != NULL, "multi: channel work")) {
		is_int(ch->layout, CFG_LAYOUT_MAILDIRPP, "multi: Maildir++");
		is_path(ch->maildir, "Mail/work", "multi: Inbox is the root");
		is_path(ch->inbox, "Mail/work", "multi: INBOX is the root");
		is_int(ch->direction, CFG_DIR_PULL, "multi: Sync Pull");
		is_int(ch->propagate, CFG_PROP_ALL, "multi: pull everything");
		is_int(ch->create, CFG_SIDE_DISK, "multi: global Create Near");
		is_int(ch->expunge, CFG_SIDE_BOTH,
		    "multi: global Expunge Both");
	}
	has(out, "    # MaxMessages 500: no equivalent;",
	    "multi: MaxMessages explained");
	has(out, "    # MaildirStore work-local: Trash Trash: no equivalent;",
	    "multi: store options explained in the channel");

	ch = c ? cfg_channel_find(c, "home") : NULL;
	if (ok(ch != NULL, "multi: channel home (Master/Slave)")) {
		is_int(ch->direction, CFG_DIR_PULL,
		    "multi: PullNew PullGone Flags: pull wins");
		is_int(ch->propagate, CFG_PROP_ALL,
		    "multi: new, flags, deletions and so moves");
		is_int(ch->remove, CFG_SIDE_BOTH, "multi: Remove Both");
		is_int((long long)ch->max_size, 20 << 20,
		    "multi: the Maildir store's MaxSize 20m");
	}
	has(out, "    # Sync PullNew PullGone Flags: mailsync propagates the "
	    "same kinds of\n", "multi: lost push of flags explained");

	ch = c ? cfg_channel_find(c, "archive") : NULL;
	if (ok(ch != NULL, "multi: channel archive (one mailbox)")) {
		is_int((long long)ch->folders.n, 1, "multi: one folder");
		is_str(ch->folders.v[0], "Archive", "multi: that folder");
		is_int(ch->direction, CFG_DIR_PULL, "multi: Sync Pull New...");
		is_int(ch->propagate, CFG_PROP_NEW | CFG_PROP_FLAGS,
		    "multi: ...Flags: new and flags");
		is_int(ch->expunge, CFG_SIDE_NONE,
		    "multi: Expunge None overrides the global one");
	}
	has(out, "  # Channel old is not converted: its account tunnel is not "
	    "converted.\n  # old: (not converted)\n",
	    "multi: channel of the Tunnel account left out");
	g = group(c, "everything");
	if (ok(g != NULL, "multi: group everything")) {
		is_int((long long)g->channels.n, 3, "multi: three members");
		is_str(g->channels.v[0], "work", "multi: from the Group line");
		is_str(g->channels.n > 2 ? g->channels.v[2] : NULL, "archive",
		    "multi: from a Channel line, duplicates dropped");
	}
	cfg_free(&c);
	free(out);
}

/* ---- account details ---- */

static void
test_inline_keychain_swapped(void)
{
	static const char rc_text[] =
	    "IMAPStore mac-remote\n"
	    "Host imap.example.org\n"
	    "User \"bob o'brien\"\n"
	    "UseKeychain yes\n"
	    "TLSType None\n"
	    "\n"
	    "MaildirStore mac-local\n"
	    "Path ~/Mail/mac/\n"
	    "Inbox ~/Mail/mac/INBOX\n"
	    "SubFolders Legacy\n"
	    "Flatten .\n"
	    "\n"
	    "Channel mac/main\n"
	    "Far :mac-local:\n"
	    "Near :mac-remote:\n"
	    "Patterns *\n"
	    "Sync Pull\n"
	    "Create Far\n"
	    "\n"
	    "Channel local\n"
	    "Far :mac-local:INBOX\n"
	    "Near :mac-local:Copy\n";
	struct err e = { 0 };
	struct cfg *c;
	const struct cfg_account *a;
	struct cfg_channel *ch;
	int rc;
	char *out = convert(rc_text, &rc, &e);

	is_int(rc, 0, "mac: converted");
	c = load(out);
	ok(c != NULL, "mac: mailsync loads the result");
	a = account(c, "mac-remote");
	if (ok(a != NULL, "mac: IMAPStore with inline options")) {
		is_str(a->user, "bob o'brien", "mac: quoted User");
		is_str(a->pass_cmd, "security find-internet-password -r imap "
		    "-s 'imap.example.org' -a 'bob o'\\''brien' -w",
		    "mac: UseKeychain becomes security(1), shell-quoted");
		is_int(a->tls, CFG_TLS_STARTTLS,
		    "mac: TLSType None to a remote host is refused: STARTTLS");
	}
	has(out, "    # TLSType None: mailsync connects without encryption "
	    "only to loopback\n", "mac: why STARTTLS");
	ch = c ? cfg_channel_find(c, "mac-main") : NULL;
	if (ok(ch != NULL, "mac: '/' replaced in the channel name")) {
		is_int(ch->direction, CFG_DIR_PUSH,
		    "mac: IMAP on the Near side: Pull is push");
		is_int(ch->create, CFG_SIDE_DISK, "mac: Create Far is disk");
		is_int(ch->expunge, CFG_SIDE_NONE,
		    "mac: no Expunge is none, as in mbsync");
	}
	has(out, "Flatten .: no equivalent;", "mac: Flatten explained");
	has(out, "SubFolders Legacy: a nested folder", "mac: Legacy explained");
	has(out, "  # Channel local is not converted: it connects two Maildir "
	    "stores;", "mac: Maildir to Maildir left out");
	is_int(c ? (long long)c->nchannels : -1, 1, "mac: one channel");
	cfg_free(&c);
	free(out);

	out = convert("IMAPAccount lo\nHost 127.0.0.1\nUser u\nPass p\n"
	    "TLSType None\n", &rc, &e);
	c = load(out);
	a = account(c, "lo");
	is_int(a ? a->tls : -1, CFG_TLS_NONE, "TLSType None kept on loopback");
	is_int(a ? a->port : -1, 143, "and port 143 by default");
	cfg_free(&c);
	free(out);

	out = convert("IMAPAccount prompt\nHost imap.example.org\nUser u\n",
	    &rc, &e);
	c = load(out);
	a = account(c, "prompt");
	is_int(a ? a->tls : -1, CFG_TLS_STARTTLS,
	    "no TLSType: STARTTLS, mbsync's default");
	ok(a && a->pass_cmd && strstr(a->pass_cmd, "exit 1"),
	    "no password: a pass-cmd that fails saying what to do");
	has(out, "# no Pass or PassCmd: mbsync asked for the password",
	    "no password: explained");
	cfg_free(&c);
	free(out);

	out = convert("IMAPAccount x\nHost h.example\nUserCmd \"id -un\"\n"
	    "Pass p\n", &rc, &e);
	c = load(out);
	is_int(c ? (long long)c->naccounts : -1, 0,
	    "UserCmd without User: account left out");
	has(out, "its login name comes from UserCmd", "UserCmd explained");
	cfg_free(&c);
	free(out);
}

/* ---- Sync to direction and propagate ---- */

static void
test_sync(void)
{
	static const struct {
		const char *sync;
		bool near_imap;
		enum cfg_direction dir;
		unsigned prop;
	} cases[] = {
		{ NULL, false, CFG_DIR_BOTH, CFG_PROP_ALL },
		{ "All", false, CFG_DIR_BOTH, CFG_PROP_ALL },
		{ "Full", false, CFG_DIR_BOTH, CFG_PROP_ALL },
		{ "None", false, CFG_DIR_BOTH, 0 },
		{ "Pull", false, CFG_DIR_PULL, CFG_PROP_ALL },
		{ "Push", false, CFG_DIR_PUSH, CFG_PROP_ALL },
		{ "Pull", true, CFG_DIR_PUSH, CFG_PROP_ALL },
		{ "New Flags", false, CFG_DIR_BOTH,
		    CFG_PROP_NEW | CFG_PROP_FLAGS },
		{ "Gone", false, CFG_DIR_BOTH, CFG_PROP_DELETIONS },
		{ "Delete", false, CFG_DIR_BOTH, CFG_PROP_DELETIONS },
		{ "Pull New Delete", false, CFG_DIR_PULL,
		    CFG_PROP_NEW | CFG_PROP_DELETIONS | CFG_PROP_MOVES },
		{ "PullNew", false, CFG_DIR_PULL, CFG_PROP_NEW },
		{ "PushFlags PushNew", false, CFG_DIR_PUSH,
		    CFG_PROP_NEW | CFG_PROP_FLAGS },
		{ "Flags PullNew", false, CFG_DIR_PULL,
		    CFG_PROP_NEW | CFG_PROP_FLAGS },
		{ "PullNew PullFlags Push", false, CFG_DIR_BOTH,
		    CFG_PROP_NEW | CFG_PROP_FLAGS },
		{ "Pull PushFlags", false, CFG_DIR_PULL, CFG_PROP_ALL },
		{ "Push New ReNew", false, CFG_DIR_PUSH, CFG_PROP_NEW },
		{ "pull new old upgrade gone flags", false, CFG_DIR_PULL,
		    CFG_PROP_ALL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct err e = { 0 };
		struct cfg *c;
		struct cfg_channel *ch;
		char *text, *out;
		int rc;

		text = xasprintf("IMAPAccount a\nHost h.example\nUser u\n"
		    "Pass p\n\nIMAPStore r\nAccount a\n\nMaildirStore l\n"
		    "Path ~/M/\n\nChannel c\n%s :r:\n%s :l:\n%s%s\n",
		    cases[i].near_imap ? "Near" : "Far",
		    cases[i].near_imap ? "Far" : "Near",
		    cases[i].sync ? "Sync " : "",
		    cases[i].sync ? cases[i].sync : "");
		out = convert(text, &rc, &e);
		c = load(out);
		ch = c ? cfg_channel_find(c, "c") : NULL;
		ok(ch && ch->direction == cases[i].dir &&
		    ch->propagate == cases[i].prop, "Sync %s%s: direction %d, "
		    "propagate %u", cases[i].sync ? cases[i].sync : "(none)",
		    cases[i].near_imap ? " (IMAP near)" : "", cases[i].dir,
		    cases[i].prop);
		if (ch && (ch->direction != cases[i].dir ||
		    ch->propagate != cases[i].prop))
			printf("#   got direction %d, propagate %u\n",
			    ch->direction, ch->propagate);
		cfg_free(&c);
		free(out);
		free(text);
	}
}

/* ---- lexing, quoting, odd names ---- */

static void
test_lexing(void)
{
	static const char rc_text[] =
	    "IMAPAccount yes\r\n"
	    "Host   imap.example.org   # the server\r\n"
	    "User a#b\r\n"
	    "Pass \"p\\\"q\\\\r s\"\r\n"
	    "\r\n"
	    "IMAPStore r\n"
	    "Account yes\n"
	    "Frobnicate on\n"
	    "\n"
	    "MaildirStore l\n"
	    "Path \"/srv/mail/j\xdcrgen/\"\n"
	    "Inbox /srv/mail/j\xdcrgen/INBOX\n"
	    /* no blank line: mbsync wants one, we forgive it */
	    "Channel null\n"
	    "Far :r:\n"
	    "Near :l:\n"
	    "Pattern INBOX # comment\n"
	    "Pattern \"Lists/%\" \"!Lists/Spam\"\n";
	struct err e = { 0 };
	struct cfg *c;
	const struct cfg_account *a;
	struct cfg_channel *ch;
	int rc;
	char *out = convert(rc_text, &rc, &e);

	is_int(rc, 0, "lexing: converted");
	c = load(out);
	ok(c != NULL, "lexing: mailsync loads the result");
	a = account(c, "yes");
	if (ok(a != NULL, "lexing: an account named 'yes' stays a string")) {
		is_str(a->host, "imap.example.org", "lexing: CRLF, blanks and "
		    "a trailing comment");
		is_str(a->user, "a#b", "lexing: '#' inside a value is kept");
		is_str(a->password, "p\"q\\r s", "lexing: quotes and "
		    "backslash escapes");
	}
	ch = c ? cfg_channel_find(c, "null") : NULL;
	if (ok(ch != NULL, "lexing: a channel named 'null' stays a string")) {
		is_str(ch->maildir, "/srv/mail/j\xc3\x9crgen",
		    "lexing: Latin-1 path written as UTF-8");
		is_int((long long)ch->folders.n, 3, "lexing: Pattern lines add "
		    "up");
		is_str(ch->folders.n > 2 ? ch->folders.v[2] : NULL,
		    "!Lists/Spam", "lexing: the last pattern");
	}
	has(out, "# IMAPStore r: Frobnicate on: not an mbsync option known",
	    "lexing: unknown option in a section noted, not fatal");
	cfg_free(&c);
	free(out);
}

/* ---- errors ---- */

static void
test_errors(void)
{
	static const char store_rc[] =
	    "IMAPAccount a\nHost h.example\nUser u\nPass p\n\n"
	    "IMAPStore r\nAccount a\n\nMaildirStore l\nPath /tmp/m/\n\n";
	static const struct {
		const char *text;
		const char *want;	/* after "PATH:" */
	} cases[] = {
		{ "Hots imap.example.org\n",
		    "12: unknown section keyword 'Hots'" },
		{ "# a comment\n\nIMAPAccount z\nHost h\n\nUser u\n",
		    "17: unknown section keyword 'User'" },
		{ "Channel c\nFar :nosuch:\nNear :l:\n",
		    "13: unknown store 'nosuch'" },
		{ "Channel c\nFar :r:\nNear l\n",
		    "14: malformed mailbox spec 'l' (':store:' or "
		    "':store:mailbox')" },
		{ "Channel c\nFar :r:\n\n",
		    "12: Channel 'c' has no Near (Slave) store" },
		{ "Channel c\nNear :l:\n",
		    "12: Channel 'c' has no Far (Master) store" },
		{ "Channel c\nFar :r:\nNear :l:\nSync Pull Sideways\n",
		    "15: invalid Sync arg 'Sideways'" },
		{ "Channel c\nFar :r:\nNear :l:\nCreate Sometimes\n",
		    "15: invalid Create arg 'Sometimes'" },
		{ "Channel c\nFar :r:\nNear :l:\nMaxSize 10q\n",
		    "15: invalid size '10q' for 'MaxSize'" },
		{ "IMAPAccount b\nHost h\nUser u\nPassCmd \"pass show\n",
		    "15: missing closing quote" },
		{ "IMAPAccount b\nHost h\nUser u\nPassCmd pass show mail\n",
		    "15: excess token 'show' after 'PassCmd pass' (quote values "
		    "that contain spaces)" },
		{ "IMAPAccount b\nPass secret\\",
		    "13: unterminated escape sequence" },
		{ "IMAPAccount b\nPort 99999\n",
		    "13: 'Port' must be an integer between 1 and 65535, not "
		    "'99999'" },
		{ "IMAPAccount b\nHost\n", "13: missing value for 'Host'" },
		{ "IMAPAccount b\nUseKeychain maybe\n",
		    "13: invalid boolean value 'maybe' for 'UseKeychain'" },
		{ "IMAPAccount b\nTLSType SSL\n",
		    "13: invalid TLSType 'SSL' (None, STARTTLS or IMAPS)" },
		{ "IMAPAccount a\n", "12: duplicate IMAPAccount 'a'" },
		{ "MaildirStore r\n", "12: duplicate store 'r'" },
		{ "IMAPStore r2\nAccount nosuch\n",
		    "13: unknown IMAP account 'nosuch'" },
		{ "IMAPStore r2\nAccount a\nHost h\n",
		    "14: IMAPStore 'r2' has both Account and account options" },
		{ "IMAPStore r2\nHost h\nAccount a\n",
		    "14: IMAPStore 'r2' has both Account and account options" },
		{ "IMAPStore r2\nPath x/\n\n",
		    "12: IMAPStore 'r2' has neither Account nor Host" },
		{ "MaildirStore l2\nSubFolders Flat\n",
		    "13: invalid SubFolders style 'Flat' (Verbatim, Maildir++ "
		    "or Legacy)" },
		{ "Channel c\nFar :r:\nNear :l:\n\nChannel c\n",
		    "16: duplicate Channel 'c'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct err e = { 0 };
		char *text = xasprintf("%s%s", store_rc, cases[i].text);
		char *out, *want;
		int rc;

		out = convert(text, &rc, &e);
		want = xasprintf("%s:%s", rc_path, cases[i].want);
		is_str(e.msg, want, "error: %s", cases[i].want);
		ok(rc == -1 && e.code == ERR_CONFIG && out && out[0] == '\0',
		    "error: ERR_CONFIG and nothing written");
		free(want);
		free(out);
		free(text);
	}

	{
		struct err e = { 0 };
		char *missing = xasprintf("%s/no-such-file", tmpdir);
		char *want = xasprintf("cannot read %s: No such file or "
		    "directory", missing);
		int rc = mbsyncrc_convert(missing, stdout, &e);

		is_int(rc, -1, "missing file fails");
		is_str(e.msg, want, "missing file: message names it");
		is_int(e.code, ERR_CONFIG, "missing file: ERR_CONFIG");
		free(want);
		free(missing);
	}
}

int
main(void)
{
	char *cfg_path;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-mbsyncrc.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setenv("HOME", tmpdir, 1);
	unsetenv("XDG_STATE_HOME");

	test_mutt_wizard();
	test_arch_gmail();
	test_multi();
	test_inline_keychain_swapped();
	test_sync();
	test_lexing();
	test_errors();

	free(rc_path);
	cfg_path = xasprintf("%s/config.yaml", tmpdir);
	unlink(cfg_path);
	free(cfg_path);
	rc_path = xasprintf("%s/mbsyncrc", tmpdir);
	unlink(rc_path);
	free(rc_path);
	rmdir(tmpdir);
	return done_testing();
}
