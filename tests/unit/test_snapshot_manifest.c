/* Unit tests of snapshot/manifest.c and snapshot/layer.c: writing and
 * reading layers. */
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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshot_int.h"
#include "test_util.h"

static int setup(void **state)
{
	return fx_setup(state, "snapman");
}

static struct snap_meta meta_of(int kind, const char *parent)
{
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	snprintf(m.parent, sizeof(m.parent), "%s", parent ? parent : "");
	snprintf(m.repo, sizeof(m.repo), "demo");
	snprintf(m.base_commit, sizeof(m.base_commit), "1111111111111111111111111111111111111111");
	snprintf(m.synced_commit, sizeof(m.synced_commit), "2222222222222222222222222222222222222222");
	snprintf(m.author, sizeof(m.author), "A U Thor <a@example.com>");
	return m;
}

static const char xattrs[] = "user.one\0\3\0\0\0abcuser.empty\0\0\0\0\0";
#define XATTRS_LEN (sizeof(xattrs) - 1)

/* Writes the fixture layer: one entry of every type. */
static void write_all_types(struct fx *f, char id[41], int64_t mtime)
{
	struct snap_writer *w;
	struct snap_meta m = meta_of(SNAP_KIND_SESSION, NULL);
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	git_oid cid;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, "data\n", 5, &cid, &isnew), 0);
	/* added out of order on purpose */
	struct snap_entry es[] = {
		{.path = "src/main.c", .type = SNAP_T_REG, .mode = 0644, .size = 5, .cid = cid, .uid = 1000,
		 .gid = 100, .mtime_sec = mtime, .mtime_nsec = 42, .xattrs = xattrs, .xattrs_len = XATTRS_LEN},
		{.path = "src", .type = SNAP_T_DIR, .mode = 0755, .mtime_sec = mtime},
		{.path = "src/link.c", .type = SNAP_T_REG, .mode = 0644, .size = 5, .cid = cid, .link = "src/main.c",
		 .mtime_sec = mtime},
		{.path = "ln", .type = SNAP_T_SYMLINK, .mode = 0777, .target = "src/main.c", .mtime_sec = mtime},
		{.path = "fifo", .type = SNAP_T_FIFO, .mode = 0600, .mtime_sec = mtime},
		{.path = "null", .type = SNAP_T_CHR, .mode = 0666, .rdev = 0x103, .mtime_sec = mtime},
		{.path = "disk", .type = SNAP_T_BLK, .mode = 0660, .rdev = 0x800, .mtime_sec = mtime},
		{.path = "sock", .type = SNAP_T_SOCK, .mode = 0755, .mtime_sec = mtime},
		{.path = "gone.txt", .type = SNAP_T_WHITEOUT, .mtime_sec = mtime},
		{.path = "build", .type = SNAP_T_DIR, .mode = 0700, .opaque = true, .mtime_sec = mtime},
		{.path = "docs/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.md", .type = SNAP_T_REG, .mode = 0600,
		 .size = 5, .cid = cid, .mtime_sec = mtime},
		{.path = "src/x.sh", .type = SNAP_T_REG, .mode = 04755, .size = 5, .cid = cid, .mtime_sec = mtime},
	};
	for (size_t i = 0; i < sizeof(es) / sizeof(es[0]); i++)
		if (snap_writer_add(w, &es[i]) != 0)
			fail_msg("%s: %s", es[i].path, snap_last_error());
	assert_int_equal(snap_writer_add(w, &es[0]), -EEXIST);
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
}

struct collect {
	char names[64][128];
	struct snap_entry e[64];
	char target[64][64], link[64][64];
	char xa[64][64];
	size_t n;
};

static int collect_fn(void *arg, const struct snap_entry *e)
{
	struct collect *c = arg;
	assert_true(c->n < 64);
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", e->path);
	c->e[c->n] = *e;
	c->e[c->n].path = c->names[c->n];
	if (e->target)
		snprintf(c->target[c->n], 64, "%s", e->target);
	if (e->link)
		snprintf(c->link[c->n], 64, "%s", e->link);
	if (e->xattrs_len) {
		assert_true(e->xattrs_len <= 64);
		memcpy(c->xa[c->n], e->xattrs, e->xattrs_len);
	}
	c->n++;
	return 0;
}

