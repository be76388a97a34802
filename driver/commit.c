// SPDX-License-Identifier: Apache-2.0
// Batch commit per sink kind: files (directory rename), print (Spark-style output).
#include "driver/commit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/layout.h"
#include "common/log.h"
#include "common/rpc.h"

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
	char        tmp[4096], final[4096];
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
			snprintf(
			    errbuf, errlen, "files sink: replace %s: %s", final, strerror(errno));
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
	bool   more = false;
	fprintf(out,
	    "-------------------------------------------\n"
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
	case RL_SINK_KAFKA:
		return RL_OK; // at least once: every task flushed its records
	default:
		snprintf(errbuf, errlen, "sink kind %d is not supported by this version",
		    (int)job->j_sink.k_kind);
		return RL_ERR_NOTSUP;
	}
}

// ---- exactly-once Kafka sink ----

size_t
rl_commit_kafka_finish(rl_pool *pool, const rl_job *job, int64_t batch_ms, uint32_t stage,
    const rl_sched_task *tasks, size_t n, bool commit, bool *failed)
{
	size_t    nfailed = 0;
	uint32_t *parts = rl_calloc(n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		failed[i] = tasks[i].t_result != NULL; // until an executor says otherwise
	// One request per executor, for all the partitions it holds.
	for (size_t i = 0; i < n; i++) {
		int e = tasks[i].t_exec;
		if (tasks[i].t_result == NULL || e < 0)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= tasks[k].t_result != NULL && tasks[k].t_exec == e;
		if (seen)
			continue;
		size_t np = 0;
		for (size_t k = i; k < n; k++)
			if (tasks[k].t_result != NULL && tasks[k].t_exec == e)
				parts[np++] = tasks[k].t_launch->partition;
		Rill__SinkFinish f = RILL__SINK_FINISH__INIT;
		f.job = job->j_name;
		f.batch_time_ms = batch_ms;
		f.stage = stage;
		f.partitions = parts;
		f.n_partitions = np;
		f.commit = commit;
		Rill__Envelope env = RILL__ENVELOPE__INIT;
		env.body_case = RILL__ENVELOPE__BODY_SINK_FINISH;
		env.sink_finish = &f;
		rl_msg *reply = NULL;
		char    why[512], id[RL_POOL_ID_MAX] = "?";
		if (rl_pool_call(pool, e, &env, 60000, &reply, why, sizeof(why)) != RL_OK
		    || reply->m_env->body_case != RILL__ENVELOPE__BODY_SINK_FINISHED) {
			rl_pool_exec_id(pool, e, id, sizeof(id));
			rl_warn("driver", "cannot finish sink transactions",
			    "batch_ms=%" PRId64 " executor=%s commit=%d", batch_ms, id, commit);
			rl_msg_free(reply);
			continue;
		}
		const Rill__SinkFinished *done = reply->m_env->sink_finished;
		for (size_t r = 0; r < done->n_results; r++)
			for (size_t k = i; k < n; k++)
				if (tasks[k].t_exec == e
				    && tasks[k].t_launch->partition == done->results[r]->partition)
					failed[k] = !done->results[r]->ok;
		rl_msg_free(reply);
	}
	for (size_t i = 0; i < n; i++)
		nfailed += failed[i];
	rl_free(parts);
	return nfailed;
}

rl_err
rl_commit_kafka_committed(rl_kafka_meta *sink_meta, const rl_job *job, uint32_t partition,
    int64_t batch_ms, bool *ret, char *errbuf, size_t errlen)
{
	char group[256];
	rl_kafka_sink_txn_id(job->j_name, partition, group, sizeof(group));
	rl_tp   marker = { job->j_sink.k_topic, 0 };
	int64_t offset;
	rl_err  rv
	    = rl_kafka_group_offsets(sink_meta, group, &marker, 1, 10000, &offset, errbuf, errlen);
	if (rv == RL_OK)
		*ret = offset >= batch_ms;
	return rv;
}
