/*
 * session.c: the session lifecycle.
 *
 *   starting --mounted--> ready --synced--> writable
 *                  \            \--sync failed, gate opened--> sync-failed
 *                   \--mount failed--> failed
 *   ready|writable|sync-failed --DELETE, timeout, idle--> stopping --pre-exit
 *   snapshot, unmount--> removed
 *
 * A session's row in thaw.db (state.c) holds everything needed to find it
 * again after a restart: the workspace's paths, its thawfs pid, the stack.
 * In memory, sessions are never freed before exit (removed ones stay listed,
 * as their rows do); a reference count keeps a struct valid while async work
 * runs on it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

static const char *const state_names[TS__N] = {
	"starting", "ready", "writable", "frozen", "sync-failed", "stopping", "removed", "failed",
};

const char *thawd_state_name(int st)
{
	return st >= 0 && st < TS__N ? state_names[st] : "unknown";
}

int thawd_state_parse(const char *s)
{
	for (int i = 0; s && i < TS__N; i++)
		if (!strcmp(s, state_names[i]))
			return i;
	return -1;
}

static bool state_live(int st)
{
	return st != TS_REMOVED && st != TS_FAILED;
}

struct thawd_session *thawd_session_find(struct thawd *d, const char *id)
{
	for (struct thawd_session *s = d->sessions; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

void thawd_session_ref(struct thawd_session *s)
{
	s->refs++;
}

void thawd_session_unref(struct thawd_session *s)
{
	/* Sessions stay in d->sessions until exit (thawd_free_all). */
	if (s->refs > 0)
		s->refs--;
}

static void prompts_free(struct thawd_prompt *p)
{
	while (p) {
		struct thawd_prompt *n = p->next;
		free(p->text);
		free(p);
		p = n;
	}
}

static void session_free(struct thawd_session *s)
{
	thawd_ws_free(s->ws);
	json_decref(s->participants);
	if (s->prompt_current)
		s->prompt_current->next = NULL;
	prompts_free(s->prompt_current);
	prompts_free(s->prompt_queue);
	if (s->sdb)
		sqlite3_close(s->sdb);
	free(s->db_path);
	free(s);
}

void thawd_free_all(struct thawd *d)
{
	struct thawd_session *s = d->sessions;
	while (s) {
		struct thawd_session *n = s->next;
		session_free(s);
		s = n;
	}
	d->sessions = NULL;
	thawd__repos_free(d);
}

static json_t *prompt_json(const struct thawd_prompt *p, const char *state)
{
	return json_pack("{s:I, s:{s:s, s:s}, s:s, s:s, s:I}", "id", (json_int_t)p->id, "author", "name",
	                 p->author_name, "email", p->author_email, "text", p->text ? p->text : "", "state", state,
	                 "created_ms", (json_int_t)p->created_ms);
}

json_t *thawd_prompt_json(const struct thawd_prompt *p, const char *state)
{
	return prompt_json(p, state);
}

static json_t *ws_json(const struct thawd_ws *ws)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:b}", "repo",
	                 ws->repo, "dir", ws->dir, "mount", ws->mount, "upper", ws->upper, "ctl", ws->ctl, "log",
	                 ws->log, "layer", ws->layer, "image", ws->image, "base_commit", ws->base_commit,
	                 "synced_commit", ws->synced_commit, "pid", (json_int_t)ws->pid, "started_ms",
	                 (json_int_t)ws->started_ms, "mounted_ms", ws->mounted_ms, "reads_ready_ms", ws->reads_ready_ms,
	                 "writes_ready_ms", ws->writes_ready_ms, "writes_ready", ws->writes_ready);
}

static void str_from(json_t *o, const char *key, char *out, size_t n)
{
	const char *v = json_string_value(json_object_get(o, key));
	snprintf(out, n, "%s", v ? v : "");
}

