/*
 * repos.c: registered repositories. Each has a bare mirror at
 * STATE/repos/NAME.git (libgit2, on the thread pool: every branch of the
 * origin as a local branch), and images built from it with snap_image_build
 * (in the background; the newest image is what new sessions mount).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "thawd.h"

#include "banned.h"

struct thawd_repo *thawd_repo_find(struct thawd *d, const char *name)
{
	for (struct thawd_repo *r = d->repos; r; r = r->next)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

static void repo_free(struct thawd_repo *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->branch);
	json_decref(r->setup);
	free(r);
}

void thawd__repos_free(struct thawd *d)
{
	while (d->repos) {
		struct thawd_repo *n = d->repos->next;
		repo_free(d->repos);
		d->repos = n;
	}
}

json_t *thawd_repo_json(const struct thawd_repo *r)
{
	int64_t age = r->image[0] ? (thawd_now_ms() - r->image_created_ms) / 1000 : -1;
	return json_pack("{s:s, s:s, s:s, s:O, s:i, s:s, s:s?, s:s?, s:I, s:I, s:b, s:b, s:I, s:I, s:s?}", "name", r->name,
	                 "url", r->url, "branch", r->branch, "setup", r->setup, "build_interval_s", (int)r->build_interval_s,
	                 "mirror", r->mirror, "image", r->image[0] ? r->image : NULL, "image_commit",
	                 r->image_commit[0] ? r->image_commit : NULL, "image_age_s", (json_int_t)age, "created_ms",
	                 (json_int_t)r->created_ms, "ready", r->ready, "building", r->building, "builds",
	                 (json_int_t)r->builds, "build_failures", (json_int_t)r->build_failures, "last_error",
	                 r->last_error[0] ? r->last_error : NULL);
}

json_t *thawd__repo_row(const struct thawd_repo *r)
{
	json_t *o = thawd_repo_json(r);
	if (o)
		json_object_set_new(o, "image_created_ms", json_integer(r->image_created_ms));
	return o;
}

static void save_work(struct thawd *d, void *arg)
{
	json_t *row = arg;
	if (thawd__state_save_repo(d->db, row) < 0)
		thawd_log(d, "error", "thaw.db: save repo: %s", sqlite3_errmsg(d->db));
	json_decref(row);
}

static void repo_save(struct thawd *d, struct thawd_repo *r)
{
	json_t *row = thawd__repo_row(r);
	if (row)
		thawd_db_submit(d, save_work, NULL, row);
}

static struct thawd_repo *repo_new(struct thawd *d, const char *name, const char *url, const char *branch,
                                   json_t *setup, unsigned interval)
{
	struct thawd_repo *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->url = strdup(url);
	r->branch = strdup(branch ? branch : "");
	r->setup = setup ? json_incref(setup) : json_array();
	r->build_interval_s = interval;
	snprintf(r->mirror, sizeof(r->mirror), "%s/repos/%s.git", d->cfg.state, name);
	if (!r->url || !r->branch) {
		repo_free(r);
		return NULL;
	}
	struct thawd_repo **pp = &d->repos;
	while (*pp)
		pp = &(*pp)->next;
	*pp = r;
	return r;
}

void thawd__repo_from_row(struct thawd *d, json_t *row)
{
	const char *name = json_string_value(json_object_get(row, "name"));
	const char *url = json_string_value(json_object_get(row, "url"));
	if (!thawd_name_valid(name) || !url || thawd_repo_find(d, name))
		return;
	struct thawd_repo *r = repo_new(d, name, url, json_string_value(json_object_get(row, "branch")),
	                                json_object_get(row, "setup"),
	                                (unsigned)json_integer_value(json_object_get(row, "build_interval_s")));
	if (!r)
		return;
	const char *img = json_string_value(json_object_get(row, "image"));
	snprintf(r->image, sizeof(r->image), "%s", img ? img : "");
	img = json_string_value(json_object_get(row, "image_commit"));
	snprintf(r->image_commit, sizeof(r->image_commit), "%s", img ? img : "");
	r->image_created_ms = json_integer_value(json_object_get(row, "image_created_ms"));
	r->created_ms = json_integer_value(json_object_get(row, "created_ms"));
	r->builds = (uint64_t)json_integer_value(json_object_get(row, "builds"));
	r->build_failures = (uint64_t)json_integer_value(json_object_get(row, "build_failures"));
	struct stat st;
	r->ready = stat(r->mirror, &st) == 0;
}

/* ---- the mirror (thread pool) ---- */

