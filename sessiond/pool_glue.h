/*
 * pool_glue: thawd's warm pools (sessiond/pool_glue.c) and their API
 * (sessiond/api_pools.c). Private to those two files. pool/pool.h has the
 * bookkeeping; this is where it meets mounts, images and the loop.
 *
 * Everything here lives on the loop thread; blocking work (waiting for an
 * entry's sync, hydrating, reading a remote's tip, scanning directories)
 * goes to thawd_work and comes back through callbacks that check
 * g->stopping.
 *
 * State directory: STATE/pool/NAME/
 *
 *   | path              | what                                                      |
 *   |-------------------|-----------------------------------------------------------|
 *   | config.json       | {"min","max","spare","trace_window_s"} from POST /v1/repos |
 *   | prefetch          | the prefetch table (pool/prefetch.c's text format)         |
 *   | eID-STAMP/        | one entry: thawd_ws_mount's DIR (upper/ mnt/ ctl.sock ...) |
 *   | eID-STAMP/entry.json | {"repo","image","created_ms"}: written once the entry is ready (a restart reattaches only these) |
 */
#ifndef THAW_SESSIOND_POOL_GLUE_H
#define THAW_SESSIOND_POOL_GLUE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pool.h"
#include "thawd.h"

#define PG_DEFAULT_TRACE_WINDOW_S 300u
#define PG_PREFETCH_BUDGET (64ull << 20) /* bytes hydrated per entry at most */
#define PG_PREFETCH_MIN_SESSIONS 1u
#define PG_SYNC_WAIT_MS 120000           /* an entry whose sync takes longer failed */
#define PG_TICK_MS 250

struct pg;
struct pg_repo;

struct pg_entry {
	struct pg_entry *next;             /* g->entries: every entry the glue owns */
	struct pg_repo *gr;
	uint64_t id;                       /* the pool's id */
	char dir[PATH_MAX];
	char image[41];
	struct thawd_ws *ws;               /* NULL while mounting */
	int64_t started_ms;
};

struct pg_repo {
	struct pg_repo *next;
	struct pg *g;
	char name[THAWD_NAME_MAX + 1];
	char dir[PATH_MAX];                /* STATE/pool/NAME */
	bool enabled;                      /* a pool (config.json with max > 0) */
	struct pool_config cfg;
	unsigned trace_window_s;
	struct pool *p;                    /* NULL when not enabled */
	/* the image cadence */
	struct pool_cadence cad;
	unsigned cad_interval_s;           /* the repo's build_interval_s it was set up with */
	bool tip_checking;
	bool cad_waiting;                  /* a cadence build runs: wait for r->builds to move */
	uint64_t builds_seen, failures_seen;
	char tip[41];
	/* prefetch */
	struct pool_prefetch *pf;          /* owned by a worker while pf_busy */
	bool pf_busy, pf_loaded;
	char **plan;                       /* the hydration list (paths) */
	size_t nplan;
	uint64_t plan_bytes;
	/* counters the pool does not keep */
	uint64_t rotations, hydrated_files, hydrated_bytes, traces;
	char image[41];                    /* what the pool was last told */
};

struct pg {
	struct thawd *d;
	uv_timer_t timer;
	char dir[PATH_MAX];                /* STATE/pool */
	struct pg_repo *repos;
	struct pg_entry *entries;
	json_t *traced;                    /* session ids whose trace was taken: {id: true} */
	unsigned inflight;                 /* callbacks still to come */
	bool stopping, timer_closed;
	int64_t last_gc_ms;
};

struct pg *pg_get(struct thawd *d);            /* NULL when the pool glue is not running */
struct pg_repo *pg_repo_find(struct pg *g, const char *name);
/* The repository's pool, made on first use (NULL: no pool, or the
 * repository is not ready). */
struct pool *pg_repo_pool(struct pg_repo *gr);
/* Runs one tick of one repository's pool now (after a claim or a warm). */
void pg_repo_kick(struct pg_repo *gr);
/* "Name <email>" or "email" or "Name": the key holds and claims match on
 * (the email when there is one). */
void pg_user_key(const char *user, char *out, size_t n);
json_t *pg_repo_json(struct pg_repo *gr, int64_t now_ms);

/* Cross-file internals of pool_glue.c, pool_cadence.c, pool_trace.c, pool_gc.c. */
bool pg__session_live(const struct thawd_session *s);
/* Frees g once it is stopping, its timer closed and no callback is pending. */
void pg__maybe_free(struct pg *g);
/* Unmounts ws (freed by the daemon), then removes dir (thread pool). */
void pg__destroy_ws(struct pg *g, struct thawd_ws *ws, const char *dir);
json_t *pg__read_json(const char *path);
void pg__cadence_tick(struct pg_repo *gr, struct thawd_repo *r, int64_t now_ms);
void pg__trace_tick(struct pg_repo *gr, int64_t now_ms);
void pg__gc_tick(struct pg *g, int64_t now_ms);
bool pg__dir_in_use(struct pg *g, const char *dir, bool upper_exists);

#endif
