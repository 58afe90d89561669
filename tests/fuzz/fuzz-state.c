/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: the state record decoders on any bytes. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "state_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state_folder f;
	struct state_pair p;
	struct state_intent in;
	struct flag_log *log;
	struct err e = { 0 };

	/* every decoder sees every input: a record of one kind must be
	 * refused by the others, never misread */
	memset(&f, 0xa5, sizeof(f));
	if (state_decode_folder(data, size, &f, &e) < 0 &&
	    (e.code != ERR_FAIL || strncmp(e.msg, "corrupt record: ", 16)))
		abort();
	err_clear(&e);
	if (state_decode_pair(data, size, &p, &e) == 0) {
		if (p.name != NULL && strlen(p.name) > size)
			abort();
		state_pair_free(&p);
	} else if (e.code != ERR_FAIL || p.name != NULL || p.msgid != NULL ||
	    p.flags.kw != NULL) {
		abort();	/* failure leaves out zeroed */
	}
	err_clear(&e);
	if (state_decode_intent(data, size, &in, &e) == 0) {
		if (in.kind != STATE_INTENT_DOWNLOAD &&
		    in.kind != STATE_INTENT_UPLOAD)
			abort();
		state_intent_free(&in);
	} else if (e.code != ERR_FAIL || in.name != NULL ||
	    in.msgid != NULL || in.flags.kw != NULL) {
		abort();
	}
	/* a flag log read is one with its pair ids ascending */
	log = xcalloc(1, sizeof(*log));
	if (rec_log_decode(data, size, log) == NULL)
		for (size_t i = 0; i < log->n; i++)
			if (log->v[i].id == 0 ||
			    (i > 0 && log->v[i].id <= log->v[i - 1].id))
				abort();
	flag_log_free(log);
	return 0;
}
