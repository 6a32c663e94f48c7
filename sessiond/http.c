/*
 * sessiond/http.c: the sockets of the HTTP server. Listeners (a Unix socket,
 * mode 0660, and optionally loopback TCP), accept with the connection cap,
 * reads into the connection's buffer, writes (one uv_write per answer or
 * stream chunk), the per-connection deadline timer, and the close sequence:
 *
 *   http__conn_close -> sock_close: uv_shutdown (queued answers are flushed)
 *   -> linger: read and discard up to HTTP_LINGER_MS so that a client still
 *   sending (a refused large body) reads our answer instead of a reset
 *   -> uv_close of the stream and of the timer -> free.
 *
 * Everything runs on the loop thread.
 */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "banned.h"

#define READ_CHUNK (64u << 10)

struct http_sock {
	struct http_conn conn;        /* first: a conn pointer is a sock pointer */
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} h;
	uv_timer_t timer;
	uv_shutdown_t shut;
	unsigned handles;             /* of h and timer still open */
	bool closing;                 /* sock_close ran */
	bool lingering;
	bool handle_closing;
};

struct write_req {
	uv_write_t w;
	char *data;
};

static struct http_sock *sock_of(struct http_conn *c)
{
	return (struct http_sock *)c;
}

static void server_maybe_free(struct http_server *s)
{
	if (!s->stopping || s->open_handles > 0)
		return;
	free(s->unix_path);
	free(s->token);
	free(s);
}

static void sock_handle_closed(uv_handle_t *h)
{
	struct http_sock *k = h->data;
	struct http_server *s = k->conn.srv;
	s->open_handles--;
	if (--k->handles > 0)
		return;
	if (k->conn.prev)
		k->conn.prev->next = k->conn.next;
	else
		s->conns = k->conn.next;
	if (k->conn.next)
		k->conn.next->prev = k->conn.prev;
	s->nconns--;
	s->stats.active_connections = s->nconns;
	http__conn_release(&k->conn);
	free(k);
	server_maybe_free(s);
}

static void sock_hard_close(struct http_sock *k)
{
	if (k->handle_closing)
		return;
	k->handle_closing = true;
	uv_close(&k->h.handle, sock_handle_closed);
	uv_close((uv_handle_t *)&k->timer, sock_handle_closed);
}

static void on_write(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct http_sock *k = w->handle->data;
	free(wr->data);
	free(wr);
	if (status < 0 && status != UV_ECANCELED && !k->closing)
		http__conn_close(&k->conn); /* the client went away */
}

static void sock_write(struct http_conn *c, char *data, size_t len)
{
	struct http_sock *k = sock_of(c);
	if (k->closing || k->handle_closing) {
		free(data);
		return;
	}
	struct write_req *wr = malloc(sizeof(*wr));
	if (!wr) {
		free(data);
		http__conn_close(c);
		return;
	}
	wr->data = data;
	uv_buf_t b = uv_buf_init(data, (unsigned)len);
	if (uv_write(&wr->w, &k->h.stream, &b, 1, on_write) < 0) {
		free(data);
		free(wr);
		/* A synchronous failure: the peer is gone. Close from the loop,
		 * not from inside the caller (it may be a handler). */
		c->drop = true;
		c->ops->deadline(c, 1);
	}
}

static size_t sock_pending(const struct http_conn *c)
{
	const struct http_sock *k = (const struct http_sock *)c;
	return uv_stream_get_write_queue_size(&k->h.stream);
}

static void on_timer(uv_timer_t *t)
{
	struct http_sock *k = t->data;
	if (k->closing) {
		sock_hard_close(k); /* linger over */
		return;
	}
	http__conn_timeout(&k->conn);
}

