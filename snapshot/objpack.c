/* snapshot: object packs.
 *
 * One file per object costs an inode per object, and on this kind of host
 * (ext4, much file churn) allocating an inode costs 0.3-0.6 ms of system
 * time: 1,000 new objects cost more than the whole freeze target. So a freeze
 * (snap__store_set_packing) writes its new objects of at most 4 MiB into one
 * pack: a directory STORE/packs/NAME holding
 *
 *   | file           | content                                                |
 *   |----------------|--------------------------------------------------------|
 *   | `objects.pack` | the objects' LZ4 frames, back to back, each exactly as |
 *   |                | a loose object file would hold it                      |
 *   | `objects.idx`  | the index below                                        |
 *
 *   objects.idx (integers in host byte order):
 *   | bytes      | field                                                     |
 *   |------------|-----------------------------------------------------------|
 *   | 8          | magic `THAWPK1\0`                                         |
 *   | 8          | record count n                                            |
 *   | 40 x n     | content id (20 bytes), offset (8), length (8), 4 zero bytes; sorted by id |
 *   | 8          | FNV-1a 64 of the records                                  |
 *
 * The directory is built in STORE/tmp, made durable, and renamed into
 * STORE/packs in one step (object.c's flush), so a pack is either complete
 * or absent; it is never modified afterwards. Readers (this file) load the
 * indexes lazily, on the first lookup that misses the loose objects, and
 * again when a lookup misses and STORE/packs changed since. Reads verify a
 * packed object exactly as a loose one (object.c). gc (snap__packs_gc) drops
 * a pack none of whose objects is referenced, and rewrites the referenced
 * objects of a partly dead pack as loose objects before dropping it; it also
 * unpacks every pack beyond the newest SNAP__PACKS_KEEP, so that the indexes
 * a reader loads stay few: packs are the fast way in (one inode per freeze),
 * loose objects the long-term form (gc pays their inodes, off the hot path).
 */
#include "snapshot_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

#define IDX_MAGIC "THAWPK1"
#define IDX_REC 40u
#define MAX_RECORDS (1u << 24)

struct snap__pack_rec {
	git_oid id;
	uint64_t off, len;
};

struct snap__packidx {
	char *name;                  /* directory name in STORE/packs */
	struct snap__pack_rec *v;    /* sorted by id */
	size_t n;
};

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int rec_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct snap__pack_rec *)a)->id, &((const struct snap__pack_rec *)b)->id);
}

int snap__pack_write_idx(int fd, const git_oid *ids, const uint64_t *offs, const uint64_t *lens, size_t n)
{
	struct snap__pack_rec *v = malloc((n ? n : 1) * sizeof(*v));
	unsigned char *buf = malloc(16 + IDX_REC * n + 8);
	int r = 0;
	if (!v || !buf) {
		r = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		git_oid_cpy(&v[i].id, &ids[i]);
		v[i].off = offs[i];
		v[i].len = lens[i];
	}
	qsort(v, n, sizeof(*v), rec_cmp);
	memcpy(buf, IDX_MAGIC, 8);
	uint64_t cnt = n;
	memcpy(buf + 8, &cnt, 8);
	unsigned char *p = buf + 16;
	for (size_t i = 0; i < n; i++, p += IDX_REC) {
		memcpy(p, v[i].id.id, GIT_OID_RAWSZ);
		memcpy(p + 20, &v[i].off, 8);
		memcpy(p + 28, &v[i].len, 8);
		memset(p + 36, 0, 4);
	}
	uint64_t h = fnv1a(buf + 16, IDX_REC * n);
	memcpy(p, &h, 8);
	r = snap__write_all(fd, buf, 16 + IDX_REC * n + 8);
done:
	free(v);
	free(buf);
	return r;
}

/* Reads STORE/packs/name/objects.idx; -EIO if damaged. */
static int idx_load(struct snap_store *s, const char *name, struct snap__packidx *out)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/packs/%s/objects.idx", s->dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	unsigned char *buf = NULL;
	int r = -EIO;
	if (fstat(fd, &st) < 0 || st.st_size < 24 || (uint64_t)st.st_size > 24 + (uint64_t)IDX_REC * MAX_RECORDS)
		goto done;
	if (!(buf = malloc((size_t)st.st_size))) {
		r = -ENOMEM;
		goto done;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto done;
		got += (size_t)n;
	}
	uint64_t cnt, h;
	memcpy(&cnt, buf + 8, 8);
	if (memcmp(buf, IDX_MAGIC, 8) || cnt > MAX_RECORDS || (uint64_t)st.st_size != 24 + IDX_REC * cnt)
		goto done;
	memcpy(&h, buf + 16 + IDX_REC * cnt, 8);
	if (h != fnv1a(buf + 16, IDX_REC * cnt))
		goto done;
	struct snap__pack_rec *v = malloc((cnt ? cnt : 1) * sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto done;
	}
	const unsigned char *q = buf + 16;
	for (uint64_t i = 0; i < cnt; i++, q += IDX_REC) {
		git_oid_fromraw(&v[i].id, q);
		memcpy(&v[i].off, q + 20, 8);
		memcpy(&v[i].len, q + 28, 8);
		if (i && git_oid_cmp(&v[i - 1].id, &v[i].id) >= 0) {
			free(v);
			goto done;
		}
	}
	out->v = v;
	out->n = (size_t)cnt;
	out->name = strdup(name);
	if (!out->name) {
		free(v);
		out->v = NULL;
		r = -ENOMEM;
		goto done;
	}
	r = 0;
