/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The configuration's YAML as a tree of nodes that know their position;
 * libyaml is used only here. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "cfg_priv.h"

/* A hostile or broken file must not exhaust the stack of the builder. */
#define CFG_MAX_DEPTH 32

int
cfg_at(struct ctx *x, const struct ynode *n, const char *fmt, ...)
{
	char msg[sizeof(x->e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(x->e, ERR_CONFIG, "%s:%lu:%lu: %s", x->path,
	    n ? n->line : 1, n ? n->col : 1, msg);
}

void
cfg_ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		cfg_ynode_free(n->kids[i]);
	free(n->kids);
	if (n->value) {
		/* scalars include any password */
		explicit_bzero(n->value, n->len);
		free(n->value);
	}
	free(n);
}

static struct ynode *
ynode_new(enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (unsigned long)mark->line + 1;
	n->col = (unsigned long)mark->column + 1;
	return n;
}

static void
ynode_add(struct ynode *n, struct ynode *kid)
{
	xgrow(&n->kids, &n->cap, n->nkids + 1, sizeof(*n->kids));
	n->kids[n->nkids++] = kid;
}

static void
event_delete(yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value)
		explicit_bzero(ev->data.scalar.value, ev->data.scalar.length);
	yaml_event_delete(ev);
}

static void
mark_of_offset(const char *buf, size_t off, yaml_mark_t *mark)
{
	memset(mark, 0, sizeof(*mark));
	for (size_t i = 0; i < off && buf[i]; i++) {
		if (buf[i] == '\n') {
			mark->line++;
			mark->column = 0;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
			mark->column++;
	}
}

static int
next_event(struct ctx *x, yaml_parser_t *p, const char *buf, yaml_event_t *ev)
{
	struct ynode where = { 0 };
	yaml_mark_t mark;

	if (yaml_parser_parse(p, ev))
		return 0;
	if (p->error == YAML_MEMORY_ERROR) {
		fputs("mailsync: out of memory\n", stderr);
		abort();
	}
	/* libyaml leaves problem_mark unset for encoding errors */
	if (p->error == YAML_READER_ERROR)
		mark_of_offset(buf, p->problem_offset, &mark);
	else
		mark = p->problem_mark;
	where.line = (unsigned long)mark.line + 1;
	where.col = (unsigned long)mark.column + 1;
	return cfg_at(x, &where, "YAML syntax error: %s",
	    p->problem ? p->problem : "unknown problem");
}

static int
build_node(struct ctx *x, yaml_parser_t *p, const char *buf,
    yaml_event_t *ev, int depth, struct ynode **out)
{
	struct ynode *n = NULL;
	yaml_event_t kid;
	yaml_event_type_t end;

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = ynode_new(YN_SCALAR, &ev->start_mark);
		if (memchr(ev->data.scalar.value, '\0',
		    ev->data.scalar.length) != NULL) {
			cfg_at(x, n, "NUL character in a string");
			free(n);
			return -1;
		}
		n->value = xstrndup((const char *)ev->data.scalar.value,
		    ev->data.scalar.length);
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		*out = n;
		return 0;
	case YAML_ALIAS_EVENT:
		n = ynode_new(YN_SCALAR, &ev->start_mark);
		cfg_at(x, n, "YAML aliases are not supported");
		free(n);
		return -1;
	case YAML_SEQUENCE_START_EVENT:
		n = ynode_new(YN_SEQ, &ev->start_mark);
		end = YAML_SEQUENCE_END_EVENT;
		break;
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(YN_MAP, &ev->start_mark);
		end = YAML_MAPPING_END_EVENT;
		break;
	default:
		n = ynode_new(YN_SCALAR, &ev->start_mark);
		cfg_at(x, n, "YAML syntax error: unexpected event");
		free(n);
		return -1;
	}
	if (depth >= CFG_MAX_DEPTH) {
		cfg_at(x, n, "YAML nesting is too deep");
		cfg_ynode_free(n);
		return -1;
	}
	for (;;) {
		struct ynode *k;
		int rc;

		if (next_event(x, p, buf, &kid) == -1) {
			cfg_ynode_free(n);
			return -1;
		}
		if (kid.type == end) {
			event_delete(&kid);
			break;
		}
		rc = build_node(x, p, buf, &kid, depth + 1, &k);
		event_delete(&kid);
		if (rc == -1) {
			cfg_ynode_free(n);
			return -1;
		}
		ynode_add(n, k);
	}
	*out = n;
	return 0;
}

/* The first document of buf, or NULL for a stream without one. */
int
cfg_build_tree(struct ctx *x, const char *buf, size_t len, struct ynode **out)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *root = NULL;
	int rc = -1;

	*out = NULL;
	if (!yaml_parser_initialize(&p)) {
		fputs("mailsync: out of memory\n", stderr);
		abort();
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	event_delete(&ev);	/* STREAM-START */
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		event_delete(&ev);
		rc = 0;
		goto out;
	}
	event_delete(&ev);	/* DOCUMENT-START */
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	rc = build_node(x, &p, buf, &ev, 0, &root);
	event_delete(&ev);
	if (rc == -1)
		goto out;
	rc = -1;
	if (next_event(x, &p, buf, &ev) == -1)	/* DOCUMENT-END */
		goto out;
	event_delete(&ev);
	if (next_event(x, &p, buf, &ev) == -1)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		struct ynode where = { .line = ev.start_mark.line + 1,
		    .col = ev.start_mark.column + 1 };

		event_delete(&ev);
		cfg_at(x, &where, "only one YAML document is allowed");
		goto out;
	}
	event_delete(&ev);
	rc = 0;
out:
	yaml_parser_delete(&p);
	if (rc == 0)
		*out = root;
	else
		cfg_ynode_free(root);
	return rc;
}

bool
cfg_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n == NULL)
		return true;
	if (n->type != YN_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->value, nulls[i]) == 0)
			return true;
	return false;
}
