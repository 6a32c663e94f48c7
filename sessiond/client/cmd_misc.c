/* thaw pool ls, thaw warm, thaw status */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

#define NOPTS(a) (sizeof(a) / sizeof(a[0]))

static long long cli_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A layer id in a table: its first 12 digits. */
static const char *short_id(const char *id, char *buf, size_t n)
{
	snprintf(buf, n, "%.12s", id);
	return buf;
}

int cmd_pool(struct thaw_cli *c, int argc, char **argv)
{
	const char **pos = NULL;
	size_t np = 0;
	bool help = false;
	int r = args_parse(c, argc, argv, NULL, 0, &pos, &np, &help);
	if (r)
		return r;
	json_t *o = NULL;
	if (help) {
		puts("usage: thaw pool ls\n"
		     "(the warm pool of every repository: READY idle entries of the current image, SYNCING\n"
		     "entries being made, IN USE live sessions, DESIRED the size the pool works to, WARM and\n"
		     "COLD session creations served from the pool and by a cold mount)");
	} else if (np != 1 || strcmp(pos[0], "ls") != 0) {
		r = usage_error("thaw pool ls", "expected pool ls");
	} else if (!(r = cli_call(c, "GET", "/v1/pools", NULL, &o))) {
		if (c->json) {
			print_json(o);
		} else {
			static const char *const hdr[] = {"REPO", "IMAGE", "READY", "SYNCING", "IN USE", "DESIRED", "WARM",
			                                  "COLD"};
			struct table *t = table_new(8, hdr);
			size_t i;
			json_t *p;
			json_array_foreach(o, i, p) {
				char img[16], a[32], b[32], cc[32], d[32], w[32], e[32];
				bool on = json_is_true(json_object_get(p, "enabled"));
				const char *cells[] = {jstr(p, "repo"),
				                       short_id(jstr(p, "image"), img, sizeof(img)),
				                       on ? jnum(p, "ready", a, sizeof(a)) : "no pool",
				                       on ? jnum(p, "creating", b, sizeof(b)) : "-",
				                       jnum(p, "claimed", cc, sizeof(cc)),
				                       on ? jnum(p, "desired", d, sizeof(d)) : "-",
				                       on ? jnum(p, "claims_warm", w, sizeof(w)) : "-",
				                       on ? jnum(p, "cold_fallbacks", e, sizeof(e)) : "-"};
				table_add(t, cells);
			}
			table_print(t, stdout);
			table_free(t);
		}
	}
	json_decref(o);
	args_release(NULL, 0, pos);
	return r;
}

int cmd_warm(struct thaw_cli *c, int argc, char **argv)
{
	struct cli_opt opts[] = {{.name = "user", .has_arg = true}};
	const char **pos = NULL;
	size_t np = 0;
	bool help = false;
	static const char u[] = "thaw warm REPO --user U";
	int r = args_parse(c, argc, argv, opts, NOPTS(opts), &pos, &np, &help);
	if (r)
		return r;
	json_t *o = NULL;
	if (help) {
		printf("usage: %s\n(a user started typing: hold a warm entry of REPO for them for a minute;\n"
		       "U is \"Name <email>\" or an email; their next session create gets it)\n",
		       u);
	} else if (np != 1 || !opts[0].value || !opts[0].value[0]) {
		r = usage_error(u, "warm takes REPO and --user");
	} else if (!(r = cli_call(c, "POST", "/v1/warm", json_pack("{s:s, s:s}", "repo", pos[0], "user", opts[0].value),
	                          &o))) {
		if (c->json) {
			print_json(o);
		} else {
			json_t *e = json_object_get(o, "entry");
			json_int_t until = json_integer_value(json_object_get(o, "held_until_ms"));
			if (json_is_integer(e))
				printf("warm %s for %s: entry %lld held for %lld s\n", jstr(o, "repo"), jstr(o, "user"),
				       (long long)json_integer_value(e), (long long)((until - cli_now_ms() + 999) / 1000));
			else
				printf("warm %s for %s: no entry ready, the next one is held for them\n", jstr(o, "repo"),
				       jstr(o, "user"));
		}
	}
	json_decref(o);
	args_release(opts, NOPTS(opts), pos);
	return r;
}

int cmd_status(struct thaw_cli *c, int argc, char **argv)
{
	const char **pos = NULL;
	size_t np = 0;
	bool help = false;
	int r = args_parse(c, argc, argv, NULL, 0, &pos, &np, &help);
	if (r)
		return r;
	json_t *health = NULL, *version = NULL, *sessions = NULL, *out = NULL;
	if (help) {
		puts("usage: thaw status   (the daemon's health, version and sessions by state)");
		goto done;
	}
	if (np) {
		r = usage_error("thaw status", "status takes no arguments");
		goto done;
	}
	if ((r = cli_call(c, "GET", "/v1/health", NULL, &health)) ||
	    (r = cli_call(c, "GET", "/v1/version", NULL, &version)) ||
	    (r = cli_call(c, "GET", "/v1/sessions", NULL, &sessions)))
		goto done;
	json_t *by = json_object();
	size_t i;
	json_t *s;
	json_array_foreach(sessions, i, s) {
		const char *st = jstr(s, "state");
		json_t *n = json_object_get(by, st);
		json_object_set_new(by, st, json_integer(n ? json_integer_value(n) + 1 : 1));
	}
	out = json_pack("{s:O, s:O, s:o, s:I, s:s}", "health", health, "version", version, "sessions", by, "total",
			(json_int_t)json_array_size(sessions), "daemon", c->url[0] ? c->url : c->socket);
	if (c->json) {
		print_json(out);
		goto done;
	}
	printf("daemon:   %s\n", c->url[0] ? c->url : c->socket);
	printf("health:   %s\n", json_is_true(json_object_get(health, "ok")) ? "ok" : "not ok");
	printf("version:  %s (api %s)\n", jstr(version, "version"), jstr(version, "api"));
	printf("sessions: %zu", json_array_size(sessions));
	const char *k;
	json_t *v;
	const char *sep = " (";
	json_object_foreach(by, k, v) {
		printf("%s%s %lld", sep, k, (long long)json_integer_value(v));
		sep = ", ";
	}
	printf("%s\n", json_object_size(by) ? ")" : "");
done:
	json_decref(health);
	json_decref(version);
	json_decref(sessions);
	json_decref(out);
	args_release(NULL, 0, pos);
	return r;
}
