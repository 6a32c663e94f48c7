/*
 * sessiond/router.c: request target -> handler.
 *
 * The raw path is split at '/' first and each segment percent-decoded once
 * afterwards, so "%2F" can never create a segment boundary. A decoded
 * segment that holds NUL or '/', or is "." or "..", is refused (400) before
 * any route is looked at: such a segment never reaches a handler. Route
 * params (":name" segments) must further match [A-Za-z0-9_.-]{1,128}.
 *
 * Answers: no route matches the path => 404; routes match the path but
 * not the method => 405 with Allow; a bad param or query => 400.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

#define MAX_SEGMENTS 16

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http__pct_decode(const char *src, size_t len, bool plus_is_space, size_t *out_len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = src[i];
		if (ch == '%') {
			int hi, lo;
			if (len - i < 3 || (hi = hexval(src[i + 1])) < 0 || (lo = hexval(src[i + 2])) < 0) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (ch == '+' && plus_is_space) {
			out[o++] = ' ';
		} else {
			out[o++] = ch;
		}
	}
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return out;
}

bool http__param_valid(const char *s, size_t len)
{
	if (len == 0 || len > HTTP_MAX_PARAM_LEN)
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '_' || ch == '.' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

struct segs {
	char *s[MAX_SEGMENTS];
	size_t len[MAX_SEGMENTS];
	unsigned n;
};

static void segs_release(struct segs *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->s[i]);
	g->n = 0;
}

/* Splits and decodes the path; 0, or an HTTP status with *why set. */
static int split_path(const char *path, size_t len, struct segs *g, const char **why)
{
	g->n = 0;
	if (len == 0 || path[0] != '/') {
		*why = "the request target must be an absolute path";
		return 400;
	}
	size_t i = 1;
	while (i <= len) {
		size_t j = i;
		while (j < len && path[j] != '/')
			j++;
		if (j == i && j == len && g->n > 0) /* one trailing slash */
			break;
		if (j == len && j == i && g->n == 0) /* "/" alone */
			break;
		if (g->n == MAX_SEGMENTS) {
			*why = "path has too many segments";
			return 404;
		}
		size_t dl = 0;
		char *d = http__pct_decode(path + i, j - i, false, &dl);
		if (!d) {
			*why = "malformed percent-encoding in the path";
			return 400;
		}
		g->s[g->n] = d;
		g->len[g->n] = dl;
		g->n++;
		if (memchr(d, '\0', dl) || memchr(d, '/', dl) || strcmp(d, ".") == 0 || strcmp(d, "..") == 0) {
			*why = "path segment with NUL, '/', '.' or '..'";
			return 400;
		}
		if (dl == 0) {
			*why = "empty path segment";
			return 400;
		}
		i = j + 1;
	}
	return 0;
}

/* Counts the pattern's segments; matches them against g. */
static bool pattern_match(const char *pat, const struct segs *g, unsigned *nparams, unsigned idx[HTTP_MAX_PARAMS])
{
	unsigned k = 0, np = 0;
	const char *p = pat;
	if (*p == '/')
		p++;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t pl = e ? (size_t)(e - p) : strlen(p);
		if (k >= g->n)
			return false;
		if (p[0] == ':') {
			if (np < HTTP_MAX_PARAMS)
				idx[np] = k;
			np++;
		} else if (pl != g->len[k] || memcmp(p, g->s[k], pl) != 0) {
			return false;
		}
		k++;
		p += pl;
		if (*p == '/')
			p++;
	}
	if (k != g->n)
		return false;
	*nparams = np;
	return true;
}

static int parse_query(struct http_req *r, const char *q, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && q[j] != '&')
			j++;
		if (j > i) {
			const char *eq = memchr(q + i, '=', j - i);
			size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
			size_t nl = 0, vl = 0;
			char *k = http__pct_decode(q + i, kl, true, &nl);
			char *v = eq ? http__pct_decode(eq + 1, (size_t)(q + j - eq - 1), true, &vl) : strdup("");
			struct http_kv *a = (k && v) ? realloc(r->query, (r->nquery + 1) * sizeof(*a)) : NULL;
			if (a)
				r->query = a;
			if (!a || memchr(k, '\0', nl) || memchr(v, '\0', vl)) {
				free(k);
				free(v);
				return -1;
			}
			a[r->nquery].name = k;
			a[r->nquery].value = v;
			r->nquery++;
			if (r->nquery > 64)
				return -1;
		}
		i = j + 1;
	}
	return 0;
}