static struct thawd_ws *ws_from_json(json_t *o)
{
	if (!json_is_object(o))
		return NULL;
	struct thawd_ws *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	str_from(o, "repo", ws->repo, sizeof(ws->repo));
	str_from(o, "dir", ws->dir, sizeof(ws->dir));
	str_from(o, "mount", ws->mount, sizeof(ws->mount));
	str_from(o, "upper", ws->upper, sizeof(ws->upper));
	str_from(o, "ctl", ws->ctl, sizeof(ws->ctl));
	str_from(o, "log", ws->log, sizeof(ws->log));
	str_from(o, "layer", ws->layer, sizeof(ws->layer));
	str_from(o, "image", ws->image, sizeof(ws->image));
	str_from(o, "base_commit", ws->base_commit, sizeof(ws->base_commit));
	str_from(o, "synced_commit", ws->synced_commit, sizeof(ws->synced_commit));
	ws->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
	ws->started_ms = json_integer_value(json_object_get(o, "started_ms"));
	ws->mounted_ms = json_number_value(json_object_get(o, "mounted_ms"));
	ws->reads_ready_ms = json_number_value(json_object_get(o, "reads_ready_ms"));
	ws->writes_ready_ms = json_number_value(json_object_get(o, "writes_ready_ms"));
	ws->writes_ready = json_is_true(json_object_get(o, "writes_ready"));
	return ws;
}

json_t *thawd_session_json(const struct thawd_session *s)
{
	const struct thawd_ws *ws = s->ws;
	json_t *children = json_array();
	for (struct thawd_session *c = s->d->sessions; c; c = c->next)
		if (!strcmp(c->parent, s->id))
			json_array_append_new(children, json_string(c->id));
	json_t *timings = json_object();
	if (ws) {
		json_object_set_new(timings, "mounted_ms", json_real(ws->mounted_ms));
		json_object_set_new(timings, "reads_ready_ms", json_real(ws->reads_ready_ms));
		json_object_set_new(timings, "writes_ready_ms", ws->writes_ready ? json_real(ws->writes_ready_ms) : json_null());
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:{s:s, s:s}, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:I, s:I, s:I,"
	                      " s:s, s:o, s:s, s:O, s:{s:i, s:o}, s:i, s:s?, s:I, s:s, s:i, s:i, s:i}",
	                      "id", s->id, "repo", s->repo, "state", thawd_state_name(s->state), "mount",
	                      ws ? ws->mount : NULL, "upper", ws ? ws->upper : NULL, "author", "name", s->author_name,
	                      "email", s->author_email, "base_commit", ws && ws->base_commit[0] ? ws->base_commit : NULL,
	                      "synced_commit", ws && ws->synced_commit[0] ? ws->synced_commit : NULL, "image",
	                      ws && ws->image[0] ? ws->image : NULL, "from_snapshot",
	                      s->from_snapshot[0] ? s->from_snapshot : NULL, "parent", s->parent[0] ? s->parent : NULL,
	                      "children", children, "created_ms", (json_int_t)s->created_ms, "expires_at_ms",
	                      (json_int_t)s->expires_at_ms, "idle_expires_at_ms", (json_int_t)s->idle_expires_at_ms,
	                      "pool", s->warm ? "warm" : "cold", "timings", timings, "gate", s->gate[0] ? s->gate : "unknown",
	                      "participants", s->participants, "prompts", "queued", (int)s->prompts_queued, "current",
	                      s->prompt_current ? prompt_json(s->prompt_current, "running") : json_null(), "restarts",
	                      (int)s->restarts, "pre_exit_snapshot", s->pre_exit_snapshot[0] ? s->pre_exit_snapshot : NULL,
	                      "pid", (json_int_t)(ws ? ws->pid : 0), "branch", s->branch, "timeout_s", (int)s->timeout_s,
	                      "idle_timeout_s", (int)s->idle_timeout_s, "followers", (int)thawd_events_followers(s));
	return o;
}

