/*
 * pool_glue: warm pools inside thawd. pool/pool.c decides (sizes, rate
 * limit, rotation, holds); this file performs its actions with the daemon's
 * workspace API and feeds it the events:
 *
 *   CREATE   thawd_ws_mount(repo, image, STATE/pool/NAME/eID-STAMP), then on
 *            the thread pool: wait until the sync is done (gate open), read
 *            the prefetch list through the mount (hydrates those blobs into
 *            the shared cache and the kernel's page cache), write entry.json
 *            -> pool_entry_ready; any failure -> pool_entry_failed (backoff).
 *   DESTROY  thawd_ws_unmount + remove the directory.
 *   claim    d->pool_claim (POST /v1/sessions): pool_claim, then the
 *            session's git identity goes into the mount's .git/config (the
 *            entry was mounted without one); NULL = cold fallback (counted).
 *
 * A 250 ms timer ticks every pool, sets its in-use count from the live
 * sessions of the repository, rotates it when the repository's newest image
 * changed, runs the image cadence (pool/cadence.c: a build only when the
 * remote's branch moved, through thawd_repo_build_image), takes prefetch
 * traces of sessions once their first trace_window_s are over, and every
 * 10 s removes pool directories nobody uses (claimed entries whose session
 * ended). On restart, ready entries (entry.json present, mount serving,
 * gate open) are adopted again; anything else is unmounted and removed.
 * Layout of STATE/pool: see pool_glue.h. The cadence is in pool_cadence.c,
 * traces in pool_trace.c, the directory scan in pool_gc.c, the API and its
 * JSON in api_pools.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pool_glue.h"

#include "banned.h"

static struct pg *the_pg; /* one daemon per process */

struct pg *pg_get(struct thawd *d)
{
	return d && d->pool == the_pg ? the_pg : NULL;
}

bool pg__session_live(const struct thawd_session *s)
{
	return s->state != TS_REMOVED && s->state != TS_FAILED;
}

void pg_user_key(const char *user, char *out, size_t n)
{
	const char *lt = user ? strchr(user, '<') : NULL, *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt && gt > lt + 1)
		snprintf(out, n, "%.*s", (int)(gt - lt - 1), lt + 1);
	else
		snprintf(out, n, "%s", user ? user : "");
}

/* ---- small blocking helpers (thread pool, or before the loop runs) ---- */

static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	int r = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

json_t *pg__read_json(const char *path)
{
	json_error_t e;
	return json_load_file(path, JSON_REJECT_DUPLICATES, &e);
}

/* ---- repositories ---- */

struct pg_repo *pg_repo_find(struct pg *g, const char *name)
{
	for (struct pg_repo *gr = g->repos; gr; gr = gr->next)
		if (!strcmp(gr->name, name))
			return gr;
	return NULL;
}

static struct pg_repo *repo_get(struct pg *g, const char *name)
{
	struct pg_repo *gr = pg_repo_find(g, name);
	if (gr)
		return gr;
	gr = calloc(1, sizeof(*gr));
	if (!gr)
		return NULL;
	if (pool_prefetch_new(&gr->pf) < 0) {
		free(gr);
		return NULL;
	}
	gr->g = g;
	snprintf(gr->name, sizeof(gr->name), "%s", name);
	snprintf(gr->dir, sizeof(gr->dir), "%s/%s", g->dir, name);
	pool_config_default(&gr->cfg);
	gr->trace_window_s = PG_DEFAULT_TRACE_WINDOW_S;
	gr->cad_interval_s = UINT32_MAX; /* set up at the first tick */
	gr->next = g->repos;
	g->repos = gr;
	return gr;
}

static void repo_free(struct pg_repo *gr)
{
	pool_free(gr->p);
	pool_prefetch_free(gr->pf);
	pool_strv_free(gr->plan, gr->nplan);
	free(gr);
}

