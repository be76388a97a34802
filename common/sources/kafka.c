// SPDX-License-Identifier: Apache-2.0
// The Kafka source's job-file grammar: brokers, topics or a pattern, rates and properties.
#include "common/sources/kafka.h"

#include <stdint.h>
#include <string.h>

#include "common/alloc.h"

#define TOPIC_MAX_LEN 249

static const char *const start_offsets_names[] = {
	[RL_START_EARLIEST] = "earliest",
	[RL_START_LATEST] = "latest",
	[RL_START_COMMITTED] = "committed",
	[RL_START_NONE] = "none",
	NULL,
};

enum {
	KAFKA_BROKERS,
	KAFKA_TOPICS,
	KAFKA_PATTERN,
	KAFKA_GROUP,
	KAFKA_STARTING_OFFSETS,
	KAFKA_MAX_RATE,
	KAFKA_BACKPRESSURE,
	KAFKA_INITIAL_RATE,
	KAFKA_FAIL_ON_DATA_LOSS,
	KAFKA_PROPERTIES,
	KAFKA__COUNT,
};

static const rl_yaml_key kafka_keys[] = {
	[KAFKA_BROKERS] = { "brokers", true },
	[KAFKA_TOPICS] = { "topics", false },
	[KAFKA_PATTERN] = { "pattern", false },
	[KAFKA_GROUP] = { "group", false },
	[KAFKA_STARTING_OFFSETS] = { "starting_offsets", false },
	[KAFKA_MAX_RATE] = { "max_rate_per_partition", false },
	[KAFKA_BACKPRESSURE] = { "backpressure", false },
	[KAFKA_INITIAL_RATE] = { "initial_rate", false },
	[KAFKA_FAIL_ON_DATA_LOSS] = { "fail_on_data_loss", false },
	[KAFKA_PROPERTIES] = { "properties", false },
	[KAFKA__COUNT] = { NULL, false },
};

static bool
is_topic_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > TOPIC_MAX_LEN || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
		        || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

rl_err
rl_kafka_get_topic(const rl_yaml_field *f, char **ret, rl_yaml_errbuf *eb)
{
	char  *topic = NULL;
	rl_err rv;
	if ((rv = rl_yaml_get_string(f, "a topic name", &topic, eb)) != RL_OK)
		return rv;
	if (!is_topic_name(topic)) {
		char what[80];
		rl_free(topic);
		return rl_yaml_fail(eb, f->loc,
		    "%s: %s is not a Kafka topic name (use 1 to %d of a-z, A-Z, 0-9, '.', '_', "
		    "'-')",
		    f->path, rl_yaml_describe(f->node, what, sizeof(what)), TOPIC_MAX_LEN);
	}
	*ret = topic;
	return RL_OK;
}

// parse_topics reads a non-empty list of distinct topic names into k (which
// owns the list from the start, so a half-read one is freed with it).
static rl_err
parse_topics(const rl_yaml_field *f, rl_kafka_source *k, rl_yaml_errbuf *eb)
{
	size_t n;
	rl_err rv;
	if ((rv = rl_yaml_get_list(f, "a non-empty list of topic names like [words]", &n, eb))
	    != RL_OK)
		return rv;
	k->k_topics = rl_calloc(n + 1, sizeof(char *));
	k->k_ntopics = n;
	rl_yaml_iter  it = { 0 };
	rl_yaml_field topic;
	for (size_t i = 0; i < n && rl_yaml_list_next(f, &it, &topic); i++) {
		if ((rv = rl_kafka_get_topic(&topic, &k->k_topics[i], eb)) != RL_OK)
			return rv;
		for (size_t j = 0; j < i; j++)
			if (strcmp(k->k_topics[j], k->k_topics[i]) == 0)
				return rl_yaml_fail(eb, topic.loc, "%s: topic '%s' is listed twice",
				    f->path, k->k_topics[i]);
	}
	return RL_OK;
}