/* The row in thaw.db: the API object plus what a restart needs. */
static json_t *session_row(const struct thawd_session *s)
{
	json_t *o = thawd_session_json(s);
	if (!o)
		return NULL;
	json_object_set_new(o, "seq", json_integer((json_int_t)s->seq));
	json_object_set_new(o, "warm", json_boolean(s->warm));
	json_object_set_new(o, "prompt_next_id", json_integer((json_int_t)s->prompt_next_id));
	if (s->ws)
		json_object_set_new(o, "ws", ws_json(s->ws));
	json_t *q = json_array();
	for (const struct thawd_prompt *p = s->prompt_queue; p; p = p->next)
		json_array_append_new(q, prompt_json(p, "queued"));
	json_object_set_new(o, "prompt_queue", q);
	return o;
}

static void save_work(struct thawd *d, void *arg)
{
	json_t *row = arg;
	if (thawd__state_save_session(d->db, row) < 0)
		thawd_log(d, "error", "thaw.db: save session %s: %s", json_string_value(json_object_get(row, "id")),
		          sqlite3_errmsg(d->db));
	json_decref(row);
}

void thawd_session_save(struct thawd_session *s)
{
	s->dirty = false;
	json_t *row = session_row(s);
	if (row)
		thawd_db_submit(s->d, save_work, NULL, row);
}

static void sdb_close_work(struct thawd *d, void *arg)
{
	struct thawd_session *s = arg;
	(void)d;
	if (s->sdb) {
		sqlite3_close(s->sdb);
		s->sdb = NULL;
	}
}

static void sdb_close_done(struct thawd *d, void *arg)
{
	(void)d;
	thawd_session_unref(arg);
}

void thawd_session_set_state(struct thawd_session *s, int st, const char *reason)
{
	if (s->state == st)
		return;
	int old = s->state;
	s->state = st;
	if (state_live(old) && !state_live(st) && s->d->nsessions > 0)
		s->d->nsessions--;
	json_t *ev = json_pack("{s:s, s:s, s:s?}", "state", thawd_state_name(st), "from", thawd_state_name(old), "reason",
	                       reason);
	if (st == TS_READY && s->ws)
		json_object_set_new(ev, "timings", json_pack("{s:f, s:f}", "mounted_ms", s->ws->mounted_ms, "reads_ready_ms",
		                                             s->ws->reads_ready_ms));
	if ((st == TS_WRITABLE || st == TS_SYNC_FAILED) && s->ws)
		json_object_set_new(ev, "timings",
		                    json_pack("{s:f, s:f, s:f}", "mounted_ms", s->ws->mounted_ms, "reads_ready_ms",
		                              s->ws->reads_ready_ms, "writes_ready_ms", s->ws->writes_ready_ms));
	thawd_event(s->d, s, "lifecycle", ev);
	thawd_session_save(s);
	if (!state_live(st)) {
		/* an ended session keeps no descriptors open (its database is
		 * reopened lazily by a late replay); queued after the last event */
		thawd_session_ref(s);
		thawd_db_submit(s->d, sdb_close_work, sdb_close_done, s);
	}
}

void thawd_session_touch(struct thawd_session *s)
{
	int64_t next = thawd_now_ms() + (int64_t)s->idle_timeout_s * 1000;
	if (next > s->idle_expires_at_ms) {
		s->idle_expires_at_ms = next;
		s->dirty = true;
	}
}

struct thawd_session *thawd__session_new(struct thawd *d, const char *id)
{
	struct thawd_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->d = d;
	if (id) {
		snprintf(s->id, sizeof(s->id), "%s", id);
	} else {
		unsigned char rnd[8];
		do {
			if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
				free(s);
				return NULL;
			}
			snprintf(s->id, sizeof(s->id), "s-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
			         rnd[4], rnd[5], rnd[6], rnd[7]);
		} while (thawd_session_find(d, s->id));
	}
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/sessions/%s/session.db", d->cfg.state, s->id);
	s->db_path = strdup(p);
	s->participants = json_array();
	s->prompt_next_id = 1;
	snprintf(s->gate, sizeof(s->gate), "unknown");
	if (!s->db_path || !s->participants) {
		session_free(s);
		return NULL;
	}
	/* appended: listings stay in creation order */
	struct thawd_session **pp = &d->sessions;
	while (*pp)
		pp = &(*pp)->next;
	*pp = s;
	return s;
}