static void test_snapshot_manifest__roundtrip(void **state)
{
	struct fx *f = *state;
	char id[41];
	write_all_types(f, id, 1700000000);
	struct snap_layer *l;
	assert_int_equal(snap_layer_open(&l, f->s, id), 0);
	const struct snap_meta *m = snap_layer_meta(l);
	assert_string_equal(m->id, id);
	assert_int_equal(m->kind, SNAP_KIND_SESSION);
	assert_string_equal(m->repo, "demo");
	assert_string_equal(m->synced_commit, "2222222222222222222222222222222222222222");
	assert_string_equal(m->author, "A U Thor <a@example.com>");
	assert_int_equal(m->files, 12);
	assert_int_equal(m->bytes, 20);
	assert_true(m->created_ms > 0);

	struct collect c = {0};
	assert_int_equal(snap_layer_walk(l, collect_fn, &c), 0);
	assert_int_equal(c.n, 12);
	for (size_t i = 1; i < c.n; i++)
		assert_true(strcmp(c.names[i - 1], c.names[i]) < 0);

	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "src/main.c", collect_fn, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.e[0].type, SNAP_T_REG);
	assert_int_equal(c.e[0].mode, 0644);
	assert_int_equal(c.e[0].uid, 1000);
	assert_int_equal(c.e[0].gid, 100);
	assert_int_equal(c.e[0].size, 5);
	assert_int_equal(c.e[0].mtime_sec, 1700000000);
	assert_int_equal(c.e[0].mtime_nsec, 42);
	assert_int_equal(c.e[0].xattrs_len, XATTRS_LEN);
	assert_memory_equal(c.xa[0], xattrs, XATTRS_LEN);
	char hex[41];
	assert_string_equal(git_oid_tostr(hex, sizeof(hex), &c.e[0].cid), "1269488f7fb1f4b56a8c0e5eb48cecbfadfa9219");

	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "src/link.c", collect_fn, &c), 0);
	assert_string_equal(c.link[0], "src/main.c");
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "ln", collect_fn, &c), 0);
	assert_int_equal(c.e[0].type, SNAP_T_SYMLINK);
	assert_string_equal(c.target[0], "src/main.c");
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "null", collect_fn, &c), 0);
	assert_int_equal(c.e[0].type, SNAP_T_CHR);
	assert_int_equal(c.e[0].rdev, 0x103);
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "build", collect_fn, &c), 0);
	assert_true(c.e[0].opaque);
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "gone.txt", collect_fn, &c), 0);
	assert_int_equal(c.e[0].type, SNAP_T_WHITEOUT);
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "docs/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.md", collect_fn, &c), 0);
	assert_int_equal(c.e[0].mode, 0600);
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_get(l, "src/x.sh", collect_fn, &c), 0);
	assert_int_equal(c.e[0].mode, 04755);
	assert_int_equal(snap_layer_get(l, "nope", collect_fn, &c), -ENOENT);

	uint64_t missing = 99;
	assert_int_equal(snap_layer_check(l, &missing), 0);
	assert_int_equal(missing, 0);
	snap_layer_free(l);

	/* by unique prefix and by path */
	char pre[9];
	memcpy(pre, id, 8);
	pre[8] = '\0';
	assert_int_equal(snap_layer_open(&l, f->s, pre), 0);
	snap_layer_free(l);
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/layers/%s", f->store_dir, id);
	assert_int_equal(snap_layer_open(&l, NULL, p), 0);
	assert_string_equal(snap_layer_meta(l)->id, id);
	snap_layer_free(l);
	assert_int_equal(snap_layer_open(&l, f->s, "0000000000000000000000000000000000000000"), -ENOENT);
	assert_int_equal(snap_layer_open(&l, f->s, "xyz"), -EINVAL);
}

static void test_snapshot_manifest__list_order(void **state)
{
	struct fx *f = *state;
	char id[41];
	write_all_types(f, id, 1);
	struct snap_layer *l;
	assert_int_equal(snap_layer_open(&l, f->s, id), 0);
	struct collect c = {0};
	assert_int_equal(snap_layer_list(l, "", collect_fn, &c), 0);
	const char *root[] = {"build", "disk", "fifo", "gone.txt", "ln", "null", "sock", "src"};
	assert_int_equal(c.n, 8);
	for (size_t i = 0; i < c.n; i++)
		assert_string_equal(c.names[i], root[i]);
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_list(l, "src", collect_fn, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.names[0], "src/link.c");
	assert_string_equal(c.names[1], "src/main.c");
	assert_string_equal(c.names[2], "src/x.sh");
	memset(&c, 0, sizeof(c));
	assert_int_equal(snap_layer_list(l, "nothing", collect_fn, &c), 0);
	assert_int_equal(c.n, 0);
	snap_layer_free(l);
}

