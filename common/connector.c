// SPDX-License-Identifier: Apache-2.0
// The connector names of a parsed job.
#include "common/connector.h"

const char *
rl_job_source_kind(const rl_job *job)
{
	(void)job;
	return "kafka"; // the one source kind the job grammar has
}

const char *
rl_job_sink_kind(const rl_job *job)
{
	switch (job->j_sink.k_kind) {
	case RL_SINK_FILES:
		return "files";
	case RL_SINK_PRINT:
		return "print";
	case RL_SINK_KAFKA:
		return "kafka";
	}
	return "unknown";
}
