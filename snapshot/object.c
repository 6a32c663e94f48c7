/* snapshot: content-addressed objects.
 *
 * An object is STORE/objects/XX/YYYY... (XX = the first two hex digits of the
 * content id, YYYY... the other 38), mode 0444, holding exactly one LZ4 frame:
 *
 *   | part          | content                                                 |
 *   |---------------|---------------------------------------------------------|
 *   | frame header  | magic 0x184D2204, flags: block checksums, content size, |
 *   |               | content checksum; 1 MiB linked blocks; header checksum  |
 *   | blocks        | each: u32 size (high bit: stored uncompressed), data,   |
 *   |               | xxh32 of the block                                      |
 *   | end mark      | u32 0                                                   |
 *   | content check | xxh32 of the whole uncompressed content                 |
 *
 * The content id is the git blob id of the uncompressed content. An empty
 * content has a frame without content size (lz4 reads 0 as "unknown").
 * Writing: content up to 4 MiB is read at once and hashed first (an object
 * already present costs no compression); larger content is hashed and
 * compressed in one pass of 1 MiB chunks. The frame goes to STORE/tmp and
 * waits in the pending table (below) for the batched fsync and the rename
 * into STORE/objects. The store lock is held shared during a put (gc holds
 * it exclusively). Reading verifies the
 * frame's checksums, the size, that nothing follows the frame, and the
 * recomputed id.
 */
#include "snapshot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2/sys/odb_backend.h>

#include "banned.h"

#define CHUNK (1u << 20)           /* uncompressed bytes per compression step */
#define SMALL_MAX (4u << 20)       /* put_fd reads files up to this size at once */

/* ---- streaming blob ids: an odb whose only backend hashes and discards ---- */

struct snap__hash {
	git_odb_stream *st;
};

static int null_stream_write(git_odb_stream *st, const char *buf, size_t len)
{
	return 0;
}

static int null_stream_finalize(git_odb_stream *st, const git_oid *oid)
{
	return 0;
}

static void null_stream_free(git_odb_stream *st)
{
	free(st);
}

static int null_writestream(git_odb_stream **out, git_odb_backend *b, git_object_size_t size, git_object_t type)
{
	git_odb_stream *st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	st->backend = b;
	st->mode = GIT_STREAM_WRONLY;
	st->write = null_stream_write;
	st->finalize_write = null_stream_finalize;
	st->free = null_stream_free;
	*out = st;
	return 0;
}

static void null_backend_free(git_odb_backend *b)
{
	free(b);
}

int snap__hash_odb_new(git_odb **out)
{
	git_odb *odb = NULL;
	git_odb_backend *b = calloc(1, sizeof(*b));
	if (!b)
		return snap__err(-ENOMEM, "out of memory");
	if (git_odb_init_backend(b, GIT_ODB_BACKEND_VERSION) < 0 || git_odb_new(&odb) < 0) {
		free(b);
		return snap__git_err(-ENOMEM, "cannot set up hashing");
	}
	b->writestream = null_writestream;
	b->free = null_backend_free;
	if (git_odb_add_backend(odb, b, 1) < 0) {
		free(b);
		git_odb_free(odb);
		return snap__git_err(-ENOMEM, "cannot set up hashing");
	}
	*out = odb;
	return 0;
}

int snap__hash_begin(struct snap_store *s, uint64_t size, struct snap__hash **out)
{
	if (!s->hash_odb) {
		/* a store opened light (snap__store_open_light) */
		snap__git_init();
		pthread_mutex_lock(&s->pend_lock);
		int r = s->hash_odb ? 0 : snap__hash_odb_new(&s->hash_odb);
		pthread_mutex_unlock(&s->pend_lock);
		if (r < 0)
			return r;
	}
	struct snap__hash *h = calloc(1, sizeof(*h));
	if (!h)
		return snap__err(-ENOMEM, "out of memory");
	if (git_odb_open_wstream(&h->st, s->hash_odb, size, GIT_OBJECT_BLOB) < 0) {
		free(h);
		return snap__git_err(-EIO, "cannot start hashing");
	}
	*out = h;
	return 0;
}

int snap__hash_update(struct snap__hash *h, const void *buf, size_t len)
{
	if (git_odb_stream_write(h->st, buf, len) < 0)
		return snap__git_err(-EIO, "hashing");
	return 0;
}

int snap__hash_final(struct snap__hash *h, git_oid *out)
{
	int r = 0;
	if (git_odb_stream_finalize_write(out, h->st) < 0)
		r = snap__git_err(-EIO, "content size differs from the size announced");
	snap__hash_free(h);
	return r;
}

void snap__hash_free(struct snap__hash *h)
{
	if (!h)
		return;
	git_odb_stream_free(h->st);
	free(h);
}

/* ---- paths and small helpers ---- */

void snap__object_path(const struct snap_store *s, const git_oid *id, char *path, size_t len)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(path, len, "%s/objects/%.2s/%s", s->dir, hex, hex + 2);
}

/* The pending temporary of id, copied into tmp, with the frame's offset and
 * length in it (loose: 0 and the file's); false if not pending. */
static bool pending_path(struct snap_store *s, const git_oid *id, char *tmp, size_t len, uint64_t *stored,
                         uint64_t *off, bool *in_pack);

