/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A large message fetched in pieces, BODY.PEEK[]<offset.length> (RFC 3501
 * section 6.4.5), each handed on as it is parsed: libetpan reads a literal
 * whole into memory, so a 200 MB message fetched at once costs 200 MB.  In
 * pieces it costs one piece, and no message is too large for the limit on
 * a literal.
 *
 * The piece commands are pipelined: up to PIECES_AHEAD are asked before
 * the first answer is read, so the server sends without waiting for us as
 * it would for one FETCH.  Each piece is placed by its offset, not by the
 * command it answers: Dovecot sends the data of a later command before
 * the end of an earlier one, and a server may send pieces out of order
 * (those are held until their turn).  The listed size says how many
 * pieces to ask for; a server whose size was wrong is followed all the
 * same, since the message ends where a piece comes back short.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "imap_io.h"
#include "imap_priv.h"
#include "store.h"
#include "util.h"

#define PIECE_BYTES (1024u * 1024)
#define PIECES_AHEAD 8

/* A piece that came before its turn (a server may answer pipelined
 * commands in any order), held until then. */
struct held {
	uint64_t at;
	char *data;
	size_t len;
};

struct pieces {
	uint32_t uid;
	uint64_t at;		/* offset of the next piece to hand on */
	bool last;		/* a short piece came: the message ends */
	bool held_cr;		/* a CR ended the last piece, not yet given */
	struct held early[PIECES_AHEAD];
	size_t nearly;
	const char *bad;	/* what was wrong with the server's answer */
	char refused[300];	/* the server's NO to a piece, or "" */
	store_body_fn *fn;
	void *arg;
	size_t i;
};

/* Hand the piece at p->at on, in disk form: a CRLF cut between two
 * pieces is joined, so the CR that ends a piece waits for the next one. */
static void
piece_take(struct pieces *p, char *body, size_t len)
{
	p->last = len < PIECE_BYTES;
	p->at += len;
	if (p->held_cr && (len == 0 || body[0] != '\n'))
		p->fn(p->arg, p->i, "\r", 1, true, NULL);
	p->held_cr = len > 0 && body[len - 1] == '\r';
	if (p->held_cr)
		len--;
	if (len > 0)
		p->fn(p->arg, p->i, body, crlf_to_lf_in_place(body, len), true,
		    NULL);
}

/* The held piece that is next, if any, handed on. */
static bool
take_early(struct pieces *p)
{
	for (size_t k = 0; k < p->nearly; k++) {
		struct held h = p->early[k];

		if (h.at != p->at)
			continue;
		p->early[k] = p->early[--p->nearly];
		piece_take(p, h.data, h.len);
		free(h.data);
		return true;
	}
	return false;
}

static void
piece_handler(struct mailimap_msg_att *att, void *arg)
{
	struct pieces *p = arg;
	struct fetched f;
	char *body;

	imap_read_msg_att(att, &f);
	flags_free(&f.flags);
	/* unsolicited FETCH responses (flag news) carry no body; past the
	 * end come only empty pieces */
	if (!f.has_uid || f.uid != p->uid || !f.has_body || p->last ||
	    p->bad != NULL)
		return;
	body = (char *)(f.body != NULL ? f.body : "");
	if (f.body_len > PIECE_BYTES)
		p->bad = "the server sent more than the piece asked for";
	else if (f.body_origin == p->at) {
		piece_take(p, body, f.body_len);
		while (!p->last && take_early(p))
			;
	} else if (f.body_origin > p->at && f.body_origin % PIECE_BYTES == 0 &&
	    f.body_origin - p->at < (uint64_t)PIECES_AHEAD * PIECE_BYTES &&
	    p->nearly < PIECES_AHEAD - 1) {
		struct held *h = &p->early[p->nearly++];

		h->at = f.body_origin;
		h->len = f.body_len;
		h->data = xmalloc(f.body_len + 1);
		memcpy(h->data, body, f.body_len);
	} else
		p->bad = "the server sent a piece from the wrong offset";
}