void thawd__session_from_row(struct thawd *d, json_t *row)
{
	const char *id = json_string_value(json_object_get(row, "id"));
	if (!thawd_id_valid(id) || thawd_session_find(d, id))
		return;
	struct thawd_session *s = thawd__session_new(d, id);
	if (!s)
		return;
	str_from(row, "repo", s->repo, sizeof(s->repo));
	str_from(row, "branch", s->branch, sizeof(s->branch));
	int st = thawd_state_parse(json_string_value(json_object_get(row, "state")));
	s->state = st < 0 ? TS_FAILED : st;
	json_t *a = json_object_get(row, "author");
	str_from(a, "name", s->author_name, sizeof(s->author_name));
	str_from(a, "email", s->author_email, sizeof(s->author_email));
	str_from(row, "from_snapshot", s->from_snapshot, sizeof(s->from_snapshot));
	str_from(row, "parent", s->parent, sizeof(s->parent));
	str_from(row, "pre_exit_snapshot", s->pre_exit_snapshot, sizeof(s->pre_exit_snapshot));
	s->warm = json_is_true(json_object_get(row, "warm"));
	s->created_ms = json_integer_value(json_object_get(row, "created_ms"));
	s->expires_at_ms = json_integer_value(json_object_get(row, "expires_at_ms"));
	s->idle_expires_at_ms = json_integer_value(json_object_get(row, "idle_expires_at_ms"));
	s->timeout_s = (unsigned)json_integer_value(json_object_get(row, "timeout_s"));
	s->idle_timeout_s = (unsigned)json_integer_value(json_object_get(row, "idle_timeout_s"));
	s->seq = (uint64_t)json_integer_value(json_object_get(row, "seq"));
	s->restarts = (unsigned)json_integer_value(json_object_get(row, "restarts"));
	s->prompt_next_id = (uint64_t)json_integer_value(json_object_get(row, "prompt_next_id"));
	if (!s->prompt_next_id)
		s->prompt_next_id = 1;
	json_t *parts = json_object_get(row, "participants");
	if (json_is_array(parts)) {
		json_decref(s->participants);
		s->participants = json_incref(parts);
	}
	/* prompts: the current one first, then the queue, in order */
	struct thawd_prompt **tail = &s->prompt_queue;
	json_t *cur = json_object_get(json_object_get(row, "prompts"), "current");
	json_t *queue = json_object_get(row, "prompt_queue");
	json_t *all[2] = {cur, queue};
	for (int k = 0; k < 2; k++) {
		size_t i;
		json_t *p;
		json_t *arr = k == 0 ? json_array() : json_incref(all[1]);
		if (k == 0 && json_is_object(cur))
			json_array_append(arr, cur);
		json_array_foreach(arr, i, p) {
			struct thawd_prompt *q = calloc(1, sizeof(*q));
			if (!q)
				break;
			q->id = (uint64_t)json_integer_value(json_object_get(p, "id"));
			json_t *pa = json_object_get(p, "author");
			str_from(pa, "name", q->author_name, sizeof(q->author_name));
			str_from(pa, "email", q->author_email, sizeof(q->author_email));
			q->text = strdup(json_string_value(json_object_get(p, "text")) ?: "");
			q->created_ms = json_integer_value(json_object_get(p, "created_ms"));
			if (k == 0) {
				s->prompt_current = q;
			} else {
				*tail = q;
				tail = &q->next;
				s->prompts_queued++;
			}
		}
		json_decref(arr);
	}
	s->ws = ws_from_json(json_object_get(row, "ws"));
	if (state_live(s->state)) {
		d->nsessions++;
		/* events after the row's last save (a crash): continue after the
		 * newest stored number, never reuse one (at start, before the loop) */
		sqlite3 *db = NULL;
		if (thawd__sdb_open(s->db_path, &db) == 0) {
			uint64_t max = thawd__sdb_max_seq(db);
			if (max > s->seq)
				s->seq = max;
			sqlite3_close(db);
		}
	}
}