done:
	free(buf);
	close(fd);
	return r;
}

static void packs_clear(struct snap_store *s)
{
	for (size_t i = 0; i < s->npacks; i++) {
		free(s->packs[i].name);
		free(s->packs[i].v);
	}
	free(s->packs);
	s->packs = NULL;
	s->npacks = 0;
}

void snap__packs_free(struct snap_store *s)
{
	packs_clear(s);
	pthread_rwlock_destroy(&s->packs_lock);
}

static bool valid_name(const char *n)
{
	return n[0] != '.' && strlen(n) < 128;
}

/* Caller holds packs_lock for writing. A damaged index is skipped: its
 * objects look missing (a restore check says so), nothing is served wrong. */
static int packs_reload(struct snap_store *s, const struct stat *dirst)
{
	char p[PATH_MAX];
	packs_clear(s);
	s->packs_loaded = true;
	s->packs_mtime = dirst ? dirst->st_mtim : (struct timespec){0};
	if (!dirst)
		return 0;
	snprintf(p, sizeof(p), "%s/packs", s->dir);
	DIR *d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	size_t cap = 0;
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		if (!valid_name(de->d_name))
			continue;
		if (s->npacks == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct snap__packidx *nv = realloc(s->packs, nc * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			s->packs = nv;
			cap = nc;
		}
		struct snap__packidx pi = {0};
		int e = idx_load(s, de->d_name, &pi);
		if (e == -ENOMEM) {
			r = e;
			break;
		}
		if (e == 0)
			s->packs[s->npacks++] = pi;
	}
	closedir(d);
	return r;
}

static const struct snap__pack_rec *search(const struct snap__packidx *pi, const git_oid *id)
{
	struct snap__pack_rec key;
	git_oid_cpy(&key.id, id);
	return pi->n ? bsearch(&key, pi->v, pi->n, sizeof(*pi->v), rec_cmp) : NULL;
}

static bool find_locked(struct snap_store *s, const git_oid *id, char *path, size_t len, uint64_t *off,
                        uint64_t *stored)
{
	for (size_t i = s->npacks; i-- > 0;) {
		const struct snap__pack_rec *rec = search(&s->packs[i], id);
		if (rec) {
			if (path)
				snprintf(path, len, "%s/packs/%s/objects.pack", s->dir, s->packs[i].name);
			if (off)
				*off = rec->off;
			if (stored)
				*stored = rec->len;
			return true;
		}
	}
	return false;
}

int snap__packs_find(struct snap_store *s, const git_oid *id, char *path, size_t len, uint64_t *off,
                     uint64_t *stored)
{
	pthread_rwlock_rdlock(&s->packs_lock);
	bool found = s->packs_loaded && find_locked(s, id, path, len, off, stored);
	pthread_rwlock_unlock(&s->packs_lock);
	if (found)
		return 0;
	/* A miss: reload if STORE/packs changed (or was never read). */
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/packs", s->dir);
	bool exists = stat(p, &st) == 0;
	pthread_rwlock_wrlock(&s->packs_lock);
	if (!s->packs_loaded || (exists ? (st.st_mtim.tv_sec != s->packs_mtime.tv_sec ||
	                                   st.st_mtim.tv_nsec != s->packs_mtime.tv_nsec)
	                                : s->npacks > 0))
		(void)packs_reload(s, exists ? &st : NULL);
	found = find_locked(s, id, path, len, off, stored);
	pthread_rwlock_unlock(&s->packs_lock);
	return found ? 0 : -ENOENT;
}

bool snap__packs_have_loaded(struct snap_store *s, const git_oid *id)
{
	pthread_rwlock_rdlock(&s->packs_lock);
	bool found = s->packs_loaded && find_locked(s, id, NULL, 0, NULL, NULL);
	pthread_rwlock_unlock(&s->packs_lock);
	return found;
}

void snap__packs_invalidate(struct snap_store *s)
{
	pthread_rwlock_wrlock(&s->packs_lock);
	s->packs_loaded = false;
	pthread_rwlock_unlock(&s->packs_lock);
}

/* ---- gc ---- */

