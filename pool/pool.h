/*
 * pool: warm pools of pre-mounted workspaces, the image cadence and prefetch
 * traces. The contract between pool/ and its owner (thawd's pool_glue.c, the
 * simulator bench/pool_sim.c).
 *
 * Nothing here does I/O, keeps a clock or a thread: the owner passes the time
 * in (milliseconds, any monotonic origin) and performs the actions the pool
 * asks for, then reports what happened. So every decision is deterministic
 * and unit-testable. Not thread-safe: one owner drives one pool (thawd does
 * it on its loop thread).
 *
 * Vocabulary (docs/pool.md):
 *   entry     one workspace the pool made (or is making) from an image
 *   creating  asked for (POOL_ACT_CREATE), not yet reported ready or failed
 *   ready     mounted, synced, gate open, waiting in the free list
 *   stale     ready, but from an image older than the pool's current one
 *   held      ready and reserved for one user by pool_warm (until held_until)
 *   claimed   handed to a session: the pool forgets the entry
 *   in use    sessions of the repository that are running (warm or cold)
 *
 * Errors: functions that can fail return 0 or a negative errno.
 */
#ifndef THAW_POOL_H
#define THAW_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_IMAGE_MAX 64   /* image ids are 40 hex digits; "" = no image (bare commit) */
#define POOL_USER_MAX 128   /* user names longer than this are -ENAMETOOLONG */
#define POOL_REFILL_SAMPLES 128

/* ---- configuration (policy.c) ---- */
struct pool_config {
	unsigned min;               /* entries kept even with nobody around */
	unsigned max;               /* workspaces (claimed + idle) the pool makes at most */
	unsigned spare;             /* idle entries kept above the sessions in use */
	int64_t cooldown_ms;        /* shrink only after desired stayed lower this long */
	unsigned max_creating;      /* K: creations in flight at once */
	unsigned refill_per_min;    /* R: creations started per minute (token bucket rate) */
	unsigned refill_burst;      /* bucket capacity: creations that may start back to back */
	int64_t hold_ms;            /* how long pool_warm reserves an entry for its user */
	int64_t fail_backoff_ms;    /* first pause after a failed creation (doubles, capped) */
	int64_t fail_backoff_max_ms;
};

/* The defaults chosen from bench/pool_sim.c (docs/bench-pool.md). */
#define POOL_DEFAULT_MIN 1u
#define POOL_DEFAULT_MAX 128u
#define POOL_DEFAULT_SPARE 2u
#define POOL_DEFAULT_COOLDOWN_MS (5 * 60 * 1000)
#define POOL_DEFAULT_MAX_CREATING 2u
#define POOL_DEFAULT_REFILL_PER_MIN 30u
#define POOL_DEFAULT_REFILL_BURST 4u
#define POOL_DEFAULT_HOLD_MS (60 * 1000)
#define POOL_DEFAULT_FAIL_BACKOFF_MS 1000
#define POOL_DEFAULT_FAIL_BACKOFF_MAX_MS (60 * 1000)
#define POOL_LIMIT_MAX 1024u   /* no pool grows beyond this, whatever max says */

void pool_config_default(struct pool_config *out);
/* -EINVAL when min > max, max > POOL_LIMIT_MAX, max_creating or refill_per_min
 * or refill_burst is 0, or a duration is negative. */
int pool_config_check(const struct pool_config *c);

/* desired = clamp(in_use + spare, min, max). Pure. */
unsigned pool_desired(const struct pool_config *c, unsigned in_use);

/* Grow at once, shrink after a cool-down: the target the pool works to.
 * pool_sizer_update takes the desired size now and returns the target:
 * desired when it is >= the current target; else the current target until
 * desired has stayed below it for cooldown_ms, then desired. */
struct pool_sizer {
	unsigned target;
	bool lowering;              /* desired has been below target since lower_since_ms */
	int64_t lower_since_ms;
};
void pool_sizer_init(struct pool_sizer *s, unsigned target);
unsigned pool_sizer_update(struct pool_sizer *s, const struct pool_config *c, unsigned desired, int64_t now_ms);

