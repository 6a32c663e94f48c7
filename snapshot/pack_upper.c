/*
 * Packing the upper layer: one manifest entry per name of a quiescent upper
 * directory (fs/upper.c's on-disk format), content put into the store.
 *
 *   | in the upper                          | in the layer                          |
 *   |---------------------------------------|---------------------------------------|
 *   | regular file                          | SNAP_T_REG, content = object put_fd   |
 *   | regular file, n links (same st_ino)   | the smallest path is the entry, the   |
 *   |                                       | others `link` to it (same content id) |
 *   | metacopy, origin "git:<oid>"          | SNAP_T_REG, cid = oid (copied from    |
 *   |                                       | the repository's odb if not stored)   |
 *   | metacopy, origin "cid:<oid>"          | SNAP_T_REG, cid = oid (must exist)    |
 *   | metacopy, origin "layer:<n>:<path>"   | store layer n: its entry's cid;       |
 *   |                                       | directory layer n: its file, hashed   |
 *   | directory (+ user.thaw.opaque)        | SNAP_T_DIR (opaque)                   |
 *   | symlink, fifo, socket, device         | same type, target / rdev              |
 *   | character device 0/0                  | SNAP_T_WHITEOUT                       |
 *   | xattrs other than user.thaw.*         | xattrs, sorted by name                |
 *   | .thaw-work/ at the root               | skipped (temporaries, orphans)        |
 *
 * Every access is relative to a directory descriptor (no PATH_MAX limit);
 * the path strings are only what the manifest records. Nothing below the
 * upper layer is walked: the cost is the upper layer's size.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "freeze_int.h"
#include "snapshot_int.h"
#include "banned.h"

#define WORKDIR ".thaw-work"
#define XATTR_PREFIX "user.thaw."
#define XATTR_OPAQUE "user.thaw.opaque"
#define XATTR_ORIGIN "user.thaw.origin"
#define MAX_DEPTH 4096
/* Content is stored by a few threads at once: each object costs a read, a
 * hash and a compression (no sync: the store syncs once per freeze). A batch
 * holds at most BATCH_MAX open files. */
#define BATCH_MAX 256
#define PUT_THREADS 8

struct pk_job {
	size_t entry;      /* index in p->v */
	int fd;
	struct stat st;
	git_oid cid;
	uint64_t size;
	bool isnew;
	int r;
	char *err;         /* the worker's message (snap_last_error is per thread) */
};

struct pk_batch {
	struct pk_job v[BATCH_MAX];
	size_t n;
	atomic_size_t next;
	struct snap_store *store;
};

struct pk_ino {
	dev_t dev;
	ino_t ino;
	git_oid cid;
	uint64_t size;
	bool used;
};

struct pbuf {
	char *s;
	size_t len, cap;
};

static int pbuf_push(struct pbuf *b, const char *name, size_t *old)
{
	size_t nl = strlen(name), need = b->len + (b->len ? 1 : 0) + nl + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns)
			return -ENOMEM;
		b->s = ns;
		b->cap = cap;
	}
	*old = b->len;
	if (b->len)
		b->s[b->len++] = '/';
	memcpy(b->s + b->len, name, nl + 1);
	b->len += nl;
	return 0;
}

static void pbuf_pop(struct pbuf *b, size_t old)
{
	b->len = old;
	b->s[old] = '\0';
}

/* ---- hard links: (dev, ino) -> content, open addressing ---- */

static size_t ino_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev;
	return (size_t)(h ^ (h >> 29));
}

static struct pk_ino *ino_find(struct snap__pack *p, dev_t dev, ino_t ino)
{
	if (!p->inocap)
		return NULL;
	for (size_t i = ino_hash(dev, ino) & (p->inocap - 1);; i = (i + 1) & (p->inocap - 1)) {
		struct pk_ino *e = &p->inos[i];
		if (!e->used)
			return NULL;
		if (e->dev == dev && e->ino == ino)
			return e;
	}
}

