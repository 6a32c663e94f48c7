/*
 * sessiond/http_conn.c: one connection's byte stream -> requests, with
 * http-parser 2.9. No sockets here: the transport is struct http_conn_ops.
 *
 * Flow: bytes are appended to c->in and parsed while no request is in
 * flight. on_message_complete pauses the parser; the loop in
 * http__conn_process then dispatches the request (outside
 * http_parser_execute, so a handler that answers at once re-enters nothing)
 * and continues with the buffered rest only after the answer (pipelining
 * keeps its order). Limits are checked as the bytes arrive: headers (request
 * line included) over HTTP_MAX_HEADERS => 431, a Content-Length or a chunked
 * body over HTTP_MAX_BODY => 413, both before the body is read.
 */
#include "http_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "banned.h"

static int grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	char *p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Appends to a NUL-terminated heap string (header names and values arrive
 * in pieces when they straddle reads). */
static int str_append(char **s, const char *at, size_t len)
{
	size_t old = *s ? strlen(*s) : 0;
	char *p = realloc(*s, old + len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + old, at, len);
	p[old + len] = '\0';
	*s = p;
	return 0;
}

static struct http_conn *conn_of(http_parser *p)
{
	return p->data;
}

static int fail_cb(struct http_conn *c, int status, const char *code, const char *msg)
{
	http__conn_fail(c, status, code, NULL, "%s", msg);
	return -1;
}

static int count_header_bytes(struct http_conn *c, size_t len)
{
	c->header_bytes += len;
	if (c->header_bytes > HTTP_MAX_HEADERS)
		return fail_cb(c, 431, "too_large", "request headers larger than 16 KiB");
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = calloc(1, sizeof(*r));
	if (!r)
		return fail_cb(c, 503, "unavailable", "out of memory");
	r->refs = 1;
	r->conn = c;
	r->srv = c->srv;
	r->id = ++c->srv->next_req_id;
	r->t_start_ns = uv_hrtime();
	http__req_free(c->parsing); /* a previous half-parsed request (never with refs) */
	c->parsing = r;
	c->header_bytes = 0;
	c->ops->deadline(c, c->srv->idle_timeout_ms);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->parsing;
	if (count_header_bytes(c, len))
		return -1;
	if (str_append(&r->url, at, len))
		return fail_cb(c, 503, "unavailable", "out of memory");
	r->url_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->parsing;
	if (count_header_bytes(c, len + 4))
		return -1;
	if (r->nheaders == 0 || r->in_value) {
		if (r->nheaders == r->headers_cap) {
			size_t n = r->headers_cap ? r->headers_cap * 2 : 16;
			struct http_kv *h = realloc(r->headers, n * sizeof(*h));
			if (!h)
				return fail_cb(c, 503, "unavailable", "out of memory");
			r->headers = h;
			r->headers_cap = n;
		}
		r->headers[r->nheaders].name = NULL;
		r->headers[r->nheaders].value = NULL;
		r->nheaders++;
		r->in_value = false;
	}
	if (str_append(&r->headers[r->nheaders - 1].name, at, len))
		return fail_cb(c, 503, "unavailable", "out of memory");
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->parsing;
	if (count_header_bytes(c, len))
		return -1;
	if (r->nheaders == 0) /* http-parser never does this; be safe */
		return fail_cb(c, 400, "bad_request", "header value without a name");
	r->in_value = true;
	if (str_append(&r->headers[r->nheaders - 1].value, at, len))
		return fail_cb(c, 503, "unavailable", "out of memory");
	return 0;
}

/* Constant-time comparison: the time taken does not depend on where the
 * first difference is (only on the length of the expected token). */
static bool token_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
	unsigned char diff = (unsigned char)(got_len != want_len);
	for (size_t i = 0; i < want_len; i++) {
		unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
		diff |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return diff == 0;
}

