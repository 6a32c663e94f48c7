/*
 * snapshot internals shared by the files of snapshot/ (not a contract).
 *
 * Locks (flock(2), so they belong to an open file description):
 *   STORE/lock              shared: every writer (snap_writer_new..free) and
 *                           every object put; exclusive: gc and layer removal.
 *   STORE/layers/ID/manifest.db
 *                           shared: every open struct snap_layer (a mount);
 *                           exclusive (non-blocking): snap_layer_remove.
 * A mounted layer therefore never blocks gc: gc keeps the objects of every
 * layer present in STORE/layers, and a held layer cannot be removed.
 */
#ifndef THAW_SNAPSHOT_INT_H
#define THAW_SNAPSHOT_INT_H

#include "snapshot.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/types.h>

/* An object written to STORE/tmp, not yet fsync'd and renamed (object.c). */
struct snap__pending {
	git_oid id;
	char *tmp;        /* NULL: free slot */
	uint64_t stored;
};

struct snap_store {
	char *dir;      /* absolute or as given, no trailing '/' */
	int dirfd;      /* O_PATH|O_DIRECTORY of dir */
	git_odb *hash_odb; /* an odb with a hashing-only backend: streaming blob ids */
	pthread_mutex_t pend_lock;
	struct snap__pending *pend; /* open addressing, pend_cap a power of 2; protected by pend_lock */
	size_t pend_cap, pend_n;    /* protected by pend_lock */
	uint8_t objdir_made[32];    /* bit XX: objects/XX exists; protected by pend_lock */
};

struct snap_layer {
	struct snap_store *store;
	bool own_store;             /* opened from a path: the store is ours */
	struct snap_meta meta;
	char *dir;                  /* STORE/layers/ID */
	int lockfd;                 /* manifest.db, flock shared while open */
	sqlite3 *db;
	pthread_mutex_t lock;       /* serializes db and the cached statements */
	sqlite3_stmt *st_list, *st_get, *st_walk; /* protected by lock */
};

/* error.c */
/* Sets this thread's last error and returns rc (a negative errno). */
int snap__err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As snap__err with libgit2's last error message appended. */
int snap__git_err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void snap__clear_error(void);
void snap__git_init(void); /* git_libgit2_init once per process */

/* store.c */
/* Opens STORE/lock and flocks it (op: LOCK_SH or LOCK_EX); returns the fd. */
int snap__store_lock(struct snap_store *s, int op);
void snap__store_unlock(int fd);
/* mkstemp-like in STORE/tmp: fills path (PATH_MAX) and returns an fd. */
int snap__tmpfile(struct snap_store *s, const char *prefix, char *path, size_t pathlen);
int snap__tmpdir(struct snap_store *s, const char *prefix, char *path, size_t pathlen);
int snap__fsync_dir(const char *dir);
int snap__rm_rf(const char *path);
bool snap__is_hex_id(const char *s, size_t len);
/* Resolves an id or a unique prefix (>= 8 hex digits) of a layer of s. */
int snap__resolve_id(struct snap_store *s, const char *prefix, char out[SNAP_ID_HEXLEN + 1]);
int64_t snap__now_ms(void);

/* object.c */
int snap__hash_odb_new(git_odb **out);
/* Makes the pending objects durable and moves them into STORE/objects. */
int snap__store_flush(struct snap_store *s);
/* Removes the pending objects (their temporaries) without storing them. */
void snap__store_pending_drop(struct snap_store *s);
void snap__object_path(const struct snap_store *s, const git_oid *id, char *path, size_t len);
/* Streaming git blob id over content of a known size. */
struct snap__hash;
int snap__hash_begin(struct snap_store *s, uint64_t size, struct snap__hash **out);
int snap__hash_update(struct snap__hash *h, const void *buf, size_t len);
int snap__hash_final(struct snap__hash *h, git_oid *out); /* frees h */
void snap__hash_free(struct snap__hash *h);
/* Reads a whole object into memory (for symlink-sized or export use). */
int snap__object_read_mem(struct snap_store *s, const git_oid *id, void **out, size_t *out_len);

/* manifest.c */
int snap__path_valid(const char *path);
/* Reads the meta table of an open manifest into m. */
int snap__meta_read(sqlite3 *db, struct snap_meta *m);
/* Opens STORE/layers/ID/manifest.db read-only (immutable). */
int snap__manifest_open(const char *path, sqlite3 **out);
/* Fills e from a row of "SELECT " SNAP__COLS " FROM entries"; strings point into the row. */
#define SNAP__COLS "path,type,mode,uid,gid,size,mtime_sec,mtime_nsec,rdev,target,cid,opaque,link,xattrs"
void snap__entry_from_row(sqlite3_stmt *st, struct snap_entry *e);
int snap__xattrs_valid(const void *x, size_t len);

/* layer.c */
/* Reads just the metadata of layer dir (no lock taken). */
int snap__layer_meta_at(const char *layer_dir, struct snap_meta *out);

#endif
