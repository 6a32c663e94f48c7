/*
 * sessiond/http_int.h: internals shared by the HTTP server's files.
 *
 *   http.c        sockets: listeners, accept, reads, writes, timers, close
 *   http_conn.c   the byte stream -> request state machine (http-parser);
 *                 no sockets: a transport is a small table of callbacks, so
 *                 tests and the fuzz target drive it with plain buffers
 *   http_reply.c  answers, error bodies, chunked streams, request accessors
 *   router.c      percent-decoding, route matching, params, query strings
 *
 * One connection has at most one request dispatched at a time ("cur"); the
 * bytes of pipelined requests wait in the connection's input buffer (parser
 * paused) until cur is answered, so answers go out in request order.
 *
 * References: a request starts with one reference, held by its connection
 * until it is answered (or aborted: the connection closed first). Handlers
 * take more with http_req_ref. The request is freed at the last unref.
 */
#ifndef THAW_SESSIOND_HTTP_INT_H
#define THAW_SESSIOND_HTTP_INT_H

#include "http.h"

#include <http_parser.h>

#define HTTP_MAX_PARAM_LEN 128
#define HTTP_MAX_STREAM_PENDING (8u << 20)   /* a stream client this far behind is dropped */
#define HTTP_MAX_INPUT (HTTP_MAX_HEADERS + HTTP_MAX_BODY + (64u << 10)) /* buffered, not parsed */
#define HTTP_LINGER_MS 2000                  /* read-and-discard after an error answer */

struct http_kv {
	char *name;
	char *value;
};

struct http_conn;

/* What a connection needs from its transport (sockets in http.c, buffers in
 * tests and the fuzz target). */
struct http_conn_ops {
	/* Queues data (steals it). Never fails visibly: a write error closes
	 * the connection later through http__conn_close. */
	void (*write)(struct http_conn *c, char *data, size_t len);
	/* Flushes what was queued, then closes; the transport frees the
	 * connection later (never from inside this call). */
	void (*close)(struct http_conn *c);
	/* Bytes queued but not yet taken by the kernel. */
	size_t (*pending)(const struct http_conn *c);
	/* Arms the connection's deadline (ms > 0) or stops it (0); at expiry
	 * the transport calls http__conn_timeout. */
	void (*deadline)(struct http_conn *c, unsigned ms);
	/* Stops (true) or restarts (false) reading from the peer. */
	void (*read_pause)(struct http_conn *c, bool pause);
};

struct http_server {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	uv_tcp_t tcp;
	bool has_pipe, has_tcp;
	char *unix_path;
	char *token;
	size_t token_len;
	unsigned max_connections;
	unsigned idle_timeout_ms;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	struct http_conn *conns;     /* list of live socket connections */
	unsigned nconns;
	unsigned open_handles;       /* listeners + connection handles not yet closed */
	bool stopping;
	uint64_t next_req_id;
	struct http_stats stats;
};

struct http_conn {
	struct http_server *srv;
	const struct http_conn_ops *ops;
	bool is_tcp;                 /* bearer token required */
	http_parser parser;
	char *in;                    /* received, not yet parsed: in[in_off..in_len) */
	size_t in_off, in_len, in_cap;
	struct http_req *parsing;    /* under construction (message begun) */
	struct http_req *ready;      /* complete, about to be dispatched */
	struct http_req *cur;        /* dispatched, not answered yet */
	size_t header_bytes;         /* of the request being parsed */
	bool closing;
	bool in_process;             /* re-entrancy guard of http__conn_process */
	bool peer_eof;
	bool read_paused;
	bool drop;                   /* close at the next deadline (slow stream reader) */
	struct http_conn *prev, *next; /* in srv->conns (socket connections) */
};

struct http_req {
	unsigned refs;
	struct http_conn *conn;      /* NULL once answered or aborted */
	struct http_server *srv;
	uint64_t id;
	uint64_t t_start_ns;
	char method[16];
	char *url;                   /* raw request target */
	size_t url_len;
	char *path;                  /* decoded, without the query */
	char *params[HTTP_MAX_PARAMS];
	struct http_kv *query;
	size_t nquery;
	struct http_kv *headers;
	size_t nheaders, headers_cap;
	bool in_value;               /* last header callback was a value */
	char *body;
	size_t body_len, body_cap;
	json_t *json;
	struct http_kv *reply_headers;
	size_t nreply_headers;
	bool keep_alive;
	bool http11;
	bool answered;
	bool streaming;
	bool aborted;
	int status;
	void (*on_abort)(struct http_req *r, void *arg);
	void *abort_arg;
};

/* ---- http_conn.c ---- */
void http__conn_init(struct http_conn *c, struct http_server *srv, const struct http_conn_ops *ops, bool is_tcp);
/* Appends received bytes and processes them (dispatching complete requests). */
void http__conn_feed(struct http_conn *c, const char *data, size_t len);
/* The peer closed its sending side (or the connection). */
void http__conn_eof(struct http_conn *c);
/* The transport's deadline expired. */
void http__conn_timeout(struct http_conn *c);
/* Closes the connection: aborts the current request (on_abort), drops the
 * one being parsed, asks the transport to close. Idempotent. */
void http__conn_close(struct http_conn *c);
/* Frees what the connection owns (after the transport closed). */
void http__conn_release(struct http_conn *c);
/* Parses what is buffered, if nothing is in flight (after an answer). */
void http__conn_process(struct http_conn *c);
/* The current request was answered completely (status for the stats). */
void http__conn_finish(struct http_conn *c, struct http_req *r);
/* Answers with a JSON error and closes; for errors found while parsing. */
void http__conn_fail(struct http_conn *c, int status, const char *code, const char *extra_header,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- http_reply.c ---- */
const char *http__reason(int status);
/* A complete answer: status line, headers, Content-Length, body. */
char *http__format(size_t *out_len, int status, const char *content_type, const struct http_kv *hdrs,
		   size_t nhdrs, bool close, const char *body, size_t body_len);
/* JSON error body {"message","code"}; caller frees. */
char *http__error_body(const char *code, const char *msg, size_t *out_len);
void http__req_free(struct http_req *r);
void http__stats_count(struct http_server *s, int status, uint64_t t_start_ns);

/* ---- router.c ---- */
/* Matches the request (method, url) against the routes and calls the
 * handler, or answers 400/404/405 itself. */
void http__route(struct http_req *r);
/* Percent-decodes src[0..len) into a new string; plus_is_space for query
 * strings. Returns NULL on a malformed escape. *out_len excludes the NUL. */
char *http__pct_decode(const char *src, size_t len, bool plus_is_space, size_t *out_len);
bool http__param_valid(const char *s, size_t len);

/* ---- http.c ---- */
/* A server that does not listen: for tests and the fuzz target, which
 * drive connections themselves. Free with http__server_free_detached. */
int http__server_new_detached(struct http_server **out, const struct http_server_opts *o);
void http__server_free_detached(struct http_server *s);

#endif