static int mirror_fetch(const char *mirror, const char *url, char *branch, size_t blen, char *msg, size_t mlen,
                        bool create)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	int r = 0;
	if (create) {
		git_repository_init_options io;
		git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
		if (git_repository_init_ext(&repo, mirror, &io) < 0 ||
		    git_remote_create_with_fetchspec(&remote, repo, "origin", url, "+refs/heads/*:refs/heads/*") < 0)
			goto git_fail;
	} else if (git_repository_open_bare(&repo, mirror) < 0 || git_remote_lookup(&remote, repo, "origin") < 0) {
		goto git_fail;
	}
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.prune = GIT_FETCH_PRUNE;
	if (git_remote_fetch(remote, NULL, &fo, NULL) < 0)
		goto git_fail;
	/* the branch: as given, else main, master, or the first one */
	char ref[300];
	git_reference *ref_obj = NULL;
	if (branch[0]) {
		snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
		if (git_reference_lookup(&ref_obj, repo, ref) < 0) {
			snprintf(msg, mlen, "branch '%s' not found in %s", branch, url);
			r = -ENOENT;
			goto done;
		}
	} else {
		const char *cands[] = {"main", "master"};
		for (size_t i = 0; i < 2 && !ref_obj; i++) {
			snprintf(ref, sizeof(ref), "refs/heads/%s", cands[i]);
			if (git_reference_lookup(&ref_obj, repo, ref) == 0)
				snprintf(branch, blen, "%s", cands[i]);
		}
		if (!ref_obj) {
			git_reference_iterator *it = NULL;
			if (git_reference_iterator_glob_new(&it, repo, "refs/heads/*") == 0 &&
			    git_reference_next(&ref_obj, it) == 0)
				snprintf(branch, blen, "%s", git_reference_shorthand(ref_obj));
			git_reference_iterator_free(it);
		}
		if (!ref_obj) {
			snprintf(msg, mlen, "%s has no branch", url);
			r = -ENOENT;
			goto done;
		}
	}
	git_reference_free(ref_obj);
	snprintf(ref, sizeof(ref), "refs/heads/%s", branch);
	(void)git_repository_set_head(repo, ref);
	goto done;
git_fail: {
	const git_error *e = git_error_last();
	snprintf(msg, mlen, "%s: %s", url, e ? e->message : "git error");
	r = -EIO;
}
done:
	git_remote_free(remote);
	git_repository_free(repo);
	return r;
}

struct clone_job {
	struct thawd *d;
	struct thawd_repo *r;
	struct http_req *req;
	char mirror[PATH_MAX], url[PATH_MAX + 16], branch[256];
	char msg[600];
	int err;
};

static void clone_work(void *arg)
{
	struct clone_job *j = arg;
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", j->mirror);
	(void)thawd_rm_rf(tmp);
	j->err = mirror_fetch(tmp, j->url, j->branch, sizeof(j->branch), j->msg, sizeof(j->msg), true);
	if (!j->err && rename(tmp, j->mirror) < 0) {
		j->err = -errno;
		snprintf(j->msg, sizeof(j->msg), "%s: %s", j->mirror, strerror(errno));
	}
	if (j->err)
		(void)thawd_rm_rf(tmp);
}

static void clone_after(void *arg, int status)
{
	struct clone_job *j = arg;
	struct thawd *d = j->d;
	struct thawd_repo *r = j->r;
	if (!j->err && status < 0)
		j->err = status;
	if (j->err) {
		/* forget the repository: the name may be registered again */
		struct thawd_repo **pp = &d->repos;
		while (*pp && *pp != r)
			pp = &(*pp)->next;
		if (*pp)
			*pp = r->next;
		http_reply_error(j->req, j->err == -ENOENT ? 400 : 502, j->err == -ENOENT ? "bad_request" : "clone_failed",
		                 "%s", j->msg[0] ? j->msg : strerror(-j->err));
		repo_free(r);
	} else {
		free(r->branch);
		r->branch = strdup(j->branch);
		r->ready = true;
		repo_save(d, r);
		thawd_event(d, NULL, "repo", json_pack("{s:s, s:s, s:s}", "repo", r->name, "state", "ready", "branch", r->branch));
		http_reply_json(j->req, 201, thawd_repo_json(r));
	}
	http_req_unref(j->req);
	free(j);
}

