/*
 * image_gc.c: garbage collection of thawd's store (STATE/store).
 *
 * Image builds chain layers (each image's parent is the previous one, cut by
 * flattening, see docs/images.md) and every session may leave snapshots, so
 * the store only grows unless something removes layers nobody can use any
 * more. A pass:
 *
 *   1. loop thread: the roots of the keep set, from memory: every
 *      repository's current image (and images replaced while a cold mount
 *      that may have chosen them was still starting), the layer every
 *      workspace is mounted from (sessions, pool entries, entries being
 *      made), the from_snapshot and pre-exit snapshot of every session not
 *      removed;
 *   2. database thread: the snapshots recorded in the session.db of every
 *      session not removed (read-only connections);
 *   3. thread pool: the store's listing; more roots: the newest image layer
 *      of every registered repository (an image that just landed, before the
 *      loop heard of it) and every snapshot younger than the retention
 *      (--snapshot-retention, default 7 days; never less than
 *      THAWD_GC_SNAPSHOT_FLOOR_S, so a snapshot between its commit and its
 *      row in session.db is safe); the keep set is the roots' chains (parent
 *      links of the listing; thawd__gc_mark in image_gc_plan.c decides). Every other layer of a registered repository that is
 *      an image, or a session/pre-exit snapshot, is removed with
 *      snap_layer_remove, newest first, repeated while it makes progress (a
 *      parent is removable once its children are gone). -EBUSY (a parent of
 *      a layer that stays, or held open by a mount this pass did not know
 *      of) is skipped: the next pass tries again. Then snap_store_gc removes
 *      the objects no layer names (grace --gc-grace, default 600 s).
 *   4. loop thread: counters for /metrics, an `image` event {op:"gc", ...}
 *      when something was removed.
 *
 * Passes run every --image-gc-interval seconds (default 600; 0: only after
 * new images) and at the next tick after a repository's current image
 * changed. One pass at a time.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_glue.h"
#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

#define GC_HISTORY 8            /* replaced images remembered per repository */

struct gc_seen {
	char name[THAWD_NAME_MAX + 1];
	char image[41];            /* the current image at the last tick */
	struct {
		char id[41];
		int64_t until_ms;      /* when it stopped being current */
	} hist[GC_HISTORY];
	unsigned nhist;            /* entries written (ring index = nhist % GC_HISTORY) */
};

/* Loop thread only. */
static struct {
	bool inited, running, requested;
	int64_t next_due_ms;
	struct gc_seen *seen;
	size_t nseen;
	struct thawd_gc_stats st;
} G;

struct gc_job {
	struct thawd *d;
	json_t *roots;             /* {id: true}: layers whose chains stay */
	json_t *repos;             /* [name]: registered repositories */
	json_t *dbs;               /* [path]: session.db of sessions not removed */
	int64_t now_ms, retention_ms;
	unsigned grace_s;
	double t0;
	/* results (thread pool) */
	json_t *removed_images, *removed_snapshots;
	struct snap_gc_stats gs;
	uint64_t busy, kept;
	int err;
	char msg[512];
};

void thawd_image_gc_stats(struct thawd_gc_stats *out)
{
	*out = G.st;
}

static struct gc_seen *seen_get(const char *name)
{
	for (size_t i = 0; i < G.nseen; i++)
		if (!strcmp(G.seen[i].name, name))
			return &G.seen[i];
	struct gc_seen *n = realloc(G.seen, (G.nseen + 1) * sizeof(*n));
	if (!n)
		return NULL;
	G.seen = n;
	memset(&n[G.nseen], 0, sizeof(*n));
	snprintf(n[G.nseen].name, sizeof(n[G.nseen].name), "%s", name);
	return &n[G.nseen++];
}

void thawd_image_gc_free(void)
{
	free(G.seen);
	G.seen = NULL;
	G.nseen = 0;
}

static void root_add(json_t *roots, const char *id)
{
	if (id && id[0] && thawd_layer_id_valid(id))
		json_object_set_new(roots, id, json_true());
}

static void job_free(struct gc_job *j)
{
	if (!j)
		return;
	json_decref(j->roots);
	json_decref(j->repos);
	json_decref(j->dbs);
	json_decref(j->removed_images);
	json_decref(j->removed_snapshots);
	free(j);
}

/* ---- 2. database thread: snapshots recorded by live sessions ---- */

