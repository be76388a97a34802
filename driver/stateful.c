// SPDX-License-Identifier: Apache-2.0
// A job's stateful steps and the check that a batch log's state fits them.
#include "driver/stateful.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"

bool
rl_step_is_stateful(rl_op_kind kind)
{
	return kind == RL_OP_UPDATE_STATE_BY_KEY || kind == RL_OP_MAP_WITH_STATE
	    || kind == RL_OP_WINDOW || kind == RL_OP_REDUCE_BY_KEY_AND_WINDOW
	    || kind == RL_OP_COUNT_BY_WINDOW;
}

static bool
is_window(rl_op_kind kind)
{
	return kind == RL_OP_WINDOW || kind == RL_OP_REDUCE_BY_KEY_AND_WINDOW
	    || kind == RL_OP_COUNT_BY_WINDOW;
}

size_t
rl_stateful_steps(const rl_job *job, Rill__StatefulStep *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < job->j_nsteps && n < max; i++) {
		const rl_step *st = &job->j_steps[i];
		if (!rl_step_is_stateful(st->s_kind))
			continue;
		rill__stateful_step__init(&out[n]);
		out[n].index = (uint32_t)i;
		out[n].op = (char *)(uintptr_t)rl_op_name(st->s_kind);
		out[n].fn = (char *)(uintptr_t)rl_fn_name(st->s_fn);
		char shape[256];
		int  len = snprintf(shape, sizeof(shape),
		     "%s/%s/%s/%" PRId64 "/%" PRId64 "/%" PRId64, out[n].op, out[n].fn,
                    st->s_arg != NULL ? st->s_arg : "", st->s_num, st->s_length_ms, st->s_slide_ms);
		// A window's state also depends on whether it keeps a running sum
		// (the other steps' shapes stay as older logs recorded them).
		if (is_window(st->s_kind) && len > 0 && (size_t)len < sizeof(shape))
			len += snprintf(shape + len, sizeof(shape) - (size_t)len, "/inverse=%d",
			    st->s_inverse ? 1 : 0);
		// An event-time window keeps panes of event time, not batches
		// (batch-time shapes stay as older logs recorded them).
		if (is_window(st->s_kind) && st->s_event && len > 0 && (size_t)len < sizeof(shape))
			len += snprintf(shape + len, sizeof(shape) - (size_t)len, "/time=event");
		out[n].fingerprint = rl_hash64(shape, (size_t)len);
		out[n].line = st->s_loc.line;
		out[n].col = st->s_loc.col;
		n++;
	}
	return n;
}

rl_err
rl_state_fits(const rl_job *job, const Rill__BatchRecord *rec, const rl_state_store *store,
    char *errbuf, size_t errlen)
{
	Rill__StatefulStep now[RL_STATEFUL_MAX];
	size_t             n = rl_stateful_steps(job, now, RL_STATEFUL_MAX);
	const char        *what = store->what, *where = store->where, *fresh = store->fresh;
	for (size_t k = 0; k < n || k < rec->n_stateful_steps; k++) {
		const Rill__StatefulStep *was
		    = k < rec->n_stateful_steps ? rec->stateful_steps[k] : NULL;
		const Rill__StatefulStep *is = k < n ? &now[k] : NULL;
		if (was != NULL && is != NULL && was->fingerprint == is->fingerprint)
			continue;
		if (is == NULL)
			snprintf(errbuf, errlen,
			    "%s: the job no longer has the %s: %s (was at line %d) whose state is "
			    "in %s %s;"
			    " put the step back, or start the job with %s",
			    job->j_filename, was->op, was->fn, was->line, what, where, fresh);
		else if (was == NULL)
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s: %s is new, and %s %s was written without it; "
			    "start the"
			    " job with %s to add a stateful step",
			    job->j_filename, is->line, is->col, is->op, is->fn, what, where, fresh);
		else if (strcmp(was->op, is->op) == 0 && strcmp(was->fn, is->fn) == 0
		    && is_window(job->j_steps[is->index].s_kind))
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s: its length, slide, inverse or time differ from those of "
			    "the "
			    "window whose state is in %s %s (the state holds a partial per "
			    "batch of that length), and state cannot carry over to a changed "
			    "window; restore the window as it was, or start the job with %s",
			    job->j_filename, is->line, is->col, is->op, what, where, fresh);
		else
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s: %s differs from the %s: %s whose state is in %s "
			    "%s, and"
			    " state cannot carry over to a changed step; restore the step as it "
			    "was, or"
			    " start the job with %s",
			    job->j_filename, is->line, is->col, is->op, is->fn, was->op, was->fn,
			    what, where, fresh);
		return RL_ERR_INVAL;
	}
	if (n > 0 && job->j_shuffle_partitions > 0
	    && (uint32_t)job->j_shuffle_partitions != rec->shuffle_partitions) {
		snprintf(errbuf, errlen,
		    "%s: shuffle_partitions is %" PRId64 " but the state in %s %s is split %" PRIu32
		    " ways; keep shuffle_partitions: %" PRIu32 ", or start with %s",
		    job->j_filename, job->j_shuffle_partitions, what, where,
		    rec->shuffle_partitions, rec->shuffle_partitions, fresh);
		return RL_ERR_INVAL;
	}
	return RL_OK;
}
