// SPDX-License-Identifier: Apache-2.0
// The driver's own cost per batch on a simulated large cluster: a source of
// N synthetic splits and executors replaced by in-process stand-ins that
// answer every launch at once (driver/executors.h's local executors), so
// what is measured is the batch loop alone: planning, scheduling, the sink's
// commit, the batch log and the progress. Not a test; tests/bench/driver_sim.sh
// runs it. Prints one markdown table row per (splits, executors).
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/fsutil.h"
#include "common/grammar.h"
#include "common/jobfile.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/sysinfo.h"
#include "common/time.h"
#include "common/yaml.h"
#include "driver/executors.h"
#include "driver/runner.h"
#include "driver/sink.h"
#include "driver/source.h"

#define MAX_BATCHES 1000

// ---- what the simulated source holds: every split's latest position ----

static struct {
	size_t   nsplits;
	int64_t *latest;
	double   active; // fraction of the splits that get records in a batch
	int64_t  records; // records each of them gets
	uint64_t refreshes; // latest-position queries so far (one per batch)
} sim;

// advance gives the next batch's share of the splits new records: a window
// of them that moves on every batch, so every split is touched in turn.
static void
advance(void)
{
	size_t n = sim.nsplits;
	size_t k = (size_t)((double)n * sim.active + 0.5);
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	size_t first = (size_t)(sim.refreshes * k % n);
	for (size_t j = 0; j < k; j++)
		sim.latest[(first + j) % n] += sim.records;
	sim.refreshes++;
}

// ---- the source: `sim: {splits: N}`, driver half only ----

typedef struct sim_conf {
	int64_t s_splits;
} sim_conf;

static const rl_yaml_key source_keys[] = { { "splits", true }, { NULL, false } };

static rl_err
parse_source(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb)
{
	sim_conf     *c = conf;
	rl_yaml_field v[1];
	rl_err        rv;
	if ((rv = rl_yaml_get_fields(f, source_keys, "{splits: N}", v, eb)) != RL_OK)
		return rv;
	return rl_yaml_get_int(&v[0], 1, 10000000, &c->s_splits, eb);
}

static const rl_source_grammar source_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "sim",
	.conf_size = sizeof(sim_conf),
	.parse = parse_source,
};

static rl_err
source_open(void *state, const rl_job *job, rl_source_limits *limits, char *errbuf, size_t errlen)
{
	(void)state, (void)job, (void)errbuf, (void)errlen;
	*limits = (rl_source_limits) { .l_fail_on_data_loss = true };
	return RL_OK;
}

static void
source_close(void *state)
{
	(void)state;
}

// Split ids as Kafka's ("TOPIC/PARTITION"), with opaque bytes as long as a
// Kafka split's would be.
static rl_err
source_discover(void *state, rl_split_desc **ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	(void)state, (void)errbuf, (void)errlen;
	rl_split_desc *descs = rl_calloc(sim.nsplits + 1, sizeof(rl_split_desc));
	for (size_t i = 0; i < sim.nsplits; i++) {
		char id[64];
		snprintf(id, sizeof(id), "events/%zu", i);
		descs[i].sd_id = rl_strdup(id);
	}
	*ret = descs;
	*ret_count = sim.nsplits;
	return RL_OK;
}

static rl_err
source_positions(void *state, const char *const *ids, size_t n, rl_source_position which,
    int64_t *ret, char *errbuf, size_t errlen)
{
	(void)state, (void)ids, (void)errbuf, (void)errlen;
	if (which == RL_POSITION_LATEST)
		advance();
	for (size_t i = 0; i < n; i++)
		ret[i] = which == RL_POSITION_LATEST ? sim.latest[i] : 0;
	return RL_OK;
}

static rl_err
source_start(void *state, const char *const *ids, size_t n, const int64_t *earliest, int64_t *ret,
    char *errbuf, size_t errlen)
{
	(void)state, (void)ids, (void)errbuf, (void)errlen;
	memcpy(ret, earliest, n * sizeof(int64_t));
	return RL_OK;
}

