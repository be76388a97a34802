// SPDX-License-Identifier: Apache-2.0
// The files sink's job-file grammar: `files: {path: DIR}`.
#include "common/sinks/files.h"

#include "common/alloc.h"
#include "common/jobfile.h"

static rl_err
parse_files(const rl_yaml_field *f, void *conf, rl_yaml_errbuf *eb)
{
	rl_files_sink           *k = conf;
	static const rl_yaml_key keys[] = { { "path", true }, { NULL, false } };
	rl_yaml_field            v[1];
	rl_err                   rv;
	if ((rv = rl_yaml_get_fields(f, keys, "{path: DIR}", v, eb)) != RL_OK)
		return rv;
	return rl_yaml_get_string(&v[0], "a directory path", &k->f_path, eb);
}

static void
fini_files(void *conf)
{
	rl_files_sink *k = conf;
	rl_free(k->f_path);
}

const rl_sink_grammar rl_sink_files_grammar = {
	.version = RL_GRAMMAR_VERSION,
	.name = "files",
	.conf_size = sizeof(rl_files_sink),
	.parse = parse_files,
	.fini = fini_files,
};
