/*
 * thaw: the HTTP side, with libcurl. One easy handle for the whole run, so
 * consecutive requests (status, polling) reuse one keep-alive connection.
 * Unix socket: CURLOPT_UNIX_SOCKET_PATH with the URL http://localhost/...;
 * TCP: the --url base with "Authorization: Bearer TOKEN".
 * CURLOPT_PATH_AS_IS: the daemon sees ids exactly as given (curl would
 * otherwise squash "/../"), and refuses bad ones itself.
 */
#include "client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

struct buf {
	char *p;
	size_t len, cap;
};

static size_t buf_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return 0; /* curl reports CURLE_WRITE_ERROR */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

int cli_init(struct thaw_cli *c)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	c->curl = curl_easy_init();
	return c->curl ? 0 : -1;
}

void cli_release(struct thaw_cli *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	curl_global_cleanup();
}

char *cli_escape(struct thaw_cli *c, const char *s)
{
	char *e = curl_easy_escape(c->curl, s, (int)strlen(s));
	char *r = e ? strdup(e) : NULL;
	curl_free(e);
	if (!r) {
		fprintf(stderr, "thaw: out of memory\n");
		exit(THAW_EXIT_API);
	}
	return r;
}

static const char *where(const struct thaw_cli *c)
{
	return c->url[0] ? c->url : c->socket;
}

/* Sets up the handle for method + path; returns the header list to free. */
static struct curl_slist *prepare(struct thaw_cli *c, const char *method, const char *path, const char *body,
				  char *url, size_t urln)
{
	CURL *h = c->curl;
	curl_easy_reset(h);
	struct curl_slist *hd = NULL;
	if (c->url[0]) {
		snprintf(url, urln, "%s%s", c->url, path);
		char auth[600];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		hd = curl_slist_append(hd, auth);
	} else {
		snprintf(url, urln, "http://localhost%s", path);
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	hd = curl_slist_append(hd, "Accept: application/json");
	hd = curl_slist_append(hd, "Expect:"); /* no 100-continue round trip */
	if (body) {
		hd = curl_slist_append(hd, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	return hd;
}

static void unreachable(const struct thaw_cli *c, CURLcode rc, const char *errbuf)
{
	fprintf(stderr, "thaw: cannot reach thawd at %s: %s\n", where(c), errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

int cli_request(struct thaw_cli *c, const char *method, const char *path, json_t *body, long *status,
		json_t **out, char **text)
{
	char *bs = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	char url[1024], errbuf[CURL_ERROR_SIZE] = "";
	struct buf b = {0};
	struct curl_slist *hd = prepare(c, method, path, bs, url, sizeof(url));
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 600000L);
	CURLcode rc = curl_easy_perform(c->curl);
	curl_slist_free_all(hd);
	free(bs);
	if (rc != CURLE_OK) {
		unreachable(c, rc, errbuf);
		free(b.p);
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	*out = b.len ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	if (text)
		*text = b.p ? b.p : strdup("");
	else
		free(b.p);
	return 0;
}

int cli_call(struct thaw_cli *c, const char *method, const char *path, json_t *body, json_t **out)
{
	long status = 0;
	json_t *j = NULL;
	char *text = NULL;
	if (cli_request(c, method, path, body, &status, &j, &text) < 0)
		return THAW_EXIT_UNREACHABLE;
	if (status >= 400) {
		const char *msg = json_string_value(json_object_get(j, "message"));
		const char *code = json_string_value(json_object_get(j, "code"));
		if (!msg) {
			/* not our JSON: the first line of the body */
			char *nl = strchr(text, '\n');
			if (nl)
				*nl = '\0';
			msg = text[0] ? text : "request failed";
		}
		if (c->json && j)
			print_json(j);
		fprintf(stderr, "thaw: %s (%ld %s)\n", msg, status, code ? code : "error");
		json_decref(j);
		free(text);
		return THAW_EXIT_API;
	}
	free(text);
	if (out)
		*out = j ? j : json_null();
	else
		json_decref(j);
	return THAW_EXIT_OK;
}

/* ---- streams ---- */

struct stream {
	struct buf line;
	int (*fn)(const char *line, void *arg);
	void *arg;
	bool stopped;
	long idle_ms;
	struct timespec last;
	long status;
	CURL *h;
	struct buf errbody;
};

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static size_t stream_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct stream *s = arg;
	size_t n = size * nmemb;
	clock_gettime(CLOCK_MONOTONIC, &s->last);
	if (s->status == 0)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status >= 400)
		return buf_write(data, size, nmemb, &s->errbody);
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n') {
			char ch[1] = {data[i]};
			if (buf_write(ch, 1, 1, &s->line) != 1)
				return 0;
			continue;
		}
		if (s->line.len && s->fn(s->line.p ? s->line.p : "", s->arg)) {
			s->stopped = true;
			return 0; /* stop the transfer */
		}
		s->line.len = 0;
		if (s->line.p)
			s->line.p[0] = '\0';
	}
	return n;
}

static int stream_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct stream *s = arg;
	if (s->idle_ms > 0 && ms_since(&s->last) > s->idle_ms) {
		s->stopped = true;
		return 1;
	}
	return 0;
}

int cli_stream(struct thaw_cli *c, const char *path, long idle_ms, int (*fn)(const char *line, void *arg),
	       void *arg)
{
	char url[1024], errbuf[CURL_ERROR_SIZE] = "";
	struct stream s = {.fn = fn, .arg = arg, .idle_ms = idle_ms, .h = c->curl};
	clock_gettime(CLOCK_MONOTONIC, &s.last);
	struct curl_slist *hd = prepare(c, "GET", path, NULL, url, sizeof(url));
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &s);
	CURLcode rc = curl_easy_perform(c->curl);
	curl_slist_free_all(hd);
	int ret = THAW_EXIT_OK;
	if (s.status == 0)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &s.status);
	if (s.status >= 400) {
		json_t *j = s.errbody.len ? json_loadb(s.errbody.p, s.errbody.len, 0, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(j, "message"));
		const char *code = json_string_value(json_object_get(j, "code"));
		if (c->json && j)
			print_json(j);
		fprintf(stderr, "thaw: %s (%ld %s)\n", msg ? msg : "request failed", s.status, code ? code : "error");
		json_decref(j);
		ret = THAW_EXIT_API;
	} else if (rc != CURLE_OK && !s.stopped) {
		unreachable(c, rc, errbuf);
		ret = THAW_EXIT_UNREACHABLE;
	} else if (rc == CURLE_OK && s.line.len) {
		fn(s.line.p, arg); /* a last line without its newline */
	}
	free(s.line.p);
	free(s.errbody.p);
	return ret;
}
