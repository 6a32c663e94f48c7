/*
 * The hydration cache: one file per blob, shared by every mount on the host.
 *
 * On-disk layout (under the cache directory):
 *
 *   | path                 | what                                               |
 *   |----------------------|----------------------------------------------------|
 *   | blobs/XX/YYYY...     | the raw content of blob XXYYYY... (40 hex), 0444   |
 *   | locks/XXX            | empty lock files, flock'd while a process hydrates |
 *   |                      | a blob whose id starts with XXX (4096 shards)      |
 *   | run/NAME/            | private runtime directories of live mounts         |
 *
 * An entry appears atomically: its content is written to an unnamed O_TMPFILE
 * in the entry's directory and linked into place only when complete (or,
 * where O_TMPFILE is unsupported, written to a dot-file and renamed), so a
 * crash never leaves a partial entry under a blob's name. Within a process,
 * concurrent first reads of one blob wait for a single hydration (an
 * in-flight table); across processes the shard lock does the same.
 *
 * Size is bounded by least-recently-used eviction: an entry's mtime is its
 * last use (bumped at most once a minute per inode, see fs_cache_touch), and
 * eviction removes the oldest entries until the total is under 90% of the
 * cap. Removing an entry another reader has open is safe: its descriptor keeps
 * the data, and a later open hydrates again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

struct inflight {
	git_oid oid;
	int waiters;
	bool done;
	int result;
	pthread_cond_t cond;
	struct inflight *next;
};

struct fs_cache {
	char *dir;
	int blobs_fd;
	int locks_fd;
	uint64_t cap;
	_Atomic uint64_t size;   /* estimate: last scan plus what this process added */
	_Atomic bool tmpfile_broken;
	_Atomic bool evicting;   /* an eviction thread is running */
	_Atomic uint64_t evictions;
	pthread_mutex_t lock;    /* protects inflight */
	pthread_mutex_t evict_lock; /* one eviction (scan, unlink, size) at a time */
	struct inflight *inflight;
};

