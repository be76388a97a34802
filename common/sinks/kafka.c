// SPDX-License-Identifier: Apache-2.0
// The Kafka sink's job-file grammar: `kafka: {brokers: HOST:PORT, topic: NAME, exactly_once: B}`.
#include "common/sinks/kafka.h"

#include "common/alloc.h"
#include "common/jobfile.h"
#include "common/sources/kafka.h"

enum { SINK_BROKERS, SINK_TOPIC, SINK_EXACTLY_ONCE, SINK__COUNT };

static rl_err
parse_kafka(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb)
{
	rl_kafka_sink           *k = conf;
	static const rl_yaml_key keys[] = {
		[SINK_BROKERS] = { "brokers", true },
		[SINK_TOPIC] = { "topic", true },
		[SINK_EXACTLY_ONCE] = { "exactly_once", false },
		[SINK__COUNT] = { NULL, false },
	};
	rl_yaml_field v[SINK__COUNT];
	rl_err        rv;
	k->k_exactly_once = false;
	if ((rv = rl_yaml_get_fields(f, keys, "{brokers: HOST:PORT, topic: NAME}", v, eb)) != RL_OK)
		return rv;
	if ((rv = rl_yaml_get_string(
	         &v[SINK_BROKERS], "a broker list like host:port[,host:port]", &k->k_brokers, eb))
	    != RL_OK)
		return rv;
	if ((rv = rl_kafka_get_topic(&v[SINK_TOPIC], &k->k_topic, eb)) != RL_OK)
		return rv;
	return v[SINK_EXACTLY_ONCE].present
	    ? rl_yaml_get_bool(&v[SINK_EXACTLY_ONCE], &k->k_exactly_once, eb)
	    : RL_OK;
}

static void
fini_kafka(void *conf)
{
	rl_kafka_sink *k = conf;
	rl_free(k->k_brokers);
	rl_free(k->k_topic);
}

const rl_sink_grammar rl_sink_kafka_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "kafka",
	.conf_size = sizeof(rl_kafka_sink),
	.parse = parse_kafka,
	.fini = fini_kafka,
};