/* ---- restart: reattach or remount ---- */

struct reattach_job {
	struct thawd_session *s;
	char ctl[PATH_MAX], mount[PATH_MAX];
	pid_t pid;
	bool alive;
};

/* Is pid a thawfs serving mnt (its command line names the mount point)? */
static bool is_our_thawfs(pid_t pid, const char *mnt)
{
	char p[64], buf[8192];
	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	bool thawfs = false, mount = false;
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		buf[n] = 0;
		const char *a = buf + i;
		const char *slash = strrchr(a, '/');
		if (!strcmp(slash ? slash + 1 : a, "thawfs"))
			thawfs = true;
		if (!strcmp(a, mnt))
			mount = true;
	}
	return thawfs && mount;
}

static void reattach_work(void *arg)
{
	struct reattach_job *j = arg;
	json_t *st = NULL;
	if (thawd_ctl_request(j->ctl, "status", 3000, &st) == 0) {
		pid_t pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
		j->alive = pid > 0 && thawd__pid_alive(pid) && thawd__is_mounted(j->mount);
		if (j->alive)
			j->pid = pid;
		json_decref(st);
	}
	/* a thawfs that no longer answers its control socket is stopped before
	 * the remount (its upper layer is reused: no second writer) */
	if (!j->alive && j->pid > 0 && thawd__pid_alive(j->pid) && is_our_thawfs(j->pid, j->mount)) {
		(void)kill(j->pid, SIGTERM);
		for (int i = 0; i < 250 && thawd__pid_alive(j->pid); i++)
			usleep(20000);
		if (thawd__pid_alive(j->pid))
			(void)kill(j->pid, SIGKILL);
	}
}

static void reattach_after(void *arg, int status)
{
	struct reattach_job *j = arg;
	struct thawd_session *s = j->s;
	if (j->alive) {
		s->ws->pid = j->pid;
		thawd_event(s->d, s, "lifecycle",
		            json_pack("{s:s, s:s, s:I}", "state", thawd_state_name(s->state), "reason", "reattached", "pid",
		                      (json_int_t)j->pid));
		thawd_log(s->d, "info", "%s: reattached to thawfs %d", s->id, (int)j->pid);
		if (s->state == TS_STARTING)
			thawd_session_set_state(s, TS_READY, "reattached");
		thawd_sup_attach(s);
		thawd_sup_check(s);
		if (s->state == TS_STOPPING) {
			s->state = TS_WRITABLE;
			thawd_session_teardown(s, "daemon restarted while stopping", NULL, NULL);
		}
	} else {
		if (s->state == TS_STARTING || s->state == TS_STOPPING)
			s->state = TS_WRITABLE; /* the remount restores it; stopping finishes below */
		thawd__session_remount(s, "not running after a daemon restart");
	}
	thawd_session_save(s);
	thawd_session_unref(s);
	free(j);
}

