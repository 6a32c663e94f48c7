/* thaw: human output. Tables with columns as wide as their widest cell
 * (like docker ps), and helpers to read JSON members as text. */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

struct table {
	unsigned ncols;
	char **cells; /* rows * ncols, row 0 = headers */
	size_t nrows, cap;
};

static char *dup_or_dash(const char *s)
{
	char *d = strdup(s && *s ? s : "-");
	if (!d) {
		fprintf(stderr, "thaw: out of memory\n");
		exit(THAW_EXIT_API);
	}
	return d;
}

struct table *table_new(unsigned ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	table_add(t, headers);
	return t;
}

void table_add(struct table *t, const char *const *cells)
{
	if (!t)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
		if (!p) {
			fprintf(stderr, "thaw: out of memory\n");
			exit(THAW_EXIT_API);
		}
		t->cells = p;
		t->cap = cap;
	}
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = dup_or_dash(cells[i]);
	t->nrows++;
}

void table_print(const struct table *t, FILE *f)
{
	if (!t)
		return;
	size_t w[32] = {0};
	for (size_t r = 0; r < t->nrows; r++)
		for (unsigned i = 0; i < t->ncols && i < 32; i++) {
			size_t l = strlen(t->cells[r * t->ncols + i]);
			if (l > w[i])
				w[i] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (unsigned i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			if (i + 1 == t->ncols)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s  ", (int)w[i < 32 ? i : 31], s);
		}
	}
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : "-";
}

const char *jnum(const json_t *o, const char *key, char *buf, size_t n)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%.1f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "yes" : "no");
	else if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else
		snprintf(buf, n, "-");
	return buf;
}

/* "12s", "5m", "3h", "2d" since a wall-clock *_ms member. */
const char *jage(const json_t *o, const char *key, char *buf, size_t n)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_number(v)) {
		snprintf(buf, n, "-");
		return buf;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 - (long long)json_number_value(v);
	long long s = ms < 0 ? 0 : ms / 1000;
	if (s < 120)
		snprintf(buf, n, "%llds", s);
	else if (s < 7200)
		snprintf(buf, n, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, n, "%lldh", s / 3600);
	else
		snprintf(buf, n, "%lldd", s / 86400);
	return buf;
}

void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s) {
		puts(s);
		free(s);
	}
}
