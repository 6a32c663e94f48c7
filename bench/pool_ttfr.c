/*
 * pool_ttfr: time to first read through thawd's API. For each of N
 * sessions: (optionally) wait until the repository's pool has an idle entry
 * (not timed), then time POST /v1/sessions -> open + read of the first byte
 * of FILE in the returned mount; then DELETE the session (not timed). Prints
 * one JSON line: {label, n, warm, cold, p50_ms, p99_ms, mean_ms, max_ms}.
 *
 *   pool_ttfr --sock STATE/thawd.sock --repo NAME --file REL/PATH [--n N] [--wait-pool] [--label L]
 *
 * Speaks HTTP/1.1 over the Unix socket itself (one connection per request,
 * Connection: close), so the figure holds no process start.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One request; returns the status code (or -errno) and the body in *out
 * (malloc'd, NUL-terminated). */
static int http(const char *sock, const char *method, const char *path, const char *body, char **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	char req[4096];
	int n = snprintf(req, sizeof(req),
	                 "%s %s HTTP/1.1\r\nHost: thawd\r\nConnection: close\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 method, path, body ? strlen(body) : 0, body ? body : "");
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf && (r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	int status = 0;
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
		free(buf);
		return -EPROTO;
	}
	char *b = strstr(buf, "\r\n\r\n");
	*out = strdup(b ? b + 4 : "");
	free(buf);
	return status;
}

static int pool_ready(const char *sock, const char *repo)
{
	char *body = NULL;
	int st = http(sock, "GET", "/v1/pools", NULL, &body);
	int ready = -1;
	json_t *a = st == 200 ? json_loads(body, 0, NULL) : NULL;
	size_t i;
	json_t *p;
	json_array_foreach(a, i, p) {
		const char *r = json_string_value(json_object_get(p, "repo"));
		if (r && !strcmp(r, repo))
			ready = (int)json_integer_value(json_object_get(p, "ready"));
	}
	json_decref(a);
	free(body);
	return ready;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *repo = NULL, *file = NULL, *label = "ttfr";
	int n = 50;
	bool wait_pool = false;
	static const struct option opts[] = {
		{"sock", required_argument, NULL, 's'}, {"repo", required_argument, NULL, 'r'},
		{"file", required_argument, NULL, 'f'}, {"n", required_argument, NULL, 'n'},
		{"wait-pool", no_argument, NULL, 'w'},  {"label", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "s:r:f:n:wl:", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'r': repo = optarg; break;
		case 'f': file = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'w': wait_pool = true; break;
		case 'l': label = optarg; break;
		default: return 2;
		}
	}
	if (!sock || !repo || !file || n < 1 || n > 10000) {
		fprintf(stderr, "usage: pool_ttfr --sock S --repo NAME --file PATH [--n N] [--wait-pool] [--label L]\n");
		return 2;
	}
	double *t = calloc((size_t)n, sizeof(*t)), *tp = calloc((size_t)n, sizeof(*tp));
	int warm = 0, cold = 0;
	for (int i = 0; i < n; i++) {
		if (wait_pool) {
			double end = mono_ms() + 120000;
			while (pool_ready(sock, repo) < 1) {
				if (mono_ms() > end) {
					fprintf(stderr, "pool_ttfr: the pool of %s has no idle entry after 120 s\n", repo);
					return 1;
				}
				struct timespec ts = {0, 20 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
		}
		char body[512], *ans = NULL;
		snprintf(body, sizeof(body), "{\"repo\":\"%s\",\"author\":{\"name\":\"Bench %d\",\"email\":\"b%d@bench.invalid\"}}",
		         repo, i, i);
		double t0 = mono_ms();
		int st = http(sock, "POST", "/v1/sessions", body, &ans);
		tp[i] = mono_ms() - t0;
		json_t *s = st == 201 ? json_loads(ans, 0, NULL) : NULL;
		const char *mnt = json_string_value(json_object_get(s, "mount"));
		if (!mnt) {
			fprintf(stderr, "pool_ttfr: POST /v1/sessions answered %d: %s\n", st, ans ? ans : "");
			return 1;
		}
		char path[4096], byte;
		snprintf(path, sizeof(path), "%s/%s", mnt, file);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read(fd, &byte, 1) != 1) {
			perror(path);
			return 1;
		}
		t[i] = mono_ms() - t0;
		close(fd);
		const char *pool = json_string_value(json_object_get(s, "pool"));
		if (pool && !strcmp(pool, "warm"))
			warm++;
		else
			cold++;
		char del[128], *dans = NULL;
		snprintf(del, sizeof(del), "/v1/sessions/%s", json_string_value(json_object_get(s, "id")));
		(void)http(sock, "DELETE", del, NULL, &dans);
		free(dans);
		json_decref(s);
		free(ans);
	}
	double sum = 0, max = 0;
	for (int i = 0; i < n; i++) {
		sum += t[i];
		if (t[i] > max)
			max = t[i];
	}
	printf("{\"label\":\"%s\",\"n\":%d,\"warm\":%d,\"cold\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"mean_ms\":%.2f,"
	       "\"max_ms\":%.2f,\"post_p50_ms\":%.2f,\"post_p99_ms\":%.2f}\n",
	       label, n, warm, cold, pool_percentile(t, (size_t)n, 50), pool_percentile(t, (size_t)n, 99), sum / n, max,
	       pool_percentile(tp, (size_t)n, 50), pool_percentile(tp, (size_t)n, 99));
	free(t);
	free(tp);
	return 0;
}