int snap_object_has(struct snap_store *s, const git_oid *id)
{
	char p[PATH_MAX];
	struct stat st;
	if (snap__packs_have_loaded(s, id))
		return 0; /* packs are immutable while listed; gc holds the store lock */
	snap__object_path(s, id, p, sizeof(p));
	if (pending_path(s, id, p, sizeof(p), NULL, NULL, NULL) || stat(p, &st) == 0 ||
	    snap__packs_find(s, id, NULL, 0, NULL, NULL) == 0)
		return 0;
	return -ENOENT;
}

int snap_object_stored_size(struct snap_store *s, const git_oid *id, uint64_t *out)
{
	char p[PATH_MAX];
	struct stat st;
	/* Pending first, then loose: a flush renames pending objects into
	 * objects/, so this order cannot miss one that moves meanwhile. */
	if (pending_path(s, id, p, sizeof(p), out, NULL, NULL))
		return 0;
	snap__object_path(s, id, p, sizeof(p));
	if (stat(p, &st) < 0) {
		int e = errno;
		if (snap__packs_find(s, id, NULL, 0, NULL, out) == 0)
			return 0;
		errno = e;
		char hex[GIT_OID_HEXSZ + 1];
		return snap__err(-errno, "object %s: %s", git_oid_tostr(hex, sizeof(hex), id), strerror(errno));
	}
	*out = (uint64_t)st.st_size;
	return 0;
}

/* ---- writing ---- */

/* Where the uncompressed content comes from during compression. */
struct source {
	const char *buf; /* in memory, or */
	int fd;          /* read with pread from off */
	off_t off;
	uint64_t size;
};

/* One frame of in-memory content (blocks sized to it) into a malloc'd buffer. */
static int compress_mem(const struct source *src, char **out, size_t *out_len)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max1MB;
	prefs.frameInfo.blockMode = LZ4F_blockLinked;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs.frameInfo.contentSize = src->size;
	size_t bound = LZ4F_compressFrameBound(src->size, &prefs);
	char *outb = malloc(bound);
	if (!outb)
		return snap__err(-ENOMEM, "out of memory");
	size_t n = LZ4F_compressFrame(outb, bound, src->buf, src->size, &prefs);
	if (LZ4F_isError(n)) {
		free(outb);
		return snap__err(-EIO, "lz4: %s", LZ4F_getErrorName(n));
	}
	*out = outb;
	*out_len = n;
	return 0;
}

/* Compresses src into a new temporary file (not fsync'd: see the pending
 * table) and returns 0 with its path in tmp. From an fd the content is hashed
 * on the way and its id returned in out_id; size is what fstat said, and a
 * file that shrank or grew meanwhile is -EAGAIN. */
static int compress_to_tmp(struct snap_store *s, const struct source *src, git_oid *out_id, char *tmp,
                           size_t tmplen, uint64_t *out_stored)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max1MB;
	prefs.frameInfo.blockMode = LZ4F_blockLinked;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs.frameInfo.contentSize = src->size;
	LZ4F_cctx *cctx = NULL;
	struct snap__hash *h = NULL;
	char *in = NULL, *outb = NULL;
	int fd = -1, r;
	size_t cap = LZ4F_compressBound(CHUNK, &prefs);
	if (cap < LZ4F_HEADER_SIZE_MAX)
		cap = LZ4F_HEADER_SIZE_MAX;
	if (src->buf) {
		/* In memory (at most SMALL_MAX): one call, blocks sized to the content. */
		size_t n;
		if ((r = compress_mem(src, &outb, &n)) < 0)
			return r;
		if ((fd = snap__tmpfile(s, "obj", tmp, tmplen)) < 0) {
			free(outb);
			return fd;
		}
		if ((r = snap__write_all(fd, outb, n)) < 0) {
			free(outb);
			close(fd);
			(void)unlink(tmp);
			return snap__err(r, "writing an object to %s/tmp: %s", s->dir, strerror(-r));
		}
		free(outb);
		(void)fchmod(fd, 0444);
		close(fd);
		*out_stored = n;
		return 0;
	}
	if (LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)))
		return snap__err(-ENOMEM, "lz4: cannot create a compression context");
	outb = malloc(cap);
	if (!src->buf)
		in = malloc(CHUNK);
	if (!outb || (!src->buf && !in)) {
		r = snap__err(-ENOMEM, "out of memory");
		goto fail;
	}
	if (src->fd >= 0 && (r = snap__hash_begin(s, src->size, &h)) < 0)
		goto fail;
	if ((fd = snap__tmpfile(s, "obj", tmp, tmplen)) < 0) {
		r = fd;
		goto fail;
	}
	size_t n = LZ4F_compressBegin(cctx, outb, cap, &prefs);
	if (LZ4F_isError(n)) {
		r = snap__err(-EIO, "lz4: %s", LZ4F_getErrorName(n));
		goto fail;
	}
	uint64_t stored = n;
	if ((r = snap__write_all(fd, outb, n)) < 0)
		goto fail_write;
	uint64_t done = 0;
	while (done < src->size) {
		size_t len = src->size - done < CHUNK ? (size_t)(src->size - done) : CHUNK;
		const char *p;
		if (src->buf) {
			p = src->buf + done;
		} else {
			ssize_t got = snap__pread_full(src->fd, in, len, src->off + (off_t)done);
			if (got < 0) {
				r = snap__err((int)got, "reading the content: %s", strerror((int)-got));
				goto fail;
			}
			if ((size_t)got != len) {
				r = snap__err(-EAGAIN, "the file shrank while being stored");
				goto fail;
			}
			if ((r = snap__hash_update(h, in, len)) < 0)
				goto fail;
			p = in;
		}
		n = LZ4F_compressUpdate(cctx, outb, cap, p, len, NULL);
		if (LZ4F_isError(n)) {
			r = snap__err(-EIO, "lz4: %s", LZ4F_getErrorName(n));
			goto fail;
		}
		if ((r = snap__write_all(fd, outb, n)) < 0)
			goto fail_write;
		stored += n;
		done += len;
	}
	n = LZ4F_compressEnd(cctx, outb, cap, NULL);
	if (LZ4F_isError(n)) {
		r = snap__err(-EIO, "lz4: %s", LZ4F_getErrorName(n));
		goto fail;
	}
	if ((r = snap__write_all(fd, outb, n)) < 0)
		goto fail_write;
	stored += n;
	if (h) {
		char one;
		if (pread(src->fd, &one, 1, src->off + (off_t)src->size) > 0) {
			r = snap__err(-EAGAIN, "the file grew while being stored");
			goto fail;
		}
		r = snap__hash_final(h, out_id);
		h = NULL;
		if (r < 0)
			goto fail;
	}
	(void)fchmod(fd, 0444);
	close(fd);
	LZ4F_freeCompressionContext(cctx);
	free(in);
	free(outb);
	*out_stored = stored;
	return 0;
