// SPDX-License-Identifier: Apache-2.0
// The connector names of a parsed job.
#include "common/connector.h"

const char *
rl_job_source_kind(const rl_job *job)
{
	return job->j_source.c_kind;
}

const char *
rl_job_sink_kind(const rl_job *job)
{
	return job->j_sink.c_kind;
}
