// SPDX-License-Identifier: Apache-2.0
// Loading the cluster secret and holding the process's current one.
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.h"

static rl_secret process_secret;
static bool      process_has_secret;

rl_err
rl_secret_load(const char *path, rl_secret *ret, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "secret file %s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	rl_err      rv = RL_OK;
	struct stat st;
	// One byte more than the largest secret plus "\r\n" tells a file too long.
	uint8_t buf[RL_SECRET_MAX + 3];
	size_t  len = 0;
	if (fstat(fd, &st) != 0) {
		snprintf(errbuf, errlen, "secret file %s: %s", path, strerror(errno));
		rv = RL_ERR_IO;
		goto err_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "secret file %s: not a regular file", path);
		rv = RL_ERR_INVAL;
		goto err_fd;
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		snprintf(errbuf, errlen,
		    "secret file %s: others may read or write it (mode %03o); chmod o-rw it", path,
		    (unsigned)(st.st_mode & 0777));
		rv = RL_ERR_INVAL;
		goto err_fd;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(errbuf, errlen, "secret file %s: %s", path, strerror(errno));
			rv = RL_ERR_IO;
			goto err_buf;
		}
		if (n == 0 || (len += (size_t)n) == sizeof(buf))
			break;
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len < RL_SECRET_MIN || len > RL_SECRET_MAX) {
		snprintf(errbuf, errlen,
		    "secret file %s: the secret must be %d to %d bytes (without a trailing "
		    "newline), this one is %zu%s",
		    path, RL_SECRET_MIN, RL_SECRET_MAX, len, len > RL_SECRET_MAX ? " or more" : "");
		rv = RL_ERR_INVAL;
		goto err_buf;
	}
	memcpy(ret->s_key, buf, len);
	ret->s_len = len;
	snprintf(ret->s_path, sizeof(ret->s_path), "%s", path);
err_buf:
	memset(buf, 0, sizeof(buf));
err_fd:
	close(fd);
	return rv;
}

void
rl_secret_use(const rl_secret *secret)
{
	if (secret == NULL) {
		memset(&process_secret, 0, sizeof(process_secret));
		process_has_secret = false;
		return;
	}
	if (secret != &process_secret)
		process_secret = *secret;
	process_has_secret = true;
}

const rl_secret *
rl_secret_current(void)
{
	return process_has_secret ? &process_secret : NULL;
}

rl_err
rl_secret_load_and_use(const char *path, char *errbuf, size_t errlen)
{
	if (path == NULL || path[0] == '\0')
		return RL_OK;
	rl_secret secret;
	rl_err    rv = rl_secret_load(path, &secret, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rl_secret_use(&secret);
	memset(&secret, 0, sizeof(secret));
	return RL_OK;
}

void
rl_secret_derive(const rl_secret *secret, const char *label, char out[65])
{
	unsigned char mac[RL_HMAC_LEN];
	rl_hmac       h;
	rl_hmac_init(&h, secret->s_key, secret->s_len);
	rl_hmac_update(&h, label, strlen(label));
	rl_hmac_final(&h, mac);
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < RL_HMAC_LEN; i++) {
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 0xf];
	}
	out[64] = '\0';
}