int thawd_sessions_restore(struct thawd *d)
{
	for (struct thawd_session *s = d->sessions; s; s = s->next) {
		if (!state_live(s->state))
			continue;
		if (!s->ws) {
			/* crashed while starting: mount it now in its directory */
			struct thawd_ws *ws = calloc(1, sizeof(*ws));
			if (!ws)
				continue;
			snprintf(ws->repo, sizeof(ws->repo), "%s", s->repo);
			snprintf(ws->dir, sizeof(ws->dir), "%s/sessions/%s", d->cfg.state, s->id);
			snprintf(ws->mount, sizeof(ws->mount), "%s/mnt", ws->dir);
			snprintf(ws->upper, sizeof(ws->upper), "%s/upper", ws->dir);
			snprintf(ws->ctl, sizeof(ws->ctl), "%s/ctl.sock", ws->dir);
			snprintf(ws->log, sizeof(ws->log), "%s/thawfs.log", ws->dir);
			snprintf(ws->layer, sizeof(ws->layer), "%s", s->from_snapshot);
			s->ws = ws;
		}
		struct reattach_job *j = calloc(1, sizeof(*j));
		if (!j)
			continue;
		j->s = s;
		thawd_session_ref(s);
		snprintf(j->ctl, sizeof(j->ctl), "%s", s->ws->ctl);
		snprintf(j->mount, sizeof(j->mount), "%s", s->ws->mount);
		j->pid = s->ws->pid; /* the pid the row knows, checked before any kill */
		if (thawd_work(d, reattach_work, reattach_after, j) < 0) {
			thawd_session_unref(s);
			free(j);
		}
	}
	return 0;
}

void thawd_sessions_tick(struct thawd *d)
{
	int64_t now = thawd_now_ms();
	for (struct thawd_session *s = d->sessions; s; s = s->next) {
		if (!state_live(s->state))
			continue;
		thawd_sup_check(s);
		thawd_lifetime_check(s, now);
		if (s->dirty && now - s->saved_ms > 2000) {
			s->saved_ms = now;
			thawd_session_save(s);
		}
	}
}

/* ---- teardown: pre-exit snapshot, unmount, removed ---- */

struct teardown {
	struct thawd_session *s;
	char reason[128];
	char ctl[PATH_MAX];
	char author[300], repo[THAWD_NAME_MAX + 1];
	char snap[SNAP_ID_HEXLEN + 1];
	struct snap_freeze_stats stats;
	int freeze_err;
	char msg[512];
	void (*done)(void *arg, int err);
	void *arg;
};

/* snap_freeze with retries on a failure of the control conversation
 * (thawfs answering a request with an error or not at all, seen right after
 * a mount under load; or its socket refusing or missing while the supervisor
 * remounts a thawfs that died or hung): snap_freeze reopens the gate on every
 * path, so a retry is safe. Up to 4 retries, 0.2 s to 0.8 s apart (2 s in
 * all). Other failures (no space, a corrupt store) are final.
 * Blocking: thread pool. */
int thawd__freeze(struct snap_store *store, const struct snap_freeze_opts *o, char out_id[SNAP_ID_HEXLEN + 1],
                  struct snap_freeze_stats *st, char *msg, size_t mlen)
{
	int r = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		if (attempt)
			usleep(200000u * (unsigned)attempt);
		r = snap_freeze(store, o, out_id, st);
		if (r == 0)
			return 0;
		snprintf(msg, mlen, "%s", snap_last_error());
		bool no_socket = (r == -ECONNREFUSED || r == -ENOENT) && strncmp(msg, "cannot connect to control", 25) == 0;
		if (r != -EIO && r != -ETIMEDOUT && r != -ECONNRESET && r != -EPROTO && !no_socket)
			break;
		if (r == -EIO && strncmp(msg, "control ", 8) != 0)
			break; /* an I/O error of the store, not of the conversation */
	}
	return r;
}

static void teardown_freeze(void *arg)
{
	struct teardown *t = arg;
	struct snap_freeze_opts o = {
		.control = t->ctl,
		.kind = SNAP_KIND_PRE_EXIT,
		.author = t->author,
		.repo_name = t->repo,
	};
	t->freeze_err = thawd__freeze(t->s->d->store, &o, t->snap, &t->stats, t->msg, sizeof(t->msg));
}

static void teardown_unmounted(void *arg, int err)
{
	struct teardown *t = arg;
	struct thawd_session *s = t->s;
	s->busy = false;
	thawd_session_set_state(s, TS_REMOVED, t->reason);
	thawd_events_close_session(s);
	if (t->done)
		t->done(t->arg, 0);
	thawd_session_unref(s);
	free(t);
	(void)err;
}

