// SPDX-License-Identifier: Apache-2.0
// Directory creation, removal and syncing; crash-safe file replacement.
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
rl_mkdir_p(const char *dir)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
rl_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
rl_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rv = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rv;
}

int
rl_write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
rl_read_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0; // the end came first
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

rl_write_step
rl_write_durable(const char *tmp, const char *path, const void *data, size_t len)
{
	rl_write_step step = RL_WRITE_CREATE;
	int           fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return step;
	if (rl_write_all(fd, data, len) != 0) {
		step = RL_WRITE_DATA;
		goto fail;
	}
	if (fsync(fd) != 0) {
		step = RL_WRITE_FSYNC;
		goto fail;
	}
	int closed = close(fd);
	fd = -1;
	if (closed != 0) {
		step = RL_WRITE_CLOSE;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		step = RL_WRITE_RENAME;
		goto fail;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	return rl_fsync_dir(dirname(dir)) != 0 ? RL_WRITE_FSYNC_DIR : RL_WRITE_DONE;

fail:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return step;
}

const char *
rl_write_step_name(rl_write_step step)
{
	static const char *const names[]
	    = { "done", "create", "write", "fsync", "close", "rename", "fsync directory" };
	return step <= RL_WRITE_FSYNC_DIR ? names[step] : "?";
}
