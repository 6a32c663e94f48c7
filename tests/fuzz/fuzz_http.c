/*
 * libFuzzer target: arbitrary bytes through thawd's HTTP request handling
 * (sessiond/http_conn.c + router.c + http_reply.c), without sockets. The
 * connection's transport appends answers to a buffer; handlers cover every
 * shape of answer: immediate JSON, body parsing, params and query, a
 * complete stream, a stream left open (aborted at the end), an answer given
 * after later bytes arrived (pipelining behind an asynchronous handler).
 *
 * Input: byte 0 chooses TCP (bearer token) vs Unix and the size of the
 * pieces the rest is fed in (one byte at a time up to everything at once).
 *
 * Built and run by tests/fuzz/run_fuzz_http.sh (ctest: fuzz_http).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static struct http_server *srv;

struct fz_conn {
	struct http_conn c;  /* first */
	size_t out_len;
	bool closed;
	char head[8];        /* first bytes written: must be a status line */
	size_t head_len;
	struct http_req *later;
	struct http_req *follow;
	int aborts;
};

static void fz_write(struct http_conn *c, char *data, size_t len)
{
	struct fz_conn *f = (struct fz_conn *)c;
	assert(!f->closed); /* nothing is written after the close */
	for (size_t i = 0; i < len && f->head_len < sizeof(f->head); i++)
		f->head[f->head_len++] = data[i];
	f->out_len += len;
	free(data);
}

static void fz_close(struct http_conn *c)
{
	((struct fz_conn *)c)->closed = true;
}

static size_t fz_pending(const struct http_conn *c)
{
	return 0;
}

static void fz_deadline(struct http_conn *c, unsigned ms)
{
}

static void fz_read_pause(struct http_conn *c, bool pause)
{
}

static const struct http_conn_ops fz_ops = {
	.write = fz_write,
	.close = fz_close,
	.pending = fz_pending,
	.deadline = fz_deadline,
	.read_pause = fz_read_pause,
};

static struct fz_conn *cur_conn;

static void h_health(struct http_req *r, void *ctx)
{
	http_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static void h_session(struct http_req *r, void *ctx)
{
	const char *id = http_req_param(r, 0);
	/* The router's promise to handlers. */
	assert(id && http__param_valid(id, strlen(id)));
	assert(!strchr(id, '/') && strcmp(id, "..") != 0 && strcmp(id, ".") != 0);
	const char *since = http_req_query(r, "since");
	http_reply_header(r, "X-Id", id);
	http_reply_json(r, 200, json_pack("{s:s, s:s?}", "id", id, "since", since));
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
	if (http_stream_begin(r, NULL))
		return;
	for (int i = 0; i < 3; i++)
		if (http_stream_write_json(r, json_pack("{s:i}", "seq", i)))
			return;
	http_stream_end(r);
}

static void on_abort(struct http_req *r, void *arg)
{
	((struct fz_conn *)arg)->aborts++;
}

static void h_follow(struct http_req *r, void *ctx)
{
	if (cur_conn->follow) {
		http_reply_error(r, 409, "conflict", "one follower per connection here");
		return;
	}
	http_req_ref(r);
	cur_conn->follow = r;
	http_req_on_abort(r, on_abort, cur_conn);
	(void)http_stream_begin(r, NULL);
	(void)http_stream_write_json(r, json_pack("{s:i}", "seq", 1));
}

static void h_later(struct http_req *r, void *ctx)
{
	if (cur_conn->later) {
		http_reply_error(r, 409, "conflict", "busy");
		return;
	}
	http_req_ref(r);
	cur_conn->later = r;
}

static const struct http_route routes[] = {
	{"GET", "/v1/health", h_health},
	{"GET", "/v1/sessions/:id", h_session},
	{"DELETE", "/v1/sessions/:id", h_session},
	{"POST", "/v1/sessions", h_create},
	{"GET", "/v1/sessions/:id/events", h_events},
	{"POST", "/v1/sessions/:id/prompts", h_create},
	{"GET", "/v1/follow/:id", h_follow},
	{"GET", "/v1/later", h_later},
	{"GET", "/v1/repos/:name/images/:id", h_session},
};

static void answer_later(struct fz_conn *f)
{
	if (!f->later)
		return;
	struct http_req *r = f->later;
	f->later = NULL;
	http_reply_json(r, 202, json_pack("{s:b}", "later", 1));
	http_req_unref(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_server_opts o = {
		.token = "fuzz-token",
		.idle_timeout_ms = 1000,
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
	};
	if (http__server_new_detached(&srv, &o))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct fz_conn f;
	memset(&f, 0, sizeof(f));
	cur_conn = &f;
	bool tcp = data[0] & 1;
	size_t piece = (size_t)(data[0] >> 1);
	piece = piece == 0 ? size : piece;
	data++;
	size--;
	http__conn_init(&f.c, srv, &fz_ops, tcp);
	for (size_t off = 0; off < size && !f.closed; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		http__conn_feed(&f.c, (const char *)data + off, n);
		answer_later(&f); /* the handler's work is done before more bytes */
	}
	if (!f.closed)
		http__conn_eof(&f.c);
	answer_later(&f);
	if (f.head_len >= 7)
		assert(memcmp(f.head, "HTTP/1.", 7) == 0);
	if (!f.closed)
		http__conn_timeout(&f.c);
	http__conn_close(&f.c);
	if (f.follow) {
		/* A stream still open when the connection closes is aborted once. */
		assert(f.aborts == 1 && http_req_aborted(f.follow));
		(void)http_stream_write_json(f.follow, json_pack("{s:i}", "seq", 2));
		http_req_unref(f.follow);
	}
	http__conn_release(&f.c);
	cur_conn = NULL;
	return 0;
}
