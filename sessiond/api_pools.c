/*
 * api_pools: GET /v1/pools and POST /v1/warm (docs/api.md, docs/pool.md).
 * The pools themselves are in pool_glue.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pool_glue.h"

#include "banned.h"

void api_pools_list(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	struct pg *g = pg_get(d);
	if (!g)
		THAWD_REPLY_ERR(req, 503, "unavailable", "warm pools are not running");
	int64_t now = thawd_now_ms();
	json_t *a = json_array();
	for (struct thawd_repo *r = d->repos; r; r = r->next) {
		if (!r->ready)
			continue;
		struct pg_repo *gr = pg_repo_find(g, r->name);
		if (gr)
			json_array_append_new(a, pg_repo_json(gr, now));
	}
	http_reply_json(req, 200, a);
}

/* user: "Name <email>", "email", or {"name", "email"}. */
static int warm_user(json_t *j, char *out, size_t n)
{
	if (json_is_string(j)) {
		const char *u = json_string_value(j);
		if (!*u || json_string_length(j) > 300 || strpbrk(u, "\n\r"))
			return -EINVAL;
		snprintf(out, n, "%s", u);
		return 0;
	}
	char name[128], email[128];
	if (thawd_api_author(j, name, sizeof(name), email, sizeof(email)) < 0)
		return -EINVAL;
	snprintf(out, n, "%s <%s>", name, email);
	return 0;
}

void api_warm(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	const char *repo;
	json_t *b = thawd_api_repo_body(req, &repo);
	if (!b)
		return;
	char user[320], key[POOL_USER_MAX + 1];
	if (warm_user(json_object_get(b, "user"), user, sizeof(user)) < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request",
		                "user: expected \"Name <email>\", an email, or {\"name\": string, \"email\": string}");
	pg_user_key(user, key, sizeof(key));
	if (!key[0] || strlen(key) > POOL_USER_MAX)
		THAWD_REPLY_ERR(req, 400, "bad_request", "user: empty or longer than %d bytes", POOL_USER_MAX);
	struct thawd_repo *r = thawd_repo_find(d, repo);
	if (!r || !r->ready)
		THAWD_REPLY_ERR(req, 404, "not_found", "no repository '%s'", repo);
	struct pg *g = pg_get(d);
	if (!g || g->stopping)
		THAWD_REPLY_ERR(req, 503, "unavailable", "warm pools are not running");
	struct pg_repo *gr = pg_repo_find(g, repo);
	if (!gr || !pg_repo_pool(gr))
		THAWD_REPLY_ERR(req, 409, "conflict", "repository '%s' has no pool (set pool_max on POST /v1/repos)", repo);
	uint64_t entry = 0;
	int64_t until = 0;
	int e = pool_warm(gr->p, key, thawd_now_ms(), &entry, &until);
	if (e == -ENOSPC) {
		http_reply_header(req, "Retry-After", "5");
		THAWD_REPLY_ERR(req, 429, "too_many", "too many holds on the pool of '%s'", repo);
	}
	if (e < 0)
		THAWD_REPLY_ERR(req, 400, "bad_request", "warm: %s", strerror(-e));
	pg_repo_kick(gr);
	thawd_event(d, NULL, "pool",
	            json_pack("{s:s, s:s, s:s, s:I}", "repo", repo, "phase", "warm", "user", key, "entry", (json_int_t)entry));
	http_reply_json(req, 202,
	                json_pack("{s:s, s:s, s:o, s:I}", "repo", repo, "user", key,
	                          "entry", entry ? json_integer((json_int_t)entry) : json_null(), "held_until_ms",
	                          (json_int_t)until));
}

/* ---- JSON for GET /v1/pools ---- */

json_t *pg_repo_json(struct pg_repo *gr, int64_t now)
{
	struct pool_stats st;
	json_t *o;
	if (gr->p) {
		pool_get_stats(gr->p, now, &st);
	} else {
		memset(&st, 0, sizeof(st));
		st.min = gr->cfg.min;
		st.max = gr->cfg.max;
		st.spare = gr->cfg.spare;
	}
	int64_t age = pool_cadence_image_age_ms(&gr->cad, now);
	o = json_object();
	if (!o)
		return NULL;
#define SETI(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
	json_object_set_new(o, "repo", json_string(gr->name));
	json_object_set_new(o, "enabled", json_boolean(gr->enabled));
	SETI("min", st.min);
	SETI("max", st.max);
	SETI("spare", st.spare);
	SETI("desired", st.desired);
	SETI("target", st.target);
	SETI("ready", st.ready);
	SETI("stale", st.stale);
	SETI("creating", st.creating);
	SETI("held", st.held);
	SETI("pending_holds", st.pending_holds);
	SETI("claimed", st.in_use);
	SETI("claims", st.claims);
	SETI("claims_warm", st.claims_warm);
	SETI("cold_fallbacks", st.cold_fallbacks);
	SETI("claims_held", st.claims_held);
	SETI("holds_stolen", st.holds_stolen);
	SETI("holds_expired", st.holds_expired);
	SETI("warms", st.warms);
	SETI("created", st.created);
	SETI("failed", st.failed);
	SETI("destroyed", st.destroyed);
	SETI("rotations", gr->rotations);
#undef SETI
	json_object_set_new(o, "refill_p50_ms", json_real(st.refill_p50_ms));
	json_object_set_new(o, "refill_p99_ms", json_real(st.refill_p99_ms));
	json_object_set_new(o, "image", gr->image[0] ? json_string(gr->image) : json_null());
	json_object_set_new(o, "image_age_s", json_integer(age < 0 ? -1 : age / 1000));
	json_object_set_new(o, "backoff_until_ms", json_integer(st.backoff_until_ms));
	json_object_set_new(o, "cadence",
	                    json_pack("{s:i, s:I, s:b, s:I, s:I, s:I, s:i, s:s?, s:s?}", "interval_s",
	                              (int)(gr->cad_interval_s == UINT32_MAX ? 0 : gr->cad_interval_s), "next_check_ms",
	                              (json_int_t)gr->cad.next_due_ms, "building", gr->cad_waiting || gr->cad.building,
	                              "builds", (json_int_t)gr->cad.builds, "failures", (json_int_t)gr->cad.failures,
	                              "skips", (json_int_t)gr->cad.skips, "consecutive_failures",
	                              (int)gr->cad.consecutive_failures, "last_error",
	                              gr->cad.last_error[0] ? gr->cad.last_error : NULL, "tip", gr->tip[0] ? gr->tip : NULL));
	json_object_set_new(o, "prefetch",
	                    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "sessions",
	                              (json_int_t)(gr->pf_busy ? 0 : pool_prefetch_sessions(gr->pf)), "paths",
	                              (json_int_t)(gr->pf_busy ? 0 : pool_prefetch_paths(gr->pf)), "plan_files",
	                              (json_int_t)gr->nplan, "plan_bytes", (json_int_t)gr->plan_bytes, "hydrated_files",
	                              (json_int_t)gr->hydrated_files, "hydrated_bytes", (json_int_t)gr->hydrated_bytes,
	                              "trace_window_s", (int)gr->trace_window_s));
	return o;
}
