/* Unit tests of snapshot/gc.c and layer removal (snapshot/store.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot_int.h"
#include "test_util.h"

static int setup(void **state)
{
	return fx_setup(state, "snapgc");
}

/* Makes an object look old (beyond any grace period the test uses). */
static void age(struct fx *f, const git_oid *id, int seconds)
{
	assert_int_equal(snap__store_flush(f->s), 0);
	char p[PATH_MAX];
	snap__object_path(f->s, id, p, sizeof(p));
	struct timespec ts[2] = {{.tv_sec = time(NULL) - seconds}, {.tv_sec = time(NULL) - seconds}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static git_oid put(struct fx *f, const char *s)
{
	git_oid id;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, s, strlen(s), &id, &isnew), 0);
	return id;
}

/* A layer with one file whose content is cid; parent may be "". */
static void layer(struct fx *f, const char *parent, const char *path, const git_oid *cid, size_t size,
                  char id[41])
{
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = SNAP_KIND_SESSION;
	snprintf(m.parent, sizeof(m.parent), "%s", parent);
	struct snap_writer *w;
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	struct snap_entry e = {.path = path, .type = SNAP_T_REG, .mode = 0644, .size = size, .cid = *cid};
	assert_int_equal(snap_writer_add(w, &e), 0);
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
}

static void test_snapshot_gc__unreferenced_removed(void **state)
{
	struct fx *f = *state;
	git_oid kept = put(f, "kept"), lost = put(f, "lost"), young = put(f, "young");
	char id[41];
	layer(f, "", "a", &kept, 4, id);
	age(f, &kept, 7200);
	age(f, &lost, 7200);
	age(f, &young, 10);
	/* dry run: reports, removes nothing */
	struct snap_gc_stats st;
	assert_int_equal(snap_store_gc(f->s, 600, true, &st), 0);
	assert_int_equal(st.layers, 1);
	assert_int_equal(st.objects_removed, 1);
	assert_int_equal(snap_object_has(f->s, &lost), 0);
	/* real run */
	assert_int_equal(snap_store_gc(f->s, 600, false, &st), 0);
	assert_int_equal(st.objects_removed, 1);
	assert_int_equal(st.objects_kept, 2);
	assert_true(st.bytes_removed > 0);
	assert_int_equal(snap_object_has(f->s, &lost), -ENOENT);
	assert_int_equal(snap_object_has(f->s, &kept), 0);
	assert_int_equal(snap_object_has(f->s, &young), 0); /* grace */
	/* grace 0: the young one goes too */
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), 0);
	assert_int_equal(snap_object_has(f->s, &young), -ENOENT);
	assert_int_equal(snap_object_has(f->s, &kept), 0);
	/* the layer still reads */
	struct snap_layer *l;
	assert_int_equal(snap_layer_open(&l, f->s, id), 0);
	assert_int_equal(snap_layer_check(l, NULL), 0);
	snap_layer_free(l);
}

static void test_snapshot_gc__dedup_hit_refreshes(void **state)
{
	struct fx *f = *state;
	git_oid old = put(f, "old content");
	age(f, &old, 7200);
	git_oid again = put(f, "old content"); /* a freeze reuses it before committing */
	assert_true(git_oid_equal(&old, &again));
	struct snap_gc_stats st;
	assert_int_equal(snap_store_gc(f->s, 600, false, &st), 0);
	assert_int_equal(snap_object_has(f->s, &old), 0);
}

static void test_snapshot_gc__temporaries(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 32], q[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/tmp/obj-stale", f->store_dir);
	snprintf(q, sizeof(q), "%s/tmp/obj-fresh", f->store_dir);
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	close(fd);
	fd = open(q, O_CREAT | O_WRONLY, 0600);
	close(fd);
	struct timespec ts[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	struct snap_gc_stats st;
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), 0);
	assert_int_equal(st.temporaries_removed, 1);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(access(q, F_OK), 0);
}

static void test_snapshot_gc__remove_refused(void **state)
{
	struct fx *f = *state;
	git_oid a = put(f, "a"), b = put(f, "b");
	char base[41], child[41];
	layer(f, "", "a", &a, 1, base);
	layer(f, base, "b", &b, 1, child);
	/* a parent cannot go */
	assert_int_equal(snap_layer_remove(f->s, base), -EBUSY);
	assert_non_null(strstr(snap_last_error(), child));
	/* a held (mounted) layer cannot go */
	struct snap_layer *l;
	assert_int_equal(snap_layer_open(&l, f->s, child), 0);
	assert_int_equal(snap_layer_remove(f->s, child), -EBUSY);
	/* gc runs while it is held and keeps its objects */
	age(f, &a, 7200);
	age(f, &b, 7200);
	struct snap_gc_stats st;
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), 0);
	assert_int_equal(st.objects_removed, 0);
	snap_layer_free(l);
	/* released: child, then base */
	assert_int_equal(snap_layer_remove(f->s, child), 0);
	assert_int_equal(snap_layer_open(&l, f->s, child), -ENOENT);
	assert_int_equal(snap_layer_remove(f->s, base), 0);
	assert_int_equal(snap_layer_remove(f->s, base), -ENOENT);
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), 0);
	assert_int_equal(st.layers, 0);
	assert_int_equal(st.objects_removed, 2);
	assert_int_equal(snap_object_has(f->s, &a), -ENOENT);
}

static void test_snapshot_gc__unreadable_layer_stops_gc(void **state)
{
	struct fx *f = *state;
	git_oid a = put(f, "a");
	char id[41];
	layer(f, "", "a", &a, 1, id);
	age(f, &a, 7200);
	char p[PATH_MAX + 128];
	snprintf(p, sizeof(p), "%s/layers/%s/manifest.db", f->store_dir, id);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(truncate(p, 100), 0);
	struct snap_gc_stats st;
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), -EIO);
	assert_int_equal(snap_object_has(f->s, &a), 0);
}

struct gc_thread {
	struct snap_store *s;
	atomic_int done;
	int r;
	struct snap_gc_stats st;
};

static void *run_gc(void *arg)
{
	struct gc_thread *g = arg;
	g->r = snap_store_gc(g->s, 0, false, &g->st);
	atomic_store(&g->done, 1);
	return NULL;
}

/* gc waits for a running writer, so an object put for a layer being written
 * (not yet referenced by any manifest) survives even with grace 0. */
static void test_snapshot_gc__waits_for_writer(void **state)
{
	struct fx *f = *state;
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = SNAP_KIND_SESSION;
	struct snap_writer *w;
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	git_oid a = put(f, "being frozen");
	age(f, &a, 7200);
	struct gc_thread g = {.s = f->s};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, run_gc, &g), 0);
	struct timespec ts = {.tv_nsec = 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	assert_int_equal(atomic_load(&g.done), 0); /* blocked on the store lock */
	struct snap_entry e = {.path = "f", .type = SNAP_T_REG, .mode = 0644, .size = 12, .cid = a};
	assert_int_equal(snap_writer_add(w, &e), 0);
	char id[41];
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
	pthread_join(th, NULL);
	assert_int_equal(g.r, 0);
	assert_int_equal(g.st.objects_removed, 0);
	assert_int_equal(snap_object_has(f->s, &a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_snapshot_gc__unreferenced_removed),
		FX_TEST(test_snapshot_gc__dedup_hit_refreshes),
		FX_TEST(test_snapshot_gc__temporaries),
		FX_TEST(test_snapshot_gc__remove_refused),
		FX_TEST(test_snapshot_gc__unreadable_layer_stops_gc),
		FX_TEST(test_snapshot_gc__waits_for_writer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