static int ino_add(struct snap__pack *p, dev_t dev, ino_t ino, const git_oid *cid, uint64_t size)
{
	if ((p->ninos + 1) * 2 > p->inocap) {
		size_t cap = p->inocap ? p->inocap * 2 : 64;
		struct pk_ino *nt = calloc(cap, sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		for (size_t i = 0; i < p->inocap; i++) {
			if (!p->inos[i].used)
				continue;
			size_t j = ino_hash(p->inos[i].dev, p->inos[i].ino) & (cap - 1);
			while (nt[j].used)
				j = (j + 1) & (cap - 1);
			nt[j] = p->inos[i];
		}
		free(p->inos);
		p->inos = nt;
		p->inocap = cap;
	}
	size_t i = ino_hash(dev, ino) & (p->inocap - 1);
	while (p->inos[i].used)
		i = (i + 1) & (p->inocap - 1);
	p->inos[i] = (struct pk_ino){.dev = dev, .ino = ino, .cid = *cid, .size = size, .used = true};
	p->ninos++;
	return 0;
}

/* ---- xattrs ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct xa {
	char *blob;        /* serialized xattrs for the manifest */
	size_t len;
	char *origin;      /* user.thaw.origin, NUL-terminated */
	bool opaque;
};

static void xa_release(struct xa *x)
{
	free(x->blob);
	free(x->origin);
}

/* Reads name's xattrs (name in the directory dfd) without following it. */
static int xa_read(int dfd, const char *name, struct xa *out)
{
	char path[64 + NAME_MAX];
	char *list = NULL, **names = NULL, *val = NULL;
	int r = 0;
	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name);
	ssize_t ll = llistxattr(path, NULL, 0);
	if (ll < 0)
		return errno == ENOTSUP || errno == EOPNOTSUPP ? 0 : -errno;
	if (ll == 0)
		return 0;
	for (int tries = 0;; tries++) {
		free(list);
		if (!(list = malloc((size_t)ll + 1)))
			return -ENOMEM;
		ssize_t got = llistxattr(path, list, (size_t)ll);
		if (got >= 0) {
			ll = got;
			break;
		}
		if (errno != ERANGE || tries > 4) {
			r = -errno;
			goto done;
		}
		if ((ll = llistxattr(path, NULL, 0)) < 0) {
			r = -errno;
			goto done;
		}
	}
	size_t cnt = 0;
	for (ssize_t i = 0; i < ll; i += (ssize_t)strlen(list + i) + 1)
		cnt++;
	if (!(names = calloc(cnt ? cnt : 1, sizeof(*names)))) {
		r = -ENOMEM;
		goto done;
	}
	cnt = 0;
	for (ssize_t i = 0; i < ll; i += (ssize_t)strlen(list + i) + 1)
		names[cnt++] = list + i;
	qsort(names, cnt, sizeof(*names), cmp_str);

	size_t cap = 0;
	for (size_t k = 0; k < cnt; k++) {
		ssize_t vl = lgetxattr(path, names[k], NULL, 0);
		if (vl < 0) {
			if (errno == ENODATA)
				continue;
			r = -errno;
			goto done;
		}
		free(val);
		if (!(val = malloc((size_t)vl + 1))) {
			r = -ENOMEM;
			goto done;
		}
		if ((vl = lgetxattr(path, names[k], val, (size_t)vl)) < 0) {
			r = -errno;
			goto done;
		}
		if (!strcmp(names[k], XATTR_ORIGIN)) {
			val[vl] = '\0';
			out->origin = val;
			val = NULL;
			continue;
		}
		if (!strcmp(names[k], XATTR_OPAQUE)) {
			out->opaque = true;
			continue;
		}
		if (!strncmp(names[k], XATTR_PREFIX, strlen(XATTR_PREFIX)))
			continue;
		size_t nl = strlen(names[k]) + 1, need = out->len + nl + 4 + (size_t)vl;
		if (need > cap) {
			cap = need * 2;
			char *nb = realloc(out->blob, cap);
			if (!nb) {
				r = -ENOMEM;
				goto done;
			}
			out->blob = nb;
		}
		memcpy(out->blob + out->len, names[k], nl);
		out->len += nl;
		uint32_t v = (uint32_t)vl;
		unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
		                       (unsigned char)(v >> 24)};
		memcpy(out->blob + out->len, le, 4);
		out->len += 4;
		memcpy(out->blob + out->len, val, (size_t)vl);
		out->len += (size_t)vl;
	}
