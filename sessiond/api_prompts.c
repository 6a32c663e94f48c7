/*
 * api_prompts.c: prompts (a queue per session; the current prompt's author
 * is the author of the file changes that follow), stop, and export (a
 * commit per prompting author from the change journal).
 *
 * Prompt states: queued -> running (the current one) -> done | cancelled.
 * The agent runner that works on the current prompt reports the end with
 * POST /v1/sessions/ID/prompts/current/done; the next queued prompt becomes
 * current. POST /v1/sessions/ID/stop cancels the current and queued ones.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "thawd.h"

#include "banned.h"

#define PROMPT_TEXT_MAX (256u << 10)

static bool live(const struct thawd_session *s)
{
	return s->state == TS_READY || s->state == TS_WRITABLE || s->state == TS_SYNC_FAILED || s->state == TS_FROZEN;
}

static void prompt_store(struct thawd_session *s, const struct thawd_prompt *p, const char *state)
{
	json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)p->id, "name", p->author_name, "email",
	                        p->author_email, "text", p->text ? p->text : "", "state", state, "created_ms",
	                        (json_int_t)p->created_ms);
	if (row && (!strcmp(state, "done") || !strcmp(state, "cancelled")))
		json_object_set_new(row, "done_ms", json_integer(thawd_now_ms()));
	if (row)
		thawd__sdb_put_async(s, "prompts", row);
}

static void prompt_event(struct thawd_session *s, const struct thawd_prompt *p, const char *phase)
{
	json_t *ev = json_pack("{s:s, s:I, s:{s:s, s:s}}", "phase", phase, "prompt", (json_int_t)p->id, "author", "name",
	                       p->author_name, "email", p->author_email);
	if (ev && !strcmp(phase, "queued"))
		json_object_set_new(ev, "text", json_string(p->text ? p->text : ""));
	thawd_event(s->d, s, "prompt", ev);
}

/* Makes the head of the queue current (if none is). */
static void prompt_advance(struct thawd_session *s)
{
	if (s->prompt_current || !s->prompt_queue)
		return;
	struct thawd_prompt *p = s->prompt_queue;
	s->prompt_queue = p->next;
	p->next = NULL;
	s->prompts_queued--;
	s->prompt_current = p;
	prompt_store(s, p, "running");
	prompt_event(s, p, "started");
}

void api_prompts_create(struct http_req *req, void *ctx)
{
	json_t *b;
	struct thawd_session *s = thawd_api_session_body(req, ctx, &b);
	if (!s)
		return;
	char name[128], email[128];
	if (thawd_api_author(json_object_get(b, "author"), name, sizeof(name), email, sizeof(email)) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "author: expected {\"name\": string, \"email\": string}");
	json_t *t = json_object_get(b, "text");
	if (!json_is_string(t) || !json_string_length(t) || json_string_length(t) > PROMPT_TEXT_MAX)
		THAWD_REPLY_ERR(req, 400, "bad_request", "text: expected a non-empty string (at most %u bytes)", PROMPT_TEXT_MAX);
	if (!live(s))
		THAWD_REPLY_STATE_CONFLICT(req, s);
	if (s->prompts_queued >= THAWD_MAX_PROMPTS) {
		http_reply_header(req, "Retry-After", "30");
		THAWD_REPLY_ERR(req, 429, "too_many", "at most %u queued prompts", THAWD_MAX_PROMPTS);
	}
	struct thawd_prompt *p = calloc(1, sizeof(*p));
	if (!p || !(p->text = strndup(json_string_value(t), json_string_length(t)))) {
		free(p);
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	}
	thawd_session_touch(s);
	p->id = s->prompt_next_id++;
	snprintf(p->author_name, sizeof(p->author_name), "%s", name);
	snprintf(p->author_email, sizeof(p->author_email), "%s", email);
	p->created_ms = thawd_now_ms();
	struct thawd_prompt **tail = &s->prompt_queue;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	s->prompts_queued++;
	prompt_store(s, p, "queued");
	prompt_event(s, p, "queued");
	prompt_advance(s);
	/* a prompt's author takes part in the session */
	if (!thawd__participant_known(s, email) && json_array_size(s->participants) < THAWD_MAX_PARTICIPANTS)
		thawd__participant_add(s, name, email);
	thawd_session_save(s);
	json_t *o = thawd_prompt_json(p, s->prompt_current == p ? "running" : "queued");
	json_object_set_new(o, "position", json_integer(s->prompt_current == p ? 0 : (json_int_t)s->prompts_queued));
	http_reply_json(req, 201, o);
}

