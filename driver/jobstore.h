// SPDX-License-Identifier: Apache-2.0
// The cluster's submitted jobs in ZooKeeper: each job's spec and desired
// state, the artifacts they name, and a read-only view of each job's batch
// log. `rill submit/list/status/kill` write and read them; the driver
// daemons read them (docs/running.md, "The cluster's nodes").
#ifndef RL_JOBSTORE_H
#define RL_JOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "cluster.pb-c.h"
#include "common/error.h"
#include "common/sha256.h"
#include "common/zk.h"

// The JobSpec and Artifact formats this version writes (their `version`).
#define RL_JOBSPEC_VERSION 1
#define RL_ARTIFACT_VERSION 1
// An artifact's bytes go in children of this size (the last may be shorter),
// well below ZooKeeper's 1 MB limit on a request; at most RL_ARTIFACT_CHUNKS_MAX
// of them, named 0000 to 9999.
#define RL_ARTIFACT_CHUNK (512 * 1024)
#define RL_ARTIFACT_CHUNKS_MAX 10000

// What the cluster is asked to do with a job: /rill/jobs/<name>/desired
// holds its name, "run", "stop" or "stop-graceful".
typedef enum rl_desired {
	RL_DESIRED_RUN, // run the job (its leader resumes from the batch log)
	RL_DESIRED_STOP, // stop now; a batch in flight runs again at the next run
	RL_DESIRED_STOP_GRACEFUL, // finish the batch in flight, then stop
} rl_desired;

// rl_desired_name is "run", "stop" or "stop-graceful".
const char *rl_desired_name(rl_desired desired);
// rl_desired_parse reads a desired node's bytes (surrounding white space is
// ignored); false for anything else.
bool rl_desired_parse(const char *text, size_t len, rl_desired *ret);

// rl_jobstore_valid_name tells whether name is a job name ([a-z0-9-]{1,64}),
// safe to put in a path.
bool rl_jobstore_valid_name(const char *name);

// ---- artifacts: /rill/artifacts/<sha256> ----

// rl_jobstore_put_artifact stores data[0 .. len) under its SHA-256, written
// to sha: a parent node holding an Artifact (complete = false), its chunks
// as children, then every chunk read back and hashed, and only then the
// parent set complete. A complete artifact with that digest is not written
// again (*ret_written false); an incomplete one (a submit that died) is
// deleted and written anew. Errors: RL_ERR_INVAL for an artifact above
// RL_ARTIFACT_CHUNKS_MAX chunks, RL_ERR_IO when what was read back does not
// hash to sha, RL_ERR_EXISTS when another submit is writing it now;
// ZooKeeper's errors. @locality any thread
rl_err rl_jobstore_put_artifact(rl_zk *zk, const void *data, size_t len,
    char sha[RL_SHA256_HEX_LEN], bool *ret_written, char *errbuf, size_t errlen);

// rl_jobstore_get_artifact reads the complete artifact sha into *ret (free
// with rl_free), checking its size and digest. RL_ERR_NOENT when there is
// none or it is incomplete; RL_ERR_IO when its bytes do not match.
rl_err rl_jobstore_get_artifact(
    rl_zk *zk, const char *sha, unsigned char **ret, size_t *ret_len, char *errbuf, size_t errlen);

// ---- jobs: /rill/jobs/<name>/spec and /desired ----

// rl_jobstore_get_spec reads job's spec (free with rill__job_spec__free_unpacked)
// and its node's version (may be NULL). RL_ERR_NOENT: no such job;
// RL_ERR_PARSE: the node does not hold a JobSpec this version reads.
rl_err rl_jobstore_get_spec(rl_zk *zk, const char *job, Rill__JobSpec **ret, int32_t *ret_version,
    char *errbuf, size_t errlen);

// rl_jobstore_put writes spec (its version field is set here) and desired
// in one multi-op: a new job when version is -1 (RL_ERR_EXISTS if one was
// submitted meanwhile), else an upgrade of the spec whose node version is
// version (RL_ERR_STALE_EPOCH if another submit changed it meanwhile).
// *ret_version (may be NULL) is the spec node's version after the write.
rl_err rl_jobstore_put(rl_zk *zk, const char *job, Rill__JobSpec *spec, int32_t version,
    rl_desired desired, int32_t *ret_version, char *errbuf, size_t errlen);

// rl_jobstore_set_desired sets job's desired state; RL_ERR_NOENT when the
// job has no spec (it was never submitted).
rl_err rl_jobstore_set_desired(
    rl_zk *zk, const char *job, rl_desired desired, char *errbuf, size_t errlen);

// rl_jobstore_get_desired reads job's desired state; RL_ERR_NOENT when
// there is none, RL_ERR_PARSE when the node holds something else.
rl_err rl_jobstore_get_desired(
    rl_zk *zk, const char *job, rl_desired *ret, char *errbuf, size_t errlen);

// rl_jobstore_jobs lists the submitted jobs (those with a spec), sorted;
// free with rl_zk_free_names. No /rill/jobs is an empty list.
rl_err rl_jobstore_jobs(rl_zk *zk, char ***ret, size_t *ret_count, char *errbuf, size_t errlen);

// ---- the batch log, read only: /rill/jobs/<name>/log/<T>.<phase> ----

// rl_jobstore_log reads up to max batches of job's log, newest first: each
// batch's most advanced valid record among the phases in mask (bit 1 <<
// RILL__BATCH_RECORD__PHASE__*); batches without one are passed over, and
// so are nodes that are not valid records (the log's writer warns about
// them). *ret (free with rl_jobstore_log_free) has *ret_count records. No
// log is an empty one.
rl_err rl_jobstore_log(rl_zk *zk, const char *job, unsigned mask, size_t max,
    Rill__BatchRecord ***ret, size_t *ret_count, char *errbuf, size_t errlen);
void   rl_jobstore_log_free(Rill__BatchRecord **recs, size_t count);

#endif