done:
	free(val);
	free(names);
	free(list);
	if (r < 0)
		xa_release(out);
	return r;
}

/* ---- content ---- */

static int count_new(struct snap__pack *p, const git_oid *cid, bool isnew)
{
	if (!isnew)
		return 0;
	uint64_t st = 0;
	p->new_objects++;
	if (snap_object_stored_size(p->store, cid, &st) == 0)
		p->new_bytes += st;
	return 0;
}

static int put_fd(struct snap__pack *p, int fd, const char *path, git_oid *cid, uint64_t *size)
{
	bool isnew = false;
	int r = snap_object_put_fd(p->store, fd, cid, size, &isnew);
	if (r < 0)
		return snap__freeze_err(r, "storing %s: %s", path,
		                        *snap_last_error() ? snap_last_error() : strerror(-r));
	return count_new(p, cid, isnew);
}

/* Content of a git blob: its id is the content id. */
static int from_git(struct snap__pack *p, const char *hex, const char *path, uint64_t st_size, git_oid *cid,
                    uint64_t *size)
{
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	int r;
	if (git_oid_fromstrn(cid, hex, strlen(hex)) < 0 || strlen(hex) != GIT_OID_HEXSZ)
		return snap__freeze_err(-EIO, "%s: bad metacopy origin \"git:%s\"", path, hex);
	*size = st_size;
	if (snap_object_has(p->store, cid) == 0) {
		p->reused_git++;
		return 0;
	}
	if (!p->git && git_repository_open(&p->git, p->repo) < 0)
		return snap__freeze_err(-EIO, "opening repository %s: %s", p->repo,
		                        git_error_last() ? git_error_last()->message : "unknown error");
	if (git_repository_odb(&odb, p->git) < 0 || git_odb_read(&obj, odb, cid) < 0) {
		r = snap__freeze_err(-EIO, "%s: blob %s of its metacopy origin cannot be read: %s", path, hex,
		                     git_error_last() ? git_error_last()->message : "unknown error");
		goto done;
	}
	if (git_odb_object_type(obj) != GIT_OBJECT_BLOB || (uint64_t)git_odb_object_size(obj) != st_size) {
		r = snap__freeze_err(-EIO, "%s: origin git:%s is not a blob of %llu bytes", path, hex,
		                     (unsigned long long)st_size);
		goto done;
	}
	git_oid got;
	bool isnew = false;
	r = snap_object_put_buf(p->store, git_odb_object_data(obj), git_odb_object_size(obj), &got, &isnew);
	if (r < 0) {
		r = snap__freeze_err(r, "storing %s (blob %s): %s", path, hex,
		                     *snap_last_error() ? snap_last_error() : strerror(-r));
		goto done;
	}
	if (!git_oid_equal(&got, cid)) {
		r = snap__freeze_err(-EIO, "%s: blob %s read back with id mismatch", path, hex);
		goto done;
	}
	count_new(p, cid, isnew);
done:
	git_odb_object_free(obj);
	git_odb_free(odb);
	return r;
}

struct get_arg {
	git_oid cid;
	uint64_t size;
	int type;
};

static int get_cb(void *arg, const struct snap_entry *e)
{
	struct get_arg *g = arg;
	g->cid = e->cid;
	g->size = e->size;
	g->type = e->type;
	return 0;
}

