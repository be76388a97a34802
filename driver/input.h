// SPDX-License-Identifier: Apache-2.0
// The job's input as the batch loop sees it, whatever its source: which
// splits exist, where each one continues, where it ends now, and the
// progress committed outside the checkpoint. The source's driver half
// (driver/source.h) answers the questions; this module keeps the positions.
#ifndef RL_INPUT_H
#define RL_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "common/error.h"
#include "common/jobfile.h"
#include "driver/source.h"

typedef struct rl_input_part {
	char    *ip_id; // the split's id
	uint8_t *ip_opaque; // the connector's bytes about it, or NULL
	size_t   ip_opaque_len;
	int64_t  ip_next; // where the next batch's range starts
	int64_t  ip_latest; // latest position at the last refresh
	int64_t  ip_target; // available-now end, or -1
	int      ip_preferred; // executor that read it last (its reader is warm), or -1
	int64_t  ip_committed; // position rl_input_commit last recorded (-1: none this run)
	uint32_t ip_input; // the input it belongs to (0: the job's source; k: the k-th union's or
	                   // join's)
} rl_input_part;

typedef struct rl_input rl_input;

// rl_input_create opens the job's source (its driver half, found by name)
// and finds its splits (not yet positioned). An unknown input is
// RL_ERR_NOENT naming it. job is borrowed and outlives the input.
rl_err rl_input_create(const rl_job *job, rl_input **ret, char *errbuf, size_t errlen);
// rl_input_create_inputs opens several inputs, input k as jobs[k] says
// (its j_source; see rl_plan_input.pi_job): their splits come one input
// after the other, each input's together.
rl_err rl_input_create_inputs(
    const rl_job *const *jobs, size_t njobs, rl_input **ret, char *errbuf, size_t errlen);
void rl_input_destroy(rl_input *in);

// rl_input_kind is the source connector's name ("kafka").
const char *rl_input_connector(const rl_input *in);
// rl_input_limits gives the source's rate and data-loss settings.
const rl_source_limits *rl_input_limits(const rl_input *in);
// The same of input k; the number of inputs.
const char             *rl_input_member_connector(const rl_input *in, uint32_t input);
const rl_source_limits *rl_input_member_limits(const rl_input *in, uint32_t input);
size_t                  rl_input_members(const rl_input *in);

// rl_input_start positions every split. With a checkpoint record: where it
// says (a done batch's untils; the froms of a batch to run again); splits it
// does not know start at their earliest position. Without one: where the
// source's starting policy says (Kafka: starting_offsets).
rl_err rl_input_start(rl_input *in, const Rill__BatchRecord *ckp, char *errbuf, size_t errlen);

// rl_input_refresh reads every split's latest position, and every 10 s
// looks for new splits (they start at their earliest position).
rl_err rl_input_refresh(rl_input *in, char *errbuf, size_t errlen);

// rl_input_set_targets fixes the available-now end of every split at its
// latest position (call after a refresh).
void rl_input_set_targets(rl_input *in);

// rl_input_earliest writes every split's earliest position into ret[] (in
// rl_input_parts order).
rl_err rl_input_earliest(rl_input *in, int64_t *ret, char *errbuf, size_t errlen);

// rl_input_commit records the position of every split that moved since it
// last did (all of them the first time) outside the checkpoint (Kafka: the
// job's consumer group, if it has one).
rl_err rl_input_commit(rl_input *in, char *errbuf, size_t errlen);

// rl_input_describe writes split i as logfmt pairs for a log line.
void rl_input_describe(rl_input *in, size_t i, char *buf, size_t len);

// rl_input_generation changes whenever a discovery changes the splits or
// their order (an index in rl_input_parts then may name another split).
uint64_t rl_input_generation(const rl_input *in);
// rl_input_parts gives the splits, in the source's stable order.
rl_input_part *rl_input_parts(rl_input *in, size_t *ret_count);
// rl_input_find returns the index of the split (kind, id) of the job's
// source, or -1; rl_input_find_in of input k's.
int rl_input_find(rl_input *in, const char *kind, const char *id);
int rl_input_find_in(rl_input *in, uint32_t input, const char *kind, const char *id);

#endif
