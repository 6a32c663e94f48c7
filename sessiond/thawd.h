/*
 * thawd: the session daemon's internal header. Shared by the sessiond/ daemon files (not
 * http*.c / router.c, which only know http.h) and by pool glue
 * (sessiond/api_pools.c, pool/).
 *
 * Threading: every struct here is owned by the libuv loop thread. Blocking
 * work (thawfs spawn, control-socket requests, libgit2, snapshot library)
 * runs on libuv's thread pool (uv_queue_work); SQLite runs on one serial
 * database thread (thawd_db_submit), so writes stay in order and a replay
 * queued after an insert sees it.
 *
 * State directory layout: see docs/thawd.md.
 */
#ifndef THAW_SESSIOND_THAWD_H
#define THAW_SESSIOND_THAWD_H

#include <git2.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "http.h"

#define THAWD_VERSION "0.1.0"
#define THAWD_ID_LEN 18           /* "s-" + 16 hex */
#define THAWD_NAME_MAX 64         /* repository names */
#define THAWD_DEFAULT_TIMEOUT_S (4 * 3600)
#define THAWD_DEFAULT_IDLE_S (30 * 60)
#define THAWD_DEFAULT_MAX_SESSIONS 256
#define THAWD_MAX_FOLLOWERS 4096  /* event followers, all sessions together */
#define THAWD_MAX_PROMPTS 1024    /* queued prompts per session */

struct snap_store;
struct thawd;
struct thawd_session;
struct thawd_follower;
struct thawd_repo;

struct thawd_config {
	char state[PATH_MAX];          /* --state */
	const char *listen;            /* --listen 127.0.0.1:PORT or NULL */
	char thawfs[PATH_MAX];         /* --thawfs (absolute), default next to thawd then PATH */
	unsigned max_sessions;         /* --max-sessions */
	bool foreground, json_log;
	const char *log_path;          /* --log */
	/* image garbage collection (image_gc.c) */
	unsigned image_gc_interval_s;  /* --image-gc-interval: periodic pass; 0 = only after new images */
	int64_t snapshot_retention_s;  /* --snapshot-retention: snapshots of ended sessions */
	unsigned gc_grace_s;           /* --gc-grace: snap_store_gc's grace for unreferenced objects */
};

/* Histogram buckets (seconds) shared by the sync and freeze metrics. */
#define THAWD_HIST_N 9
extern const double thawd_hist_le[THAWD_HIST_N]; /* last is +Inf */
struct thawd_hist {
	uint64_t bucket[THAWD_HIST_N];
	uint64_t count;
	double sum;
};
void thawd_hist_add(struct thawd_hist *h, double seconds);

/* ---- a mounted workspace (one thawfs process) ---- */
/*
 * Paths of a workspace directory DIR (created by thawd_ws_mount):
 *   DIR/upper/  DIR/mnt/  DIR/ctl.sock  DIR/thawfs.log  DIR/thawfs.err
 */
struct thawd_ws {
	char repo[THAWD_NAME_MAX + 1]; /* repository name */
	char dir[PATH_MAX];
	char mount[PATH_MAX], upper[PATH_MAX], ctl[PATH_MAX], log[PATH_MAX];
	char layer[41];                /* topmost store layer of the stack, "" for none */
	char image[41];                /* the image layer under it, "" for none */
	char base_commit[41];          /* commit the git tree was mounted at */
	char synced_commit[41];        /* after the sync, "" until then */
	pid_t pid;                     /* the daemonized thawfs */
	int64_t started_ms;            /* wall clock when the mount was requested */
	double mounted_ms;             /* request -> thawfs returned (mount up) */
	double reads_ready_ms;         /* thawfs's own start -> mount up */
	double writes_ready_ms;        /* request -> sync done (gate open); 0 until then */
	bool writes_ready;
};

/* Mounts a workspace of repository `repo` (a registered repository name) in
 * `dir` (created; must not be mounted), asynchronously: spawns thawfs on the
 * thread pool with the stack [DIR/upper, layer_id's chain (or the repo's
 * newest image when layer_id is NULL; none if there is no image), git tree],
 * syncing against the repository's mirror and branch. done() is called on
 * the loop thread once the mount serves reads (err = 0, ws owned by the
 * callee from then on) or failed (err < 0, ws NULL, a message in the
 * daemon log). Writes become ready later: poll with thawd_ws_status or
 * watch ws->writes_ready after a session adopted it.
 * Returns 0 when started, -ENOENT for an unknown repository or layer. */