fail_write:
	snap__err(r, "writing an object to %s/tmp: %s", s->dir, strerror(-r));
fail:
	snap__hash_free(h);
	if (fd >= 0) {
		close(fd);
		(void)unlink(tmp);
	}
	LZ4F_freeCompressionContext(cctx);
	free(in);
	free(outb);
	return r;
}

/* ---- the pending table ----
 * A new object is compressed into STORE/tmp and listed here; it is moved
 * into STORE/objects only by snap__store_flush (a writer's commit, or
 * snap_store_free): one fsync of the data (syncfs for a batch), the renames,
 * one more sync for the renames. So a file in STORE/objects is always
 * complete and durable, and freezing 1,000 files costs two syncs, not 2,000
 * fsyncs. A pending object is visible to this process only (has, read). */

static uint64_t oid_hash(const git_oid *id)
{
	uint64_t h;
	memcpy(&h, id->id, sizeof(h));
	return h;
}

/* Index of id in the table or of the free slot where it would go. Caller
 * holds pend_lock; the table is never full (load <= 1/2). */
static size_t pend_slot(const struct snap_store *s, const git_oid *id)
{
	size_t mask = s->pend_cap - 1, i = oid_hash(id) & mask;
	while (s->pend[i].tmp && !git_oid_equal(&s->pend[i].id, id))
		i = (i + 1) & mask;
	return i;
}

static struct snap__pending *pend_find(struct snap_store *s, const git_oid *id)
{
	if (!s->pend_cap)
		return NULL;
	struct snap__pending *p = &s->pend[pend_slot(s, id)];
	return p->tmp ? p : NULL;
}

static int pend_add(struct snap_store *s, const git_oid *id, const char *tmp, uint64_t stored, uint64_t off,
                    bool in_pack)
{
	if ((s->pend_n + 1) * 2 > s->pend_cap) {
		size_t cap = s->pend_cap ? s->pend_cap * 2 : 256;
		struct snap__pending *old = s->pend, *nv = calloc(cap, sizeof(*nv));
		if (!nv)
			return snap__err(-ENOMEM, "out of memory");
		size_t oldcap = s->pend_cap;
		s->pend = nv;
		s->pend_cap = cap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].tmp)
				s->pend[pend_slot(s, &old[i].id)] = old[i];
		free(old);
	}
	struct snap__pending *p = &s->pend[pend_slot(s, id)];
	if (!(p->tmp = strdup(tmp)))
		return snap__err(-ENOMEM, "out of memory");
	git_oid_cpy(&p->id, id);
	p->stored = stored;
	p->off = off;
	p->in_pack = in_pack;
	s->pend_n++;
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

void snap__store_set_packing(struct snap_store *s, bool on)
{
	pthread_mutex_lock(&s->pend_lock);
	/* One shared store lock for all the puts that follow (instead of an
	 * open + flock + close each); if it cannot be had, each put takes its own. */
	if (on && s->packing_lock < 0)
		s->packing_lock = snap__store_lock(s, LOCK_SH);
	if (!on && s->packing_lock >= 0) {
		snap__store_unlock(s->packing_lock);
		s->packing_lock = -1;
	}
	s->packing = on;
	pthread_mutex_unlock(&s->pend_lock);
}

/* Appends a frame to the pack being written (made on first use: a directory
 * in STORE/tmp) and lists it as pending. Caller holds pend_lock. */
