/*
 * Background sync: fetch the base branch, swap the git tree layer to its tip,
 * and hold every mutation at the gate until the swap has landed.
 *
 *   mount ──> gate closed ("syncing") ──> fetch ──> diff old..new tree
 *        ──> swap (swap_lock held for writing: directories whose sources
 *            changed are re-merged in place, paths keep their inodes)
 *        ──> kernel caches dropped for exactly the changed entries
 *        ──> .git follows (HEAD/branch at the new tip, index re-synthesized)
 *        ──> gate opens: parked mutations run, in order, on the new tree.
 *
 * A failing fetch is retried with exponential backoff (0.25 s doubling to
 * 10 s). When --sync-timeout passes without success, --on-sync-failure
 * decides: "open" lets mutations proceed on the stale base (state
 * sync-failed), "readonly" answers them EROFS (state readonly). Retries go
 * on in the background; a later success swaps and opens the gate.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void progress(void *arg, unsigned received, unsigned total, size_t bytes)
{
	struct fs *fs = arg;
	static _Thread_local int64_t last;
	(void)0;
	int64_t t = now_ms();
	if (t - last < 200 && received != total)
		return;
	last = t;
	fs__event(fs, json_pack("{s:s,s:s,s:i,s:i,s:I}", "event", "sync", "phase", "fetch", "received", (int)received,
	                        "total", (int)total, "bytes", (json_int_t)bytes));
}

static int depth(const char *p)
{
	if (!*p)
		return 0;
	int d = 1;
	for (; *p; p++)
		d += *p == '/';
	return d;
}

static int cmp_depth(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int dx = depth(x), dy = depth(y);
	return dx != dy ? dx - dy : strcmp(x, y);
}

/* The loaded node at path, or NULL when a component is not loaded. */
static struct fs_node *find_loaded(struct fs *fs, const char *path)
{
	struct fs_node *cur = fs->root;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		struct fs_dir *d = atomic_load(&cur->dir);
		struct fs_dirent *e = d ? fs__dir_lookup(d, comp) : NULL;
		if (!e)
			return NULL;
		cur = e->node;
	}
	return cur;
}

/* Directories whose listing may change: every ancestor of a changed path. */
static int touched_dirs(char **paths, size_t n, char ***out, size_t *out_n)
{
	size_t cap = n * 2 + 1, k = 0;
	char **v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[k++] = strdup("");
	for (size_t i = 0; i < n; i++) {
		for (char *s = strchr(paths[i], '/'); s; s = strchr(s + 1, '/')) {
			if (k == cap) {
				cap *= 2;
				char **nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto fail;
				v = nv;
			}
			v[k++] = strndup(paths[i], (size_t)(s - paths[i]));
		}
	}
	qsort(v, k, sizeof(*v), cmp_depth);
	size_t w = 0;
	for (size_t i = 0; i < k; i++) {
		if (w && !strcmp(v[w - 1], v[i]))
			free(v[i]);
		else
			v[w++] = v[i];
	}
	*out = v;
	*out_n = w;
	return 0;
fail:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

/* Swaps the git tree layer to commit tip. */
static int swap(struct fs *fs, const git_oid *tip, size_t *out_changed, struct fs_inval *inval)
{
	git_oid new_tree, old_tree;
	int64_t ctime;
	char **paths = NULL, **dirs = NULL;
	size_t np = 0, nd = 0;
	int r;

	if ((r = fs_git_commit_info(fs->git, tip, &new_tree, &ctime)) < 0)
		return r;
	git_oid_cpy(&old_tree, fs_git_tree_id(fs->git));
	if ((r = fs_git_diff_paths(fs->git, &old_tree, &new_tree, &paths, &np)) < 0)
		return r;
	if ((r = touched_dirs(paths, np, &dirs, &nd)) < 0)
		goto done;
	int64_t mtime = time(NULL) - 1;

	pthread_rwlock_wrlock(&fs->swap_lock);
	atomic_fetch_add(&fs->tree_gen, 1);
	fs_git_set_current(fs->git, tip, &new_tree, ctime);
	git_oid_cpy(&fs->root->oid, &new_tree);
	for (size_t i = 0; i < nd && r == 0; i++) {
		struct fs_node *n = find_loaded(fs, dirs[i]);
		if (n && S_ISDIR(n->mode))
			r = fs__dir_remerge(fs, n, mtime, inval);
	}
	pthread_rwlock_unlock(&fs->swap_lock);
	*out_changed = np;
done:
	for (size_t i = 0; i < np; i++)
		free(paths[i]);
	free(paths);
	for (size_t i = 0; i < nd; i++)
		free(dirs[i]);
	free(dirs);
	return r;
}

/* One sync: fetch, and swap when the tip moved. */
static int sync_once(struct fs *fs, char *err, size_t errlen, struct fs_inval *inval)
{
	git_oid tip;
	struct timespec t0;
	size_t changed = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fs__event(fs, json_pack("{s:s,s:s,s:s}", "event", "sync", "phase", "start", "remote", fs->opt.remote));
	int r = fs_git_fetch(fs->git, fs->opt.remote, fs->opt.branch, progress, fs, &tip, err, errlen);
	if (r < 0)
		return r;
	double fetch_ms = fs_ms_since(&t0);
	if (!git_oid_equal(&tip, fs_git_commit_id(fs->git))) {
		struct timespec t1;
		/* The swap runs with mutations held, even if the failure policy
		 * opened the gate while the fetch was slow. */
		fs__gate_close(fs, false);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((r = swap(fs, &tip, &changed, inval)) < 0) {
			snprintf(err, errlen, "swap to the new tree failed: %s", strerror(-r));
			return r;
		}
		fs->sync.swap_ms = fs_ms_since(&t1);
		if ((r = fs__dotgit_update(fs, inval)) < 0) {
			snprintf(err, errlen, "updating .git failed: %s", strerror(-r));
			return r;
		}
	}
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), &tip);
	pthread_mutex_lock(&fs->sync.lock);
	git_oid_cpy(&fs->sync.synced, &tip);
	fs->sync.has_synced = true;
	fs->sync.duration_ms = fs_ms_since(&t0);
	fs->sync.fetch_ms = fetch_ms;
	fs->sync.changed = changed;
	fs->sync.last_error[0] = '\0';
	pthread_mutex_unlock(&fs->sync.lock);
	fs__event(fs, json_pack("{s:s,s:s,s:s,s:I,s:f,s:f}", "event", "sync", "phase", "done", "commit", hex,
	                        "changed", (json_int_t)changed, "duration_ms", fs->sync.duration_ms, "swap_ms",
	                        fs->sync.swap_ms));
	return 0;
}

