/*
 * pool_sim: a discrete-event simulation of one repository's warm pool over
 * synthetic days of session arrivals, driving the real pool_core (the same
 * code thawd runs). Not a test: bench/pool.sh runs it and prints the table
 * docs/bench-pool.md quotes.
 *
 * Workload (seeded, so every scenario sees the same day):
 *   - arrivals: a non-homogeneous Poisson process with a daily rhythm
 *     (night 0.1/min, morning ramp, peak --peak/min around 10:30 and 15:00,
 *     lunch dip) plus --bursts bursts a day in working hours (each 25
 *     sessions within about 3 minutes: a team kicking off agents together);
 *   - each session is preceded by 5-30 s of typing; 90% of clients send
 *     the warm signal when typing starts; 10% more warm signals are
 *     abandoned (typing without a prompt);
 *   - session length: 70% exponential with mean 8 min, 30% with mean
 *     45 min, between 30 s and 4 h;
 *   - a pool entry takes a cold mount plus sync: 0.8 s + lognormal (median
 *     0.25 s), slower by 25% per other mount in flight; 0.5% fail;
 *   - a warm claim costs 1-3 ms (the API answer); a cold start waits for a
 *     mount like a pool entry does.
 * Reported per scenario: cold-start rate, p50/p99 wait from the prompt to a
 * writable workspace, idle workspace-minutes a day (entries made and not in
 * use, creations included), entries created a day.
 *
 *   pool_sim [--days N] [--seed S] [--peak PER_MIN] [--bursts N] [--scenario NAME] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define DAY_MS (24LL * 3600 * 1000)
#define NUSERS 300

/* ---- random numbers (splitmix64) ---- */
struct rng {
	uint64_t s;
};
static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static double rng_unit(struct rng *r) /* (0, 1) */
{
	return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}
static double rng_exp(struct rng *r, double mean)
{
	return -mean * log(rng_unit(r));
}
static double rng_normal(struct rng *r)
{
	return sqrt(-2 * log(rng_unit(r))) * cos(2 * M_PI * rng_unit(r));
}

/* ---- the workload ---- */
struct arrival {
	int64_t t;        /* the prompt: POST /v1/sessions */
	int64_t typing;   /* typing started (the warm signal) */
	bool warm_signal;
	unsigned user;
	int64_t length;
};

struct workload {
	struct arrival *v;
	size_t n, cap;
	int64_t *abandoned; /* warm signals without a session */
	unsigned *abandoned_user;
	size_t nab, capab;
};

static double rate_per_min(double peak, int64_t t)
{
	double h = (double)(t % DAY_MS) / 3600000.0;
	double day = exp(-pow((h - 10.5) / 1.8, 2)) + 0.9 * exp(-pow((h - 15.0) / 2.0, 2));
	double lunch = 1.0 - 0.35 * exp(-pow((h - 12.75) / 0.6, 2));
	return 0.1 + peak * day * lunch;
}

static void push_arrival(struct workload *w, struct rng *r, int64_t t)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 1024;
		w->v = realloc(w->v, w->cap * sizeof(*w->v));
		if (!w->v)
			abort();
	}
	struct arrival *a = &w->v[w->n++];
	a->t = t;
	a->typing = t - (int64_t)(5000 + rng_unit(r) * 25000);
	a->warm_signal = rng_unit(r) < 0.9;
	a->user = (unsigned)(rng_next(r) % NUSERS);
	double len = rng_unit(r) < 0.7 ? rng_exp(r, 8 * 60000.0) : rng_exp(r, 45 * 60000.0);
	if (len < 30000)
		len = 30000;
	if (len > 4 * 3600000.0)
		len = 4 * 3600000.0;
	a->length = (int64_t)len;
}

