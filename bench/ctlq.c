/*
 * ctlq: one query on a line-delimited JSON control socket (thawfs --control).
 *
 *   ctlq [--timeout SECONDS] [--wait SECONDS] SOCKET REQUEST
 *
 * Connects to the Unix stream socket SOCKET, sends REQUEST followed by a
 * newline, prints the first line of the answer (with its newline) and exits
 * 0; exits 1 when there is no connection or no answer within --timeout
 * (default 10 s). --wait retries the connection for up to that many seconds
 * (for a daemon that is still starting). libc only, so the benchmark needs no
 * Python.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ctlq [--timeout SECONDS] [--wait SECONDS] SOCKET REQUEST\n"
	           "Sends REQUEST and a newline to the Unix socket SOCKET and prints the\n"
	           "first line of the answer, e.g.  ctlq ws.sock '{\"cmd\":\"status\"}'\n");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double timeout = 10, wait_s = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			wait_s = atof(argv[++i]);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - i != 2) {
		usage(stderr);
		return 2;
	}
	const char *path = argv[i], *req = argv[i + 1];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ctlq: socket path too long (max %zu bytes)\n", sizeof(sa.sun_path) - 1);
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	int fd = -1;
	double give_up = now_s() + wait_s;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "ctlq: socket: %s\n", strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		int e = errno;
		close(fd);
		if (now_s() >= give_up) {
			fprintf(stderr, "ctlq: cannot connect to %s: %s\n", path, strerror(e));
			return 1;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}

	size_t rl = strlen(req);
	char *msg = malloc(rl + 2);
	if (!msg)
		return 1;
	memcpy(msg, req, rl);
	msg[rl] = '\n';
	msg[rl + 1] = '\0';
	for (size_t off = 0; off < rl + 1;) {
		ssize_t w = send(fd, msg + off, rl + 1 - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ctlq: send: %s\n", strerror(errno));
			return 1;
		}
		off += (size_t)w;
	}
	free(msg);

	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return 1;
	double deadline = now_s() + timeout;
	for (;;) {
		int left = (int)((deadline - now_s()) * 1000);
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int pr = left > 0 ? poll(&pf, 1, left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			fprintf(stderr, "ctlq: no answer from %s\n", path);
			return 1;
		}
		if (len + 1024 > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				return 1;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "ctlq: %s closed the connection without a full line\n", path);
			return 1;
		}
		len += (size_t)n;
		char *nl = memchr(buf, '\n', len);
		if (nl) {
			fwrite(buf, 1, (size_t)(nl - buf) + 1, stdout);
			close(fd);
			free(buf);
			return fflush(stdout) == 0 ? 0 : 1;
		}
	}
}