static bool authorized(struct http_conn *c, const struct http_req *r)
{
	if (!c->is_tcp)
		return true;
	if (!c->srv->token)
		return false;
	const char *a = http_req_header(r, "Authorization");
	if (!a || strncasecmp(a, "Bearer ", 7) != 0)
		return false;
	a += 7;
	while (*a == ' ')
		a++;
	size_t n = strlen(a);
	while (n && (a[n - 1] == ' ' || a[n - 1] == '\t'))
		n--;
	return token_equal(a, n, c->srv->token, c->srv->token_len);
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->parsing;
	const char *m = http_method_str((enum http_method)p->method);
	snprintf(r->method, sizeof(r->method), "%s", m);
	if (p->http_major != 1)
		return fail_cb(c, 400, "bad_request", "unsupported HTTP version (HTTP/1.0 and 1.1 only)");
	r->http11 = p->http_minor >= 1;
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	if (!authorized(c, r)) {
		http__conn_fail(c, 401, "unauthorized", "WWW-Authenticate: Bearer",
				"a bearer token is required (Authorization: Bearer TOKEN)");
		return -1;
	}
	/* http-parser sets content_length to ULLONG_MAX when there is none. */
	if (p->content_length != ULLONG_MAX && p->content_length > HTTP_MAX_BODY)
		return fail_cb(c, 413, "too_large", "request body larger than 1 MiB");
	const char *expect = http_req_header(r, "Expect");
	if (expect && r->http11) {
		if (strcasecmp(expect, "100-continue") != 0) {
			http__conn_fail(c, 417, "bad_request", NULL, "unsupported Expect: %.64s", expect);
			return -1;
		}
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		char *d = malloc(sizeof(cont) - 1);
		if (!d)
			return fail_cb(c, 503, "unavailable", "out of memory");
		memcpy(d, cont, sizeof(cont) - 1);
		c->ops->write(c, d, sizeof(cont) - 1);
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->parsing;
	if (r->body_len + len > HTTP_MAX_BODY)
		return fail_cb(c, 413, "too_large", "request body larger than 1 MiB");
	if (grow(&r->body, &r->body_cap, r->body_len + len + 1))
		return fail_cb(c, 503, "unavailable", "out of memory");
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = c->parsing;
	c->parsing = NULL;
	c->ready = r;
	c->ops->deadline(c, 0);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http__conn_init(struct http_conn *c, struct http_server *srv, const struct http_conn_ops *ops, bool is_tcp)
{
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	c->ops = ops;
	c->is_tcp = is_tcp;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	/* Idle until the first byte. */
	c->ops->deadline(c, srv->idle_timeout_ms);
}

void http__conn_fail(struct http_conn *c, int status, const char *code, const char *extra_header, const char *fmt, ...)
{
	if (c->closing)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t blen = 0, len = 0;
	char *body = http__error_body(code, msg, &blen);
	struct http_kv hv[1];
	size_t nh = 0;
	char *hcopy = NULL;
	if (extra_header && (hcopy = strdup(extra_header)) != NULL) {
		char *colon = strchr(hcopy, ':');
		if (colon) {
			*colon = '\0';
			hv[0].name = hcopy;
			hv[0].value = colon + 1 + (colon[1] == ' ');
			nh = 1;
		}
	}
	char *out = body ? http__format(&len, status, "application/json", hv, nh, true, body, blen) : NULL;
	free(hcopy);
	free(body);
	if (out)
		c->ops->write(c, out, len);
	http__stats_count(c->srv, status, c->parsing ? c->parsing->t_start_ns : uv_hrtime());
	http__conn_close(c);
}

static void conn_dispatch(struct http_conn *c, struct http_req *r)
{
	c->cur = r;
	r->t_start_ns = uv_hrtime();
	http__route(r);
}

void http__conn_process(struct http_conn *c)
{
	if (c->in_process)
		return; /* the loop below picks up where the answer left it */
	c->in_process = true;
	while (!c->closing && !c->cur) {
		if (c->ready) {
			struct http_req *r = c->ready;
			c->ready = NULL;
			conn_dispatch(c, r);
			continue;
		}
		if (c->in_off >= c->in_len)
			break;
		size_t avail = c->in_len - c->in_off;
		size_t n = http_parser_execute(&c->parser, &settings, c->in + c->in_off, avail);
		c->in_off += n;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (c->closing)
			break;
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			continue;
		}
		if (e != HPE_OK) {
			http__conn_fail(c, 400, "bad_request", NULL, "malformed request: %s",
					http_errno_description(e));
			break;
		}
		if (n < avail) {
			/* An upgrade (CONNECT or Upgrade:) stops the parser after
			 * the request; we do not switch protocols: drop the rest. */
			c->in_off = c->in_len;
		}
	}
	if (c->in_off == c->in_len) {
		/* Nothing buffered: give the memory back (idle keep-alive
		 * connections then cost no input buffer). */
		c->in_off = c->in_len = 0;
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	} else if (c->in_off > 0 && c->in_off >= c->in_cap / 2) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	c->in_process = false;
	if (c->closing)
		return;
	if (c->peer_eof && !c->cur && !c->ready) {
		/* Nothing more will come: a half-received request is dropped. */
		http__conn_close(c);
		return;
	}
	bool full = c->in_len - c->in_off >= HTTP_MAX_INPUT;
	if (full != c->read_paused) {
		c->read_paused = full;
		c->ops->read_pause(c, full);
	}
}

void http__conn_feed(struct http_conn *c, const char *data, size_t len)
{
	if (c->closing || len == 0)
		return;
	if (c->in_off > 0 && c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (grow(&c->in, &c->in_cap, c->in_len + len)) {
		http__conn_fail(c, 503, "unavailable", NULL, "out of memory");
		return;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	http__conn_process(c);
}

void http__conn_eof(struct http_conn *c)
{
	if (c->closing)
		return;
	c->peer_eof = true;
	if (c->cur && c->cur->streaming) {
		/* A stream's client went away. */
		http__conn_close(c);
		return;
	}
	if (!c->cur)
		http__conn_process(c);
	/* else: a half-closed client still gets its answer, then we close. */
}

void http__conn_timeout(struct http_conn *c)
{
	if (c->closing)
		return;
	if (c->drop) {
		http__conn_close(c);
		return;
	}
	if (c->cur || c->ready)
		return; /* a handler is working: its time is not the client's */
	if (c->parsing) {
		http__conn_fail(c, 408, "timeout", NULL, "request not received within %u ms",
				c->srv->idle_timeout_ms);
		return;
	}
	http__conn_close(c); /* idle keep-alive connection */
}

void http__conn_finish(struct http_conn *c, struct http_req *r)
{
	if (c->cur != r)
		return;
	c->cur = NULL;
	r->conn = NULL;
	http__stats_count(c->srv, r->status, r->t_start_ns);
	bool keep = r->keep_alive && !c->peer_eof;
	http_req_unref(r); /* the connection's reference */
	if (!keep) {
		http__conn_close(c);
		return;
	}
	c->ops->deadline(c, c->srv->idle_timeout_ms);
	http__conn_process(c);
}

void http__conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->ops->deadline(c, 0);
	http__req_free(c->parsing);
	c->parsing = NULL;
	http__req_free(c->ready);
	c->ready = NULL;
	struct http_req *r = c->cur;
	if (r) {
		c->cur = NULL;
		r->conn = NULL;
		r->aborted = true;
		if (r->on_abort)
			r->on_abort(r, r->abort_arg);
		http_req_unref(r);
	}
	c->ops->close(c);
}

void http__conn_release(struct http_conn *c)
{
	if (!c)
		return;
	http__req_free(c->parsing);
	c->parsing = NULL;
	http__req_free(c->ready);
	c->ready = NULL;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_off = c->in_cap = 0;
}