static const rl_source_driver_ops source_driver = {
	.sd_version = RL_SOURCE_DRIVER_VERSION,
	.sd_name = "sim",
	.sd_open = source_open,
	.sd_close = source_close,
	.sd_discover = source_discover,
	.sd_positions = source_positions,
	.sd_start = source_start,
};

// ---- the sink: `sim: {}`, a one-phase commit that does nothing ----

static const rl_yaml_key sink_keys[] = { { NULL, false } };

static rl_err
parse_sink(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb)
{
	(void)conf;
	rl_yaml_field v[1];
	return rl_yaml_get_fields(f, sink_keys, "{}", v, eb);
}

static const rl_sink_grammar sink_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "sim",
	.conf_size = 1,
	.parse = parse_sink,
};

static rl_err
sink_open(void *state, const rl_job *job, const rl_sink_env *env, bool *ret_two_phase, char *errbuf,
    size_t errlen)
{
	(void)state, (void)job, (void)env, (void)errbuf, (void)errlen;
	*ret_two_phase = false;
	return RL_OK;
}

static void
sink_close(void *state)
{
	(void)state;
}

static rl_err
sink_commit(void *state, const rl_sink_batch *batch, char *errbuf, size_t errlen)
{
	(void)state, (void)batch, (void)errbuf, (void)errlen;
	return RL_OK;
}

static const rl_sink_driver_ops sink_driver = {
	.sk_version = RL_SINK_DRIVER_VERSION,
	.sk_name = "sim",
	.sk_open = sink_open,
	.sk_close = sink_close,
	.sk_commit = sink_commit,
};

// ---- the executors' stand-ins ----

static _Atomic int64_t standin_us; // spent answering, not the driver's

// standin answers a launch as an executor would once the task ran: a map
// task's input is its ranges' records and its output goes to as many reduce
// partitions as it has records (a word count's keys spread over them), a
// reduce task's input is one record per map output it fetches.
static rl_err
standin(void *arg, const Rill__Envelope *req, rl_buf *reply, char *why, size_t whylen)
{
	(void)arg;
	int64_t t0 = rl_mono_us();
	if (req->body_case != RILL__ENVELOPE__BODY_TASK_LAUNCH) {
		snprintf(why, whylen, "the stand-in answers task launches only");
		return RL_ERR_PROTO;
	}
	const Rill__TaskLaunch *tl = req->task_launch;
	Rill__TaskResult        res = RILL__TASK_RESULT__INIT;
	Rill__TaskMetrics       m = RILL__TASK_METRICS__INIT;
	res.status = RILL__TASK_RESULT__STATUS__OK;
	res.stage = tl->stage;
	res.partition = tl->partition;
	res.batch_time_ms = tl->batch_time_ms;
	res.metrics = &m;
	uint32_t *parts = NULL;
	uint64_t *sizes = NULL;
	if (!tl->warm_only && tl->stage == 0) {
		uint64_t records = 0;
		if (tl->split != NULL)
			records += (uint64_t)(tl->split->until - tl->split->from);
		for (size_t i = 0; i < tl->n_splits; i++)
			records += (uint64_t)(tl->splits[i]->until - tl->splits[i]->from);
		m.input_records = records;
		uint32_t r = tl->num_output_partitions;
		size_t   n = r == 0 ? 0 : records < r ? (size_t)records : r;
		parts = rl_calloc(n + 1, sizeof(*parts));
		sizes = rl_calloc(n + 1, sizeof(*sizes));
		// n partitions from one that depends on the task, in order.
		uint32_t first = (uint32_t)((uint64_t)tl->partition * 7919u % (r > 0 ? r : 1));
		size_t   k = 0;
		for (uint32_t p = 0; p < r && k < n; p++)
			if ((p + r - first) % r < n)
				parts[k++] = p;
		for (size_t j = 0; j < n; j++)
			sizes[j] = records / n;
		res.output_partitions = parts;
		res.n_output_partitions = n;
		res.output_records = sizes;
		res.n_output_records = n;
		res.output_bytes = sizes;
		res.n_output_bytes = n;
	} else if (!tl->warm_only) {
		m.input_records = tl->n_fetch_maps;
	}
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_TASK_RESULT;
	env.task_result = &res;
	rl_frame_encode(&env, NULL, 0, reply);
	rl_free(parts);
	rl_free(sizes);
	standin_us += rl_mono_us() - t0;
	return RL_OK;
}

