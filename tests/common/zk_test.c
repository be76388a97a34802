// SPDX-License-Identifier: Apache-2.0
// common/zk against a real ZooKeeper server (deploy/zookeeper.sh), started once
// for all tests of this binary by fixtures/zk_hooks.c.
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/secret.h"
#include "common/time.h"
#include "common/zk.h"
#include "tests/fixtures/fixture.h"

#define SESSION_MS 4000
#define CONNECT_MS 10000

static rl_zk *
session(void)
{
	char   err[512] = "";
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(rt_zk(), SESSION_MS, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", rt_zk(), rl_errname(rv), err);
	cr_assert_not_null(zk);
	return zk;
}

static void
set_ok(rl_zk *zk, const char *path, const void *data, size_t len)
{
	char   err[512] = "";
	rl_err rv = rl_zk_set(zk, path, data, len, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "set %s: %s: %s", path, rl_errname(rv), err);
}

// get_ok returns path's value (free with rl_free) and its length.
static char *
get_ok(rl_zk *zk, const char *path, size_t *len)
{
	char   err[512] = "", *value = NULL;
	rl_err rv = rl_zk_get(zk, path, &value, len, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "get %s: %s: %s", path, rl_errname(rv), err);
	cr_assert_not_null(value);
	return value;
}

static void
delete_ok(rl_zk *zk, const char *path)
{
	char   err[512] = "";
	rl_err rv = rl_zk_delete(zk, path, true, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "delete %s: %s: %s", path, rl_errname(rv), err);
}

// ---- values ----

Test(zk, set_then_get_returns_the_text_nul_terminated)
{
	rl_zk *zk = session();
	delete_ok(zk, "/t-text");
	set_ok(zk, "/t-text", "hello", 5);
	size_t len = 0;
	char  *v = get_ok(zk, "/t-text", &len);
	cr_assert_eq(len, 5);
	cr_assert_str_eq(v, "hello");
	rl_free(v);
	delete_ok(zk, "/t-text");
	rl_zk_close(zk);
}

Test(zk, binary_value_with_every_byte_round_trips)
{
	rl_zk        *zk = session();
	unsigned char bytes[512];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(255 - i % 256); // NULs included
	set_ok(zk, "/t-binary", bytes, sizeof(bytes));
	size_t len = 0;
	char  *v = get_ok(zk, "/t-binary", &len);
	cr_assert_eq(len, sizeof(bytes));
	cr_assert_eq(memcmp(v, bytes, sizeof(bytes)), 0);
	cr_assert_eq(v[len], '\0');
	rl_free(v);
	delete_ok(zk, "/t-binary");
	rl_zk_close(zk);
}

Test(zk, half_megabyte_value_round_trips)
{
	rl_zk         *zk = session();
	size_t         n = 500 * 1024;
	unsigned char *big = rl_malloc(n);
	uint32_t       x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		big[i] = (unsigned char)x;
	}
	set_ok(zk, "/t-big", big, n);
	size_t len = 0;
	char  *v = get_ok(zk, "/t-big", &len);
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(v, big, n), 0);
	rl_free(v);
	rl_free(big);
	delete_ok(zk, "/t-big");
	rl_zk_close(zk);
}

Test(zk, empty_value_reads_as_empty_string)
{
	rl_zk *zk = session();
	set_ok(zk, "/t-empty", NULL, 0);
	size_t len = 99;
	char  *v = get_ok(zk, "/t-empty", &len);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(v, "");
	rl_free(v);
	delete_ok(zk, "/t-empty");
	rl_zk_close(zk);
}

Test(zk, set_overwrites_with_a_shorter_value)
{
	rl_zk *zk = session();
	set_ok(zk, "/t-over", "a longer first value", 20);
	set_ok(zk, "/t-over", "v2", 2);
	size_t len = 0;
	char  *v = get_ok(zk, "/t-over", &len);
	cr_assert_eq(len, 2);
	cr_assert_str_eq(v, "v2");
	rl_free(v);
	delete_ok(zk, "/t-over");
	rl_zk_close(zk);
}

Test(zk, set_creates_missing_parents_empty)
{
	rl_zk *zk = session();
	delete_ok(zk, "/t-nested");
	set_ok(zk, "/t-nested/a/b/c", "leaf", 4);
	size_t len = 0;
	char  *v = get_ok(zk, "/t-nested/a/b/c", &len);
	cr_assert_str_eq(v, "leaf");
	rl_free(v);
	v = get_ok(zk, "/t-nested/a", &len);
	cr_assert_eq(len, 0, "a parent made for the leaf holds no data");
	rl_free(v);
	// A sibling reuses the parents.
	set_ok(zk, "/t-nested/a/b/d", "d", 1);
	delete_ok(zk, "/t-nested");
	rl_zk_close(zk);
}

