/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Large messages fetched in pieces, BODY.PEEK[]<offset.length> (RFC 3501
 * section 6.4.5), each handed on as it is parsed: libetpan reads a literal
 * whole into memory, so a 200 MB message fetched at once costs 200 MB.  In
 * pieces it costs one piece, and no message is too large for the limit on
 * a literal.
 *
 * The piece commands are pipelined, up to PIECES_AHEAD asked before the
 * first answer is read and on into the next message, so that the server
 * sends without waiting for us as it would for one FETCH.  Messages are
 * handed on one after the other, pieces in order.  Each piece is placed by
 * its UID and offset, not by the command it answers: Dovecot sends the
 * data of a later command before the tagged end of an earlier one, and a
 * piece that comes before its turn is held until then.  The listed size
 * says how many pieces to ask for; a server whose size was wrong is
 * followed all the same, since a message ends where a piece comes back
 * short.
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

/* One message, as its pieces are asked, come and are handed on. */
struct big {
	const struct msg *m;
	size_t i;		/* its index for fn */
	uint64_t asked;		/* offset of the next piece to ask for */
	uint64_t at;		/* offset of the next piece to hand on */
	size_t out;		/* commands asked for it, not yet answered */
	bool last;		/* a short piece came: it ends there */
	bool held_cr;		/* a CR ended the last piece, not yet given */
	bool over;		/* fn had its last call */
	const char *bad;	/* what was wrong with the server's answer */
	char *refused;		/* the server's NO to one of its pieces */
};

/* A piece that came before its turn, held until then. */
struct held {
	size_t k;
	uint64_t at;
	char *data;
	size_t len;
};

struct pieces {
	struct imap_store *s;
	struct big *v;
	size_t n;
	size_t cur;		/* the message being handed on */
	struct held early[PIECES_AHEAD];
	size_t nearly;
	store_body_fn *fn;
	void *arg;
};

/* Hand the next piece of v[cur] on, in disk form: a CRLF cut between two
 * pieces is joined, so the CR that ends a piece waits for the next one. */
static void
piece_take(struct pieces *p, char *body, size_t len)
{
	struct big *b = &p->v[p->cur];

	b->last = len < PIECE_BYTES;
	b->at += len;
	if (b->held_cr && (len == 0 || body[0] != '\n'))
		p->fn(p->arg, b->i, "\r", 1, true, NULL);
	b->held_cr = len > 0 && body[len - 1] == '\r';
	if (b->held_cr)
		len--;
	if (len > 0)
		p->fn(p->arg, b->i, body, crlf_to_lf_in_place(body, len), true,
		    NULL);
}

/* v[cur]'s next piece from those held, handed on; false: not there. */
static bool
take_early(struct pieces *p)
{
	for (size_t j = 0; j < p->nearly; j++) {
		struct held h = p->early[j];

		if (h.k != p->cur || h.at != p->v[p->cur].at)
			continue;
		p->early[j] = p->early[--p->nearly];
		piece_take(p, h.data, h.len);
		free(h.data);
		return true;
	}
	return false;
}

/* Tell fn that v[k] is complete, or why it failed (why NULL: complete);
 * what is held of it goes. */
static void
finish(struct pieces *p, size_t k, const struct err *why)
{
	struct big *b = &p->v[k];

	for (size_t j = 0; j < p->nearly;) {
		if (p->early[j].k != k) {
			j++;
			continue;
		}
		free(p->early[j].data);
		p->early[j] = p->early[--p->nearly];
	}
	if (b->over)
		return;
	b->over = true;
	if (why != NULL)
		p->fn(p->arg, b->i, NULL, 0, false, why);
	else
		p->fn(p->arg, b->i, "\r", b->held_cr ? 1 : 0, false, NULL);
}

/*
 * Whether v[k] is settled by what came: complete, or failed (its error in
 * *why) with nothing more worth asking.
 */
static bool
settled(struct pieces *p, size_t k, struct err *why)
{
	struct big *b = &p->v[k];
	const char *what = "FETCH (in pieces)";

	if (b->last)
		return true;
	if (b->bad != NULL) {
		err_set(why, ERR_FAIL, "%s: %s %s UID %u: %s (protocol error)",
		    p->s->label, what, p->s->sel_name, b->m->uid, b->bad);
		return true;
	}
	if (b->out > 0)
		return false;
	if (b->refused != NULL) {
		err_set(why, ERR_FAIL, "%s: %s %s UID %u: %s", p->s->label,
		    what, p->s->sel_name, b->m->uid, b->refused);
		return true;
	}
	/* all answered, short of the end: more to ask, or a piece missing */
	if (b->at == b->asked)
		return false;
	err_set(why, ERR_FAIL, "%s: %s %s UID %u: the server returned no such "
	    "message%s", p->s->label, what, p->s->sel_name, b->m->uid,
	    b->at > 0 ? " part way through" : "");
	return true;
}

/* Finish the messages at the head that are settled. */
static void
advance(struct pieces *p)
{
	while (p->cur < p->n) {
		struct err why = { 0 };

		while (!p->v[p->cur].last && take_early(p))
			;
		if (!settled(p, p->cur, &why))
			return;
		finish(p, p->cur, why.code != ERR_OK ? &why : NULL);
		p->cur++;
	}
}