static void test_snapshot_manifest__same_content_same_id(void **state)
{
	struct fx *f = *state;
	char a[41], b[41], c[41];
	write_all_types(f, a, 5);
	write_all_types(f, b, 5);
	assert_string_equal(a, b);
	write_all_types(f, c, 6); /* an mtime differs */
	assert_string_not_equal(a, c);
	/* metadata marked (C) changes the id; the author does not */
	struct snap_writer *w;
	char d[41], e[41];
	struct snap_meta m = meta_of(SNAP_KIND_SESSION, NULL);
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	assert_int_equal(snap_writer_commit(w, d), 0);
	snap_writer_free(w);
	snprintf(m.author, sizeof(m.author), "Someone Else <s@example.com>");
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	assert_int_equal(snap_writer_commit(w, e), 0);
	snap_writer_free(w);
	assert_string_equal(d, e);
	m.kind = SNAP_KIND_PRE_EXIT;
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	assert_int_equal(snap_writer_commit(w, e), 0);
	snap_writer_free(w);
	assert_string_not_equal(d, e);
	/* a child names its parent */
	struct snap_meta cm = meta_of(SNAP_KIND_SESSION, a);
	assert_int_equal(snap_writer_new(&w, f->s, &cm), 0);
	assert_int_equal(snap_writer_commit(w, e), 0);
	snap_writer_free(w);
	char **ids;
	size_t n;
	assert_int_equal(snap_layer_chain(f->s, e, &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], e);
	assert_string_equal(ids[1], a);
	snap_ids_free(ids, n);
	/* no temporaries left */
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/tmp", f->store_dir);
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(mkdir(tmp, 0755), 0);
}

static void test_snapshot_manifest__bad_entries(void **state)
{
	struct fx *f = *state;
	struct snap_writer *w;
	struct snap_meta m = meta_of(SNAP_KIND_SESSION, NULL);
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	const char *bad[] = {"", "/abs", "a//b", "a/../b", "..", ".", "a/./b", "a/", "trail/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct snap_entry e = {.path = bad[i], .type = SNAP_T_DIR, .mode = 0755};
		assert_int_equal(snap_writer_add(w, &e), -EINVAL);
	}
	struct snap_entry nopath = {.path = NULL, .type = SNAP_T_DIR};
	assert_int_equal(snap_writer_add(w, &nopath), -EINVAL);
	struct snap_entry badtype = {.path = "x", .type = 99};
	assert_int_equal(snap_writer_add(w, &badtype), -EINVAL);
	struct snap_entry badmode = {.path = "x", .type = SNAP_T_DIR, .mode = 040755};
	assert_int_equal(snap_writer_add(w, &badmode), -EINVAL);
	struct snap_entry notarget = {.path = "x", .type = SNAP_T_SYMLINK, .mode = 0777};
	assert_int_equal(snap_writer_add(w, &notarget), -EINVAL);
	struct snap_entry opaquefile = {.path = "x", .type = SNAP_T_FIFO, .opaque = true};
	assert_int_equal(snap_writer_add(w, &opaquefile), -EINVAL);
	struct snap_entry noobj = {.path = "x", .type = SNAP_T_REG, .mode = 0644, .size = 3};
	git_oid_fromstr(&noobj.cid, "0123456789012345678901234567890123456789");
	assert_int_equal(snap_writer_add(w, &noobj), -ENOENT);
	static const char badx[] = "user.x\0\x09\0\0\0ab";
	struct snap_entry badxattr = {.path = "x", .type = SNAP_T_DIR, .xattrs = badx, .xattrs_len = sizeof(badx) - 1};
	assert_int_equal(snap_writer_add(w, &badxattr), -EINVAL);
	/* a hard link to a path the layer does not have fails at commit */
	git_oid cid;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, "x", 1, &cid, &isnew), 0);
	struct snap_entry dangling = {.path = "a", .type = SNAP_T_REG, .size = 1, .cid = cid, .link = "b"};
	assert_int_equal(snap_writer_add(w, &dangling), 0);
	char id[41];
	assert_int_equal(snap_writer_commit(w, id), -EINVAL);
	snap_writer_free(w);
	/* nothing was written */
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/layers", f->store_dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	/* an unknown parent */
	struct snap_meta orphan = meta_of(SNAP_KIND_SESSION, "3333333333333333333333333333333333333333");
	assert_int_equal(snap_writer_new(&w, f->s, &orphan), 0);
	assert_int_equal(snap_writer_commit(w, id), -ENOENT);
	snap_writer_free(w);
	struct snap_meta badkind = meta_of(7, NULL);
	assert_int_equal(snap_writer_new(&w, f->s, &badkind), -EINVAL);
	/* an aborted writer leaves nothing (the object put above waits for a flush) */
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	snap_writer_free(w);
	assert_int_equal(snap__store_flush(f->s), 0);
	snprintf(p, sizeof(p), "%s/tmp", f->store_dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
}

