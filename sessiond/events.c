/*
 * events.c: the event log and its live followers.
 *
 * thawd_event numbers an event (per session: 1, 2, ...; daemon-wide: one
 * sequence over everything), queues its storage on the database thread
 * (session.db, and a copy in thaw.db), and writes it to the followers.
 *
 * A follower (GET .../events?since=N) is registered at once but starts in
 * "replaying": the database thread reads (N, U] where U was the last number
 * when it connected; since the database thread runs jobs in order, every
 * event up to U is stored before the replay reads. Live events arriving
 * meanwhile wait in the follower's pending array and are written after the
 * replay, so the client sees every number once, in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thawd.h"

#include "banned.h"

struct thawd_follower {
	struct thawd_follower *next;
	struct thawd *d;
	struct thawd_session *s;  /* NULL: daemon-wide */
	struct http_req *req;
	uint64_t last;            /* last seq written */
	uint64_t upto;            /* replay bound */
	json_t *replay;           /* filled on the db thread */
	json_t *pending;          /* live events during the replay */
	bool replaying, aborted, end_after_replay;
	int rc;                   /* references: the list + a replay job */
};

struct ev_job {
	struct thawd_session *s;
	uint64_t seq, gseq;
	int64_t time_ms;
	char type[32];
	char *json;
	/* change journal */
	bool change;
	char *op, *path, *name, *email;
	uint64_t prompt;
};

static void ev_store(struct thawd *d, void *arg)
{
	struct ev_job *j = arg;
	if (j->s) {
		struct thawd_session *s = j->s;
		if (!s->sdb && thawd__sdb_open(s->db_path, &s->sdb) < 0)
			thawd_log(d, "error", "%s: cannot open session.db", s->db_path);
		if (s->sdb) {
			if (thawd__sdb_insert_event(s->sdb, j->seq, j->type, j->time_ms, j->json) < 0)
				thawd_log(d, "error", "%s: event %llu: %s", s->id, (unsigned long long)j->seq,
				          sqlite3_errmsg(s->sdb));
			if (j->change)
				(void)thawd__sdb_journal_add(s->sdb, j->seq, j->time_ms, j->op, j->path, j->name, j->email,
				                             j->prompt);
		}
	}
	if (thawd__state_insert_event(d->db, j->gseq, j->s ? j->s->id : NULL, j->json) < 0)
		thawd_log(d, "error", "thaw.db: event %llu: %s", (unsigned long long)j->gseq, sqlite3_errmsg(d->db));
}

static void ev_stored(struct thawd *d, void *arg)
{
	struct ev_job *j = arg;
	if (j->s)
		thawd_session_unref(j->s);
	free(j->json);
	free(j->op);
	free(j->path);
	free(j->name);
	free(j->email);
	free(j);
}

static void follower_unref(struct thawd_follower *f)
{
	if (--f->rc > 0)
		return;
	json_decref(f->replay);
	json_decref(f->pending);
	if (f->s)
		thawd_session_unref(f->s);
	free(f);
}

static void follower_unlink(struct thawd_follower *f)
{
	struct thawd_follower **pp = f->s ? &f->s->followers : &f->d->followers;
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			f->d->nfollowers--;
			follower_unref(f);
			return;
		}
	}
}

/* Writes ev (borrowed) if newer than what the follower has; false once gone. */
static bool follower_write(struct thawd_follower *f, json_t *ev)
{
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
	if (seq <= f->last)
		return true;
	f->last = seq;
	if (http_stream_write_json(f->req, json_incref(ev)) < 0) {
		f->aborted = true;
		return false;
	}
	return true;
}

static void follower_end(struct thawd_follower *f)
{
	http_req_on_abort(f->req, NULL, NULL);
	if (!f->aborted) {
		http_stream_end(f->req);
		f->aborted = true;
	}
	http_req_unref(f->req);
	follower_unlink(f);
}

static void deliver(struct thawd_follower **head, json_t *ev)
{
	struct thawd_follower *f = *head, *next;
	for (; f; f = next) {
		next = f->next;
		if (f->aborted)
			continue;
		if (f->replaying) {
			json_array_append(f->pending, ev);
			continue;
		}
		if (!follower_write(f, ev))
			follower_end(f);
	}
}

