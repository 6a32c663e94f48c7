/*
 * Unit tests of snapshot/freeze.c against a fake control socket (no FUSE):
 * the order of requests, the gate reopened on every failure path (also over
 * a new connection when the first one breaks), refusals before anything is
 * parked, and the layer's metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot.h"

#define COMMIT_A "1111111111111111111111111111111111111111"
#define COMMIT_B "2222222222222222222222222222222222222222"

struct fake {
	char dir[64], sock[128], upper[128], store[128];
	int lfd;
	pthread_t thread;
	pthread_mutex_t lock;
	char log[512];            /* commands received, space separated; protected by lock */
	/* behaviour */
	bool writable;
	bool drop_after_freeze;   /* close the connection after answering freeze */
	bool moving_commit;       /* every status shows another commit */
	const char *layer_info;   /* JSON array text, or NULL for [] */
	int statuses;
};

static void logcmd(struct fake *f, const char *cmd)
{
	pthread_mutex_lock(&f->lock);
	size_t l = strlen(f->log);
	snprintf(f->log + l, sizeof(f->log) - l, "%s%s", l ? " " : "", cmd);
	pthread_mutex_unlock(&f->lock);
}

static char *answer(struct fake *f, const char *cmd)
{
	char buf[2048];
	if (!strcmp(cmd, "status")) {
		const char *commit = f->moving_commit && (f->statuses++ % 2) ? COMMIT_B : COMMIT_A;
		snprintf(buf, sizeof(buf),
		         "{\"ok\":true,\"commit\":\"%s\",\"repo\":\"%s\",\"upper\":\"%s\",\"writable\":%s,"
		         "\"layers\":[],\"layer_info\":%s,\"sync\":{\"mounted_commit\":\"%s\"},"
		         "\"gate\":{\"state\":\"open\"}}\n",
		         commit, f->dir, f->upper, f->writable ? "true" : "false", f->layer_info ? f->layer_info : "[]",
		         COMMIT_A);
	} else if (!strcmp(cmd, "freeze") || !strcmp(cmd, "thaw")) {
		snprintf(buf, sizeof(buf), "{\"ok\":true,\"gate\":{\"state\":\"%s\"}}\n",
		         cmd[0] == 'f' ? "frozen" : "open");
	} else {
		snprintf(buf, sizeof(buf), "{\"ok\":false,\"error\":\"unknown\"}\n");
	}
	return strdup(buf);
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	for (;;) {
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			return NULL;
		char line[4096];
		size_t have = 0;
		for (;;) {
			ssize_t n = recv(c, line + have, sizeof(line) - have - 1, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			line[have] = '\0';
			char *nl;
			bool drop = false;
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				json_t *j = json_loads(line, 0, NULL);
				const char *cmd = json_string_value(json_object_get(j, "cmd"));
				char *a = answer(f, cmd ? cmd : "");
				/* a lease renewal (fs/fs.h) is logged as "renew" */
				bool renew = json_is_true(json_object_get(j, "renew"));
				logcmd(f, renew ? "renew" : cmd ? cmd : "?");
				(void)!send(c, a, strlen(a), MSG_NOSIGNAL);
				free(a);
				if (cmd && !strcmp(cmd, "freeze") && f->drop_after_freeze)
					drop = true;
				json_decref(j);
				size_t rest = have - (size_t)(nl + 1 - line);
				memmove(line, nl + 1, rest + 1);
				have = rest;
			}
			if (drop)
				break;
		}
		close(c);
	}
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_freeze.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/ctl.sock", f->dir);
	snprintf(f->upper, sizeof(f->upper), "%s/upper", f->dir);
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	assert_int_equal(mkdir(f->upper, 0755), 0);
	int fd = open(f->upper, O_RDONLY);
	assert_true(fd >= 0);
	int w = openat(fd, "hello.txt", O_CREAT | O_WRONLY, 0644);
	assert_int_equal(write(w, "hello\n", 6), 6);
	close(w);
	close(fd);
	f->writable = true;
	pthread_mutex_init(&f->lock, NULL);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(f->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->thread, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static int run_freeze(struct fake *f, char id[SNAP_ID_HEXLEN + 1], struct snap_freeze_stats *st)
{
	struct snap_store *s = NULL;
	assert_int_equal(snap_store_open(&s, f->store, true), 0);
	struct snap_freeze_opts o = {.control = f->sock, .kind = SNAP_KIND_SESSION, .author = "A <a@b>"};
	int r = snap_freeze(s, &o, id, st);
	snap_store_free(s);
	return r;
}

static void assert_log(struct fake *f, const char *want)
{
	pthread_mutex_lock(&f->lock);
	char got[512];
	snprintf(got, sizeof(got), "%s", f->log);
	pthread_mutex_unlock(&f->lock);
	assert_string_equal(got, want);
}

static void test_snapshot_freeze__sequence(void **state)
{
	struct fake *f = *state;
	char id[SNAP_ID_HEXLEN + 1], id2[SNAP_ID_HEXLEN + 1];
	struct snap_freeze_stats st;
	assert_int_equal(run_freeze(f, id, &st), 0);
	assert_log(f, "status freeze status renew renew status thaw");
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, 6);
	assert_int_equal(st.new_objects, 1);

	struct snap_store *s = NULL;
	struct snap_layer *l = NULL;
	assert_int_equal(snap_store_open(&s, f->store, false), 0);
	assert_int_equal(snap_layer_open(&l, s, id), 0);
	const struct snap_meta *m = snap_layer_meta(l);
	assert_string_equal(m->synced_commit, COMMIT_A);
	assert_string_equal(m->base_commit, COMMIT_A);
	assert_string_equal(m->parent, "");
	assert_string_equal(m->author, "A <a@b>");
	assert_string_equal(m->repo, f->dir);
	assert_int_equal(m->kind, SNAP_KIND_SESSION);
	snap_layer_free(l);
	snap_store_free(s);

	/* Again, no change: same layer, nothing new. */
	assert_int_equal(run_freeze(f, id2, &st), 0);
	assert_string_equal(id, id2);
	assert_int_equal(st.new_objects, 0);
}

static void test_snapshot_freeze__refusals_park_nothing(void **state)
{
	struct fake *f = *state;
	char id[SNAP_ID_HEXLEN + 1];
	f->writable = false;
	assert_int_equal(run_freeze(f, id, NULL), -EROFS);
	assert_log(f, "status");
	f->writable = true;
	f->layer_info = "[{\"kind\":\"dir\",\"path\":\"/some/dir\",\"id\":null}]";
	assert_int_equal(run_freeze(f, id, NULL), -EXDEV);
	assert_non_null(strstr(snap_last_error(), "/some/dir"));
	/* a parent layer the store does not have */
	f->layer_info = "[{\"kind\":\"store\",\"path\":\"x\",\"id\":\"abababababababababababababababababababab\"}]";
	assert_true(run_freeze(f, id, NULL) < 0);
	assert_non_null(strstr(snap_last_error(), "not in the store"));
	assert_log(f, "status status status");
}

static int count(void *arg, const struct snap_meta *m)
{
	(void)m;
	(*(uint64_t *)arg)++;
	return 0;
}

static void test_snapshot_freeze__thaw_after_failure(void **state)
{
	struct fake *f = *state;
	char id[SNAP_ID_HEXLEN + 1];
	f->moving_commit = true; /* a sync that never settles */
	assert_int_equal(run_freeze(f, id, NULL), -EAGAIN);
	assert_log(f, "status freeze status renew renew status status renew renew status status renew renew status thaw");
	struct snap_store *s = NULL;
	assert_int_equal(snap_store_open(&s, f->store, false), 0);
	uint64_t n = 0;
	assert_int_equal(snap_store_list(s, count, &n), 0);
	assert_int_equal(n, 0); /* no layer */
	snap_store_free(s);
}

static void test_snapshot_freeze__thaw_on_new_connection(void **state)
{
	struct fake *f = *state;
	char id[SNAP_ID_HEXLEN + 1];
	f->drop_after_freeze = true;
	int r = run_freeze(f, id, NULL);
	assert_true(r < 0);
	/* the status after freeze failed; thaw went over a fresh connection */
	assert_log(f, "status freeze thaw");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_freeze__sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_freeze__refusals_park_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_freeze__thaw_after_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_freeze__thaw_on_new_connection, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
