/*
 * Unit tests of sessiond/http: a real server on a temporary Unix socket, in
 * a libuv loop that the test drives itself (uv_run NOWAIT between
 * non-blocking client reads and writes; no threads).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"

#define IDLE_MS 600

struct fixture {
	uv_loop_t loop;
	char dir[64];
	char path[128];
	struct http_server *srv;
	/* the follow stream (disconnect test) */
	struct http_req *follow;
	int aborted;
	/* the async answer */
	struct http_req *later;
	uv_timer_t later_timer;
	bool timer_inited;
};

static struct fixture *F;

/* ---- handlers ---- */

static void h_health(struct http_req *r, void *ctx)
{
	http_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static void h_get_session(struct http_req *r, void *ctx)
{
	const char *v = http_req_query(r, "v");
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "id", http_req_param(r, 0), "v", v ? v : "",
					  "req", (json_int_t)http_req_id(r)));
}

static void h_del_session(struct http_req *r, void *ctx)
{
	http_reply_json(r, 200, json_pack("{s:s}", "removed", http_req_param(r, 0)));
}

static void h_create(struct http_req *r, void *ctx)
{
	json_t *j = http_req_json(r);
	if (!j)
		return;
	http_reply_json(r, 201, json_pack("{s:O}", "got", j));
}

static void h_events(struct http_req *r, void *ctx)
{
	assert_int_equal(http_stream_begin(r, NULL), 0);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(http_stream_write_json(r, json_pack("{s:i, s:s}", "seq", i, "type", "test")), 0);
	http_stream_end(r);
}

static void on_follow_abort(struct http_req *r, void *arg)
{
	struct fixture *f = arg;
	f->aborted++;
}

static void h_follow(struct http_req *r, void *ctx)
{
	struct fixture *f = ctx;
	http_req_ref(r);
	f->follow = r;
	http_req_on_abort(r, on_follow_abort, f);
	assert_int_equal(http_stream_begin(r, NULL), 0);
	assert_int_equal(http_stream_write_json(r, json_pack("{s:i}", "seq", 1)), 0);
}

static void later_fire(uv_timer_t *t)
{
	struct fixture *f = t->data;
	http_reply_header(f->later, "X-Later", "yes");
	http_reply_json(f->later, 202, json_pack("{s:b}", "later", 1));
	http_req_unref(f->later);
	f->later = NULL;
}

static void h_later(struct http_req *r, void *ctx)
{
	struct fixture *f = ctx;
	http_req_ref(r);
	f->later = r;
	uv_timer_start(&f->later_timer, later_fire, 50, 0);
}

static void h_flood(struct http_req *r, void *ctx)
{
	struct fixture *f = ctx;
	http_req_ref(r);
	f->follow = r;
	http_req_on_abort(r, on_follow_abort, f);
	assert_int_equal(http_stream_begin(r, NULL), 0);
}

static const struct http_route routes[] = {
	{"GET", "/v1/health", h_health},
	{"GET", "/v1/sessions/:id", h_get_session},
	{"DELETE", "/v1/sessions/:id", h_del_session},
	{"POST", "/v1/sessions", h_create},
	{"GET", "/v1/sessions/:id/events", h_events},
	{"GET", "/v1/follow/:id", h_follow},
	{"GET", "/v1/later", h_later},
	{"GET", "/v1/flood/:id", h_flood},
};

/* ---- fixture ---- */

static int start(struct fixture *f, unsigned max_conns, const char *tcp, const char *token)
{
	struct http_server_opts o = {
		.unix_path = f->path,
		.tcp_listen = tcp,
		.token = token,
		.max_connections = max_conns,
		.idle_timeout_ms = IDLE_MS,
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.ctx = f,
	};
	return http_server_start(&f->srv, &f->loop, &o);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp || strlen(tmp) > 40) /* sun_path is short */
		tmp = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s/thaw-http-XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/t.sock", f->dir);
	uv_timer_init(&f->loop, &f->later_timer);
	f->later_timer.data = f;
	f->timer_inited = true;
	F = f;
	*state = f;
	return 0;
}