/* Copies one packed object out as a loose one (durable before the pack goes). */
static int explode_one(struct snap_store *s, int packfd, const struct snap__pack_rec *rec)
{
	char path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX], hex[GIT_OID_HEXSZ + 1];
	struct stat sb;
	snap__object_path(s, &rec->id, path, sizeof(path));
	if (stat(path, &sb) == 0)
		return 0;
	git_oid_tostr(hex, sizeof(hex), &rec->id);
	if (rec->len > (64ull << 30))
		return snap__err(-EIO, "gc: packed object %s has an impossible length", hex);
	int fd = snap__tmpfile(s, "obj", tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	char *buf = malloc(1u << 20);
	int r = buf ? 0 : -ENOMEM;
	for (uint64_t done = 0; r == 0 && done < rec->len;) {
		size_t want = rec->len - done < (1u << 20) ? (size_t)(rec->len - done) : (1u << 20);
		ssize_t n = pread(packfd, buf, want, (off_t)(rec->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		r = snap__write_all(fd, buf, (size_t)n);
		done += (size_t)n;
	}
	free(buf);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	(void)fchmod(fd, 0444);
	close(fd);
	snprintf(dir, sizeof(dir), "%s/objects/%.2s", s->dir, hex);
	if (r == 0 && mkdir(dir, 0755) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = snap__fsync_dir(dir);
	if (r < 0) {
		(void)unlink(tmp);
		return snap__err(r, "gc: cannot unpack object %s: %s", hex, strerror(-r));
	}
	return 0;
}

struct pk_ent {
	char name[256];
	time_t mtime;
};

static int ent_newest_first(const void *a, const void *b)
{
	const struct pk_ent *x = a, *y = b;
	return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : strcmp(x->name, y->name);
}

/* The pack directory name out of sight in one step, then deleted. */
static int pack_remove(struct snap_store *s, const char *name)
{
	char dir[PATH_MAX + 300], gone[PATH_MAX + 300];
	snprintf(dir, sizeof(dir), "%s/packs/%s", s->dir, name);
	snprintf(gone, sizeof(gone), "%s/tmp/rm-pack-%s", s->dir, name);
	if (rename(dir, gone) < 0)
		return snap__err(-errno, "gc: cannot remove pack %s: %s", dir, strerror(errno));
	(void)snap__rm_rf(gone);
	return 0;
}

int snap__packs_gc(struct snap_store *s, bool (*live)(void *arg, const git_oid *id), void *arg, time_t cutoff,
                   bool dry, struct snap_gc_stats *st)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/packs", s->dir);
	DIR *d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : snap__err(-errno, "gc: %s: %s", p, strerror(errno));
	struct pk_ent *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!valid_name(de->d_name))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct pk_ent *nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				r = snap__err(-ENOMEM, "out of memory");
				break;
			}
			v = nv;
			cap = nc;
		}
		char data[PATH_MAX + 300];
		struct stat sb;
		snprintf(data, sizeof(data), "%s/%s/objects.pack", p, de->d_name);
		snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
		v[n++].mtime = stat(data, &sb) == 0 ? sb.st_mtime : 0;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), ent_newest_first);
	for (size_t k = 0; r == 0 && k < n; k++) {
		struct snap__packidx pi = {0};
		if (idx_load(s, v[k].name, &pi) < 0) {
			/* Unknown content: never guess. An index that cannot be read
			 * stops gc, as an unreadable manifest does. */
			r = snap__err(-EIO, "gc: pack %s/%s has no readable index: refusing to guess", p, v[k].name);
			break;
		}
		bool young = v[k].mtime > cutoff;
		/* Beyond the newest SNAP__PACKS_KEEP packs, every pack goes: its
		 * objects that must stay become loose objects (a reader's first
		 * lookup loads every index, so their number stays bounded). */
		bool forced = k >= SNAP__PACKS_KEEP;
		size_t keep = 0;
		uint64_t dead_bytes = 0;
		for (size_t i = 0; i < pi.n; i++) {
			if (young || live(arg, &pi.v[i].id))
				keep++;
			else
				dead_bytes += pi.v[i].len;
		}
		if (!forced && (young || keep == pi.n)) {
			st->objects_kept += pi.n;
		} else {
			st->objects_kept += keep;
			st->objects_removed += pi.n - keep;
			st->bytes_removed += dead_bytes;
			if (!dry) {
				char data[PATH_MAX + 300];
				snprintf(data, sizeof(data), "%s/%s/objects.pack", p, v[k].name);
				int pfd = open(data, O_RDONLY | O_CLOEXEC);
				if (pfd < 0 && keep)
					r = snap__err(-errno, "gc: %s: %s", data, strerror(errno));
				for (size_t i = 0; r == 0 && i < pi.n; i++)
					if (young || live(arg, &pi.v[i].id))
						r = explode_one(s, pfd, &pi.v[i]);
				if (pfd >= 0)
					close(pfd);
				if (r == 0)
					r = pack_remove(s, v[k].name);
			}
		}
		free(pi.name);
		free(pi.v);
	}
	free(v);
	if (!dry)
		(void)snap__fsync_dir(p);
	snap__packs_invalidate(s);
	return r;
}