/* Parses the pool fields of a POST /v1/repos body into cfg. Returns 1 when
 * a pool is asked for, 0 when no pool field is present, -EINVAL (msg set). */
static int parse_opts(json_t *body, struct pool_config *cfg, unsigned *window, char *msg, size_t mlen)
{
	static const char *const keys[] = {"pool_min", "pool_max", "pool_spare", "pool_trace_window_s"};
	long long v[4] = {-1, -1, -1, -1};
	bool any = false;
	for (size_t i = 0; i < 4; i++) {
		json_t *j = json_object_get(body, keys[i]);
		if (!j || json_is_null(j))
			continue;
		long long hi = i == 3 ? 86400 : POOL_LIMIT_MAX;
		if (!json_is_integer(j) || json_integer_value(j) < (i == 3 ? 1 : 0) || json_integer_value(j) > hi) {
			snprintf(msg, mlen, "%s: expected an integer %d..%lld", keys[i], i == 3 ? 1 : 0, hi);
			return -EINVAL;
		}
		v[i] = json_integer_value(j);
		any = true;
	}
	if (!any)
		return 0;
	pool_config_default(cfg);
	if (v[0] >= 0)
		cfg->min = (unsigned)v[0];
	if (v[1] >= 0)
		cfg->max = (unsigned)v[1];
	if (v[2] >= 0)
		cfg->spare = (unsigned)v[2];
	if (v[0] >= 0 && v[1] < 0 && cfg->min > cfg->max)
		cfg->max = cfg->min;
	*window = v[3] > 0 ? (unsigned)v[3] : PG_DEFAULT_TRACE_WINDOW_S;
	if (pool_config_check(cfg) < 0) {
		snprintf(msg, mlen, "pool_min (%u) must not exceed pool_max (%u)", cfg->min, cfg->max);
		return -EINVAL;
	}
	return cfg->max > 0 ? 1 : 0;
}

struct cfg_job {
	char dir[PATH_MAX], path[PATH_MAX + 16];
	char *text; /* NULL: remove */
};

static void cfg_work(void *arg)
{
	struct cfg_job *j = arg;
	if (!j->text) {
		(void)unlink(j->path);
		return;
	}
	if (thawd_mkdirs(j->dir, 0700) == 0)
		(void)write_file(j->path, j->text);
}

static void cfg_after(void *arg, int status)
{
	struct cfg_job *j = arg;
	free(j->text);
	free(j);
}

/* Weak hook called by POST /v1/repos before the repository is created:
 * validates and records its pool settings. */
int thawd_pool_repo_opts(struct thawd *d, const char *name, json_t *body, char *msg, size_t mlen)
{
	struct pg *g = pg_get(d);
	struct pool_config cfg;
	unsigned window = PG_DEFAULT_TRACE_WINDOW_S;
	int r = parse_opts(body, &cfg, &window, msg, mlen);
	if (r < 0 || !g)
		return r < 0 ? r : 0;
	struct pg_repo *gr = repo_get(g, name);
	struct cfg_job *j = calloc(1, sizeof(*j));
	if (!gr || !j) {
		free(j);
		snprintf(msg, mlen, "out of memory");
		return -ENOMEM;
	}
	gr->enabled = r == 1;
	if (gr->enabled) {
		gr->cfg = cfg;
		gr->trace_window_s = window;
		if (gr->p)
			(void)pool_set_config(gr->p, &cfg);
		json_t *o = json_pack("{s:i, s:i, s:i, s:i}", "min", (int)cfg.min, "max", (int)cfg.max, "spare",
		                      (int)cfg.spare, "trace_window_s", (int)window);
		j->text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	snprintf(j->dir, sizeof(j->dir), "%s", gr->dir);
	snprintf(j->path, sizeof(j->path), "%s/config.json", gr->dir);
	if (thawd_work(d, cfg_work, cfg_after, j) < 0)
		cfg_after(j, 0);
	return 0;
}

static void load_config(struct pg_repo *gr)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/config.json", gr->dir);
	json_t *o = pg__read_json(path);
	if (!o)
		return;
	json_t *body = json_pack("{s:O?, s:O?, s:O?, s:O?}", "pool_min", json_object_get(o, "min"), "pool_max",
	                         json_object_get(o, "max"), "pool_spare", json_object_get(o, "spare"),
	                         "pool_trace_window_s", json_object_get(o, "trace_window_s"));
	char msg[200];
	struct pool_config cfg;
	unsigned window = PG_DEFAULT_TRACE_WINDOW_S;
	if (body && parse_opts(body, &cfg, &window, msg, sizeof(msg)) == 1) {
		gr->enabled = true;
		gr->cfg = cfg;
		gr->trace_window_s = window;
	}
	json_decref(body);
	json_decref(o);
}

