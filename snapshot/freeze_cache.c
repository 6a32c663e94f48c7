/*
 * The freeze cache: content ids of the last freeze's files, so a later
 * freeze of the same upper reads only the files that changed (git's index
 * idea). Kept in UPPER/.thaw-work/freeze-cache; only regular files without
 * origin and with one link are cached.
 *
 *   | bytes | field                                                      |
 *   |-------|------------------------------------------------------------|
 *   | 8     | magic "THAWFC1\0"                                          |
 *   | 8     | count of records                                           |
 *   | 8     | stamp: wall clock (ns) when that freeze's pack started     |
 *   | 8     | FNV-1a 64 of the records                                   |
 *   | 64 x  | record: dev, ino, size, mtime ns, ctime ns (u64/i64, host  |
 *   | count |   order), content id (20 bytes), 4 zero bytes              |
 *
 * A record is used only if dev, ino, size, mtime and ctime all match and
 * its ctime is more than FC_MARGIN_NS before the stamp: the file then did
 * not change since it was read (every content change sets ctime to the
 * current, coarse, time; a change after that freeze happened after its
 * stamp), and the object must exist in this store. Anything else is read
 * and hashed again. A missing, short or damaged cache is ignored; it is
 * rewritten (temporary + rename, not fsync'd) after each committed freeze.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "freeze_int.h"
#include "banned.h"

#define WORKDIR ".thaw-work"

static size_t slot_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ dev;
	return (size_t)(h ^ (h >> 29));
}

#define FC_FILE "freeze-cache"
#define FC_MAGIC "THAWFC1"
#define FC_MARGIN_NS 100000000ll /* 100 ms: well above the coarse clock's tick */
#define FC_MAX_RECORDS (64u << 20)

struct fc_rec {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	unsigned char cid[GIT_OID_RAWSZ];
	unsigned char pad[4];
};
_Static_assert(sizeof(struct fc_rec) == 64, "freeze cache record is 64 bytes");

struct fc_head {
	char magic[8];
	uint64_t count;
	int64_t stamp_ns;
	uint64_t sum;
};

struct fc_table {
	struct fc_rec *v;      /* open addressing; ino == 0 && dev == 0: free */
	size_t cap;
	int64_t stamp_ns;
	struct fc_rec *out;    /* this freeze's records */
	size_t nout, capout;
};

static uint64_t fnv(const void *p, size_t len)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000ll + t->tv_nsec;
}

static struct fc_rec *fc_slot(struct fc_table *t, uint64_t dev, uint64_t ino)
{
	for (size_t i = slot_hash(dev, ino) & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
		if ((t->v[i].dev == dev && t->v[i].ino == ino) || (!t->v[i].dev && !t->v[i].ino))
			return &t->v[i];
}

void snap__fc_load(struct snap__pack *p, int upperfd)
{
	struct fc_table *t = calloc(1, sizeof(*t));
	if (!t)
		return;
	p->fc = t;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	p->fc_stamp = ts_ns(&now);
	char path[64];
	snprintf(path, sizeof(path), "%s/%s", WORKDIR, FC_FILE);
	int fd = openat(upperfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct fc_head h;
	struct stat st;
	struct fc_rec *recs = NULL;
	if (fstat(fd, &st) < 0 || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) || memcmp(h.magic, FC_MAGIC, 8) ||
	    h.count > FC_MAX_RECORDS || (uint64_t)st.st_size != sizeof(h) + h.count * sizeof(struct fc_rec))
		goto done;
	size_t len = (size_t)h.count * sizeof(struct fc_rec);
	if (!(recs = malloc(len ? len : 1)))
		goto done;
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (char *)recs + got, len - got);
		if (n <= 0)
			goto done;
		got += (size_t)n;
	}
	if (fnv(recs, len) != h.sum)
		goto done;
	size_t cap = 64;
	while (cap < h.count * 2)
		cap *= 2;
	if (!(t->v = calloc(cap, sizeof(*t->v))))
		goto done;
	t->cap = cap;
	t->stamp_ns = h.stamp_ns;
	for (size_t i = 0; i < h.count; i++)
		if (recs[i].dev || recs[i].ino)
			*fc_slot(t, recs[i].dev, recs[i].ino) = recs[i];
done:
	free(recs);
	close(fd);
}

bool snap__fc_hit(struct snap__pack *p, const struct stat *st, git_oid *cid)
{
	struct fc_table *t = p->fc;
	if (!t || !t->cap)
		return false;
	const struct fc_rec *r = fc_slot(t, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if ((!r->dev && !r->ino) || r->size != (uint64_t)st->st_size || r->mtime_ns != ts_ns(&st->st_mtim) ||
	    r->ctime_ns != ts_ns(&st->st_ctim) || r->ctime_ns >= t->stamp_ns - FC_MARGIN_NS)
		return false;
	git_oid id;
	git_oid_fromraw(&id, r->cid);
	if (snap_object_has(p->store, &id) < 0)
		return false;
	*cid = id;
	p->fc_hits++;
	return true;
}

int snap__fc_note(struct snap__pack *p, const struct stat *st, const git_oid *cid)
{
	struct fc_table *t = p->fc;
	if (!t)
		return 0;
	if (t->nout == t->capout) {
		size_t cap = t->capout ? t->capout * 2 : 256;
		struct fc_rec *nv = realloc(t->out, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		t->out = nv;
		t->capout = cap;
	}
	struct fc_rec *r = &t->out[t->nout++];
	memset(r, 0, sizeof(*r));
	r->dev = (uint64_t)st->st_dev;
	r->ino = (uint64_t)st->st_ino;
	r->size = (uint64_t)st->st_size;
	r->mtime_ns = ts_ns(&st->st_mtim);
	r->ctime_ns = ts_ns(&st->st_ctim);
	memcpy(r->cid, cid->id, GIT_OID_RAWSZ);
	return 0;
}

int snap__pack_save_cache(struct snap__pack *p, int upperfd)
{
	struct fc_table *t = p->fc;
	if (!t)
		return 0;
	char tmp[64], path[64];
	snprintf(tmp, sizeof(tmp), "%s/tmp.%s.%d", WORKDIR, FC_FILE, (int)getpid()); /* thawfs removes tmp.* at mount */
	snprintf(path, sizeof(path), "%s/%s", WORKDIR, FC_FILE);
	int fd = openat(upperfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	struct fc_head h = {.count = t->nout, .stamp_ns = p->fc_stamp};
	memcpy(h.magic, FC_MAGIC, 8);
	size_t len = t->nout * sizeof(struct fc_rec);
	h.sum = fnv(t->out, len);
	int r = 0;
	const char *parts[2] = {(const char *)&h, (const char *)t->out};
	size_t lens[2] = {sizeof(h), len};
	for (int k = 0; k < 2 && r == 0; k++) {
		for (size_t off = 0; off < lens[k];) {
			ssize_t n = write(fd, parts[k] + off, lens[k] - off);
			if (n < 0) {
				r = -errno;
				break;
			}
			off += (size_t)n;
		}
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(upperfd, tmp, upperfd, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(upperfd, tmp, 0);
	return r;
}

void snap__fc_free(struct snap__pack *p)
{
	if (!p->fc)
		return;
	free(p->fc->v);
	free(p->fc->out);
	free(p->fc);
	p->fc = NULL;
}