static int pack_append(struct snap_store *s, const git_oid *id, const char *frame, size_t n)
{
	char p[PATH_MAX + 64];
	int r;
	if (s->wpack_fd < 0) {
		char dir[PATH_MAX];
		if ((r = snap__tmpdir(s, "pack", dir, sizeof(dir))) < 0)
			return r;
		snprintf(p, sizeof(p), "%s/objects.pack", dir);
		int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (fd < 0 || !(s->wpack_dir = strdup(dir))) {
			r = fd < 0 ? snap__err(-errno, "cannot create %s: %s", p, strerror(errno))
			           : snap__err(-ENOMEM, "out of memory");
			if (fd >= 0) {
				close(fd);
				(void)unlink(p);
			}
			(void)rmdir(dir);
			return r;
		}
		s->wpack_fd = fd;
		s->wpack_off = s->wpack_started = 0;
	}
	snprintf(p, sizeof(p), "%s/objects.pack", s->wpack_dir);
	if ((r = pwrite_all(s->wpack_fd, frame, n, s->wpack_off)) < 0) {
		(void)ftruncate(s->wpack_fd, (off_t)s->wpack_off);
		return snap__err(r, "writing an object to %s: %s", p, strerror(-r));
	}
	if ((r = pend_add(s, id, p, n, s->wpack_off, true)) < 0)
		return r; /* the bytes are named by no index: the next frame overwrites them */
	s->wpack_off += n;
	/* Start writing back each MiB now: the flush's fsync then waits for
	 * the tail only (a hint; the fsync is what guarantees). */
	if (s->wpack_off - s->wpack_started >= (1u << 20)) {
		(void)sync_file_range(s->wpack_fd, (off64_t)s->wpack_started, (off64_t)(s->wpack_off - s->wpack_started),
		                      SYNC_FILE_RANGE_WRITE);
		s->wpack_started = s->wpack_off;
	}
	return 0;
}

/* Writes the index of the pack being written into its directory; with
 * do_sync, pack, index and directory are fsync'd. Caller holds pend_lock. */
static int pack_write_idx(struct snap_store *s, bool do_sync)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < s->pend_cap; i++)
		if (s->pend[i].tmp && s->pend[i].in_pack)
			n++;
	git_oid *ids = malloc((n ? n : 1) * sizeof(*ids));
	uint64_t *offs = malloc((n ? n : 1) * sizeof(*offs)), *lens = malloc((n ? n : 1) * sizeof(*lens));
	char p[PATH_MAX + 64];
	int r = 0, fd = -1;
	if (!ids || !offs || !lens) {
		r = snap__err(-ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < s->pend_cap; i++) {
		if (s->pend[i].tmp && s->pend[i].in_pack) {
			git_oid_cpy(&ids[k], &s->pend[i].id);
			offs[k] = s->pend[i].off;
			lens[k++] = s->pend[i].stored;
		}
	}
	snprintf(p, sizeof(p), "%s/objects.idx", s->wpack_dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0 || (r = snap__pack_write_idx(fd, ids, offs, lens, n)) < 0 ||
	    (do_sync && (fsync(fd) < 0 || fsync(s->wpack_fd) < 0))) {
		if (r == 0)
			r = -errno;
		r = snap__err(r, "writing %s: %s", p, strerror(-r));
		goto done;
	}
	if (do_sync && (r = snap__fsync_dir(s->wpack_dir)) < 0)
		snap__err(r, "fsync %s: %s", s->wpack_dir, strerror(-r));
done:
	if (fd >= 0)
		close(fd);
	free(ids);
	free(offs);
	free(lens);
	return r;
}

/* Moves the written pack into STORE/packs (one rename: complete or absent)
 * and forgets its pending entries. Caller holds pend_lock. */
static int pack_publish(struct snap_store *s, bool do_sync)
{
	char dir[PATH_MAX], dst[PATH_MAX + 256];
	snprintf(dir, sizeof(dir), "%s/packs", s->dir);
	if (mkdir(dir, 0755) == 0) {
		int e = do_sync ? snap__fsync_dir(s->dir) : 0; /* the new packs/ itself */
		if (e < 0)
			return snap__err(e, "fsync %s: %s", s->dir, strerror(-e));
	} else if (errno != EEXIST) {
		return snap__err(-errno, "%s: %s", dir, strerror(errno));
	}
	const char *base = strrchr(s->wpack_dir, '/');
	snprintf(dst, sizeof(dst), "%s/%s", dir, base ? base + 1 : s->wpack_dir);
	if (rename(s->wpack_dir, dst) < 0)
		return snap__err(-errno, "storing pack %s: %s", dst, strerror(errno));
	int r = do_sync ? snap__fsync_dir(dir) : 0;
	if (r < 0)
		snap__err(r, "fsync %s: %s", dir, strerror(-r));
	for (size_t i = 0; i < s->pend_cap; i++) {
		if (s->pend[i].tmp && s->pend[i].in_pack) {
			free(s->pend[i].tmp);
			s->pend[i].tmp = NULL;
			s->pend_n--;
		}
	}
	close(s->wpack_fd);
	s->wpack_fd = -1;
	free(s->wpack_dir);
	s->wpack_dir = NULL;
	s->wpack_off = s->wpack_started = 0;
	snap__packs_invalidate(s);
	return r;
}

