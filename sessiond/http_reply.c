/*
 * sessiond/http_reply.c: answers (JSON, text, errors), chunked streams, the
 * request's accessors and its reference count, and the server's counters.
 *
 * An answer is formatted into one buffer (status line, headers,
 * Content-Length, body) and handed to the transport in one write. An answer
 * to a request whose client has gone (r->conn == NULL after an abort) is
 * dropped: the handler kept the request alive with http_req_ref.
 */
#include "http_int.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "banned.h"

const char *http__reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* A header name or value that would break the framing is refused. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

static int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return 0;
		}
		size_t ncap = *cap * 2 + (size_t)n;
		char *p = realloc(*buf, ncap);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
}

/* The head of an answer (through the blank line), or NULL. body_len is
 * SIZE_MAX for a chunked answer. */
static char *format_head(size_t *out_len, size_t extra, int status, const char *content_type,
			 const struct http_kv *hdrs, size_t nhdrs, bool close, size_t body_len)
{
	size_t cap = 256 + extra, len = 0;
	char *b = malloc(cap);
	if (!b)
		return NULL;
	int r = buf_printf(&b, &len, &cap, "HTTP/1.1 %d %s\r\n", status, http__reason(status));
	if (!r && content_type)
		r = buf_printf(&b, &len, &cap, "Content-Type: %s\r\n", content_type);
	if (!r && body_len == SIZE_MAX)
		r = buf_printf(&b, &len, &cap, "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n");
	else if (!r)
		r = buf_printf(&b, &len, &cap, "Content-Length: %zu\r\n", body_len);
	for (size_t i = 0; !r && i < nhdrs; i++)
		r = buf_printf(&b, &len, &cap, "%s: %s\r\n", hdrs[i].name, hdrs[i].value);
	if (!r && close)
		r = buf_printf(&b, &len, &cap, "Connection: close\r\n");
	if (!r)
		r = buf_printf(&b, &len, &cap, "\r\n");
	if (r) {
		free(b);
		return NULL;
	}
	*out_len = len;
	return b;
}

char *http__format(size_t *out_len, int status, const char *content_type, const struct http_kv *hdrs,
		   size_t nhdrs, bool close, const char *body, size_t body_len)
{
	size_t hlen = 0;
	char *b = format_head(&hlen, body_len, status, content_type, hdrs, nhdrs, close, body_len);
	if (!b)
		return NULL;
	/* format_head reserved body_len extra bytes, but it may have grown. */
	char *p = realloc(b, hlen + body_len + 1);
	if (!p) {
		free(b);
		return NULL;
	}
	if (body_len)
		memcpy(p + hlen, body, body_len);
	*out_len = hlen + body_len;
	return p;
}

char *http__error_body(const char *code, const char *msg, size_t *out_len)
{
	json_t *o = json_pack("{s:s, s:s}", "message", msg, "code", code);
	if (!o)
		return NULL;
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return NULL;
	*out_len = strlen(s);
	return s;
}

void http__stats_count(struct http_server *s, int status, uint64_t t_start_ns)
{
	static const double le[7] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1};
	double secs = (double)(uv_hrtime() - t_start_ns) / 1e9;
	s->stats.requests++;
	if (status >= 400 && status < 500)
		s->stats.errors_4xx++;
	else if (status >= 500)
		s->stats.errors_5xx++;
	unsigned i = 0;
	while (i < 7 && secs > le[i])
		i++;
	s->stats.latency_bucket[i]++;
	s->stats.latency_sum += secs;
}

void http_server_stats(const struct http_server *s, struct http_stats *out)
{
	*out = s->stats;
	/* Prometheus buckets are cumulative. */
	for (unsigned i = 1; i < 8; i++)
		out->latency_bucket[i] += out->latency_bucket[i - 1];
}

