/*
 * sessiond/http: the HTTP/1.1 server of thawd, over libuv, parsing with
 * http-parser (Debian's libhttp-parser). The contract between the server
 * (http.c, http_conn.c, router.c) and the API handlers (api_*.c).
 *
 * Threading: everything here runs on the libuv loop thread. Handlers must not
 * block: disk, git, SQLite and snapshot work goes to uv_queue_work (or a
 * child process) and the handler answers later through the saved request.
 *
 * Lifetime: a struct http_req is owned by the server. A handler answers it
 * exactly once (http_reply_* or http_stream_begin); it may keep the pointer
 * until then. If the client goes away first, the on_abort callback set with
 * http_req_on_abort is called (on the loop thread) and the request must not be
 * answered after that callback returns (answers are then ignored safely if
 * made through http_req_ref/http_req_unref, see below).
 */
#ifndef THAW_SESSIOND_HTTP_H
#define THAW_SESSIOND_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_MAX_BODY (1u << 20)     /* 413 above */
#define HTTP_MAX_HEADERS (16u << 10) /* 431/413 above */
#define HTTP_MAX_PARAMS 4

struct http_server;
struct http_req;

/* A route handler. params[i] are the path segments matched by ":name" in the
 * route pattern (decoded, validated against [A-Za-z0-9_.-], never "." or ".."). */
typedef void (*http_handler_fn)(struct http_req *req, void *ctx);

struct http_route {
	const char *method;   /* "GET", "POST", "DELETE" */
	const char *pattern;  /* "/v1/sessions/:id/events" */
	http_handler_fn fn;
};

struct http_server_opts {
	const char *unix_path;      /* listen here (mode 0660), or NULL */
	const char *tcp_listen;     /* "127.0.0.1:PORT" or NULL */
	const char *token;          /* bearer token required on TCP */
	unsigned max_connections;   /* 0: 1024 */
	unsigned idle_timeout_ms;   /* keep-alive idle and slow header/body deadline; 0: 30000 */
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;                  /* passed to every handler */
};

int http_server_start(struct http_server **out, uv_loop_t *loop, const struct http_server_opts *o);
/* Stops listening, closes every connection (streams end), frees on close. */
void http_server_stop(struct http_server *s);

/* ---- the request ---- */
const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);      /* without the query */
const char *http_req_param(const struct http_req *r, unsigned i);
/* A query parameter's decoded value, or NULL. */
const char *http_req_query(const struct http_req *r, const char *name);
const char *http_req_header(const struct http_req *r, const char *name); /* case-insensitive */
const char *http_req_body(const struct http_req *r, size_t *len);
/* The body parsed as a JSON object; on failure answers 400 itself and
 * returns NULL (the handler just returns). Borrowed: valid until answered. */
json_t *http_req_json(struct http_req *r);
uint64_t http_req_id(const struct http_req *r);            /* for logs */
/* Keep the request alive across asynchronous work; answers after the
 * client has gone are dropped silently. */
void http_req_ref(struct http_req *r);
void http_req_unref(struct http_req *r);
bool http_req_aborted(const struct http_req *r);
void http_req_on_abort(struct http_req *r, void (*fn)(struct http_req *r, void *arg), void *arg);

/* ---- answers ---- */
/* Steals body (may be NULL: empty body). */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* {"message": msg, "code": code} with the status. */
void http_reply_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void http_reply_text(struct http_req *r, int status, const char *content_type, const char *text, size_t len);
/* Adds a header to the answer about to be sent (before http_reply_*). */
void http_reply_header(struct http_req *r, const char *name, const char *value);

/* ---- streams (chunked, application/x-ndjson) ---- */
/* Starts a 200 chunked answer. Then http_stream_write_json per event (one
 * line each; steals ev) and http_stream_end. Returns -EPIPE once the client
 * has gone. Back-pressure: http_stream_pending() is the bytes queued in the
 * kernel-unsent buffer; a slow client above 8 MiB is disconnected. */
int http_stream_begin(struct http_req *r, const char *content_type);
int http_stream_write_json(struct http_req *r, json_t *ev);
void http_stream_end(struct http_req *r);
size_t http_stream_pending(const struct http_req *r);

/* ---- metrics of the server (for /metrics) ---- */
struct http_stats {
	uint64_t connections, active_connections, requests, errors_4xx, errors_5xx, rejected_conns;
	/* request latency histogram, seconds: le 0.001 0.005 0.01 0.05 0.1 0.5 1 +Inf
	 * (cumulative, as Prometheus buckets: [7] is the count) */
	uint64_t latency_bucket[8];
	double latency_sum;
};
void http_server_stats(const struct http_server *s, struct http_stats *out);

#endif