/* ---- entries ---- */

static void entry_unlink(struct pg *g, struct pg_entry *e)
{
	for (struct pg_entry **pp = &g->entries; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			return;
		}
}

struct rm_job {
	char dir[PATH_MAX];
	struct pg *g;
};


static void rm_work(void *arg)
{
	struct rm_job *j = arg;
	(void)thawd_rm_rf(j->dir);
}

static void rm_after(void *arg, int status)
{
	struct rm_job *j = arg;
	struct pg *g = j->g;
	free(j);
	g->inflight--;
	pg__maybe_free(g);
}

static void remove_dir(struct pg *g, const char *dir)
{
	struct rm_job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	j->g = g;
	g->inflight++;
	if (thawd_work(g->d, rm_work, rm_after, j) < 0) {
		g->inflight--;
		free(j);
	}
}

static void unmounted(void *arg, int err)
{
	struct rm_job *j = arg;
	struct pg *g = j->g;
	if (!err)
		remove_dir(g, j->dir);
	free(j);
	g->inflight--;
	pg__maybe_free(g);
}

/* Unmounts ws (freed by the daemon) and removes dir. */
void pg__destroy_ws(struct pg *g, struct thawd_ws *ws, const char *dir)
{
	struct rm_job *j = calloc(1, sizeof(*j));
	if (!j) {
		thawd_ws_unmount(g->d, ws, true, NULL, NULL);
		return;
	}
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	j->g = g;
	g->inflight++;
	thawd_ws_unmount(g->d, ws, true, unmounted, j);
}