/* Token bucket: rate_per_min tokens a minute, at most burst stored. */
struct pool_bucket {
	double tokens;
	int64_t last_ms;
	bool started;
};
void pool_bucket_init(struct pool_bucket *b, unsigned burst, int64_t now_ms);
/* Takes one token if there is one (refilling for the time elapsed first). */
bool pool_bucket_take(struct pool_bucket *b, unsigned rate_per_min, unsigned burst, int64_t now_ms);
/* Milliseconds until a token is available (0: now). */
int64_t pool_bucket_wait_ms(const struct pool_bucket *b, unsigned rate_per_min, unsigned burst, int64_t now_ms);

/* Percentile (0..100) of n samples, nearest rank; 0 when n == 0. Sorts a copy. */
double pool_percentile(const double *samples, size_t n, double pct);

/* ---- one repository's pool (pool.c) ---- */
struct pool;

enum pool_action_kind {
	POOL_ACT_CREATE,   /* make entry `entry` from image `image`, then pool_entry_ready/failed */
	POOL_ACT_DESTROY,  /* tear entry `entry` down; the pool has already forgotten it */
};
struct pool_action {
	int kind;                    /* enum pool_action_kind */
	uint64_t entry;              /* entry id: > 0, unique in this pool, never reused */
	char image[POOL_IMAGE_MAX];  /* CREATE: the image to mount ("" = the bare commit) */
	void *data;                  /* DESTROY: what the owner attached with pool_entry_ready */
};

struct pool_stats {
	unsigned min, max, spare;
	unsigned desired;            /* clamp(in_use + holds + spare, min, max), before cool-down */
	unsigned target;             /* what the pool works to (after cool-down) */
	unsigned ready;              /* idle entries of the current image, not held */
	unsigned stale;              /* idle entries of older images (being drained) */
	unsigned creating;
	unsigned held;               /* ready entries reserved for a user */
	unsigned pending_holds;      /* users waiting for an entry being made */
	unsigned in_use;             /* sessions running (warm and cold) */
	uint64_t claims;             /* every pool_claim */
	uint64_t claims_warm;        /* answered with an entry */
	uint64_t cold_fallbacks;     /* answered empty: the owner mounted cold */
	uint64_t claims_held;        /* warm claims served by the user's own hold */
	uint64_t holds_stolen;       /* held entries given to another user (nothing else ready) */
	uint64_t holds_expired;
	uint64_t warms;
	uint64_t created, failed, destroyed, rotated;
	double refill_p50_ms, refill_p99_ms; /* creation times of the last POOL_REFILL_SAMPLES */
	char image[POOL_IMAGE_MAX];
	int64_t image_since_ms;      /* when the current image was set */
	int64_t backoff_until_ms;    /* no creation before this (after failures) */
};

/* A pool for one repository, empty, with image "" until pool_set_image. The
 * name is copied (for the owner's logs). */
int pool_new(struct pool **out, const char *repo, const struct pool_config *c);
/* Frees the pool's bookkeeping only: the owner destroys its entries itself
 * (pool_foreach_entry lists them first). Accepts NULL. */
void pool_free(struct pool *p);
const char *pool_repo(const struct pool *p);
/* New sizes apply at the next pool_tick (a lower target still waits for the
 * cool-down). -EINVAL as pool_config_check. */
int pool_set_config(struct pool *p, const struct pool_config *c);
const struct pool_config *pool_get_config(const struct pool *p);

/* A new image landed: idle entries of the older one become stale; they stay
 * claimable (behind fresh entries) until fresh ones replace them one for one,
 * so a rotation never empties the pool. Claimed entries are not the pool's:
 * untouched. Setting the current image again is a no-op. */
int pool_set_image(struct pool *p, const char *image, int64_t now_ms);

/* Decides what to do now: fills out[0..cap) and returns how many actions.
 * Actions that do not fit are decided again at the next tick (nothing is
 * lost). Expires holds, applies sizing and the rate limit, drains stale
 * entries. Call it after every event and on a timer (pool_next_tick_ms). */
size_t pool_tick(struct pool *p, int64_t now_ms, struct pool_action *out, size_t cap);
/* When the next tick may do something without any event (a hold expiring, a
 * token arriving, a cool-down or backoff ending); INT64_MAX: never. */
int64_t pool_next_tick_ms(const struct pool *p, int64_t now_ms);