void api_prompts_done(struct http_req *req, void *ctx)
{
	struct thawd_session *s = thawd_api_session(req, ctx);
	if (!s)
		return;
	if (!s->prompt_current)
		THAWD_REPLY_ERR(req, 409, "conflict", "session %s has no running prompt", s->id);
	thawd_session_touch(s);
	struct thawd_prompt *p = s->prompt_current;
	s->prompt_current = NULL;
	prompt_store(s, p, "done");
	prompt_event(s, p, "done");
	json_t *done = thawd_prompt_json(p, "done");
	free(p->text);
	free(p);
	prompt_advance(s);
	thawd_session_save(s);
	http_reply_json(req, 200,
	                json_pack("{s:o, s:o}", "done", done, "current",
	                          s->prompt_current ? thawd_prompt_json(s->prompt_current, "running") : json_null()));
}

void api_sessions_stop(struct http_req *req, void *ctx)
{
	struct thawd_session *s = thawd_api_session(req, ctx);
	if (!s)
		return;
	if (!live(s))
		THAWD_REPLY_STATE_CONFLICT(req, s);
	thawd_session_touch(s);
	unsigned n = 0;
	struct thawd_prompt *all[2] = {s->prompt_current, s->prompt_queue};
	s->prompt_current = s->prompt_queue = NULL;
	s->prompts_queued = 0;
	for (int k = 0; k < 2; k++) {
		struct thawd_prompt *p = all[k];
		if (k == 0 && p)
			p->next = NULL;
		while (p) {
			struct thawd_prompt *nx = p->next;
			prompt_store(s, p, "cancelled");
			prompt_event(s, p, "cancelled");
			free(p->text);
			free(p);
			p = nx;
			n++;
		}
	}
	thawd_event(s->d, s, "lifecycle",
	            json_pack("{s:s, s:s, s:i}", "state", thawd_state_name(s->state), "reason", "stopped", "cancelled", (int)n));
	thawd_session_save(s);
	json_t *o = thawd_session_json(s);
	json_object_set_new(o, "cancelled", json_integer(n));
	http_reply_json(req, 200, o);
}

/* ---- export ---- */

struct export_job {
	struct thawd_session *s;
	struct http_req *req;
	char branch[256], message[1024], mirror[PATH_MAX], mount[PATH_MAX], base[41], sid[THAWD_ID_LEN + 1];
	json_t *journal;   /* [{op, path, name, email}] in order */
	json_t *commits;   /* result */
	int status;        /* HTTP status on failure */
	char msg[600];
};

static void journal_work(struct thawd *d, void *arg)
{
	struct export_job *j = arg;
	(void)d;
	if (!j->s->sdb && thawd__sdb_open(j->s->db_path, &j->s->sdb) < 0)
		return;
	(void)thawd__sdb_journal(j->s->sdb, j->journal);
}

static bool skip_path(const char *p)
{
	return !strcmp(p, ".") || !strcmp(p, ".git") || !strncmp(p, ".git/", 5) || strstr(p, "/.git/") ||
	       !strncmp(p, ".thaw-work", 10);
}

struct upd_list {
	git_tree_update *u;
	size_t n, cap;
};

static int upd_add(struct upd_list *l, int action, const git_oid *id, git_filemode_t mode, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->u[i].path, path))
			return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		git_tree_update *nu = realloc(l->u, cap * sizeof(*nu));
		if (!nu)
			return -ENOMEM;
		l->u = nu;
		l->cap = cap;
	}
	git_tree_update *u = &l->u[l->n];
	memset(u, 0, sizeof(*u));
	u->action = action;
	if (id)
		u->id = *id;
	u->filemode = mode;
	u->path = strdup(path);
	if (!u->path)
		return -ENOMEM;
	l->n++;
	return 0;
}

static void upd_clear(struct upd_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->u[i].path);
	l->n = 0;
}

