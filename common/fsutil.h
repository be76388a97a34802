// SPDX-License-Identifier: Apache-2.0
// Filesystem helpers for durable output: mkdir -p, rm -r, fsync of a directory.
#ifndef RL_FSUTIL_H
#define RL_FSUTIL_H

// All return 0 on success, -1 with errno set.
int rl_mkdir_p(const char *dir);
// rl_remove_tree removes path and everything under it; a missing path is success.
int rl_remove_tree(const char *path);
int rl_fsync_dir(const char *path);

#endif