static int setup_started(void **state)
{
	setup(state);
	struct fixture *f = *state;
	assert_int_equal(start(f, 0, NULL, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->follow)
		http_req_unref(f->follow);
	if (f->srv)
		http_server_stop(f->srv);
	uv_close((uv_handle_t *)&f->later_timer, NULL);
	for (int i = 0; i < 1000 && uv_run(&f->loop, UV_RUN_NOWAIT); i++)
		usleep(1000);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	char p[160];
	snprintf(p, sizeof(p), "%s/t.sock", f->dir);
	(void)unlink(p);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- client side ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump(struct fixture *f, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(500);
	} while (now_ms() < end);
}

static int cli_connect(struct fixture *f)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	assert_true(strlen(f->path) < sizeof(a.sun_path));
	memcpy(a.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void cli_send(struct fixture *f, int fd, const char *s, size_t len)
{
	size_t off = 0;
	uint64_t end = now_ms() + 5000;
	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN)
			return; /* the server closed: the caller checks the answer */
		assert_true(now_ms() < end);
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
}

static void cli_sends(struct fixture *f, int fd, const char *s)
{
	cli_send(f, fd, s, strlen(s));
}

struct resp {
	char buf[1 << 16];
	size_t len;
	bool eof;
};

/* Counts complete final (>= 200) answers in b: Content-Length or chunked. */
static int count_responses(const char *b, size_t len)
{
	int n = 0;
	size_t off = 0;
	for (;;) {
		const char *he = memmem(b + off, len - off, "\r\n\r\n", 4);
		if (!he)
			return n;
		size_t hend = (size_t)(he - b) + 4;
		int status = atoi(b + off + 9);
		const char *cl = memmem(b + off, hend - off, "Content-Length: ", 16);
		const char *ch = memmem(b + off, hend - off, "Transfer-Encoding: chunked", 26);
		if (status < 200) {
			off = hend;
			continue;
		}
		if (ch) {
			const char *z = memmem(b + hend, len - hend, "\r\n0\r\n\r\n", 7);
			if (!z)
				return n;
			off = (size_t)(z - b) + 7;
		} else {
			size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
			if (len - hend < body)
				return n;
			off = hend + body;
		}
		n++;
	}
}

/* Reads until n complete answers (or EOF when n < 0), within timeout_ms. */
static void cli_read(struct fixture *f, int fd, struct resp *r, int n, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	while (now_ms() < end) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		ssize_t k = recv(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len, 0);
		if (k > 0) {
			r->len += (size_t)k;
			r->buf[r->len] = '\0';
		} else if (k == 0 || (k < 0 && errno == ECONNRESET)) {
			r->eof = true;
			return;
		} else {
			usleep(500);
		}
		if (n >= 0 && count_responses(r->buf, r->len) >= n)
			return;
	}
}

static int status_of(const struct resp *r)
{
	return r->len > 12 ? atoi(r->buf + 9) : 0;
}

static const char *body_of(const struct resp *r)
{
	const char *b = strstr(r->buf, "\r\n\r\n");
	return b ? b + 4 : "";
}

static void one(struct fixture *f, const char *req, struct resp *r)
{
	int fd = cli_connect(f);
	cli_sends(f, fd, req);
	cli_read(f, fd, r, 1, 3000);
	close(fd);
}

/* ---- tests ---- */

