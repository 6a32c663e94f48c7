/*
 * pool/prefetch: which files the first minutes of past sessions touched, and
 * the hydration list a waiting pool entry reads ahead of time.
 *
 * A trace (one session) is a set of distinct paths with their sizes. The
 * repository's table counts, per path, the sessions that touched it; every
 * POOL_PREFETCH_DECAY_SESSIONS sessions the counts halve (paths falling to
 * zero go), so the plan follows the repository as it changes. At most
 * POOL_PREFETCH_MAX_PATHS paths are kept (the least counted go first).
 *
 * Saved file (text, one record a line, fields separated by one tab):
 *
 *   | line          | fields                                              |
 *   |---------------|-----------------------------------------------------|
 *   | 1 (header)    | "thaw-prefetch 1", sessions recorded (decimal)      |
 *   | 2..           | count (sessions, decimal), size (bytes), path       |
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

struct item {
	char *path;
	uint64_t size;
	uint32_t count;
};

/* A set of paths: items in insertion order, an open-addressing index. */
struct pathset {
	struct item *items;
	size_t n, cap;
	int32_t *index;          /* -1: empty; else position in items */
	size_t index_cap;        /* power of two, >= 2 * cap */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void set_release(struct pathset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i].path);
	free(s->items);
	free(s->index);
	memset(s, 0, sizeof(*s));
}

static int set_reindex(struct pathset *s, size_t index_cap)
{
	int32_t *ix = malloc(index_cap * sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < index_cap; i++)
		ix[i] = -1;
	for (size_t i = 0; i < s->n; i++) {
		size_t k = hash_str(s->items[i].path) & (index_cap - 1);
		while (ix[k] >= 0)
			k = (k + 1) & (index_cap - 1);
		ix[k] = (int32_t)i;
	}
	free(s->index);
	s->index = ix;
	s->index_cap = index_cap;
	return 0;
}

static struct item *set_find(const struct pathset *s, const char *path)
{
	if (!s->index)
		return NULL;
	size_t k = hash_str(path) & (s->index_cap - 1);
	while (s->index[k] >= 0) {
		struct item *it = &s->items[s->index[k]];
		if (strcmp(it->path, path) == 0)
			return it;
		k = (k + 1) & (s->index_cap - 1);
	}
	return NULL;
}

/* Adds path (not present) and returns its item. */
static int set_add(struct pathset *s, const char *path, uint64_t size, struct item **out)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct item *v = realloc(s->items, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->items = v;
		s->cap = cap;
	}
	if (s->index_cap < 2 * s->cap) {
		int r = set_reindex(s, 4 * s->cap);
		if (r < 0)
			return r;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	struct item *it = &s->items[s->n];
	it->path = copy;
	it->size = size;
	it->count = 0;
	size_t k = hash_str(path) & (s->index_cap - 1);
	while (s->index[k] >= 0)
		k = (k + 1) & (s->index_cap - 1);
	s->index[k] = (int32_t)s->n;
	s->n++;
	*out = it;
	return 0;
}

static bool path_ok(const char *p)
{
	size_t len = strlen(p);
	if (len == 0 || len >= POOL_PREFETCH_PATH_MAX || p[0] == '/')
		return false;
	if (strpbrk(p, "\t\n\r"))
		return false;
	/* no "..", "." or empty components */
	const char *c = p;
	while (*c) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!e)
			break;
		c = e + 1;
	}
	return p[len - 1] != '/';
}

/* ---- the repository's table ---- */

struct pool_prefetch {
	struct pathset set;
	uint64_t sessions;
};

int pool_prefetch_new(struct pool_prefetch **out)
{
	struct pool_prefetch *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	*out = pf;
	return 0;
}

void pool_prefetch_free(struct pool_prefetch *pf)
{
	if (!pf)
		return;
	set_release(&pf->set);
	free(pf);
}

uint64_t pool_prefetch_sessions(const struct pool_prefetch *pf)
{
	return pf->sessions;
}

size_t pool_prefetch_paths(const struct pool_prefetch *pf)
{
	return pf->set.n;
}