/* Ask for the piece at offset; *tag gets the command's tag number. */
static int
piece_ask(struct imap_store *s, uint32_t uid, uint64_t offset, int *tag)
{
	char cmd[96];
	int r;

	snprintf(cmd, sizeof(cmd), "%" PRIu32 " (BODY.PEEK[]<%" PRIu64 ".%u>)",
	    uid, offset, PIECE_BYTES);
	r = imap_cmd_begin(s->imap, "UID FETCH ");
	*tag = s->imap->imap_tag;
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, cmd, strlen(cmd));
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_add(s->imap, "\r\n", 2);
	return r;
}

/* Read the answer to the command tagged tag (libetpan checks the tag of
 * a reply against the last one it sent). */
static int
piece_read(struct imap_store *s, int tag)
{
	int last = s->imap->imap_tag, r;

	s->imap->imap_tag = tag;
	r = imap_cmd_flush_read(s->imap);
	if (r == MAILIMAP_NO_ERROR)
		r = imap_cmd_parse(s->imap);
	s->imap->imap_tag = last;
	return r;
}

int
imap_fetch_pieces(struct imap_store *s, const struct msg *m, size_t i,
    store_body_fn *fn, void *arg, struct err *e)
{
	struct pieces p = { .uid = m->uid, .fn = fn, .arg = arg, .i = i };
	int tags[PIECES_AHEAD];
	size_t head = 0, count = 0;	/* asked, not yet read: a ring */
	uint64_t next = 0;		/* offset of the next piece to ask */
	struct err fe = { 0 };
	char what[300];
	int r = MAILIMAP_NO_ERROR, rc = 0;

	snprintf(what, sizeof(what), "FETCH %s UID %u (in pieces)",
	    s->sel_name ? s->sel_name : "", m->uid);
	if (imap_check_selected(s, "FETCH", &fe) < 0) {
		fn(arg, i, NULL, 0, false, &fe);
		*e = fe;
		return -1;
	}
	imap_each_message(s, piece_handler, &p);
	for (;;) {
		bool stop = p.last || p.bad != NULL || *p.refused != '\0';

		/* ahead up to the listed size; past it, one at a time as
		 * long as every piece asked came whole */
		while (r == MAILIMAP_NO_ERROR && !stop &&
		    count < PIECES_AHEAD &&
		    (count == 0 ? p.at == next : next <= m->size)) {
			r = piece_ask(s, m->uid, next,
			    &tags[(head + count) % PIECES_AHEAD]);
			if (r == MAILIMAP_NO_ERROR) {
				count++;
				next += PIECE_BYTES;
			}
		}
		if (r != MAILIMAP_NO_ERROR || count == 0)
			break;
		r = piece_read(s, tags[head]);
		head = (head + 1) % PIECES_AHEAD;
		count--;
		if (r == MAILIMAP_ERROR_CUSTOM_COMMAND) {
			/* a NO: the pieces still asked are only read */
			if (*p.refused == '\0')
				snprintf(p.refused, sizeof(p.refused), "%s",
				    imap_server_text(s));
			r = MAILIMAP_NO_ERROR;
		}
	}
	imap_each_message(s, NULL, NULL);
	for (size_t k = 0; k < p.nearly; k++)
		free(p.early[k].data);
	if (r != MAILIMAP_NO_ERROR) {
		rc = imap_fail(s, r, what, e);
		/* answers still on their way would be read as the next
		 * command's */
		if (count > 0 && !s->broken)
			imap_set_broken(s, ERR_FAIL, what, "the answers to "
			    "pieces asked were left unread", NULL);
		fe = *e;
	} else if (*p.refused != '\0')
		err_set(&fe, ERR_FAIL, "%s: %s: %s", s->label, what,
		    p.refused);
	else if (p.bad != NULL)
		err_set(&fe, ERR_FAIL, "%s: %s: %s (protocol error)", s->label,
		    what, p.bad);
	else if (!p.last)
		err_set(&fe, ERR_FAIL, "%s: %s: the server returned no such "
		    "message%s", s->label, what, p.at > 0 ?
		    " part way through" : "");
	if (fe.code != ERR_OK)
		fn(arg, i, NULL, 0, false, &fe);
	else
		fn(arg, i, "\r", p.held_cr ? 1 : 0, false, NULL);
	return rc;
}
