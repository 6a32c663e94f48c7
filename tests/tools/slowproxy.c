/*
 * slowproxy: a TCP relay on 127.0.0.1 that holds every connection for a
 * while before relaying it, to make a git fetch slow on purpose.
 *
 *   slowproxy --to PORT --delay-ms N --port-file FILE
 * Listens on an ephemeral loopback port (written to FILE), relays each
 * connection to 127.0.0.1:PORT after N ms. Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int to_port, delay_ms;

static void *relay(void *arg)
{
	int c = (int)(intptr_t)arg;
	usleep((useconds_t)delay_ms * 1000);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	for (;;) {
		struct pollfd pf[2] = {{.fd = c, .events = POLLIN}, {.fd = s, .events = POLLIN}};
		if (poll(pf, 2, 60000) <= 0)
			break;
		char buf[65536];
		int from = (pf[0].revents & (POLLIN | POLLHUP)) ? c : s, to = from == c ? s : c;
		ssize_t n = read(from, buf, sizeof(buf));
		if (n <= 0 || write(to, buf, (size_t)n) != n)
			break;
	}
out:
	if (s >= 0)
		close(s);
	close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--to")) to_port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--delay-ms")) delay_ms = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--port-file")) port_file = argv[i + 1];
	}
	if (!to_port || !port_file) {
		fprintf(stderr, "usage: slowproxy --to PORT --delay-ms N --port-file FILE\n");
		return 2;
	}
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 64) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0) {
		perror("slowproxy");
		return 1;
	}
	FILE *f = fopen(port_file, "w");
	if (!f)
		return 1;
	fprintf(f, "%d\n", ntohs(sa.sin_port));
	fclose(f);
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		pthread_t t;
		pthread_create(&t, NULL, relay, (void *)(intptr_t)c);
		pthread_detach(t);
	}
}
