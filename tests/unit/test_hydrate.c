/* Unit tests of the hydration cache (fs/hydrate.c), with a fake blob source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_int.h"

struct src {
	_Atomic int fills;
	int fail_with;   /* negative errno to fail every fill */
	size_t size;
	useconds_t delay;
};

/* Content of a fake blob: bytes derived from the oid. */
static unsigned char byte_at(const git_oid *oid, size_t i)
{
	return (unsigned char)(oid->id[i % GIT_OID_RAWSZ] ^ (i * 131u));
}

static int fake_fill(void *arg, const git_oid *oid, int fd, uint64_t *out_bytes)
{
	struct src *s = arg;
	atomic_fetch_add(&s->fills, 1);
	if (s->delay)
		usleep(s->delay);
	unsigned char *buf = malloc(s->size);
	for (size_t i = 0; i < s->size; i++)
		buf[i] = byte_at(oid, i);
	size_t half = s->size / 2;
	/* Write half, then fail if asked: a partial write must never show. */
	if (write(fd, buf, half) != (ssize_t)half)
		abort();
	if (s->fail_with) {
		free(buf);
		return s->fail_with;
	}
	if (write(fd, buf + half, s->size - half) != (ssize_t)(s->size - half))
		abort();
	free(buf);
	*out_bytes = s->size;
	return 0;
}

static void oid_n(git_oid *oid, int n)
{
	memset(oid, 0, sizeof(*oid));
	oid->id[0] = (unsigned char)(n & 0xff);
	oid->id[1] = (unsigned char)(n >> 8);
	oid->id[19] = 0x5a;
}

static void check_fd(int fd, const git_oid *oid, size_t size)
{
	unsigned char *buf = malloc(size + 1);
	assert_int_equal(pread(fd, buf, size + 1, 0), (ssize_t)size);
	for (size_t i = 0; i < size; i++)
		if (buf[i] != byte_at(oid, i))
			fail_msg("byte %zu differs", i);
	free(buf);
}

static char *tmpdir(void)
{
	char *t = strdup("/tmp/thaw-unit.XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

static void test_hydrate__miss_fills_then_hits(void **state)
{
	(void)state;
	char *dir = tmpdir();
	struct fs_cache *c;
	struct src s = {.size = 100000};
	git_oid oid;
	int fd;
	bool hydrated;

	oid_n(&oid, 1);
	assert_int_equal(fs_cache_open(&c, dir, 1 << 30), 0);
	assert_int_equal(fs_cache_get(c, &oid, s.size, fake_fill, &s, &fd, &hydrated), 0);
	assert_true(hydrated);
	check_fd(fd, &oid, s.size);
	close(fd);
	assert_int_equal(fs_cache_get(c, &oid, s.size, fake_fill, &s, &fd, &hydrated), 0);
	assert_false(hydrated);
	check_fd(fd, &oid, s.size);
	close(fd);
	assert_int_equal(atomic_load(&s.fills), 1);
	assert_int_equal(fs_cache_size_estimate(c), s.size);
	fs_cache_free(c);
	fs_rm_rf(dir);
	free(dir);
}

struct racer {
	struct fs_cache *c;
	struct src *s;
	git_oid oid;
	bool hydrated;
	int rc;
	pthread_barrier_t *b;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	int fd;
	pthread_barrier_wait(r->b);
	r->rc = fs_cache_get(r->c, &r->oid, r->s->size, fake_fill, r->s, &fd, &r->hydrated);
	if (r->rc == 0) {
		check_fd(fd, &r->oid, r->s->size);
		close(fd);
	}
	return NULL;
}

static void test_hydrate__concurrent_first_reads_hydrate_once(void **state)
{
	(void)state;
	char *dir = tmpdir();
	struct fs_cache *c;
	struct src s = {.size = 3 << 20, .delay = 20000};
	struct racer r[8];
	pthread_t t[8];
	pthread_barrier_t b;

	assert_int_equal(fs_cache_open(&c, dir, 1ull << 30), 0);
	pthread_barrier_init(&b, NULL, 8);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){.c = c, .s = &s, .b = &b};
		oid_n(&r[i].oid, 7);
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	int n_hydrated = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].rc, 0);
		n_hydrated += r[i].hydrated;
	}
	assert_int_equal(n_hydrated, 1);
	assert_int_equal(atomic_load(&s.fills), 1);
	pthread_barrier_destroy(&b);
	fs_cache_free(c);
	fs_rm_rf(dir);
	free(dir);
}

