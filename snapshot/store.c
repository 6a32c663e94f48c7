/* snapshot: the store directory, its locks, temporaries, the list of layers,
 * chains and layer removal. */
#include "snapshot_int.h"

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

#include "banned.h"

int64_t snap__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool snap__is_hex_id(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[len] == '\0';
}

static int mkdir_p1(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int store_open(struct snap_store **out, const char *dir, bool create, bool light);

int snap_store_open(struct snap_store **out, const char *dir, bool create)
{
	return store_open(out, dir, create, false);
}

int snap__store_open_light(struct snap_store **out, const char *dir)
{
	return store_open(out, dir, false, true);
}

static int store_open(struct snap_store **out, const char *dir, bool create, bool light)
{
	char p[PATH_MAX];
	int r;
	if (!light)
		snap__git_init();
	if (!dir || !*dir)
		return snap__err(-EINVAL, "no store directory given");
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n + 32 >= PATH_MAX)
		return snap__err(-ENAMETOOLONG, "store path too long");
	struct snap_store *s = calloc(1, sizeof(*s));
	if (!s)
		return snap__err(-ENOMEM, "out of memory");
	s->dirfd = -1;
	s->wpack_fd = -1;
	s->packing_lock = -1;
	pthread_mutex_init(&s->pend_lock, NULL);
	pthread_rwlock_init(&s->packs_lock, NULL);
	s->dir = strndup(dir, n);
	if (!s->dir) {
		r = snap__err(-ENOMEM, "out of memory");
		goto fail;
	}
	if (create) {
		static const char *const sub[] = {"", "/objects", "/layers", "/tmp"};
		for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
			snprintf(p, sizeof(p), "%s%s", s->dir, sub[i]);
			if ((r = mkdir_p1(p)) < 0) {
				snap__err(r, "store %s: cannot create %s: %s", s->dir, p, strerror(-r));
				goto fail;
			}
		}
		snprintf(p, sizeof(p), "%s/lock", s->dir);
		int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = snap__err(-errno, "store %s: cannot create its lock file: %s", s->dir, strerror(errno));
			goto fail;
		}
		close(fd);
	}
	s->dirfd = open(s->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = snap__err(-errno, "store %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	static const char *const need[] = {"objects", "layers", "tmp", "lock"};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		struct stat st;
		if (fstatat(s->dirfd, need[i], &st, 0) < 0) {
			r = snap__err(-ENOENT, "%s is not a snapshot store (no %s)", s->dir, need[i]);
			goto fail;
		}
	}
	if (!light && (r = snap__hash_odb_new(&s->hash_odb)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	snap_store_free(s);
	return r;
}

void snap_store_free(struct snap_store *s)
{
	if (!s)
		return;
	/* Objects put but never committed are still stored (they are complete);
	 * if that fails they are dropped, never left half-done. */
	if (snap__store_flush(s) < 0)
		snap__store_pending_drop(s);
	snap__store_unlock(s->packing_lock);
	pthread_mutex_destroy(&s->pend_lock);
	snap__packs_free(s);
	if (s->dirfd >= 0)
		close(s->dirfd);
	git_odb_free(s->hash_odb);
	free(s->dir);
	free(s);
}

const char *snap_store_dir(const struct snap_store *s)
{
	return s->dir;
}

int snap__store_lock(struct snap_store *s, int op)
{
	int fd = openat(s->dirfd, "lock", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return snap__err(-errno, "store %s: lock: %s", s->dir, strerror(errno));
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return snap__err(e == EWOULDBLOCK ? -EBUSY : -e, "store %s: lock: %s", s->dir, strerror(e));
	}
	return fd;
}

void snap__store_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

static void tmp_name(struct snap_store *s, const char *prefix, char *path, size_t pathlen)
{
	static _Atomic unsigned long seq;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(path, pathlen, "%s/tmp/%s-%d-%lu-%lx", s->dir, prefix, (int)getpid(), ++seq,
	         (unsigned long)ts.tv_nsec);
}

int snap__tmpfile(struct snap_store *s, const char *prefix, char *path, size_t pathlen)
{
	for (int i = 0; i < 100; i++) {
		tmp_name(s, prefix, path, pathlen);
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return snap__err(-errno, "cannot create a temporary file in %s/tmp: %s", s->dir, strerror(errno));
	}
	return snap__err(-EEXIST, "cannot create a temporary file in %s/tmp", s->dir);
}

int snap__tmpdir(struct snap_store *s, const char *prefix, char *path, size_t pathlen)
{
	for (int i = 0; i < 100; i++) {
		tmp_name(s, prefix, path, pathlen);
		if (mkdir(path, 0755) == 0)
			return 0;
		if (errno != EEXIST)
			return snap__err(-errno, "cannot create a temporary directory in %s/tmp: %s", s->dir,
			                 strerror(errno));
	}
	return snap__err(-EEXIST, "cannot create a temporary directory in %s/tmp", s->dir);
}

int snap__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int rm_rf_at(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r2 = rm_rf_at(dirfd(d), de->d_name);
		if (r2 < 0 && r == 0)
			r = r2;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

int snap__rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

int snap__resolve_id(struct snap_store *s, const char *prefix, char out[SNAP_ID_HEXLEN + 1])
{
	size_t n = prefix ? strlen(prefix) : 0;
	if (n < 8 || n > SNAP_ID_HEXLEN || !snap__is_hex_id(prefix, n))
		return snap__err(-EINVAL, "'%s' is not a layer id (8 to 40 lowercase hex digits)", prefix ? prefix : "");
	char p[PATH_MAX];
	struct stat st;
	if (n == SNAP_ID_HEXLEN) {
		snprintf(p, sizeof(p), "%s/layers/%s/manifest.db", s->dir, prefix);
		if (stat(p, &st) < 0)
			return snap__err(-ENOENT, "no layer %s in %s", prefix, s->dir);
		memcpy(out, prefix, SNAP_ID_HEXLEN + 1);
		return 0;
	}
	snprintf(p, sizeof(p), "%s/layers", s->dir);
	DIR *d = opendir(p);
	if (!d)
		return snap__err(-errno, "%s: %s", p, strerror(errno));
	int found = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) == SNAP_ID_HEXLEN && snap__is_hex_id(de->d_name, SNAP_ID_HEXLEN) &&
		    strncmp(de->d_name, prefix, n) == 0) {
			if (found++ == 0)
				memcpy(out, de->d_name, SNAP_ID_HEXLEN + 1);
		}
	}
	closedir(d);
	if (found == 0)
		return snap__err(-ENOENT, "no layer %s in %s", prefix, s->dir);
	if (found > 1)
		return snap__err(-EINVAL, "layer id prefix %s is ambiguous in %s", prefix, s->dir);
	return 0;
}