static int sync_store(struct snap_store *s)
{
	int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = syncfs(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int snap__store_flush(struct snap_store *s)
{
	int r = 0, lk = -1;
	pthread_mutex_lock(&s->pend_lock);
	if (s->pend_n == 0)
		goto done;
	/* Shared: gc (exclusive) never sweeps while objects land. A writer's
	 * own shared lock is compatible (flock grants shared locks while an
	 * exclusive one waits). */
	if ((lk = snap__store_lock(s, LOCK_SH)) < 0) {
		r = lk;
		goto done;
	}
	/* A few loose objects: fsync each; a batch: one syncfs of the
	 * filesystem (which also flushes other processes' dirty data: only worth
	 * it for many files). A pack is a few files: pack and index are fsync'd
	 * (with its directory) unless the syncfs covers them. */
	size_t loose = 0;
	for (size_t i = 0; i < s->pend_cap; i++)
		if (s->pend[i].tmp && !s->pend[i].in_pack)
			loose++;
	bool batch = loose > 8;
	if (s->wpack_fd >= 0 && (r = pack_write_idx(s, !batch)) < 0)
		goto done;
	if (batch) {
		if ((r = sync_store(s)) < 0) {
			snap__err(r, "syncfs %s: %s", s->dir, strerror(-r));
			goto done;
		}
	}
	for (size_t i = 0; i < s->pend_cap; i++) {
		struct snap__pending *p = &s->pend[i];
		if (!p->tmp || p->in_pack)
			continue;
		char path[PATH_MAX], dir[PATH_MAX], hex[GIT_OID_HEXSZ + 1];
		snap__object_path(s, &p->id, path, sizeof(path));
		git_oid_tostr(hex, sizeof(hex), &p->id);
		snprintf(dir, sizeof(dir), "%s/objects/%.2s", s->dir, hex);
		if (!batch) {
			int fd = open(p->tmp, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) < 0) {
				r = snap__err(-errno, "fsync %s: %s", p->tmp, strerror(errno));
				if (fd >= 0)
					close(fd);
				goto done;
			}
			close(fd);
		}
		unsigned xx = p->id.id[0];
		if (!(s->objdir_made[xx / 8] & (1u << (xx % 8)))) {
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				r = snap__err(-errno, "%s: %s", dir, strerror(errno));
				goto done;
			}
			s->objdir_made[xx / 8] |= (uint8_t)(1u << (xx % 8));
		}
		int rc = rename(p->tmp, path);
		if (rc < 0 && errno == ENOENT && access(p->tmp, F_OK) == 0) {
			/* objects/XX was removed meanwhile (gc removes empty ones) */
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				r = snap__err(-errno, "%s: %s", dir, strerror(errno));
				goto done;
			}
			rc = rename(p->tmp, path);
		}
		if (rc < 0) {
			r = snap__err(-errno, "storing object %s: %s", hex, strerror(errno));
			goto done;
		}
		if (!batch && (r = snap__fsync_dir(dir)) < 0) {
			snap__err(r, "fsync %s: %s", dir, strerror(-r));
			goto done;
		}
		free(p->tmp);
		p->tmp = NULL;
		s->pend_n--;
	}
	if (s->wpack_fd >= 0 && (r = pack_publish(s, !batch)) < 0)
		goto done;
	if (batch && (r = sync_store(s)) < 0)
		snap__err(r, "syncfs %s: %s", s->dir, strerror(-r));
	/* all moved: start the table afresh */
	free(s->pend);
	s->pend = NULL;
	s->pend_cap = s->pend_n = 0;
done:
	if (r < 0 && s->pend_cap) {
		/* rebuild the probe chains of what is left */
		struct snap__pending *old = s->pend;
		size_t cap = s->pend_cap;
		s->pend = calloc(cap, sizeof(*s->pend));
		if (s->pend) {
			for (size_t i = 0; i < cap; i++)
				if (old[i].tmp)
					s->pend[pend_slot(s, &old[i].id)] = old[i];
			free(old);
		} else {
			s->pend = old; /* no memory: keep the old table (lookups may miss) */
		}
	}
	snap__store_unlock(lk);
	pthread_mutex_unlock(&s->pend_lock);
	return r;
}

void snap__store_pending_drop(struct snap_store *s)
{
	for (size_t i = 0; i < s->pend_cap; i++) {
		if (s->pend[i].tmp) {
			if (!s->pend[i].in_pack)
				(void)unlink(s->pend[i].tmp);
			free(s->pend[i].tmp);
		}
	}
	if (s->wpack_fd >= 0) {
		close(s->wpack_fd);
		s->wpack_fd = -1;
	}
	if (s->wpack_dir) {
		(void)snap__rm_rf(s->wpack_dir);
		free(s->wpack_dir);
		s->wpack_dir = NULL;
	}
	s->wpack_off = 0;
	free(s->pend);
	s->pend = NULL;
	s->pend_cap = s->pend_n = 0;
}

/* Present in STORE/objects (its mtime refreshed: gc's grace period now
 * covers the caller's commit) or pending in this process. */
static bool present(struct snap_store *s, const git_oid *id)
{
	char path[PATH_MAX];
	snap__object_path(s, id, path, sizeof(path));
	if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
		return true;
	if (errno != ENOENT) {
		struct stat st;
		if (stat(path, &st) == 0)
			return true; /* exists; not ours to touch */
	}
	if (pend_find(s, id))
		return true;
	if (snap__packs_find(s, id, path, sizeof(path), NULL, NULL) == 0) {
		(void)utimensat(AT_FDCWD, path, NULL, 0); /* gc's grace covers the pack */
		return true;
	}
	return false;
}