/* Content of a metacopy of lower layer n's file. */
static int from_layer(struct snap__pack *p, const char *spec, const char *path, git_oid *cid, uint64_t *size)
{
	char *end;
	long n = strtol(spec, &end, 10);
	if (end == spec || *end != ':' || !end[1] || n < 1 || (size_t)n > p->nlayers)
		return snap__freeze_err(-EIO, "%s: bad metacopy origin \"layer:%s\"", path, spec);
	const char *rel = end + 1;
	const struct snap__ws_layer *L = &p->layers[n - 1];
	int r;
	if (L->store_id) {
		if (!p->opened && !(p->opened = calloc(p->nlayers, sizeof(*p->opened))))
			return -ENOMEM;
		if (!p->opened[n - 1] && (r = snap_layer_open(&p->opened[n - 1], p->store, L->store_id)) < 0)
			return snap__freeze_err(r, "%s: opening layer %s of its origin: %s", path, L->store_id,
			                        snap_last_error());
		struct get_arg g = {.type = -1};
		r = snap_layer_get(p->opened[n - 1], rel, get_cb, &g);
		if (r < 0 || g.type != SNAP_T_REG)
			return snap__freeze_err(-EIO, "%s: origin layer %s has no file %s", path, L->store_id, rel);
		if (snap_object_has(p->store, &g.cid) < 0) {
			char hex[GIT_OID_HEXSZ + 1];
			git_oid_tostr(hex, sizeof(hex), &g.cid);
			return snap__freeze_err(-EIO, "%s: object %s of its origin is missing from the store", path, hex);
		}
		*cid = g.cid;
		*size = g.size;
		return 0;
	}
	/* A directory layer: its file is read and hashed (content is content). */
	int root = open(L->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return snap__freeze_err(-errno, "%s: origin layer %s: %s", path, L->path, strerror(errno));
	int fd = openat(root, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(root);
	if (r < 0)
		return snap__freeze_err(r, "%s: origin %s/%s: %s", path, L->path, rel, strerror(-r));
	r = put_fd(p, fd, path, cid, size);
	close(fd);
	return r;
}

static int regular(struct snap__pack *p, int dfd, const char *name, const char *path, const struct stat *st,
                   const char *origin, git_oid *cid, uint64_t *size)
{
	if (origin) {
		if (!strncmp(origin, "git:", 4))
			return from_git(p, origin + 4, path, (uint64_t)st->st_size, cid, size);
		if (!strncmp(origin, "cid:", 4)) {
			if (strlen(origin + 4) != GIT_OID_HEXSZ || git_oid_fromstr(cid, origin + 4) < 0)
				return snap__freeze_err(-EIO, "%s: bad metacopy origin \"%s\"", path, origin);
			if (snap_object_has(p->store, cid) < 0)
				return snap__freeze_err(-EIO, "%s: object %s of its metacopy origin is missing from the store",
				                        path, origin + 4);
			*size = (uint64_t)st->st_size;
			return 0;
		}
		if (!strncmp(origin, "layer:", 6))
			return from_layer(p, origin + 6, path, cid, size);
		return snap__freeze_err(-EIO, "%s: unknown metacopy origin \"%s\"", path, origin);
	}
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return snap__freeze_err(-errno, "%s: %s", path, strerror(errno));
	int r = put_fd(p, fd, path, cid, size);
	close(fd);
	if (r == 0 && *size != (uint64_t)st->st_size)
		r = snap__freeze_err(-EIO, "%s changed while frozen (%llu bytes, read %llu)", path,
		                     (unsigned long long)st->st_size, (unsigned long long)*size);
	return r;
}

static void *put_worker(void *arg)
{
	struct pk_batch *b = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&b->next, 1);
		if (i >= b->n)
			return NULL;
		struct pk_job *j = &b->v[i];
		j->r = snap_object_put_fd(b->store, j->fd, &j->cid, &j->size, &j->isnew);
		if (j->r < 0)
			j->err = strdup(*snap_last_error() ? snap_last_error() : strerror(-j->r));
		close(j->fd);
		j->fd = -1;
	}
}

