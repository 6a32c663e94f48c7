/*
 * Internals shared by freeze.c, pack_upper.c and restore.c (owner: "freeze").
 *
 * pack_upper.c turns a quiescent upper directory (fs/upper.c's on-disk
 * format) into a list of manifest entries whose content is already in the
 * store; freeze.c drives the workspace's gate around it and writes the layer.
 */
#ifndef THAW_SNAPSHOT_FREEZE_INT_H
#define THAW_SNAPSHOT_FREEZE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "snapshot.h"

/* Records a message for snap_last_error() and returns r (a negative errno). */
int snap__freeze_err(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A lower layer of the workspace as its status reports it. */
struct snap__ws_layer {
	char *path;      /* as thawfs was given it (directory, layer id or layer path) */
	char *store_id;  /* the store layer's id, NULL for a plain directory layer */
};

/* One packed entry: a snap_entry whose strings the pack owns. */
struct snap__pentry {
	struct snap_entry e;
	dev_t dev;
	ino_t ino;
	bool multi;      /* regular file with more than one link */
};

struct snap__pack {
	/* inputs */
	struct snap_store *store;
	const char *repo;                 /* the workspace's repository (git: origins) */
	const struct snap__ws_layer *layers; /* index n-1 for origin "layer:<n>:..." */
	size_t nlayers;
	void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total); /* or NULL */
	void *progress_arg;
	int (*renew)(void *arg);          /* or NULL: after each batch; < 0 stops the pack */
	void *renew_arg;
	/* outputs */
	struct snap__pentry *v;
	size_t n, cap;
	uint64_t bytes, new_objects, new_bytes, reused_git;
	/* private */
	git_repository *git;
	struct snap_layer **opened;       /* store layers opened for layer: origins */
	struct pk_ino *inos;
	size_t ninos, inocap;
	struct pk_batch *batch;           /* contents being stored in parallel */
	struct fc_table *fc;              /* the freeze cache (pack_upper.c) */
	int64_t fc_stamp;                 /* wall clock (ns) when this pack started */
	uint64_t fc_hits;                 /* files whose content id came from the cache */
};

/* Walks the upper directory open at upperfd (not closed; .thaw-work/ at its
 * root is skipped) and fills p->v with one entry per name, content stored.
 * Returns 0 or a negative errno with snap_last_error() naming the path. */
int snap__pack_upper(struct snap__pack *p, int upperfd);
/* The workspace's .git state in the upper (local commits, index) comes
 * without .git/HEAD when HEAD was not rewritten (a commit on the branch moves
 * only the branch's ref); the restored .git would then show thawfs's own
 * HEAD (detached at the synced commit). When the pack has .git/ but no
 * .git/HEAD, this adds the HEAD the workspace shows (read through the mount
 * at mountpoint): a detached id, or a branch whose ref the pack has. */
int snap__pack_git_head(struct snap__pack *p, const char *mountpoint);
/* The freeze cache (freeze_cache.c). snap__fc_load reads the previous
 * freeze's cache of the upper at upperfd into p (none: every file is read)
 * and stamps this pack's start; snap__fc_hit gives a file's content id when
 * the cache proves it unchanged (and the object is in p->store);
 * snap__fc_note records a file of this pack for the next freeze. */
void snap__fc_load(struct snap__pack *p, int upperfd);
bool snap__fc_hit(struct snap__pack *p, const struct stat *st, git_oid *cid);
int snap__fc_note(struct snap__pack *p, const struct stat *st, const git_oid *cid);
void snap__fc_free(struct snap__pack *p);
/* After the layer is committed: writes the freeze cache (content ids of this
 * pack's files by inode and times) into UPPER/.thaw-work, so the next freeze
 * reads only files that changed. Failing to write it costs only speed. */
int snap__pack_save_cache(struct snap__pack *p, int upperfd);
/* Frees what the pack owns (entries, repository, opened layers). */
void snap__pack_release(struct snap__pack *p);

#endif