struct prep_job {
	struct pg_entry *e;
	char mount[PATH_MAX], ctl[PATH_MAX], dir[PATH_MAX], repo[THAWD_NAME_MAX + 1], image[41];
	char **plan;
	size_t nplan;
	/* out */
	int err;
	char msg[256];
	char synced[41];
	int64_t writes_ready;
	uint64_t files, bytes;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void prep_work(void *arg)
{
	struct prep_job *j = arg;
	double end = thawd_mono_ms() + PG_SYNC_WAIT_MS;
	for (;;) {
		json_t *st = NULL;
		int r = thawd_ctl_request(j->ctl, "status", 5000, &st);
		if (r < 0) {
			j->err = r;
			snprintf(j->msg, sizeof(j->msg), "status: %s", strerror(-r));
			return;
		}
		json_t *sync = json_object_get(st, "sync");
		const char *gate = json_string_value(json_object_get(json_object_get(st, "gate"), "state"));
		int64_t wr = json_integer_value(json_object_get(sync, "writes_ready"));
		if (wr > 0 && gate && !strcmp(gate, "open")) {
			const char *sc = json_string_value(json_object_get(sync, "synced_commit"));
			snprintf(j->synced, sizeof(j->synced), "%s", sc ? sc : "");
			j->writes_ready = wr;
			json_decref(st);
			break;
		}
		if (gate && (!strcmp(gate, "sync-failed") || !strcmp(gate, "readonly"))) {
			const char *le = json_string_value(json_object_get(sync, "last_error"));
			snprintf(j->msg, sizeof(j->msg), "sync failed: %s", le ? le : gate);
			json_decref(st);
			j->err = -EIO;
			return;
		}
		json_decref(st);
		if (thawd_mono_ms() > end) {
			j->err = -ETIMEDOUT;
			snprintf(j->msg, sizeof(j->msg), "sync not done after %d ms", PG_SYNC_WAIT_MS);
			return;
		}
		sleep_ms(20);
	}
	/* Prefetch: read the files past sessions touched first, through the
	 * mount (bounded in bytes; a missing file is skipped). */
	size_t bufsz = 1 << 16;
	char *buf = j->nplan ? malloc(bufsz) : NULL;
	uint64_t budget = PG_PREFETCH_BUDGET;
	for (size_t i = 0; buf && i < j->nplan && j->bytes < budget; i++) {
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s/%s", j->mount, j->plan[i]) >= (int)sizeof(p))
			continue;
		int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		ssize_t n;
		while (j->bytes < budget && (n = read(fd, buf, bufsz)) > 0)
			j->bytes += (uint64_t)n;
		close(fd);
		j->files++;
	}
	free(buf);
	char path[PATH_MAX + 16], text[512];
	snprintf(path, sizeof(path), "%s/entry.json", j->dir);
	snprintf(text, sizeof(text), "{\"repo\":\"%s\",\"image\":\"%s\",\"created_ms\":%lld}\n", j->repo, j->image,
	         (long long)thawd_now_ms());
	int r = write_file(path, text);
	if (r < 0) {
		j->err = r;
		snprintf(j->msg, sizeof(j->msg), "%s: %s", path, strerror(-r));
	}
}

static void entry_failed(struct pg_entry *e, const char *why)
{
	struct pg_repo *gr = e->gr;
	struct pg *g = gr->g;
	thawd_log(g->d, "warn", "pool %s: entry %llu failed: %s", gr->name, (unsigned long long)e->id, why);
	thawd_event(g->d, NULL, "pool",
	            json_pack("{s:s, s:s, s:I, s:s}", "repo", gr->name, "phase", "entry-failed", "entry",
	                      (json_int_t)e->id, "error", why));
	if (gr->p)
		(void)pool_entry_failed(gr->p, e->id, thawd_now_ms());
	entry_unlink(g, e);
	if (e->ws)
		pg__destroy_ws(g, e->ws, e->dir);
	else
		remove_dir(g, e->dir);
	free(e);
}

static void prep_after(void *arg, int status)
{
	struct prep_job *j = arg;
	struct pg_entry *e = j->e;
	struct pg_repo *gr = e->gr;
	struct pg *g = gr->g;
	g->inflight--;
	if (!j->err && status < 0) {
		j->err = status;
		snprintf(j->msg, sizeof(j->msg), "%s", strerror(-status));
	}
	if (g->stopping) {
		/* leave it mounted: the next thawd adopts it (or cleans it up) */
		entry_unlink(g, e);
		thawd_ws_free(e->ws);
		free(e);
	} else if (j->err) {
		entry_failed(e, j->msg);
	} else {
		e->ws->writes_ready = true;
		e->ws->writes_ready_ms = (double)(j->writes_ready - e->ws->started_ms);
		if (e->ws->writes_ready_ms < e->ws->mounted_ms)
			e->ws->writes_ready_ms = e->ws->mounted_ms;
		snprintf(e->ws->synced_commit, sizeof(e->ws->synced_commit), "%s", j->synced[0] ? j->synced : e->ws->base_commit);
		gr->hydrated_files += j->files;
		gr->hydrated_bytes += j->bytes;
		if (!gr->p || pool_entry_ready(gr->p, e->id, e, thawd_now_ms()) < 0) {
			entry_unlink(g, e);
			pg__destroy_ws(g, e->ws, e->dir);
			free(e);
		} else {
			pg_repo_kick(gr);
		}
	}
	pool_strv_free(j->plan, j->nplan);
	free(j);
	pg__maybe_free(g);
}

static void mounted(void *arg, int err, struct thawd_ws *ws)
{
	struct pg_entry *e = arg;
	struct pg_repo *gr = e->gr;
	struct pg *g = gr->g;
	g->inflight--;
	if (err) {
		char why[128];
		snprintf(why, sizeof(why), "mount: %s", strerror(-err));
		if (g->stopping) {
			entry_unlink(g, e);
			free(e);
		} else {
			entry_failed(e, why);
		}
		pg__maybe_free(g);
		return;
	}
	e->ws = ws;
	snprintf(ws->image, sizeof(ws->image), "%s", e->image);
	struct prep_job *j = g->stopping ? NULL : calloc(1, sizeof(*j));
	if (!j) {
		if (g->stopping) {
			entry_unlink(g, e);
			thawd_ws_free(ws);
			free(e);
		} else {
			entry_failed(e, "out of memory");
		}
		pg__maybe_free(g);
		return;
	}
	j->e = e;
	snprintf(j->mount, sizeof(j->mount), "%s", ws->mount);
	snprintf(j->ctl, sizeof(j->ctl), "%s", ws->ctl);
	snprintf(j->dir, sizeof(j->dir), "%s", e->dir);
	snprintf(j->repo, sizeof(j->repo), "%s", gr->name);
	snprintf(j->image, sizeof(j->image), "%s", e->image);
	if (gr->nplan && (j->plan = calloc(gr->nplan, sizeof(char *)))) {
		for (size_t i = 0; i < gr->nplan; i++)
			if ((j->plan[j->nplan] = strdup(gr->plan[i])))
				j->nplan++;
	}
	g->inflight++;
	if (thawd_work(g->d, prep_work, prep_after, j) < 0) {
		g->inflight--;
		pool_strv_free(j->plan, j->nplan);
		free(j);
		entry_failed(e, "cannot queue work");
	}
}

static void do_create(struct pg_repo *gr, const struct pool_action *a)
{
	struct pg *g = gr->g;
	int64_t now = thawd_now_ms();
	struct pg_entry *e = calloc(1, sizeof(*e));
	if (!e) {
		(void)pool_entry_failed(gr->p, a->entry, now);
		return;
	}
	e->gr = gr;
	e->id = a->entry;
	e->started_ms = now;
	snprintf(e->image, sizeof(e->image), "%s", a->image);
	snprintf(e->dir, sizeof(e->dir), "%s/e%llu-%llx", gr->dir, (unsigned long long)a->entry, (unsigned long long)now);
	e->next = g->entries;
	g->entries = e;
	struct thawd_ws_opts o = {.repo = gr->name, .layer = e->image, .dir = e->dir};
	g->inflight++;
	int r = thawd_ws_mount_opts(g->d, &o, mounted, e);
	if (r < 0) {
		g->inflight--;
		char why[128];
		snprintf(why, sizeof(why), "mount: %s", strerror(-r));
		entry_failed(e, why);
	}
}

static void do_destroy(struct pg_repo *gr, const struct pool_action *a)
{
	struct pg_entry *e = a->data;
	if (!e)
		return;
	entry_unlink(gr->g, e);
	if (e->ws)
		pg__destroy_ws(gr->g, e->ws, e->dir);
	free(e);
}

static void run_pool(struct pg_repo *gr, int64_t now)
{
	struct pool_action acts[16];
	size_t n;
	do {
		n = pool_tick(gr->p, now, acts, 16);
		for (size_t i = 0; i < n; i++) {
			if (acts[i].kind == POOL_ACT_CREATE)
				do_create(gr, &acts[i]);
			else
				do_destroy(gr, &acts[i]);
		}
	} while (n == 16);
}

void pg_repo_kick(struct pg_repo *gr)
{
	if (gr->p && !gr->g->stopping)
		run_pool(gr, thawd_now_ms());
}

struct pool *pg_repo_pool(struct pg_repo *gr)
{
	if (gr->p || !gr->enabled)
		return gr->p;
	struct thawd_repo *r = thawd_repo_find(gr->g->d, gr->name);
	if (!r || !r->ready || pool_new(&gr->p, gr->name, &gr->cfg) < 0)
		return NULL;
	(void)pool_set_image(gr->p, r->image, thawd_now_ms());
	snprintf(gr->image, sizeof(gr->image), "%s", r->image);
	return gr->p;
}

/* ---- the claim hook ---- */

struct author_job {
	char mount[PATH_MAX], dir[PATH_MAX];
	char name[128], email[128];
};

static void author_work(void *arg)
{
	struct author_job *j = arg;
	char path[PATH_MAX + 16], text[400];
	/* a claimed entry is the session's: never adopted as ready again */
	snprintf(path, sizeof(path), "%s/entry.json", j->dir);
	(void)unlink(path);
	if (!j->name[0])
		return;
	snprintf(path, sizeof(path), "%s/.git/config", j->mount);
	int n = snprintf(text, sizeof(text), "[user]\n\tname = %s\n\temail = %s\n", j->name, j->email);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)!write(fd, text, (size_t)n);
	close(fd);
}

