/*
 * preader: parallel readers for the concurrency tests.
 *
 *   preader --threads N --same FILE --expect REF
 *       N threads start together and each reads FILE whole; every copy must
 *       equal REF byte for byte.
 *   preader --threads N --list LIST --root DIR --expect-root REF
 *       N threads share the relative paths of LIST (one per line) and compare
 *       DIR/PATH with REF/PATH.
 * Exit 0 when every byte matched, 1 otherwise (with the first mismatch).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int nthreads = 8;
static const char *same, *expect, *list, *root, *expect_root;
static char **paths;
static size_t npaths;
static _Atomic size_t next_path;
static _Atomic int failures;
static pthread_barrier_t start;

static int read_all(const char *path, char **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			int e = -errno;
			free(buf);
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	*out_len = len;
	return 0;
}

static int compare(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	int r = read_all(a, &x, &xl);
	if (r < 0) {
		fprintf(stderr, "preader: %s: %s\n", a, strerror(-r));
		return -1;
	}
	if ((r = read_all(b, &y, &yl)) < 0) {
		fprintf(stderr, "preader: %s: %s\n", b, strerror(-r));
		free(x);
		return -1;
	}
	int ok = xl == yl && memcmp(x, y, xl) == 0;
	if (!ok)
		fprintf(stderr, "preader: %s differs from %s (%zu vs %zu bytes)\n", a, b, xl, yl);
	free(x);
	free(y);
	return ok ? 0 : -1;
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	if (same) {
		if (compare(same, expect) < 0)
			atomic_fetch_add(&failures, 1);
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&next_path, 1);
		if (i >= npaths)
			break;
		char a[8192], b[8192];
		snprintf(a, sizeof(a), "%s/%s", root, paths[i]);
		snprintf(b, sizeof(b), "%s/%s", expect_root, paths[i]);
		if (compare(a, b) < 0)
			atomic_fetch_add(&failures, 1);
	}
	return NULL;
}

static int load_list(void)
{
	FILE *f = fopen(list, "r");
	if (!f)
		return -1;
	char line[8192];
	size_t cap = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (npaths == cap) {
			cap = cap ? cap * 2 : 1024;
			paths = realloc(paths, cap * sizeof(*paths));
		}
		paths[npaths++] = strdup(line);
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--same")) same = argv[i + 1];
		else if (!strcmp(argv[i], "--expect")) expect = argv[i + 1];
		else if (!strcmp(argv[i], "--list")) list = argv[i + 1];
		else if (!strcmp(argv[i], "--root")) root = argv[i + 1];
		else if (!strcmp(argv[i], "--expect-root")) expect_root = argv[i + 1];
		else {
			fprintf(stderr, "preader: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > 256 || !((same && expect) || (list && root && expect_root))) {
		fprintf(stderr, "usage: see the comment at the top of preader.c\n");
		return 2;
	}
	if (list && load_list() < 0) {
		fprintf(stderr, "preader: cannot read %s\n", list);
		return 1;
	}
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	pthread_barrier_init(&start, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	for (size_t i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	free(t);
	int f = atomic_load(&failures);
	if (f)
		fprintf(stderr, "preader: %d mismatches\n", f);
	else
		fprintf(stderr, "preader: %zu files x %d threads: all equal\n", same ? 1 : npaths, nthreads);
	return f ? 1 : 0;
}