static void db_work(struct thawd *d, void *arg)
{
	(void)d;
	struct gc_job *j = arg;
	size_t i;
	json_t *p;
	json_array_foreach(j->dbs, i, p) {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		if (sqlite3_open_v2(json_string_value(p), &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
		    sqlite3_busy_timeout(db, 2000) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, "SELECT id FROM snapshots", -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				root_add(j->roots, (const char *)sqlite3_column_text(st, 0));
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

/* ---- 3. thread pool: the listing, the keep set, removals, objects ---- */

struct listing {
	struct thawd_gc_layer *v;
	size_t n, cap;
	int err;
};

static int list_cb(void *arg, const struct snap_meta *m)
{
	struct listing *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct thawd_gc_layer *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv) {
			l->err = -ENOMEM;
			return -ENOMEM;
		}
		l->v = nv;
		l->cap = cap;
	}
	struct thawd_gc_layer *x = &l->v[l->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->id, sizeof(x->id), "%s", m->id);
	snprintf(x->parent, sizeof(x->parent), "%s", m->parent);
	snprintf(x->repo, sizeof(x->repo), "%s", m->repo);
	x->kind = m->kind;
	x->created_ms = m->created_ms;
	return 0;
}

static void gc_work(void *arg)
{
	struct gc_job *j = arg;
	struct snap_store *store = j->d->store;
	struct listing l = {0};
	int r = snap_store_list(store, list_cb, &l);
	if (r < 0 || l.err < 0) {
		j->err = r < 0 ? r : l.err;
		snprintf(j->msg, sizeof(j->msg), "store listing: %s", r < 0 ? snap_last_error() : strerror(-j->err));
		goto done;
	}
	j->kept = thawd__gc_mark(l.v, l.n, j->roots, j->repos, j->now_ms, j->retention_ms);
	/* newest first (children before their parents), repeated while it progresses */
	bool *gone = calloc(l.n + 1, sizeof(*gone));
	if (!gone) {
		j->err = -ENOMEM;
		snprintf(j->msg, sizeof(j->msg), "out of memory");
		goto done;
	}
	bool progress = true;
	while (progress) {
		progress = false;
		for (size_t i = 0; i < l.n; i++) {
			struct thawd_gc_layer *x = &l.v[i];
			if (!x->removable || gone[i])
				continue;
			int e = snap_layer_remove(store, x->id);
			if (e == 0 || e == -ENOENT) {
				gone[i] = true;
				progress = true;
				if (e == 0)
					json_array_append_new(x->kind == SNAP_KIND_IMAGE ? j->removed_images : j->removed_snapshots,
					                      json_string(x->id));
			} else if (e != -EBUSY && !j->msg[0]) {
				snprintf(j->msg, sizeof(j->msg), "remove %s: %s", x->id, snap_last_error());
			}
		}
	}
	for (size_t i = 0; i < l.n; i++)
		j->busy += l.v[i].removable && !gone[i];
	free(gone);
	if ((r = snap_store_gc(store, j->grace_s, false, &j->gs)) < 0) {
		j->err = r;
		snprintf(j->msg, sizeof(j->msg), "object gc: %s", snap_last_error());
	}
done:
	free(l.v);
}

/* ---- 4. loop thread: counters, event ---- */

static void gc_after(void *arg, int status)
{
	struct gc_job *j = arg;
	struct thawd *d = j->d;
	G.running = false;
	if (!j->err && status < 0)
		j->err = status;
	int64_t now = thawd_now_ms();
	size_t ni = json_array_size(j->removed_images), ns = json_array_size(j->removed_snapshots);
	G.st.runs++;
	G.st.images_removed += ni;
	G.st.snapshots_removed += ns;
	G.st.busy += j->busy;
	G.st.objects_removed += j->gs.objects_removed;
	G.st.bytes_removed += j->gs.bytes_removed;
	G.st.layers_kept = j->kept;
	G.st.last_run_ms = now;
	G.st.last_duration_ms = thawd_mono_ms() - j->t0;
	if (j->err)
		G.st.failures++;
	G.next_due_ms = d->cfg.image_gc_interval_s ? now + (int64_t)d->cfg.image_gc_interval_s * 1000 : INT64_MAX;
	if (j->err || j->msg[0])
		thawd_log(d, j->err ? "error" : "warn", "image gc: %s", j->msg[0] ? j->msg : strerror(-j->err));
	if (!d->stopping && (ni || ns || j->gs.objects_removed)) {
		thawd_log(d, "info", "image gc: removed %zu images, %zu snapshots, %llu objects (%llu bytes); %llu layers kept, %llu busy",
		          ni, ns, (unsigned long long)j->gs.objects_removed, (unsigned long long)j->gs.bytes_removed,
		          (unsigned long long)j->kept, (unsigned long long)j->busy);
		thawd_event(d, NULL, "image",
		            json_pack("{s:s, s:O, s:O, s:I, s:I, s:I, s:I, s:f}", "op", "gc", "removed", j->removed_images,
		                      "snapshots_removed", j->removed_snapshots, "objects_removed",
		                      (json_int_t)j->gs.objects_removed, "bytes", (json_int_t)j->gs.bytes_removed, "kept",
		                      (json_int_t)j->kept, "busy", (json_int_t)j->busy, "duration_ms", G.st.last_duration_ms));
	}
	job_free(j);
}

static void db_done(struct thawd *d, void *arg)
{
	struct gc_job *j = arg;
	if (d->stopping || thawd_work(d, gc_work, gc_after, j) < 0) {
		G.running = false;
		job_free(j);
	}
}

/* ---- 1. loop thread: the roots we know of in memory ---- */

static struct gc_job *job_new(struct thawd *d, int64_t now)
{
	struct gc_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->d = d;
	j->roots = json_object();
	j->repos = json_array();
	j->dbs = json_array();
	j->removed_images = json_array();
	j->removed_snapshots = json_array();
	if (!j->roots || !j->repos || !j->dbs || !j->removed_images || !j->removed_snapshots) {
		job_free(j);
		return NULL;
	}
	j->now_ms = now;
	j->retention_ms = d->cfg.snapshot_retention_s * 1000;
	j->grace_s = d->cfg.gc_grace_s;
	j->t0 = thawd_mono_ms();
	for (struct thawd_repo *r = d->repos; r; r = r->next) {
		json_array_append_new(j->repos, json_string(r->name));
		root_add(j->roots, r->image);
		/* a cold mount chose the current image when it started: keep the
		 * images replaced since the oldest one still starting */
		int64_t oldest = INT64_MAX;
		for (struct thawd_session *s = d->sessions; s; s = s->next)
			if (!s->ws && !strcmp(s->repo, r->name) && (s->state == TS_STARTING || s->remounting) &&
			    s->created_ms < oldest)
				oldest = s->created_ms;
		struct gc_seen *sn = oldest != INT64_MAX ? seen_get(r->name) : NULL;
		for (unsigned k = 0; sn && k < GC_HISTORY && k < sn->nhist; k++)
			if (sn->hist[k].until_ms >= oldest - 1000)
				root_add(j->roots, sn->hist[k].id);
	}
	for (struct thawd_session *s = d->sessions; s; s = s->next) {
		/* a removed session keeps a copy of its ws for its paths: not a mount */
		if (s->state == TS_REMOVED)
			continue;
		if (s->ws) {
			root_add(j->roots, s->ws->layer);
			root_add(j->roots, s->ws->image);
		}
		root_add(j->roots, s->from_snapshot);
		root_add(j->roots, s->pre_exit_snapshot);
		if (s->db_path)
			json_array_append_new(j->dbs, json_string(s->db_path));
	}
	struct pg *g = pg_get(d);
	for (struct pg_entry *e = g ? g->entries : NULL; e; e = e->next) {
		root_add(j->roots, e->image);
		if (e->ws)
			root_add(j->roots, e->ws->layer);
	}
	return j;
}

void thawd_image_gc_tick(struct thawd *d)
{
	if (d->stopping)
		return;
	int64_t now = thawd_now_ms();
	if (!G.inited) {
		G.inited = true;
		G.next_due_ms = d->cfg.image_gc_interval_s ? now + (int64_t)d->cfg.image_gc_interval_s * 1000 : INT64_MAX;
	}
	for (struct thawd_repo *r = d->repos; r; r = r->next) {
		struct gc_seen *sn = seen_get(r->name);
		if (!sn || !strcmp(sn->image, r->image))
			continue;
		if (sn->image[0]) {
			unsigned k = sn->nhist++ % GC_HISTORY;
			snprintf(sn->hist[k].id, sizeof(sn->hist[k].id), "%s", sn->image);
			sn->hist[k].until_ms = now;
			G.requested = true; /* a new image landed: the old chain may be unused now */
		}
		snprintf(sn->image, sizeof(sn->image), "%s", r->image);
	}
	if (G.running || (!G.requested && now < G.next_due_ms))
		return;
	struct gc_job *j = job_new(d, now);
	if (!j)
		return;
	G.requested = false;
	G.running = true;
	thawd_db_submit(d, db_work, db_done, j);
}
