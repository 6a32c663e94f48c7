/*
 * api_sessions.c: POST/GET/DELETE /v1/sessions[/ID], timeout, refresh,
 * participants.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thawd.h"

#include "banned.h"

#define MAX_TIMEOUT_S (7 * 86400)

struct thawd_session *thawd_api_session(struct http_req *req, struct thawd *d)
{
	const char *id = http_req_param(req, 0);
	if (!thawd_id_valid(id)) {
		http_reply_error(req, 400, "bad_request", "bad session id (expected s- and 16 hex digits)");
		return NULL;
	}
	struct thawd_session *s = thawd_session_find(d, id);
	if (!s) {
		http_reply_error(req, 404, "not_found", "no session %s", id);
		return NULL;
	}
	return s;
}

struct thawd_session *thawd_api_session_body(struct http_req *req, struct thawd *d, json_t **body)
{
	struct thawd_session *s = thawd_api_session(req, d);
	if (!s || !(*body = http_req_json(req)))
		return NULL;
	return s;
}

json_t *thawd_api_repo_body(struct http_req *req, const char **repo)
{
	json_t *b = http_req_json(req);
	if (!b)
		return NULL;
	json_t *jr = json_object_get(b, "repo");
	if (!json_is_string(jr) || !thawd_name_valid(json_string_value(jr))) {
		http_reply_error(req, 400, "bad_request", "repo: expected a repository name");
		return NULL;
	}
	*repo = json_string_value(jr);
	return b;
}

bool thawd__participant_known(const struct thawd_session *s, const char *email)
{
	size_t i;
	json_t *p;
	json_array_foreach(s->participants, i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "email")) ?: "", email))
			return true;
	}
	return false;
}

json_t *thawd__participant_add(struct thawd_session *s, const char *name, const char *email)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "name", name, "email", email, "added_ms", (json_int_t)thawd_now_ms());
	if (!o)
		return NULL;
	thawd__sdb_put_async(s, "participants", json_deep_copy(o));
	json_array_append_new(s->participants, o);
	return o;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '<' || s[i] == '>')
			return false;
	return true;
}

int thawd_api_author(json_t *o, char *name, size_t nlen, char *email, size_t elen)
{
	if (!json_is_object(o))
		return -EINVAL;
	const char *n = json_string_value(json_object_get(o, "name"));
	const char *e = json_string_value(json_object_get(o, "email"));
	if (!n || !e || !text_ok(n, nlen - 1) || !text_ok(e, elen - 1) || strchr(e, ' '))
		return -EINVAL;
	snprintf(name, nlen, "%s", n);
	snprintf(email, elen, "%s", e);
	return 0;
}

static int opt_uint(json_t *b, const char *key, unsigned lo, unsigned hi, unsigned *out)
{
	json_t *v = json_object_get(b, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -EINVAL;
	*out = (unsigned)json_integer_value(v);
	return 0;
}

struct create_ctx {
	struct thawd_session *s;
	struct http_req *req;
};

static void adopt(struct thawd_session *s, struct thawd_ws *ws)
{
	s->ws = ws;
	thawd_session_set_state(s, TS_READY, "mounted");
	thawd_sup_attach(s);
	if (ws->writes_ready) {
		thawd_hist_add(&s->d->sync_hist, (ws->writes_ready_ms - ws->mounted_ms) / 1000.0);
		thawd_session_set_state(s, TS_WRITABLE, "synced");
	} else {
		thawd_sup_check(s);
	}
}

static void create_mounted(void *arg, int err, struct thawd_ws *ws)
{
	struct create_ctx *c = arg;
	struct thawd_session *s = c->s;
	if (err) {
		thawd_session_set_state(s, TS_FAILED, "mount failed");
		thawd_event(s->d, s, "error", json_pack("{s:s, s:s}", "message", "mount failed", "error", strerror(-err)));
		if (err == -ENOENT)
			http_reply_error(c->req, 404, "not_found", "snapshot or commit not found for session %s", s->id);
		else
			http_reply_error(c->req, 500, "mount_failed", "session %s: workspace mount failed: %s", s->id,
			                 strerror(-err));
	} else {
		adopt(s, ws);
		http_reply_json(c->req, 201, thawd_session_json(s));
	}
	http_req_unref(c->req);
	thawd_session_unref(s);
	free(c);
}

void api_sessions_create(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	const char *repo;
	json_t *b = thawd_api_repo_body(req, &repo);
	if (!b)
		return;
	char name[128], email[128];
	if (thawd_api_author(json_object_get(b, "author"), name, sizeof(name), email, sizeof(email)) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "author: expected {\"name\": string, \"email\": string}");
	json_t *jf = json_object_get(b, "from_snapshot"), *jp = json_object_get(b, "parent"),
	       *jb = json_object_get(b, "branch");
	if (jf && !json_is_null(jf) && (!json_is_string(jf) || !thawd_layer_id_valid(json_string_value(jf))))
		THAWD_REPLY_ERR(req, 400, "bad_request", "from_snapshot: expected a layer id (8..40 lowercase hex digits)");
	if (jp && !json_is_null(jp) && (!json_is_string(jp) || !thawd_id_valid(json_string_value(jp))))
		THAWD_REPLY_ERR(req, 400, "bad_request", "parent: expected a session id");
	if (jb && !json_is_null(jb) &&
	    (!json_is_string(jb) || !json_string_length(jb) || json_string_length(jb) > 200 ||
	     strstr(json_string_value(jb), "..") || json_string_value(jb)[0] == '-'))
		THAWD_REPLY_ERR(req, 400, "bad_request", "branch: expected a branch name");
	unsigned timeout_s = THAWD_DEFAULT_TIMEOUT_S, idle_s = THAWD_DEFAULT_IDLE_S;
	if (opt_uint(b, "timeout_s", 1, MAX_TIMEOUT_S, &timeout_s) < 0 ||
	    opt_uint(b, "idle_timeout_s", 1, MAX_TIMEOUT_S, &idle_s) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "timeout_s, idle_timeout_s: expected integers 1..%d", MAX_TIMEOUT_S);
	struct thawd_repo *r = thawd_repo_find(d, repo);
	if (!r || !r->ready)
		THAWD_REPLY_ERR(req, 404, "not_found", "no repository '%s'", repo);
	const char *parent = jp && json_is_string(jp) ? json_string_value(jp) : NULL;
	if (parent && !thawd_session_find(d, parent))
		THAWD_REPLY_ERR(req, 404, "not_found", "no parent session %s", parent);
	if (d->stopping)
		THAWD_REPLY_ERR(req, 503, "unavailable", "thawd is stopping");
	if (d->nsessions >= d->cfg.max_sessions) {
		http_reply_header(req, "Retry-After", "10");
		THAWD_REPLY_ERR(req, 429, "too_many", "at the session cap (%u): retry later", d->cfg.max_sessions);
	}

	struct thawd_session *s = thawd__session_new(d, NULL);
	struct create_ctx *c = s ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	d->nsessions++;
	s->create_t0 = thawd_mono_ms();
	snprintf(s->repo, sizeof(s->repo), "%s", repo);
	snprintf(s->branch, sizeof(s->branch), "%s", jb && json_is_string(jb) ? json_string_value(jb) : r->branch);
	snprintf(s->author_name, sizeof(s->author_name), "%s", name);
	snprintf(s->author_email, sizeof(s->author_email), "%s", email);
	if (jf && json_is_string(jf))
		snprintf(s->from_snapshot, sizeof(s->from_snapshot), "%s", json_string_value(jf));
	if (parent)
		snprintf(s->parent, sizeof(s->parent), "%s", parent);
	s->timeout_s = timeout_s;
	s->idle_timeout_s = idle_s;
	s->created_ms = thawd_now_ms();
	s->expires_at_ms = s->created_ms + (int64_t)timeout_s * 1000;
	s->idle_expires_at_ms = s->created_ms + (int64_t)idle_s * 1000;
	json_array_append_new(s->participants,
	                      json_pack("{s:s, s:s, s:I}", "name", name, "email", email, "added_ms", (json_int_t)s->created_ms));
	thawd_event(d, s, "lifecycle", json_pack("{s:s, s:s, s:s}", "state", "starting", "repo", repo, "author", email));
	thawd_session_save(s);

	char user[300];
	snprintf(user, sizeof(user), "%s <%s>", name, email);
	if (d->pool_claim && !s->from_snapshot[0]) {
		struct thawd_ws *ws = d->pool_claim(d, repo, user);
		if (ws) {
			s->warm = true;
			adopt(s, ws);
			http_reply_json(req, 201, thawd_session_json(s));
			free(c);
			return;
		}
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/sessions/%s", d->cfg.state, s->id);
	struct thawd_ws_opts o = {
		.repo = repo,
		.layer = s->from_snapshot[0] ? s->from_snapshot : NULL,
		.dir = dir,
		.git_author = user,
	};
	c->s = s;
	c->req = req;
	http_req_ref(req);
	thawd_session_ref(s);
	int e = thawd_ws_mount_opts(d, &o, create_mounted, c);
	if (e < 0)
		create_mounted(c, e, NULL);
}

void api_sessions_list(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	const char *q = http_req_query(req, "state");
	int want = -1;
	if (q && (want = thawd_state_parse(q)) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "state: unknown state '%.40s'", q);
	json_t *a = json_array();
	for (struct thawd_session *s = d->sessions; s; s = s->next)
		if (want < 0 || s->state == want)
			json_array_append_new(a, thawd_session_json(s));
	http_reply_json(req, 200, a);
}

void api_sessions_get(struct http_req *req, void *ctx)
{
	struct thawd_session *s = thawd_api_session(req, ctx);
	if (!s)
		return;
	thawd_session_touch(s);
	http_reply_json(req, 200, thawd_session_json(s));
}

struct delete_ctx {
	struct thawd_session *s;
	struct http_req *req;
};

static void delete_done(void *arg, int err)
{
	struct delete_ctx *c = arg;
	(void)err;
	http_reply_json(c->req, 200, thawd_session_json(c->s));
	http_req_unref(c->req);
	free(c);
}

void api_sessions_delete(struct http_req *req, void *ctx)
{
	struct thawd_session *s = thawd_api_session(req, ctx);
	if (!s)
		return;
	struct delete_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	c->s = s;
	c->req = req;
	http_req_ref(req);
	int e = thawd_session_teardown(s, "deleted", delete_done, c);
	if (e < 0) {
		http_req_unref(req);
		free(c);
		if (e == -EALREADY)
			THAWD_REPLY_STATE_CONFLICT(req, s);
		if (e == -EBUSY)
			THAWD_REPLY_ERR(req, 409, "conflict", "session %s is busy (%s%s): retry", s->id,
			                thawd_state_name(s->state), s->busy ? ", snapshot running" : "");
		THAWD_REPLY_ERR(req, 500, "internal", "teardown: %s", strerror(-e));
	}
}

static bool live(const struct thawd_session *s)
{
	return s->state != TS_REMOVED && s->state != TS_FAILED && s->state != TS_STOPPING;
}

void api_sessions_timeout(struct http_req *req, void *ctx)
{
	json_t *b;
	struct thawd_session *s = thawd_api_session_body(req, ctx, &b);
	if (!s)
		return;
	json_t *t = json_object_get(b, "timeout_s");
	if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > MAX_TIMEOUT_S)
		THAWD_REPLY_ERR(req, 400, "bad_request", "timeout_s: expected an integer 1..%d", MAX_TIMEOUT_S);
	if (!live(s))
		THAWD_REPLY_STATE_CONFLICT(req, s);
	/* the new hard limit counts from now */
	s->timeout_s = (unsigned)json_integer_value(t);
	s->expires_at_ms = thawd_now_ms() + (int64_t)s->timeout_s * 1000;
	thawd_session_touch(s);
	thawd_event(s->d, s, "lifecycle",
	            json_pack("{s:s, s:s, s:I}", "state", thawd_state_name(s->state), "reason", "timeout set",
	                      "expires_at_ms", (json_int_t)s->expires_at_ms));
	thawd_session_save(s);
	http_reply_json(req, 200, thawd_session_json(s));
}

