/*
 * pool/pool: the state machine of one repository's pool.
 *
 * Entries live on exactly one of four intrusive doubly-linked lists:
 *
 *   | list     | what                                              | order          |
 *   |----------|---------------------------------------------------|----------------|
 *   | creating | CREATE asked, not yet ready or failed             | start time     |
 *   | ready    | idle, current image, not held: the free list      | ready time     |
 *   | stale    | idle, older image (drained one for one)           | ready time     |
 *   | held     | idle, reserved for a user until held_until        | hold time      |
 *
 * Claimed entries leave the pool (the owner owns them from then on). A claim
 * takes a list head: O(1). Holds waiting for an entry being made are kept in
 * a FIFO of (user, until) ("pending holds"); the next entry that becomes ready
 * goes to the oldest of them.
 *
 * Sizing (policy.c): desired = clamp(in_use + holds + spare, min, max), where
 * holds (held entries and pending holds) are sessions about to start; the
 * sizer turns it into a target (up at once, down after the cool-down). Idle
 * entries form a band: fresh supply (ready + held + creating of the current
 * image) grows to desired - in_use at once, within the concurrency limit, the
 * token bucket and the failure backoff; idle entries are destroyed only above
 * target - in_use, so a short dip in demand costs nothing. Stale entries are
 * kept only while fresh idle ones are short, so a rotation replaces entries
 * one for one and never empties the pool.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

struct entry {
	uint64_t id;
	int state;                     /* enum pool_entry_state */
	struct entry *prev, *next;
	char image[POOL_IMAGE_MAX];
	void *data;
	int64_t started_ms;            /* CREATE decided */
	char user[POOL_USER_MAX + 1];  /* held: for whom */
	int64_t held_until_ms;
};

struct list {
	struct entry *head, *tail;
	unsigned n;
};

struct pending {
	char user[POOL_USER_MAX + 1];
	int64_t until_ms;
	struct pending *next;
};

struct pool {
	char *repo;
	struct pool_config cfg;
	struct pool_sizer sizer;
	struct pool_bucket bucket;
	struct list creating, ready, stale, held;
	struct pending *pending_head, *pending_tail;
	unsigned npending;
	unsigned in_use;
	uint64_t next_id;
	char image[POOL_IMAGE_MAX];
	int64_t image_since_ms;
	unsigned consecutive_failures;
	int64_t backoff_until_ms;
	double refill[POOL_REFILL_SAMPLES];
	size_t nrefill, refill_pos;
	unsigned desired;              /* last computed, for stats */
	/* counters */
	uint64_t claims, claims_warm, cold_fallbacks, claims_held, holds_stolen, holds_expired;
	uint64_t warms, created, failed, destroyed, rotated;
};

/* ---- lists ---- */

static void list_append(struct list *l, struct entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->n++;
}

static void list_remove(struct list *l, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	l->n--;
}

static struct list *list_of(struct pool *p, int state)
{
	switch (state) {
	case POOL_E_CREATING: return &p->creating;
	case POOL_E_READY: return &p->ready;
	case POOL_E_STALE: return &p->stale;
	default: return &p->held;
	}
}

static void entry_move(struct pool *p, struct entry *e, int state)
{
	list_remove(list_of(p, e->state), e);
	e->state = state;
	list_append(list_of(p, state), e);
}

