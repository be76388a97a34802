// SPDX-License-Identifier: Apache-2.0
// files sink, task side: part-NNNNN of the batch's temporary directory,
// written under an attempt name, fsynced, renamed into place.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "common/layout.h"
#include "common/sinks/files.h"
#include "executor/sink.h"

#define FLUSH_AT (256 * 1024)

typedef struct files_state {
	int    fd;
	char   tmp_path[4096];
	char   final_path[4096];
	rl_buf out;
	rl_err write_err;
	int    write_errno;
} files_state;

static rl_err
files_open(void *state, const void *conf, const rl_sink_task *task, char *errbuf, size_t errlen)
{
	const rl_files_sink *sink = conf;
	files_state         *st = state;
	char                 dir[4096];
	st->fd = -1;
	rl_files_batch_tmp_dir(sink->f_path, task->t_batch_ms, dir, sizeof(dir));
	if (rl_mkdir_p(dir) != 0) {
		snprintf(errbuf, errlen, "files sink: cannot create %s: %s", dir, strerror(errno));
		return RL_ERR_IO;
	}
	int n1 = snprintf(
	    st->final_path, sizeof(st->final_path), "%s/part-%05" PRIu32, dir, task->t_partition);
	int n2 = snprintf(st->tmp_path, sizeof(st->tmp_path),
	    "%s/.part-%05" PRIu32 ".attempt-%" PRIu32, dir, task->t_partition, task->t_attempt);
	if (n1 >= (int)sizeof(st->final_path) || n2 >= (int)sizeof(st->tmp_path)) {
		snprintf(errbuf, errlen, "files sink: path %s is too long", dir);
		return RL_ERR_INVAL;
	}
	st->fd = open(st->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		snprintf(errbuf, errlen, "files sink: cannot create %s: %s", st->tmp_path,
		    strerror(errno));
		return RL_ERR_IO;
	}
	return RL_OK;
}

static void
flush_out(files_state *st)
{
	size_t off = 0;
	while (off < st->out.b_len && st->write_err == RL_OK) {
		ssize_t n = write(st->fd, st->out.b_data + off, st->out.b_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st->write_err = RL_ERR_IO;
			st->write_errno = errno;
			break;
		}
		off += (size_t)n;
	}
	st->out.b_len = 0;
}

static rl_err
files_write(void *state, const rl_rec *rec)
{
	files_state *st = state;
	size_t       max = rl_rec_format_max(rec);
	if (st->out.b_cap - st->out.b_len < max)
		rl_buf_grow(&st->out, max);
	size_t n = rl_rec_format(rec, '\t', st->out.b_data + st->out.b_len);
	st->out.b_data[st->out.b_len + n] = '\n';
	st->out.b_len += n + 1;
	if (st->out.b_len >= FLUSH_AT)
		flush_out(st);
	return st->write_err;
}

static rl_err
files_commit(void *state, rl_sink_result *res, char *errbuf, size_t errlen)
{
	files_state *st = state;
	flush_out(st);
	if (st->write_err == RL_OK && fsync(st->fd) != 0) {
		st->write_err = RL_ERR_IO;
		st->write_errno = errno;
	}
	if (st->write_err != RL_OK) {
		snprintf(errbuf, errlen, "files sink: writing %s: %s", st->tmp_path,
		    strerror(st->write_errno));
		return st->write_err;
	}
	close(st->fd);
	st->fd = -1;
	if (rename(st->tmp_path, st->final_path) != 0) {
		snprintf(
		    errbuf, errlen, "files sink: rename %s: %s", st->tmp_path, strerror(errno));
		return RL_ERR_IO;
	}
	rl_buf_fini(&st->out);
	return RL_OK;
}

static void
files_abort(void *state)
{
	files_state *st = state;
	if (st->fd >= 0) {
		close(st->fd);
		unlink(st->tmp_path);
		st->fd = -1;
	}
	rl_buf_fini(&st->out);
}

const rl_sink_ops rl_sink_files_exec = {
	.s_version = RL_SINK_OPS_VERSION,
	.s_name = "files",
	.s_state_size = sizeof(files_state),
	.s_open = files_open,
	.s_write = files_write,
	.s_commit = files_commit,
	.s_abort = files_abort,
};