/* Stores the batch's contents (in parallel) and fills their entries. */
static int batch_run(struct snap__pack *p)
{
	struct pk_batch *b = p->batch;
	if (!b || !b->n)
		return 0;
	atomic_store(&b->next, 0);
	b->store = p->store;
	pthread_t t[PUT_THREADS];
	size_t nt = b->n < PUT_THREADS ? b->n : PUT_THREADS, started = 0;
	for (size_t i = 1; i < nt; i++) {
		if (pthread_create(&t[started], NULL, put_worker, b) != 0)
			break;
		started++;
	}
	put_worker(b); /* this thread works too (and alone if no thread started) */
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	int r = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct pk_job *j = &b->v[i];
		struct snap_entry *e = &p->v[j->entry].e;
		if (r == 0 && j->r < 0)
			r = snap__freeze_err(j->r, "storing %s: %s", e->path, j->err ? j->err : strerror(-j->r));
		else if (r == 0 && j->size != (uint64_t)j->st.st_size)
			r = snap__freeze_err(-EIO, "%s changed while frozen (%llu bytes, read %llu)", e->path,
			                     (unsigned long long)j->st.st_size, (unsigned long long)j->size);
		if (j->r == 0) {
			e->cid = j->cid;
			e->size = j->size;
			p->bytes += j->size;
			count_new(p, &j->cid, j->isnew);
			if (r == 0)
				r = snap__fc_note(p, &j->st, &j->cid);
		}
		free(j->err);
	}
	b->n = 0;
	if (r == 0 && p->progress)
		p->progress(p->progress_arg, "pack", p->n, 0); /* entries so far; the total is not known */
	if (r == 0 && p->renew)
		r = p->renew(p->renew_arg); /* the workspace is still frozen for us */
	return r;
}

static void batch_drop(struct snap__pack *p)
{
	struct pk_batch *b = p->batch;
	for (size_t i = 0; b && i < b->n; i++)
		if (b->v[i].fd >= 0)
			close(b->v[i].fd);
	free(b);
	p->batch = NULL;
}

/* Queues the content of entry idx (fd is taken over); runs a full batch. */
static int batch_add(struct snap__pack *p, size_t idx, int fd, const struct stat *st)
{
	if (!p->batch && !(p->batch = calloc(1, sizeof(*p->batch)))) {
		close(fd);
		return -ENOMEM;
	}
	struct pk_batch *b = p->batch;
	b->v[b->n++] = (struct pk_job){.entry = idx, .fd = fd, .st = *st};
	return b->n == BATCH_MAX ? batch_run(p) : 0;
}

static int push_entry(struct snap__pack *p, struct snap__pentry *pe)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct snap__pentry *nv = realloc(p->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = *pe;
	return 0;
}

static int walk(struct snap__pack *p, int dfd, struct pbuf *pb, int depth);

