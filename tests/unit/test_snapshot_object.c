/* Unit tests of snapshot/object.c: the content-addressed object store. */
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
	return fx_setup(state, "snapobj");
}

static size_t count_files(const char *dir)
{
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

/* Reads object id back through a temporary file and compares with want. */
static void read_back(struct fx *f, const git_oid *id, const void *want, size_t len)
{
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/out", f->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	uint64_t n = 0;
	assert_int_equal(snap_object_read_fd(f->s, id, fd, &n), 0);
	assert_int_equal(n, len);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, len);
	char *got = malloc(len + 1);
	assert_int_equal(pread(fd, got, len, 0), (ssize_t)len);
	assert_memory_equal(got, want, len);
	free(got);
	close(fd);
	unlink(p);
}

static void test_snapshot_object__git_id(void **state)
{
	struct fx *f = *state;
	git_oid id;
	bool isnew = false;
	/* printf 'hello world\n' | git hash-object --stdin */
	assert_int_equal(snap_object_put_buf(f->s, "hello world\n", 12, &id, &isnew), 0);
	char hex[41];
	assert_string_equal(git_oid_tostr(hex, sizeof(hex), &id), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
	assert_true(isnew);
	/* git hash-object /dev/null */
	assert_int_equal(snap_object_put_buf(f->s, "", 0, &id, &isnew), 0);
	assert_string_equal(git_oid_tostr(hex, sizeof(hex), &id), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

static void test_snapshot_object__roundtrip(void **state)
{
	struct fx *f = *state;
	git_oid id;
	bool isnew;
	/* empty and small */
	assert_int_equal(snap_object_put_buf(f->s, "", 0, &id, &isnew), 0);
	read_back(f, &id, "", 0);
	assert_int_equal(snap_object_put_buf(f->s, "abc", 3, &id, &isnew), 0);
	read_back(f, &id, "abc", 3);
	/* 3 MiB, through put_fd, compared with put_buf's id */
	size_t big = 3u << 20;
	char *buf = malloc(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)((i * 7919) >> 5);
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/in", f->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, buf, big), (ssize_t)big);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	git_oid id2;
	uint64_t sz = 0;
	assert_int_equal(snap_object_put_fd(f->s, fd, &id, &sz, &isnew), 0);
	assert_true(isnew);
	assert_int_equal(sz, big);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)big);
	assert_int_equal(snap_object_put_buf(f->s, buf, big, &id2, &isnew), 0);
	assert_false(isnew);
	assert_true(git_oid_equal(&id, &id2));
	read_back(f, &id, buf, big);
	uint64_t stored = 0;
	assert_int_equal(snap_object_stored_size(f->s, &id, &stored), 0);
	assert_true(stored > 0);
	close(fd);
	free(buf);
}

/* Over the in-memory limit (4 MiB): the streaming path, and a sparse file. */
static void test_snapshot_object__sparse_large(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/sparse", f->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint64_t size = 9u << 20;
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(pwrite(fd, "tail", 4, (off_t)size - 4), 4);
	git_oid id;
	bool isnew;
	uint64_t sz;
	assert_int_equal(snap_object_put_fd(f->s, fd, &id, &sz, &isnew), 0);
	assert_int_equal(sz, size);
	assert_true(isnew);
	/* same id as hashing it in memory */
	char *buf = calloc(1, size);
	memcpy(buf, "head", 4);
	memcpy(buf + size - 4, "tail", 4);
	git_oid want;
	assert_int_equal(git_odb_hash(&want, buf, size, GIT_OBJECT_BLOB), 0);
	assert_true(git_oid_equal(&id, &want));
	uint64_t stored;
	assert_int_equal(snap_object_stored_size(f->s, &id, &stored), 0);
	assert_true(stored < size / 50); /* zeros compress */
	read_back(f, &id, buf, size);
	/* read into a fresh file stays sparse */
	char o[PATH_MAX + 16];
	snprintf(o, sizeof(o), "%s/sparse.out", f->dir);
	int ofd = open(o, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(snap_object_read_fd(f->s, &id, ofd, NULL), 0);
	struct stat st;
	assert_int_equal(fstat(ofd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	assert_true((uint64_t)st.st_blocks * 512 < size / 2);
	close(ofd);
	close(fd);
	free(buf);
}

static void test_snapshot_object__pipe(void **state)
{
	struct fx *f = *state;
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(write(pfd[1], "hello world\n", 12), 12);
	close(pfd[1]);
	git_oid id;
	bool isnew;
	uint64_t sz;
	assert_int_equal(snap_object_put_fd(f->s, pfd[0], &id, &sz, &isnew), 0);
	close(pfd[0]);
	char hex[41];
	assert_string_equal(git_oid_tostr(hex, sizeof(hex), &id), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
	assert_int_equal(sz, 12);
}

static void test_snapshot_object__dedup(void **state)
{
	struct fx *f = *state;
	char objs[PATH_MAX + 16];
	snprintf(objs, sizeof(objs), "%s/store/objects", f->dir);
	git_oid a, b;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, "same", 4, &a, &isnew), 0);
	assert_true(isnew);
	assert_int_equal(snap_object_put_buf(f->s, "same", 4, &b, &isnew), 0);
	assert_false(isnew); /* pending in this process */
	assert_true(git_oid_equal(&a, &b));
	assert_int_equal(snap__store_flush(f->s), 0);
	assert_int_equal(count_files(objs), 1);
	assert_int_equal(snap_object_put_buf(f->s, "same", 4, &b, &isnew), 0);
	assert_false(isnew); /* stored */
	assert_int_equal(snap__store_flush(f->s), 0);
	assert_int_equal(count_files(objs), 1);
	assert_int_equal(snap_object_has(f->s, &a), 0);
}

static void corrupt_at(struct fx *f, const git_oid *id, long where, bool truncate_it)
{
	assert_int_equal(snap__store_flush(f->s), 0);
	char p[PATH_MAX];
	snap__object_path(f->s, id, p, sizeof(p));
	assert_int_equal(chmod(p, 0644), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	if (truncate_it) {
		assert_int_equal(truncate(p, st.st_size - where), 0);
		return;
	}
	int fd = open(p, O_RDWR);
	unsigned char c;
	off_t off = where >= 0 ? where : st.st_size + where;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void expect_eio(struct fx *f, const git_oid *id)
{
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/bad", f->dir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(snap_object_read_fd(f->s, id, fd, NULL), -EIO);
	char hex[41];
	assert_non_null(strstr(snap_last_error(), git_oid_tostr(hex, sizeof(hex), id)));
	close(fd);
}

static void test_snapshot_object__corrupt(void **state)
{
	struct fx *f = *state;
	char text[20000];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + (i * 13) % 26);
	git_oid id;
	bool isnew;
	/* a byte in the middle of the block data */
	assert_int_equal(snap_object_put_buf(f->s, text, sizeof(text), &id, &isnew), 0);
	corrupt_at(f, &id, 40, false);
	expect_eio(f, &id);
	/* the content checksum at the end */
	text[0] = 'Z';
	assert_int_equal(snap_object_put_buf(f->s, text, sizeof(text), &id, &isnew), 0);
	corrupt_at(f, &id, -2, false);
	expect_eio(f, &id);
	/* the header */
	text[0] = 'Y';
	assert_int_equal(snap_object_put_buf(f->s, text, sizeof(text), &id, &isnew), 0);
	corrupt_at(f, &id, 5, false);
	expect_eio(f, &id);
}

static void test_snapshot_object__truncated(void **state)
{
	struct fx *f = *state;
	git_oid id;
	bool isnew;
	assert_int_equal(snap_object_put_buf(f->s, "some content to truncate", 24, &id, &isnew), 0);
	corrupt_at(f, &id, 3, true);
	expect_eio(f, &id);
	assert_int_equal(snap_object_put_buf(f->s, "other content", 13, &id, &isnew), 0);
	corrupt_at(f, &id, 0, true);
	char p[PATH_MAX];
	snap__object_path(f->s, &id, p, sizeof(p));
	assert_int_equal(truncate(p, 0), 0);
	expect_eio(f, &id);
}

static void test_snapshot_object__missing(void **state)
{
	struct fx *f = *state;
	git_oid id;
	git_oid_fromstr(&id, "0123456789012345678901234567890123456789");
	assert_int_equal(snap_object_has(f->s, &id), -ENOENT);
	assert_int_equal(snap_object_read_fd(f->s, &id, 1, NULL), -ENOENT);
	assert_non_null(strstr(snap_last_error(), "0123456789012345678901234567890123456789"));
}

static void test_snapshot_object__no_temporaries(void **state)
{
	struct fx *f = *state;
	git_oid id;
	bool isnew;
	for (int i = 0; i < 20; i++) {
		char b[32];
		int n = snprintf(b, sizeof(b), "content %d", i);
		assert_int_equal(snap_object_put_buf(f->s, b, (size_t)n, &id, &isnew), 0);
	}
	char tmp[PATH_MAX + 16], objs[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/store/tmp", f->dir);
	snprintf(objs, sizeof(objs), "%s/store/objects", f->dir);
	/* Pending: complete frames in tmp, readable, nothing in objects yet. */
	assert_int_equal(count_files(tmp), 20);
	assert_int_equal(count_files(objs), 0);
	assert_int_equal(snap_object_has(f->s, &id), 0);
	read_back(f, &id, "content 19", 10);
	assert_int_equal(snap__store_flush(f->s), 0);
	assert_int_equal(count_files(tmp), 0);
	assert_int_equal(count_files(objs), 20);
	read_back(f, &id, "content 19", 10);
	/* a failed put (unreadable fd) leaves nothing either */
	git_oid bad;
	assert_true(snap_object_put_fd(f->s, -1, &bad, NULL, &isnew) < 0);
	assert_int_equal(count_files(tmp), 0);
	/* freeing the store stores what is pending */
	assert_int_equal(snap_object_put_buf(f->s, "late", 4, &bad, &isnew), 0);
	snap_store_free(f->s);
	assert_int_equal(snap_store_open(&f->s, f->store_dir, false), 0);
	assert_int_equal(count_files(tmp), 0);
	read_back(f, &bad, "late", 4);
	/* object files are read-only */
	char p[PATH_MAX];
	snap__object_path(f->s, &id, p, sizeof(p));
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0444);
}

static void test_snapshot_object__store_open(void **state)
{
	struct fx *f = *state;
	struct snap_store *s = NULL;
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/nostore", f->dir);
	assert_int_equal(snap_store_open(&s, p, false), -ENOENT);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(snap_store_open(&s, p, false), -ENOENT);
	assert_non_null(strstr(snap_last_error(), "not a snapshot store"));
	assert_int_equal(snap_store_open(&s, p, true), 0);
	snap_store_free(s);
	snap_store_free(NULL);
}

struct put_thread {
	struct snap_store *s;
	int seed, news;
};

static void *put_many(void *arg)
{
	struct put_thread *t = arg;
	for (int i = 0; i < 200; i++) {
		char b[3000];
		int v = (i * 7 + t->seed) % 100;
		memset(b, 'a' + v % 26, sizeof(b));
		snprintf(b, 32, "object %d", v);
		git_oid id;
		bool isnew = false;
		if (snap_object_put_buf(t->s, b, sizeof(b), &id, &isnew) != 0)
			return (void *)1;
		t->news += isnew;
		if (i % 50 == 49 && snap__store_flush(t->s) != 0)
			return (void *)1;
	}
	return NULL;
}

/* Threads sharing one store put overlapping contents: each object is new
 * exactly once and stored once. */
static void test_snapshot_object__threads(void **state)
{
	struct fx *f = *state;
	pthread_t th[4];
	struct put_thread t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct put_thread){.s = f->s, .seed = i * 13};
		assert_int_equal(pthread_create(&th[i], NULL, put_many, &t[i]), 0);
	}
	int news = 0;
	for (int i = 0; i < 4; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		assert_null(rv);
		news += t[i].news;
	}
	assert_int_equal(news, 100);
	assert_int_equal(snap__store_flush(f->s), 0);
	char objs[PATH_MAX + 16], tmp[PATH_MAX + 16];
	snprintf(objs, sizeof(objs), "%s/store/objects", f->dir);
	snprintf(tmp, sizeof(tmp), "%s/store/tmp", f->dir);
	assert_int_equal(count_files(objs), 100);
	assert_int_equal(count_files(tmp), 0);
}

/* A write failure (file size limit standing in for a full disk) fails the
 * put, stores nothing and leaves no temporary. */
static void test_snapshot_object__write_failure(void **state)
{
	struct fx *f = *state;
	size_t len = 1u << 20;
	char *buf = malloc(len);
	unsigned x = 7;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (char)(x >> 16);
	}
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64 << 10;
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	git_oid id;
	bool isnew;
	int r = snap_object_put_buf(f->s, buf, len, &id, &isnew);
	char big[PATH_MAX + 16];
	snprintf(big, sizeof(big), "%s/big", f->dir);
	int fd = open(big, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, 60 << 10), 60 << 10); /* under the limit: 60 KiB is fine */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(r, -EFBIG);
	assert_non_null(strstr(snap_last_error(), "writing an object"));
	/* the large (streaming) path fails the same way */
	for (int i = 0; i < 80; i++)
		assert_int_equal(pwrite(fd, buf, len, (off_t)i * (off_t)len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	lim.rlim_cur = 1 << 20;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = snap_object_put_fd(f->s, fd, &id, NULL, &isnew);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(r, -EFBIG);
	close(fd);
	char tmp[PATH_MAX + 16], objs[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/store/tmp", f->dir);
	snprintf(objs, sizeof(objs), "%s/store/objects", f->dir);
	assert_int_equal(snap__store_flush(f->s), 0);
	assert_int_equal(count_files(tmp), 0);
	assert_int_equal(count_files(objs), 0);
	/* and works again afterwards */
	assert_int_equal(snap_object_put_buf(f->s, buf, len, &id, &isnew), 0);
	assert_true(isnew);
	read_back(f, &id, buf, len);
	free(buf);
}

/* ---- packs (objpack.c): what a freeze writes ---- */

#define NPACKED 20

static void pack_puts(struct fx *f, git_oid ids[NPACKED], char bufs[NPACKED][64])
{
	snap__store_set_packing(f->s, true);
	for (int i = 0; i < NPACKED; i++) {
		snprintf(bufs[i], 64, "packed content number %d\n", i);
		bool isnew = false;
		assert_int_equal(snap_object_put_buf(f->s, bufs[i], strlen(bufs[i]), &ids[i], &isnew), 0);
		assert_true(isnew);
	}
	snap__store_set_packing(f->s, false);
}

static void pack_file(struct fx *f, char *out, size_t len)
{
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "ls -d '%s'/store/packs/*/objects.pack", f->dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(fgets(out, (int)len, p));
	out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static void test_snapshot_object__pack_roundtrip(void **state)
{
	struct fx *f = *state;
	git_oid ids[NPACKED];
	char bufs[NPACKED][64];
	pack_puts(f, ids, bufs);
	/* a large content stays loose (streamed) even while packing */
	size_t big = (5u << 20) + 3;
	char *b = malloc(big);
	for (size_t i = 0; i < big; i++)
		b[i] = (char)(i * 7 % 251);
	git_oid bid;
	snap__store_set_packing(f->s, true);
	assert_int_equal(snap_object_put_buf(f->s, b, big, &bid, NULL), 0);
	snap__store_set_packing(f->s, false);
	/* pending: readable before the flush */
	read_back(f, &ids[3], bufs[3], strlen(bufs[3]));
	assert_int_equal(snap__store_flush(f->s), 0);
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/store/packs", f->dir);
	assert_int_equal(count_files(p), 2); /* objects.pack, objects.idx */
	snprintf(p, sizeof(p), "%s/store/objects", f->dir);
	assert_int_equal(count_files(p), 1); /* the large one */
	snprintf(p, sizeof(p), "%s/store/tmp", f->dir);
	assert_int_equal(count_files(p), 0);
	for (int i = 0; i < NPACKED; i++) {
		assert_int_equal(snap_object_has(f->s, &ids[i]), 0);
		uint64_t st = 0;
		assert_int_equal(snap_object_stored_size(f->s, &ids[i], &st), 0);
		assert_true(st > 0);
		read_back(f, &ids[i], bufs[i], strlen(bufs[i]));
	}
	read_back(f, &bid, b, big);
	/* another handle (another process) finds them; a put is a dedup hit */
	struct snap_store *s2;
	snprintf(p, sizeof(p), "%s/store", f->dir);
	assert_int_equal(snap_store_open(&s2, p, false), 0);
	struct fx f2 = *f;
	f2.s = s2;
	read_back(&f2, &ids[7], bufs[7], strlen(bufs[7]));
	bool isnew = true;
	git_oid again;
	assert_int_equal(snap_object_put_buf(s2, bufs[7], strlen(bufs[7]), &again, &isnew), 0);
	assert_false(isnew);
	assert_true(git_oid_equal(&again, &ids[7]));
	snap_store_free(s2);
	free(b);
}

static void test_snapshot_object__pack_corrupt(void **state)
{
	struct fx *f = *state;
	git_oid ids[NPACKED];
	char bufs[NPACKED][64];
	pack_puts(f, ids, bufs);
	assert_int_equal(snap__store_flush(f->s), 0);
	char pack[PATH_MAX + 64], p[PATH_MAX + 64];
	pack_file(f, pack, sizeof(pack));
	/* one byte in the middle of the pack: exactly one object is corrupt */
	int fd = open(pack, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char c;
	assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
	c ^= 0x55;
	assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	close(fd);
	snprintf(p, sizeof(p), "%s/out", f->dir);
	int bad = 0;
	for (int i = 0; i < NPACKED; i++) {
		int o = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
		int r = snap_object_read_fd(f->s, &ids[i], o, NULL);
		close(o);
		if (r < 0) {
			assert_int_equal(r, -EIO);
			char hex[GIT_OID_HEXSZ + 1];
			assert_non_null(strstr(snap_last_error(), git_oid_tostr(hex, sizeof(hex), &ids[i])));
			bad++;
		}
	}
	assert_int_equal(bad, 1);
	/* a truncated pack: its last object is truncated */
	assert_int_equal(truncate(pack, st.st_size - 3), 0);
	snap__packs_invalidate(f->s);
	bad = 0;
	for (int i = 0; i < NPACKED; i++) {
		int o = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (snap_object_read_fd(f->s, &ids[i], o, NULL) == -EIO)
			bad++;
		close(o);
	}
	assert_int_equal(bad, 2);
}

static void one_layer(struct fx *f, const git_oid *ids, int n, char id[41])
{
	struct snap_meta m;
	memset(&m, 0, sizeof(m));
	m.kind = SNAP_KIND_SESSION;
	struct snap_writer *w;
	assert_int_equal(snap_writer_new(&w, f->s, &m), 0);
	for (int i = 0; i < n; i++) {
		char path[32];
		snprintf(path, sizeof(path), "f%d", i);
		struct snap_entry e = {.path = path, .type = SNAP_T_REG, .mode = 0644, .size = 0, .cid = ids[i]};
		uint64_t sz = 0;
		void *mem = NULL;
		size_t len = 0;
		assert_int_equal(snap__object_read_mem(f->s, &ids[i], &mem, &len), 0);
		free(mem);
		sz = len;
		e.size = sz;
		assert_int_equal(snap_writer_add(w, &e), 0);
	}
	assert_int_equal(snap_writer_commit(w, id), 0);
	snap_writer_free(w);
}

static void test_snapshot_object__pack_gc(void **state)
{
	struct fx *f = *state;
	git_oid ids[NPACKED];
	char bufs[NPACKED][64], id[41], p[PATH_MAX + 64];
	pack_puts(f, ids, bufs);
	one_layer(f, ids, NPACKED / 2, id); /* commits (flushes) the pack; names half */
	struct snap_gc_stats st;
	/* young: kept whole */
	assert_int_equal(snap_store_gc(f->s, 600, false, &st), 0);
	assert_int_equal(st.objects_removed, 0);
	snprintf(p, sizeof(p), "%s/store/packs", f->dir);
	assert_int_equal(count_files(p), 2);
	/* dry run: counts, removes nothing */
	assert_int_equal(snap_store_gc(f->s, 0, true, &st), 0);
	assert_int_equal(st.objects_removed, NPACKED / 2);
	assert_int_equal(count_files(p), 2);
	/* grace 0: the referenced half becomes loose, the pack goes */
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), 0);
	assert_int_equal(st.objects_removed, NPACKED / 2);
	assert_int_equal(st.objects_kept, NPACKED / 2);
	assert_int_equal(count_files(p), 0);
	snprintf(p, sizeof(p), "%s/store/objects", f->dir);
	assert_int_equal(count_files(p), NPACKED / 2);
	for (int i = 0; i < NPACKED; i++) {
		if (i < NPACKED / 2)
			read_back(f, &ids[i], bufs[i], strlen(bufs[i]));
		else
			assert_int_equal(snap_object_has(f->s, &ids[i]), -ENOENT);
	}
	/* a pack all of whose objects are referenced is kept as it is */
	git_oid more[NPACKED];
	char mb[NPACKED][64];
	snap__store_set_packing(f->s, true);
	for (int i = 0; i < NPACKED; i++) {
		snprintf(mb[i], 64, "second pack %d\n", i);
		assert_int_equal(snap_object_put_buf(f->s, mb[i], strlen(mb[i]), &more[i], NULL), 0);
	}
	snap__store_set_packing(f->s, false);
	one_layer(f, more, NPACKED, id);
	assert_int_equal(snap_store_gc(f->s, 0, false, &st), 0);
	assert_int_equal(st.objects_removed, 0);
	snprintf(p, sizeof(p), "%s/store/packs", f->dir);
	assert_int_equal(count_files(p), 2);
	read_back(f, &more[5], mb[5], strlen(mb[5]));
}

/* gc keeps at most SNAP__PACKS_KEEP packs: older ones become loose objects
 * (all of a young pack's objects, referenced or not, are kept) */
static void test_snapshot_object__pack_gc_bounded(void **state)
{
	struct fx *f = *state;
	enum { NP = SNAP__PACKS_KEEP + 3 };
	git_oid ids[NP];
	char bufs[NP][64], p[PATH_MAX + 64];
	for (int i = 0; i < NP; i++) {
		snap__store_set_packing(f->s, true);
		snprintf(bufs[i], 64, "pack number %d\n", i);
		assert_int_equal(snap_object_put_buf(f->s, bufs[i], strlen(bufs[i]), &ids[i], NULL), 0);
		snap__store_set_packing(f->s, false);
		assert_int_equal(snap__store_flush(f->s), 0);
	}
	snprintf(p, sizeof(p), "%s/store/packs", f->dir);
	assert_int_equal(count_files(p), 2 * NP);
	struct snap_gc_stats st;
	assert_int_equal(snap_store_gc(f->s, 600, false, &st), 0);
	assert_int_equal(st.objects_removed, 0);
	assert_int_equal(count_files(p), 2 * SNAP__PACKS_KEEP);
	snprintf(p, sizeof(p), "%s/store/objects", f->dir);
	assert_int_equal(count_files(p), NP - SNAP__PACKS_KEEP);
	for (int i = 0; i < NP; i++)
		read_back(f, &ids[i], bufs[i], strlen(bufs[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_snapshot_object__git_id),
		FX_TEST(test_snapshot_object__roundtrip),
		FX_TEST(test_snapshot_object__sparse_large),
		FX_TEST(test_snapshot_object__pipe),
		FX_TEST(test_snapshot_object__dedup),
		FX_TEST(test_snapshot_object__corrupt),
		FX_TEST(test_snapshot_object__truncated),
		FX_TEST(test_snapshot_object__missing),
		FX_TEST(test_snapshot_object__no_temporaries),
		FX_TEST(test_snapshot_object__store_open),
		FX_TEST(test_snapshot_object__threads),
		FX_TEST(test_snapshot_object__write_failure),
		FX_TEST(test_snapshot_object__pack_roundtrip),
		FX_TEST(test_snapshot_object__pack_corrupt),
		FX_TEST(test_snapshot_object__pack_gc),
		FX_TEST(test_snapshot_object__pack_gc_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