static bool url_local(const char *url)
{
	return url[0] == '/' || !strncmp(url, "file://", 7);
}

void api_repos_create(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	json_t *b = http_req_json(req);
	if (!b)
		return;
	json_t *jn = json_object_get(b, "name"), *ju = json_object_get(b, "url"), *jb = json_object_get(b, "branch");
	json_t *js = json_object_get(b, "setup"), *ji = json_object_get(b, "build_interval_s");
	if (!json_is_string(jn) || !thawd_name_valid(json_string_value(jn)))
		THAWD_REPLY_ERR(req, 400, "bad_request", "name: expected a string of [A-Za-z0-9_.-]{1,64}, not starting with '.'");
	if (!json_is_string(ju) || !json_string_length(ju) || json_string_length(ju) >= PATH_MAX)
		THAWD_REPLY_ERR(req, 400, "bad_request", "url: expected a non-empty string");
	if (!url_local(json_string_value(ju)))
		THAWD_REPLY_ERR(req, 400, "bad_request", "url: only local paths and file:// URLs are supported");
	if (jb && !json_is_null(jb) &&
	    (!json_is_string(jb) || !json_string_length(jb) || json_string_length(jb) > 200 ||
	     strstr(json_string_value(jb), "..") || json_string_value(jb)[0] == '-'))
		THAWD_REPLY_ERR(req, 400, "bad_request", "branch: expected a branch name");
	if (js && !json_is_null(js)) {
		if (!json_is_array(js) || json_array_size(js) > 64)
			THAWD_REPLY_ERR(req, 400, "bad_request", "setup: expected an array of at most 64 strings");
		size_t i;
		json_t *c;
		json_array_foreach(js, i, c) {
			if (!json_is_string(c) || json_string_length(c) > 4000)
				THAWD_REPLY_ERR(req, 400, "bad_request", "setup[%zu]: expected a string", i);
		}
	} else {
		js = NULL;
	}
	if (ji && !json_is_null(ji) && (!json_is_integer(ji) || json_integer_value(ji) < 0 ||
	                                json_integer_value(ji) > 7 * 86400))
		THAWD_REPLY_ERR(req, 400, "bad_request", "build_interval_s: expected an integer 0..604800");
	const char *name = json_string_value(jn);
	if (thawd_repo_find(d, name))
		THAWD_REPLY_ERR(req, 409, "conflict", "repository '%s' already exists", name);
	char pool_msg[200];
	if (thawd_pool_repo_opts && thawd_pool_repo_opts(d, name, b, pool_msg, sizeof(pool_msg)) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "%s", pool_msg);
	struct thawd_repo *r = repo_new(d, name, json_string_value(ju), jb && json_is_string(jb) ? json_string_value(jb) : "",
	                                js, ji ? (unsigned)json_integer_value(ji) : 0);
	struct clone_job *j = r ? calloc(1, sizeof(*j)) : NULL;
	if (!j) {
		repo_free(r);
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	}
	r->created_ms = thawd_now_ms();
	j->d = d;
	j->r = r;
	j->req = req;
	http_req_ref(req);
	snprintf(j->mirror, sizeof(j->mirror), "%s", r->mirror);
	const char *url = r->url;
	snprintf(j->url, sizeof(j->url), "%s", url);
	snprintf(j->branch, sizeof(j->branch), "%s", r->branch);
	if (thawd_work(d, clone_work, clone_after, j) < 0) {
		j->err = -ENOMEM;
		clone_after(j, 0);
	}
}

void api_repos_list(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	json_t *a = json_array();
	for (struct thawd_repo *r = d->repos; r; r = r->next)
		if (r->ready)
			json_array_append_new(a, thawd_repo_json(r));
	http_reply_json(req, 200, a);
}

static struct thawd_repo *api_repo(struct http_req *req, struct thawd *d)
{
	const char *name = http_req_param(req, 0);
	if (!thawd_name_valid(name)) {
		http_reply_error(req, 400, "bad_request", "bad repository name");
		return NULL;
	}
	struct thawd_repo *r = thawd_repo_find(d, name);
	if (!r || !r->ready) {
		http_reply_error(req, 404, "not_found", "no repository '%s'", name);
		return NULL;
	}
	return r;
}

