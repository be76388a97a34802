// SPDX-License-Identifier: Apache-2.0
// The job file's `pipeline:` grammar: each operator's argument and the functions it accepts.
#ifndef RL_OPERATORS_H
#define RL_OPERATORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/jobfile.h"
#include "common/yaml.h"

// rl_pipeline_parse reads f, a non-empty list of steps (SPEC.md "Job file"),
// each one operator and its argument. batch_ms is the job's batch interval:
// window lengths and slides are multiples of it. On success *ret_steps holds
// *ret_n steps and is the caller's (rl_steps_free); on error nothing is
// written and the message is in eb.
rl_err rl_pipeline_parse(const rl_yaml_field *f, int64_t batch_ms, rl_step **ret_steps,
    size_t *ret_n, rl_yaml_errbuf *eb);

// rl_steps_free frees n steps and everything they own; NULL is a no-op.
void rl_steps_free(rl_step *steps, size_t n);

#endif