static void reply_405(struct http_req *r, const struct segs *g)
{
	const struct http_server *s = r->srv;
	char allow[128] = "";
	size_t al = 0;
	for (size_t i = 0; i < s->nroutes; i++) {
		unsigned np = 0, idx[HTTP_MAX_PARAMS];
		if (!pattern_match(s->routes[i].pattern, g, &np, idx))
			continue;
		const char *m = s->routes[i].method;
		/* de-duplicate */
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->routes[j].method, m) == 0 && pattern_match(s->routes[j].pattern, g, &np, idx))
				seen = true;
		if (seen)
			continue;
		int n = snprintf(allow + al, sizeof(allow) - al, "%s%s", al ? ", " : "", m);
		if (n > 0 && (size_t)n < sizeof(allow) - al)
			al += (size_t)n;
	}
	http_reply_header(r, "Allow", allow);
	http_reply_error(r, 405, "method_not_allowed", "method %s not allowed on %s (allowed: %s)", r->method,
			 r->path, allow);
}

void http__route(struct http_req *r)
{
	const struct http_server *s = r->srv;
	const char *url = r->url ? r->url : "";
	size_t ulen = r->url_len;
	const char *qm = memchr(url, '?', ulen);
	size_t plen = qm ? (size_t)(qm - url) : ulen;
	const char *hash = memchr(url, '#', ulen);
	if (hash && (!qm || hash < qm))
		plen = (size_t)(hash - url);
	struct segs g = {.n = 0};
	const char *why = NULL;

	r->path = http__pct_decode(url, plen, false, NULL);
	if (!r->path) {
		http_reply_error(r, 400, "bad_request", "malformed percent-encoding in the path");
		return;
	}
	int st = split_path(url, plen, &g, &why);
	if (st) {
		segs_release(&g);
		if (st == 404)
			http_reply_error(r, 404, "not_found", "no route for %s", r->path);
		else
			http_reply_error(r, st, "bad_request", "%s", why);
		return;
	}
	if (qm) {
		size_t qlen = ulen - (size_t)(qm + 1 - url);
		const char *qh = memchr(qm + 1, '#', qlen);
		if (qh)
			qlen = (size_t)(qh - (qm + 1));
		if (parse_query(r, qm + 1, qlen)) {
			segs_release(&g);
			http_reply_error(r, 400, "bad_request", "malformed query string");
			return;
		}
	}
	bool path_known = false;
	for (size_t i = 0; i < s->nroutes; i++) {
		unsigned np = 0, idx[HTTP_MAX_PARAMS];
		if (!pattern_match(s->routes[i].pattern, &g, &np, idx))
			continue;
		path_known = true;
		if (strcmp(s->routes[i].method, r->method) != 0)
			continue;
		if (np > HTTP_MAX_PARAMS) {
			segs_release(&g);
			http_reply_error(r, 500, "internal", "route %s has too many params", s->routes[i].pattern);
			return;
		}
		for (unsigned k = 0; k < np; k++) {
			if (!http__param_valid(g.s[idx[k]], g.len[idx[k]])) {
				http_reply_error(r, 400, "bad_request",
						 "invalid id or name in the path (allowed: [A-Za-z0-9_.-]{1,128})");
				segs_release(&g);
				return;
			}
		}
		for (unsigned k = 0; k < np; k++) {
			r->params[k] = g.s[idx[k]];
			g.s[idx[k]] = NULL;
		}
		segs_release(&g);
		s->routes[i].fn(r, s->ctx);
		return;
	}
	if (path_known)
		reply_405(r, &g);
	else
		http_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
	segs_release(&g);
}