/* ---- listing ---- */

struct meta_vec {
	struct snap_meta *v;
	size_t n, cap;
};

static int collect_metas(struct snap_store *s, struct meta_vec *mv)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers", s->dir);
	DIR *d = opendir(p);
	if (!d)
		return snap__err(-errno, "%s: %s", p, strerror(errno));
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != SNAP_ID_HEXLEN || !snap__is_hex_id(de->d_name, SNAP_ID_HEXLEN))
			continue;
		if (mv->n == mv->cap) {
			size_t cap = mv->cap ? mv->cap * 2 : 16;
			struct snap_meta *nv = realloc(mv->v, cap * sizeof(*nv));
			if (!nv) {
				r = snap__err(-ENOMEM, "out of memory");
				break;
			}
			mv->v = nv;
			mv->cap = cap;
		}
		snprintf(p, sizeof(p), "%s/layers/%s", s->dir, de->d_name);
		r = snap__layer_meta_at(p, &mv->v[mv->n]);
		if (r == -ENOENT)
			continue; /* removed meanwhile */
		if (r < 0)
			break;
		mv->n++;
	}
	closedir(d);
	return r;
}

static int cmp_newest_first(const void *a, const void *b)
{
	const struct snap_meta *x = a, *y = b;
	if (x->created_ms != y->created_ms)
		return x->created_ms > y->created_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

int snap_store_list(struct snap_store *s, snap_meta_fn fn, void *arg)
{
	struct meta_vec mv = {0};
	int r = collect_metas(s, &mv);
	if (r == 0) {
		if (mv.n)
			qsort(mv.v, mv.n, sizeof(mv.v[0]), cmp_newest_first);
		for (size_t i = 0; i < mv.n && r == 0; i++)
			r = fn(arg, &mv.v[i]);
	}
	free(mv.v);
	return r;
}

/* ---- chains ---- */

#define SNAP_CHAIN_MAX 4096

void snap_ids_free(char **ids, size_t n)
{
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int snap_layer_chain(struct snap_store *s, const char *id, char ***out, size_t *out_n)
{
	char cur[SNAP_ID_HEXLEN + 1];
	int r = snap__resolve_id(s, id, cur);
	if (r < 0)
		return r;
	char **ids = NULL;
	size_t n = 0;
	for (;;) {
		if (n >= SNAP_CHAIN_MAX) {
			r = snap__err(-ELOOP, "layer chain of %s is longer than %d", id, SNAP_CHAIN_MAX);
			goto fail;
		}
		char **nv = realloc(ids, (n + 1) * sizeof(*ids));
		if (!nv || !(nv[n] = strdup(cur))) {
			ids = nv ? nv : ids;
			r = snap__err(-ENOMEM, "out of memory");
			goto fail;
		}
		ids = nv;
		n++;
		char p[PATH_MAX];
		struct snap_meta m;
		snprintf(p, sizeof(p), "%s/layers/%s", s->dir, cur);
		if ((r = snap__layer_meta_at(p, &m)) < 0) {
			if (r == -ENOENT)
				snap__err(r, "layer %s (in the chain of %s) is missing from %s", cur, id, s->dir);
			goto fail;
		}
		if (!m.parent[0])
			break;
		memcpy(cur, m.parent, sizeof(cur));
	}
	*out = ids;
	*out_n = n;
	return 0;
fail:
	snap_ids_free(ids, n);
	return r;
}

/* ---- removal ---- */

int snap_layer_remove(struct snap_store *s, const char *id_in)
{
	char id[SNAP_ID_HEXLEN + 1], p[PATH_MAX], tmp[PATH_MAX];
	int r = snap__resolve_id(s, id_in, id);
	if (r < 0)
		return r;
	/* Exclusive: no writer can commit a child of this layer meanwhile. */
	int lk = snap__store_lock(s, LOCK_EX);
	if (lk < 0)
		return lk;
	int mfd = -1;
	struct meta_vec mv = {0};
	if ((r = collect_metas(s, &mv)) < 0)
		goto done;
	for (size_t i = 0; i < mv.n; i++) {
		if (strcmp(mv.v[i].parent, id) == 0) {
			r = snap__err(-EBUSY, "layer %s is the parent of layer %s", id, mv.v[i].id);
			goto done;
		}
	}
	snprintf(p, sizeof(p), "%s/layers/%s/manifest.db", s->dir, id);
	mfd = open(p, O_RDONLY | O_CLOEXEC);
	if (mfd < 0) {
		r = snap__err(-errno, "%s: %s", p, strerror(errno));
		goto done;
	}
	if (flock(mfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? snap__err(-EBUSY, "layer %s is in use (open by a mount)", id)
		                         : snap__err(-errno, "%s: flock: %s", p, strerror(errno));
		goto done;
	}
	/* Rename out of layers/ first: a half-removed layer is never listed. */
	snprintf(p, sizeof(p), "%s/layers/%s", s->dir, id);
	tmp_name(s, "rm", tmp, sizeof(tmp));
	if (rename(p, tmp) < 0) {
		r = snap__err(-errno, "cannot remove layer %s: %s", id, strerror(errno));
		goto done;
	}
	snprintf(p, sizeof(p), "%s/layers", s->dir);
	(void)snap__fsync_dir(p);
	(void)snap__rm_rf(tmp);
	r = 0;
done:
	if (mfd >= 0)
		close(mfd);
	free(mv.v);
	snap__store_unlock(lk);
	return r;
}