static void kv_free(struct http_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

void http__req_free(struct http_req *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->path);
	for (unsigned i = 0; i < HTTP_MAX_PARAMS; i++)
		free(r->params[i]);
	kv_free(r->query, r->nquery);
	kv_free(r->headers, r->nheaders);
	kv_free(r->reply_headers, r->nreply_headers);
	free(r->body);
	json_decref(r->json);
	free(r);
}

void http_req_ref(struct http_req *r)
{
	r->refs++;
}

void http_req_unref(struct http_req *r)
{
	if (!r)
		return;
	assert(r->refs > 0);
	if (--r->refs == 0)
		http__req_free(r);
}

bool http_req_aborted(const struct http_req *r)
{
	return r->aborted;
}

void http_req_on_abort(struct http_req *r, void (*fn)(struct http_req *r, void *arg), void *arg)
{
	r->on_abort = fn;
	r->abort_arg = arg;
}

const char *http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *http_req_path(const struct http_req *r)
{
	return r->path ? r->path : "";
}

const char *http_req_param(const struct http_req *r, unsigned i)
{
	return i < HTTP_MAX_PARAMS ? r->params[i] : NULL;
}

const char *http_req_query(const struct http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (r->headers[i].name && strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value ? r->headers[i].value : "";
	return NULL;
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body ? r->body : "";
}

uint64_t http_req_id(const struct http_req *r)
{
	return r->id;
}

json_t *http_req_json(struct http_req *r)
{
	if (r->json)
		return r->json;
	if (r->body_len == 0) {
		http_reply_error(r, 400, "bad_request", "a JSON object body is required");
		return NULL;
	}
	json_error_t err;
	json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		http_reply_error(r, 400, "bad_request", "malformed JSON at line %d column %d: %s", err.line,
				 err.column, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_error(r, 400, "bad_request", "the body must be a JSON object");
		return NULL;
	}
	r->json = j;
	return j;
}

void http_reply_header(struct http_req *r, const char *name, const char *value)
{
	if (r->answered || !header_safe(name) || !header_safe(value))
		return;
	struct http_kv *h = realloc(r->reply_headers, (r->nreply_headers + 1) * sizeof(*h));
	if (!h)
		return;
	r->reply_headers = h;
	h[r->nreply_headers].name = strdup(name);
	h[r->nreply_headers].value = strdup(value);
	if (!h[r->nreply_headers].name || !h[r->nreply_headers].value) {
		free(h[r->nreply_headers].name);
		free(h[r->nreply_headers].value);
		return;
	}
	r->nreply_headers++;
}

/* Marks r answered; false if the answer must be dropped (client gone). */
static bool answer_begin(struct http_req *r, int status)
{
	assert(!r->answered && "a request is answered exactly once");
	if (r->answered)
		return false;
	r->answered = true;
	r->status = status;
	return r->conn != NULL && !r->conn->closing;
}

static void send_whole(struct http_req *r, int status, const char *ctype, const char *body, size_t len)
{
	if (!answer_begin(r, status))
		return;
	struct http_conn *c = r->conn;
	bool close = !r->keep_alive || c->peer_eof;
	size_t out_len = 0;
	char *out = http__format(&out_len, status, ctype, r->reply_headers, r->nreply_headers, close, body, len);
	if (!out) {
		http__conn_close(c);
		return;
	}
	if (strcmp(r->method, "HEAD") == 0)
		out_len -= len; /* the headers of the answer, without its body */
	c->ops->write(c, out, out_len);
	http__conn_finish(c, r);
}

void http_reply_json(struct http_req *r, int status, json_t *body)
{
	char *s = NULL;
	if (body) {
		s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(body);
		if (!s) {
			static const char e[] = "{\"message\":\"cannot encode the answer\",\"code\":\"internal\"}";
			send_whole(r, 500, "application/json", e, sizeof(e) - 1);
			return;
		}
	}
	send_whole(r, status, "application/json", s ? s : "", s ? strlen(s) : 0);
	free(s);
}

void http_reply_error(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t len = 0;
	char *b = http__error_body(code, msg, &len);
	if (!b) {
		static const char e[] = "{\"message\":\"out of memory\",\"code\":\"internal\"}";
		send_whole(r, 500, "application/json", e, sizeof(e) - 1);
		return;
	}
	send_whole(r, status, "application/json", b, len);
	free(b);
}

void http_reply_text(struct http_req *r, int status, const char *content_type, const char *text, size_t len)
{
	send_whole(r, status, content_type ? content_type : "text/plain; charset=utf-8", text, len);
}

/* ---- streams ---- */

static int stream_check(struct http_req *r)
{
	struct http_conn *c = r->conn;
	if (!c || c->closing || c->drop || r->aborted)
		return -EPIPE;
	if (c->ops->pending(c) > HTTP_MAX_STREAM_PENDING) {
		/* Too slow a reader: dropped from the loop, not from inside the
		 * handler's call (on_abort runs then, never re-entrantly). */
		c->drop = true;
		c->ops->deadline(c, 1);
		return -EPIPE;
	}
	return 0;
}

int http_stream_begin(struct http_req *r, const char *content_type)
{
	if (!answer_begin(r, 200))
		return -EPIPE;
	struct http_conn *c = r->conn;
	if (c->peer_eof) {
		http__conn_close(c);
		return -EPIPE;
	}
	r->streaming = true;
	/* HTTP/1.0 has no chunked encoding: the end of the stream is the close. */
	if (!r->http11)
		r->keep_alive = false;
	size_t len = 0;
	char *head = format_head(&len, 0, 200, content_type ? content_type : "application/x-ndjson",
				 r->reply_headers, r->nreply_headers, !r->keep_alive,
				 r->http11 ? SIZE_MAX : 0);
	if (!head) {
		http__conn_close(c);
		return -EPIPE;
	}
	if (!r->http11) {
		/* format_head wrote Content-Length: 0; rewrite without a length. */
		free(head);
		size_t cap = 256;
		head = malloc(cap);
		len = 0;
		if (!head || buf_printf(&head, &len, &cap,
					"HTTP/1.0 200 OK\r\nContent-Type: %s\r\nConnection: close\r\n\r\n",
					content_type ? content_type : "application/x-ndjson")) {
			free(head);
			http__conn_close(c);
			return -EPIPE;
		}
	}
	c->ops->write(c, head, len);
	return 0;
}

int http_stream_write_json(struct http_req *r, json_t *ev)
{
	char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	int rc = r->streaming ? stream_check(r) : -EINVAL;
	if (rc || !s) {
		free(s);
		return rc ? rc : -ENOMEM;
	}
	size_t n = strlen(s);
	size_t cap = n + 32, len = 0;
	char *out = malloc(cap);
	if (!out) {
		free(s);
		return -ENOMEM;
	}
	if (r->http11)
		len = (size_t)snprintf(out, cap, "%zx\r\n", n + 1);
	memcpy(out + len, s, n);
	len += n;
	out[len++] = '\n';
	if (r->http11) {
		out[len++] = '\r';
		out[len++] = '\n';
	}
	free(s);
	r->conn->ops->write(r->conn, out, len);
	return 0;
}

void http_stream_end(struct http_req *r)
{
	if (!r->streaming || !r->conn || r->conn->closing)
		return;
	struct http_conn *c = r->conn;
	r->streaming = false;
	if (r->http11) {
		char *z = malloc(5);
		if (!z) {
			http__conn_close(c);
			return;
		}
		memcpy(z, "0\r\n\r\n", 5);
		c->ops->write(c, z, 5);
	}
	http__conn_finish(c, r);
}

size_t http_stream_pending(const struct http_req *r)
{
	if (!r->conn || r->conn->closing)
		return 0;
	return r->conn->ops->pending(r->conn);
}