void api_repos_get(struct http_req *req, void *ctx)
{
	struct thawd_repo *r = api_repo(req, ctx);
	if (r)
		http_reply_json(req, 200, thawd_repo_json(r));
}

/* ---- images ---- */

struct build_job {
	struct thawd *d;
	struct thawd_repo *r;
	char mirror[PATH_MAX], url[PATH_MAX], branch[256], name[THAWD_NAME_MAX + 1], previous[41];
	char workdir[PATH_MAX], log[PATH_MAX + 8], cache[PATH_MAX], thawfs[PATH_MAX];
	char **cmds;
	size_t ncmds;
	char commands[4096];
	struct snap_image_result res;
	char msg[600];
	int err;
	int64_t started_ms;
};

static void build_work(void *arg)
{
	struct build_job *j = arg;
	char branch[256];
	snprintf(branch, sizeof(branch), "%s", j->branch);
	if ((j->err = mirror_fetch(j->mirror, j->url, branch, sizeof(branch), j->msg, sizeof(j->msg), false)) < 0)
		return;
	struct snap_image_opts o = {
		.repo = j->mirror,
		.repo_name = j->name,
		.remote = j->url,
		.branch = j->branch,
		.previous = j->previous[0] ? j->previous : NULL,
		.commands = (const char *const *)j->cmds,
		.ncommands = j->ncmds,
		.workdir = j->workdir,
		.cache = j->cache,
		.thawfs = j->thawfs,
		.log_path = j->log,
	};
	j->err = snap_image_build(j->d->store, &o, &j->res);
	if (j->err < 0)
		snprintf(j->msg, sizeof(j->msg), "%s", j->res.error[0] ? j->res.error : snap_last_error());
	(void)thawd_rm_rf(j->workdir);
}

static void image_save_work(struct thawd *d, void *arg)
{
	json_t *row = arg;
	if (thawd__state_save_image(d->db, row) < 0)
		thawd_log(d, "error", "thaw.db: save image: %s", sqlite3_errmsg(d->db));
	json_decref(row);
}

static void build_after(void *arg, int status)
{
	struct build_job *j = arg;
	struct thawd *d = j->d;
	struct thawd_repo *r = j->r;
	if (!j->err && status < 0)
		j->err = status;
	r->building = false;
	r->builds++;
	int64_t now = thawd_now_ms();
	json_t *row;
	if (j->err) {
		r->build_failures++;
		snprintf(r->last_error, sizeof(r->last_error), "%s", j->msg[0] ? j->msg : strerror(-j->err));
		char id[64];
		snprintf(id, sizeof(id), "failed-%lld", (long long)now);
		row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f}", "id", id, "repo", r->name, "status", "failed", "error",
		                r->last_error, "created_ms", (json_int_t)now, "duration_ms", (double)(now - j->started_ms));
		thawd_event(d, NULL, "image",
		            json_pack("{s:s, s:s, s:s}", "repo", r->name, "phase", "failed", "error", r->last_error));
		thawd_log(d, "error", "image build of %s failed: %s", r->name, r->last_error);
	} else {
		r->last_error[0] = 0;
		snprintf(r->image, sizeof(r->image), "%s", j->res.id);
		snprintf(r->image_commit, sizeof(r->image_commit), "%s", j->res.commit);
		r->image_created_ms = now;
		row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f}", "id", j->res.id, "repo", r->name, "commit", j->res.commit,
		                "status", "ok", "created_ms", (json_int_t)now, "duration_ms", j->res.duration_ms);
		thawd_event(d, NULL, "image",
		            json_pack("{s:s, s:s, s:s, s:s, s:f}", "repo", r->name, "phase", "done", "id", j->res.id, "commit",
		                      j->res.commit, "duration_ms", j->res.duration_ms));
	}
	if (row)
		thawd_db_submit(d, image_save_work, NULL, row);
	repo_save(d, r);
	for (size_t i = 0; i < j->ncmds; i++)
		free(j->cmds[i]);
	free(j->cmds);
	free(j);
}