static struct entry *find_in(struct list *l, uint64_t id)
{
	for (struct entry *e = l->head; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

static struct entry *find_held(struct pool *p, const char *user)
{
	for (struct entry *e = p->held.head; e; e = e->next)
		if (strcmp(e->user, user) == 0)
			return e;
	return NULL;
}

static struct pending *find_pending(struct pool *p, const char *user, struct pending **out_prev)
{
	struct pending *prev = NULL;
	for (struct pending *h = p->pending_head; h; prev = h, h = h->next)
		if (strcmp(h->user, user) == 0) {
			if (out_prev)
				*out_prev = prev;
			return h;
		}
	return NULL;
}

static void pending_unlink(struct pool *p, struct pending *h, struct pending *prev)
{
	if (prev)
		prev->next = h->next;
	else
		p->pending_head = h->next;
	if (p->pending_tail == h)
		p->pending_tail = prev;
	p->npending--;
	free(h);
}

static int pending_push(struct pool *p, const char *user, int64_t until_ms)
{
	struct pending *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	memcpy(h->user, user, strlen(user) + 1);
	h->until_ms = until_ms;
	if (p->pending_tail)
		p->pending_tail->next = h;
	else
		p->pending_head = h;
	p->pending_tail = h;
	p->npending++;
	return 0;
}

/* Gives a ready entry to the oldest pending hold, if any. */
static bool serve_pending(struct pool *p, struct entry *e)
{
	struct pending *h = p->pending_head;
	if (!h)
		return false;
	memcpy(e->user, h->user, sizeof(e->user));
	e->held_until_ms = h->until_ms;
	entry_move(p, e, POOL_E_HELD);
	pending_unlink(p, h, NULL);
	return true;
}

/* ---- life ---- */

int pool_new(struct pool **out, const char *repo, const struct pool_config *c)
{
	int r = pool_config_check(c);
	if (r < 0)
		return r;
	struct pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->repo = strdup(repo ? repo : "");
	if (!p->repo) {
		free(p);
		return -ENOMEM;
	}
	p->cfg = *c;
	p->next_id = 1;
	pool_sizer_init(&p->sizer, pool_desired(c, 0));
	p->desired = p->sizer.target;
	*out = p;
	return 0;
}

static void list_free(struct list *l)
{
	struct entry *e = l->head;
	while (e) {
		struct entry *n = e->next;
		free(e);
		e = n;
	}
	l->head = l->tail = NULL;
	l->n = 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	list_free(&p->creating);
	list_free(&p->ready);
	list_free(&p->stale);
	list_free(&p->held);
	while (p->pending_head)
		pending_unlink(p, p->pending_head, NULL);
	free(p->repo);
	free(p);
}

const char *pool_repo(const struct pool *p)
{
	return p->repo;
}

int pool_set_config(struct pool *p, const struct pool_config *c)
{
	int r = pool_config_check(c);
	if (r < 0)
		return r;
	p->cfg = *c;
	return 0;
}

const struct pool_config *pool_get_config(const struct pool *p)
{
	return &p->cfg;
}

int pool_set_image(struct pool *p, const char *image, int64_t now_ms)
{
	if (!image || strlen(image) >= POOL_IMAGE_MAX)
		return -EINVAL;
	if (strcmp(p->image, image) == 0)
		return 0;
	memcpy(p->image, image, strlen(image) + 1);
	p->image_since_ms = now_ms;
	p->rotated++;
	while (p->ready.head)
		entry_move(p, p->ready.head, POOL_E_STALE);
	/* Stale entries of an even older image stay stale; an entry of the new
	 * image cannot exist yet. Held ones keep their hold (checked at expiry). */
	return 0;
}

/* ---- sizing ---- */

static unsigned holds(const struct pool *p)
{
	return p->held.n + p->npending;
}

static unsigned creating_current(const struct pool *p)
{
	unsigned n = 0;
	for (const struct entry *e = p->creating.head; e; e = e->next)
		if (strcmp(e->image, p->image) == 0)
			n++;
	return n;
}

static unsigned idle_target(const struct pool *p, unsigned target)
{
	return target > p->in_use ? target - p->in_use : 0;
}

static void expire_holds(struct pool *p, int64_t now_ms)
{
	struct entry *e = p->held.head;
	while (e) {
		struct entry *n = e->next;
		if (e->held_until_ms <= now_ms) {
			e->user[0] = '\0';
			entry_move(p, e, strcmp(e->image, p->image) == 0 ? POOL_E_READY : POOL_E_STALE);
			p->holds_expired++;
		}
		e = n;
	}
	struct pending *prev = NULL, *h = p->pending_head;
	while (h) {
		struct pending *n = h->next;
		if (h->until_ms <= now_ms) {
			pending_unlink(p, h, prev);
			p->holds_expired++;
		} else {
			prev = h;
		}
		h = n;
	}
	/* An entry may be ready while a hold waits (sizes changed, a hold was
	 * stolen and the thief's entry came back): serve it now. */
	while (p->pending_head && p->ready.head)
		serve_pending(p, p->ready.head);
}

static void push_destroy(struct pool *p, struct entry *e, struct pool_action *a)
{
	list_remove(list_of(p, e->state), e);
	memset(a, 0, sizeof(*a));
	a->kind = POOL_ACT_DESTROY;
	a->entry = e->id;
	memcpy(a->image, e->image, sizeof(a->image));
	a->data = e->data;
	p->destroyed++;
	free(e);
}

/* The hysteresis band of idle entries: grow to want_grow (from desired now),
 * shrink only down to want_keep (from the cooled-down target). */
struct band {
	unsigned want_grow, want_keep;
	unsigned idle_fresh;  /* ready + held */
	unsigned supply;      /* idle_fresh + creations of the current image */
	unsigned keep_stale;  /* stale entries worth keeping while fresh ones are short */
};

static struct band band_of(const struct pool *p, unsigned desired, unsigned target)
{
	struct band b;
	b.want_grow = idle_target(p, desired);
	b.want_keep = idle_target(p, target);
	b.idle_fresh = p->ready.n + p->held.n;
	b.supply = b.idle_fresh + creating_current(p);
	b.keep_stale = b.want_keep > b.idle_fresh ? b.want_keep - b.idle_fresh : 0;
	return b;
}

size_t pool_tick(struct pool *p, int64_t now_ms, struct pool_action *out, size_t cap)
{
	size_t n = 0;
	expire_holds(p, now_ms);
	p->desired = pool_desired(&p->cfg, p->in_use + holds(p));
	unsigned target = pool_sizer_update(&p->sizer, &p->cfg, p->desired, now_ms);
	struct band b = band_of(p, p->desired, target);

	/* Drain: stale entries stay only while fresh idle ones are short (a
	 * rotation never empties the pool); the oldest go first. */
	while (p->stale.n > b.keep_stale && n < cap)
		push_destroy(p, p->stale.tail, &out[n++]);
	/* Shrink: idle entries over the cooled-down target (never held ones,
	 * never creations in flight). */
	while (b.supply > b.want_keep && p->ready.n > 0 && n < cap) {
		push_destroy(p, p->ready.tail, &out[n++]);
		b.supply--;
	}
	/* Grow, within the concurrency limit, the backoff and the bucket. */
	while (b.supply < b.want_grow && n < cap && p->creating.n < p->cfg.max_creating &&
	       now_ms >= p->backoff_until_ms &&
	       pool_bucket_take(&p->bucket, p->cfg.refill_per_min, p->cfg.refill_burst, now_ms)) {
		struct entry *e = calloc(1, sizeof(*e));
		if (!e)
			break;
		e->id = p->next_id++;
		e->state = POOL_E_CREATING;
		memcpy(e->image, p->image, sizeof(e->image));
		e->started_ms = now_ms;
		list_append(&p->creating, e);
		struct pool_action *a = &out[n++];
		memset(a, 0, sizeof(*a));
		a->kind = POOL_ACT_CREATE;
		a->entry = e->id;
		memcpy(a->image, e->image, sizeof(a->image));
		b.supply++;
	}
	return n;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int64_t pool_next_tick_ms(const struct pool *p, int64_t now_ms)
{
	int64_t t = INT64_MAX;
	for (const struct entry *e = p->held.head; e; e = e->next)
		t = min64(t, e->held_until_ms);
	for (const struct pending *h = p->pending_head; h; h = h->next)
		t = min64(t, h->until_ms);
	struct pool_sizer s = p->sizer;
	unsigned desired = pool_desired(&p->cfg, p->in_use + holds(p));
	unsigned target = pool_sizer_update(&s, &p->cfg, desired, now_ms);
	if (s.lowering)
		t = min64(t, s.lower_since_ms + p->cfg.cooldown_ms);
	struct band b = band_of(p, desired, target);
	if (p->stale.n > b.keep_stale || (b.supply > b.want_keep && p->ready.n > 0))
		return now_ms;
	if (b.supply < b.want_grow && p->creating.n < p->cfg.max_creating) {
		int64_t w = now_ms + pool_bucket_wait_ms(&p->bucket, p->cfg.refill_per_min, p->cfg.refill_burst, now_ms);
		if (w < p->backoff_until_ms)
			w = p->backoff_until_ms;
		t = min64(t, w);
	}
	return t < now_ms ? now_ms : t;
}

/* ---- events ---- */

int pool_entry_ready(struct pool *p, uint64_t entry, void *data, int64_t now_ms)
{
	struct entry *e = find_in(&p->creating, entry);
	if (!e)
		return -ENOENT;
	e->data = data;
	double ms = (double)(now_ms - e->started_ms);
	p->refill[p->refill_pos] = ms < 0 ? 0 : ms;
	p->refill_pos = (p->refill_pos + 1) % POOL_REFILL_SAMPLES;
	if (p->nrefill < POOL_REFILL_SAMPLES)
		p->nrefill++;
	p->created++;
	p->consecutive_failures = 0;
	p->backoff_until_ms = 0;
	if (strcmp(e->image, p->image) != 0) {
		entry_move(p, e, POOL_E_STALE);
		return 0;
	}
	entry_move(p, e, POOL_E_READY);
	serve_pending(p, e);
	return 0;
}

int pool_entry_failed(struct pool *p, uint64_t entry, int64_t now_ms)
{
	struct entry *e = find_in(&p->creating, entry);
	if (!e)
		return -ENOENT;
	list_remove(&p->creating, e);
	free(e);
	p->failed++;
	p->consecutive_failures++;
	int64_t b = p->cfg.fail_backoff_ms;
	for (unsigned i = 1; i < p->consecutive_failures && b < p->cfg.fail_backoff_max_ms; i++)
		b *= 2;
	if (b > p->cfg.fail_backoff_max_ms)
		b = p->cfg.fail_backoff_max_ms;
	p->backoff_until_ms = now_ms + b;
	return 0;
}

int pool_entry_lost(struct pool *p, uint64_t entry, int64_t now_ms)
{
	struct entry *e = find_in(&p->ready, entry);
	if (!e)
		e = find_in(&p->stale, entry);
	if (!e)
		e = find_in(&p->held, entry);
	if (!e)
		return -ENOENT;
	if (e->state == POOL_E_HELD && e->held_until_ms > now_ms)
		(void)pending_push(p, e->user, e->held_until_ms);
	list_remove(list_of(p, e->state), e);
	free(e);
	return 0;
}

int pool_entry_adopt(struct pool *p, const char *image, void *data, int64_t now_ms, uint64_t *out)
{
	if (!image || strlen(image) >= POOL_IMAGE_MAX)
		return -EINVAL;
	if (p->ready.n + p->stale.n + p->held.n + p->creating.n >= POOL_LIMIT_MAX)
		return -ENOSPC;
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->id = p->next_id++;
	memcpy(e->image, image, strlen(image) + 1);
	e->data = data;
	e->started_ms = now_ms;
	e->state = strcmp(image, p->image) == 0 ? POOL_E_READY : POOL_E_STALE;
	list_append(list_of(p, e->state), e);
	if (e->state == POOL_E_READY)
		serve_pending(p, e);
	*out = e->id;
	return 0;
}

/* ---- sessions ---- */

static void claimed(struct pool *p, struct entry *e, uint64_t *out_entry, void **out_data)
{
	list_remove(list_of(p, e->state), e);
	*out_entry = e->id;
	*out_data = e->data;
	free(e);
	p->claims_warm++;
}

int pool_claim(struct pool *p, const char *user, int64_t now_ms, uint64_t *out_entry, void **out_data)
{
	p->claims++;
	p->in_use++;
	if (user && *user) {
		struct entry *e = find_held(p, user);
		if (e) {
			p->claims_held++;
			claimed(p, e, out_entry, out_data);
			return 0;
		}
		struct pending *prev = NULL, *h = find_pending(p, user, &prev);
		if (h)
			pending_unlink(p, h, prev);
	}
	if (p->ready.head) {
		claimed(p, p->ready.head, out_entry, out_data);
		return 0;
	}
	if (p->stale.head) {
		claimed(p, p->stale.head, out_entry, out_data);
		return 0;
	}
	struct entry *e = p->held.head;
	if (e) {
		/* Nothing else is idle: a sure cold start now against a possible one
		 * later. The holder waits for the next entry made (it has its typing
		 * time for that); see docs/pool.md. */
		if (e->held_until_ms > now_ms)
			(void)pending_push(p, e->user, e->held_until_ms);
		p->holds_stolen++;
		claimed(p, e, out_entry, out_data);
		return 0;
	}
	p->cold_fallbacks++;
	return -EAGAIN;
}

void pool_session_end(struct pool *p, int64_t now_ms)
{
	if (p->in_use > 0)
		p->in_use--;
}

void pool_set_in_use(struct pool *p, unsigned in_use)
{
	p->in_use = in_use;
}

int pool_warm(struct pool *p, const char *user, int64_t now_ms, uint64_t *out_entry, int64_t *out_held_until)
{
	if (!user || !*user)
		return -EINVAL;
	if (strlen(user) > POOL_USER_MAX)
		return -ENAMETOOLONG;
	int64_t until = now_ms + p->cfg.hold_ms;
	struct entry *e = find_held(p, user);
	if (e) {
		e->held_until_ms = until;
		goto held;
	}
	struct pending *h = find_pending(p, user, NULL);
	if (h) {
		h->until_ms = until;
		p->warms++;
		*out_entry = 0;
		*out_held_until = until;
		return 0;
	}
	if (holds(p) >= POOL_LIMIT_MAX)
		return -ENOSPC;
	e = p->ready.head ? p->ready.head : p->stale.head;
	if (e) {
		memcpy(e->user, user, strlen(user) + 1);
		e->held_until_ms = until;
		entry_move(p, e, POOL_E_HELD);
		goto held;
	}
	int r = pending_push(p, user, until);
	if (r < 0)
		return r;
	p->warms++;
	*out_entry = 0;
	*out_held_until = until;
	return 0;
held:
	p->warms++;
	*out_entry = e->id;
	*out_held_until = until;
	return 0;
}

/* ---- introspection ---- */

void pool_get_stats(const struct pool *p, int64_t now_ms, struct pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->min = p->cfg.min;
	out->max = p->cfg.max;
	out->spare = p->cfg.spare;
	out->desired = pool_desired(&p->cfg, p->in_use + holds(p));
	out->target = p->sizer.target;
	out->ready = p->ready.n;
	out->stale = p->stale.n;
	out->creating = p->creating.n;
	out->held = p->held.n;
	out->pending_holds = p->npending;
	out->in_use = p->in_use;
	out->claims = p->claims;
	out->claims_warm = p->claims_warm;
	out->cold_fallbacks = p->cold_fallbacks;
	out->claims_held = p->claims_held;
	out->holds_stolen = p->holds_stolen;
	out->holds_expired = p->holds_expired;
	out->warms = p->warms;
	out->created = p->created;
	out->failed = p->failed;
	out->destroyed = p->destroyed;
	out->rotated = p->rotated;
	out->refill_p50_ms = pool_percentile(p->refill, p->nrefill, 50);
	out->refill_p99_ms = pool_percentile(p->refill, p->nrefill, 99);
	memcpy(out->image, p->image, sizeof(out->image));
	out->image_since_ms = p->image_since_ms;
	out->backoff_until_ms = p->backoff_until_ms > now_ms ? p->backoff_until_ms : 0;
}

void pool_foreach_entry(const struct pool *p, pool_entry_fn fn, void *arg)
{
	const struct list *ls[] = {&p->creating, &p->ready, &p->stale, &p->held};
	for (size_t i = 0; i < 4; i++) {
		const struct entry *e = ls[i]->head;
		while (e) {
			const struct entry *n = e->next; /* fn may not change the pool, but be safe */
			fn(arg, e->id, e->state, e->image, e->data);
			e = n;
		}
	}
}

const char *pool_entry_state_name(int state)
{
	switch (state) {
	case POOL_E_CREATING: return "creating";
	case POOL_E_READY: return "ready";
	case POOL_E_STALE: return "stale";
	case POOL_E_HELD: return "held";
	default: return "unknown";
	}
}