static int one(struct snap__pack *p, int dfd, const char *name, struct pbuf *pb, int depth)
{
	struct stat st;
	struct xa x = {0};
	struct snap__pentry pe = {0};
	int r, child = -1, deferred = -1;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return snap__freeze_err(-errno, "%s: %s", pb->s, strerror(errno));
	if ((r = xa_read(dfd, name, &x)) < 0)
		return snap__freeze_err(r, "%s: reading xattrs: %s", pb->s, strerror(-r));

	struct snap_entry *e = &pe.e;
	e->mode = st.st_mode & 07777;
	e->uid = st.st_uid;
	e->gid = st.st_gid;
	e->mtime_sec = st.st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: {
		e->type = SNAP_T_REG;
		if (!x.origin && st.st_nlink == 1) {
			if (snap__fc_hit(p, &st, &e->cid)) {
				e->size = (uint64_t)st.st_size;
				p->bytes += e->size;
				if ((r = snap__fc_note(p, &st, &e->cid)) < 0)
					goto done;
				break;
			}
			deferred = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (deferred < 0) {
				r = snap__freeze_err(-errno, "%s: %s", pb->s, strerror(errno));
				goto done;
			}
			break;
		}
		struct pk_ino *seen = st.st_nlink > 1 ? ino_find(p, st.st_dev, st.st_ino) : NULL;
		if (seen) {
			e->cid = seen->cid;
			e->size = seen->size;
		} else {
			if ((r = regular(p, dfd, name, pb->s, &st, x.origin, &e->cid, &e->size)) < 0)
				goto done;
			p->bytes += e->size;
			if (st.st_nlink > 1 && (r = ino_add(p, st.st_dev, st.st_ino, &e->cid, e->size)) < 0)
				goto done;
		}
		pe.multi = st.st_nlink > 1;
		break;
	}
	case S_IFDIR:
		e->type = SNAP_T_DIR;
		e->opaque = x.opaque;
		break;
	case S_IFLNK: {
		e->type = SNAP_T_SYMLINK;
		size_t cap = (size_t)st.st_size + 1 > 256 ? (size_t)st.st_size + 1 : 256;
		char *t = NULL;
		for (;;) {
			char *nt = realloc(t, cap);
			if (!nt) {
				free(t);
				r = -ENOMEM;
				goto done;
			}
			t = nt;
			ssize_t l = readlinkat(dfd, name, t, cap);
			if (l < 0) {
				free(t);
				r = snap__freeze_err(-errno, "%s: readlink: %s", pb->s, strerror(errno));
				goto done;
			}
			if ((size_t)l < cap) {
				t[l] = '\0';
				break;
			}
			cap *= 2;
		}
		e->target = t;
		e->size = strlen(t);
		break;
	}
	case S_IFCHR:
		e->type = (major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) ? SNAP_T_WHITEOUT : SNAP_T_CHR;
		e->rdev = e->type == SNAP_T_CHR ? (uint64_t)st.st_rdev : 0;
		break;
	case S_IFBLK:
		e->type = SNAP_T_BLK;
		e->rdev = (uint64_t)st.st_rdev;
		break;
	case S_IFIFO:
		e->type = SNAP_T_FIFO;
		break;
	case S_IFSOCK:
		e->type = SNAP_T_SOCK;
		break;
	default:
		r = snap__freeze_err(-EIO, "%s: unknown file type %o", pb->s, st.st_mode & S_IFMT);
		goto done;
	}
	if (!(e->path = strdup(pb->s))) {
		r = -ENOMEM;
		goto done;
	}
	if (x.len) {
		e->xattrs = x.blob;
		e->xattrs_len = x.len;
		x.blob = NULL;
	}
	pe.dev = st.st_dev;
	pe.ino = st.st_ino;
	if ((r = push_entry(p, &pe)) < 0)
		goto done;
	memset(&pe, 0, sizeof(pe)); /* owned by p now */
	if (deferred >= 0) {
		r = batch_add(p, p->n - 1, deferred, &st);
		deferred = -1;
		if (r < 0)
			goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		if (depth >= MAX_DEPTH) {
			r = snap__freeze_err(-ELOOP, "%s: directories nested deeper than %d", pb->s, MAX_DEPTH);
			goto done;
		}
		child = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (child < 0) {
			r = snap__freeze_err(-errno, "%s: %s", pb->s, strerror(errno));
			goto done;
		}
		r = walk(p, child, pb, depth + 1);
		child = -1; /* walk closed it */
	}
done:
	if (child >= 0)
		close(child);
	if (deferred >= 0)
		close(deferred);
	free((char *)pe.e.path);
	free((char *)pe.e.target);
	free((void *)pe.e.xattrs);
	xa_release(&x);
	return r;
}

/* Walks the directory open at dfd (takes it over and closes it). */
static int walk(struct snap__pack *p, int dfd, struct pbuf *pb, int depth)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return snap__freeze_err(-e, "%s: %s", pb->len ? pb->s : ".", strerror(e));
	}
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				r = snap__freeze_err(-errno, "%s: readdir: %s", pb->len ? pb->s : ".", strerror(errno));
			break;
		}
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (depth == 0 && !strcmp(nm, WORKDIR))
			continue;
		size_t old;
		if ((r = pbuf_push(pb, nm, &old)) < 0)
			break;
		r = one(p, dirfd(d), nm, pb, depth);
		pbuf_pop(pb, old);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

static int cmp_link(const void *a, const void *b, void *arg)
{
	const struct snap__pentry *v = arg;
	const struct snap__pentry *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->e.path, y->e.path);
}

/* Hard links: within a group of names of one inode, the smallest path is
 * the entry and the others link to it (deterministic: same layer id). */
static int pack_links(struct snap__pack *p)
{
	size_t m = 0;
	for (size_t i = 0; i < p->n; i++)
		m += p->v[i].multi;
	if (m < 2)
		return 0;
	size_t *v = malloc(m * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].multi)
			v[m++] = i;
	qsort_r(v, m, sizeof(*v), cmp_link, p->v);
	int r = 0;
	const struct snap__pentry *first = &p->v[v[0]];
	for (size_t i = 1; i < m; i++) {
		struct snap__pentry *c = &p->v[v[i]];
		if (c->dev != first->dev || c->ino != first->ino) {
			first = c;
			continue;
		}
		if (!(c->e.link = strdup(first->e.path))) {
			r = -ENOMEM;
			break;
		}
	}
	free(v);
	return r;
}

