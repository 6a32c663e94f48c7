/* Unit tests of fs/layer_store.c: a store layer as the merge and the reads
 * see it (entry mapping, xattrs, object fill and its errors). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_int.h"
#include "snapshot.h"

struct fixture {
	char dir[64];
	struct fs *fs;
	git_oid cid_a, cid_gone, cid_bad;
};

static const char xattrs_blob[] = "user.color\0\4\0\0\0blue" "user.thaw.origin\0\1\0\0\0x";

static void add(struct snap_writer *w, const char *path, int type, uint32_t mode, const git_oid *cid, uint64_t size)
{
	struct snap_entry e;
	memset(&e, 0, sizeof(e));
	e.path = path;
	e.type = type;
	e.mode = mode;
	e.uid = 1000;
	e.gid = 100;
	e.mtime_sec = 1600000000;
	e.mtime_nsec = 7;
	if (cid) {
		git_oid_cpy(&e.cid, cid);
		e.size = size;
	}
	if (type == SNAP_T_SYMLINK)
		e.target = "a.txt";
	if (type == SNAP_T_CHR)
		e.rdev = makedev(1, 3);
	if (type == SNAP_T_DIR && !strcmp(path, "d"))
		e.opaque = true;
	if (!strcmp(path, "x.txt")) {
		e.xattrs = xattrs_blob;
		e.xattrs_len = sizeof(xattrs_blob) - 1;
	}
	assert_int_equal(snap_writer_add(w, &e), 0);
}

static void obj_path(struct fixture *f, const git_oid *id, char *buf, size_t len)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(buf, len, "%s/store/objects/%.2s/%s", f->dir, hex, hex + 2);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[128];
	struct snap_store *s;
	struct snap_meta meta;
	struct snap_writer *w;
	char id[SNAP_ID_HEXLEN + 1];
	bool isnew;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_fs_layer_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(p, sizeof(p), "%s/store", f->dir);
	assert_int_equal(snap_store_open(&s, p, true), 0);
	assert_int_equal(snap_object_put_buf(s, "alpha\n", 6, &f->cid_a, &isnew), 0);
	assert_int_equal(snap_object_put_buf(s, "gone\n", 5, &f->cid_gone, &isnew), 0);
	assert_int_equal(snap_object_put_buf(s, "bad bad bad bad\n", 16, &f->cid_bad, &isnew), 0);
	memset(&meta, 0, sizeof(meta));
	meta.kind = SNAP_KIND_IMAGE;
	snprintf(meta.synced_commit, sizeof(meta.synced_commit), "%040d", 1);
	assert_int_equal(snap_writer_new(&w, s, &meta), 0);
	add(w, "a.txt", SNAP_T_REG, 0640, &f->cid_a, 6);
	add(w, "gone.txt", SNAP_T_REG, 0644, &f->cid_gone, 5);
	add(w, "bad.txt", SNAP_T_REG, 0644, &f->cid_bad, 16);
	add(w, "x.txt", SNAP_T_REG, 0644, &f->cid_a, 6);
	add(w, "d", SNAP_T_DIR, 0755, NULL, 0);
	add(w, "d/link", SNAP_T_SYMLINK, 0777, NULL, 0);
	add(w, "d/null", SNAP_T_CHR, 0666, NULL, 0);
	add(w, "d/gone", SNAP_T_WHITEOUT, 0, NULL, 0);
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
	snap_store_free(s);

	/* Break two objects: one missing, one with a flipped byte. */
	obj_path(f, &f->cid_gone, p, sizeof(p));
	assert_int_equal(unlink(p), 0);
	obj_path(f, &f->cid_bad, p, sizeof(p));
	(void)chmod(p, 0644);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	close(fd);

	f->fs = calloc(1, sizeof(*f->fs));
	snprintf(p, sizeof(p), "%s/store", f->dir);
	f->fs->opt.store = strdup(p);
	f->fs->nlayers = 2;
	f->fs->layer[0].rootfd = -1;
	char err[512];
	bool is_store;
	assert_int_equal(fs__store_open(f->fs, id, &f->fs->layer[1], &is_store, err, sizeof(err)), 0);
	assert_true(is_store);
	assert_int_equal(f->fs->store_mask, 1u << 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fs__store_release(f->fs);
	free(f->fs->layer[1].path);
	free((char *)f->fs->opt.store);
	free(f->fs);
	(void)fs_rm_rf(f->dir);
	free(f);
	return 0;
}

struct seen {
	char names[16][32];
	struct fs_sentry e[16];
	int n;
};

static int collect(void *arg, const struct fs_sentry *e)
{
	struct seen *s = arg;
	if (s->n < 16) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", e->name);
		s->e[s->n] = *e;
		s->e[s->n].name = s->names[s->n];
		s->n++;
	}
	return 0;
}

