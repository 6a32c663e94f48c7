/*
 * api_snapshots.c: POST /v1/sessions/ID/snapshots (snap_freeze of the
 * workspace on the thread pool; the gate parks writes meanwhile) and
 * GET .../snapshots (from session.db).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

void thawd__snapshot_record(struct thawd_session *s, const char *id, int kind, const struct snap_freeze_stats *st,
                            const char *author)
{
	json_t *row = json_pack("{s:s, s:s, s:I, s:I, s:f, s:I, s:s}", "id", id, "kind", snap_kind_name(kind), "files",
	                        (json_int_t)st->files, "bytes", (json_int_t)st->bytes, "ms", st->total_ms, "created_ms",
	                        (json_int_t)thawd_now_ms(), "author", author ? author : "");
	thawd__sdb_put_async(s, "snapshots", json_deep_copy(row));
	json_object_del(row, "created_ms");
	json_object_set_new(row, "new_bytes", json_integer((json_int_t)st->new_bytes));
	thawd_event(s->d, s, "snapshot", row);
}

struct snap_job {
	struct thawd_session *s;
	struct http_req *req;
	char ctl[PATH_MAX], author[300], repo[THAWD_NAME_MAX + 1];
	int kind;
	char id[SNAP_ID_HEXLEN + 1];
	struct snap_freeze_stats st;
	int err;
	char msg[512];
};

static void snap_work(void *arg)
{
	struct snap_job *j = arg;
	struct snap_freeze_opts o = {
		.control = j->ctl,
		.kind = j->kind,
		.author = j->author,
		.repo_name = j->repo,
	};
	j->err = thawd__freeze(j->s->d->store, &o, j->id, &j->st, j->msg, sizeof(j->msg));
}

static void snap_after(void *arg, int status)
{
	struct snap_job *j = arg;
	struct thawd_session *s = j->s;
	s->busy = false;
	if (!j->err && status < 0)
		j->err = status;
	if (j->err) {
		thawd_event(s->d, s, "error", json_pack("{s:s, s:s}", "message", "snapshot failed", "error",
		                                        j->msg[0] ? j->msg : strerror(-j->err)));
		http_reply_error(j->req, j->err == -ENOSPC ? 507 : 500, "snapshot_failed", "snapshot of %s failed: %s", s->id,
		                 j->msg[0] ? j->msg : strerror(-j->err));
	} else {
		thawd_hist_add(&s->d->freeze_hist, j->st.total_ms / 1000.0);
		thawd__snapshot_record(s, j->id, j->kind, &j->st, j->author);
		http_reply_json(j->req, 201,
		                json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:s}", "id", j->id, "kind", snap_kind_name(j->kind),
		                          "files", (json_int_t)j->st.files, "bytes", (json_int_t)j->st.bytes, "new_bytes",
		                          (json_int_t)j->st.new_bytes, "ms", j->st.total_ms, "session", s->id));
	}
	http_req_unref(j->req);
	thawd_session_unref(s);
	free(j);
}

void api_snapshots_create(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	struct thawd_session *s = thawd_api_session(req, d);
	if (!s)
		return;
	int kind = SNAP_KIND_SESSION;
	size_t blen = 0;
	http_req_body(req, &blen);
	if (blen) {
		json_t *b = http_req_json(req);
		if (!b)
			return;
		json_t *k = json_object_get(b, "kind");
		if (k && !json_is_null(k) &&
		    (!json_is_string(k) || snap_kind_parse(json_string_value(k), &kind) < 0 || kind == SNAP_KIND_IMAGE))
			THAWD_REPLY_ERR(req, 400, "bad_request", "kind: expected \"session\" or \"pre-exit\"");
	}
	if (s->state != TS_READY && s->state != TS_WRITABLE && s->state != TS_SYNC_FAILED)
		THAWD_REPLY_STATE_CONFLICT(req, s);
	if (s->busy || s->remounting || !s->ws)
		THAWD_REPLY_ERR(req, 409, "conflict", "session %s is busy (a snapshot or a remount runs)", s->id);
	struct snap_job *j = calloc(1, sizeof(*j));
	if (!j)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	thawd_session_touch(s);
	j->s = s;
	j->req = req;
	j->kind = kind;
	snprintf(j->ctl, sizeof(j->ctl), "%s", s->ws->ctl);
	/* the current prompt's author owns what the snapshot holds */
	if (s->prompt_current)
		snprintf(j->author, sizeof(j->author), "%s <%s>", s->prompt_current->author_name,
		         s->prompt_current->author_email);
	else
		snprintf(j->author, sizeof(j->author), "%s <%s>", s->author_name, s->author_email);
	snprintf(j->repo, sizeof(j->repo), "%s", s->repo);
	if (thawd_work(d, snap_work, snap_after, j) < 0) {
		free(j);
		THAWD_REPLY_ERR(req, 500, "internal", "cannot queue the freeze");
	}
	s->busy = true;
	http_req_ref(req);
	thawd_session_ref(s);
}

struct list_job {
	struct thawd_session *s;
	struct http_req *req;
	char table[16];
	json_t *out;
	int err;
};

static void list_work(struct thawd *d, void *arg)
{
	struct list_job *j = arg;
	(void)d;
	if (!j->s->sdb && thawd__sdb_open(j->s->db_path, &j->s->sdb) < 0) {
		j->err = -EIO;
		return;
	}
	j->err = thawd__sdb_list(j->s->sdb, j->table, j->out);
}

static void list_done(struct thawd *d, void *arg)
{
	struct list_job *j = arg;
	(void)d;
	if (j->err)
		http_reply_error(j->req, 500, "internal", "session.db: cannot list %s", j->table);
	else
		http_reply_json(j->req, 200, json_incref(j->out));
	json_decref(j->out);
	http_req_unref(j->req);
	thawd_session_unref(j->s);
	free(j);
}

void thawd__sdb_list_reply(struct thawd_session *s, struct http_req *req, const char *table)
{
	struct list_job *j = calloc(1, sizeof(*j));
	if (!j)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	j->s = s;
	thawd_session_ref(s);
	j->req = req;
	http_req_ref(req);
	snprintf(j->table, sizeof(j->table), "%s", table);
	j->out = json_array();
	thawd_db_submit(s->d, list_work, list_done, j);
}

void api_snapshots_list(struct http_req *req, void *ctx)
{
	struct thawd_session *s = thawd_api_session(req, ctx);
	if (!s)
		return;
	thawd_session_touch(s);
	thawd__sdb_list_reply(s, req, "snapshots");
}
