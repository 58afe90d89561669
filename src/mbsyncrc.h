/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Conversion of an isync/mbsync configuration into a mailsync YAML config. */
#ifndef MAILSYNC_MBSYNCRC_H
#define MAILSYNC_MBSYNCRC_H

#include <stdio.h>

#include "err.h"

/*
 * Read the mbsync configuration at path (IMAPAccount, IMAPStore,
 * MaildirStore, Channel and Group sections, global options; mbsync's
 * quoting and escaping rules) and write an equivalent mailsync
 * configuration (mailsync.yaml(5)) to out, one that cfg_load() accepts.
 *
 * Options without an equivalent, and the choices made where the two differ,
 * become YAML comments that give the reason.  An account or channel that
 * cannot be expressed at all (a Tunnel, two IMAP stores, a folder renamed
 * between the sides, a server-side Path prefix) is written commented out,
 * preceded by the reason.  Nothing is contacted and no file is written.
 *
 * Errors: what mbsync itself would reject (an unknown section keyword, a
 * Channel naming an unknown store, a bad value, a missing quote) is
 * ERR_CONFIG "PATH:LINE: message"; an unreadable file is ERR_CONFIG too.
 * On error nothing is written to out.  A failed write is ERR_FAIL.
 */
int mbsyncrc_convert(const char *path, FILE *out, struct err *e);

#endif