static void sock_deadline(struct http_conn *c, unsigned ms)
{
	struct http_sock *k = sock_of(c);
	if (k->closing || k->handle_closing)
		return;
	if (ms)
		uv_timer_start(&k->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&k->timer);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_sock *k = h->data;
	struct http_conn *c = &k->conn;
	static char discard[READ_CHUNK];
	if (k->closing) {
		*buf = uv_buf_init(discard, sizeof(discard));
		return;
	}
	/* Read straight into the connection's input buffer. */
	if (c->in_off > 0 && c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (c->in_cap - c->in_len < READ_CHUNK) {
		size_t n = c->in_cap ? c->in_cap : READ_CHUNK;
		while (n - c->in_len < READ_CHUNK)
			n *= 2;
		char *p = realloc(c->in, n);
		if (!p) {
			*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
			return;
		}
		c->in = p;
		c->in_cap = n;
	}
	*buf = uv_buf_init(c->in + c->in_len, READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct http_sock *k = st->data;
	struct http_conn *c = &k->conn;
	if (k->closing) {
		if (n < 0)
			sock_hard_close(k);
		return;
	}
	if (n == UV_EOF) {
		http__conn_eof(c);
		if (!k->closing)
			uv_read_stop(st);
		return;
	}
	if (n < 0) {
		http__conn_close(c);
		return;
	}
	if (n == 0)
		return;
	/* The bytes are already in c->in (see on_alloc). */
	c->in_len += (size_t)n;
	http__conn_process(c);
}

static void sock_read_pause(struct http_conn *c, bool pause)
{
	struct http_sock *k = sock_of(c);
	if (k->closing || k->handle_closing)
		return;
	if (pause)
		uv_read_stop(&k->h.stream);
	else if (!c->peer_eof)
		uv_read_start(&k->h.stream, on_alloc, on_read);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_sock *k = req->data;
	if (status < 0 || k->conn.peer_eof) {
		sock_hard_close(k);
		return;
	}
	/* Linger: discard what the client still sends until it closes. */
	k->lingering = true;
	uv_read_start(&k->h.stream, on_alloc, on_read);
	uv_timer_start(&k->timer, on_timer, HTTP_LINGER_MS, 0);
}

static void sock_close(struct http_conn *c)
{
	struct http_sock *k = sock_of(c);
	if (k->closing)
		return;
	k->closing = true;
	uv_timer_stop(&k->timer);
	if (k->handle_closing)
		return;
	k->shut.data = k;
	if (uv_shutdown(&k->shut, &k->h.stream, on_shutdown) < 0)
		sock_hard_close(k);
}

static const struct http_conn_ops sock_ops = {
	.write = sock_write,
	.close = sock_close,
	.pending = sock_pending,
	.deadline = sock_deadline,
	.read_pause = sock_read_pause,
};

static void on_connection(uv_stream_t *server, int status)
{
	struct http_server *s = server->data;
	if (status < 0 || s->stopping)
		return;
	bool tcp = server == (uv_stream_t *)&s->tcp;
	struct http_sock *k = calloc(1, sizeof(*k));
	if (!k)
		return;
	int r = tcp ? uv_tcp_init(s->loop, &k->h.tcp) : uv_pipe_init(s->loop, &k->h.pipe, 0);
	if (r < 0) {
		free(k);
		return;
	}
	k->h.handle.data = k;
	uv_timer_init(s->loop, &k->timer);
	k->timer.data = k;
	k->handles = 2;
	s->open_handles += 2;
	http__conn_init(&k->conn, s, &sock_ops, tcp); /* before linking: it clears conn */
	k->conn.next = s->conns;
	if (s->conns)
		s->conns->prev = &k->conn;
	s->conns = &k->conn;
	s->nconns++;
	if (uv_accept(server, &k->h.stream) < 0) {
		k->closing = true;
		sock_hard_close(k);
		return;
	}
	if (tcp)
		uv_tcp_nodelay(&k->h.tcp, 1);
	s->stats.connections++;
	s->stats.active_connections = s->nconns;
	if (s->nconns > s->max_connections) {
		s->stats.rejected_conns++;
		http__conn_fail(&k->conn, 503, "unavailable", "Retry-After: 1", "too many connections (limit %u)",
				s->max_connections);
		return;
	}
	uv_read_start(&k->h.stream, on_alloc, on_read);
}

static void listener_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;
	s->open_handles--;
	server_maybe_free(s);
}

/* A stale socket file (no daemon answers on it) is removed; a live one is
 * -EADDRINUSE. */
static int unix_prepare(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	if (e != ECONNREFUSED && e != ENOENT)
		return -e;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* "127.0.0.1:PORT", "localhost:PORT" or "[::1]:PORT"; loopback only. */
static int parse_listen(const char *spec, struct sockaddr_storage *out)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec)
		return -EINVAL;
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return -EINVAL;
	char host[64];
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", 10);
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 3 || host[n - 1] != ']')
			return -EINVAL;
		host[n - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
		if (uv_ip6_addr(host + 1, (int)port, a6) < 0)
			return -EINVAL;
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			return -EPERM;
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	if (uv_ip4_addr(host, (int)port, a4) < 0)
		return -EINVAL;
	if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
		return -EPERM;
	return 0;
}

