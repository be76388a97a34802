// SPDX-License-Identifier: Apache-2.0
// The job file (YAML, SPEC.md "Job file"): parsed and validated into an rl_job.
#ifndef RL_JOBFILE_H
#define RL_JOBFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/sources/kafka.h"
#include "common/yaml.h"

typedef enum rl_catch_up {
	RL_CATCH_UP_ALL,
	RL_CATCH_UP_LATEST,
} rl_catch_up;

// Operators, in SPEC.md order. The names are the YAML keys.
#define RL_OP_MAP_LIST(X)                                                                          \
	X(MAP, "map")                                                                              \
	X(FLAT_MAP, "flat_map")                                                                    \
	X(FILTER, "filter")                                                                        \
	X(KEY_BY, "key_by")                                                                        \
	X(MAP_VALUES, "map_values")                                                                \
	X(REDUCE_BY_KEY, "reduce_by_key")                                                          \
	X(COUNT_BY_VALUE, "count_by_value")                                                        \
	X(WINDOW, "window")                                                                        \
	X(REDUCE_BY_KEY_AND_WINDOW, "reduce_by_key_and_window")                                    \
	X(COUNT_BY_WINDOW, "count_by_window")                                                      \
	X(UPDATE_STATE_BY_KEY, "update_state_by_key")                                              \
	X(MAP_WITH_STATE, "map_with_state")                                                        \
	X(UNION, "union")                                                                          \
	X(JOIN, "join")                                                                            \
	X(REPARTITION, "repartition")

typedef enum rl_op_kind {
#define RL_OP_ENUM(name, key) RL_OP_##name,
	RL_OP_MAP_LIST(RL_OP_ENUM)
#undef RL_OP_ENUM
	    RL_OP__COUNT
} rl_op_kind;

// Built-in functions an operator may name. Which ones an operator accepts is
// fixed by SPEC.md (e.g. map: lower|upper|trim; reduce_by_key: sum|min|max|count).
typedef enum rl_fn {
	RL_FN_NONE,
	RL_FN_LOWER, // map
	RL_FN_UPPER, // map
	RL_FN_TRIM, // map
	RL_FN_WORDS, // flat_map: split on ASCII whitespace
	RL_FN_SPLIT, // flat_map: {split: SEP}, s_arg = SEP (non-empty)
	RL_FN_NONEMPTY, // filter
	RL_FN_CONTAINS, // filter: {contains: S}, s_arg = S
	RL_FN_REGEX, // filter: {regex: RE}, s_arg = RE (POSIX extended, checked at parse)
	RL_FN_VALUE, // key_by: value
	RL_FN_FIELD, // key_by / map_values: {field: N, sep: S}, s_field = N (1-based), s_arg = S
	RL_FN_JSON, // key_by: {json: "a.b"}, s_arg = path
	RL_FN_ONE, // map_values
	RL_FN_LENGTH, // map_values
	RL_FN_SUM, // reductions
	RL_FN_MIN,
	RL_FN_MAX,
	RL_FN_COUNT,
	RL_FN_UDF, // any operator: {udf: NAME}, s_arg = NAME
} rl_fn;

// The most shuffle partitions a stage may have (shuffle_partitions, and what
// a task launch may ask an executor for).
#define RL_PARTITIONS_MAX 65536
typedef struct rl_step rl_step;

struct rl_step {
	rl_op_kind s_kind;
	rl_fn      s_fn;
	char      *s_arg; // string argument (see rl_fn), or NULL
	int64_t    s_field; // RL_FN_FIELD: 1-based field number
	int64_t    s_num; // repartition: partitions; map_with_state: timeout ms
	int64_t    s_length_ms; // windows
	int64_t    s_slide_ms; // windows
	bool       s_inverse; // reduce_by_key_and_window
	// Windows in event time (time: event | {json: PATH}): s_time_path is the
	// JSON path of the event time (ms since the epoch) in the record's value,
	// NULL for the Kafka record's timestamp; s_lateness_ms the allowed
	// lateness (the watermark is the greatest event time seen minus it).
	bool    s_event;
	char   *s_time_path;
	int64_t s_lateness_ms;
	// late: SINK — where an event-time window's late records go (owned;
	// NULL: they are dropped and counted)
	struct rl_connector_conf *s_late;
	bool                      s_left; // join: kind left (else inner)
	rl_kafka_source          *s_source; // union/join: the other input, owned
	rl_step                  *s_sub; // join: the other input's pipeline, owned
	size_t                    s_nsub;
	rl_loc                    s_loc; // the step's position in the file
	// {udf: NAME}, once bound to the job's artifact (rl_udf_bind,
	// common/udf.h): the library's function and its init's udata. NULL
	// before, and in a job nobody bound (the driver's).
	const struct rill_udf *s_udf;
	void                  *s_udf_data;
};

// A job's source or its sink: the connector's name and its settings, of
// the type its grammar defines (common/sources/NAME.h, common/sinks/NAME.h).
typedef struct rl_connector_conf {
	const char                        *c_kind; // the connector's name (static)
	const struct rl_connector_grammar *c_grammar; // which parsed it
	void                              *c_conf; // owned
	rl_loc                             c_loc; // where NAME: was written
} rl_connector_conf;

// A parsed job. Owns every string and array it points to.
typedef struct rl_job {
	char       *j_name; // [a-z0-9-]{1,64}
	int64_t     j_batch_ms; // 10 ms … 1 h
	rl_catch_up j_catch_up; // default all
	int64_t     j_shuffle_partitions; // 0 = number of input partitions
	int64_t     j_state_memory; // bytes of state each executor keeps in memory (0: no limit)
	rl_connector_conf j_source;
	rl_step          *j_steps;
	size_t            j_nsteps;
	rl_connector_conf j_sink;
	char             *j_text; // the file's bytes, NUL-terminated
	size_t            j_text_len;
	char             *j_filename; // as given for messages
	uint64_t          j_spec_hash; // XXH3-64 of j_text
} rl_job;

// rl_job_parse parses and validates a job from text. filename is used in
// messages only. On error, returns RL_ERR_PARSE (or RL_ERR_INVAL) and writes
// "FILE:LINE:COL: what is wrong" to errbuf; *ret is written only on success and
// the caller owns the job (rl_job_destroy).
rl_err rl_job_parse(
    const char *text, size_t len, const char *filename, rl_job **ret, char *errbuf, size_t errlen);

// rl_job_load reads path and parses it; a missing or unreadable file is
// RL_ERR_IO with "FILE: reason" in errbuf.
rl_err rl_job_load(const char *path, rl_job **ret, char *errbuf, size_t errlen);

// rl_job_destroy frees job and everything it owns; NULL is a no-op.
void rl_job_destroy(rl_job *job);

// rl_sink_conf_parse reads f, a sink as under `sink:` ({files: {path: P}}),
// into ret; rl_connector_conf_free frees such settings and ret itself.
rl_err rl_sink_conf_parse(const rl_yaml_field *f, rl_connector_conf *ret, rl_yaml_errbuf *eb);
void   rl_connector_conf_free(rl_connector_conf *c);

// Names, for messages and the wire.
const char *rl_op_name(rl_op_kind kind);
const char *rl_fn_name(rl_fn fn);

#endif