/* Most counted first, then path order: the plan's order. */
static int cmp_items(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Drops items with count 0 and, over max, the least counted. */
static int trim(struct pool_prefetch *pf, size_t max)
{
	struct pathset *s = &pf->set;
	qsort(s->items, s->n, sizeof(*s->items), cmp_items);
	size_t keep = 0;
	while (keep < s->n && keep < max && s->items[keep].count > 0)
		keep++;
	for (size_t i = keep; i < s->n; i++)
		free(s->items[i].path);
	s->n = keep;
	return set_reindex(s, s->index_cap ? s->index_cap : 64);
}

int pool_prefetch_record(struct pool_prefetch *pf, const char *const *paths, const uint64_t *sizes, size_t n)
{
	if (n > POOL_PREFETCH_MAX_PATHS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!path_ok(paths[i]))
			return -EINVAL;
	int r = 0;
	/* A session counts once per path even if it lists the path twice: mark
	 * with the session number in the high bit trick would need a field;
	 * a small local set is simpler. */
	struct pathset seen = {0};
	for (size_t i = 0; i < n; i++) {
		if (set_find(&seen, paths[i]))
			continue;
		struct item *it;
		if ((r = set_add(&seen, paths[i], 0, &it)) < 0)
			goto done;
		it = set_find(&pf->set, paths[i]);
		if (!it && (r = set_add(&pf->set, paths[i], sizes[i], &it)) < 0)
			goto done;
		it->size = sizes[i];
		if (it->count < UINT32_MAX)
			it->count++;
	}
	pf->sessions++;
	if (pf->sessions % POOL_PREFETCH_DECAY_SESSIONS == 0)
		for (size_t i = 0; i < pf->set.n; i++)
			pf->set.items[i].count /= 2;
	if (pf->set.n > POOL_PREFETCH_MAX_PATHS || pf->sessions % POOL_PREFETCH_DECAY_SESSIONS == 0)
		r = trim(pf, POOL_PREFETCH_MAX_PATHS);
done:
	set_release(&seen);
	return r;
}

void pool_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int pool_prefetch_plan(const struct pool_prefetch *pf, uint64_t budget_bytes, unsigned min_sessions,
                       char ***out, size_t *out_n, uint64_t *out_bytes)
{
	const struct pathset *s = &pf->set;
	struct item *sorted = NULL;
	char **v = NULL;
	size_t nv = 0;
	uint64_t bytes = 0;
	int r = 0;
	if (s->n) {
		sorted = malloc(s->n * sizeof(*sorted));
		v = calloc(s->n, sizeof(*v));
		if (!sorted || !v) {
			r = -ENOMEM;
			goto done;
		}
		memcpy(sorted, s->items, s->n * sizeof(*sorted));
		qsort(sorted, s->n, sizeof(*sorted), cmp_items);
	}
	for (size_t i = 0; i < s->n; i++) {
		if (sorted[i].count < min_sessions || sorted[i].count == 0)
			break;
		if (sorted[i].size > budget_bytes - bytes)
			continue;
		if (!(v[nv] = strdup(sorted[i].path))) {
			r = -ENOMEM;
			goto done;
		}
		nv++;
		bytes += sorted[i].size;
	}
	*out = v;
	*out_n = nv;
	if (out_bytes)
		*out_bytes = bytes;
	v = NULL;
done:
	if (v)
		pool_strv_free(v, nv);
	free(sorted);
	return r;
}

int pool_prefetch_save(const struct pool_prefetch *pf, const char *path)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		(void)unlink(tmp);
		return -e;
	}
	fprintf(f, "thaw-prefetch 1\t%llu\n", (unsigned long long)pf->sessions);
	for (size_t i = 0; i < pf->set.n; i++) {
		const struct item *it = &pf->set.items[i];
		fprintf(f, "%u\t%llu\t%s\n", it->count, (unsigned long long)it->size, it->path);
	}
	int r = 0;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

int pool_prefetch_load(struct pool_prefetch *pf, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	struct pool_prefetch tmp = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = -EINVAL;
	unsigned long long sessions;
	char nl;
	if ((len = getline(&line, &cap, f)) <= 0 ||
	    sscanf(line, "thaw-prefetch 1\t%llu%c", &sessions, &nl) != 2 || nl != '\n')
		goto done;
	tmp.sessions = sessions;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] != '\n')
			goto done;
		line[len - 1] = '\0';
		char *end;
		errno = 0;
		unsigned long count = strtoul(line, &end, 10);
		if (errno || end == line || *end != '\t' || count == 0 || count > UINT32_MAX)
			goto done;
		char *s2 = end + 1;
		unsigned long long size = strtoull(s2, &end, 10);
		if (errno || end == s2 || *end != '\t')
			goto done;
		const char *p = end + 1;
		if (!path_ok(p) || set_find(&tmp.set, p) || tmp.set.n >= POOL_PREFETCH_MAX_PATHS)
			goto done;
		struct item *it;
		if ((r = set_add(&tmp.set, p, size, &it)) < 0)
			goto done;
		r = -EINVAL;
		it->count = (uint32_t)count;
	}
	if (ferror(f)) {
		r = -EIO;
		goto done;
	}
	set_release(&pf->set);
	*pf = tmp;
	memset(&tmp, 0, sizeof(tmp));
	r = 0;
done:
	set_release(&tmp.set);
	free(line);
	fclose(f);
	return r;
}

/* ---- one session's trace ---- */

struct pool_trace {
	struct pathset set;
	int64_t start_ms, window_ms;
};

int pool_trace_new(struct pool_trace **out, int64_t start_ms, int64_t window_ms)
{
	struct pool_trace *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->start_ms = start_ms;
	t->window_ms = window_ms;
	*out = t;
	return 0;
}

void pool_trace_free(struct pool_trace *t)
{
	if (!t)
		return;
	set_release(&t->set);
	free(t);
}

bool pool_trace_done(const struct pool_trace *t, int64_t now_ms)
{
	return now_ms - t->start_ms >= t->window_ms;
}

int pool_trace_add(struct pool_trace *t, const char *path, uint64_t size, int64_t now_ms)
{
	if (!path_ok(path))
		return -EINVAL;
	if (pool_trace_done(t, now_ms) || t->set.n >= POOL_PREFETCH_MAX_PATHS)
		return 0;
	struct item *it = set_find(&t->set, path);
	if (it) {
		if (size > it->size)
			it->size = size;
		return 0;
	}
	int r = set_add(&t->set, path, size, &it);
	return r < 0 ? r : 1;
}

int pool_trace_commit(struct pool_trace *t, struct pool_prefetch *pf)
{
	size_t n = t->set.n;
	const char **paths = NULL;
	uint64_t *sizes = NULL;
	int r = 0;
	if (n) {
		paths = malloc(n * sizeof(*paths));
		sizes = malloc(n * sizeof(*sizes));
		if (!paths || !sizes) {
			r = -ENOMEM;
			goto done;
		}
		for (size_t i = 0; i < n; i++) {
			paths[i] = t->set.items[i].path;
			sizes[i] = t->set.items[i].size;
		}
	}
	r = pool_prefetch_record(pf, paths, sizes, n);
	if (r == 0)
		set_release(&t->set);
done:
	free(paths);
	free(sizes);
	return r;
}