// ---- one configuration ----

typedef struct sample {
	int64_t  us[RL_PHASE_COUNT];
	int64_t  standin_us;
	size_t   map_tasks, tasks, ranges;
	uint32_t width;
} sample;

typedef struct run_state {
	rl_runner *runner;
	int        warmup, batches;
	int        seen;
	int64_t    standin_before;
	int64_t    first_end_us; // when the first batch ended (monotonic)
	int64_t    first_us; // and what it took
	sample     samples[MAX_BATCHES];
	int        nsamples;
} run_state;

static void
on_batch(void *arg, const rl_runner_batch *rb)
{
	run_state *rs = arg;
	int64_t    now = standin_us;
	int64_t    spent = now - rs->standin_before;
	rs->standin_before = now;
	if (rs->seen == 0) {
		rs->first_end_us = rl_mono_us();
		for (int p = 0; p < RL_PHASE_COUNT; p++)
			rs->first_us += rb->rb_us[p];
	}
	if (rs->seen++ >= rs->warmup && rs->nsamples < MAX_BATCHES) {
		sample *s = &rs->samples[rs->nsamples++];
		memcpy(s->us, rb->rb_us, sizeof(s->us));
		s->us[RL_PHASE_STAGES] -= spent; // the stand-ins' answers are not the driver's
		s->standin_us = spent;
		s->map_tasks = rb->rb_map_tasks;
		s->tasks = rb->rb_tasks;
		s->ranges = rb->rb_ranges;
		s->width = rb->rb_shuffle_partitions;
	}
	if (rs->seen >= rs->warmup + rs->batches)
		rl_runner_stop(rs->runner);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

// quantile_ms is the q-quantile (nearest rank) of what pick says of every
// sample, in ms.
static double
quantile_ms(const run_state *rs, int64_t (*pick)(const sample *), double q)
{
	int64_t v[MAX_BATCHES];
	for (int i = 0; i < rs->nsamples; i++)
		v[i] = pick(&rs->samples[i]);
	qsort(v, (size_t)rs->nsamples, sizeof(int64_t), cmp_i64);
	int at = (int)(q * (rs->nsamples - 1) + 0.5);
	return rs->nsamples > 0 ? (double)v[at] / 1000.0 : 0;
}

static double
median_ms(const run_state *rs, int64_t (*pick)(const sample *))
{
	return quantile_ms(rs, pick, 0.5);
}

static int64_t
plan_sched(const sample *s)
{
	return s->us[RL_PHASE_REFRESH] + s->us[RL_PHASE_PLAN] + s->us[RL_PHASE_STAGES];
}

static int64_t
log_write(const sample *s)
{
	return s->us[RL_PHASE_RECORD_PLANNED] + s->us[RL_PHASE_RECORD_DONE];
}

static int64_t
total(const sample *s)
{
	int64_t t = 0;
	for (int p = 0; p < RL_PHASE_COUNT; p++)
		t += s->us[p];
	return t;
}

#define PICK(name, phase)                                                                          \
	static int64_t name(const sample *s) { return s->us[phase]; }
PICK(refresh, RL_PHASE_REFRESH)
PICK(plan, RL_PHASE_PLAN)
PICK(stages, RL_PHASE_STAGES)
PICK(commit, RL_PHASE_COMMIT)
PICK(advance_, RL_PHASE_ADVANCE)

static int64_t
standin_time(const sample *s)
{
	return s->standin_us;
}

typedef struct config {
	size_t      splits;
	int         executors, cores, batches, warmup;
	double      active;
	int64_t     records;
	const char *dir; // parent of the checkpoint directories; NULL: no batch log
	int         shuffle_partitions; // 0: the default
} config;

static int
run_one(const config *c)
{
	char why[1024];
	sim.nsplits = c->splits;
	sim.latest = rl_calloc(c->splits + 1, sizeof(int64_t));
	sim.refreshes = 0;
	sim.active = c->active;
	sim.records = c->records;
	char width[64] = "", text[1024];
	if (c->shuffle_partitions > 0)
		snprintf(width, sizeof(width), "shuffle_partitions: %d\n", c->shuffle_partitions);
	snprintf(text, sizeof(text),
	    "name: driver-sim\n"
	    "batch: 10ms\n"
	    "%s"
	    "source:\n"
	    "  sim: {splits: %zu}\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  sim: {}\n",
	    width, c->splits);
	rl_job  *job;
	rl_pool *pool;
	if (rl_job_parse(text, strlen(text), "driver-sim.yaml", &job, why, sizeof(why)) != RL_OK
	    || rl_pool_create("tcp://127.0.0.1:0", 10000, &pool, why, sizeof(why)) != RL_OK) {
		fprintf(stderr, "driver_sim: %s\n", why);
		return 1;
	}
	for (int e = 0; e < c->executors; e++) {
		char id[32];
		snprintf(id, sizeof(id), "standin-%d", e);
		if (rl_pool_add_local(pool, id, c->cores, standin, NULL, why, sizeof(why))
		    != RL_OK) {
			fprintf(stderr, "driver_sim: %s\n", why);
			return 1;
		}
	}
	char ckp[4096] = "";
	if (c->dir != NULL) {
		snprintf(ckp, sizeof(ckp), "%s/driver-sim-XXXXXX", c->dir);
		if (mkdtemp(ckp) == NULL) {
			fprintf(stderr, "driver_sim: %s: %s\n", ckp, strerror(errno));
			return 1;
		}
	}
	run_state     *rs = RL_NEW(run_state);
	rl_runner_opts opts = {
		.checkpoint_dir = c->dir != NULL ? ckp : NULL,
		.on_batch = on_batch,
		.on_batch_arg = rs,
	};
	rs->warmup = c->warmup;
	rs->batches = c->batches;
	rl_runner_stats stats;
	rl_err          rv = rl_runner_create(job, pool, &opts, &rs->runner, why, sizeof(why));
	int64_t         created = rl_mono_us();
	rs->standin_before = standin_us;
	if (rv == RL_OK)
		rv = rl_runner_run(rs->runner, &stats, why, sizeof(why));
	// From the run's start to its first batch: recovery, fencing and the
	// readers' warm-up (a launch per split).
	double start_ms = (double)(rs->first_end_us - rs->first_us - created) / 1000.0;
	if (rv != RL_OK) {
		fprintf(stderr, "driver_sim: %s\n", why);
		return 1;
	}
	const sample *last = &rs->samples[rs->nsamples > 0 ? rs->nsamples - 1 : 0];
	printf(
	    "| %zu | %d | %.0f%% | %zu | %zu | %zu | %" PRIu32
	    " | %.2f | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.1f "
	    "|\n",
	    c->splits, c->executors, c->active * 100, last->ranges, last->map_tasks, last->tasks,
	    last->width, median_ms(rs, refresh), median_ms(rs, plan), median_ms(rs, stages),
	    median_ms(rs, plan_sched), median_ms(rs, commit), median_ms(rs, log_write),
	    median_ms(rs, advance_), median_ms(rs, total), median_ms(rs, standin_time),
	    quantile_ms(rs, total, 0.9), start_ms);
	fflush(stdout);
	rl_runner_destroy(rs->runner);
	rl_pool_destroy(pool);
	rl_job_destroy(job);
	if (c->dir != NULL)
		rl_remove_tree(ckp);
	rl_free(rs);
	rl_free(sim.latest);
	return 0;
}

// ---- the command line ----

static size_t
parse_list(const char *s, long *out, size_t max)
{
	size_t n = 0;
	while (*s != '\0' && n < max) {
		char *end;
		out[n++] = strtol(s, &end, 10);
		if (*end == 'k') {
			out[n - 1] *= 1000;
			end++;
		}
		s = *end == ',' ? end + 1 : end;
		if (end == s && *s != '\0')
			break;
	}
	return n;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: driver_sim [--splits 1k,10k,100k] [--executors 10,100,1000] [--cores 4]\n"
	    "                  [--batches 20] [--warmup 3] [--active FRACTION] [--records N]\n"
	    "                  [--shuffle-partitions N] [--dir DIR | --no-log]\n");
}

