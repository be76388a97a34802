// SPDX-License-Identifier: Apache-2.0
// The print sink's job-file grammar: `print: {num: 10}`.
#include "common/sinks/print.h"

#include <stdint.h>

#include "common/jobfile.h"

static rl_err
parse_print(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb)
{
	rl_print_sink           *k = conf;
	static const rl_yaml_key keys[] = { { "num", false }, { NULL, false } };
	rl_yaml_field            v[1];
	rl_err                   rv;
	k->p_num = 10;
	if ((rv = rl_yaml_get_fields(f, keys, "{num: 10}", v, eb)) != RL_OK)
		return rv;
	return v[0].present ? rl_yaml_get_int(&v[0], 1, INT64_MAX, &k->p_num, eb) : RL_OK;
}

const rl_sink_grammar rl_sink_print_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "print",
	.conf_size = sizeof(rl_print_sink),
	.parse = parse_print,
};
