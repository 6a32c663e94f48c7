/*
 * apiload: load generator for thawd's API over its Unix socket (libc +
 * jansson only; built by bench/api.sh).
 *
 *   apiload get SOCKET PATH CONNS REQUESTS
 *     CONNS keep-alive connections, each sending GET PATH back to back
 *     (one outstanding request per connection) until REQUESTS answers in
 *     all; prints p50/p99/max latency and requests per second.
 *   apiload create SOCKET JSON_BODY FILE N
 *     N times, one after the other: POST /v1/sessions with JSON_BODY, read
 *     "mount" from the answer, open+read the first byte of MOUNT/FILE; the
 *     time from sending the POST to that byte; then DELETE the session
 *     (not timed). Prints p50/p99/max.
 * Output: one line "key value ..." for the script.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static int dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Length of one complete answer at the start of b (Content-Length framing),
 * 0 if incomplete; *status set. */
static size_t answer_len(const char *b, size_t n, int *status)
{
	const char *e = memmem(b, n, "\r\n\r\n", 4);
	if (!e)
		return 0;
	size_t h = (size_t)(e - b) + 4;
	*status = atoi(b + 9);
	const char *cl = memmem(b, h, "Content-Length: ", 16);
	size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
	return n >= h + body ? h + body : 0;
}

struct conn {
	int fd;
	char buf[65536];
	size_t len;
	double t0;
};

static int run_get(const char *sock, const char *path, int nconns, long total)
{
	struct conn *c = calloc((size_t)nconns, sizeof(*c));
	struct pollfd *p = calloc((size_t)nconns, sizeof(*p));
	double *lat = calloc((size_t)total, sizeof(*lat));
	char req[1024];
	int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: thawd\r\n\r\n", path);
	long sent = 0, done = 0, errors = 0;
	if (!c || !p || !lat)
		return 1;
	for (int i = 0; i < nconns; i++) {
		c[i].fd = dial(sock);
		if (c[i].fd < 0) {
			fprintf(stderr, "apiload: connect %s: %s\n", sock, strerror(errno));
			return 1;
		}
		p[i].fd = c[i].fd;
		p[i].events = POLLIN;
	}
	double start = now_ms();
	for (int i = 0; i < nconns && sent < total; i++, sent++) {
		c[i].t0 = now_ms();
		if (write(c[i].fd, req, (size_t)rl) != rl)
			return 1;
	}
	while (done < total) {
		int r = poll(p, (nfds_t)nconns, 10000);
		if (r <= 0) {
			fprintf(stderr, "apiload: no answer for 10 s (%ld/%ld done)\n", done, total);
			return 1;
		}
		for (int i = 0; i < nconns; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(c[i].fd, c[i].buf + c[i].len, sizeof(c[i].buf) - c[i].len);
			if (k <= 0) {
				fprintf(stderr, "apiload: connection %d closed by thawd\n", i);
				return 1;
			}
			c[i].len += (size_t)k;
			int st = 0;
			size_t al = answer_len(c[i].buf, c[i].len, &st);
			if (!al)
				continue;
			lat[done++] = now_ms() - c[i].t0;
			if (st != 200)
				errors++;
			memmove(c[i].buf, c[i].buf + al, c[i].len - al);
			c[i].len -= al;
			if (sent < total) {
				sent++;
				c[i].t0 = now_ms();
				if (write(c[i].fd, req, (size_t)rl) != rl)
					return 1;
			}
		}
	}
	double secs = (now_ms() - start) / 1e3;
	qsort(lat, (size_t)total, sizeof(*lat), cmp_d);
	printf("requests %ld conns %d seconds %.3f rps %.0f p50_ms %.3f p99_ms %.3f max_ms %.3f errors %ld\n", total,
	       nconns, secs, (double)total / secs, pct(lat, (size_t)total, 0.5), pct(lat, (size_t)total, 0.99),
	       lat[total - 1], errors);
	for (int i = 0; i < nconns; i++)
		close(c[i].fd);
	free(c);
	free(p);
	free(lat);
	return errors ? 1 : 0;
}

/* One request on a fresh connection; the answer's body parsed. */
static int call(const char *sock, const char *method, const char *path, const char *body, int *status, json_t **out)
{
	int fd = dial(sock);
	if (fd < 0)
		return -1;
	char head[512];
	size_t bl = body ? strlen(body) : 0;
	int hl = snprintf(head, sizeof(head),
			  "%s %s HTTP/1.1\r\nHost: thawd\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			  method, path, bl);
	if (write(fd, head, (size_t)hl) != hl || (bl && write(fd, body, bl) != (ssize_t)bl)) {
		close(fd);
		return -1;
	}
	static char buf[1 << 20];
	size_t n = 0, al = 0;
	while (!(al = answer_len(buf, n, status))) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (k <= 0) {
			close(fd);
			return -1;
		}
		n += (size_t)k;
	}
	close(fd);
	const char *b = strstr(buf, "\r\n\r\n") + 4;
	*out = json_loadb(b, al - (size_t)(b - buf), 0, NULL);
	return 0;
}

static int run_create(const char *sock, const char *body, const char *file, int n)
{
	double *lat = calloc((size_t)n, sizeof(*lat));
	for (int i = 0; i < n; i++) {
		int st = 0;
		json_t *s = NULL;
		double t0 = now_ms();
		if (call(sock, "POST", "/v1/sessions", body, &st, &s) < 0 || st != 201) {
			fprintf(stderr, "apiload: POST /v1/sessions: status %d %s\n", st,
				s ? json_string_value(json_object_get(s, "message")) : "");
			return 1;
		}
		const char *mnt = json_string_value(json_object_get(s, "mount"));
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", mnt ? mnt : "", file);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		char ch;
		if (fd < 0 || read(fd, &ch, 1) != 1) {
			fprintf(stderr, "apiload: first read of %s: %s\n", p, strerror(errno));
			return 1;
		}
		lat[i] = now_ms() - t0;
		close(fd);
		char dp[256];
		snprintf(dp, sizeof(dp), "/v1/sessions/%s", json_string_value(json_object_get(s, "id")));
		json_t *d = NULL;
		if (call(sock, "DELETE", dp, NULL, &st, &d) < 0 || st != 200)
			fprintf(stderr, "apiload: DELETE %s: status %d\n", dp, st);
		json_decref(d);
		json_decref(s);
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_d);
	printf("sessions %d p50_ms %.3f p99_ms %.3f max_ms %.3f min_ms %.3f\n", n, pct(lat, (size_t)n, 0.5),
	       pct(lat, (size_t)n, 0.99), lat[n - 1], lat[0]);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "get"))
		return run_get(argv[2], argv[3], atoi(argv[4]), atol(argv[5]));
	if (argc == 6 && !strcmp(argv[1], "create"))
		return run_create(argv[2], argv[3], argv[4], atoi(argv[5]));
	fprintf(stderr, "usage: apiload get SOCKET PATH CONNS REQUESTS\n"
			"       apiload create SOCKET JSON_BODY FILE N\n");
	return 2;
}