// parse_kafka fills k (zeroed, freed by the caller) from a `kafka:` mapping.
static rl_err
parse_kafka(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb)
{
	rl_kafka_source *k = conf;
	rl_yaml_field    v[KAFKA__COUNT];
	rl_err           rv;
	if ((rv = rl_yaml_get_fields(f, kafka_keys, "{brokers: HOST:PORT, topics: [NAME]}", v, eb))
	    != RL_OK)
		return rv;
	k->k_loc = f->loc;
	k->k_starting_offsets = RL_START_EARLIEST;
	k->k_backpressure = true;
	k->k_initial_rate = RL_DEFAULT_INITIAL_RATE;
	k->k_fail_on_data_loss = true;
	if ((rv = rl_yaml_get_string(
	         &v[KAFKA_BROKERS], "a broker list like host:port[,host:port]", &k->k_brokers, eb))
	    != RL_OK)
		return rv;
	if (v[KAFKA_TOPICS].present && v[KAFKA_PATTERN].present)
		return rl_yaml_fail(eb, v[KAFKA_PATTERN].key_loc,
		    "%s: give either 'topics' or 'pattern', not both", f->path);
	if (!v[KAFKA_TOPICS].present && !v[KAFKA_PATTERN].present)
		return rl_yaml_fail(eb, f->loc,
		    "%s: missing 'topics' (e.g. topics: [words]) or 'pattern'", f->path);
	if (v[KAFKA_TOPICS].present && (rv = parse_topics(&v[KAFKA_TOPICS], k, eb)) != RL_OK)
		return rv;
	if (v[KAFKA_PATTERN].present
	    && (rv = rl_yaml_get_regex(
	            &v[KAFKA_PATTERN], "a regular expression over topic names", &k->k_pattern, eb))
	        != RL_OK)
		return rv;
	if (v[KAFKA_GROUP].present
	    && (rv = rl_yaml_get_string(&v[KAFKA_GROUP], "a consumer group name", &k->k_group, eb))
	        != RL_OK)
		return rv;
	if (v[KAFKA_STARTING_OFFSETS].present) {
		int which;
		if ((rv = rl_yaml_get_enum(
		         &v[KAFKA_STARTING_OFFSETS], start_offsets_names, &which, eb))
		    != RL_OK)
			return rv;
		k->k_starting_offsets = (rl_start_offsets)which;
	}
	if (v[KAFKA_MAX_RATE].present
	    && (rv = rl_yaml_get_int(
	            &v[KAFKA_MAX_RATE], 0, INT64_MAX, &k->k_max_rate_per_partition, eb))
	        != RL_OK)
		return rv;
	if (v[KAFKA_BACKPRESSURE].present
	    && (rv = rl_yaml_get_bool(&v[KAFKA_BACKPRESSURE], &k->k_backpressure, eb)) != RL_OK)
		return rv;
	if (v[KAFKA_INITIAL_RATE].present
	    && (rv = rl_yaml_get_int(&v[KAFKA_INITIAL_RATE], 1, INT64_MAX, &k->k_initial_rate, eb))
	        != RL_OK)
		return rv;
	if (v[KAFKA_FAIL_ON_DATA_LOSS].present
	    && (rv = rl_yaml_get_bool(&v[KAFKA_FAIL_ON_DATA_LOSS], &k->k_fail_on_data_loss, eb))
	        != RL_OK)
		return rv;
	return rl_yaml_get_string_map(&v[KAFKA_PROPERTIES],
	    "a mapping of librdkafka properties like {fetch.wait.max.ms: 100}", "property",
	    &k->k_prop_names, &k->k_prop_values, &k->k_nprops, eb);
}

static void
fini_kafka(void *conf)
{
	rl_kafka_source_fini(conf);
}

const rl_source_grammar rl_source_kafka_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "kafka",
	.conf_size = sizeof(rl_kafka_source),
	.parse = parse_kafka,
	.fini = fini_kafka,
};

void
rl_kafka_source_fini(rl_kafka_source *k)
{
	rl_free(k->k_brokers);
	for (size_t i = 0; k->k_topics != NULL && i < k->k_ntopics; i++)
		rl_free(k->k_topics[i]);
	rl_free(k->k_topics);
	rl_free(k->k_pattern);
	rl_free(k->k_group);
	for (size_t i = 0; i < k->k_nprops; i++) {
		rl_free(k->k_prop_names[i]);
		rl_free(k->k_prop_values[i]);
	}
	rl_free(k->k_prop_names);
	rl_free(k->k_prop_values);
}