static void test_fs_layer_store__list_maps_entries(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	assert_int_equal(fs__store_list(f->fs, 1, "", collect, &s), 0);
	assert_int_equal(s.n, 5); /* a.txt bad.txt d gone.txt x.txt, by name */
	assert_string_equal(s.names[0], "a.txt");
	assert_int_equal(s.e[0].mode, S_IFREG | 0640);
	assert_int_equal(s.e[0].uid, 1000);
	assert_int_equal(s.e[0].gid, 100);
	assert_int_equal(s.e[0].size, 6);
	assert_int_equal(s.e[0].mtime_sec, 1600000000);
	assert_int_equal(s.e[0].mtime_nsec, 7);
	assert_true(git_oid_equal(&s.e[0].cid, &f->cid_a));
	assert_false(s.e[0].has_xattrs);
	assert_string_equal(s.names[2], "d");
	assert_int_equal(s.e[2].mode, S_IFDIR | 0755);
	assert_true(s.e[2].opaque);
	assert_string_equal(s.names[4], "x.txt");
	assert_true(s.e[4].has_xattrs);

	memset(&s, 0, sizeof(s));
	assert_int_equal(fs__store_list(f->fs, 1, "d", collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "gone");
	assert_true(s.e[0].whiteout);
	assert_string_equal(s.names[1], "link");
	assert_int_equal(s.e[1].mode, S_IFLNK | 0777);
	assert_string_equal(s.names[2], "null");
	assert_int_equal(s.e[2].mode, S_IFCHR | 0666);
	assert_int_equal(s.e[2].size, makedev(1, 3)); /* devices carry rdev in size */

	memset(&s, 0, sizeof(s));
	assert_int_equal(fs__store_list(f->fs, 1, "no/such/dir", collect, &s), 0);
	assert_int_equal(s.n, 0);
}

static void test_fs_layer_store__readlink(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	assert_int_equal(fs__store_readlink(f->fs, 1, "d/link", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a.txt");
	assert_int_equal(fs__store_readlink(f->fs, 1, "a.txt", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fs__store_readlink(f->fs, 1, "nope", buf, sizeof(buf)), -ENOENT);
}

static void test_fs_layer_store__xattrs(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	assert_int_equal(fs__store_xattr(f->fs, 1, "x.txt", "user.color", NULL, 0), 4);
	assert_int_equal(fs__store_xattr(f->fs, 1, "x.txt", "user.color", buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "blue", 4);
	assert_int_equal(fs__store_xattr(f->fs, 1, "x.txt", "user.color", buf, 2), -ERANGE);
	assert_int_equal(fs__store_xattr(f->fs, 1, "x.txt", "user.none", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(fs__store_xattr(f->fs, 1, "a.txt", "user.color", buf, sizeof(buf)), -ENODATA);
	/* listing: thawfs's own user.thaw.* names are not shown */
	ssize_t n = fs__store_xattr(f->fs, 1, "x.txt", NULL, buf, sizeof(buf));
	assert_int_equal(n, (ssize_t)sizeof("user.color"));
	assert_string_equal(buf, "user.color");
	assert_int_equal(fs__store_xattr(f->fs, 1, "x.txt", NULL, NULL, 0), (ssize_t)sizeof("user.color"));
	assert_int_equal(fs__store_xattr(f->fs, 1, "x.txt", NULL, buf, 4), -ERANGE);
}

static void test_fs_layer_store__fill_and_errors(void **state)
{
	struct fixture *f = *state;
	struct fs_store_fill fl = {.fs = f->fs, .li = 1};
	void *buf;
	size_t len;
	assert_int_equal(fs__store_read_small(&fl, &f->cid_a, 6, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "alpha\n", 6);
	free(buf);
	/* a size that disagrees with the object is an error, never data */
	assert_int_equal(fs__store_read_small(&fl, &f->cid_a, 7, &buf, &len), -EIO);
	/* missing: -EIO (the cache retries -ENOENT), and the reason says so */
	int fd = memfd_create("t", MFD_CLOEXEC);
	uint64_t bytes;
	assert_int_equal(fs__store_fill(&fl, &f->cid_gone, fd, &bytes), -EIO);
	assert_int_equal(fl.err, -ENOENT);
	assert_non_null(strstr(fl.msg, "missing"));
	assert_int_equal(fs__store_fill(&fl, &f->cid_bad, fd, &bytes), -EIO);
	assert_int_equal(fl.err, -EIO);
	assert_true(fl.msg[0] != '\0');
	close(fd);
}

static void test_fs_layer_store__open_errors(void **state)
{
	struct fixture *f = *state;
	struct fs_layer l;
	char err[512];
	bool is_store;
	memset(&l, 0, sizeof(l));
	assert_true(fs__store_open(f->fs, "0123456789abcdef", &l, &is_store, err, sizeof(err)) < 0);
	assert_true(is_store);
	assert_non_null(strstr(err, "0123456789abcdef"));
	assert_null(strchr(err, '\n'));
	/* a plain directory is not a store layer */
	assert_int_equal(fs__store_open(f->fs, f->dir, &l, &is_store, err, sizeof(err)), 0);
	assert_false(is_store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fs_layer_store__list_maps_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_layer_store__readlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_layer_store__xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_layer_store__fill_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_layer_store__open_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