/* The current state of path in the workspace, as tree updates. */
static int add_path(git_repository *repo, git_tree *base, const char *mount, const char *path, struct upd_list *l,
                    int depth)
{
	char full[PATH_MAX * 2];
	if (snprintf(full, sizeof(full), "%s/%s", mount, path) >= (int)sizeof(full))
		return -ENAMETOOLONG;
	struct stat st;
	git_oid id;
	if (lstat(full, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		git_tree_entry *e = NULL;
		if (git_tree_entry_bypath(&e, base, path) == 0) {
			git_tree_entry_free(e);
			return upd_add(l, GIT_TREE_UPDATE_REMOVE, NULL, GIT_FILEMODE_BLOB, path);
		}
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		if (git_blob_create_from_disk(&id, repo, full) < 0)
			return -EIO;
		return upd_add(l, GIT_TREE_UPDATE_UPSERT, &id,
		               st.st_mode & 0111 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB, path);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(full, target, sizeof(target));
		if (n < 0)
			return -errno;
		if (git_blob_create_from_buffer(&id, repo, target, (size_t)n) < 0)
			return -EIO;
		return upd_add(l, GIT_TREE_UPDATE_UPSERT, &id, GIT_FILEMODE_LINK, path);
	}
	if (S_ISDIR(st.st_mode) && depth < 64) {
		DIR *dir = opendir(full);
		if (!dir)
			return -errno;
		struct dirent *de;
		int r = 0;
		while (r == 0 && (de = readdir(dir))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char sub[PATH_MAX];
			if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
				continue;
			if (!skip_path(sub))
				r = add_path(repo, base, mount, sub, l, depth + 1);
		}
		closedir(dir);
		return r;
	}
	return 0; /* fifos, devices: not representable in git */
}

static void export_work(void *arg)
{
	struct export_job *j = arg;
	git_repository *repo = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_signature *committer = NULL;
	struct upd_list ul = {0};
	char ref[300];
	snprintf(ref, sizeof(ref), "refs/heads/%s", j->branch);
	j->status = 500;
	if (git_repository_open_bare(&repo, j->mirror) < 0)
		goto git_fail;
	git_reference *existing = NULL;
	if (git_reference_lookup(&existing, repo, ref) == 0) {
		git_reference_free(existing);
		j->status = 409;
		snprintf(j->msg, sizeof(j->msg), "branch '%s' already exists", j->branch);
		goto done;
	}
	git_oid oid;
	if (git_oid_fromstr(&oid, j->base) < 0 || git_commit_lookup(&parent, repo, &oid) < 0 ||
	    git_commit_tree(&tree, parent) < 0)
		goto git_fail;
	if (git_signature_now(&committer, "Thaw", "thaw@localhost") < 0)
		goto git_fail;
	/* each path belongs to the last author who changed it; authors commit
	 * in the order of their first change */
	json_t *owner = json_object(), *order = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(j->journal, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *email = json_string_value(json_object_get(e, "email"));
		if (!path || !email || skip_path(path))
			continue;
		json_object_set(owner, path, e);
		bool seen = false;
		size_t k;
		json_t *a;
		json_array_foreach(order, k, a) {
			if (!strcmp(json_string_value(json_object_get(a, "email")), email))
				seen = true;
		}
		if (!seen)
			json_array_append_new(order, json_pack("{s:s, s:s}", "name",
			                                       json_string_value(json_object_get(e, "name")) ?: "", "email", email));
	}
	json_t *a;
	size_t k;
	json_array_foreach(order, k, a) {
		const char *email = json_string_value(json_object_get(a, "email"));
		const char *name = json_string_value(json_object_get(a, "name"));
		upd_clear(&ul);
		const char *path;
		json_t *v;
		int files = 0;
		json_object_foreach(owner, path, v) {
			if (strcmp(json_string_value(json_object_get(v, "email")), email))
				continue;
			int r = add_path(repo, tree, j->mount, path, &ul, 0);
			if (r < 0) {
				snprintf(j->msg, sizeof(j->msg), "%s: %s", path, strerror(-r));
				json_decref(owner);
				json_decref(order);
				goto done;
			}
			files++;
		}
		if (!ul.n)
			continue;
		git_oid tid, cid;
		git_tree *nt = NULL;
		git_signature *author = NULL;
		if (git_tree_create_updated(&tid, repo, tree, ul.n, ul.u) < 0 || git_tree_lookup(&nt, repo, &tid) < 0) {
			json_decref(owner);
			json_decref(order);
			goto git_fail;
		}
		if (git_oid_equal(&tid, git_tree_id(tree))) {
			git_tree_free(nt);
			continue; /* nothing changed in the end */
		}
		char msg[1400];
		if (j->message[0])
			snprintf(msg, sizeof(msg), "%s\n\nThaw-Session: %s\n", j->message, j->sid);
		else
			snprintf(msg, sizeof(msg), "Changes by %s in session %s\n\nThaw-Session: %s\n", name, j->sid, j->sid);
		const git_commit *parents[1] = {parent};
		if (git_signature_now(&author, name[0] ? name : email, email) < 0 ||
		    git_commit_create(&cid, repo, NULL, author, committer, NULL, msg, nt, 1, parents) < 0) {
			git_signature_free(author);
			git_tree_free(nt);
			json_decref(owner);
			json_decref(order);
			goto git_fail;
		}
		git_signature_free(author);
		git_tree_free(tree);
		tree = nt;
		git_commit_free(parent);
		parent = NULL;
		if (git_commit_lookup(&parent, repo, &cid) < 0) {
			json_decref(owner);
			json_decref(order);
			goto git_fail;
		}
		char hex[41];
		git_oid_tostr(hex, sizeof(hex), &cid);
		json_array_append_new(j->commits, json_pack("{s:s, s:{s:s, s:s}, s:i}", "id", hex, "author", "name", name,
		                                            "email", email, "paths", files));
	}
	json_decref(owner);
	json_decref(order);
	if (!json_array_size(j->commits)) {
		j->status = 409;
		snprintf(j->msg, sizeof(j->msg), "no changes to export");
		goto done;
	}
	git_reference *nr = NULL;
	if (git_reference_create(&nr, repo, ref, git_commit_id(parent), 0, "thaw export") < 0)
		goto git_fail;
	git_reference_free(nr);
	j->status = 201;
	goto done;
git_fail: {
	const git_error *ge = git_error_last();
	snprintf(j->msg, sizeof(j->msg), "git: %s", ge ? ge->message : "error");
	j->status = 500;
}
done:
	upd_clear(&ul);
	free(ul.u);
	git_signature_free(committer);
	git_tree_free(tree);
	git_commit_free(parent);
	git_repository_free(repo);
}

static void export_after(void *arg, int status)
{
	struct export_job *j = arg;
	struct thawd_session *s = j->s;
	s->busy = false;
	if (j->status == 201 && status == 0) {
		thawd_event(s->d, s, "export",
		            json_pack("{s:s, s:O}", "branch", j->branch, "commits", j->commits));
		http_reply_json(j->req, 201, json_pack("{s:s, s:s, s:O}", "branch", j->branch, "base", j->base, "commits",
		                                       j->commits));
	} else {
		http_reply_error(j->req, j->status == 201 ? 500 : j->status, j->status == 409 ? "conflict" : "export_failed",
		                 "export of %s: %s", s->id, j->msg[0] ? j->msg : "failed");
	}
	json_decref(j->journal);
	json_decref(j->commits);
	http_req_unref(j->req);
	thawd_session_unref(s);
	free(j);
}

static void journal_done(struct thawd *d, void *arg)
{
	struct export_job *j = arg;
	if (thawd_work(d, export_work, export_after, j) < 0) {
		j->status = 500;
		snprintf(j->msg, sizeof(j->msg), "cannot queue the export");
		export_after(j, 0);
	}
}

void api_sessions_export(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	json_t *b;
	struct thawd_session *s = thawd_api_session_body(req, d, &b);
	if (!s)
		return;
	json_t *jb = json_object_get(b, "branch"), *jm = json_object_get(b, "message");
	char ref[300];
	int valid = 0;
	if (json_is_string(jb) && json_string_length(jb) <= 200) {
		snprintf(ref, sizeof(ref), "refs/heads/%s", json_string_value(jb));
		if (git_reference_name_is_valid(&valid, ref) < 0)
			valid = 0;
	}
	if (!valid)
		THAWD_REPLY_ERR(req, 400, "bad_request", "branch: expected a valid branch name");
	if (jm && !json_is_null(jm) && (!json_is_string(jm) || json_string_length(jm) > 1000))
		THAWD_REPLY_ERR(req, 400, "bad_request", "message: expected a string (at most 1000 bytes)");
	if (!live(s) || !s->ws)
		THAWD_REPLY_STATE_CONFLICT(req, s);
	if (s->busy || s->remounting)
		THAWD_REPLY_ERR(req, 409, "conflict", "session %s is busy: retry", s->id);
	struct thawd_repo *r = thawd_repo_find(d, s->repo);
	if (!r)
		THAWD_REPLY_ERR(req, 409, "conflict", "repository %s is gone", s->repo);
	struct export_job *j = calloc(1, sizeof(*j));
	if (!j)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	thawd_session_touch(s);
	j->s = s;
	thawd_session_ref(s);
	j->req = req;
	http_req_ref(req);
	snprintf(j->branch, sizeof(j->branch), "%s", json_string_value(jb));
	snprintf(j->message, sizeof(j->message), "%s", jm && json_is_string(jm) ? json_string_value(jm) : "");
	snprintf(j->mirror, sizeof(j->mirror), "%s", r->mirror);
	snprintf(j->mount, sizeof(j->mount), "%s", s->ws->mount);
	snprintf(j->base, sizeof(j->base), "%s", s->ws->synced_commit[0] ? s->ws->synced_commit : s->ws->base_commit);
	snprintf(j->sid, sizeof(j->sid), "%s", s->id);
	j->journal = json_array();
	j->commits = json_array();
	s->busy = true;
	/* the journal is read after every change event queued so far is stored */
	thawd_db_submit(d, journal_work, journal_done, j);
}
