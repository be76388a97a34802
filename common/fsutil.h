// SPDX-License-Identifier: Apache-2.0
// Filesystem helpers for durable output: mkdir -p, rm -r, fsync of a directory.
#ifndef RL_FSUTIL_H
#define RL_FSUTIL_H

#include <stddef.h>

// All return 0 on success, -1 with errno set.
int rl_mkdir_p(const char *dir);
// rl_remove_tree removes path and everything under it; a missing path is success.
int rl_remove_tree(const char *path);
int rl_fsync_dir(const char *path);
// rl_write_all writes all of data, retrying short writes and EINTR.
int rl_write_all(int fd, const void *data, size_t len);
// rl_read_all reads exactly len bytes into buf; errno 0 with -1: the file
// ended first.
int rl_read_all(int fd, void *buf, size_t len);

// The step of rl_write_durable that failed.
typedef enum rl_write_step {
	RL_WRITE_DONE = 0, // no failure
	RL_WRITE_CREATE, // creating tmp
	RL_WRITE_DATA, // writing it
	RL_WRITE_FSYNC, // fsync of tmp
	RL_WRITE_CLOSE,
	RL_WRITE_RENAME, // tmp over path
	RL_WRITE_FSYNC_DIR // fsync of path's directory (path is in place)
} rl_write_step;

// rl_write_durable makes path hold exactly data[0..len), all or nothing, across
// a crash: written to tmp (same directory), fsynced, renamed over path, and
// the directory fsynced. Returns RL_WRITE_DONE, or the step that failed with
// errno set; tmp is gone either way.
rl_write_step rl_write_durable(const char *tmp, const char *path, const void *data, size_t len);
// rl_write_step_name: "create", "write", "fsync", "close", "rename", "fsync directory".
const char *rl_write_step_name(rl_write_step step);

#endif
