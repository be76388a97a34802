// SPDX-License-Identifier: Apache-2.0
// Batch commit per sink kind: files (directory rename), print (Spark-style output).
#include "driver/commit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/layout.h"

rl_err
rl_commit_prepare(const rl_job *job, int64_t batch_ms, char *errbuf, size_t errlen)
{
	if (job->j_sink.k_kind != RL_SINK_FILES)
		return RL_OK;
	char tmp[4096];
	rl_files_batch_tmp_dir(job->j_sink.k_path, batch_ms, tmp, sizeof(tmp));
	if (rl_remove_tree(tmp) != 0 || rl_mkdir_p(tmp) != 0) {
		snprintf(errbuf, errlen, "files sink: cannot prepare %s: %s", tmp, strerror(errno));
		return RL_ERR_IO;
	}
	return RL_OK;
}

static rl_err
commit_files(const rl_job *job, int64_t batch_ms, char *errbuf, size_t errlen)
{
	const char *path = job->j_sink.k_path;
	char tmp[4096], final[4096];
	rl_files_batch_tmp_dir(path, batch_ms, tmp, sizeof(tmp));
	rl_files_batch_dir(path, batch_ms, final, sizeof(final));
	if (rl_fsync_dir(tmp) != 0) {
		snprintf(errbuf, errlen, "files sink: fsync %s: %s", tmp, strerror(errno));
		return RL_ERR_IO;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) != 0) {
		if (errno != EEXIST) {
			snprintf(errbuf, errlen, "files sink: rename %s: %s", tmp, strerror(errno));
			return RL_ERR_IO;
		}
		// A replayed batch: swap the new directory in, in one step, then
		// drop the old one (now under the temporary name).
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) != 0) {
			snprintf(errbuf, errlen, "files sink: replace %s: %s", final, strerror(errno));
			return RL_ERR_IO;
		}
		rl_remove_tree(tmp);
	}
	if (rl_fsync_dir(path) != 0) {
		snprintf(errbuf, errlen, "files sink: fsync %s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	return RL_OK;
}

static void
commit_print(const rl_job *job, int64_t batch_ms, const rl_sched_task *tasks, size_t n, FILE *out)
{
	size_t shown = 0;
	bool more = false;
	fprintf(out, "-------------------------------------------\n"
		     "Time: %" PRId64 " ms\n"
		     "-------------------------------------------\n",
	    batch_ms);
	for (size_t i = 0; i < n && !more; i++) {
		const Rill__TaskResult *res = tasks[i].t_result;
		for (size_t k = 0; res != NULL && k < res->n_sample; k++) {
			if (shown == (size_t)job->j_sink.k_num) {
				more = true;
				break;
			}
			fwrite(res->sample[k].data, 1, res->sample[k].len, out);
			fputc('\n', out);
			shown++;
		}
	}
	if (more)
		fputs("...\n", out);
	fputc('\n', out);
	fflush(out);
}

rl_err
rl_commit_batch(const rl_job *job, int64_t batch_ms, const rl_sched_task *tasks, size_t n,
    FILE *out, char *errbuf, size_t errlen)
{
	switch (job->j_sink.k_kind) {
	case RL_SINK_FILES:
		return commit_files(job, batch_ms, errbuf, errlen);
	case RL_SINK_PRINT:
		commit_print(job, batch_ms, tasks, n, out);
		return RL_OK;
	default:
		snprintf(errbuf, errlen, "sink kind %d is not supported by this version",
		    (int)job->j_sink.k_kind);
		return RL_ERR_NOTSUP;
	}
}
