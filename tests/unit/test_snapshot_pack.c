/*
 * Unit tests of snapshot/pack_upper.c: an upper directory in fs/upper.c's
 * format becomes manifest entries with their content in the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "freeze_int.h"
#include "snapshot_int.h"

struct fx {
	char dir[64];
	char upper[128];
	struct snap_store *s;
	int upfd;
	struct snap__pack p;
};

static char *strcat_path(char *buf, size_t len, const char *a, const char *b)
{
	snprintf(buf, len, "%s/%s", a, b);
	return buf;
}

static void put_at(int dfd, const char *name, const char *content)
{
	int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void put(const char *dir, const char *name, const char *content)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_pack.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char store[128];
	snprintf(store, sizeof(store), "%s/store", f->dir);
	snprintf(f->upper, sizeof(f->upper), "%s/upper", f->dir);
	assert_int_equal(mkdir(f->upper, 0755), 0);
	assert_int_equal(snap_store_open(&f->s, store, true), 0);
	f->upfd = open(f->upper, O_RDONLY | O_DIRECTORY);
	assert_true(f->upfd >= 0);
	f->p.store = f->s;
	f->p.repo = f->dir; /* no git: origin is used here */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	snap__pack_release(&f->p);
	close(f->upfd);
	snap_store_free(f->s);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static const struct snap_entry *find(struct fx *f, const char *path)
{
	for (size_t i = 0; i < f->p.n; i++)
		if (!strcmp(f->p.v[i].e.path, path))
			return &f->p.v[i].e;
	return NULL;
}

static bool user_xattrs(const char *dir)
{
	return setxattr(dir, "user.probe", "1", 1, 0) == 0 && removexattr(dir, "user.probe") == 0;
}

static void test_snapshot_pack__types(void **state)
{
	struct fx *f = *state;
	char p[512];
	bool xa = user_xattrs(f->upper);
	assert_int_equal(mkdir(strcat_path(p, sizeof(p), f->upper, "d"), 0750), 0);
	put(f->upper, "d/file", "hello");
	put(f->upper, "d/twin", "hello");
	assert_int_equal(symlinkat("d/file", f->upfd, "link"), 0);
	assert_int_equal(mkfifoat(f->upfd, "fifo", 0600), 0);
	assert_int_equal(mknodat(f->upfd, "gone", S_IFCHR | 0000, makedev(0, 0)), 0);
	assert_int_equal(mknodat(f->upfd, "null", S_IFCHR | 0666, makedev(1, 3)), 0);
	assert_int_equal(linkat(f->upfd, "d/file", f->upfd, "hard", 0), 0);
	assert_int_equal(mkdir(strcat_path(p, sizeof(p), f->upper, ".thaw-work"), 0700), 0);
	put(f->upper, ".thaw-work/tmp.1", "garbage");
	if (xa) {
		assert_int_equal(setxattr(strcat_path(p, sizeof(p), f->upper, "d"), "user.thaw.opaque", "y", 1, 0), 0);
		assert_int_equal(setxattr(strcat_path(p, sizeof(p), f->upper, "d/file"), "user.b", "2", 1, 0), 0);
		assert_int_equal(setxattr(strcat_path(p, sizeof(p), f->upper, "d/file"), "user.a", "1", 1, 0), 0);
	}

	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.n, 8);
	assert_null(find(f, ".thaw-work"));
	const struct snap_entry *e = find(f, "d");
	assert_non_null(e);
	assert_int_equal(e->type, SNAP_T_DIR);
	assert_int_equal(e->mode, 0750);
	assert_int_equal(e->opaque, xa);
	const struct snap_entry *file = find(f, "d/file"), *twin = find(f, "d/twin");
	assert_non_null(file);
	assert_int_equal(file->type, SNAP_T_REG);
	assert_int_equal(file->size, 5);
	assert_true(git_oid_equal(&file->cid, &twin->cid)); /* dedup: one object */
	assert_int_equal(f->p.new_objects, 1);
	if (xa) {
		/* sorted by name, user.thaw.* left out */
		static const char want[] = "user.a\0\1\0\0\0" "1" "user.b\0\1\0\0\0" "2";
		assert_int_equal(file->xattrs_len, sizeof(want) - 1);
		assert_memory_equal(file->xattrs, want, sizeof(want) - 1);
		assert_null(find(f, "d")->xattrs);
	}
	/* hard links: the smallest path is the entry, the other links to it */
	e = find(f, "hard");
	assert_null(file->link);
	assert_non_null(e->link);
	assert_string_equal(e->link, "d/file");
	assert_int_equal(find(f, "gone")->type, SNAP_T_WHITEOUT);
	e = find(f, "null");
	assert_int_equal(e->type, SNAP_T_CHR);
	assert_int_equal(e->rdev, makedev(1, 3));
	e = find(f, "link");
	assert_int_equal(e->type, SNAP_T_SYMLINK);
	assert_string_equal(e->target, "d/file");
	assert_int_equal(find(f, "fifo")->type, SNAP_T_FIFO);

	/* Content is in the store under the git blob id. */
	git_oid want;
	assert_int_equal(git_odb_hash(&want, "hello", 5, GIT_OBJECT_BLOB), 0);
	assert_true(git_oid_equal(&want, &file->cid));
	assert_int_equal(snap_object_has(f->s, &want), 0);
}

