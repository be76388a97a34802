// SPDX-License-Identifier: Apache-2.0
// The files sink's job-file grammar: `files: {path: DIR}`.
#include "common/sinks/files.h"

#include "common/jobfile.h"

static rl_err
parse_files(const rl_yaml_field *f, rl_sink *k, rl_yaml_errbuf *eb)
{
	static const rl_yaml_key keys[] = { { "path", true }, { NULL, false } };
	rl_yaml_field            v[1];
	rl_err                   rv;
	k->k_kind = RL_SINK_FILES;
	if ((rv = rl_yaml_get_fields(f, keys, "{path: DIR}", v, eb)) != RL_OK)
		return rv;
	return rl_yaml_get_string(&v[0], "a directory path", &k->k_path, eb);
}

const rl_sink_grammar rl_files_sink_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "files",
	.parse = parse_files,
};