int snap__pack_upper(struct snap__pack *p, int upperfd)
{
	struct pbuf pb = {0};
	int dfd = openat(upperfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return snap__freeze_err(-errno, "upper directory: %s", strerror(errno));
	if (!(pb.s = calloc(1, 256))) {
		close(dfd);
		return -ENOMEM;
	}
	pb.cap = 256;
	snap__fc_free(p);
	snap__fc_load(p, upperfd);
	int r = walk(p, dfd, &pb, 0);
	free(pb.s);
	if (r == 0)
		r = batch_run(p);
	batch_drop(p);
	if (r == 0)
		r = pack_links(p);
	return r;
}

static struct snap__pentry *find_entry(struct snap__pack *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].e.path, path))
			return &p->v[i];
	return NULL;
}

int snap__pack_git_head(struct snap__pack *p, const char *mountpoint)
{
	struct snap__pentry *g = find_entry(p, ".git");
	if (!g || g->e.type != SNAP_T_DIR || find_entry(p, ".git/HEAD"))
		return 0;
	char path[PATH_MAX], head[256], ref[300];
	if (snprintf(path, sizeof(path), "%s/.git/HEAD", mountpoint) >= (int)sizeof(path))
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* no .git in the workspace's view: nothing to keep */
	struct stat st;
	ssize_t n = fstat(fd, &st) == 0 ? read(fd, head, sizeof(head) - 1) : -1;
	close(fd);
	if (n <= 0)
		return 0;
	head[n] = '\0';
	/* A branch HEAD is kept only with its ref in the layer (else the
	 * restored HEAD would name a branch the restored .git does not have). */
	if (!strncmp(head, "ref: ", 5)) {
		char *nl = strchr(head, '\n');
		if (!nl || snprintf(ref, sizeof(ref), ".git/%.*s", (int)(nl - head - 5), head + 5) >= (int)sizeof(ref) ||
		    !find_entry(p, ref))
			return 0;
	} else if (n < GIT_OID_HEXSZ || !snap__is_hex_id(head, GIT_OID_HEXSZ)) {
		return 0;
	}
	struct snap__pentry pe = {0};
	bool isnew = false;
	int r = snap_object_put_buf(p->store, head, (size_t)n, &pe.e.cid, &isnew);
	if (r < 0)
		return snap__freeze_err(r, ".git/HEAD: %s", snap_last_error());
	count_new(p, &pe.e.cid, isnew);
	pe.e.type = SNAP_T_REG;
	pe.e.mode = st.st_mode & 07777;
	pe.e.uid = st.st_uid;
	pe.e.gid = st.st_gid;
	pe.e.size = (uint64_t)n;
	pe.e.mtime_sec = st.st_mtim.tv_sec;
	pe.e.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	if (!(pe.e.path = strdup(".git/HEAD")))
		return -ENOMEM;
	if ((r = push_entry(p, &pe)) < 0) {
		free((char *)pe.e.path);
		return r;
	}
	p->bytes += (uint64_t)n;
	return 0;
}

void snap__pack_release(struct snap__pack *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free((char *)p->v[i].e.path);
		free((char *)p->v[i].e.target);
		free((char *)p->v[i].e.link);
		free((void *)p->v[i].e.xattrs);
	}
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
	if (p->opened) {
		for (size_t i = 0; i < p->nlayers; i++)
			snap_layer_free(p->opened[i]);
		free(p->opened);
		p->opened = NULL;
	}
	git_repository_free(p->git);
	p->git = NULL;
	batch_drop(p);
	snap__fc_free(p);
	p->fc_hits = 0;
	free(p->inos);
	p->inos = NULL;
	p->ninos = p->inocap = 0;
	p->bytes = p->new_objects = p->new_bytes = p->reused_git = 0;
}