int thawd_repo_build_image(struct thawd *d, struct thawd_repo *r)
{
	if (r->building)
		return -EBUSY;
	struct build_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->d = d;
	j->r = r;
	j->started_ms = thawd_now_ms();
	snprintf(j->mirror, sizeof(j->mirror), "%s", r->mirror);
	snprintf(j->url, sizeof(j->url), "%s", r->url);
	snprintf(j->branch, sizeof(j->branch), "%s", r->branch);
	snprintf(j->name, sizeof(j->name), "%s", r->name);
	snprintf(j->previous, sizeof(j->previous), "%s", r->image);
	snprintf(j->workdir, sizeof(j->workdir), "%s/builds/%s-%lld", d->cfg.state, r->name, (long long)j->started_ms);
	snprintf(j->log, sizeof(j->log), "%s.log", j->workdir);
	snprintf(j->cache, sizeof(j->cache), "%s/cache", d->cfg.state);
	snprintf(j->thawfs, sizeof(j->thawfs), "%s", d->cfg.thawfs);
	j->ncmds = json_array_size(r->setup);
	j->cmds = calloc(j->ncmds + 1, sizeof(char *));
	for (size_t i = 0; j->cmds && i < j->ncmds; i++)
		j->cmds[i] = strdup(json_string_value(json_array_get(r->setup, i)) ?: "");
	if (!j->cmds || thawd_work(d, build_work, build_after, j) < 0) {
		free(j->cmds);
		free(j);
		return -ENOMEM;
	}
	r->building = true;
	thawd_event(d, NULL, "image", json_pack("{s:s, s:s, s:s?}", "repo", r->name, "phase", "start", "previous",
	                                        r->image[0] ? r->image : NULL));
	return 0;
}

void api_images_build(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	struct thawd_repo *r = api_repo(req, d);
	if (!r)
		return;
	int e = thawd_repo_build_image(d, r);
	if (e == -EBUSY)
		THAWD_REPLY_ERR(req, 409, "conflict", "an image build of '%s' is already running", r->name);
	if (e < 0)
		THAWD_REPLY_ERR(req, 500, "internal", "%s", strerror(-e));
	http_reply_json(req, 202, json_pack("{s:s, s:b, s:s?}", "repo", r->name, "building", 1, "previous",
	                                    r->image[0] ? r->image : NULL));
}

struct images_job {
	struct http_req *req;
	char repo[THAWD_NAME_MAX + 1];
	json_t *out;
	int err;
};

static void images_work(struct thawd *d, void *arg)
{
	struct images_job *j = arg;
	j->err = thawd__state_images(d->db, j->repo, j->out);
}

static void images_done(struct thawd *d, void *arg)
{
	struct images_job *j = arg;
	if (j->err)
		http_reply_error(j->req, 500, "internal", "thaw.db: cannot list images");
	else
		http_reply_json(j->req, 200, json_incref(j->out));
	json_decref(j->out);
	http_req_unref(j->req);
	free(j);
}

void api_images_list(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	struct thawd_repo *r = api_repo(req, d);
	if (!r)
		return;
	struct images_job *j = calloc(1, sizeof(*j));
	if (!j)
		THAWD_REPLY_ERR(req, 500, "internal", "out of memory");
	j->req = req;
	http_req_ref(req);
	snprintf(j->repo, sizeof(j->repo), "%s", r->name);
	j->out = json_array();
	thawd_db_submit(d, images_work, images_done, j);
}

void thawd_repos_tick(struct thawd *d)
{
	if (d->pool)
		return; /* pool_glue.c runs the cadence (a build only when the branch moved) */
	int64_t now = thawd_now_ms();
	for (struct thawd_repo *r = d->repos; r; r = r->next) {
		if (!r->ready || r->building || !r->build_interval_s)
			continue;
		int64_t last = r->image_created_ms ? r->image_created_ms : r->created_ms;
		if (now - last >= (int64_t)r->build_interval_s * 1000 && now - r->last_attempt_ms >= 60000) {
			r->last_attempt_ms = now;
			(void)thawd_repo_build_image(d, r);
		}
	}
}

void thawd_repos_restore(struct thawd *d)
{
	for (struct thawd_repo *r = d->repos; r; r = r->next)
		if (!r->ready)
			thawd_log(d, "warn", "repository %s: mirror %s is missing", r->name, r->mirror);
}
