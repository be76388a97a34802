// SPDX-License-Identifier: Apache-2.0
// `rill status`: one job's leader, stand-bys, epoch, desired state, spec and
// newest batches.
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmdline.h"
#include "common/secret.h"
#include "driver/checkpoint.h"
#include "driver/cli/cli.h"
#include "driver/election.h"
#include "driver/jobstore.h"

#define PROG "rill status"
#define RECENT_BATCHES 5

typedef struct job_status {
	const char         *name;
	Rill__JobSpec      *spec;
	int32_t             spec_version; // submissions so far, less one
	const char         *desired; // "-" when unknown
	rl_election_view    view;
	Rill__BatchRecord **batches; // newest first
	size_t              nbatches;
} job_status;

static void
print_text(const job_status *s)
{
	char when[64], hash[32];
	rl_cli_time(s->spec->submitted_ms, when, sizeof(when));
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->spec->spec_hash);
	printf("job:        %s\n", s->name);
	printf("desired:    %s\n", s->desired);
	if (s->view.leader_url != NULL)
		printf("leader:     %s (http %s, epoch %" PRId64 ")\n", s->view.leader_url,
		    s->view.leader_http != NULL ? s->view.leader_http : "-", s->view.leader_epoch);
	else
		printf("leader:     -\n");
	printf("standbys:  ");
	for (size_t i = 0; i < s->view.standby_count; i++)
		printf(" %s", s->view.standby_urls[i]);
	printf("%s\n", s->view.standby_count == 0 ? " -" : "");
	printf("epoch:      %" PRId64 "\n", s->view.epoch);
	printf("submitted:  %s (submission %" PRId32 ", file %s)\n", when, s->spec_version + 1,
	    s->spec->filename);
	printf("spec hash:  %s\n", hash);
	printf("artifact:   %s\n",
	    s->spec->artifact_sha256[0] != '\0' ? s->spec->artifact_sha256 : "-");
	printf("batches:    %s\n", s->nbatches == 0 ? "none yet" : "");
	if (s->nbatches > 0)
		printf("  %-24s  %-8s  %s\n", "TIME", "PHASE", "RECORDS");
	for (size_t i = 0; i < s->nbatches; i++) {
		const Rill__BatchRecord *b = s->batches[i];
		rl_cli_time(b->batch_time_ms, when, sizeof(when));
		printf("  %-24s  %-8s  %" PRIu64 "\n", when, rl_checkpoint_phase_name(b->phase),
		    b->records);
	}
}

static void
print_json(const job_status *s)
{
	char    hash[32];
	json_t *o = json_object();
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->spec->spec_hash);
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(
	    o, "desired", strcmp(s->desired, "-") != 0 ? json_string(s->desired) : json_null());
	if (s->view.leader_url != NULL) {
		json_t *leader = json_object();
		json_object_set_new(leader, "url", json_string(s->view.leader_url));
		json_object_set_new(leader, "http",
		    s->view.leader_http != NULL ? json_string(s->view.leader_http) : json_null());
		json_object_set_new(leader, "epoch", json_integer(s->view.leader_epoch));
		json_object_set_new(o, "leader", leader);
	} else {
		json_object_set_new(o, "leader", json_null());
	}
	json_t *standbys = json_array();
	for (size_t i = 0; i < s->view.standby_count; i++)
		json_array_append_new(standbys, json_string(s->view.standby_urls[i]));
	json_object_set_new(o, "standbys", standbys);
	json_object_set_new(o, "epoch", json_integer(s->view.epoch));
	json_object_set_new(o, "submitted_ms", json_integer(s->spec->submitted_ms));
	json_object_set_new(o, "submissions", json_integer(s->spec_version + 1));
	json_object_set_new(o, "filename", json_string(s->spec->filename));
	json_object_set_new(o, "spec_hash", json_string(hash));
	json_object_set_new(o, "artifact_sha256",
	    s->spec->artifact_sha256[0] != '\0' ? json_string(s->spec->artifact_sha256)
	                                        : json_null());
	json_t *batches = json_array();
	for (size_t i = 0; i < s->nbatches; i++) {
		const Rill__BatchRecord *b = s->batches[i];
		json_t                  *batch = json_object();
		json_object_set_new(batch, "time_ms", json_integer(b->batch_time_ms));
		json_object_set_new(
		    batch, "phase", json_string(rl_checkpoint_phase_name(b->phase)));
		json_object_set_new(batch, "records", json_integer((json_int_t)b->records));
		json_array_append_new(batches, batch);
	}
	json_object_set_new(o, "batches", batches);
	char *text = json_dumps(o, JSON_INDENT(2));
	printf("%s\n", text);
	free(text);
	json_decref(o);
}

int
rl_cmd_status(const rl_cli_command *cmd, int argc, char **argv)
{
	const char  *secret_file = NULL;
	const char  *connect = NULL;
	bool         as_json = false;
	const rl_opt optv[] = {
		RL_CLI_CLUSTER_OPTS(&connect, &secret_file),
		RL_OPT_FLAG("json", &as_json, "print a JSON object instead of text"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = PROG,
		.synopsis = cmd->usage,
		.about
		= "Shows a submitted job: its leader and stand-bys, epoch, desired state, when\n"
		  "it was submitted and its spec hash, and its newest batches from the batch\n"
		  "log (time, most advanced phase, input records).\n",
		.opts = optv,
		.max_operands = 1,
	};
	const char *name;
	int         code;
	if (!rl_cli_cluster_args(
	        &cl, argc, argv, &connect, &secret_file, RL_CLI_JOB_NAME, &name, &code))
		return code;
	rl_zk *zk;
	if (!rl_cli_zk_connect(PROG, connect, &zk))
		return RL_EXIT_FAILURE;
	char       why[1024];
	job_status s = { .name = name, .desired = "-" };
	rl_err     rv = rl_jobstore_get_spec(zk, name, &s.spec, &s.spec_version, why, sizeof(why));
	code = RL_EXIT_FAILURE;
	if (rv != RL_OK) {
		rl_cli_job_error(PROG, connect, name, rv, why);
		goto out_zk;
	}
	rl_desired desired;
	rv = rl_jobstore_get_desired(zk, name, &desired, why, sizeof(why));
	if (rv == RL_OK)
		s.desired = rl_desired_name(desired);
	else if (rv != RL_ERR_NOENT && rv != RL_ERR_PARSE)
		goto err_spec;
	if ((rv = rl_election_query(zk, name, &s.view, why, sizeof(why))) != RL_OK)
		goto err_spec;
	unsigned all = (1u << RILL__BATCH_RECORD__PHASE__PLANNED)
	    | (1u << RILL__BATCH_RECORD__PHASE__PREPARED) | (1u << RILL__BATCH_RECORD__PHASE__DONE);
	if ((rv = rl_jobstore_log(
	         zk, name, all, RECENT_BATCHES, &s.batches, &s.nbatches, why, sizeof(why)))
	    != RL_OK)
		goto err_view;
	if (as_json)
		print_json(&s);
	else
		print_text(&s);
	code = RL_EXIT_OK;
	rl_jobstore_log_free(s.batches, s.nbatches);
	rl_election_view_fini(&s.view);
	rill__job_spec__free_unpacked(s.spec, NULL);
	goto out_zk;

err_view:
	rl_election_view_fini(&s.view);
err_spec:
	rill__job_spec__free_unpacked(s.spec, NULL);
	fprintf(stderr, PROG ": job %s: %s\n", name, why);
out_zk:
	rl_zk_close(zk);
	return code;
}