static void teardown_frozen(void *arg, int status)
{
	struct teardown *t = arg;
	struct thawd_session *s = t->s;
	/* no control socket: no snapshot was taken, the upper must stay */
	bool ok = t->ctl[0] && t->freeze_err == 0 && status == 0;
	if (ok) {
		snprintf(s->pre_exit_snapshot, sizeof(s->pre_exit_snapshot), "%s", t->snap);
		thawd_hist_add(&s->d->freeze_hist, t->stats.total_ms / 1000.0);
		thawd__snapshot_record(s, t->snap, SNAP_KIND_PRE_EXIT, &t->stats, t->author);
	} else if (t->ctl[0]) {
		thawd_log(s->d, "error", "%s: pre-exit snapshot failed: %s (the upper layer is kept in %s)", s->id,
		          t->msg[0] ? t->msg : strerror(-t->freeze_err), s->ws ? s->ws->upper : "?");
		thawd_event(s->d, s, "error",
		            json_pack("{s:s, s:s}", "message", "pre-exit snapshot failed: upper layer kept", "error",
		                      t->msg[0] ? t->msg : strerror(-t->freeze_err)));
	}
	struct thawd_ws *ws = s->ws;
	s->ws = NULL;
	thawd_sup_detach(s);
	if (!ws) {
		teardown_unmounted(t, 0);
		return;
	}
	/* keep the paths visible in the removed session's object */
	struct thawd_ws *copy = malloc(sizeof(*copy));
	if (copy) {
		*copy = *ws;
		s->ws = copy;
	}
	thawd_ws_unmount(s->d, ws, ok, teardown_unmounted, t);
}

int thawd_session_teardown(struct thawd_session *s, const char *reason, void (*done)(void *arg, int err), void *arg)
{
	if (s->state == TS_REMOVED || s->state == TS_STOPPING || s->state == TS_FAILED)
		return -EALREADY;
	if (s->state == TS_STARTING || s->busy || s->remounting)
		return -EBUSY;
	struct teardown *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->s = s;
	thawd_session_ref(s);
	s->busy = true;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	snprintf(t->author, sizeof(t->author), "%s <%s>", s->author_name, s->author_email);
	snprintf(t->repo, sizeof(t->repo), "%s", s->repo);
	t->done = done;
	t->arg = arg;
	thawd_session_set_state(s, TS_STOPPING, reason);
	thawd_sup_detach(s);
	if (s->ws && thawd__pid_alive(s->ws->pid)) {
		snprintf(t->ctl, sizeof(t->ctl), "%s", s->ws->ctl);
		if (thawd_work(s->d, teardown_freeze, teardown_frozen, t) == 0)
			return 0;
		t->freeze_err = -ENOMEM;
	} else if (s->ws) {
		/* thawfs died and the tick has not noticed yet: remount the same
		 * upper first, so the pre-exit snapshot still holds the work */
		s->teardown_pending = t;
		thawd__session_remount(s, "exited (found at teardown)");
		return 0;
	}
	teardown_frozen(t, 0);
	return 0;
}

void thawd__teardown_resume(struct thawd_session *s, int err)
{
	struct teardown *t = s->teardown_pending;
	if (!t)
		return;
	s->teardown_pending = NULL;
	if (!err && s->ws) {
		snprintf(t->ctl, sizeof(t->ctl), "%s", s->ws->ctl);
		if (thawd_work(s->d, teardown_freeze, teardown_frozen, t) == 0)
			return;
		t->freeze_err = -ENOMEM;
	} else {
		thawd_log(s->d, "warn", "%s: remount before the teardown failed: no pre-exit snapshot, upper kept in %s",
		          s->id, s->ws ? s->ws->upper : "?");
	}
	teardown_frozen(t, 0);
}