struct nested {
	struct snap_layer *l;
	size_t outer, inner;
};

static int inner_fn(void *arg, const struct snap_entry *e)
{
	((struct nested *)arg)->inner++;
	return 0;
}

static int outer_fn(void *arg, const struct snap_entry *e)
{
	struct nested *n = arg;
	n->outer++;
	if (e->type == SNAP_T_DIR)
		assert_int_equal(snap_layer_list(n->l, e->path, inner_fn, n), 0);
	return 0;
}

static void test_snapshot_manifest__nested_calls(void **state)
{
	struct fx *f = *state;
	char id[41];
	write_all_types(f, id, 1);
	struct nested n = {0};
	assert_int_equal(snap_layer_open(&n.l, f->s, id), 0);
	assert_int_equal(snap_layer_list(n.l, "", outer_fn, &n), 0);
	assert_int_equal(n.outer, 8);
	assert_int_equal(n.inner, 3); /* src has 3, build none */
	snap_layer_free(n.l);
}

static int count_fn(void *arg, const struct snap_entry *e)
{
	(*(int *)arg)++;
	return 0;
}

static void *list_many(void *arg)
{
	struct snap_layer *l = arg;
	for (int i = 0; i < 500; i++) {
		int n = 0, g = 0;
		if (snap_layer_list(l, i % 2 ? "src" : "", count_fn, &n) != 0 || n != (i % 2 ? 3 : 8))
			return (void *)1;
		if (snap_layer_get(l, "src/main.c", count_fn, &g) != 0 || g != 1)
			return (void *)1;
	}
	return NULL;
}

/* One open layer shared by threads (as thawfs's workers share it). */
static void test_snapshot_manifest__threads(void **state)
{
	struct fx *f = *state;
	char id[41];
	write_all_types(f, id, 1);
	struct snap_layer *l;
	assert_int_equal(snap_layer_open(&l, f->s, id), 0);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, list_many, l), 0);
	for (int i = 0; i < 4; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		assert_null(rv);
	}
	snap_layer_free(l);
}

/* A manifest that cannot be written (file size limit standing in for a full
 * disk) fails the commit and leaves no layer and no temporary. */
static void test_snapshot_manifest__write_failure(void **state)
{
	struct fx *f = *state;
	git_oid cid;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, "x", 1, &cid, &isnew), 0);
	assert_int_equal(snap__store_flush(f->s), 0);
	struct snap_meta m = meta_of(SNAP_KIND_SESSION, NULL);
	struct snap_writer *w;
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 32 << 10;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = 0;
	for (int i = 0; i < 2000 && r == 0; i++) {
		char path[64];
		snprintf(path, sizeof(path), "dir%02d/file-with-a-long-name-%05d.txt", i % 20, i);
		struct snap_entry e = {.path = path, .type = SNAP_T_REG, .mode = 0644, .size = 1, .cid = cid};
		r = snap_writer_add(w, &e);
	}
	char id[41];
	if (r == 0)
		r = snap_writer_commit(w, id);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_true(r < 0);
	snap_writer_free(w);
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/layers", f->store_dir);
	assert_int_equal(rmdir(p), 0); /* empty */
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/tmp", f->store_dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	/* the same layer commits once there is room */
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	struct snap_entry e = {.path = "a", .type = SNAP_T_REG, .mode = 0644, .size = 1, .cid = cid};
	assert_int_equal(snap_writer_add(w, &e), 0);
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_snapshot_manifest__roundtrip),
		FX_TEST(test_snapshot_manifest__list_order),
		FX_TEST(test_snapshot_manifest__same_content_same_id),
		FX_TEST(test_snapshot_manifest__bad_entries),
		FX_TEST(test_snapshot_manifest__nested_calls),
		FX_TEST(test_snapshot_manifest__write_failure),
		FX_TEST(test_snapshot_manifest__threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
