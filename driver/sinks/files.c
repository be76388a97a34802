// SPDX-License-Identifier: Apache-2.0
// The files sink's driver half: a batch's directory is published by rename.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/layout.h"
#include "common/sinks/files.h"
#include "driver/sink.h"

typedef struct files_sink {
	const char *f_path;
} files_sink;

static rl_err
files_open(void *state, const rl_job *job, const rl_sink_env *env, bool *ret_two_phase,
    char *errbuf, size_t errlen)
{
	files_sink *fs = state;
	fs->f_path = ((const rl_files_sink *)job->j_sink.c_conf)->f_path;
	*ret_two_phase = false;
	return RL_OK;
}

static void
files_close(void *state)
{
}

// files_prepare clears what an earlier, unfinished attempt of the batch
// left behind (its temporary directory) and makes the directory anew.
static rl_err
files_prepare(void *state, int64_t batch_ms, char *errbuf, size_t errlen)
{
	files_sink *fs = state;
	char        tmp[4096];
	rl_files_batch_tmp_dir(fs->f_path, batch_ms, tmp, sizeof(tmp));
	if (rl_remove_tree(tmp) != 0 || rl_mkdir_p(tmp) != 0) {
		snprintf(errbuf, errlen, "files sink: cannot prepare %s: %s", tmp, strerror(errno));
		return RL_ERR_IO;
	}
	return RL_OK;
}

// files_commit renames the temporary directory to P/batch-T (replacing an
// earlier one atomically) and fsyncs.
static rl_err
files_commit(void *state, const rl_sink_batch *batch, char *errbuf, size_t errlen)
{
	const char *path = ((files_sink *)state)->f_path;
	char        tmp[4096], final[4096];
	rl_files_batch_tmp_dir(path, batch->sb_time_ms, tmp, sizeof(tmp));
	rl_files_batch_dir(path, batch->sb_time_ms, final, sizeof(final));
	if (rl_fsync_dir(tmp) != 0) {
		snprintf(errbuf, errlen, "files sink: fsync %s: %s", tmp, strerror(errno));
		return RL_ERR_IO;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) != 0) {
		if (errno != EEXIST) {
			snprintf(errbuf, errlen, "files sink: rename %s: %s", tmp, strerror(errno));
			return RL_ERR_IO;
		}
		// A replayed batch: swap the new directory in, in one step, then
		// drop the old one (now under the temporary name).
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) != 0) {
			snprintf(
			    errbuf, errlen, "files sink: replace %s: %s", final, strerror(errno));
			return RL_ERR_IO;
		}
		rl_remove_tree(tmp);
	}
	if (rl_fsync_dir(path) != 0) {
		snprintf(errbuf, errlen, "files sink: fsync %s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	return RL_OK;
}

const rl_sink_driver_ops rl_sink_files_driver = {
	.sk_version = RL_SINK_DRIVER_VERSION,
	.sk_name = "files",
	.sk_state_size = sizeof(files_sink),
	.sk_open = files_open,
	.sk_close = files_close,
	.sk_prepare = files_prepare,
	.sk_commit = files_commit,
};
