// SPDX-License-Identifier: Apache-2.0
// `rill submit`: validate a job as `rill run` does, then store it (and its
// artifact) in ZooKeeper for the driver daemons; a resubmission is an upgrade.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cmdline.h"
#include "common/plan.h"
#include "common/secret.h"
#include "common/time.h"
#include "common/udf.h"
#include "driver/cli/cli.h"
#include "driver/jobstore.h"
#include "driver/stateful.h"

#define PROG "rill submit"

// check_upgrade refuses a job whose stateful steps cannot take over the
// state its batch log records (the check `rill run` makes on a checkpoint).
// *ret_newest is the newest batch in the log (0: none).
static int
check_upgrade(rl_zk *zk, const rl_job *job, int64_t *ret_newest)
{
	char                why[2048];
	Rill__BatchRecord **recs;
	size_t              n;
	unsigned            all = (1u << RILL__BATCH_RECORD__PHASE__PLANNED)
	    | (1u << RILL__BATCH_RECORD__PHASE__PREPARED) | (1u << RILL__BATCH_RECORD__PHASE__DONE);
	rl_err rv = rl_jobstore_log(zk, job->j_name, all, 1, &recs, &n, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, PROG ": reading the batch log of %s: %s\n", job->j_name, why);
		return RL_EXIT_FAILURE;
	}
	int code = RL_EXIT_OK;
	*ret_newest = 0;
	if (n > 0) {
		char where[128];
		snprintf(where, sizeof(where), "/rill/jobs/%s/log", job->j_name);
		const rl_state_store store = {
			.what = "batch log",
			.where = where,
			.fresh = "a new name",
		};
		*ret_newest = recs[0]->batch_time_ms;
		if (rl_state_fits(job, recs[0], &store, why, sizeof(why)) != RL_OK) {
			fprintf(stderr, PROG ": %s\n", why);
			code = RL_EXIT_FAILURE;
		}
	}
	rl_jobstore_log_free(recs, n);
	return code;
}