typedef void (*thawd_ws_done_fn)(void *arg, int err, struct thawd_ws *ws);
int thawd_ws_mount(struct thawd *d, const char *repo, const char *layer_id_or_null, const char *dir,
                   thawd_ws_done_fn done, void *arg);

/* The same with every option (sessions use it). git_author: "Name <email>"
 * or NULL; reuse_upper: remount after a crash (the upper is kept as is). */
struct thawd_ws_opts {
	const char *repo;
	const char *layer;             /* NULL: the repo's newest image; "" : none */
	const char *dir;
	const char *git_author;
	bool reuse_upper;
	const char *base_commit;       /* with reuse_upper: mount at this commit again */
};
int thawd_ws_mount_opts(struct thawd *d, const struct thawd_ws_opts *o, thawd_ws_done_fn done, void *arg);

/* Unmounts (fusermount3 -u, lazy as a last resort), waits for thawfs to
 * exit (SIGTERM after 10 s), then calls done on the loop thread and frees ws.
 * remove_upper: also delete DIR/upper once unmounted (DIR itself, its logs
 * and a session's session.db stay: the caller removes DIR if it wants).
 * done may be NULL; err is -EBUSY when the mount could not be detached. */
void thawd_ws_unmount(struct thawd *d, struct thawd_ws *ws, bool remove_upper,
                      void (*done)(void *arg, int err), void *arg);
void thawd_ws_free(struct thawd_ws *ws); /* memory only; accepts NULL */

/* Blocking, for thread-pool work: one control request ("status", "freeze",
 * ...) to a thawfs control socket, one JSON answer. 0, or -errno
 * (-ETIMEDOUT, -ECONNREFUSED, -EPROTO on a bad answer). *out is new. */
int thawd_ctl_request(const char *sock, const char *cmd, int timeout_ms, json_t **out);

/* ---- sessions ---- */
enum thawd_state {
	TS_STARTING, TS_READY, TS_WRITABLE, TS_FROZEN, TS_SYNC_FAILED, TS_STOPPING, TS_REMOVED, TS_FAILED,
	TS__N
};
const char *thawd_state_name(int st);
int thawd_state_parse(const char *s); /* -1 if unknown */

struct thawd_prompt {
	struct thawd_prompt *next;
	uint64_t id;
	char author_name[128], author_email[128];
	char *text;
	int64_t created_ms;
};

struct thawd_session {
	struct thawd_session *next;
	struct thawd *d;
	char id[THAWD_ID_LEN + 1];
	char repo[THAWD_NAME_MAX + 1];
	char branch[256];
	int state;
	char author_name[128], author_email[128];
	char from_snapshot[41], parent[THAWD_ID_LEN + 1];
	char pre_exit_snapshot[41];
	bool warm;                     /* claimed from a pool */
	struct thawd_ws *ws;           /* NULL while starting/remounting or once removed */
	int64_t created_ms, expires_at_ms, idle_expires_at_ms;
	unsigned timeout_s, idle_timeout_s;
	uint64_t seq;                  /* last event sequence number of this session */
	unsigned restarts;             /* thawfs remounts after a crash */
	bool remounting, busy;         /* busy: a snapshot/export/teardown runs */
	int refs;                      /* async work in flight holding the struct */
	char gate[24];
	json_t *participants;          /* array of {name,email,added_ms} */
	struct thawd_prompt *prompt_current, *prompt_queue;
	uint64_t prompt_next_id;
	unsigned prompts_queued;
	struct thawd_follower *followers;
	/* the control-socket subscription */
	uv_pipe_t *sub;
	char *sub_buf;
	size_t sub_len;
	int64_t last_liveness_ms;
	bool status_inflight;
	char *db_path;                 /* STATE/sessions/ID/session.db */
	sqlite3 *sdb;                  /* its handle: database thread only */
	double create_t0;              /* monotonic ms at POST /v1/sessions */
	int64_t last_status_ms;        /* last control status poll */
	uint64_t hydrations;           /* thawfs's counter at the last poll */
	bool dirty;                    /* the thaw.db row is behind (idle clock) */
	void *teardown_pending;        /* a teardown waiting for a remount (thawfs was dead) */
	uint64_t last_change_hash;     /* coalescing of repeated write events */
	int64_t last_change_ms;
	int64_t saved_ms;
};