/* Stores src unless present. id: known (in memory) or NULL (computed while
 * compressing from an fd, into *out_id). Holds the store lock shared. */
static int store_object(struct snap_store *s, const struct source *src, const git_oid *id, git_oid *out_id,
                        bool *out_new)
{
	char tmp[PATH_MAX];
	uint64_t stored = 0;
	git_oid got;
	int r;
	int lk = s->packing_lock >= 0 ? -1 : snap__store_lock(s, LOCK_SH); /* set before the puts start */
	if (lk < 0 && s->packing_lock < 0)
		return lk;
	if (id) {
		pthread_mutex_lock(&s->pend_lock);
		bool have = present(s, id);
		pthread_mutex_unlock(&s->pend_lock);
		if (have) {
			if (out_new)
				*out_new = false;
			git_oid_cpy(out_id, id);
			r = 0;
			goto done;
		}
	}
	if (src->buf && s->packing && src->size <= SMALL_MAX) {
		/* Into the pack being written: no inode per object. */
		char *frame = NULL;
		size_t n = 0;
		if ((r = compress_mem(src, &frame, &n)) < 0)
			goto done;
		pthread_mutex_lock(&s->pend_lock);
		/* present() said no a moment ago: only another thread of ours
		 * can have stored it since (another process: a harmless copy) */
		bool have = pend_find(s, id) != NULL;
		if (!have)
			r = pack_append(s, id, frame, n);
		pthread_mutex_unlock(&s->pend_lock);
		free(frame);
		if (r == 0) {
			git_oid_cpy(out_id, id);
			if (out_new)
				*out_new = !have;
		}
		goto done;
	}
	if ((r = compress_to_tmp(s, src, &got, tmp, sizeof(tmp), &stored)) < 0)
		goto done;
	if (id)
		git_oid_cpy(&got, id);
	pthread_mutex_lock(&s->pend_lock);
	bool have = present(s, &got);
	if (!have)
		r = pend_add(s, &got, tmp, stored, 0, false);
	pthread_mutex_unlock(&s->pend_lock);
	if (have || r < 0)
		(void)unlink(tmp);
	if (r == 0) {
		git_oid_cpy(out_id, &got);
		if (out_new)
			*out_new = !have;
	}
done:
	snap__store_unlock(lk);
	return r;
}

int snap_object_put_buf(struct snap_store *s, const void *buf, size_t len, git_oid *out, bool *out_new)
{
	git_oid id;
	snap__git_init();
	if (git_odb_hash(&id, buf ? buf : "", len, GIT_OBJECT_BLOB) < 0)
		return snap__git_err(-EIO, "hashing");
	struct source src = {.buf = buf ? buf : "", .fd = -1, .size = len};
	return store_object(s, &src, &id, out, out_new);
}

/* Copies fd to EOF into a temporary file (pipes, sockets). */
static int spool(struct snap_store *s, int fd, char *tmp, size_t tmplen)
{
	int t = snap__tmpfile(s, "spool", tmp, tmplen);
	if (t < 0)
		return t;
	char *buf = malloc(CHUNK);
	int r = buf ? 0 : snap__err(-ENOMEM, "out of memory");
	while (r == 0) {
		ssize_t n = snap__read_full(fd, buf, CHUNK);
		if (n < 0)
			r = snap__err((int)n, "reading the content: %s", strerror((int)-n));
		else if (n == 0)
			break;
		else if ((r = snap__write_all(t, buf, (size_t)n)) < 0)
			snap__err(r, "spooling to %s: %s", tmp, strerror(-r));
	}
	free(buf);
	if (r < 0) {
		close(t);
		(void)unlink(tmp);
		return r;
	}
	return t;
}