static int cmp_arrival(const void *a, const void *b)
{
	const struct arrival *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

static void workload_make(struct workload *w, uint64_t seed, int days, double peak, int bursts)
{
	struct rng r = {seed};
	double max_rate = 0.1 + peak * 2.0; /* bound of rate_per_min */
	int64_t end = days * DAY_MS;
	for (double t = 0;;) {
		t += rng_exp(&r, 60000.0 / max_rate);
		if (t >= (double)end)
			break;
		if (rng_unit(&r) * max_rate <= rate_per_min(peak, (int64_t)t))
			push_arrival(w, &r, (int64_t)t);
	}
	for (int d = 0; d < days; d++)
		for (int b = 0; b < bursts; b++) {
			int64_t at = d * DAY_MS + (int64_t)((9.0 + rng_unit(&r) * 8.0) * 3600000.0);
			for (int k = 0; k < 25; k++)
				push_arrival(w, &r, at + (int64_t)rng_exp(&r, 60000.0));
		}
	qsort(w->v, w->n, sizeof(*w->v), cmp_arrival);
	w->capab = w->n / 10 + 1;
	w->abandoned = malloc(w->capab * sizeof(*w->abandoned));
	w->abandoned_user = malloc(w->capab * sizeof(*w->abandoned_user));
	for (size_t i = 0; i < w->capab; i++) {
		w->abandoned[i] = w->v[(size_t)(rng_next(&r) % w->n)].t + (int64_t)(rng_unit(&r) * 600000.0);
		w->abandoned_user[i] = (unsigned)(rng_next(&r) % NUSERS);
	}
	w->nab = w->capab;
}

/* ---- the event queue (binary heap) ---- */
enum { EV_TYPING, EV_ABANDON, EV_ARRIVE, EV_CREATED, EV_END, EV_TICK };
struct ev {
	int64_t t;
	int kind;
	uint64_t seq;  /* ties in insertion order: deterministic */
	uint64_t a;    /* arrival index, entry id */
	bool ok;
};
struct heap {
	struct ev *v;
	size_t n, cap;
	uint64_t seq;
};
static bool ev_less(const struct ev *x, const struct ev *y)
{
	return x->t != y->t ? x->t < y->t : x->seq < y->seq;
}
static void heap_push(struct heap *h, struct ev e)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 4096;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		if (!h->v)
			abort();
	}
	e.seq = h->seq++;
	size_t i = h->n++;
	while (i > 0 && ev_less(&e, &h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = e;
}
static struct ev heap_pop(struct heap *h)
{
	struct ev top = h->v[0], last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && ev_less(&h->v[c + 1], &h->v[c]))
			c++;
		if (!ev_less(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

/* ---- one scenario ---- */
struct scenario {
	const char *name;
	struct pool_config cfg;
	bool warm;
};

struct result {
	size_t sessions, cold;
	double p50, p99, mean_wait;
	double idle_ws_min_per_day, created_per_day;
	uint64_t stolen, held_claims;
};

struct sim {
	struct rng rng;
	struct pool *p;
	struct heap h;
	int mounting;        /* mounts in flight (pool entries and cold starts) */
	int64_t idle;        /* entries the pool holds (creating + idle) */
	double idle_ms;      /* integral of idle over time */
	int64_t last_t;
	uint64_t created;
};

static int64_t mount_ms(struct sim *s)
{
	double base = 800 + 250 * exp(0.5 * rng_normal(&s->rng));
	return (int64_t)(base * (1.0 + 0.25 * s->mounting));
}

static void advance(struct sim *s, int64_t t)
{
	if (t > s->last_t) {
		s->idle_ms += (double)s->idle * (double)(t - s->last_t);
		s->last_t = t;
	}
}

static void run_tick(struct sim *s, int64_t now)
{
	struct pool_action acts[64];
	size_t n;
	do {
		n = pool_tick(s->p, now, acts, 64);
		for (size_t i = 0; i < n; i++) {
			if (acts[i].kind == POOL_ACT_CREATE) {
				s->idle++;
				s->created++;
				s->mounting++;
				struct ev e = {.t = now + mount_ms(s), .kind = EV_CREATED, .a = acts[i].entry};
				e.ok = rng_unit(&s->rng) >= 0.005;
				heap_push(&s->h, e);
			} else {
				s->idle--;
			}
		}
	} while (n == 64);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int simulate(const struct scenario *sc, const struct workload *w, int days, uint64_t seed, struct result *out)
{
	struct sim s = {.rng = {seed ^ 0x5eed}};
	int r = pool_new(&s.p, "sim", &sc->cfg);
	if (r < 0)
		return r;
	(void)pool_set_image(s.p, "image-1", 0);
	double *waits = malloc((w->n + 1) * sizeof(*waits));
	if (!waits)
		abort();
	size_t nw = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (w->v[i].t < 0)
			continue;
		heap_push(&s.h, (struct ev){.t = w->v[i].t, .kind = EV_ARRIVE, .a = i});
		if (sc->warm && w->v[i].warm_signal && w->v[i].typing >= 0)
			heap_push(&s.h, (struct ev){.t = w->v[i].typing, .kind = EV_TYPING, .a = i});
	}
	if (sc->warm)
		for (size_t i = 0; i < w->nab; i++)
			heap_push(&s.h, (struct ev){.t = w->abandoned[i], .kind = EV_ABANDON, .a = i});
	int64_t end = days * DAY_MS;
	for (int64_t t = 0; t < end; t += 500)
		heap_push(&s.h, (struct ev){.t = t, .kind = EV_TICK});
	run_tick(&s, 0);
	char user[32];
	while (s.h.n) {
		struct ev e = heap_pop(&s.h);
		if (e.t >= end && e.kind != EV_CREATED && e.kind != EV_END)
			continue;
		advance(&s, e.t < end ? e.t : end);
		uint64_t entry, held;
		int64_t until;
		void *data;
		switch (e.kind) {
		case EV_TYPING:
			snprintf(user, sizeof(user), "u%u", w->v[e.a].user);
			(void)pool_warm(s.p, user, e.t, &held, &until);
			break;
		case EV_ABANDON:
			snprintf(user, sizeof(user), "u%u", w->abandoned_user[e.a]);
			(void)pool_warm(s.p, user, e.t, &held, &until);
			break;
		case EV_ARRIVE: {
			const struct arrival *a = &w->v[e.a];
			snprintf(user, sizeof(user), "u%u", a->user);
			double wait;
			if (pool_claim(s.p, user, e.t, &entry, &data) == 0) {
				s.idle--;
				wait = 1.0 + rng_unit(&s.rng) * 2.0;
			} else {
				s.mounting++;
				wait = (double)mount_ms(&s);
				/* the cold mount's load ends with it: an END-less marker */
				heap_push(&s.h, (struct ev){.t = e.t + (int64_t)wait, .kind = EV_CREATED, .a = 0});
			}
			waits[nw++] = wait;
			heap_push(&s.h, (struct ev){.t = e.t + (int64_t)wait + a->length, .kind = EV_END});
			break;
		}
		case EV_CREATED:
			s.mounting--;
			if (e.a == 0)
				break; /* a cold mount finished */
			if (e.ok) {
				(void)pool_entry_ready(s.p, e.a, NULL, e.t);
			} else {
				(void)pool_entry_failed(s.p, e.a, e.t);
				s.idle--;
			}
			break;
		case EV_END:
			pool_session_end(s.p, e.t);
			break;
		default:
			break;
		}
		run_tick(&s, e.t);
	}
	struct pool_stats st;
	pool_get_stats(s.p, end, &st);
	memset(out, 0, sizeof(*out));
	out->sessions = nw;
	out->cold = st.cold_fallbacks;
	qsort(waits, nw, sizeof(*waits), cmp_dbl);
	double sum = 0;
	for (size_t i = 0; i < nw; i++)
		sum += waits[i];
	out->mean_wait = nw ? sum / (double)nw : 0;
	out->p50 = pool_percentile(waits, nw, 50);
	out->p99 = pool_percentile(waits, nw, 99);
	out->idle_ws_min_per_day = s.idle_ms / 60000.0 / days;
	out->created_per_day = (double)s.created / days;
	out->stolen = st.holds_stolen;
	out->held_claims = st.claims_held;
	free(waits);
	free(s.h.v);
	pool_free(s.p);
	return 0;
}

static struct pool_config base_cfg(void)
{
	struct pool_config c;
	pool_config_default(&c);
	return c;
}

/* The classic fixed pool: n workspaces, claimed ones included (a claimed
 * workspace is replaced only when its session ends). */
static struct scenario fixed_total(const char *name, unsigned n)
{
	struct scenario sc = {.name = name, .cfg = base_cfg()};
	sc.cfg.min = sc.cfg.max = n;
	sc.cfg.spare = 0;
	sc.cfg.cooldown_ms = 0;
	return sc;
}

/* desired = clamp(in_use + holds + spare, min, max), down after cooldown. */
static struct scenario follow(const char *name, unsigned min, unsigned spare, int64_t cooldown_ms, unsigned max,
                              bool warm)
{
	struct scenario sc = {.name = name, .cfg = base_cfg(), .warm = warm};
	sc.cfg.min = min;
	sc.cfg.max = max;
	sc.cfg.spare = spare;
	sc.cfg.cooldown_ms = cooldown_ms;
	return sc;
}

int main(int argc, char **argv)
{
	int days = 3, bursts = 4;
	uint64_t seed = 42;
	double peak = 2.5;
	const char *only = NULL;
	bool json = false;
	static const struct option opts[] = {
		{"days", required_argument, NULL, 'd'}, {"seed", required_argument, NULL, 's'},
		{"peak", required_argument, NULL, 'p'}, {"bursts", required_argument, NULL, 'b'},
		{"scenario", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "d:s:p:b:o:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': days = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'p': peak = atof(optarg); break;
		case 'b': bursts = atoi(optarg); break;
		case 'o': only = optarg; break;
		case 'j': json = true; break;
		default:
			fprintf(stderr, "usage: pool_sim [--days N] [--seed S] [--peak PER_MIN] [--bursts N] "
			                "[--scenario NAME] [--json]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (days < 1 || days > 60 || peak <= 0 || peak > 100 || bursts < 0 || bursts > 100) {
		fprintf(stderr, "pool_sim: --days 1..60, --peak (0,100], --bursts 0..100\n");
		return 2;
	}
	struct workload w = {0};
	workload_make(&w, seed, days, peak, bursts);

	const int64_t M = 60000;
	struct scenario scs[] = {
		fixed_total("total-8", 8),
		fixed_total("total-32", 32),
		fixed_total("total-64", 64),
		follow("follow-s1", 0, 1, 5 * M, 256, false),
		follow("follow-s2", 1, 2, 5 * M, 256, false),
		follow("follow-s4", 1, 4, 5 * M, 256, false),
		follow("warm-s0", 0, 0, 5 * M, 256, true),
		follow("warm-s1", 1, 1, 5 * M, 256, true),
		follow("warm-s2", 1, 2, 5 * M, 256, true),
		follow("warm-s2-cd0", 1, 2, 0, 256, true),
		follow("warm-s2-cd15", 1, 2, 15 * M, 256, true),
		follow("warm-s2-max32", 1, 2, 5 * M, 32, true),
		follow("warm-s2-max64", 1, 2, 5 * M, 64, true),
		follow("warm-s2-slow", 1, 2, 5 * M, 256, true),
		{.name = "defaults", .cfg = base_cfg(), .warm = false},
		{.name = "defaults+warm", .cfg = base_cfg(), .warm = true},
	};
	/* warm-s2-slow: refills limited to K=1 and 6 a minute */
	scs[sizeof(scs) / sizeof(scs[0]) - 3].cfg.max_creating = 1;
	scs[sizeof(scs) / sizeof(scs[0]) - 3].cfg.refill_per_min = 6;
	scs[sizeof(scs) / sizeof(scs[0]) - 3].cfg.refill_burst = 2;
	if (json)
		printf("[");
	else
		printf("%-16s %9s %7s %9s %9s %11s %10s\n", "scenario", "sessions", "cold%", "p50_ms", "p99_ms",
		       "idle_min/d", "created/d");
	bool first = true;
	for (size_t i = 0; i < sizeof(scs) / sizeof(scs[0]); i++) {
		if (only && strcmp(only, scs[i].name) != 0)
			continue;
		struct result r;
		int e = simulate(&scs[i], &w, days, seed, &r);
		if (e < 0) {
			fprintf(stderr, "pool_sim: %s: %s\n", scs[i].name, strerror(-e));
			return 1;
		}
		double cold = r.sessions ? 100.0 * (double)r.cold / (double)r.sessions : 0;
		if (json) {
			printf("%s{\"scenario\":\"%s\",\"sessions\":%zu,\"cold_pct\":%.2f,\"p50_ms\":%.1f,"
			       "\"p99_ms\":%.1f,\"idle_ws_min_per_day\":%.0f,\"created_per_day\":%.0f,"
			       "\"min\":%u,\"max\":%u,\"spare\":%u,\"cooldown_ms\":%lld,\"warm\":%s}",
			       first ? "" : ",", scs[i].name, r.sessions, cold, r.p50, r.p99, r.idle_ws_min_per_day,
			       r.created_per_day, scs[i].cfg.min, scs[i].cfg.max, scs[i].cfg.spare,
			       (long long)scs[i].cfg.cooldown_ms, scs[i].warm ? "true" : "false");
		} else {
			printf("%-16s %9zu %6.2f%% %9.1f %9.1f %11.0f %10.0f\n", scs[i].name, r.sessions, cold, r.p50, r.p99,
			       r.idle_ws_min_per_day, r.created_per_day);
		}
		first = false;
	}
	if (json)
		printf("]\n");
	free(w.v);
	free(w.abandoned);
	free(w.abandoned_user);
	return 0;
}