/* ---- repositories ---- */
struct thawd_repo {
	struct thawd_repo *next;
	char name[THAWD_NAME_MAX + 1];
	char *url, *branch;
	json_t *setup;                 /* array of strings */
	unsigned build_interval_s;
	char mirror[PATH_MAX];         /* STATE/repos/NAME.git */
	char image[41];                /* newest image layer, "" for none */
	char image_commit[41];
	int64_t image_created_ms, created_ms;
	bool building, ready;
	int64_t last_attempt_ms;       /* last cadence build start */
	uint64_t build_failures, builds;
	char last_error[512];
};

/* ---- the daemon ---- */
struct thawd_db;                 /* the serial database thread (work.c) */

struct thawd {
	uv_loop_t *loop;
	struct thawd_config cfg;
	struct snap_store *store;      /* STATE/store */
	sqlite3 *db;                   /* thaw.db: only on the database thread after start */
	struct thawd_db *dbt;
	struct http_server *http;
	struct thawd_session *sessions;
	struct thawd_repo *repos;
	unsigned nsessions;            /* not removed/failed */
	unsigned nfollowers;
	uint64_t seq;                  /* daemon-wide event sequence */
	struct thawd_follower *followers; /* of /v1/events */
	uv_timer_t tick;               /* liveness, lifetimes, image cadence */
	uv_signal_t sigterm, sigint;
	bool stopping;
	int pidfd;                     /* the flock'd thawd.pid */
	/* metrics */
	struct thawd_hist sync_hist, freeze_hist;
	uint64_t hydrations_total;     /* summed over live workspaces' last status */
	uint64_t thawfs_restarts_total;
	/*
	 * The warm-pool hook: NULL when no pool is set up. Called on the loop
	 * thread at session creation (no layer requested); returns a mounted
	 * workspace of `repo` the session adopts (ownership passes to it), or
	 * NULL to fall back to a cold mount. user: "Name <email>".
	 */
	struct thawd_ws *(*pool_claim)(struct thawd *d, const char *repo, const char *user);
	void *pool;                    /* owned by the pool code */
	void (*pool_stop)(struct thawd *d); /* called at shutdown when set */
	/* Prometheus text appended to GET /metrics (malloc'd, freed by the
	 * caller), or NULL; set by the pool code when it has metrics. */
	char *(*pool_metrics)(struct thawd *d);
};

/* The pool glue (sessiond/pool_glue.c, written by "pool") defines these; weak
 * here so thawd links without it. thawd_pool_init is called once at start,
 * after state and sessions are loaded and before the loop runs; it may set
 * d->pool_claim, d->pool_stop and d->pool. The two handlers serve
 * GET /v1/pools and POST /v1/warm (routes.c lists them when linked). */
int thawd_pool_init(struct thawd *d) __attribute__((weak));
void api_pools_list(struct http_req *r, void *ctx) __attribute__((weak));
void api_warm(struct http_req *r, void *ctx) __attribute__((weak));
/* POST /v1/repos calls it (when linked) before creating the repository:
 * validates and records the pool fields of the body (pool_min, pool_max,
 * pool_spare, pool_trace_window_s). 0, or -EINVAL with a message for 400. */
int thawd_pool_repo_opts(struct thawd *d, const char *name, json_t *body, char *msg, size_t mlen)
	__attribute__((weak));

/* Logging (util.c): one line, with the level; printf format. Goes to the
 * file given to thawd_log_setup (NULL: stderr), as JSON with json. */
