/*
 * api_sys.c: GET /v1/health, GET /v1/version, GET /metrics (Prometheus text
 * exposition format 0.0.4). The list of metrics: docs/thawd.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_glue.h"
#include "thawd.h"

#include "banned.h"

void api_health(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	http_reply_json(req, 200, json_pack("{s:b, s:i, s:i}", "ok", 1, "sessions", (int)d->nsessions, "max_sessions",
	                                    (int)d->cfg.max_sessions));
}

void api_version(struct http_req *req, void *ctx)
{
	(void)ctx;
	http_reply_json(req, 200, json_pack("{s:s, s:s}", "version", THAWD_VERSION, "api", "v1"));
}

struct buf {
	char *p;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) bprintf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
		char *np = realloc(b->p, cap);
		if (!np)
			return;
		b->p = np;
		b->cap = cap;
	}
}

static void hist(struct buf *b, const char *name, const char *help, const struct thawd_hist *h)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < THAWD_HIST_N; i++) {
		if (i == THAWD_HIST_N - 1)
			bprintf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->bucket[i]);
		else
			bprintf(b, "%s_bucket{le=\"%g\"} %llu\n", name, thawd_hist_le[i], (unsigned long long)h->bucket[i]);
	}
	bprintf(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

/* Per-repository pool metrics (repositories with a pool only). */
static void pool_metrics(struct buf *b, struct thawd *d, int64_t now)
{
	struct pg *g = pg_get(d);
	if (!g)
		return;
	size_t n = 0;
	for (struct pg_repo *gr = g->repos; gr; gr = gr->next)
		n += gr->p != NULL;
	if (!n)
		return;
	struct pool_stats *st = calloc(n, sizeof(*st));
	const char **names = calloc(n, sizeof(*names));
	if (!st || !names) {
		free(st);
		free(names);
		return;
	}
	size_t k = 0;
	for (struct pg_repo *gr = g->repos; gr && k < n; gr = gr->next)
		if (gr->p) {
			pool_get_stats(gr->p, now, &st[k]);
			names[k++] = gr->name;
		}
	bprintf(b, "# HELP thaw_pool_ready Idle entries of the current image, ready to claim.\n"
	           "# TYPE thaw_pool_ready gauge\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b, "thaw_pool_ready{repo=\"%s\"} %u\n", names[i], st[i].ready);
	bprintf(b, "# HELP thaw_pool_entries Pool entries by state.\n# TYPE thaw_pool_entries gauge\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b,
		        "thaw_pool_entries{repo=\"%s\",state=\"stale\"} %u\n"
		        "thaw_pool_entries{repo=\"%s\",state=\"creating\"} %u\n"
		        "thaw_pool_entries{repo=\"%s\",state=\"held\"} %u\n",
		        names[i], st[i].stale, names[i], st[i].creating, names[i], st[i].held);
	bprintf(b, "# HELP thaw_pool_desired Desired pool size: clamp(in use + holds + spare, min, max).\n"
	           "# TYPE thaw_pool_desired gauge\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b, "thaw_pool_desired{repo=\"%s\"} %u\n", names[i], st[i].desired);
	bprintf(b, "# HELP thaw_pool_in_use Live sessions of the repository (warm and cold).\n"
	           "# TYPE thaw_pool_in_use gauge\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b, "thaw_pool_in_use{repo=\"%s\"} %u\n", names[i], st[i].in_use);
	bprintf(b, "# HELP thaw_pool_claims_total Session creations by how they were served.\n"
	           "# TYPE thaw_pool_claims_total counter\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b, "thaw_pool_claims_total{repo=\"%s\",kind=\"warm\"} %llu\n"
		           "thaw_pool_claims_total{repo=\"%s\",kind=\"cold\"} %llu\n",
		        names[i], (unsigned long long)st[i].claims_warm, names[i],
		        (unsigned long long)(st[i].claims - st[i].claims_warm));
	bprintf(b, "# HELP thaw_pool_cold_fallbacks_total Claims that found the pool empty (cold mount).\n"
	           "# TYPE thaw_pool_cold_fallbacks_total counter\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b, "thaw_pool_cold_fallbacks_total{repo=\"%s\"} %llu\n", names[i],
		        (unsigned long long)st[i].cold_fallbacks);
	bprintf(b, "# HELP thaw_pool_warms_total POST /v1/warm calls.\n# TYPE thaw_pool_warms_total counter\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b, "thaw_pool_warms_total{repo=\"%s\"} %llu\n", names[i], (unsigned long long)st[i].warms);
	bprintf(b, "# HELP thaw_pool_entries_total Pool entries by outcome.\n# TYPE thaw_pool_entries_total counter\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b,
		        "thaw_pool_entries_total{repo=\"%s\",outcome=\"created\"} %llu\n"
		        "thaw_pool_entries_total{repo=\"%s\",outcome=\"failed\"} %llu\n"
		        "thaw_pool_entries_total{repo=\"%s\",outcome=\"destroyed\"} %llu\n",
		        names[i], (unsigned long long)st[i].created, names[i], (unsigned long long)st[i].failed, names[i],
		        (unsigned long long)st[i].destroyed);
	/* the pool keeps the last POOL_REFILL_SAMPLES creation times, not a sum:
	 * quantiles and the count only */
	bprintf(b, "# HELP thaw_pool_refill_seconds Entry creation (mount, sync, prefetch), recent samples.\n"
	           "# TYPE thaw_pool_refill_seconds summary\n");
	for (size_t i = 0; i < n; i++)
		bprintf(b,
		        "thaw_pool_refill_seconds{repo=\"%s\",quantile=\"0.5\"} %.6f\n"
		        "thaw_pool_refill_seconds{repo=\"%s\",quantile=\"0.99\"} %.6f\n"
		        "thaw_pool_refill_seconds_count{repo=\"%s\"} %llu\n",
		        names[i], st[i].refill_p50_ms / 1000.0, names[i], st[i].refill_p99_ms / 1000.0, names[i],
		        (unsigned long long)st[i].created);
	free(st);
	free(names);
}

static void gc_metrics(struct buf *b, int64_t now)
{
	struct thawd_gc_stats g;
	thawd_image_gc_stats(&g);
	counter(b, "thaw_image_gc_runs_total", "Store garbage collection passes.", g.runs);
	counter(b, "thaw_image_gc_failures_total", "Store garbage collection passes that failed.", g.failures);
	bprintf(b, "# HELP thaw_image_gc_layers_removed_total Layers removed by the store garbage collection.\n"
	           "# TYPE thaw_image_gc_layers_removed_total counter\n"
	           "thaw_image_gc_layers_removed_total{kind=\"image\"} %llu\n"
	           "thaw_image_gc_layers_removed_total{kind=\"snapshot\"} %llu\n",
	        (unsigned long long)g.images_removed, (unsigned long long)g.snapshots_removed);
	counter(b, "thaw_image_gc_busy_total", "Unused layers a pass could not remove yet (parent or mounted).", g.busy);
	counter(b, "thaw_image_gc_objects_removed_total", "Store objects removed.", g.objects_removed);
	counter(b, "thaw_image_gc_bytes_removed_total", "Stored bytes of the removed objects.", g.bytes_removed);
	bprintf(b, "# HELP thaw_image_gc_layers_kept Layers the last pass kept.\n# TYPE thaw_image_gc_layers_kept gauge\n"
	           "thaw_image_gc_layers_kept %llu\n",
	        (unsigned long long)g.layers_kept);
	bprintf(b, "# HELP thaw_image_gc_last_run_age_seconds Time since the last pass ended (-1: none yet).\n"
	           "# TYPE thaw_image_gc_last_run_age_seconds gauge\nthaw_image_gc_last_run_age_seconds %.3f\n",
	        g.last_run_ms ? (double)(now - g.last_run_ms) / 1000.0 : -1.0);
	bprintf(b, "# HELP thaw_image_gc_last_duration_seconds Duration of the last pass.\n"
	           "# TYPE thaw_image_gc_last_duration_seconds gauge\nthaw_image_gc_last_duration_seconds %.6f\n",
	        g.last_duration_ms / 1000.0);
}

void api_metrics(struct http_req *req, void *ctx)
{
	struct thawd *d = ctx;
	struct buf b = {0};
	unsigned by_state[TS__N] = {0};
	for (struct thawd_session *s = d->sessions; s; s = s->next)
		by_state[s->state]++;
	bprintf(&b, "# HELP thaw_sessions Sessions by state.\n# TYPE thaw_sessions gauge\n");
	for (int i = 0; i < TS__N; i++)
		bprintf(&b, "thaw_sessions{state=\"%s\"} %u\n", thawd_state_name(i), by_state[i]);
	hist(&b, "thaw_sync_duration_seconds", "Background sync of a new workspace (fetch, diff, swap).", &d->sync_hist);
	hist(&b, "thaw_freeze_duration_seconds", "Snapshot freezes (session and pre-exit).", &d->freeze_hist);
	bprintf(&b, "# HELP thaw_hydrations_total Blobs hydrated by thawfs (summed over workspaces).\n"
	            "# TYPE thaw_hydrations_total counter\nthaw_hydrations_total %llu\n",
	        (unsigned long long)d->hydrations_total);
	bprintf(&b, "# HELP thaw_thawfs_restarts_total thawfs remounts after a crash.\n"
	            "# TYPE thaw_thawfs_restarts_total counter\nthaw_thawfs_restarts_total %llu\n",
	        (unsigned long long)d->thawfs_restarts_total);
	bprintf(&b, "# HELP thaw_image_age_seconds Age of the newest image of a repository (-1: none).\n"
	            "# TYPE thaw_image_age_seconds gauge\n");
	int64_t now = thawd_now_ms();
	for (struct thawd_repo *r = d->repos; r; r = r->next)
		bprintf(&b, "thaw_image_age_seconds{repo=\"%s\"} %.3f\n", r->name,
		        r->image[0] ? (double)(now - r->image_created_ms) / 1000.0 : -1.0);
	bprintf(&b, "# HELP thaw_image_builds_total Image builds (successful and failed).\n"
	            "# TYPE thaw_image_builds_total counter\n");
	for (struct thawd_repo *r = d->repos; r; r = r->next)
		bprintf(&b, "thaw_image_builds_total{repo=\"%s\"} %llu\n", r->name, (unsigned long long)r->builds);
	bprintf(&b, "# HELP thaw_image_build_failures_total Failed image builds.\n"
	            "# TYPE thaw_image_build_failures_total counter\n");
	for (struct thawd_repo *r = d->repos; r; r = r->next)
		bprintf(&b, "thaw_image_build_failures_total{repo=\"%s\"} %llu\n", r->name,
		        (unsigned long long)r->build_failures);
	struct http_stats hs;
	memset(&hs, 0, sizeof(hs));
	if (d->http)
		http_server_stats(d->http, &hs);
	bprintf(&b, "# HELP thaw_http_requests_total HTTP requests served.\n# TYPE thaw_http_requests_total counter\n"
	            "thaw_http_requests_total %llu\n",
	        (unsigned long long)hs.requests);
	bprintf(&b, "# HELP thaw_http_errors_total HTTP answers by class.\n# TYPE thaw_http_errors_total counter\n"
	            "thaw_http_errors_total{class=\"4xx\"} %llu\nthaw_http_errors_total{class=\"5xx\"} %llu\n",
	        (unsigned long long)hs.errors_4xx, (unsigned long long)hs.errors_5xx);
	bprintf(&b, "# HELP thaw_http_connections Open HTTP connections.\n# TYPE thaw_http_connections gauge\n"
	            "thaw_http_connections %llu\n",
	        (unsigned long long)hs.active_connections);
	static const char *const le[8] = {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"};
	bprintf(&b, "# HELP thaw_http_request_duration_seconds HTTP request latency.\n"
	            "# TYPE thaw_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < 8; i++) {
		cum = hs.latency_bucket[i] > cum ? hs.latency_bucket[i] : cum;
		bprintf(&b, "thaw_http_request_duration_seconds_bucket{le=\"%s\"} %llu\n", le[i],
		        (unsigned long long)hs.latency_bucket[i]);
	}
	bprintf(&b, "thaw_http_request_duration_seconds_sum %.6f\nthaw_http_request_duration_seconds_count %llu\n",
	        hs.latency_sum, (unsigned long long)cum);
	pool_metrics(&b, d, now);
	gc_metrics(&b, now);
	if (d->pool_metrics) {
		char *pm = d->pool_metrics(d);
		if (pm)
			bprintf(&b, "%s", pm);
		free(pm);
	}
	http_reply_text(req, 200, "text/plain; version=0.0.4", b.p ? b.p : "", b.len);
	free(b.p);
}
