/* thaw pool ls, thaw warm, thaw status */
#include "client.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"

#define NOPTS(a) (sizeof(a) / sizeof(a[0]))

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
		puts("usage: thaw pool ls");
	} else if (np != 1 || strcmp(pos[0], "ls") != 0) {
		r = usage_error("thaw pool ls", "expected pool ls");
	} else if (!(r = cli_call(c, "GET", "/v1/pools", NULL, &o))) {
		if (c->json) {
			print_json(o);
		} else {
			static const char *const hdr[] = {"REPO", "IMAGE", "READY", "SYNCING", "IN USE", "DESIRED", "COLD"};
			struct table *t = table_new(7, hdr);
			size_t i;
			json_t *p;
			json_array_foreach(o, i, p) {
				char a[32], b[32], cc[32], d[32], e[32];
				const char *cells[] = {jstr(p, "repo"), jstr(p, "image"), jnum(p, "ready", a, sizeof(a)),
						       jnum(p, "syncing", b, sizeof(b)), jnum(p, "in_use", cc, sizeof(cc)),
						       jnum(p, "desired", d, sizeof(d)),
						       jnum(p, "cold_fallbacks", e, sizeof(e))};
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
		printf("usage: %s\n(a user started typing: make sure a warm entry is ready for them)\n", u);
	} else if (np != 1 || !opts[0].value) {
		r = usage_error(u, "warm takes REPO and --user");
	} else if (!(r = cli_call(c, "POST", "/v1/warm", json_pack("{s:s, s:s}", "repo", pos[0], "user", opts[0].value),
				  &o))) {
		if (c->json)
			print_json(o);
		else
			printf("warm %s for %s: entry %s\n", jstr(o, "repo"), jstr(o, "user"), jstr(o, "entry"));
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