/* Events from the owner. data is the owner's handle of the workspace, given
 * back in DESTROY actions, claims and pool_foreach_entry. -ENOENT for an
 * unknown or not-creating entry. */
int pool_entry_ready(struct pool *p, uint64_t entry, void *data, int64_t now_ms);
int pool_entry_failed(struct pool *p, uint64_t entry, int64_t now_ms);
/* An idle entry broke (its mount died): the pool forgets it. -ENOENT if it
 * is not idle in this pool. */
int pool_entry_lost(struct pool *p, uint64_t entry, int64_t now_ms);
/* Adopts an entry that already exists (a restart reattaching its mounts):
 * it is ready, of image `image`. Returns its new id in *out. */
int pool_entry_adopt(struct pool *p, const char *image, void *data, int64_t now_ms, uint64_t *out);

/* A session of this repository starts. Takes, in order: the user's own held
 * entry; the oldest ready entry of the current image; the oldest stale one;
 * a held entry of another user (whose hold then waits for the next entry
 * made); else nothing. All O(1) but the hold lookup (O(number of holds)).
 * Either way the session counts as in use until pool_session_end.
 * Returns 0 with *out_entry and *out_data (the owner's handle), or -EAGAIN:
 * the pool is empty (counted as a cold fallback: the owner mounts cold).
 * user may be NULL. */
int pool_claim(struct pool *p, const char *user, int64_t now_ms, uint64_t *out_entry, void **out_data);
/* A session of this repository ended (warm or cold). */
void pool_session_end(struct pool *p, int64_t now_ms);
/* Sessions already running (restart): sets in_use. */
void pool_set_in_use(struct pool *p, unsigned in_use);

/* The user started typing. Reserves a ready entry for user until
 * now + hold_ms (extending an existing hold), or, when none is ready,
 * promises the user the next entry that becomes ready (and counts the hold
 * as demand, so the next tick creates one if the sizes allow it).
 * *out_entry: the held entry, 0 while it is being made. -EINVAL: empty user;
 * -ENAMETOOLONG: user too long; -ENOSPC: already POOL_LIMIT_MAX holds. */
int pool_warm(struct pool *p, const char *user, int64_t now_ms, uint64_t *out_entry, int64_t *out_held_until);

void pool_get_stats(const struct pool *p, int64_t now_ms, struct pool_stats *out);

/* Every entry the pool holds (idle and creating; creating have data NULL). */
enum pool_entry_state { POOL_E_CREATING, POOL_E_READY, POOL_E_STALE, POOL_E_HELD };
typedef void (*pool_entry_fn)(void *arg, uint64_t entry, int state, const char *image, void *data);
void pool_foreach_entry(const struct pool *p, pool_entry_fn fn, void *arg);
const char *pool_entry_state_name(int state);

/* ---- prefetch traces (prefetch.c) ---- */
/* Per repository: which files the first minutes of past sessions read (or
 * changed), counted over sessions with an exponential decay, so the plan
 * follows the repository as it changes. */
#define POOL_PREFETCH_MAX_PATHS 4096u
#define POOL_PREFETCH_PATH_MAX 1024u
struct pool_prefetch;
int pool_prefetch_new(struct pool_prefetch **out);
void pool_prefetch_free(struct pool_prefetch *pf); /* accepts NULL */
/* Records one session's trace: n distinct paths with their sizes (duplicates
 * in the list count once). Paths are relative, without "..", tab or newline
 * (-EINVAL, nothing recorded). Every POOL_PREFETCH_DECAY_SESSIONS sessions
 * the counts halve; over POOL_PREFETCH_MAX_PATHS the least counted go. */
#define POOL_PREFETCH_DECAY_SESSIONS 64u
int pool_prefetch_record(struct pool_prefetch *pf, const char *const *paths, const uint64_t *sizes, size_t n);
/* The hydration list: the most counted paths first (ties: path order), the
 * sum of sizes at most budget_bytes (a path that does not fit is skipped,
 * smaller ones after it may fit), only paths seen in at least min_sessions
 * sessions. *out is a malloc'd array of malloc'd strings (pool_strv_free). */