static int open_dir_at(int at, const char *name)
{
	if (mkdirat(at, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fs_cache_open(struct fs_cache **out, const char *dir, uint64_t cap)
{
	struct fs_cache *c = calloc(1, sizeof(*c));
	int dfd = -1, r;

	if (!c)
		return -ENOMEM;
	c->blobs_fd = c->locks_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->evict_lock, NULL);
	c->cap = cap;
	if ((r = fs_mkdir_p(dir, 0755)) < 0)
		goto done;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		goto done;
	}
	if (faccessat(dfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		r = -errno;
		goto done;
	}
	if ((r = open_dir_at(dfd, "blobs")) < 0)
		goto done;
	c->blobs_fd = r;
	if ((r = open_dir_at(dfd, "locks")) < 0)
		goto done;
	c->locks_fd = r;
	/* Prove that we can create files here: a read-only cache must fail now,
	 * not at the first read. */
	int probe = openat(c->locks_fd, "000", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (probe < 0) {
		r = -errno;
		goto done;
	}
	close(probe);
	c->dir = strdup(dir);
	r = c->dir ? 0 : -ENOMEM;
done:
	if (dfd >= 0)
		close(dfd);
	if (r < 0) {
		fs_cache_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void fs_cache_free(struct fs_cache *c)
{
	if (!c)
		return;
	/* A detached eviction thread may still use c: wait for it (bounded). */
	for (int i = 0; i < 3000 && atomic_load(&c->evicting); i++)
		usleep(1000);
	if (c->blobs_fd >= 0)
		close(c->blobs_fd);
	if (c->locks_fd >= 0)
		close(c->locks_fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->evict_lock);
	free(c->dir);
	free(c);
}

const char *fs_cache_dir(struct fs_cache *c) { return c->dir; }
uint64_t fs_cache_cap(struct fs_cache *c) { return c->cap; }
uint64_t fs_cache_size_estimate(struct fs_cache *c) { return atomic_load(&c->size); }
uint64_t fs_cache_evictions(struct fs_cache *c) { return atomic_load(&c->evictions); }

static void entry_name(const git_oid *oid, char sub[3], char name[64])
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), oid);
	memcpy(sub, hex, 2);
	sub[2] = '\0';
	snprintf(name, 64, "%.2s/%s", hex, hex + 2);
}

static int open_entry(struct fs_cache *c, const char *name, uint64_t expect_size)
{
	int fd = openat(c->blobs_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (expect_size != UINT64_MAX) {
		struct stat st;
		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != expect_size) {
			/* Damaged (e.g. a crash of the machine before the data reached
			 * the disk): drop it and hydrate again. */
			close(fd);
			(void)unlinkat(c->blobs_fd, name, 0);
			return -ENOENT;
		}
	}
	return fd;
}

static int write_entry(struct fs_cache *c, const git_oid *oid, const char *sub, const char *name,
                       fs_cache_fill_fn fill, void *arg, uint64_t *out_bytes)
{
	int subfd = open_dir_at(c->blobs_fd, sub);
	int fd = -1, r;
	char tmp[96] = "";

	if (subfd < 0)
		return subfd;
	if (!atomic_load(&c->tmpfile_broken)) {
		fd = openat(subfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0444);
		if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
			atomic_store(&c->tmpfile_broken, true);
	}
	if (fd < 0) {
		static _Atomic unsigned seq;
		snprintf(tmp, sizeof(tmp), ".tmp.%d.%u", (int)getpid(), atomic_fetch_add(&seq, 1));
		fd = openat(subfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0444);
		if (fd < 0) {
			r = -errno;
			goto done;
		}
	}
	if ((r = fill(arg, oid, fd, out_bytes)) < 0)
		goto done;
	if (tmp[0]) {
		if (renameat(subfd, tmp, c->blobs_fd, name) < 0) {
			r = -errno;
			goto done;
		}
		tmp[0] = '\0';
	} else {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, c->blobs_fd, name, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST) {
			r = -errno;
			goto done;
		}
	}
	r = fd;
	fd = -1;
done:
	if (tmp[0])
		(void)unlinkat(subfd, tmp, 0);
	if (fd >= 0)
		close(fd);
	close(subfd);
	return r;
}

static void maybe_evict_async(struct fs_cache *c);
static int cache_get_once(struct fs_cache *c, const git_oid *oid, uint64_t expect_size,
                          fs_cache_fill_fn fill, void *arg, int *out_fd, bool *out_hydrated);

int fs_cache_get(struct fs_cache *c, const git_oid *oid, uint64_t expect_size,
                 fs_cache_fill_fn fill, void *arg, int *out_fd, bool *out_hydrated)
{
	/* A waiter can find the entry already evicted again when the cache is
	 * far over its cap: start over (and possibly hydrate it itself). */
	int r = -ENOENT;
	for (int attempt = 0; attempt < 8 && r == -ENOENT; attempt++)
		r = cache_get_once(c, oid, expect_size, fill, arg, out_fd, out_hydrated);
	return r;
}

static int cache_get_once(struct fs_cache *c, const git_oid *oid, uint64_t expect_size,
                          fs_cache_fill_fn fill, void *arg, int *out_fd, bool *out_hydrated)
{
	char sub[3], name[64];
	struct inflight *f;
	int fd, r, lockfd = -1;
	uint64_t bytes = 0;

	entry_name(oid, sub, name);
	*out_hydrated = false;
	fd = open_entry(c, name, expect_size);
	if (fd >= 0) {
		*out_fd = fd;
		return 0;
	}
	if (fd != -ENOENT)
		return fd;

	/* Join or start the one hydration of this blob in this process. */
	pthread_mutex_lock(&c->lock);
	for (f = c->inflight; f; f = f->next)
		if (git_oid_equal(&f->oid, oid))
			break;
	if (f) {
		f->waiters++;
		while (!f->done)
			pthread_cond_wait(&f->cond, &c->lock);
		r = f->result;
		if (--f->waiters == 0) {
			pthread_cond_destroy(&f->cond);
			free(f);
		}
		pthread_mutex_unlock(&c->lock);
		if (r < 0)
			return r;
		fd = open_entry(c, name, UINT64_MAX);
		if (fd < 0)
			return fd;
		*out_fd = fd;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	git_oid_cpy(&f->oid, oid);
	f->waiters = 1;
	pthread_cond_init(&f->cond, NULL);
	f->next = c->inflight;
	c->inflight = f;
	pthread_mutex_unlock(&c->lock);

	/* Across processes: one hydration per shard at a time. */
	char shard[4] = {name[0], name[1], name[3], '\0'};
	lockfd = openat(c->locks_fd, shard, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd >= 0)
		while (flock(lockfd, LOCK_EX) < 0 && errno == EINTR)
			;
	fd = open_entry(c, name, expect_size);
	if (fd == -ENOENT) {
		fd = write_entry(c, oid, sub, name, fill, arg, &bytes);
		if (fd >= 0) {
			*out_hydrated = true;
			atomic_fetch_add(&c->size, bytes);
		}
	}
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	r = fd < 0 ? fd : 0;

	pthread_mutex_lock(&c->lock);
	struct inflight **pp = &c->inflight;
	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	f->done = true;
	f->result = r;
	pthread_cond_broadcast(&f->cond);
	if (--f->waiters == 0) {
		pthread_cond_destroy(&f->cond);
		free(f);
	}
	pthread_mutex_unlock(&c->lock);

	if (r < 0)
		return r;
	*out_fd = fd;
	if (*out_hydrated)
		maybe_evict_async(c);
	return 0;
}

void fs_cache_touch(struct fs_cache *c, int fd)
{
	(void)c;
	(void)futimens(fd, NULL);
}

/* ---- eviction ---- */

struct victim {
	int64_t mtime;
	uint64_t size;
	char name[64];
};

static int cmp_victim(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Lists every entry: name, size, last use. */
static int scan(struct fs_cache *c, struct victim **out, size_t *out_n, uint64_t *out_total)
{
	struct victim *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	int r = 0;

	for (int i = 0; i < 256; i++) {
		char sub[3];
		snprintf(sub, sizeof(sub), "%02x", i);
		int dfd = openat(c->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		DIR *d = fdopendir(dfd);
		if (!d) {
			close(dfd);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			struct stat st;
			if (de->d_name[0] == '.' || strlen(de->d_name) != GIT_OID_HEXSZ - 2)
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				struct victim *nv = realloc(v, ncap * sizeof(*v));
				if (!nv) {
					r = -ENOMEM;
					closedir(d);
					goto done;
				}
				v = nv;
				cap = ncap;
			}
			v[n].mtime = st.st_mtim.tv_sec;
			v[n].size = (uint64_t)st.st_size;
			memcpy(v[n].name, sub, 2);
			v[n].name[2] = '/';
			memcpy(v[n].name + 3, de->d_name, GIT_OID_HEXSZ - 2 + 1);
			total += (uint64_t)st.st_size;
			n++;
		}
		closedir(d);
	}
done:
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*out_n = n;
	*out_total = total;
	return 0;
}

int fs_cache_evict(struct fs_cache *c, uint64_t *out_evicted)
{
	struct victim *v = NULL;
	size_t n = 0;
	uint64_t total = 0, evicted = 0;
	pthread_mutex_lock(&c->evict_lock);
	int r = scan(c, &v, &n, &total);

	if (r < 0) {
		pthread_mutex_unlock(&c->evict_lock);
		return r;
	}
	if (total > c->cap) {
		uint64_t low = c->cap - c->cap / 10;
		qsort(v, n, sizeof(*v), cmp_victim);
		for (size_t i = 0; i < n && total > low; i++) {
			if (unlinkat(c->blobs_fd, v[i].name, 0) == 0) {
				total -= v[i].size;
				evicted++;
			}
		}
	}
	atomic_store(&c->size, total);
	atomic_fetch_add(&c->evictions, evicted);
	pthread_mutex_unlock(&c->evict_lock);
	free(v);
	if (out_evicted)
		*out_evicted = evicted;
	return 0;
}

static void *evict_thread(void *arg)
{
	struct fs_cache *c = arg;
	(void)fs_cache_evict(c, NULL);
	atomic_store(&c->evicting, false);
	return NULL;
}

void fs_cache_scan_async(struct fs_cache *c)
{
	bool expected = false;
	if (!atomic_compare_exchange_strong(&c->evicting, &expected, true))
		return;
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, evict_thread, c) != 0)
		atomic_store(&c->evicting, false);
	pthread_attr_destroy(&attr);
}

static void maybe_evict_async(struct fs_cache *c)
{
	if (atomic_load(&c->size) > c->cap)
		fs_cache_scan_async(c);
}