void api_sessions_refresh(struct http_req *req, void *ctx)
{
	struct thawd_session *s = thawd_api_session(req, ctx);
	if (!s)
		return;
	if (!live(s))
		THAWD_REPLY_STATE_CONFLICT(req, s);
	s->idle_expires_at_ms = thawd_now_ms() + (int64_t)s->idle_timeout_s * 1000;
	thawd_session_save(s);
	http_reply_json(req, 200, thawd_session_json(s));
}

struct sdb_put {
	struct thawd_session *s;
	char table[16];
	json_t *row;
};

static void sdb_put_work(struct thawd *d, void *arg)
{
	struct sdb_put *p = arg;
	struct thawd_session *s = p->s;
	if (!s->sdb && thawd__sdb_open(s->db_path, &s->sdb) < 0)
		return;
	if (thawd__sdb_put(s->sdb, p->table, p->row) < 0)
		thawd_log(d, "error", "%s: session.db %s: %s", s->id, p->table, sqlite3_errmsg(s->sdb));
}

static void sdb_put_done(struct thawd *d, void *arg)
{
	struct sdb_put *p = arg;
	(void)d;
	thawd_session_unref(p->s);
	json_decref(p->row);
	free(p);
}

void thawd__sdb_put_async(struct thawd_session *s, const char *table, json_t *row)
{
	struct sdb_put *p = calloc(1, sizeof(*p));
	if (!p) {
		json_decref(row);
		return;
	}
	p->s = s;
	thawd_session_ref(s);
	snprintf(p->table, sizeof(p->table), "%s", table);
	p->row = row;
	thawd_db_submit(s->d, sdb_put_work, sdb_put_done, p);
}

void api_sessions_participants(struct http_req *req, void *ctx)
{
	json_t *b;
	struct thawd_session *s = thawd_api_session_body(req, ctx, &b);
	if (!s)
		return;
	char name[128], email[128];
	if (thawd_api_author(b, name, sizeof(name), email, sizeof(email)) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "expected {\"name\": string, \"email\": string}");
	if (!live(s))
		THAWD_REPLY_STATE_CONFLICT(req, s);
	if (thawd__participant_known(s, email))
		THAWD_REPLY_ERR(req, 409, "conflict", "%s is already a participant", email);
	if (json_array_size(s->participants) >= THAWD_MAX_PARTICIPANTS)
		THAWD_REPLY_ERR(req, 429, "too_many", "at most %u participants", THAWD_MAX_PARTICIPANTS);
	thawd_session_touch(s);
	json_t *o = thawd__participant_add(s, name, email);
	if (!o)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	thawd_event(s->d, s, "lifecycle",
	            json_pack("{s:s, s:s, s:{s:s, s:s}}", "state", thawd_state_name(s->state), "reason", "participant added",
	                      "participant", "name", name, "email", email));
	thawd_session_save(s);
	http_reply_json(req, 201, json_incref(o));
}