/* Applies --on-sync-failure once per sync request (the sync thread after a
 * failed attempt, or the watchdog while a fetch hangs). */
static void apply_policy(struct fs *fs)
{
	pthread_mutex_lock(&fs->sync.lock);
	if (fs->sync.decided) {
		pthread_mutex_unlock(&fs->sync.lock);
		return;
	}
	fs->sync.decided = true;
	bool ro = fs->opt.on_sync_failure_readonly;
	if (!fs->sync.writes_ready_ms && !ro)
		fs->sync.writes_ready_ms = now_ms();
	pthread_mutex_unlock(&fs->sync.lock);
	fs__gate_set_state(fs, ro ? FS_GATE_READONLY : FS_GATE_SYNC_FAILED);
	fs__gate_open(fs, false);
	fs__event(fs, json_pack("{s:s,s:s,s:s}", "event", "sync", "phase", "policy", "state", ro ? "readonly" : "sync-failed"));
}

/* The deadline holds even while a fetch hangs (libgit2 1.5 has no network
 * timeouts): a watchdog applies the policy when it passes. */
static void *watchdog(void *arg)
{
	struct fs *fs = arg;
	pthread_mutex_lock(&fs->sync.lock);
	while (!fs->sync.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&fs->sync.cond, &fs->sync.lock, &ts);
		bool due = fs->sync.running && !fs->sync.decided && fs->sync.deadline_ms && now_ms() >= fs->sync.deadline_ms;
		if (due) {
			pthread_mutex_unlock(&fs->sync.lock);
			apply_policy(fs);
			pthread_mutex_lock(&fs->sync.lock);
		}
	}
	pthread_mutex_unlock(&fs->sync.lock);
	return NULL;
}

static bool wait_or_stop(struct fs *fs, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fs->sync.lock);
	while (!fs->sync.stop && !fs->sync.requested) {
		if (pthread_cond_timedwait(&fs->sync.cond, &fs->sync.lock, &ts) == ETIMEDOUT)
			break;
	}
	bool stop = fs->sync.stop;
	pthread_mutex_unlock(&fs->sync.lock);
	return stop;
}

