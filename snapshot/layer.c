/* snapshot: reading a layer (open, list, get, walk, check).
 *
 * One read-only SQLite connection per open layer, serialized by a recursive
 * mutex (a callback may call back into the same layer); the three hot
 * statements are prepared once, and a nested call that finds its statement
 * busy prepares a private one.
 */
#include "snapshot_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

int snap__layer_meta_at(const char *layer_dir, struct snap_meta *out)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/manifest.db", layer_dir);
	if (stat(p, &st) < 0)
		return snap__err(-errno, "%s: %s", p, strerror(errno));
	sqlite3 *db;
	int r = snap__manifest_open(p, &db);
	if (r < 0)
		return r;
	r = snap__meta_read(db, out);
	sqlite3_close(db);
	if (r < 0)
		return snap__err(r, "layer %s: %s", layer_dir, snap_last_error());
	return 0;
}

/* Splits a layer directory path into the store and the id. */
static int open_by_path(struct snap_layer *l, const char *path)
{
	char real[PATH_MAX];
	if (!realpath(path, real))
		return snap__err(-errno, "layer %s: %s", path, strerror(errno));
	size_t n = strlen(real);
	static const char suffix[] = "/manifest.db";
	if (n > sizeof(suffix) && !strcmp(real + n - (sizeof(suffix) - 1), suffix))
		real[n -= sizeof(suffix) - 1] = '\0';
	char *slash = strrchr(real, '/');
	if (!slash || strlen(slash + 1) != SNAP_ID_HEXLEN || !snap__is_hex_id(slash + 1, SNAP_ID_HEXLEN))
		return snap__err(-EINVAL, "%s is not a layer directory (STORE/layers/ID)", path);
	char id[SNAP_ID_HEXLEN + 1];
	memcpy(id, slash + 1, sizeof(id));
	*slash = '\0';
	char *up = strrchr(real, '/');
	if (!up || strcmp(up + 1, "layers") != 0)
		return snap__err(-EINVAL, "%s is not a layer directory (STORE/layers/ID)", path);
	*up = '\0';
	int r = snap_store_open(&l->store, real[0] ? real : "/", false);
	if (r < 0)
		return r;
	l->own_store = true;
	memcpy(l->meta.id, id, sizeof(id));
	return 0;
}