static int
submit(const char *connect, const rl_job *job, const char *artifact)
{
	void  *art = NULL;
	size_t art_len = 0;
	rl_zk *zk;
	char   why[2048];
	int    code = RL_EXIT_FAILURE;
	char   art_sha[RL_SHA256_HEX_LEN];
	// The job's user functions are checked against the artifact here, before
	// anything is stored: a name it lacks, a kind that does not fit or an
	// unknown ABI is refused as a bad job file is (the library is loaded
	// in this process to read its table). A job without any is not checked.
	if (rl_udf_artifact_for(job, artifact, &art, &art_len, art_sha, why, sizeof(why))
	    != RL_OK) {
		fprintf(stderr, PROG ": %s\n", why);
		return RL_EXIT_USAGE;
	}
	if (!rl_cli_zk_connect(PROG, connect, &zk))
		goto out_artifact;
	Rill__JobSpec *old = NULL;
	int32_t        version = -1;
	rl_err         rv = rl_jobstore_get_spec(zk, job->j_name, &old, &version, why, sizeof(why));
	if (rv != RL_OK && rv != RL_ERR_NOENT) {
		fprintf(stderr, PROG ": %s\n", why);
		goto out_zk;
	}
	if (old != NULL)
		rill__job_spec__free_unpacked(old, NULL);
	int64_t newest = 0;
	if (rv == RL_OK) { // an upgrade: the log's state must fit the new job
		if ((code = check_upgrade(zk, job, &newest)) != RL_EXIT_OK)
			goto out_zk;
		code = RL_EXIT_FAILURE;
	} else {
		version = -1;
	}
	char sha[RL_SHA256_HEX_LEN] = "";
	bool written = false;
	if (artifact != NULL
	    && (rv = rl_jobstore_put_artifact(zk, art, art_len, sha, &written, why, sizeof(why)))
	        != RL_OK) {
		fprintf(stderr, PROG ": artifact %s: %s\n", artifact, why);
		goto out_zk;
	}
	Rill__JobSpec spec = RILL__JOB_SPEC__INIT;
	spec.job_text.data = (uint8_t *)job->j_text;
	spec.job_text.len = job->j_text_len;
	spec.artifact_sha256 = sha;
	spec.submitted_ms = rl_now_ms();
	spec.spec_hash = job->j_spec_hash;
	spec.filename = job->j_filename;
	int32_t now_version;
	rv = rl_jobstore_put(
	    zk, job->j_name, &spec, version, RL_DESIRED_RUN, &now_version, why, sizeof(why));
	if (rv == RL_ERR_STALE_EPOCH || rv == RL_ERR_EXISTS) {
		fprintf(stderr,
		    PROG ": job %s was submitted by someone else meanwhile; submit again\n",
		    job->j_name);
		goto out_zk;
	}
	if (rv != RL_OK) {
		fprintf(stderr, PROG ": %s\n", why);
		goto out_zk;
	}
	if (artifact != NULL)
		fprintf(stderr, PROG ": artifact %s: sha256 %s (%s)\n", artifact, sha,
		    written ? "stored" : "already stored");
	if (version < 0) {
		fprintf(stderr, PROG ": job %s submitted\n", job->j_name);
	} else if (newest > 0) {
		char when[64];
		rl_cli_time(newest, when, sizeof(when));
		fprintf(stderr,
		    PROG ": job %s upgraded (submission %" PRId32
		         "); it resumes after batch %" PRId64 " (%s)\n",
		    job->j_name, now_version + 1, newest, when);
	} else {
		fprintf(stderr,
		    PROG ": job %s upgraded (submission %" PRId32 "); no batch ran yet\n",
		    job->j_name, now_version + 1);
	}
	printf("%s\n", job->j_name);
	code = RL_EXIT_OK;
out_zk:
	rl_zk_close(zk);
out_artifact:
	rl_free(art);
	return code;
}

int
rl_cmd_submit(const rl_cli_command *cmd, int argc, char **argv)
{
	const char  *secret_file = NULL;
	const char  *connect = NULL, *artifact = NULL;
	const rl_opt optv[] = {
		RL_CLI_CLUSTER_OPTS(&connect, &secret_file),
		RL_OPT_STRING("artifact", &artifact, "LIB.so",
		    "a shared library with the job's functions ({udf: NAME}); stored once under "
		    "its sha256"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = PROG,
		.synopsis = cmd->usage,
		.about
		= "Checks the job as 'rill run' does, then stores it in ZooKeeper and asks the\n"
		  "cluster to run it; prints the job's name. Submitting a job of the same name\n"
		  "again upgrades it: it keeps its progress (its batch log), unless a stateful\n"
		  "step or the shuffle width of its state changed, which is refused.\n",
		.opts = optv,
		.epilog
		= "Exit status: 0 stored, 2 bad usage or a bad job file (FILE:LINE:COL), 1 a\n"
		  "refused upgrade or a ZooKeeper failure.\n",
		.max_operands = 1,
	};
	const char *file;
	int         code;
	if (!rl_cli_cluster_args(
	        &cl, argc, argv, &connect, &secret_file, RL_CLI_JOB_FILE, &file, &code))
		return code;
	// Everything `rill run` checks before it starts, before ZooKeeper is
	// touched.
	char     why[2048];
	rl_job  *job;
	rl_plan *plan;
	rl_err   rv = rl_job_load(file, &job, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		return RL_EXIT_USAGE;
	}
	if ((rv = rl_plan_build(job, &plan, why, sizeof(why))) != RL_OK) {
		fprintf(stderr, "rill: %s\n", why);
		rl_job_destroy(job);
		return RL_EXIT_USAGE;
	}
	rl_plan_destroy(plan);
	code = submit(connect, job, artifact);
	rl_job_destroy(job);
	return code;
}