static void test_hydrate__failed_fill_leaves_no_entry(void **state)
{
	(void)state;
	char *dir = tmpdir();
	struct fs_cache *c;
	struct src s = {.size = 50000, .fail_with = -EIO};
	git_oid oid;
	int fd;
	bool hydrated;
	char path[512];

	oid_n(&oid, 2);
	assert_int_equal(fs_cache_open(&c, dir, 1 << 30), 0);
	assert_int_equal(fs_cache_get(c, &oid, s.size, fake_fill, &s, &fd, &hydrated), -EIO);
	snprintf(path, sizeof(path), "%s/blobs/02", dir);
	/* The entry's directory holds nothing: no partial file, no temporary. */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s 2>/dev/null)\"", path);
	assert_int_equal(system(cmd), 0);
	/* A later successful fill works. */
	s.fail_with = 0;
	assert_int_equal(fs_cache_get(c, &oid, s.size, fake_fill, &s, &fd, &hydrated), 0);
	assert_true(hydrated);
	check_fd(fd, &oid, s.size);
	close(fd);
	fs_cache_free(c);
	fs_rm_rf(dir);
	free(dir);
}

static void test_hydrate__damaged_entry_is_hydrated_again(void **state)
{
	(void)state;
	char *dir = tmpdir();
	struct fs_cache *c;
	struct src s = {.size = 70000};
	git_oid oid;
	int fd;
	bool hydrated;
	char path[512], hex[GIT_OID_HEXSZ + 1];

	oid_n(&oid, 3);
	git_oid_tostr(hex, sizeof(hex), &oid);
	assert_int_equal(fs_cache_open(&c, dir, 1 << 30), 0);
	assert_int_equal(fs_cache_get(c, &oid, s.size, fake_fill, &s, &fd, &hydrated), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, hex, hex + 2);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(fs_cache_get(c, &oid, s.size, fake_fill, &s, &fd, &hydrated), 0);
	assert_true(hydrated);
	check_fd(fd, &oid, s.size);
	close(fd);
	assert_int_equal(atomic_load(&s.fills), 2);
	fs_cache_free(c);
	fs_rm_rf(dir);
	free(dir);
}

static void test_hydrate__eviction_removes_least_recently_used(void **state)
{
	(void)state;
	char *dir = tmpdir();
	struct fs_cache *c;
	struct src s = {.size = 10000};
	git_oid oid[10];
	int fd;
	bool hydrated;
	uint64_t evicted;

	/* Fill without a cap in the way (no background eviction racing the
	 * test), last use i seconds after the epoch: entry 0 is the oldest. */
	assert_int_equal(fs_cache_open(&c, dir, 1ull << 30), 0);
	for (int i = 0; i < 10; i++) {
		oid_n(&oid[i], 100 + i);
		assert_int_equal(fs_cache_get(c, &oid[i], s.size, fake_fill, &s, &fd, &hydrated), 0);
		struct timespec ts[2] = {{.tv_sec = 1000 + i}, {.tv_sec = 1000 + i}};
		assert_int_equal(futimens(fd, ts), 0);
		close(fd);
	}
	fs_cache_free(c);
	/* The same cache under a 50,000-byte cap: eviction goes down to 90%. */
	assert_int_equal(fs_cache_open(&c, dir, 50000), 0);
	assert_int_equal(fs_cache_evict(c, &evicted), 0);
	assert_int_equal(evicted, 6);
	assert_int_equal(fs_cache_size_estimate(c), 40000);
	for (int i = 0; i < 10; i++) {
		char hex[GIT_OID_HEXSZ + 1], path[512];
		struct stat st;
		git_oid_tostr(hex, sizeof(hex), &oid[i]);
		snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", dir, hex, hex + 2);
		if (i >= 6)
			assert_int_equal(stat(path, &st), 0);
		else
			assert_int_not_equal(stat(path, &st), 0);
	}
	assert_int_equal(fs_cache_evictions(c), 6);
	/* An evicted entry is hydrated again on demand. */
	assert_int_equal(fs_cache_get(c, &oid[0], s.size, fake_fill, &s, &fd, &hydrated), 0);
	assert_true(hydrated);
	check_fd(fd, &oid[0], s.size);
	close(fd);
	fs_cache_free(c);
	fs_rm_rf(dir);
	free(dir);
}

static void test_hydrate__unwritable_directory_is_an_error(void **state)
{
	(void)state;
	struct fs_cache *c = NULL;
	assert_int_equal(fs_cache_open(&c, "/proc/version/cache", 1 << 20), -ENOTDIR);
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hydrate__miss_fills_then_hits),
		cmocka_unit_test(test_hydrate__concurrent_first_reads_hydrate_once),
		cmocka_unit_test(test_hydrate__failed_fill_leaves_no_entry),
		cmocka_unit_test(test_hydrate__damaged_entry_is_hydrated_again),
		cmocka_unit_test(test_hydrate__eviction_removes_least_recently_used),
		cmocka_unit_test(test_hydrate__unwritable_directory_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