void thawd_event(struct thawd *d, struct thawd_session *s, const char *type, json_t *ev)
{
	if (!ev)
		return;
	int64_t now = thawd_now_ms();
	uint64_t gseq = ++d->seq;
	uint64_t seq = s ? ++s->seq : gseq;
	json_object_set_new(ev, "seq", json_integer((json_int_t)seq));
	if (s)
		json_object_set_new(ev, "session", json_string(s->id));
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "time_ms", json_integer(now));

	struct ev_job *j = calloc(1, sizeof(*j));
	if (j) {
		j->s = s;
		if (s)
			thawd_session_ref(s);
		j->seq = seq;
		j->gseq = gseq;
		j->time_ms = now;
		snprintf(j->type, sizeof(j->type), "%s", type);
		j->json = json_dumps(ev, JSON_COMPACT);
		if (s && !strcmp(type, "change")) {
			j->change = true;
			j->op = strdup(json_string_value(json_object_get(ev, "op")) ?: "");
			j->path = strdup(json_string_value(json_object_get(ev, "path")) ?: "");
			json_t *a = json_object_get(ev, "author");
			j->name = strdup(json_string_value(json_object_get(a, "name")) ?: "");
			j->email = strdup(json_string_value(json_object_get(a, "email")) ?: "");
			j->prompt = (uint64_t)json_integer_value(json_object_get(ev, "prompt"));
		}
		if (j->json)
			thawd_db_submit(d, ev_store, ev_stored, j);
		else
			ev_stored(d, j);
	}

	if (s)
		deliver(&s->followers, ev);
	if (d->followers) {
		json_t *g = json_copy(ev);
		json_object_set_new(g, "session_seq", json_integer((json_int_t)seq));
		json_object_set_new(g, "seq", json_integer((json_int_t)gseq));
		deliver(&d->followers, g);
		json_decref(g);
	}
	json_decref(ev);
}

static void replay_read(struct thawd *d, void *arg)
{
	struct thawd_follower *f = arg;
	if (f->aborted)
		return;
	if (f->s) {
		struct thawd_session *s = f->s;
		if (!s->sdb && thawd__sdb_open(s->db_path, &s->sdb) < 0)
			return;
		(void)thawd__sdb_events_since(s->sdb, f->last, f->upto, f->replay);
	} else {
		(void)thawd__state_events_since(d->db, f->last, f->upto, f->replay);
	}
}

static void replay_done(struct thawd *d, void *arg)
{
	struct thawd_follower *f = arg;
	if (!f->aborted) {
		size_t i;
		json_t *ev;
		bool ok = true;
		json_array_foreach(f->replay, i, ev) {
			if (!(ok = follower_write(f, ev)))
				break;
		}
		json_array_foreach(f->pending, i, ev) {
			if (!ok || !(ok = follower_write(f, ev)))
				break;
		}
		json_array_clear(f->replay);
		json_array_clear(f->pending);
		f->replaying = false;
		if (!ok || f->end_after_replay)
			follower_end(f);
	}
	follower_unref(f);
}

static void follower_aborted(struct http_req *req, void *arg)
{
	struct thawd_follower *f = arg;
	f->aborted = true;
	http_req_unref(f->req);
	follower_unlink(f);
}

void thawd_events_follow(struct thawd *d, struct thawd_session *s, struct http_req *req)
{
	const char *q = http_req_query(req, "since");
	uint64_t since = 0;
	if (q) {
		char *end = NULL;
		errno = 0;
		unsigned long long v = strtoull(q, &end, 10);
		if (!*q || *end || errno || q[0] == '-') {
			http_reply_error(req, 400, "bad_request", "since: expected a non-negative integer");
			return;
		}
		since = v;
	}
	if (d->nfollowers >= THAWD_MAX_FOLLOWERS) {
		http_reply_header(req, "Retry-After", "5");
		http_reply_error(req, 429, "too_many", "too many event followers (%u)", THAWD_MAX_FOLLOWERS);
		return;
	}
	struct thawd_follower *f = calloc(1, sizeof(*f));
	if (!f) {
		http_reply_error(req, 500, "internal", "out of memory");
		return;
	}
	if (http_stream_begin(req, "application/x-ndjson") < 0) {
		free(f);
		return;
	}
	f->d = d;
	f->s = s;
	if (s)
		thawd_session_ref(s);
	f->req = req;
	http_req_ref(req);
	f->last = since;
	f->upto = s ? s->seq : d->seq;
	f->replay = json_array();
	f->pending = json_array();
	f->replaying = true;
	f->rc = 2; /* the list and the replay job */
	struct thawd_follower **head = s ? &s->followers : &d->followers;
	f->next = *head;
	*head = f;
	d->nfollowers++;
	http_req_on_abort(req, follower_aborted, f);
	if (s && (s->state == TS_REMOVED || s->state == TS_FAILED))
		f->end_after_replay = true;
	thawd_db_submit(d, replay_read, replay_done, f);
}

static void close_list(struct thawd_follower **head)
{
	struct thawd_follower *f = *head, *next;
	for (; f; f = next) {
		next = f->next;
		if (f->replaying)
			f->end_after_replay = true;
		else
			follower_end(f);
	}
}

void thawd_events_close_session(struct thawd_session *s)
{
	close_list(&s->followers);
}

void thawd_events_close_all(struct thawd *d)
{
	for (struct thawd_session *s = d->sessions; s; s = s->next)
		close_list(&s->followers);
	close_list(&d->followers);
}

unsigned thawd_events_followers(const struct thawd_session *s)
{
	unsigned n = 0;
	for (const struct thawd_follower *f = s->followers; f; f = f->next)
		n++;
	return n;
}
