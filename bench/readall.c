/*
 * readall: sequential read throughput over a set of files.
 *
 *   readall [--bytes N] [--bs N] [--list FILE] [PATH...]
 *
 * Reads the files whole, in order, from the beginning, with read(2) of --bs
 * bytes (default 1 MiB), starting again at the first file until at least
 * --bytes (default 1 GiB; suffixes K, M, G) have been read; each pass opens
 * every file again. --list names a file with one path per line (added after
 * the PATHs). Prints on stdout: BYTES SECONDS MIB_PER_S. The time is
 * CLOCK_MONOTONIC around the whole loop (opens included).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: readall [--bytes N] [--bs N] [--list FILE] [PATH...]\n"
	           "Reads the files sequentially, round after round, until N bytes\n"
	           "(default 1G) are read; prints BYTES SECONDS MIB_PER_S.\n");
}

static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: return -1;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long long want = 1ull << 30, bs = 1ull << 20;
	const char *list = NULL;
	char **paths = NULL;
	size_t npaths = 0, cap = 0;
	int i = 1;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--bytes") && i + 1 < argc) {
			if (parse_size(argv[++i], &want) < 0 || want == 0)
				return usage(stderr), 2;
		} else if (!strcmp(argv[i], "--bs") && i + 1 < argc) {
			if (parse_size(argv[++i], &bs) < 0 || bs == 0 || bs > (1ull << 30))
				return usage(stderr), 2;
		} else if (!strcmp(argv[i], "--list") && i + 1 < argc) {
			list = argv[++i];
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			usage(stderr);
			return 2;
		} else {
			break;
		}
	}
	for (; i < argc; i++) {
		if (npaths == cap) {
			cap = cap ? cap * 2 : 64;
			paths = realloc(paths, cap * sizeof(*paths));
			if (!paths)
				return 1;
		}
		paths[npaths++] = argv[i];
	}
	if (list) {
		FILE *f = fopen(list, "r");
		if (!f) {
			fprintf(stderr, "readall: %s: %s\n", list, strerror(errno));
			return 1;
		}
		char *line = NULL;
		size_t lcap = 0;
		ssize_t n;
		while ((n = getline(&line, &lcap, f)) > 0) {
			if (line[n - 1] == '\n')
				line[--n] = '\0';
			if (n == 0)
				continue;
			if (npaths == cap) {
				cap = cap ? cap * 2 : 64;
				paths = realloc(paths, cap * sizeof(*paths));
				if (!paths)
					return 1;
			}
			paths[npaths++] = strdup(line);
		}
		free(line);
		fclose(f);
	}
	if (npaths == 0) {
		usage(stderr);
		return 2;
	}
	char *buf = malloc(bs);
	if (!buf)
		return 1;

	unsigned long long total = 0;
	double t0 = now_s();
	while (total < want) {
		unsigned long long pass = 0;
		for (size_t k = 0; k < npaths && total < want; k++) {
			int fd = open(paths[k], O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "readall: open %s: %s\n", paths[k], strerror(errno));
				return 1;
			}
			for (;;) {
				ssize_t n = read(fd, buf, bs);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0) {
					fprintf(stderr, "readall: read %s: %s\n", paths[k], strerror(errno));
					return 1;
				}
				if (n == 0)
					break;
				total += (unsigned long long)n;
				pass += (unsigned long long)n;
			}
			close(fd);
		}
		if (pass == 0) {
			fprintf(stderr, "readall: the files are empty\n");
			return 1;
		}
	}
	double secs = now_s() - t0;
	printf("%llu %.6f %.1f\n", total, secs, (double)total / (1024.0 * 1024.0) / secs);
	return fflush(stdout) == 0 ? 0 : 1;
}
