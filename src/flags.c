/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Message flags: conversions between IMAP names and Maildir letters. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flags.h"
#include "util.h"

static const struct {
	unsigned bit;
	char letter;
	const char *imap;
} flag_table[] = {
	{ FLAG_DRAFT, 'D', "\\Draft" },
	{ FLAG_FLAGGED, 'F', "\\Flagged" },
	{ FLAG_FORWARDED, 'P', "$Forwarded" },
	{ FLAG_ANSWERED, 'R', "\\Answered" },
	{ FLAG_SEEN, 'S', "\\Seen" },
	{ FLAG_DELETED, 'T', "\\Deleted" },
};
#define NFLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

void
flags_free(struct flags *f)
{
	free(f->kw);
	f->kw = NULL;
	f->bits = 0;
}

void
flags_copy(struct flags *dst, const struct flags *src)
{
	char *kw = src->kw && *src->kw ? xstrdup(src->kw) : NULL;

	free(dst->kw);
	dst->bits = src->bits;
	dst->kw = kw;
}

static const char *
kw_or_empty(const char *kw)
{
	return kw ? kw : "";
}

bool
flags_equal(const struct flags *a, const struct flags *b)
{
	return a->bits == b->bits &&
	    strcmp(kw_or_empty(a->kw), kw_or_empty(b->kw)) == 0;
}

void
flags_bits_to_maildir(unsigned bits, char out[7])
{
	size_t n = 0;

	for (size_t i = 0; i < NFLAGS; i++)
		if (bits & flag_table[i].bit)
			out[n++] = flag_table[i].letter;
	out[n] = '\0';
}

unsigned
flags_bits_from_maildir(const char *letters)
{
	unsigned bits = 0;

	for (const char *p = letters; *p; p++)
		for (size_t i = 0; i < NFLAGS; i++)
			if (*p == flag_table[i].letter)
				bits |= flag_table[i].bit;
	return bits;
}

unsigned
flags_bit_from_imap(const char *name)
{
	for (size_t i = 0; i < NFLAGS; i++)
		if (strcasecmp(name, flag_table[i].imap) == 0)
			return flag_table[i].bit;
	return 0;
}

const char *
flags_bit_to_imap(unsigned bit)
{
	for (size_t i = 0; i < NFLAGS; i++)
		if (bit == flag_table[i].bit)
			return flag_table[i].imap;
	return NULL;
}

bool
flags_keyword_valid(const char *kw)
{
	size_t n = strlen(kw);

	if (n == 0 || n > 64 || kw[0] == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)kw; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	return true;
}

static void
kw_split(const char *kw, struct strv *out)
{
	const char *p = kw_or_empty(kw);

	while (*p) {
		const char *e;

		while (*p == ' ')
			p++;
		e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p)
			strv_add_owned(out, xstrndup(p, (size_t)(e - p)));
		p = e;
	}
}

static char *
kw_join(struct strv *v)
{
	struct buf b = { 0 };

	strv_sort(v);
	for (size_t i = 0; i < v->n; i++) {
		if (!flags_keyword_valid(v->v[i]))
			continue;
		if (i > 0 && strcmp(v->v[i], v->v[i - 1]) == 0)
			continue;
		if (b.len)
			buf_addc(&b, ' ');
		buf_adds(&b, v->v[i]);
	}
	strv_free(v);
	return b.data;	/* NULL when empty */
}

void
flags_kw_normalize(char **kw)
{
	struct strv v = { 0 };

	kw_split(*kw, &v);
	free(*kw);
	*kw = kw_join(&v);
}

void
flags_kw_add(char **kw, const char *word)
{
	struct strv v = { 0 };

	kw_split(*kw, &v);
	strv_add(&v, word);
	free(*kw);
	*kw = kw_join(&v);
}

char *
flags_kw_minus(const char *a, const char *b)
{
	struct strv va = { 0 }, vb = { 0 }, out = { 0 };

	kw_split(a, &va);
	kw_split(b, &vb);
	for (size_t i = 0; i < va.n; i++)
		if (!strv_contains(&vb, va.v[i]))
			strv_add(&out, va.v[i]);
	strv_free(&va);
	strv_free(&vb);
	return kw_join(&out);
}

char *
flags_kw_union(const char *a, const char *b)
{
	struct strv v = { 0 };

	kw_split(a, &v);
	kw_split(b, &v);
	return kw_join(&v);
}

void
flags_merge(struct flags *out, const struct flags *base,
    const struct flags *remote, const struct flags *local)
{
	unsigned cr = remote->bits ^ base->bits;
	unsigned cl = local->bits ^ base->bits;
	char *radd = flags_kw_minus(remote->kw, base->kw);
	char *rdel = flags_kw_minus(base->kw, remote->kw);
	char *ladd = flags_kw_minus(local->kw, base->kw);
	char *ldel = flags_kw_minus(base->kw, local->kw);
	char *added = flags_kw_union(radd, ladd);
	char *removed = flags_kw_union(rdel, ldel);
	char *kept = flags_kw_minus(base->kw, removed);

	free(out->kw);
	out->bits = (base->bits & ~(cr | cl)) | (remote->bits & cr) |
	    (local->bits & cl);
	out->kw = flags_kw_union(kept, added);
	free(radd);
	free(rdel);
	free(ladd);
	free(ldel);
	free(added);
	free(removed);
	free(kept);
}

void
flags_diff_text(const struct flags *from, const struct flags *to, char *out,
    size_t outsz)
{
	struct buf b = { 0 };
	char *add, *del;
	char letters[7];

	flags_bits_to_maildir(to->bits & ~from->bits, letters);
	if (*letters)
		buf_printf(&b, "+%s", letters);
	flags_bits_to_maildir(from->bits & ~to->bits, letters);
	if (*letters)
		buf_printf(&b, "%s-%s", b.len ? " " : "", letters);
	add = flags_kw_minus(to->kw, from->kw);
	del = flags_kw_minus(from->kw, to->kw);
	if (add)
		buf_printf(&b, "%s+[%s]", b.len ? " " : "", add);
	if (del)
		buf_printf(&b, "%s-[%s]", b.len ? " " : "", del);
	snprintf(out, outsz, "%s", b.data ? b.data : "");
	free(add);
	free(del);
	buf_free(&b);
}