int snap_object_put_fd(struct snap_store *s, int fd, git_oid *out, uint64_t *out_size, bool *out_new)
{
	struct stat st;
	int r;
	if (fstat(fd, &st) < 0)
		return snap__err(-errno, "fstat: %s", strerror(errno));
	off_t off = S_ISREG(st.st_mode) ? lseek(fd, 0, SEEK_CUR) : -1;
	if (off < 0) {
		char tmp[PATH_MAX];
		int t = spool(s, fd, tmp, sizeof(tmp));
		if (t < 0)
			return t;
		(void)unlink(tmp); /* the fd keeps it */
		if (lseek(t, 0, SEEK_SET) < 0) {
			close(t);
			return snap__err(-errno, "spool: %s", strerror(errno));
		}
		r = snap_object_put_fd(s, t, out, out_size, out_new);
		close(t);
		return r;
	}
	uint64_t size = st.st_size > off ? (uint64_t)(st.st_size - off) : 0;
	if (size <= SMALL_MAX) {
		/* One read (plus one to see EOF): to EOF, whatever the size now is. */
		size_t cap = (size_t)size + 1, len = 0;
		char *buf = malloc(cap);
		if (!buf)
			return snap__err(-ENOMEM, "out of memory");
		for (;;) {
			ssize_t n = snap__read_full(fd, buf + len, cap - len);
			if (n < 0) {
				free(buf);
				return snap__err((int)n, "reading the content: %s", strerror((int)-n));
			}
			len += (size_t)n;
			if (len < cap)
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return snap__err(-ENOMEM, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
		r = snap_object_put_buf(s, buf, len, out, out_new);
		free(buf);
		if (r == 0 && out_size)
			*out_size = len;
		return r;
	}
	/* Large: one pass hashes and compresses in 1 MiB chunks; the result is
	 * dropped if the object turns out to be present. */
	struct source src = {.fd = fd, .off = off, .size = size};
	if ((r = store_object(s, &src, NULL, out, out_new)) < 0)
		return r;
	(void)lseek(fd, off + (off_t)size, SEEK_SET);
	if (out_size)
		*out_size = size;
	return 0;
}

/* ---- reading ---- */

static bool pending_path(struct snap_store *s, const git_oid *id, char *tmp, size_t len, uint64_t *stored,
                         uint64_t *off, bool *in_pack)
{
	pthread_mutex_lock(&s->pend_lock);
	struct snap__pending *p = pend_find(s, id);
	if (p) {
		snprintf(tmp, len, "%s", p->tmp);
		if (stored)
			*stored = p->stored;
		if (off)
			*off = p->off;
		if (in_pack)
			*in_pack = p->in_pack;
	}
	pthread_mutex_unlock(&s->pend_lock);
	return p != NULL;
}

struct sink {
	int fd;            /* >= 0: write here */
	bool holes;        /* fd is a regular file with nothing at or after its offset */
	bool pending_hole; /* the last bytes were skipped: extend at the end */
	char *mem;         /* else: grow this buffer */
	size_t len, cap;
};

static bool all_zero(const char *p, size_t n)
{
	static const char zero[4096];
	while (n >= sizeof(zero)) {
		if (memcmp(p, zero, sizeof(zero)))
			return false;
		p += sizeof(zero);
		n -= sizeof(zero);
	}
	return memcmp(p, zero, n) == 0;
}

static int sink_put(struct sink *k, const char *p, size_t n)
{
	if (k->fd < 0) {
		if (k->len + n > k->cap) {
			size_t cap = k->cap ? k->cap : 4096;
			while (cap < k->len + n)
				cap *= 2;
			char *nm = realloc(k->mem, cap);
			if (!nm)
				return -ENOMEM;
			k->mem = nm;
			k->cap = cap;
		}
		memcpy(k->mem + k->len, p, n);
		k->len += n;
		return 0;
	}
	/* Zero runs of 4 KiB become holes in a fresh regular file (sparse files
	 * stay sparse in the hydration cache). */
	while (n) {
		size_t part = n < 4096 ? n : 4096;
		if (k->holes && part == 4096 && all_zero(p, part)) {
			if (lseek(k->fd, (off_t)part, SEEK_CUR) < 0)
				return -errno;
			k->pending_hole = true;
		} else {
			size_t run = part;
			int r = snap__write_all(k->fd, p, run);
			if (r < 0)
				return r;
			k->pending_hole = false;
		}
		p += part;
		n -= part;
	}
	return 0;
}

static int sink_finish(struct sink *k)
{
	if (k->fd >= 0 && k->pending_hole) {
		off_t end = lseek(k->fd, 0, SEEK_CUR);
		if (end < 0 || ftruncate(k->fd, end) < 0)
			return -errno;
	}
	return 0;
}

/* Opens the file holding id: a loose object (*limit UINT64_MAX: the frame
 * must end the file), a pending one, or a pack (the frame is the *limit
 * bytes at *base). A pack gc removed meanwhile is looked up again. */
static int locate(struct snap_store *s, const git_oid *id, const char *hex, int *out_fd, uint64_t *base,
                  uint64_t *limit)
{
	char path[PATH_MAX];
	for (int attempt = 0; attempt < 3; attempt++) {
		snap__object_path(s, id, path, sizeof(path));
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return snap__err(-errno, "object %s: %s", hex, strerror(errno));
		uint64_t off = 0, len = UINT64_MAX;
		bool in_pack = false, was_pending = false;
		if (fd < 0 && (was_pending = pending_path(s, id, path, sizeof(path), &len, &off, &in_pack))) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (!in_pack) {
				off = 0;
				len = UINT64_MAX;
			}
		}
		if (fd < 0) {
			if (snap__packs_find(s, id, path, sizeof(path), &off, &len) < 0) {
				/* flushed meanwhile (it was pending, or it became loose
				 * between our open and the pending lookup): look again */
				if (was_pending || attempt == 0)
					continue;
				break; /* in no pack either: missing */
			}
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno != ENOENT)
				return snap__err(-errno, "object %s: %s: %s", hex, path, strerror(errno));
			if (fd < 0)
				snap__packs_invalidate(s); /* gc unpacked it meanwhile: look again */
		}
		if (fd >= 0) {
			*out_fd = fd;
			*base = off;
			*limit = len;
			return 0;
		}
	}
	return snap__err(-ENOENT, "object %s is missing from %s", hex, s->dir);
}

