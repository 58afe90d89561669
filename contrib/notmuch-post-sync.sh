#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# An example post-sync hook: let notmuch index what mailsync changed.
# Install it, say as ~/.config/mailsync/notmuch-post-sync.sh (chmod +x), and
# name it in the configuration (mailsync.yaml(5), Hooks):
#   hooks:
#     post-sync: "~/.config/mailsync/notmuch-post-sync.sh"
# mailsync runs it after a sync that changed anything, with MAILSYNC_CHANNEL,
# MAILSYNC_NEW and MAILSYNC_CHANGED set; a hook still running after 60 s is
# killed, so the first indexing of a big tree is better done by hand.
set -eu

if ! command -v notmuch >/dev/null 2>&1; then
	echo "notmuch-post-sync: notmuch is not installed" >&2
	exit 1
fi
# notmuch finds new, renamed (moved, flags changed) and removed files itself.
notmuch new --quiet

# Tag the new arrivals of this channel, say "work" for the channel work.
# notmuch new gives new messages its new.tags (default: unread inbox).
if [ "${MAILSYNC_NEW:-0}" -gt 0 ] && [ -n "${MAILSYNC_CHANNEL:-}" ]; then
	notmuch tag +"$MAILSYNC_CHANNEL" -- tag:inbox and tag:unread and \
		not tag:"$MAILSYNC_CHANNEL" and date:1h..
fi
