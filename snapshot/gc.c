/* snapshot: garbage collection of objects no layer references.
 *
 * Under the store lock held exclusively (no writer and no object put runs
 * meanwhile): read the content ids of every layer in STORE/layers into a
 * sorted array, then walk STORE/objects and remove what is not in it and is
 * older than the grace period (an object put just before a writer took its
 * lock, or outside any writer, is young). A dedup hit refreshes an object's
 * mtime (object.c), so an old unreferenced object reused by a freeze in
 * progress is young again. Mounted layers hold no store lock: they are in
 * STORE/layers, so their objects are kept, and snap_layer_remove refuses them.
 * Temporaries in STORE/tmp older than an hour are removed. A manifest that
 * cannot be read stops gc (-EIO): its references are unknown.
 */
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

#define TMP_MAX_AGE_SEC 3600

struct oidset {
	git_oid *v;
	size_t n, cap;
};

static int oidset_add(struct oidset *s, const void *raw)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		git_oid *nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return snap__err(-ENOMEM, "out of memory");
		s->v = nv;
		s->cap = cap;
	}
	git_oid_fromraw(&s->v[s->n++], raw);
	return 0;
}

static int oid_cmp(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

static bool oidset_has(const struct oidset *s, const git_oid *id)
{
	return s->n && bsearch(id, s->v, s->n, sizeof(*s->v), oid_cmp) != NULL;
}

static int layer_refs(const char *manifest, struct oidset *set)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int r = snap__manifest_open(manifest, &db);
	if (r < 0)
		return r;
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT cid FROM entries WHERE cid IS NOT NULL", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = snap__err(-EIO, "gc: %s: %s", manifest, sqlite3_errmsg(db));
		goto done;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != GIT_OID_RAWSZ)
			continue;
		if ((r = oidset_add(set, sqlite3_column_blob(st, 0))) < 0)
			goto done;
	}
	if (rc != SQLITE_DONE)
		r = snap__err(-EIO, "gc: %s: %s", manifest, sqlite3_errmsg(db));
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

static int collect_refs(struct snap_store *s, struct oidset *set, uint64_t *layers)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers", s->dir);
	DIR *d = opendir(p);
	if (!d)
		return snap__err(-errno, "gc: %s: %s", p, strerror(errno));
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (strlen(de->d_name) != SNAP_ID_HEXLEN || !snap__is_hex_id(de->d_name, SNAP_ID_HEXLEN)) {
			r = snap__err(-EIO, "gc: unexpected entry %s/layers/%s (not a layer id): refusing to guess",
			              s->dir, de->d_name);
			break;
		}
		snprintf(p, sizeof(p), "%s/layers/%s/manifest.db", s->dir, de->d_name);
		if ((r = layer_refs(p, set)) < 0) {
			snap__err(-EIO, "gc: layer %s cannot be read, so its objects are unknown: %s", de->d_name,
			          snap_last_error());
			r = -EIO;
			break;
		}
		(*layers)++;
	}
	closedir(d);
	if (r == 0 && set->n)
		qsort(set->v, set->n, sizeof(*set->v), oid_cmp);
	return r;
}

static int sweep_objects(struct snap_store *s, const struct oidset *set, time_t cutoff, bool dry,
                         struct snap_gc_stats *st)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/objects", s->dir);
	DIR *top = opendir(p);
	if (!top)
		return snap__err(-errno, "gc: %s: %s", p, strerror(errno));
	int r = 0;
	struct dirent *de;
	while ((de = readdir(top)) && r == 0) {
		if (strlen(de->d_name) != 2 || !snap__is_hex_id(de->d_name, 2))
			continue;
		int dfd = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		DIR *sub = fdopendir(dfd);
		if (!sub) {
			close(dfd);
			continue;
		}
		struct dirent *oe;
		while ((oe = readdir(sub))) {
			if (strlen(oe->d_name) != GIT_OID_HEXSZ - 2 || !snap__is_hex_id(oe->d_name, GIT_OID_HEXSZ - 2))
				continue;
			char hex[GIT_OID_HEXSZ + 1];
			memcpy(hex, de->d_name, 2);
			memcpy(hex + 2, oe->d_name, GIT_OID_HEXSZ - 2 + 1);
			git_oid id;
			if (git_oid_fromstr(&id, hex) < 0)
				continue;
			if (oidset_has(set, &id)) {
				st->objects_kept++;
				continue;
			}
			struct stat sb;
			if (fstatat(dirfd(sub), oe->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (sb.st_mtime > cutoff) {
				st->objects_kept++;
				continue;
			}
			if (!dry && unlinkat(dirfd(sub), oe->d_name, 0) < 0) {
				if (errno == ENOENT)
					continue;
				r = snap__err(-errno, "gc: cannot remove object %s: %s", hex, strerror(errno));
				break;
			}
			st->objects_removed++;
			st->bytes_removed += (uint64_t)sb.st_size;
		}
		closedir(sub);
		if (!dry)
			(void)unlinkat(dirfd(top), de->d_name, AT_REMOVEDIR); /* only if empty */
	}
	closedir(top);
	return r;
}

static bool live_cb(void *arg, const git_oid *id)
{
	return oidset_has(arg, id);
}

static void sweep_tmp(struct snap_store *s, time_t cutoff, bool dry, struct snap_gc_stats *st)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/tmp", s->dir);
	DIR *d = opendir(p);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || sb.st_mtime > cutoff)
			continue;
		char full[PATH_MAX];
		snprintf(full, sizeof(full), "%s/tmp/%s", s->dir, de->d_name);
		if (dry || snap__rm_rf(full) == 0)
			st->temporaries_removed++;
	}
	closedir(d);
}

int snap_store_gc(struct snap_store *s, unsigned grace_sec, bool dry_run, struct snap_gc_stats *out)
{
	struct snap_gc_stats st = {0};
	struct oidset set = {0};
	int lk = snap__store_lock(s, LOCK_EX);
	if (lk < 0)
		return lk;
	time_t now = time(NULL);
	int r = collect_refs(s, &set, &st.layers);
	if (r == 0)
		r = sweep_objects(s, &set, now - (time_t)grace_sec, dry_run, &st);
	if (r == 0) /* packs (objpack.c): the objects of freezes */
		r = snap__packs_gc(s, live_cb, &set, now - (time_t)grace_sec, dry_run, &st);
	if (r == 0) {
		sweep_tmp(s, now - TMP_MAX_AGE_SEC, dry_run, &st);
		if (!dry_run) {
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/objects", s->dir);
			(void)snap__fsync_dir(p);
		}
	}
	snap__store_unlock(lk);
	free(set.v);
	if (r == 0 && out)
		*out = st;
	return r;
}
