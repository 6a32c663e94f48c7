/*
 * rss: helper of bench/sessions.sh (200 concurrent sessions; libc, pthreads
 * and jansson; compiled by the script).
 *
 *   rss create SOCKET REPO FILE N PAR OUTDIR
 *     N session creates over thawd's Unix socket, PAR in flight at once
 *     (PAR threads, each creating one session after the other). For each
 *     create i (1..N): POST /v1/sessions {repo, author U<i>}, the answer is
 *     saved to OUTDIR/i.json, then MOUNT/FILE is opened and one byte read.
 *     Prints one line per create, "i STATUS POST_MS FIRST_BYTE_MS" (times
 *     from writing the request; -1 when it failed), then "all_ms X": the
 *     wall time from the first request to the last first byte.
 *   rss mem PID...
 *     one line per process: "PID VmRSS VmHWM Pss RssAnon" in KiB (-1:
 *     unreadable). VmRSS counts the shared pages too (libraries, the
 *     repository's pack mapped by libgit2); Pss divides them among the
 *     processes mapping them; RssAnon is the process's own memory.
 *
 * Times are CLOCK_MONOTONIC; nothing is forked, so no process start-up is
 * in the figures (unlike timing curl from a shell).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
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

struct job {
	const char *sock, *repo, *file, *outdir;
	int n, par, first;
	double *post_ms, *fb_ms;
	int *status;
};

/* One request with "Connection: close"; the answer's status and body (to
 * EOF, or Content-Length). Returns 0, or -errno with a message on stderr. */
static int post(const char *sock, const char *body, int *status, char **out, size_t *outlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(a.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	char req[1024];
	int l = snprintf(req, sizeof(req),
	                 "POST /v1/sessions HTTP/1.1\r\nHost: thawd\r\nConnection: close\r\n"
	                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	                 strlen(body), body);
	if (l < 0 || (size_t)l >= sizeof(req)) {
		close(fd);
		return -EOVERFLOW;
	}
	for (int off = 0; off < l;) {
		ssize_t w = write(fd, req + off, (size_t)(l - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		off += (int)w;
	}
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(buf);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		buf[len] = 0;
		char *h = strstr(buf, "\r\n\r\n");
		const char *cl = h ? strcasestr(buf, "\r\nContent-Length:") : NULL;
		if (h && cl && cl < h && len >= (size_t)(h + 4 - buf) + strtoul(cl + 17, NULL, 10))
			break;
	}
	close(fd);
	buf[len] = 0;
	char *h = strstr(buf, "\r\n\r\n");
	if (!h || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
		free(buf);
		return -EPROTO;
	}
	*outlen = len - (size_t)(h + 4 - buf);
	memmove(buf, h + 4, *outlen + 1);
	*out = buf;
	return 0;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	for (int i = j->first; i <= j->n; i += j->par) {
		char body[512], path[4096];
		snprintf(body, sizeof(body), "{\"repo\":\"%s\",\"author\":{\"name\":\"U%d\",\"email\":\"u%d@bench.invalid\"}}",
		         j->repo, i, i);
		double t0 = now_ms();
		char *out = NULL;
		size_t outlen = 0;
		int st = 0, r = post(j->sock, body, &st, &out, &outlen);
		double t1 = now_ms();
		j->status[i] = r < 0 ? r : st;
		if (r < 0) {
			fprintf(stderr, "rss: create %d: %s\n", i, strerror(-r));
			continue;
		}
		j->post_ms[i] = t1 - t0;
		snprintf(path, sizeof(path), "%s/%d.json", j->outdir, i);
		FILE *f = fopen(path, "we");
		if (f) {
			fwrite(out, 1, outlen, f);
			fclose(f);
		}
		json_t *o = st == 201 ? json_loadb(out, outlen, 0, NULL) : NULL;
		const char *m = o ? json_string_value(json_object_get(o, "mount")) : NULL;
		if (!m) {
			fprintf(stderr, "rss: create %d: status %d: %.300s\n", i, st, out);
		} else {
			snprintf(path, sizeof(path), "%s/%s", m, j->file);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			char c;
			if (fd >= 0 && read(fd, &c, 1) == 1)
				j->fb_ms[i] = now_ms() - t0;
			else
				fprintf(stderr, "rss: first read of %s: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
		}
		json_decref(o);
		free(out);
	}
	return NULL;
}

static int run_create(char **argv)
{
	int n = atoi(argv[3]), par = atoi(argv[4]);
	if (n < 1 || par < 1 || par > 1024) {
		fprintf(stderr, "rss: bad N or PAR\n");
		return 2;
	}
	if (par > n)
		par = n;
	double *post_ms = calloc((size_t)n + 1, sizeof(double)), *fb = calloc((size_t)n + 1, sizeof(double));
	int *status = calloc((size_t)n + 1, sizeof(int));
	struct job *jobs = calloc((size_t)par, sizeof(*jobs));
	pthread_t *th = calloc((size_t)par, sizeof(*th));
	if (!post_ms || !fb || !status || !jobs || !th) {
		fprintf(stderr, "rss: out of memory\n");
		return 1;
	}
	for (int i = 0; i <= n; i++)
		post_ms[i] = fb[i] = -1;
	double t0 = now_ms();
	for (int k = 0; k < par; k++) {
		jobs[k] = (struct job){.sock = argv[0], .repo = argv[1], .file = argv[2], .outdir = argv[5], .n = n,
		                       .par = par, .first = k + 1, .post_ms = post_ms, .fb_ms = fb, .status = status};
		int e = pthread_create(&th[k], NULL, worker, &jobs[k]);
		if (e) {
			fprintf(stderr, "rss: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	for (int k = 0; k < par; k++)
		pthread_join(th[k], NULL);
	double all = now_ms() - t0;
	int bad = 0;
	for (int i = 1; i <= n; i++) {
		printf("%d %d %.3f %.3f\n", i, status[i], post_ms[i], fb[i]);
		bad += status[i] != 201 || fb[i] < 0;
	}
	printf("all_ms %.1f\n", all);
	free(post_ms);
	free(fb);
	free(status);
	free(jobs);
	free(th);
	return bad ? 1 : 0;
}

static long field_kib(const char *file, const char *key)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int run_mem(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char st[64], sm[64];
		long pid = strtol(argv[i], NULL, 10);
		snprintf(st, sizeof(st), "/proc/%ld/status", pid);
		snprintf(sm, sizeof(sm), "/proc/%ld/smaps_rollup", pid);
		printf("%ld %ld %ld %ld %ld\n", pid, field_kib(st, "VmRSS"), field_kib(st, "VmHWM"), field_kib(sm, "Pss"),
		       field_kib(st, "RssAnon"));
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "create"))
		return run_create(argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "mem"))
		return run_mem(argc - 2, argv + 2);
	fprintf(stderr, "usage: rss create SOCKET REPO FILE N PAR OUTDIR\n"
	                "       rss mem PID...\n");
	return 2;
}