static void author_after(void *arg, int status)
{
	free(arg);
}

/* "Name <email>" -> name, email (both without newlines or brackets). */
static bool split_author(const char *user, char *name, size_t nlen, char *email, size_t elen)
{
	const char *lt = strchr(user, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt)
		return false;
	int nl = (int)(lt - user);
	while (nl > 0 && user[nl - 1] == ' ')
		nl--;
	snprintf(name, nlen, "%.*s", nl, user);
	snprintf(email, elen, "%.*s", (int)(gt - lt - 1), lt + 1);
	return !strpbrk(name, "\n\r[]") && !strpbrk(email, "\n\r[]<>");
}

static struct thawd_ws *pg_claim(struct thawd *d, const char *repo, const char *user)
{
	struct pg *g = pg_get(d);
	if (!g || g->stopping)
		return NULL;
	struct pg_repo *gr = pg_repo_find(g, repo);
	if (!gr || !pg_repo_pool(gr))
		return NULL;
	char key[POOL_USER_MAX + 1];
	pg_user_key(user, key, sizeof(key));
	int64_t now = thawd_now_ms();
	uint64_t id = 0;
	void *data = NULL;
	int r = pool_claim(gr->p, key[0] ? key : NULL, now, &id, &data);
	struct pg_entry *e = data;
	/* No refill from here: the next tick (at most PG_TICK_MS away) starts
	 * it, so spawning thawfs does not compete with the session's first
	 * reads on a small host. */
	if (r < 0 || !e || !e->ws) {
		thawd_event(d, NULL, "pool", json_pack("{s:s, s:s}", "repo", repo, "phase", "cold-fallback"));
		return NULL;
	}
	entry_unlink(g, e);
	struct thawd_ws *ws = e->ws;
	struct author_job *j = calloc(1, sizeof(*j));
	if (j) {
		if (!user || !split_author(user, j->name, sizeof(j->name), j->email, sizeof(j->email)))
			j->name[0] = j->email[0] = '\0';
		snprintf(j->mount, sizeof(j->mount), "%s", ws->mount);
		snprintf(j->dir, sizeof(j->dir), "%s", e->dir);
		if (thawd_work(d, author_work, author_after, j) < 0)
			free(j);
	}
	thawd_event(d, NULL, "pool",
	            json_pack("{s:s, s:s, s:I, s:s}", "repo", repo, "phase", "claim", "entry", (json_int_t)id, "image",
	                      e->image));
	free(e);
	return ws;
}