static void test_sessiond_http__get(void **state)
{
	struct fixture *f = *state;
	struct resp r = {.len = 0};
	one(f, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	assert_int_equal(status_of(&r), 200);
	assert_non_null(strstr(r.buf, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(r.buf, "Content-Length: 11\r\n"));
	assert_string_equal(body_of(&r), "{\"ok\":true}");
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
}

static void test_sessiond_http__keepalive(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	for (int i = 0; i < 3; i++) {
		struct resp r = {.len = 0};
		char req[128];
		snprintf(req, sizeof(req), "GET /v1/sessions/s-%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
		cli_sends(f, fd, req);
		cli_read(f, fd, &r, 1, 3000);
		assert_false(r.eof);
		assert_int_equal(status_of(&r), 200);
		char want[32];
		snprintf(want, sizeof(want), "\"id\":\"s-%d\"", i);
		assert_non_null(strstr(r.buf, want));
		assert_null(strstr(r.buf, "Connection: close"));
	}
	close(fd);
	struct http_stats st;
	http_server_stats(f->srv, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.latency_bucket[7], 3);
}

static void test_sessiond_http__pipelining(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	cli_sends(f, fd,
		  "GET /v1/sessions/a HTTP/1.1\r\nHost: x\r\n\r\n"
		  "GET /v1/later HTTP/1.1\r\nHost: x\r\n\r\n"
		  "GET /v1/sessions/c?v=x%20y HTTP/1.1\r\nHost: x\r\n\r\n");
	struct resp r = {.len = 0};
	cli_read(f, fd, &r, 3, 3000);
	close(fd);
	assert_int_equal(count_responses(r.buf, r.len), 3);
	/* In order, the asynchronous answer included. */
	char *a = strstr(r.buf, "\"id\":\"a\"");
	char *b = strstr(r.buf, "X-Later: yes");
	char *c = strstr(r.buf, "\"id\":\"c\",\"v\":\"x y\"");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
}

static void test_sessiond_http__errors(void **state)
{
	struct fixture *f = *state;
	struct resp r = {.len = 0};
	one(f, "GET /v1/nope HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(status_of(&r), 404);
	assert_non_null(strstr(body_of(&r), "\"code\":\"not_found\""));

	memset(&r, 0, sizeof(r));
	one(f, "PUT /v1/sessions/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r);
	assert_int_equal(status_of(&r), 405);
	assert_non_null(strstr(r.buf, "Allow: GET, DELETE\r\n"));
	assert_non_null(strstr(body_of(&r), "\"code\":\"method_not_allowed\""));

	/* 413 as soon as Content-Length says so, the body never sent. */
	memset(&r, 0, sizeof(r));
	int fd = cli_connect(f);
	cli_sends(f, fd, "POST /v1/sessions HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n");
	cli_read(f, fd, &r, -1, 3000);
	close(fd);
	assert_int_equal(status_of(&r), 413);
	assert_true(r.eof);
	assert_non_null(strstr(r.buf, "Connection: close"));

	/* 431: 20 KiB of headers. */
	char *big = malloc(24 << 10);
	assert_non_null(big);
	int n = snprintf(big, 24 << 10, "GET /v1/health HTTP/1.1\r\nX-Big: ");
	memset(big + n, 'a', 20 << 10);
	memcpy(big + n + (20 << 10), "\r\n\r\n", 5);
	memset(&r, 0, sizeof(r));
	fd = cli_connect(f);
	cli_sends(f, fd, big);
	cli_read(f, fd, &r, -1, 3000);
	close(fd);
	free(big);
	assert_int_equal(status_of(&r), 431);
	assert_true(r.eof);

	/* 400: garbage, then the connection is closed. */
	memset(&r, 0, sizeof(r));
	fd = cli_connect(f);
	cli_sends(f, fd, "HELLO THERE\r\n\r\n");
	cli_read(f, fd, &r, -1, 3000);
	close(fd);
	assert_int_equal(status_of(&r), 400);
	assert_true(r.eof);
	assert_non_null(strstr(body_of(&r), "\"code\":\"bad_request\""));

	/* 400: malformed JSON body, connection kept. */
	memset(&r, 0, sizeof(r));
	one(f, "POST /v1/sessions HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"a\":", &r);
	assert_int_equal(status_of(&r), 400);
	assert_non_null(strstr(body_of(&r), "malformed JSON"));

	memset(&r, 0, sizeof(r));
	one(f, "POST /v1/sessions HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", &r);
	assert_int_equal(status_of(&r), 400);

	/* HEAD: the answer's headers without its body; the connection goes on. */
	fd = cli_connect(f);
	cli_sends(f, fd, "HEAD /v1/health HTTP/1.1\r\n\r\nGET /v1/health HTTP/1.1\r\n\r\n");
	memset(&r, 0, sizeof(r));
	uint64_t end = now_ms() + 3000;
	while (!strstr(r.buf, "{\"ok\":true}") && now_ms() < end)
		cli_read(f, fd, &r, 0, 10);
	close(fd);
	assert_int_equal(status_of(&r), 405);
	const char *second = strstr(r.buf, "\r\n\r\n");
	assert_non_null(second);
	assert_memory_equal(second + 4, "HTTP/1.1 200 OK", 15);

	struct http_stats st;
	http_server_stats(f->srv, &st);
	assert_true(st.errors_4xx >= 8);
}

static void test_sessiond_http__params(void **state)
{
	struct fixture *f = *state;
	static const char *bad[] = {
		"/v1/sessions/a%2Fb", "/v1/sessions/..", "/v1/sessions/%2e%2e", "/v1/sessions/%2E",
		"/v1/sessions/a%00b", "/v1/sessions/a%zz", "/v1/sessions/a%2", "/v1/sessions/a%20b",
		"/v1/sessions/..%2F..%2Fetc", "/v1/sessions/%2Fetc%2Fpasswd/events",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n\r\n", bad[i]);
		struct resp r = {.len = 0};
		one(f, req, &r);
		if (status_of(&r) != 400)
			fail_msg("%s: status %d, want 400", bad[i], status_of(&r));
	}
	/* 129 characters: too long; 128: fine; percent-decoded once. */
	char req[512], id[130];
	memset(id, 'x', 129);
	id[129] = '\0';
	snprintf(req, sizeof(req), "GET /v1/sessions/%s HTTP/1.1\r\n\r\n", id);
	struct resp r = {.len = 0};
	one(f, req, &r);
	assert_int_equal(status_of(&r), 400);
	id[128] = '\0';
	snprintf(req, sizeof(req), "GET /v1/sessions/%s HTTP/1.1\r\n\r\n", id);
	memset(&r, 0, sizeof(r));
	one(f, req, &r);
	assert_int_equal(status_of(&r), 200);
	memset(&r, 0, sizeof(r));
	one(f, "GET /v1/sessions/s-%61%2541 HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(status_of(&r), 400); /* "s-a%41": '%' is not allowed */
	memset(&r, 0, sizeof(r));
	one(f, "GET /v1/sessions/s-%61.b_c HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(status_of(&r), 200);
	assert_non_null(strstr(body_of(&r), "\"id\":\"s-a.b_c\""));
}

static void test_sessiond_http__chunked_body(void **state)
{
	struct fixture *f = *state;
	struct resp r = {.len = 0};
	one(f,
	    "POST /v1/sessions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\n{\"rep\r\n"
	    "a\r\no\":\"demo\"}\r\n"
	    "0\r\n\r\n",
	    &r);
	assert_int_equal(status_of(&r), 201);
	assert_string_equal(body_of(&r), "{\"got\":{\"repo\":\"demo\"}}");

	/* A chunked body over 1 MiB: 413. */
	int fd = cli_connect(f);
	cli_sends(f, fd, "POST /v1/sessions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	static char chunk[70000];
	int n = snprintf(chunk, sizeof(chunk), "10000\r\n");
	memset(chunk + n, 'z', 0x10000);
	memcpy(chunk + n + 0x10000, "\r\n", 2);
	struct resp big = {.len = 0};
	for (int i = 0; i < 20 && !big.eof; i++) {
		cli_send(f, fd, chunk, (size_t)n + 0x10000 + 2);
		cli_read(f, fd, &big, 1, 5);
	}
	cli_read(f, fd, &big, -1, 3000);
	close(fd);
	assert_int_equal(status_of(&big), 413);
}

static void test_sessiond_http__expect_continue(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	cli_sends(f, fd, "POST /v1/sessions HTTP/1.1\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n");
	struct resp r = {.len = 0};
	uint64_t end = now_ms() + 3000;
	while (!strstr(r.buf, "\r\n\r\n") && now_ms() < end)
		cli_read(f, fd, &r, 0, 10);
	assert_non_null(strstr(r.buf, "HTTP/1.1 100 Continue\r\n\r\n"));
	cli_sends(f, fd, "{\"a\":\"b\"}");
	cli_read(f, fd, &r, 1, 3000);
	close(fd);
	assert_non_null(strstr(r.buf, "HTTP/1.1 201 Created"));
}

static void test_sessiond_http__slow_client(void **state)
{
	struct fixture *f = *state;
	const char *req = "GET /v1/sessions/slow HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = cli_connect(f);
	uint64_t t0 = now_ms();
	for (const char *p = req; *p; p++) {
		cli_send(f, fd, p, 1);
		pump(f, 4);
	}
	struct resp r = {.len = 0};
	cli_read(f, fd, &r, 1, 3000);
	assert_true(now_ms() - t0 < IDLE_MS);
	assert_int_equal(status_of(&r), 200);
	assert_non_null(strstr(body_of(&r), "\"id\":\"slow\""));
	close(fd);

	/* Too slow: the deadline counts from the request's first byte. */
	fd = cli_connect(f);
	memset(&r, 0, sizeof(r));
	t0 = now_ms();
	for (const char *p = req; *p && !r.eof; p++) {
		cli_send(f, fd, p, 1);
		cli_read(f, fd, &r, -1, 60);
	}
	cli_read(f, fd, &r, -1, 3000);
	close(fd);
	assert_int_equal(status_of(&r), 408);
	assert_true(r.eof);
	assert_true(now_ms() - t0 >= IDLE_MS - 50);
}

static void test_sessiond_http__stream(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	cli_sends(f, fd, "GET /v1/sessions/s-1/events HTTP/1.1\r\n\r\n");
	struct resp r = {.len = 0};
	cli_read(f, fd, &r, 1, 3000);
	assert_int_equal(status_of(&r), 200);
	assert_non_null(strstr(r.buf, "Content-Type: application/x-ndjson\r\n"));
	assert_non_null(strstr(r.buf, "Transfer-Encoding: chunked\r\n"));
	const char *b = body_of(&r);
	assert_string_equal(b, "18\r\n{\"seq\":1,\"type\":\"test\"}\n\r\n"
			       "18\r\n{\"seq\":2,\"type\":\"test\"}\n\r\n"
			       "18\r\n{\"seq\":3,\"type\":\"test\"}\n\r\n"
			       "0\r\n\r\n");
	/* The connection is still usable after the stream. */
	memset(&r, 0, sizeof(r));
	cli_sends(f, fd, "GET /v1/health HTTP/1.1\r\n\r\n");
	cli_read(f, fd, &r, 1, 3000);
	assert_int_equal(status_of(&r), 200);
	close(fd);
}

static void test_sessiond_http__stream_disconnect(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	cli_sends(f, fd, "GET /v1/follow/s-1 HTTP/1.1\r\n\r\n");
	struct resp r = {.len = 0};
	uint64_t end = now_ms() + 3000;
	while (!strstr(r.buf, "{\"seq\":1}\n") && now_ms() < end)
		cli_read(f, fd, &r, 0, 10);
	assert_non_null(strstr(r.buf, "{\"seq\":1}\n"));
	assert_non_null(f->follow);
	assert_int_equal(f->aborted, 0);
	close(fd);
	end = now_ms() + 3000;
	while (f->aborted == 0 && now_ms() < end)
		pump(f, 5);
	assert_int_equal(f->aborted, 1);
	assert_true(http_req_aborted(f->follow));
	/* Writes after the abort fail cleanly; end is a no-op. */
	assert_int_equal(http_stream_write_json(f->follow, json_pack("{s:i}", "seq", 2)), -EPIPE);
	http_stream_end(f->follow);
	http_req_unref(f->follow);
	f->follow = NULL;
}

/* A follower that does not read is dropped past 8 MiB queued. */
static void test_sessiond_http__stream_backpressure(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	cli_sends(f, fd, "GET /v1/flood/s-1 HTTP/1.1\r\n\r\n");
	uint64_t end = now_ms() + 3000;
	while (!f->follow && now_ms() < end)
		pump(f, 2);
	assert_non_null(f->follow);
	static char big[64 << 10];
	memset(big, 'x', sizeof(big) - 1);
	int rc = 0, i;
	for (i = 0; i < 400 && rc == 0; i++) {
		rc = http_stream_write_json(f->follow, json_pack("{s:i, s:s}", "seq", i, "pad", big));
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	assert_int_equal(rc, -EPIPE);
	assert_true(i > 8 * 16); /* at least 8 MiB were accepted first */
	end = now_ms() + 3000;
	while (f->aborted == 0 && now_ms() < end)
		pump(f, 2);
	assert_int_equal(f->aborted, 1);
	assert_int_equal(http_stream_write_json(f->follow, json_pack("{s:i}", "seq", 0)), -EPIPE);
	assert_int_equal(http_stream_pending(f->follow), 0);
	http_req_unref(f->follow);
	f->follow = NULL;
	close(fd);
}

static void test_sessiond_http__max_connections(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(start(f, 2, NULL, NULL), 0);
	int a = cli_connect(f), b = cli_connect(f), c = cli_connect(f);
	struct resp r = {.len = 0};
	cli_read(f, c, &r, -1, 3000);
	assert_int_equal(status_of(&r), 503);
	assert_true(r.eof);
	close(c);
	memset(&r, 0, sizeof(r));
	cli_sends(f, a, "GET /v1/health HTTP/1.1\r\n\r\n");
	cli_read(f, a, &r, 1, 3000);
	assert_int_equal(status_of(&r), 200);
	struct http_stats st;
	http_server_stats(f->srv, &st);
	assert_int_equal(st.rejected_conns, 1);
	close(a);
	close(b);
}

static void test_sessiond_http__tcp_token(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(http_server_start(&f->srv, &f->loop,
					   &(struct http_server_opts){.tcp_listen = "0.0.0.0:1", .token = "t",
								     .routes = routes, .nroutes = 1}),
			 -EPERM);
	assert_int_equal(http_server_start(&f->srv, &f->loop,
					   &(struct http_server_opts){.tcp_listen = "127.0.0.1:1", .routes = routes,
								     .nroutes = 1}),
			 -EINVAL);
	f->srv = NULL;
	int port = 0;
	for (int i = 0; i < 50 && !f->srv; i++) {
		port = 20000 + (int)((unsigned)getpid() * 7919u + (unsigned)i * 104729u) % 40000;
		char spec[32];
		snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
		if (start(f, 0, spec, "s3cret-token") != 0)
			f->srv = NULL;
	}
	assert_non_null(f->srv);
	static const char *reqs[] = {
		"GET /v1/health HTTP/1.1\r\n\r\n",
		"GET /v1/health HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n",
		"GET /v1/health HTTP/1.1\r\nAuthorization: Bearer s3cret-toke\r\n\r\n",
		"GET /v1/health HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\n\r\n",
	};
	for (int i = 0; i < 4; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		a.sin_addr.s_addr = htonl(0x7f000001);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		assert_true(rc == 0 || errno == EINPROGRESS);
		pump(f, 5);
		cli_sends(f, fd, reqs[i]);
		struct resp r = {.len = 0};
		cli_read(f, fd, &r, 1, 3000);
		close(fd);
		assert_int_equal(status_of(&r), i == 3 ? 200 : 401);
	}
	/* The Unix socket needs no token. */
	struct resp r = {.len = 0};
	one(f, "GET /v1/health HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(status_of(&r), 200);
}

static void test_sessiond_http__idle_close(void **state)
{
	struct fixture *f = *state;
	int fd = cli_connect(f);
	struct resp r = {.len = 0};
	cli_read(f, fd, &r, -1, IDLE_MS * 4);
	close(fd);
	assert_true(r.eof);
	assert_int_equal(r.len, 0); /* idle: closed without an answer */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sessiond_http__get, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__keepalive, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__pipelining, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__errors, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__params, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__chunked_body, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__expect_continue, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__slow_client, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__stream, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__stream_disconnect, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__stream_backpressure, setup_started, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__max_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__tcp_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessiond_http__idle_close, setup_started, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