void thawd_log_setup(FILE *f, bool json);
void thawd_log(struct thawd *d, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int64_t thawd_now_ms(void);
double thawd_mono_ms(void);
bool thawd_id_valid(const char *id);     /* s- + 16 hex */
bool thawd_layer_id_valid(const char *id); /* 8..40 hex */
bool thawd_name_valid(const char *name); /* repository names */
int thawd_mkdirs(const char *path, mode_t mode);
int thawd_rm_rf(const char *path);

/* SQLite helpers (util.c), for thaw.db (state.c) and session.db
 * (session_db.c). fmt names the bound parameters, one letter each:
 * 's' const char * (NULL binds NULL; copied), 'i' int64_t, 'd' double.
 * open, exec and each return 0 or -EIO (sqlite3_errmsg(db) tells why). */
/* Opens or creates path (flags: SQLITE_OPEN_NOMUTEX or _FULLMUTEX added to
 * READWRITE|CREATE), 5 s busy timeout, runs schema; *out only on success,
 * err (may be NULL) gets a one-line reason on failure. */
int thawd__db_open(const char *path, int flags, const char *schema, sqlite3 **out, char *err, size_t errlen);
/* One statement that returns no rows. */
int thawd__db_exec(sqlite3 *db, const char *sql, const char *fmt, ...);
/* A query: row(st, arg) for each row; -EIO if it cannot run or stops early. */
int thawd__db_each(sqlite3 *db, const char *sql, void (*row)(sqlite3_stmt *st, void *arg), void *arg,
                   const char *fmt, ...);
/* max(seq) of the table events, 0 when empty or on error. */
uint64_t thawd__db_max_seq(sqlite3 *db);

/* ---- repos.c ---- */
struct thawd_repo *thawd_repo_find(struct thawd *d, const char *name);
json_t *thawd_repo_json(const struct thawd_repo *r);
/* Starts a build in the background: 0, -EBUSY when one runs. */
int thawd_repo_build_image(struct thawd *d, struct thawd_repo *r);
void thawd_repos_tick(struct thawd *d);     /* image cadence (build_interval_s) */
void thawd_repos_restore(struct thawd *d);  /* at start: newest images from the store */
void thawd__repo_from_row(struct thawd *d, json_t *row);
json_t *thawd__repo_row(const struct thawd_repo *r);
void thawd__repos_free(struct thawd *d);

/* ---- sessions (session.c) ---- */
struct thawd_session *thawd_session_find(struct thawd *d, const char *id);
json_t *thawd_session_json(const struct thawd_session *s);
void thawd_session_set_state(struct thawd_session *s, int st, const char *reason);
void thawd_session_touch(struct thawd_session *s); /* activity: resets the idle clock */
void thawd_session_save(struct thawd_session *s);  /* the row in thaw.db (async) */
/* Pre-exit snapshot, unmount, mark removed. done(arg, err) on the loop; err
 * -EALREADY (409) when already removed or stopping. */
int thawd_session_teardown(struct thawd_session *s, const char *reason, void (*done)(void *arg, int err),
                           void *arg);
void thawd_session_ref(struct thawd_session *s);
void thawd_session_unref(struct thawd_session *s);
int thawd_sessions_restore(struct thawd *d); /* at start: reattach or remount */
void thawd__session_from_row(struct thawd *d, json_t *row);
/* A new session in d->sessions (id NULL: a fresh random one), state starting. */
struct thawd_session *thawd__session_new(struct thawd *d, const char *id);
json_t *thawd_prompt_json(const struct thawd_prompt *p, const char *state);
struct snap_freeze_stats;
struct snap_freeze_opts;
/* snap_freeze, retried on transient control-socket failures; msg gets the
 * last error. Blocking (thread pool). */
int thawd__freeze(struct snap_store *store, const struct snap_freeze_opts *o, char out_id[41],
                  struct snap_freeze_stats *st, char *msg, size_t mlen);
/* Records a snapshot in session.db and emits the snapshot event. */
void thawd__snapshot_record(struct thawd_session *s, const char *id, int kind, const struct snap_freeze_stats *st,
                            const char *author);
void thawd_free_all(struct thawd *d);        /* at exit: memory only, mounts stay */
void thawd_sessions_tick(struct thawd *d);

/* ---- supervise.c ---- */
void thawd_sup_attach(struct thawd_session *s);    /* subscribe to ws->ctl events */
void thawd_sup_detach(struct thawd_session *s);
void thawd_sup_check(struct thawd_session *s);     /* liveness + status poll */
void thawd__session_remount(struct thawd_session *s, const char *reason);
/* The remount a teardown waited for is done (err < 0: it failed): the
 * pre-exit snapshot and the unmount follow. */
void thawd__teardown_resume(struct thawd_session *s, int err);
bool thawd__pid_alive(pid_t pid);                  /* not a zombie either */
bool thawd__is_mounted(const char *mnt);           /* listed in /proc/self/mounts */

/* ---- events.c ---- */
/* Records an event of session s (NULL: daemon-wide only): assigns seq and
 * time_ms, stores it (session.db and thaw.db), fans it out to followers.
 * Steals ev. */
void thawd_event(struct thawd *d, struct thawd_session *s, const char *type, json_t *ev);
/* Serves GET .../events?since=N (s NULL: /v1/events). */
void thawd_events_follow(struct thawd *d, struct thawd_session *s, struct http_req *req);
void thawd_events_close_session(struct thawd_session *s); /* ends its followers' streams */
void thawd_events_close_all(struct thawd *d);
unsigned thawd_events_followers(const struct thawd_session *s);

/* ---- state.c (thaw.db) and session_db.c (session.db): run on the db thread ---- */
int thawd_state_open(struct thawd *d);                  /* at start, on the main thread */
int thawd_state_load(struct thawd *d);                  /* repos + sessions, at start */
int thawd__state_save_session(sqlite3 *db, json_t *row); /* db thread */
int thawd__state_save_repo(sqlite3 *db, json_t *row);
int thawd__state_insert_event(sqlite3 *db, uint64_t seq, const char *session, const char *json);
int thawd__state_events_since(sqlite3 *db, uint64_t since, uint64_t upto, json_t *out_array);
uint64_t thawd__state_max_seq(sqlite3 *db);
int thawd__state_save_image(sqlite3 *db, json_t *row);  /* {id, repo, commit, status, error, created_ms, duration_ms} */
int thawd__state_images(sqlite3 *db, const char *repo, json_t *out_array);

int thawd__sdb_open(const char *path, sqlite3 **out);   /* creates the schema */
int thawd__sdb_insert_event(sqlite3 *db, uint64_t seq, const char *type, int64_t time_ms, const char *json);
int thawd__sdb_events_since(sqlite3 *db, uint64_t since, uint64_t upto, json_t *out_array);
uint64_t thawd__sdb_max_seq(sqlite3 *db);
int thawd__sdb_journal_add(sqlite3 *db, uint64_t seq, int64_t time_ms, const char *op, const char *path,
                           const char *name, const char *email, uint64_t prompt);
/* Journal rows in order: [{path, op, name, email}] */
int thawd__sdb_journal(sqlite3 *db, json_t *out_array);
int thawd__sdb_put(sqlite3 *db, const char *table, json_t *row); /* participants|prompts|snapshots */
int thawd__sdb_list(sqlite3 *db, const char *table, json_t *out_array);
/* Queues a thawd__sdb_put on the database thread (steals row). */
void thawd__sdb_put_async(struct thawd_session *s, const char *table, json_t *row);
/* Answers req with the rows of a session.db table (read on the db thread). */
void thawd__sdb_list_reply(struct thawd_session *s, struct http_req *req, const char *table);

/* ---- work.c ---- */
/* Runs work(arg) on the serial database thread, then done(arg) on the loop
 * (done may be NULL). The sqlite3 handle of thaw.db is d->db. */
void thawd_db_submit(struct thawd *d, void (*work)(struct thawd *d, void *arg), void (*done)(struct thawd *d, void *arg),
                     void *arg);
int thawd_db_start(struct thawd *d);
void thawd_db_stop(struct thawd *d);  /* drains the queue, joins */
/* uv_queue_work with a malloc'd request carrying arg. */
int thawd_work(struct thawd *d, void (*work)(void *arg), void (*done)(void *arg, int status), void *arg);

/* ---- image_gc.c: unused image layers, expired snapshots, their objects ---- */
#define THAWD_GC_DEFAULT_INTERVAL_S 600
#define THAWD_GC_DEFAULT_RETENTION_S (7 * 86400)
#define THAWD_GC_DEFAULT_GRACE_S 600
struct thawd_gc_stats {
	uint64_t runs, failures;        /* passes finished; passes that failed (store error) */
	uint64_t images_removed, snapshots_removed, busy; /* layers; layers refused with -EBUSY */
	uint64_t objects_removed, bytes_removed;
	uint64_t layers_kept;           /* at the last pass: layers of the keep set present in the store */
	int64_t last_run_ms;            /* wall clock of the last pass's end, 0: none yet */
	double last_duration_ms;
};
/* Called on every loop tick: starts a pass (on the thread pool) when one is
 * due (the interval passed, or a repository's current image changed). */
void thawd_image_gc_tick(struct thawd *d);
void thawd_image_gc_stats(struct thawd_gc_stats *out);
void thawd_image_gc_free(void); /* at exit: memory only */
/* The decision (image_gc_plan.c, pure). v: the store's layers, newest
 * first. roots: {id: true} of layers whose chains stay; the newest image of
 * each repository and every snapshot younger than retention_ms (at least
 * THAWD_GC_SNAPSHOT_FLOOR_S) are added to it. Sets keep on every layer of
 * the roots' chains and removable on the other layers of a repository named
 * in repos (an array of names); returns how many are kept. */
#define THAWD_GC_SNAPSHOT_FLOOR_S 5
struct thawd_gc_layer {
	char id[41], parent[41], repo[256];
	int kind;                       /* enum snap_kind */
	int64_t created_ms;
	bool keep, removable;
};
size_t thawd__gc_mark(struct thawd_gc_layer *v, size_t n, json_t *roots, json_t *repos, int64_t now_ms,
                      int64_t retention_ms);

/* ---- lifetime.c ---- */
void thawd_lifetime_check(struct thawd_session *s, int64_t now);

/* ---- http handlers (api_*.c), table in routes.c ---- */
/* Answers an error and returns from the (void) handler. */
#define THAWD_REPLY_ERR(req, ...)                   \
	do {                                         \
		http_reply_error((req), __VA_ARGS__); \
		return;                              \
	} while (0)
extern const struct http_route thawd_routes[];
extern const size_t thawd_nroutes;
/* Answers 409 "session ID is STATE" and returns from the handler. */
#define THAWD_REPLY_STATE_CONFLICT(req, s) \
	THAWD_REPLY_ERR((req), 409, "conflict", "session %s is %s", (s)->id, thawd_state_name((s)->state))
/* Resolves params[0] as a session id: 400 bad id, 404 unknown (answered). */
struct thawd_session *thawd_api_session(struct http_req *req, struct thawd *d);
/* thawd_api_session, then the JSON body into *body (borrowed from req):
 * NULL when either fails (answered). */
struct thawd_session *thawd_api_session_body(struct http_req *req, struct thawd *d, json_t **body);
/* The JSON body (borrowed from req) when its "repo" member is a valid
 * repository name, put in *repo (borrowed from the body); else NULL after
 * a 400 (answered). */
json_t *thawd_api_repo_body(struct http_req *req, const char **repo);
/* A session's participants (at most THAWD_MAX_PARTICIPANTS, keyed by email). */
#define THAWD_MAX_PARTICIPANTS 256
bool thawd__participant_known(const struct thawd_session *s, const char *email);
/* Appends {name, email, added_ms} to s->participants and stores it in
 * session.db; returns the new object (borrowed from the array) or NULL. */
json_t *thawd__participant_add(struct thawd_session *s, const char *name, const char *email);
/* Parses {name,email} (both non-empty strings, bounded): 0 or -EINVAL. */
int thawd_api_author(json_t *o, char *name, size_t nlen, char *email, size_t elen);

void api_health(struct http_req *r, void *ctx);
void api_version(struct http_req *r, void *ctx);
void api_metrics(struct http_req *r, void *ctx);
void api_repos_create(struct http_req *r, void *ctx);
void api_repos_list(struct http_req *r, void *ctx);
void api_repos_get(struct http_req *r, void *ctx);
void api_images_build(struct http_req *r, void *ctx);
void api_images_list(struct http_req *r, void *ctx);
void api_sessions_create(struct http_req *r, void *ctx);
void api_sessions_list(struct http_req *r, void *ctx);
void api_sessions_get(struct http_req *r, void *ctx);
void api_sessions_delete(struct http_req *r, void *ctx);
void api_sessions_timeout(struct http_req *r, void *ctx);
void api_sessions_refresh(struct http_req *r, void *ctx);
void api_sessions_participants(struct http_req *r, void *ctx);
void api_snapshots_create(struct http_req *r, void *ctx);
void api_snapshots_list(struct http_req *r, void *ctx);
void api_prompts_create(struct http_req *r, void *ctx);
void api_prompts_done(struct http_req *r, void *ctx);
void api_sessions_stop(struct http_req *r, void *ctx);
void api_sessions_export(struct http_req *r, void *ctx);
void api_events_session(struct http_req *r, void *ctx);
void api_events_all(struct http_req *r, void *ctx);

#endif