static void test_snapshot_pack__origins(void **state)
{
	struct fx *f = *state;
	char p[512];
	if (!user_xattrs(f->upper)) {
		skip();
		return;
	}
	/* cid: an object already stored */
	git_oid id;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, "stored", 6, &id, &isnew), 0);
	char origin[64] = "cid:";
	git_oid_tostr(origin + 4, sizeof(origin) - 4, &id);
	assert_int_equal(close(openat(f->upfd, "meta", O_CREAT | O_WRONLY, 0640)), 0);
	assert_int_equal(truncate(strcat_path(p, sizeof(p), f->upper, "meta"), 6), 0);
	assert_int_equal(setxattr(p, "user.thaw.origin", origin, strlen(origin), 0), 0);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.n, 1);
	assert_true(git_oid_equal(&f->p.v[0].e.cid, &id));
	assert_int_equal(f->p.v[0].e.size, 6);
	assert_int_equal(f->p.v[0].e.mode, 0640);
	assert_int_equal(f->p.new_objects, 0);
	assert_null(f->p.v[0].e.xattrs);
	snap__pack_release(&f->p);

	/* cid: a missing object is an error naming the path */
	origin[4] = origin[4] == '0' ? '1' : '0';
	assert_int_equal(setxattr(p, "user.thaw.origin", origin, strlen(origin), 0), 0);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), -EIO);
	assert_non_null(strstr(snap_last_error(), "meta"));
	snap__pack_release(&f->p);

	/* an unknown origin kind */
	assert_int_equal(setxattr(p, "user.thaw.origin", "nfs:x", 5, 0), 0);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), -EIO);
	assert_non_null(strstr(snap_last_error(), "unknown metacopy origin"));
	snap__pack_release(&f->p);

	/* layer:<n> beyond the workspace's layers */
	assert_int_equal(setxattr(p, "user.thaw.origin", "layer:3:a/b", 11, 0), 0);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), -EIO);
}

static void test_snapshot_pack__long_paths(void **state)
{
	struct fx *f = *state;
	/* longer than PATH_MAX as one string: every access is relative */
	char name[201];
	memset(name, 'n', 200);
	name[200] = '\0';
	int dfd = dup(f->upfd);
	for (int i = 0; i < 22; i++) {
		assert_int_equal(mkdirat(dfd, name, 0755), 0);
		int nd = openat(dfd, name, O_RDONLY | O_DIRECTORY);
		assert_true(nd >= 0);
		close(dfd);
		dfd = nd;
	}
	put_at(dfd, "leaf", "deep");
	close(dfd);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.n, 23);
	size_t longest = 0;
	for (size_t i = 0; i < f->p.n; i++)
		if (strlen(f->p.v[i].e.path) > longest)
			longest = strlen(f->p.v[i].e.path);
	assert_true(longest > 4096);
}

static void test_snapshot_pack__freeze_cache(void **state)
{
	struct fx *f = *state;
	char p[512];
	assert_int_equal(mkdir(strcat_path(p, sizeof(p), f->upper, ".thaw-work"), 0700), 0);
	put(f->upper, "a", "content a");
	put(f->upper, "b", "content b");
	usleep(250 * 1000); /* older than the cache's margin (100 ms) */

	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.fc_hits, 0); /* no cache yet */
	git_oid a1 = find(f, "a")->cid;
	assert_int_equal(snap__pack_save_cache(&f->p, f->upfd), 0);
	snap__pack_release(&f->p);

	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.fc_hits, 2);
	assert_true(git_oid_equal(&find(f, "a")->cid, &a1));
	assert_int_equal(find(f, "a")->size, 9);
	assert_int_equal(f->p.bytes, 18);
	snap__pack_release(&f->p);

	/* Same size, new content, right after the cache was written: read again. */
	int fd = openat(f->upfd, "a", O_WRONLY);
	assert_int_equal(pwrite(fd, "CONTENT A", 9, 0), 9);
	close(fd);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.fc_hits, 1);
	git_oid want;
	assert_int_equal(git_odb_hash(&want, "CONTENT A", 9, GIT_OBJECT_BLOB), 0);
	assert_true(git_oid_equal(&find(f, "a")->cid, &want));
	snap__pack_release(&f->p);

	/* A damaged cache is ignored. */
	fd = openat(f->upfd, ".thaw-work/freeze-cache", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 40), 1);
	close(fd);
	assert_int_equal(snap__pack_upper(&f->p, f->upfd), 0);
	assert_int_equal(f->p.fc_hits, 0);
	assert_true(git_oid_equal(&find(f, "a")->cid, &want));
	assert_null(find(f, ".thaw-work/freeze-cache"));
}

int main(void)
{
	git_libgit2_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_pack__types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_pack__origins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_pack__long_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_pack__freeze_cache, setup, teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return r;
}