int pool_prefetch_plan(const struct pool_prefetch *pf, uint64_t budget_bytes, unsigned min_sessions,
                       char ***out, size_t *out_n, uint64_t *out_bytes);
void pool_strv_free(char **v, size_t n);
uint64_t pool_prefetch_sessions(const struct pool_prefetch *pf);
size_t pool_prefetch_paths(const struct pool_prefetch *pf);
/* Saved as text (docs/pool.md): "thaw-prefetch 1\t<sessions>\n", then
 * "<count>\t<size>\t<path>\n" per path; written to path.tmp, fsync'd,
 * renamed. Loading a missing file is -ENOENT; a malformed one -EINVAL (the
 * trace in memory is left as it was). */
int pool_prefetch_save(const struct pool_prefetch *pf, const char *path);
int pool_prefetch_load(struct pool_prefetch *pf, const char *path);

/* One session's trace while it is recorded: the distinct paths touched in
 * the first window_ms after start, at most POOL_PREFETCH_MAX_PATHS. */
struct pool_trace;
int pool_trace_new(struct pool_trace **out, int64_t start_ms, int64_t window_ms);
void pool_trace_free(struct pool_trace *t); /* accepts NULL */
/* 1 if recorded, 0 if ignored (after the window, a duplicate, full), or
 * -EINVAL for a bad path. */
int pool_trace_add(struct pool_trace *t, const char *path, uint64_t size, int64_t now_ms);
bool pool_trace_done(const struct pool_trace *t, int64_t now_ms);
/* Moves the trace into pf (the trace is left empty). */
int pool_trace_commit(struct pool_trace *t, struct pool_prefetch *pf);

/* ---- image cadence (cadence.c) ---- */
/* Rebuild a repository's image every interval, only when the base branch
 * moved; a failed build keeps the last good image and retries with backoff. */
#define POOL_CADENCE_DEFAULT_INTERVAL_MS (30 * 60 * 1000)
#define POOL_CADENCE_BACKOFF_MS (60 * 1000)
struct pool_cadence {
	int64_t interval_ms;
	int64_t next_due_ms;         /* the next check */
	bool building;
	bool forced;                 /* pool_cadence_force: build at the next check even if not moved */
	char image[POOL_IMAGE_MAX];  /* the last good image ("" none) */
	char image_commit[41];       /* the commit it was synced to */
	int64_t image_created_ms;    /* when the last good image was made (same clock as now) */
	int64_t last_check_ms, last_build_ms, last_failure_ms;
	uint64_t builds, failures, skips;
	unsigned consecutive_failures;
	char last_error[256];
};
enum pool_cadence_decision {
	POOL_CAD_WAIT,     /* not due (or a build is running) */
	POOL_CAD_SKIP,     /* due, but the branch did not move: checked again after interval */
	POOL_CAD_BUILD,    /* build now; report with pool_cadence_done */
};
/* interval_ms <= 0: the default. The first check is due at once. */
void pool_cadence_init(struct pool_cadence *c, int64_t interval_ms, int64_t now_ms);
/* Restores what is known of the current image (restart). */
void pool_cadence_set_image(struct pool_cadence *c, const char *image, const char *commit, int64_t created_ms);
/* Due now? Pure: does not change c. */
bool pool_cadence_due(const struct pool_cadence *c, int64_t now_ms);
/* tip: the base branch's tip commit now (40 hex), or NULL when it could not
 * be read (then a build is tried: the build itself fetches). No image yet:
 * always BUILD. A BUILD decision marks c building. */
int pool_cadence_decide(struct pool_cadence *c, const char *tip, int64_t now_ms);
/* The build ended: ok with the new image and its commit, or a failure with
 * a message. After n consecutive failures the next try is after
 * min(BACKOFF << (n-1), 4 * interval). */
void pool_cadence_done(struct pool_cadence *c, bool ok, const char *image, const char *commit,
                       const char *error, int64_t now_ms);
/* Build at the next decision, even if the branch did not move (an API call). */
void pool_cadence_force(struct pool_cadence *c, int64_t now_ms);
/* Image age in ms (-1: no image). */
int64_t pool_cadence_image_age_ms(const struct pool_cadence *c, int64_t now_ms);
const char *pool_cadence_decision_name(int d);

#endif