static void *sync_thread(void *arg)
{
	struct fs *fs = arg;
	char err[512];
	for (;;) {
		pthread_mutex_lock(&fs->sync.lock);
		while (!fs->sync.requested && !fs->sync.stop)
			pthread_cond_wait(&fs->sync.cond, &fs->sync.lock);
		if (fs->sync.stop) {
			pthread_mutex_unlock(&fs->sync.lock);
			return NULL;
		}
		fs->sync.requested = false;
		fs->sync.running = true;
		fs->sync.decided = false;
		fs->sync.deadline_ms = now_ms() + (int64_t)fs->opt.sync_timeout * 1000;
		pthread_mutex_unlock(&fs->sync.lock);

		/* Mutations wait for the sync (the first one closed the gate
		 * before the mount). */
		fs__gate_close(fs, false);
		int64_t deadline = fs->sync.deadline_ms;
		int64_t backoff = 250;
		for (;;) {
			struct fs_inval inval = {0};
			int r = sync_once(fs, err, sizeof(err), &inval);
			if (r == 0) {
				fs__gate_set_state(fs, FS_GATE_OPEN);
				fs__gate_open(fs, false);
				/* The kernel's caches are dropped only after the parked
				 * mutations ran: a parked write holds its page locked
				 * and a parked create its directory, and dropping those
				 * from the kernel would wait for them forever. */
				fs__gate_wait_drained(fs);
				fs__inval_send(fs, &inval);
				pthread_mutex_lock(&fs->sync.lock);
				if (!fs->sync.writes_ready_ms)
					fs->sync.writes_ready_ms = now_ms();
				pthread_mutex_unlock(&fs->sync.lock);
				break;
			}
			fs__inval_send(fs, &inval); /* a partial swap: drop what it changed */
			pthread_mutex_lock(&fs->sync.lock);
			snprintf(fs->sync.last_error, sizeof(fs->sync.last_error), "%s", err);
			fs->sync.failures++;
			pthread_mutex_unlock(&fs->sync.lock);
			fs_log("thawfs: sync: %s", err);
			fs__event(fs, json_pack("{s:s,s:s,s:s}", "event", "sync", "phase", "error", "error", err));
			if (now_ms() >= deadline)
				apply_policy(fs); /* open on the stale base, or read-only */
			if (wait_or_stop(fs, backoff))
				goto out;
			backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
		}
		pthread_mutex_lock(&fs->sync.lock);
		fs->sync.running = false;
		pthread_cond_broadcast(&fs->sync.cond);
		pthread_mutex_unlock(&fs->sync.lock);
	}
out:
	fs__gate_open(fs, false);
	return NULL;
}

int fs__sync_init(struct fs *fs)
{
	pthread_mutex_init(&fs->sync.lock, NULL);
	pthread_cond_init(&fs->sync.cond, NULL);
	if (fs->opt.remote) {
		/* Writes wait for the first sync from the very first request. */
		fs->gate.syncing = true;
		fs->gate.state = FS_GATE_OPEN;
		fs->sync.requested = true;
	}
	return 0;
}

int fs__sync_start(struct fs *fs)
{
	if (!fs->opt.remote) {
		fs->sync.writes_ready_ms = now_ms();
		return 0;
	}
	int r = pthread_create(&fs->sync.thread, NULL, sync_thread, fs);
	if (r == 0)
		fs->sync.started = true;
	if (r == 0 && (r = pthread_create(&fs->sync.watchdog, NULL, watchdog, fs)) == 0)
		fs->sync.watchdog_started = true;
	return -r;
}

int fs__sync_request(struct fs *fs)
{
	if (!fs->opt.remote)
		return -ENOTSUP;
	pthread_mutex_lock(&fs->sync.lock);
	fs->sync.requested = true;
	pthread_cond_broadcast(&fs->sync.cond);
	pthread_mutex_unlock(&fs->sync.lock);
	return 0;
}

void fs__sync_stop(struct fs *fs)
{
	if (fs->sync.started) {
		pthread_mutex_lock(&fs->sync.lock);
		fs->sync.stop = true;
		pthread_cond_broadcast(&fs->sync.cond);
		pthread_mutex_unlock(&fs->sync.lock);
		pthread_join(fs->sync.thread, NULL);
		if (fs->sync.watchdog_started)
			pthread_join(fs->sync.watchdog, NULL);
	}
	pthread_mutex_destroy(&fs->sync.lock);
	pthread_cond_destroy(&fs->sync.cond);
}

json_t *fs__sync_json(struct fs *fs)
{
	char synced[GIT_OID_HEXSZ + 1] = "", mounted[GIT_OID_HEXSZ + 1];
	git_oid_tostr(mounted, sizeof(mounted), &fs->mounted_commit);
	pthread_mutex_lock(&fs->sync.lock);
	if (fs->sync.has_synced)
		git_oid_tostr(synced, sizeof(synced), &fs->sync.synced);
	json_t *j = json_pack("{s:s,s:s?,s:s?,s:s?,s:b,s:f,s:f,s:f,s:I,s:I,s:s?,s:I,s:I}", "mounted_commit", mounted,
	                      "synced_commit", synced[0] ? synced : NULL, "remote", fs->opt.remote, "branch",
	                      fs->opt.branch, "running", fs->sync.running, "duration_ms", fs->sync.duration_ms,
	                      "fetch_ms", fs->sync.fetch_ms, "swap_ms", fs->sync.swap_ms, "changed",
	                      (json_int_t)fs->sync.changed, "failures", (json_int_t)fs->sync.failures, "last_error",
	                      fs->sync.last_error[0] ? fs->sync.last_error : NULL, "reads_ready",
	                      (json_int_t)fs->sync.reads_ready_ms, "writes_ready", (json_int_t)fs->sync.writes_ready_ms);
	pthread_mutex_unlock(&fs->sync.lock);
	return j;
}