int snap_layer_open(struct snap_layer **out, struct snap_store *s, const char *id_or_path)
{
	int r;
	if (!id_or_path || !*id_or_path)
		return snap__err(-EINVAL, "no layer given");
	struct snap_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return snap__err(-ENOMEM, "out of memory");
	l->lockfd = -1;
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&l->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (!s || strchr(id_or_path, '/')) {
		if ((r = open_by_path(l, id_or_path)) < 0)
			goto fail;
	} else {
		l->store = s;
		if ((r = snap__resolve_id(s, id_or_path, l->meta.id)) < 0)
			goto fail;
	}
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/layers/%s", l->store->dir, l->meta.id);
	if (!(l->dir = strdup(p))) {
		r = snap__err(-ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(p, sizeof(p), "%s/manifest.db", l->dir);
	l->lockfd = open(p, O_RDONLY | O_CLOEXEC);
	if (l->lockfd < 0) {
		r = snap__err(errno == ENOENT ? -ENOENT : -errno, "layer %s: %s", l->meta.id, strerror(errno));
		goto fail;
	}
	while (flock(l->lockfd, LOCK_SH) < 0) {
		if (errno != EINTR) {
			r = snap__err(-errno, "layer %s: flock: %s", l->meta.id, strerror(errno));
			goto fail;
		}
	}
	/* A removal may have renamed it away while we waited for the lock. */
	struct stat a, b;
	if (fstat(l->lockfd, &a) < 0 || stat(p, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		r = snap__err(-ENOENT, "layer %s was removed", l->meta.id);
		goto fail;
	}
	if ((r = snap__manifest_open(p, &l->db)) < 0)
		goto fail;
	char want[SNAP_ID_HEXLEN + 1];
	memcpy(want, l->meta.id, sizeof(want));
	if ((r = snap__meta_read(l->db, &l->meta)) < 0) {
		snap__err(r, "layer %s: %s", want, snap_last_error());
		goto fail;
	}
	if (strcmp(want, l->meta.id) != 0) {
		r = snap__err(-EIO, "layer %s: its manifest says it is %s", want, l->meta.id);
		goto fail;
	}
	*out = l;
	return 0;
fail:
	snap_layer_free(l);
	return r;
}

void snap_layer_free(struct snap_layer *l)
{
	if (!l)
		return;
	sqlite3_finalize(l->st_list);
	sqlite3_finalize(l->st_get);
	sqlite3_finalize(l->st_walk);
	sqlite3_close(l->db);
	if (l->lockfd >= 0)
		close(l->lockfd);
	if (l->own_store)
		snap_store_free(l->store);
	pthread_mutex_destroy(&l->lock);
	free(l->dir);
	free(l);
}

const struct snap_meta *snap_layer_meta(const struct snap_layer *l)
{
	return &l->meta;
}

struct snap_store *snap_layer_store(struct snap_layer *l)
{
	return l->store;
}

/* Runs sql (one text parameter, or none) and calls fn per row, with the
 * cached statement *cache unless a caller up the stack is using it. */
static int run_query(struct snap_layer *l, sqlite3_stmt **cache, const char *sql, const char *param,
                     snap_entry_fn fn, void *arg, bool want_row)
{
	sqlite3_stmt *st;
	bool priv = false;
	int r = 0, rc, rows = 0;
	pthread_mutex_lock(&l->lock);
	if (*cache && sqlite3_stmt_busy(*cache)) {
		priv = true;
		st = NULL;
		if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {
			r = snap__err(-EIO, "layer %s: %s", l->meta.id, sqlite3_errmsg(l->db));
			goto done;
		}
	} else {
		if (!*cache && sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, cache, NULL) != SQLITE_OK) {
			r = snap__err(-EIO, "layer %s: %s", l->meta.id, sqlite3_errmsg(l->db));
			goto done;
		}
		st = *cache;
	}
	if (param)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct snap_entry e;
		snap__entry_from_row(st, &e);
		rows++;
		if ((r = fn(arg, &e)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = snap__err(-EIO, "layer %s: %s", l->meta.id, sqlite3_errmsg(l->db));
	if (r == 0 && want_row && rows == 0)
		r = -ENOENT;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (priv)
		sqlite3_finalize(st);
done:
	pthread_mutex_unlock(&l->lock);
	return r;
}

int snap_layer_list(struct snap_layer *l, const char *dir, snap_entry_fn fn, void *arg)
{
	return run_query(l, &l->st_list,
	                 "SELECT " SNAP__COLS " FROM entries WHERE parent = ?1 ORDER BY parent, name", dir ? dir : "", fn,
	                 arg, false);
}

int snap_layer_get(struct snap_layer *l, const char *path, snap_entry_fn fn, void *arg)
{
	return run_query(l, &l->st_get, "SELECT " SNAP__COLS " FROM entries WHERE path = ?1", path, fn, arg, true);
}

int snap_layer_walk(struct snap_layer *l, snap_entry_fn fn, void *arg)
{
	return run_query(l, &l->st_walk, "SELECT " SNAP__COLS " FROM entries ORDER BY path", NULL, fn, arg, false);
}

struct check_ctx {
	struct snap_store *s;
	uint64_t missing;
	char first[GIT_OID_HEXSZ + 1];
};

static int check_one(void *arg, const struct snap_entry *e)
{
	struct check_ctx *c = arg;
	if (e->type == SNAP_T_REG && snap_object_has(c->s, &e->cid) < 0) {
		if (c->missing++ == 0)
			git_oid_tostr(c->first, sizeof(c->first), &e->cid);
	}
	return 0;
}

int snap_layer_check(struct snap_layer *l, uint64_t *out_missing)
{
	struct check_ctx c = {.s = l->store};
	int r = snap_layer_walk(l, check_one, &c);
	if (r < 0)
		return r;
	if (out_missing)
		*out_missing = c.missing;
	if (c.missing)
		return snap__err(-ENOENT, "layer %s: %llu objects missing (first: %s)", l->meta.id,
		                 (unsigned long long)c.missing, c.first);
	return 0;
}