/* ---- the tick ---- */

static void repo_tick(struct pg_repo *gr, struct thawd_repo *r, int64_t now)
{
	pg__cadence_tick(gr, r, now);
	if (!gr->enabled) {
		if (gr->p) {
			/* the pool was switched off: its idle entries go */
			struct pool_config off = gr->cfg;
			off.min = off.max = off.spare = 0;
			off.cooldown_ms = 0;
			(void)pool_set_config(gr->p, &off);
			run_pool(gr, now);
		}
		return;
	}
	if (!pg_repo_pool(gr))
		return;
	unsigned in_use = 0;
	for (struct thawd_session *s = gr->g->d->sessions; s; s = s->next)
		if (!strcmp(s->repo, gr->name) && pg__session_live(s))
			in_use++;
	pool_set_in_use(gr->p, in_use);
	if (strcmp(gr->image, r->image) != 0) {
		thawd_event(gr->g->d, NULL, "pool",
		            json_pack("{s:s, s:s, s:s, s:s}", "repo", gr->name, "phase", "rotate", "from", gr->image, "to",
		                      r->image));
		snprintf(gr->image, sizeof(gr->image), "%s", r->image);
		(void)pool_set_image(gr->p, r->image, now);
		gr->rotations++;
	}
	pg__trace_tick(gr, now);
	run_pool(gr, now);
}