static int server_new(struct http_server **out, uv_loop_t *loop, const struct http_server_opts *o)
{
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->max_connections = o->max_connections ? o->max_connections : 1024;
	s->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 30000;
	/* Tests shorten the default (a 408 in 2 s instead of 30). */
	const char *e = getenv("THAW_HTTP_IDLE_MS");
	if (!o->idle_timeout_ms && e && atoi(e) > 0)
		s->idle_timeout_ms = (unsigned)atoi(e);
	s->routes = o->routes;
	s->nroutes = o->nroutes;
	s->ctx = o->ctx;
	if (o->token) {
		s->token = strdup(o->token);
		s->token_len = strlen(o->token);
		if (!s->token) {
			free(s);
			return -ENOMEM;
		}
	}
	*out = s;
	return 0;
}

int http__server_new_detached(struct http_server **out, const struct http_server_opts *o)
{
	return server_new(out, NULL, o);
}

void http__server_free_detached(struct http_server *s)
{
	if (!s)
		return;
	free(s->unix_path);
	free(s->token);
	free(s);
}

int http_server_start(struct http_server **out, uv_loop_t *loop, const struct http_server_opts *o)
{
	struct http_server *s = NULL;
	int r;
	if (!o->unix_path && !o->tcp_listen)
		return -EINVAL;
	if (o->tcp_listen && (!o->token || !*o->token))
		return -EINVAL; /* TCP without a token would be open to every local user */
	r = server_new(&s, loop, o);
	if (r)
		return r;
	if (o->unix_path) {
		s->unix_path = strdup(o->unix_path);
		if (!s->unix_path) {
			r = -ENOMEM;
			goto fail;
		}
		if ((r = unix_prepare(o->unix_path)) < 0)
			goto fail;
		if ((r = uv_pipe_init(loop, &s->pipe, 0)) < 0)
			goto fail;
		s->pipe.data = s;
		s->has_pipe = true;
		s->open_handles++;
		if ((r = uv_pipe_bind(&s->pipe, o->unix_path)) < 0)
			goto fail;
		if (chmod(o->unix_path, 0660) < 0) {
			r = -errno;
			goto fail;
		}
		if ((r = uv_listen((uv_stream_t *)&s->pipe, 256, on_connection)) < 0)
			goto fail;
	}
	if (o->tcp_listen) {
		struct sockaddr_storage a;
		memset(&a, 0, sizeof(a));
		if ((r = parse_listen(o->tcp_listen, &a)) < 0)
			goto fail;
		if ((r = uv_tcp_init(loop, &s->tcp)) < 0)
			goto fail;
		s->tcp.data = s;
		s->has_tcp = true;
		s->open_handles++;
		if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&a, 0)) < 0)
			goto fail;
		if ((r = uv_listen((uv_stream_t *)&s->tcp, 256, on_connection)) < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->has_pipe && s->unix_path)
		(void)unlink(s->unix_path);
	http_server_stop(s);
	return r;
}

void http_server_stop(struct http_server *s)
{
	if (!s || s->stopping)
		return;
	s->stopping = true;
	if (s->has_pipe) {
		uv_close((uv_handle_t *)&s->pipe, listener_closed);
		if (s->unix_path)
			(void)unlink(s->unix_path);
	}
	if (s->has_tcp)
		uv_close((uv_handle_t *)&s->tcp, listener_closed);
	/* Closing a connection may not unlink it at once (handles close
	 * asynchronously): walk with the next pointer saved. */
	for (struct http_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		http__conn_close(c);
		sock_hard_close(sock_of(c));
	}
	server_maybe_free(s);
}