Test(zk, get_of_missing_node_is_noent_with_path)
{
	rl_zk *zk = session();
	char   err[512] = "", *value = (char *)"untouched";
	size_t len = 77;
	rl_err rv = rl_zk_get(zk, "/t-missing/node", &value, &len, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "/t-missing/node"), "message names the path: %s", err);
	cr_assert_not_null(strstr(err, rt_zk()), "message names the server: %s", err);
	cr_assert_str_eq(value, "untouched", "out-parameters are written only on success");
	cr_assert_eq(len, 77);
	rl_zk_close(zk);
}

Test(zk, invalid_path_is_inval)
{
	rl_zk *zk = session();
	char   err[512] = "";
	rl_err rv = rl_zk_set(zk, "no-leading-slash", "x", 1, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_INVAL, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "no-leading-slash"), "%s", err);
	rl_zk_close(zk);
}

// ---- children and delete ----

Test(zk, children_are_listed_sorted_and_null_terminated)
{
	rl_zk *zk = session();
	delete_ok(zk, "/t-kids");
	set_ok(zk, "/t-kids/c", "", 0);
	set_ok(zk, "/t-kids/a", "", 0);
	set_ok(zk, "/t-kids/b/deeper", "", 0);
	char   err[512] = "", **names = NULL;
	size_t count = 0;
	rl_err rv = rl_zk_children(zk, "/t-kids", &names, &count, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(count, 3);
	cr_assert_str_eq(names[0], "a");
	cr_assert_str_eq(names[1], "b");
	cr_assert_str_eq(names[2], "c");
	cr_assert_null(names[3]);
	rl_zk_free_names(names);

	rv = rl_zk_children(zk, "/t-kids/a", &names, &count, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(count, 0);
	cr_assert_null(names[0]);
	rl_zk_free_names(names);
	rl_zk_free_names(NULL);

	names = NULL;
	rv = rl_zk_children(zk, "/t-kids/none", &names, &count, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "/t-kids/none"), "%s", err);
	cr_assert_null(names);
	delete_ok(zk, "/t-kids");
	rl_zk_close(zk);
}

Test(zk, delete_recursive_removes_the_subtree)
{
	rl_zk *zk = session();
	set_ok(zk, "/t-tree/x/1", "1", 1);
	set_ok(zk, "/t-tree/x/2/deep/deeper", "2", 1);
	set_ok(zk, "/t-tree/y", "y", 1);
	char   err[512] = "";
	rl_err rv = rl_zk_delete(zk, "/t-tree", false, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_EXISTS, "a node with children stays: %s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "/t-tree"), "%s", err);

	rv = rl_zk_delete(zk, "/t-tree/y", false, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	delete_ok(zk, "/t-tree");
	char *value = NULL;
	rv = rl_zk_get(zk, "/t-tree/x/2/deep/deeper", &value, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_get(zk, "/t-tree", &value, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	// A missing node is success, recursive or not.
	delete_ok(zk, "/t-tree");
	rv = rl_zk_delete(zk, "/t-tree", false, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rl_zk_close(zk);
}

struct racer {
	rl_zk *zk;
	int    id;
	rl_err rv;
	char   err[512];
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 20 && r->rv == RL_OK; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/t-race/shared/p%d/n%d", i % 3, i);
		r->rv = rl_zk_set(r->zk, path, &r->id, sizeof(r->id), r->err, sizeof(r->err));
	}
	return NULL;
}

Test(zk, threads_creating_the_same_parents_all_succeed)
{
	rl_zk *zk = session();
	delete_ok(zk, "/t-race");
	struct racer r[8];
	pthread_t    th[8];
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer) { .zk = zk, .id = i, .rv = RL_OK };
		pthread_create(&th[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(r[i].rv, RL_OK, "thread %d: %s: %s", i, rl_errname(r[i].rv), r[i].err);
	}
	char   err[512] = "", **names = NULL;
	size_t count = 0;
	rl_err rv = rl_zk_children(zk, "/t-race/shared", &names, &count, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(count, 3);
	rl_zk_free_names(names);
	delete_ok(zk, "/t-race");
	rl_zk_close(zk);
}

// ---- sessions ----

Test(zk, chroot_is_created_and_confines_paths)
{
	char chroot[128], conn[512], path[256];
	snprintf(chroot, sizeof(chroot), "/rill-test-%d/deep/er", (int)getpid());
	snprintf(conn, sizeof(conn), "%s%s", rt_zk(), chroot);
	rl_zk *plain = session();
	char   top[128];
	snprintf(top, sizeof(top), "/rill-test-%d", (int)getpid());
	delete_ok(plain, top);

	char   err[512] = "";
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(conn, SESSION_MS, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", conn, rl_errname(rv), err);
	// The chroot exists now, seen from a session without it.
	size_t len = 99;
	char  *v = get_ok(plain, chroot, &len);
	cr_assert_eq(len, 0);
	rl_free(v);
	set_ok(zk, "/inside", "in", 2);
	snprintf(path, sizeof(path), "%s/inside", chroot);
	v = get_ok(plain, path, &len);
	cr_assert_str_eq(v, "in");
	rl_free(v);
	// "/" is the chroot: deleting it recursively empties it and keeps it.
	delete_ok(zk, "/");
	char **names = NULL;
	size_t count = 9;
	rv = rl_zk_children(plain, chroot, &names, &count, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(count, 0);
	rl_zk_free_names(names);
	rl_zk_close(zk);

	// A second connect finds the chroot there.
	rv = rl_zk_connect(conn, SESSION_MS, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "reconnect %s: %s: %s", conn, rl_errname(rv), err);
	rl_zk_close(zk);
	delete_ok(plain, top);
	rl_zk_close(plain);
}

// A loopback port nobody listens on.
static int
dead_port(void)
{
	int                fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t          alen = sizeof(a);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	return ntohs(a.sin_port);
}

Test(zk, dead_port_times_out_quietly_naming_the_server)
{
	char conn[128], err[512] = "";
	snprintf(conn, sizeof(conn), "127.0.0.1:%d/rill", dead_port());
	// The client's own complaints must not reach stderr.
	char log[] = "/tmp/rill-zk-stderr-XXXXXX";
	int  logfd = mkstemp(log);
	cr_assert_geq(logfd, 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(logfd, 2);
	rl_zk  *zk = (rl_zk *)&err; // a sentinel: must stay untouched
	int64_t t0 = rl_mono_ms();
	rl_err  rv = rl_zk_connect(conn, 2000, 1500, &zk, err, sizeof(err));
	int64_t took = rl_mono_ms() - t0;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char *noise = rt_read(log, NULL);
	close(logfd);
	unlink(log);

	cr_assert_eq(rv, RL_ERR_TIMEDOUT, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, conn), "message names the connect string: %s", err);
	cr_assert_eq(zk, (rl_zk *)&err, "out-parameter written on failure");
	cr_assert_geq(took, 1400, "gave up after %lld ms, before the timeout", (long long)took);
	cr_assert_lt(took, 4000, "took %lld ms for a 1500 ms timeout", (long long)took);
	cr_assert_str_eq(noise, "", "stderr got: %s", noise);
	free(noise);
}

Test(zk, malformed_connect_strings_are_inval)
{
	const char *bad[] = {
		"",
		"localhost",
		"localhost:",
		":2181",
		"localhost:abc",
		"localhost:0",
		"localhost:99999",
		"localhost:2181,",
		"a:1,,b:2",
		"local host:2181",
		"/chroot-only",
		"127.0.0.1:2181//x",
		"127.0.0.1:2181/x/",
		"127.0.0.1:2181/x/../y",
		"127.0.0.1:2181/./y",
		"127.0.0.1:2181/tab\there",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char   err[512] = "";
		rl_zk *zk = NULL;
		rl_err rv = rl_zk_connect(bad[i], 2000, 1000, &zk, err, sizeof(err));
		cr_expect_eq(rv, RL_ERR_INVAL, "\"%s\": %s: %s", bad[i], rl_errname(rv), err);
		cr_expect_null(zk, "\"%s\": out-parameter written on failure", bad[i]);
		cr_expect_not_null(strstr(err, "connect string"), "\"%s\": %s", bad[i], err);
		rl_zk_close(zk);
	}
	char   err[512] = "";
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(NULL, 2000, 1000, &zk, err, sizeof(err));
	cr_expect_eq(rv, RL_ERR_INVAL, "NULL: %s: %s", rl_errname(rv), err);
}

Test(zk, several_servers_and_root_chroot_are_accepted)
{
	char conn[512], err[512] = "";
	// A dead server first in the list: the client moves on to the live one.
	snprintf(conn, sizeof(conn), "127.0.0.1:%d,%s/", dead_port(), rt_zk());
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(conn, SESSION_MS, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", conn, rl_errname(rv), err);
	cr_assert_not(rl_zk_expired(zk));
	rl_zk_close(zk);
}

Test(zk, oversized_value_fails_with_a_hint_and_session_recovers)
{
	rl_zk *zk = session();
	size_t n = 2 * 1024 * 1024;
	char  *huge = rl_calloc(1, n);
	char   err[512] = "";
	rl_err rv = rl_zk_set(zk, "/t-huge", huge, n, err, sizeof(err));
	rl_free(huge);
	cr_assert_neq(rv, RL_OK);
	cr_assert_not_null(strstr(err, "jute.maxbuffer"), "%s: %s", rl_errname(rv), err);
	// The server dropped the connection; the session comes back.
	for (int i = 0; i < 50; i++) {
		rv = rl_zk_set(zk, "/t-huge", "small", 5, err, sizeof(err));
		if (rv != RL_ERR_TIMEDOUT)
			break;
		rl_sleep_ms(100);
	}
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_not(rl_zk_expired(zk));
	delete_ok(zk, "/t-huge");
	rl_zk_close(zk);
}

Test(zk, server_restart_keeps_the_session, .timeout = 60)
{
	rl_zk *zk = session();
	set_ok(zk, "/t-restart", "before", 6);
	const char *src = getenv("RILL_SOURCE_ROOT"), *dir = getenv("RILL_TEST_ZK_DIR");
	const char *port = strrchr(rt_zk(), ':') + 1;
	cr_assert_eq(rt_sh("%s/deploy/zookeeper.sh stop --dir %s >/dev/null 2>&1", src, dir), 0);

	// While the server is down, reads fail soon, as timeouts.
	char    err[512] = "", *value = NULL;
	int64_t t0 = rl_mono_ms();
	rl_err  rv = rl_zk_get(zk, "/t-restart", &value, NULL, err, sizeof(err));
	int64_t took = rl_mono_ms() - t0;
	int     up = rt_sh(
	        "%s/deploy/zookeeper.sh start --dir %s --port %s >/dev/null 2>&1", src, dir, port);
	cr_assert_eq(up, 0, "ZooKeeper did not come back on port %s (see %s)", port, dir);
	cr_assert_eq(rv, RL_ERR_TIMEDOUT, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "/t-restart"), "%s", err);
	cr_assert_lt(took, SESSION_MS, "a read took %lld ms with the server down", (long long)took);

	// Back within the session timeout: the same session goes on.
	for (int i = 0; i < 100; i++) {
		rv = rl_zk_get(zk, "/t-restart", &value, NULL, err, sizeof(err));
		if (rv != RL_ERR_TIMEDOUT)
			break;
		rl_sleep_ms(100);
	}
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(value, "before");
	rl_free(value);
	cr_assert_not(rl_zk_expired(zk));
	delete_ok(zk, "/t-restart");
	rl_zk_close(zk);
}

// The session lives in a child process that is stopped (SIGSTOP) for longer
// than its timeout: the server expires it, and once resumed the child must see
// rl_zk_expired, and RL_ERR_CLOSED saying so. Exit codes: 0 ok, 2 no connect, 3 never
// expired, 4 a write after expiry was not RL_ERR_CLOSED.
Test(zk, stopped_client_sees_its_session_expire, .timeout = 60)
{
	const char *conn = rt_zk();
	int         ready[2];
	pid_t       child = rt_fork_ready(ready);
	if (child == 0) {
		char   err[512] = "";
		rl_zk *zk = NULL;
		if (rl_zk_connect(conn, 1000, CONNECT_MS, &zk, err, sizeof(err)) != RL_OK) {
			fprintf(stderr, "child: %s\n", err);
			_exit(2);
		}
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		int code = 3;
		for (int i = 0; i < 300 && code == 3; i++) {
			if (rl_zk_expired(zk))
				code = rl_zk_set(zk, "/t-expired", "x", 1, err, sizeof(err))
				            == RL_ERR_CLOSED
				        && strstr(err, "expired") != NULL
				    ? 0
				    : 4;
			else
				rl_sleep_ms(50);
		}
		if (code == 4)
			fprintf(stderr, "child: set after expiry: %s\n", err);
		rl_zk_close(zk);
		_exit(code);
	}
	rt_child_ready(ready, child, "connect");
	kill(child, SIGSTOP);
	rl_sleep_ms(3500); // session timeout 1000 ms, ticks of 500 ms
	kill(child, SIGCONT);
	int status = 0;
	waitpid(child, &status, 0);
	cr_assert(WIFEXITED(status), "child died of signal %d", WTERMSIG(status));
	cr_assert_eq(
	    WEXITSTATUS(status), 0, "child exit %d (3: never expired)", WEXITSTATUS(status));
}

// ---- create flags, versions ----

// is_sequential_of tells whether path is prefix followed by 10 digits.
static bool
is_sequential_of(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0 || strlen(path) != n + 10)
		return false;
	for (const char *c = path + n; *c != '\0'; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

Test(zk, create_ephemeral_sequential_returns_the_path_and_ends_with_the_session)
{
	rl_zk *zk = session(), *other = session();
	delete_ok(zk, "/t-create");
	char   err[512] = "", *first = NULL, *second = NULL;
	rl_err rv = rl_zk_create(zk, "/t-create/job/election/n_", "me", 2,
	    RL_ZK_EPHEMERAL | RL_ZK_SEQUENTIAL, &first, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_create(zk, "/t-create/job/election/n_", "me", 2,
	    RL_ZK_EPHEMERAL | RL_ZK_SEQUENTIAL, &second, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert(is_sequential_of(first, "/t-create/job/election/n_"), "%s", first);
	cr_assert(is_sequential_of(second, "/t-create/job/election/n_"), "%s", second);
	cr_assert_lt(strcmp(first, second), 0, "%s then %s", first, second);

	// The node is the session's; its parents are persistent.
	rl_zk_stat st;
	rv = rl_zk_exists(other, first, NULL, 0, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(st.ephemeral_owner, rl_zk_session_id(zk));
	cr_assert_neq(st.ephemeral_owner, 0);
	rv = rl_zk_exists(other, "/t-create/job/election", NULL, 0, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(st.ephemeral_owner, 0);
	cr_assert_eq(st.num_children, 2);

	// A plain create of an existing node is EXISTS; NULL ret_path is fine.
	rv = rl_zk_create(zk, "/t-create/plain", NULL, 0, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	char *untouched = (char *)"untouched";
	rv = rl_zk_create(zk, "/t-create/plain", NULL, 0, 0, &untouched, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_EXISTS, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "/t-create/plain"), "%s", err);
	cr_assert_str_eq(untouched, "untouched");
	// An ephemeral node takes no children.
	rv = rl_zk_create(zk, "/t-create/eph", NULL, 0, RL_ZK_EPHEMERAL, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_create(zk, "/t-create/eph/kid", NULL, 0, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_INVAL, "%s: %s", rl_errname(rv), err);

	// Closing the session removes its ephemeral nodes at once.
	rl_zk_close(zk);
	rv = rl_zk_exists(other, first, NULL, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_exists(other, "/t-create/plain", NULL, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rl_free(first);
	rl_free(second);
	delete_ok(other, "/t-create");
	rl_zk_close(other);
}

Test(zk, set_with_a_stale_version_is_stale_epoch_and_changes_nothing)
{
	rl_zk *zk = session();
	delete_ok(zk, "/t-ver");
	char   err[512] = "";
	rl_err rv = rl_zk_create(zk, "/t-ver", "v0", 2, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rl_zk_stat st = { .version = -7 };
	char      *v = NULL;
	rv = rl_zk_get_stat(zk, "/t-ver", NULL, 0, &v, NULL, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(st.version, 0);
	cr_assert_gt(st.mzxid, 0);
	cr_assert_eq(st.czxid, st.mzxid);
	rl_free(v);

	rv = rl_zk_set_version(zk, "/t-ver", "v1", 2, 0, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(st.version, 1);
	rl_zk_stat before = st;
	rv = rl_zk_set_version(zk, "/t-ver", "lost", 4, 0, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "expected version 0"), "%s", err);
	cr_assert_not_null(strstr(err, "/t-ver"), "%s", err);
	cr_assert_eq(st.version, before.version, "out-parameter written on failure");
	rv = rl_zk_get_stat(zk, "/t-ver", NULL, 0, &v, NULL, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(v, "v1");
	cr_assert_eq(st.version, 1);
	cr_assert_gt(st.mzxid, st.czxid);
	rl_free(v);
	// -1 is any version.
	rv = rl_zk_set_version(zk, "/t-ver", "v2", 2, -1, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_set_version(zk, "/t-ver-missing", "x", 1, -1, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "set does not create: %s: %s", rl_errname(rv), err);

	rv = rl_zk_delete_version(zk, "/t-ver", 1, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_delete_version(zk, "/t-ver", 2, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_delete_version(zk, "/t-ver", 2, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	rl_zk_close(zk);
}

// ---- watches ----

// watch_wait takes the next event on q within timeout_ms, passing over the
// session's losses and regains of its connection: a loaded machine may drop
// and redial it, which the client survives with its watches (what the watch
// tests check); an expiry is not passed over.
static bool
watch_wait(rl_zk_queue *q, int timeout_ms, rl_zk_event *ret)
{
	int64_t deadline = rl_mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - rl_mono_ms();
		if (!rl_zk_queue_wait(q, left > 0 ? (int)left : 0, ret))
			return false;
		if (ret->type != RL_ZK_EV_SESSION || ret->state == RL_ZK_EXPIRED)
			return true;
		rl_zk_event_fini(ret);
	}
}

// next_event waits up to timeout_ms for a watch's event on q; fails the
// test if none.
static rl_zk_event
next_event(rl_zk_queue *q, int timeout_ms)
{
	rl_zk_event ev;
	cr_assert(watch_wait(q, timeout_ms, &ev), "no event within %d ms", timeout_ms);
	return ev;
}

static void
no_event(rl_zk_queue *q, int timeout_ms)
{
	rl_zk_event ev;
	bool        got = watch_wait(q, timeout_ms, &ev);
	cr_assert_not(got, "unexpected event type %d tag %llu path %s", got ? (int)ev.type : 0,
	    got ? (unsigned long long)ev.tag : 0ULL, got && ev.path ? ev.path : "-");
}

Test(zk, watches_fire_once_on_the_owners_queue)
{
	rl_zk       *zk = session(), *writer = session();
	rl_zk_queue *q = rl_zk_queue_create(zk);
	delete_ok(zk, "/t-watch");
	char   err[512] = "";
	size_t before = rl_zk_watch_count(zk);

	// exists on a missing node watches for its creation.
	rl_err rv = rl_zk_exists(zk, "/t-watch/node", q, 11, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(rl_zk_watch_count(zk), before + 1);
	no_event(q, 0);
	set_ok(writer, "/t-watch/node", "a", 1);
	rl_zk_event ev = next_event(q, 5000);
	cr_assert_eq(ev.type, RL_ZK_EV_CREATED);
	cr_assert_eq(ev.tag, 11);
	cr_assert_str_eq(ev.path, "/t-watch/node");
	cr_assert_eq(ev.state, RL_ZK_CONNECTED);
	rl_zk_event_fini(&ev);
	cr_assert_eq(rl_zk_watch_count(zk), before);

	// A data watch fires once: the second change is not reported.
	char *v = NULL;
	rv = rl_zk_get_stat(zk, "/t-watch/node", q, 12, &v, NULL, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rl_free(v);
	set_ok(writer, "/t-watch/node", "b", 1);
	set_ok(writer, "/t-watch/node", "c", 1);
	ev = next_event(q, 5000);
	cr_assert_eq(ev.type, RL_ZK_EV_CHANGED);
	cr_assert_eq(ev.tag, 12);
	rl_zk_event_fini(&ev);
	no_event(q, 300);

	// A children watch, then a delete seen by an exists watch.
	char **names = NULL;
	rv = rl_zk_children_watch(zk, "/t-watch", q, 13, &names, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(names[0], "node");
	rl_zk_free_names(names);
	rv = rl_zk_exists(zk, "/t-watch/node", q, 14, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(rl_zk_watch_count(zk), before + 2);
	delete_ok(writer, "/t-watch/node");
	bool seen[2] = { false, false };
	for (int i = 0; i < 2; i++) {
		ev = next_event(q, 5000);
		if (ev.tag == 13)
			seen[0] = ev.type == RL_ZK_EV_CHILD && strcmp(ev.path, "/t-watch") == 0;
		if (ev.tag == 14)
			seen[1] = ev.type == RL_ZK_EV_DELETED;
		rl_zk_event_fini(&ev);
	}
	cr_assert(seen[0] && seen[1], "child %d, deleted %d", seen[0], seen[1]);
	cr_assert_eq(rl_zk_watch_count(zk), before);

	// A read that fails sets no watch.
	rv = rl_zk_get_stat(zk, "/t-watch/none", q, 15, &v, NULL, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	rv = rl_zk_children_watch(zk, "/t-watch/none", q, 16, &names, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(rl_zk_watch_count(zk), before);

	// A watch outliving its queue fires into nothing; closing frees it.
	rv = rl_zk_exists(zk, "/t-watch/later", q, 17, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT);
	rl_zk_queue_destroy(q);
	set_ok(writer, "/t-watch/later", "x", 1);
	rl_zk_queue *q2 = rl_zk_queue_create(zk);
	no_event(q2, 300);
	cr_assert_eq(rl_zk_watch_count(zk), before);
	rv = rl_zk_exists(zk, "/t-watch/never", q2, 18, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT);
	rl_zk_queue_destroy(q2);
	rl_zk_close(zk);
	delete_ok(writer, "/t-watch");
	rl_zk_close(writer);
}

// ---- multi-ops ----

Test(zk, multi_checked_by_an_epoch_version_applies_all_or_nothing)
{
	rl_zk *zk = session();
	delete_ok(zk, "/t-multi");
	set_ok(zk, "/t-multi/log/x", "", 0);
	set_ok(zk, "/t-multi/epoch", "", 0);
	rl_zk_stat st;
	char       err[512] = "";
	rl_err     rv = rl_zk_set_version(zk, "/t-multi/epoch", "", 0, -1, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	int32_t epoch = st.version;
	cr_assert_eq(epoch, 1);

	rl_zk_op ops[] = {
		rl_zk_op_check("/t-multi/epoch", epoch),
		rl_zk_op_set("/t-multi/log/x", "planned", 7, -1),
		rl_zk_op_create("/t-multi/log/b_", "b", 1, RL_ZK_SEQUENTIAL),
	};
	size_t failed = 99;
	rv = rl_zk_multi(zk, ops, 3, &failed, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(failed, 99, "out-parameter written on success");
	cr_assert_eq(ops[1].new_version, 1);
	cr_assert_not_null(ops[2].created);
	cr_assert(is_sequential_of(ops[2].created, "/t-multi/log/b_"), "%s", ops[2].created);
	char *v = get_ok(zk, ops[2].created, NULL);
	cr_assert_str_eq(v, "b");
	rl_free(v);
	rl_zk_ops_fini(ops, 3);
	cr_assert_null(ops[2].created);

	// A new epoch: the old one's writes fail as a whole.
	rv = rl_zk_set_version(zk, "/t-multi/epoch", "", 0, epoch, &st, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rl_zk_op stale[] = {
		rl_zk_op_check("/t-multi/epoch", epoch),
		rl_zk_op_set("/t-multi/log/x", "done", 4, -1),
		rl_zk_op_create("/t-multi/log/c", "c", 1, 0),
	};
	rv = rl_zk_multi(zk, stale, 3, &failed, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(failed, 0);
	cr_assert_not_null(strstr(err, "/t-multi/epoch"), "%s", err);
	cr_assert_not_null(strstr(err, "expected version 1"), "%s", err);
	cr_assert_null(stale[2].created);
	v = get_ok(zk, "/t-multi/log/x", NULL);
	cr_assert_str_eq(v, "planned", "a failed multi wrote");
	rl_free(v);
	rv = rl_zk_exists(zk, "/t-multi/log/c", NULL, 0, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_NOENT, "a failed multi created: %s", rl_errname(rv));

	// The error is the failing operation's, at its index; earlier ones undone.
	rl_zk_op second[] = {
		rl_zk_op_set("/t-multi/log/x", "undone", 6, -1),
		rl_zk_op_create("/t-multi/log/x", "dup", 3, 0),
		rl_zk_op_delete("/t-multi/epoch", -1),
	};
	rv = rl_zk_multi(zk, second, 3, &failed, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_EXISTS, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(failed, 1);
	cr_assert_not_null(strstr(err, "multi-op 2 of 3 (create)"), "%s", err);
	v = get_ok(zk, "/t-multi/log/x", NULL);
	cr_assert_str_eq(v, "planned");
	rl_free(v);
	rl_zk_ops_fini(second, 3);
	delete_ok(zk, "/t-multi");
	rl_zk_close(zk);
}

// ---- session state and the lease clock ----

Test(zk, stopped_server_suspends_the_session_and_stalls_the_lease_clock, .timeout = 60)
{
	rl_zk       *zk = session();
	rl_zk_queue *q = rl_zk_queue_create(zk);
	cr_assert_eq(rl_zk_session_state(zk), RL_ZK_CONNECTED);
	cr_assert_eq(rl_zk_session_timeout_ms(zk), SESSION_MS);
	// Heartbeats keep the clock within a tenth of the timeout (plus a round trip).
	rl_sleep_ms(1000);
	int64_t age = rl_mono_ms() - rl_zk_last_heard_ms(zk);
	cr_assert_lt(age, SESSION_MS / 10 + 200, "last heard %lld ms ago", (long long)age);

	// Events from before the stop (a reconnect) are not what this test is about.
	rl_zk_event ev = { 0 };
	while (rl_zk_queue_wait(q, 0, &ev))
		rl_zk_event_fini(&ev);
	rt_zk_signal(SIGSTOP);
	int64_t stopped = rl_mono_ms();
	// The client gives up on the connection after 2/3 of the timeout.
	bool        got = rl_zk_queue_wait(q, SESSION_MS, &ev);
	int64_t     suspended_after = rl_mono_ms() - stopped;
	int64_t     heard = rl_zk_last_heard_ms(zk);
	rl_zk_state state = rl_zk_session_state(zk);
	rl_sleep_ms(300);
	int64_t heard_later = rl_zk_last_heard_ms(zk);
	rt_zk_signal(SIGCONT);

	cr_assert(got, "no session event within %d ms of the server stopping", SESSION_MS);
	cr_assert_eq(ev.type, RL_ZK_EV_SESSION);
	cr_assert_eq(ev.state, RL_ZK_SUSPENDED, "state %d after %lld ms", (int)ev.state,
	    (long long)suspended_after);
	cr_assert_eq(state, RL_ZK_SUSPENDED);
	cr_assert_lt(suspended_after, SESSION_MS, "%lld ms", (long long)suspended_after);
	cr_assert_leq(heard, stopped, "heard from a stopped server");
	cr_assert_eq(heard_later, heard, "the clock moved while the server was stopped");

	// The server back before the timeout: the same session, heard anew.
	cr_assert(rl_zk_queue_wait(q, 10000, &ev), "no session event within 10 s of SIGCONT");
	cr_assert_eq(ev.type, RL_ZK_EV_SESSION);
	cr_assert_eq(ev.state, RL_ZK_CONNECTED);
	cr_assert_eq(rl_zk_session_state(zk), RL_ZK_CONNECTED);
	for (int i = 0; i < 50 && rl_zk_last_heard_ms(zk) <= stopped; i++)
		rl_sleep_ms(20);
	cr_assert_gt(rl_zk_last_heard_ms(zk), stopped, "not heard since the server came back");
	cr_assert_not(rl_zk_expired(zk));
	rl_zk_queue_destroy(q);
	rl_zk_close(zk);
}

// ---- the cluster secret's ACL ----

// secret_session connects with secret text as the cluster secret (NULL: none).
static rl_zk *
secret_session(const char *text)
{
	rl_secret s = { .s_len = text != NULL ? strlen(text) : 0 };
	if (text != NULL)
		memcpy(s.s_key, text, s.s_len);
	rl_secret_use(text != NULL ? &s : NULL);
	rl_zk *zk = session();
	rl_secret_use(NULL);
	return zk;
}

Test(zk, node_created_with_the_secret_cannot_be_read_without_it)
{
	const char *secret = "the zookeeper test secret";
	rl_zk      *owner = secret_session(secret);
	char        err[512] = "";
	set_ok(owner, "/secret-acl/jobs/a", "spec", 4);
	size_t len;
	char  *got = get_ok(owner, "/secret-acl/jobs/a", &len);
	cr_assert_eq(len, 4);
	rl_free(got);

	// Another session with the same secret reads and writes it.
	rl_zk *peer = secret_session(secret);
	got = get_ok(peer, "/secret-acl/jobs/a", &len);
	cr_assert_eq(memcmp(got, "spec", 4), 0);
	rl_free(got);
	rl_zk_close(peer);

	// Without it, or with another one: no read, no list, no write, no delete
	// (of the node or of its parents, made with the same ACL).
	const char *others[] = { NULL, "a secret of another cluster" };
	for (size_t i = 0; i < 2; i++) {
		rl_zk *zk = secret_session(others[i]);
		char  *data = NULL;
		cr_assert_eq(rl_zk_get(zk, "/secret-acl/jobs/a", &data, &len, err, sizeof(err)),
		    RL_ERR_AUTH, "%s", err);
		cr_assert_null(data);
		char **names = NULL;
		size_t count;
		cr_assert_eq(
		    rl_zk_children(zk, "/secret-acl/jobs", &names, &count, err, sizeof(err)),
		    RL_ERR_AUTH, "%s", err);
		cr_assert_eq(rl_zk_set(zk, "/secret-acl/jobs/a", "evil", 4, err, sizeof(err)),
		    RL_ERR_AUTH, "%s", err);
		cr_assert_eq(
		    rl_zk_create(zk, "/secret-acl/jobs/b", "x", 1, 0, NULL, err, sizeof(err)),
		    RL_ERR_AUTH, "%s", err);
		cr_assert_neq(rl_zk_delete(zk, "/secret-acl", true, err, sizeof(err)), RL_OK);
		rl_zk_close(zk);
	}
	got = get_ok(owner, "/secret-acl/jobs/a", &len);
	cr_assert_eq(memcmp(got, "spec", 4), 0, "the value is unchanged");
	rl_free(got);
	cr_assert_eq(rl_zk_delete(owner, "/secret-acl", true, err, sizeof(err)), RL_OK, "%s", err);
	rl_zk_close(owner);
}

Test(zk, chroot_created_with_the_secret_is_closed_to_others)
{
	const char *secret = "the zookeeper test secret";
	char        conn[512], err[512] = "";
	snprintf(conn, sizeof(conn), "%s/secret-chroot/rill", rt_zk());
	rl_secret s = { .s_len = strlen(secret) };
	memcpy(s.s_key, secret, s.s_len);
	rl_secret_use(&s);
	rl_zk *owner;
	cr_assert_eq(rl_zk_connect(conn, SESSION_MS, CONNECT_MS, &owner, err, sizeof(err)), RL_OK,
	    "%s", err);
	rl_secret_use(NULL);
	set_ok(owner, "/x", "1", 1);
	rl_zk *root = session();
	char  *data = NULL;
	size_t len;
	cr_assert_eq(rl_zk_get(root, "/secret-chroot/rill/x", &data, &len, err, sizeof(err)),
	    RL_ERR_AUTH, "%s", err);
	char **names = NULL;
	size_t count;
	cr_assert_eq(rl_zk_children(root, "/secret-chroot", &names, &count, err, sizeof(err)),
	    RL_ERR_AUTH, "%s", err);
	rl_zk_close(root);
	rl_zk_close(owner);
}