static void timer_cb(uv_timer_t *t)
{
	struct pg *g = t->data;
	if (g->stopping)
		return;
	int64_t now = thawd_now_ms();
	for (struct thawd_repo *r = g->d->repos; r; r = r->next) {
		if (!r->ready)
			continue;
		struct pg_repo *gr = repo_get(g, r->name);
		if (gr)
			repo_tick(gr, r, now);
	}
	pg__gc_tick(g, now);
}

/* ---- start, restart, stop ---- */

static void free_pg(struct pg *g)
{
	while (g->entries) {
		struct pg_entry *e = g->entries;
		g->entries = e->next;
		thawd_ws_free(e->ws);
		free(e);
	}
	while (g->repos) {
		struct pg_repo *gr = g->repos;
		g->repos = gr->next;
		repo_free(gr);
	}
	json_decref(g->traced);
	if (the_pg == g)
		the_pg = NULL;
	free(g);
}

void pg__maybe_free(struct pg *g)
{
	if (g->stopping && g->timer_closed && g->inflight == 0)
		free_pg(g);
}

static void timer_closed(uv_handle_t *h)
{
	struct pg *g = h->data;
	g->timer_closed = true;
	pg__maybe_free(g);
}

static void pg_stop(struct thawd *d)
{
	struct pg *g = pg_get(d);
	if (!g || g->stopping)
		return;
	g->stopping = true;
	d->pool_claim = NULL;
	uv_timer_stop(&g->timer);
	uv_close((uv_handle_t *)&g->timer, timer_closed);
	/* entries stay mounted: the next thawd adopts the ready ones */
}

/* Before the loop runs: adopt a ready entry left by the previous thawd, or
 * clean it up. Blocking (a status request per entry, 2 s at most). */