int
main(int argc, char **argv)
{
	long   splits[8] = { 1000, 10000, 100000 }, execs[8] = { 10, 100, 1000 };
	size_t nsplits = 3, nexecs = 3;
	config c = {
		.cores = 4,
		.batches = 20,
		.warmup = 3,
		.active = 1.0,
		.records = 10,
		.dir = "/tmp",
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-log") == 0) {
			c.dir = NULL;
			continue;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--splits") == 0)
			nsplits = parse_list(v, splits, 8);
		else if (strcmp(a, "--executors") == 0)
			nexecs = parse_list(v, execs, 8);
		else if (strcmp(a, "--cores") == 0)
			c.cores = atoi(v);
		else if (strcmp(a, "--batches") == 0)
			c.batches = atoi(v);
		else if (strcmp(a, "--warmup") == 0)
			c.warmup = atoi(v);
		else if (strcmp(a, "--active") == 0)
			c.active = atof(v);
		else if (strcmp(a, "--records") == 0)
			c.records = atol(v);
		else if (strcmp(a, "--shuffle-partitions") == 0)
			c.shuffle_partitions = atoi(v);
		else if (strcmp(a, "--dir") == 0)
			c.dir = v;
		else {
			usage(stderr);
			return 2;
		}
	}
	bool lists_ok = nsplits > 0 && nexecs > 0;
	for (size_t i = 0; i < nsplits; i++)
		lists_ok &= splits[i] > 0;
	for (size_t i = 0; i < nexecs; i++)
		lists_ok &= execs[i] > 0 && execs[i] <= 100000;
	if (!lists_ok || c.batches < 1 || c.warmup < 0 || c.batches + c.warmup > MAX_BATCHES
	    || c.cores < 1 || c.cores > 1024 || c.active <= 0 || c.records < 1) {
		usage(stderr);
		return 2;
	}
	rl_log_init();
	rl_log_set_level(RL_LOG_WARN);
	rl_source_grammar_add(&source_grammar);
	rl_source_driver_add(&source_driver);
	rl_sink_grammar_add(&sink_grammar);
	rl_sink_driver_add(&sink_driver);
	printf("| splits | executors | active | ranges | map tasks | tasks | width | refresh ms "
	       "| plan ms | stages ms | plan+schedule ms | commit ms | log write ms | advance ms "
	       "| driver total ms | stand-ins ms | driver total p90 ms | start ms |\n");
	printf(
	    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	    "---:|\n");
	for (size_t s = 0; s < nsplits; s++)
		for (size_t e = 0; e < nexecs; e++) {
			c.splits = (size_t)splits[s];
			c.executors = (int)execs[e];
			if (run_one(&c) != 0)
				return 1;
		}
	rl_rpc_fini();
	return 0;
}