static int object_read(struct snap_store *s, const git_oid *id, struct sink *k, uint64_t *out_bytes)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	int fd = -1;
	uint64_t base = 0, limit = UINT64_MAX, pos = 0;
	int lr = locate(s, id, hex, &fd, &base, &limit);
	if (lr < 0)
		return lr;
	LZ4F_dctx *dctx = NULL;
	struct snap__hash *h = NULL;
	const size_t inmax = 256 << 10, outmax = CHUNK;
	char *in = malloc(inmax), *outb = malloc(outmax);
	int r = 0;
	uint64_t total = 0, expect = 0;
	if (!in || !outb || LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
		r = snap__err(-ENOMEM, "out of memory");
		goto done;
	}
	size_t inlen = 0, inpos = 0, hint = 1;
	bool eof = false, header = false;
	while (hint != 0) {
		if (inpos == inlen) {
			if (eof) {
				r = snap__err(-EIO, "object %s is truncated", hex);
				goto done;
			}
			size_t want = inmax;
			if (limit != UINT64_MAX && limit - pos < want)
				want = (size_t)(limit - pos);
			ssize_t n = want ? snap__pread_full(fd, in, want, (off_t)(base + pos)) : 0;
			if (n < 0) {
				r = snap__err(-EIO, "object %s: read: %s", hex, strerror((int)-n));
				goto done;
			}
			pos += (uint64_t)n;
			inlen = (size_t)n;
			inpos = 0;
			if (n == 0) {
				eof = true;
				continue;
			}
		}
		if (!header) {
			LZ4F_frameInfo_t fi;
			size_t srclen = inlen - inpos;
			size_t hr = LZ4F_getFrameInfo(dctx, &fi, in + inpos, &srclen);
			if (LZ4F_isError(hr)) {
				r = snap__err(-EIO, "object %s is corrupt (frame header: %s)", hex, LZ4F_getErrorName(hr));
				goto done;
			}
			inpos += srclen;
			if (srclen == 0 && inpos == inlen)
				continue; /* header incomplete: read more */
			if (fi.contentChecksumFlag != LZ4F_contentChecksumEnabled) {
				r = snap__err(-EIO, "object %s is corrupt (no content checksum)", hex);
				goto done;
			}
			expect = fi.contentSize;
			if ((r = snap__hash_begin(s, expect, &h)) < 0)
				goto done;
			header = true;
			hint = hr;
			continue;
		}
		size_t outlen = outmax, srclen = inlen - inpos;
		hint = LZ4F_decompress(dctx, outb, &outlen, in + inpos, &srclen, NULL);
		if (LZ4F_isError(hint)) {
			r = snap__err(-EIO, "object %s is corrupt (%s)", hex, LZ4F_getErrorName(hint));
			goto done;
		}
		inpos += srclen;
		if (outlen) {
			total += outlen;
			if (total > expect) {
				r = snap__err(-EIO, "object %s is corrupt (longer than its size)", hex);
				goto done;
			}
			if ((r = snap__hash_update(h, outb, outlen)) < 0)
				goto done;
			if ((r = sink_put(k, outb, outlen)) < 0) {
				r = snap__err(r, "object %s: writing the content: %s", hex, strerror(-r));
				goto done;
			}
		}
	}
	if (inpos != inlen ||
	    (limit == UINT64_MAX ? pread(fd, in, 1, (off_t)(base + pos)) != 0 : pos != limit)) {
		r = snap__err(-EIO, "object %s is corrupt (data after the frame)", hex);
		goto done;
	}
	if (total != expect) {
		r = snap__err(-EIO, "object %s is corrupt (%llu bytes, expected %llu)", hex, (unsigned long long)total,
		              (unsigned long long)expect);
		goto done;
	}
	git_oid got;
	r = snap__hash_final(h, &got);
	h = NULL;
	if (r < 0)
		goto done;
	if (git_oid_cmp(&got, id) != 0) {
		char ghex[GIT_OID_HEXSZ + 1];
		r = snap__err(-EIO, "object %s is corrupt (content hashes to %s)", hex,
		              git_oid_tostr(ghex, sizeof(ghex), &got));
		goto done;
	}
	if ((r = sink_finish(k)) < 0) {
		r = snap__err(r, "object %s: writing the content: %s", hex, strerror(-r));
		goto done;
	}
	if (out_bytes)
		*out_bytes = total;
done:
	snap__hash_free(h);
	LZ4F_freeDecompressionContext(dctx);
	free(in);
	free(outb);
	close(fd);
	return r;
}

int snap_object_read_fd(struct snap_store *s, const git_oid *id, int fd, uint64_t *out_bytes)
{
	struct sink k = {.fd = fd};
	struct stat st;
	off_t cur = lseek(fd, 0, SEEK_CUR);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && cur >= 0 && st.st_size <= cur)
		k.holes = true;
	uint64_t bytes = 0;
	int r = object_read(s, id, &k, &bytes);
	if (out_bytes)
		*out_bytes = bytes;
	return r;
}

int snap__object_read_mem(struct snap_store *s, const git_oid *id, void **out, size_t *out_len)
{
	struct sink k = {.fd = -1};
	int r = object_read(s, id, &k, NULL);
	if (r < 0) {
		free(k.mem);
		return r;
	}
	*out = k.mem ? k.mem : calloc(1, 1);
	if (!*out)
		return snap__err(-ENOMEM, "out of memory");
	*out_len = k.len;
	return 0;
}