static void reattach(struct pg *g, struct pg_repo *gr, const char *dir)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/entry.json", dir);
	json_t *meta = pg__read_json(path);
	struct thawd_ws *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		json_decref(meta);
		return;
	}
	snprintf(ws->repo, sizeof(ws->repo), "%s", gr->name);
	snprintf(ws->dir, sizeof(ws->dir), "%s", dir);
	snprintf(ws->mount, sizeof(ws->mount), "%s/mnt", dir);
	snprintf(ws->upper, sizeof(ws->upper), "%s/upper", dir);
	snprintf(ws->ctl, sizeof(ws->ctl), "%s/ctl.sock", dir);
	snprintf(ws->log, sizeof(ws->log), "%s/thawfs.log", dir);
	json_t *st = NULL;
	const char *image = json_string_value(json_object_get(meta, "image"));
	bool ok = meta && image && gr->enabled && thawd__is_mounted(ws->mount) &&
	          thawd_ctl_request(ws->ctl, "status", 2000, &st) == 0;
	if (ok) {
		json_t *sync = json_object_get(st, "sync");
		const char *gate = json_string_value(json_object_get(json_object_get(st, "gate"), "state"));
		ws->pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
		const char *mc = json_string_value(json_object_get(sync, "mounted_commit"));
		const char *sc = json_string_value(json_object_get(sync, "synced_commit"));
		snprintf(ws->base_commit, sizeof(ws->base_commit), "%s", mc ? mc : "");
		snprintf(ws->synced_commit, sizeof(ws->synced_commit), "%s", sc ? sc : ws->base_commit);
		snprintf(ws->layer, sizeof(ws->layer), "%s", image);
		snprintf(ws->image, sizeof(ws->image), "%s", image);
		ws->started_ms = json_integer_value(json_object_get(meta, "created_ms"));
		ws->reads_ready_ms = json_number_value(json_object_get(st, "reads_ready_ms"));
		ws->writes_ready = true;
		ok = gate && !strcmp(gate, "open") && ws->pid > 0;
	}
	json_decref(st);
	struct pg_entry *e = ok ? calloc(1, sizeof(*e)) : NULL;
	if (e && gr->p && pool_entry_adopt(gr->p, image, e, thawd_now_ms(), &e->id) == 0) {
		e->gr = gr;
		e->ws = ws;
		snprintf(e->dir, sizeof(e->dir), "%s", dir);
		snprintf(e->image, sizeof(e->image), "%s", image);
		e->next = g->entries;
		g->entries = e;
		thawd_log(g->d, "info", "pool %s: reattached %s", gr->name, dir);
	} else {
		free(e);
		thawd_log(g->d, "info", "pool %s: removing %s (not a ready entry)", gr->name, dir);
		pg__destroy_ws(g, ws, dir);
	}
	json_decref(meta);
}

static void restore_repo(struct pg *g, const char *name)
{
	struct pg_repo *gr = repo_get(g, name);
	if (!gr)
		return;
	load_config(gr);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/prefetch", gr->dir);
	if (pool_prefetch_load(gr->pf, path) == 0)
		(void)pool_prefetch_plan(gr->pf, PG_PREFETCH_BUDGET, PG_PREFETCH_MIN_SESSIONS, &gr->plan, &gr->nplan,
		                         &gr->plan_bytes);
	(void)pg_repo_pool(gr);
	DIR *dd = opendir(gr->dir);
	if (!dd)
		return;
	struct dirent *de;
	while ((de = readdir(dd))) {
		if (de->d_name[0] != 'e' || de->d_type != DT_DIR)
			continue;
		char dir[PATH_MAX];
		if (snprintf(dir, sizeof(dir), "%s/%s", gr->dir, de->d_name) >= (int)sizeof(dir) || pg__dir_in_use(g, dir, true))
			continue; /* claimed by a session before the restart: the session's now */
		reattach(g, gr, dir);
	}
	closedir(dd);
}

int thawd_pool_init(struct thawd *d)
{
	struct pg *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->d = d;
	g->traced = json_object();
	if (snprintf(g->dir, sizeof(g->dir), "%s/pool", d->cfg.state) >= (int)sizeof(g->dir)) {
		json_decref(g->traced);
		free(g);
		return -ENAMETOOLONG;
	}
	int r = thawd_mkdirs(g->dir, 0700);
	if (r < 0) {
		json_decref(g->traced);
		free(g);
		return r;
	}
	the_pg = g;
	d->pool = g;
	DIR *top = opendir(g->dir);
	if (top) {
		struct dirent *de;
		while ((de = readdir(top)))
			if (de->d_name[0] != '.' && thawd_name_valid(de->d_name))
				restore_repo(g, de->d_name);
		closedir(top);
	}
	uv_timer_init(d->loop, &g->timer);
	g->timer.data = g;
	uv_timer_start(&g->timer, timer_cb, PG_TICK_MS, PG_TICK_MS);
	d->pool_claim = pg_claim;
	d->pool_stop = pg_stop;
	return 0;
}