static void
hold(struct pieces *p, size_t k, uint64_t at, const char *body, size_t len)
{
	struct held *h;

	if (p->nearly == PIECES_AHEAD) {
		p->v[k].bad = "the server sent pieces too far out of order";
		return;
	}
	h = &p->early[p->nearly++];
	h->k = k;
	h->at = at;
	h->len = len;
	h->data = xmalloc(len + 1);
	memcpy(h->data, body, len);
}

static void
piece_handler(struct mailimap_msg_att *att, void *arg)
{
	struct pieces *p = arg;
	struct fetched f;
	struct big *b;
	size_t k;
	char *body;

	imap_read_msg_att(att, &f);
	flags_free(&f.flags);
	/* unsolicited FETCH responses (flag news) carry no body */
	if (!f.has_uid || !f.has_body)
		return;
	for (k = p->cur; k < p->n; k++)
		if (p->v[k].m->uid == f.uid)
			break;
	if (k == p->n)
		return;
	b = &p->v[k];
	/* past the end come only empty pieces */
	if (b->over || b->last || b->bad != NULL)
		return;
	/* a literal longer than a piece was refused before it was read */
	body = (char *)(f.body != NULL ? f.body : "");
	if (f.body_origin % PIECE_BYTES != 0 || f.body_origin < b->at ||
	    f.body_origin >= b->asked)
		b->bad = "the server sent a piece from the wrong offset";
	else if (k == p->cur && f.body_origin == b->at)
		piece_take(p, body, f.body_len);
	else
		hold(p, k, f.body_origin, body, f.body_len);
	advance(p);
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

/*
 * The message whose piece to ask for next, or n: the first unsettled one
 * with pieces left within its listed size.  The one being handed on,
 * when everything asked for it came whole past that size (a size
 * understated), asks one piece at a time and alone, so that the pieces
 * of later messages held meanwhile stay fewer than PIECES_AHEAD.
 */
static size_t
next_to_ask(struct pieces *p)
{
	for (size_t k = p->cur; k < p->n; k++) {
		struct big *b = &p->v[k];

		if (b->last || b->bad != NULL || b->refused != NULL)
			continue;
		if (b->asked <= b->m->size)
			return k;
		if (k == p->cur && b->out == 0)
			return b->at == b->asked ? k : p->n;
	}
	return p->n;
}

int
imap_fetch_pieces(struct imap_store *s, struct msg **msgs, const size_t *idx,
    size_t n, store_body_fn *fn, void *arg, struct err *e)
{
	struct pieces p = { .s = s, .n = n, .fn = fn, .arg = arg };
	int tags[PIECES_AHEAD];
	size_t of[PIECES_AHEAD];	/* the message of each command */
	size_t head = 0, count = 0;	/* asked, not yet read: a ring */
	struct err fe = { 0 };
	char what[300];
	int r = MAILIMAP_NO_ERROR, rc = 0;

	if (n == 0)
		return 0;
	snprintf(what, sizeof(what), "FETCH %s (%zu messages in pieces)",
	    s->sel_name ? s->sel_name : "", n);
	if (imap_check_selected(s, "FETCH", &fe) < 0) {
		for (size_t k = 0; k < n; k++)
			fn(arg, idx[k], NULL, 0, false, &fe);
		*e = fe;
		return -1;
	}
	p.v = xcalloc(n, sizeof(*p.v));
	for (size_t k = 0; k < n; k++) {
		p.v[k].m = msgs[k];
		p.v[k].i = idx[k];
	}
	imap_each_message(s, piece_handler, &p);
	imap_io_literal_max(s->io, PIECE_BYTES);
	for (;;) {
		size_t k;

		advance(&p);
		while (count < PIECES_AHEAD && (k = next_to_ask(&p)) < n) {
			size_t slot = (head + count) % PIECES_AHEAD;

			r = piece_ask(s, msgs[k]->uid, p.v[k].asked,
			    &tags[slot]);
			if (r != MAILIMAP_NO_ERROR)
				break;
			of[slot] = k;
			p.v[k].asked += PIECE_BYTES;
			p.v[k].out++;
			count++;
		}
		if (r != MAILIMAP_NO_ERROR || count == 0)
			break;
		r = piece_read(s, tags[head]);
		k = of[head];
		head = (head + 1) % PIECES_AHEAD;
		count--;
		p.v[k].out--;
		if (r == MAILIMAP_ERROR_CUSTOM_COMMAND) {
			/* a NO: that message's other pieces are only read */
			if (p.v[k].refused == NULL)
				p.v[k].refused = xstrdup(imap_server_text(s));
			r = MAILIMAP_NO_ERROR;
		}
		if (r != MAILIMAP_NO_ERROR)
			break;
	}
	imap_each_message(s, NULL, NULL);
	imap_io_literal_max(s->io, 0);
	if (r != MAILIMAP_NO_ERROR) {
		rc = imap_fail(s, r, what, e);
		/* answers still on their way would be read as the next
		 * command's */
		if (count > 0 && !s->broken)
			imap_set_broken(s, ERR_FAIL, what, "the answers to "
			    "pieces asked were left unread", NULL);
		fe = *e;
	}
	/* what the loop left: only after a failed session */
	if (p.cur < n && fe.code == ERR_OK)
		err_set(&fe, ERR_FAIL, "%s: %s: the server's answers ended "
		    "early", s->label, what);
	for (size_t k = p.cur; k < n; k++)
		finish(&p, k, &fe);
	for (size_t j = 0; j < p.nearly; j++)
		free(p.early[j].data);
	for (size_t k = 0; k < n; k++)
		free(p.v[k].refused);
	free(p.v);
	return rc;
}
