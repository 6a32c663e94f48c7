/* thaw repo add|ls|inspect, thaw image build|ls */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define NOPTS(a) (sizeof(a) / sizeof(a[0]))

static const char u_add[] =
	"thaw repo add NAME URL [--branch B] [--setup CMD]... [--build-interval S]\n"
	"              [--pool-min N] [--pool-max N] [--pool-spare N] [--wait]";
static const char u_repo[] = "thaw repo add|ls|inspect ...";
static const char u_build[] = "thaw image build REPO [--wait] [--wait-timeout S]";
static const char u_ils[] = "thaw image ls REPO";

static void print_repos(const json_t *a)
{
	static const char *const hdr[] = {"NAME", "BRANCH", "READY", "BUILDING", "IMAGE", "IMAGE AGE S", "URL"};
	struct table *t = table_new(7, hdr);
	size_t i;
	json_t *r;
	json_array_foreach(a, i, r) {
		char ready[8], building[8], age[32];
		const char *img = jstr(r, "image");
		const char *cells[] = {jstr(r, "name"), jstr(r, "branch"), jnum(r, "ready", ready, sizeof(ready)),
				       jnum(r, "building", building, sizeof(building)), img,
				       img[0] == '-' ? "-" : jnum(r, "image_age_s", age, sizeof(age)), jstr(r, "url")};
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

/* repo add --wait: polls until the mirror is cloned (ready) or failed. */
static int wait_ready(struct thaw_cli *c, const char *name, json_t **o)
{
	char *e = cli_escape(c, name);
	char path[512];
	snprintf(path, sizeof(path), "/v1/repos/%s", e);
	free(e);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		json_t *repo = NULL;
		int r = cli_call(c, "GET", path, NULL, &repo);
		if (r)
			return r;
		if (json_is_true(json_object_get(repo, "ready"))) {
			json_decref(*o);
			*o = repo;
			return 0;
		}
		const char *err = json_string_value(json_object_get(repo, "last_error"));
		if (err && *err) {
			fprintf(stderr, "thaw: repository %s failed: %s\n", name, err);
			json_decref(repo);
			return THAW_EXIT_API;
		}
		json_decref(repo);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 600) {
			fprintf(stderr, "thaw: repository %s not ready after 600 s\n", name);
			return THAW_EXIT_API;
		}
		usleep(100 * 1000);
	}
}

int cmd_repo(struct thaw_cli *c, int argc, char **argv)
{
	struct cli_opt opts[] = {
		{.name = "branch", .has_arg = true},
		{.name = "setup", .has_arg = true, .repeat = true},
		{.name = "build-interval", .has_arg = true},
		{.name = "wait"},
		{.name = "pool-min", .has_arg = true},
		{.name = "pool-max", .has_arg = true},
		{.name = "pool-spare", .has_arg = true},
	};
	/* numeric options of `repo add`: option index -> body field */
	static const struct { size_t opt; const char *field; } nums[] = {
		{2, "build_interval_s"}, {4, "pool_min"}, {5, "pool_max"}, {6, "pool_spare"},
	};
	const char **pos = NULL;
	size_t np = 0;
	bool help = false;
	int r = args_parse(c, argc, argv, opts, NOPTS(opts), &pos, &np, &help);
	if (r)
		return r;
	const char *sub = np ? pos[0] : NULL;
	json_t *o = NULL;
	if (help) {
		printf("usage: %s\n       thaw repo ls\n       thaw repo inspect NAME\n", u_add);
		goto done;
	}
	if (!sub) {
		r = usage_error(u_repo, "a repo command is required");
	} else if (!strcmp(sub, "add")) {
		if (np != 3) {
			r = usage_error(u_add, "repo add takes NAME and URL");
			goto done;
		}
		json_t *body = json_pack("{s:s, s:s}", "name", pos[1], "url", pos[2]);
		if (opts[0].value)
			json_object_set_new(body, "branch", json_string(opts[0].value));
		if (opts[1].nvalues) {
			json_t *setup = json_array();
			for (size_t k = 0; k < opts[1].nvalues; k++)
				json_array_append_new(setup, json_string(opts[1].values[k]));
			json_object_set_new(body, "setup", setup);
		}
		for (size_t k = 0; k < NOPTS(nums); k++) {
			const struct cli_opt *op = &opts[nums[k].opt];
			unsigned long long v;
			if (!op->value)
				continue;
			if (parse_uint(op->value, &v) < 0) {
				json_decref(body);
				r = usage_error(u_add, "--%s: expected a whole number", op->name);
				goto done;
			}
			json_object_set_new(body, nums[k].field, json_integer((json_int_t)v));
		}
		if (!(r = cli_call(c, "POST", "/v1/repos", body, &o)) && opts[3].value)
			r = wait_ready(c, pos[1], &o);
		if (!r) {
			if (c->json)
				print_json(o);
			else
				printf("added %s (%s, branch %s)\n", jstr(o, "name"), jstr(o, "url"), jstr(o, "branch"));
		}
	} else if (!strcmp(sub, "ls")) {
		if (np != 1 || opts[0].value || opts[1].nvalues || opts[2].value || opts[3].value || opts[4].value ||
		    opts[5].value || opts[6].value) {
			r = usage_error("thaw repo ls", "repo ls takes no arguments");
			goto done;
		}
		if (!(r = cli_call(c, "GET", "/v1/repos", NULL, &o))) {
			if (c->json)
				print_json(o);
			else
				print_repos(o);
		}
	} else if (!strcmp(sub, "inspect")) {
		if (np != 2) {
			r = usage_error("thaw repo inspect NAME", "repo inspect takes NAME");
			goto done;
		}
		char *e = cli_escape(c, pos[1]);
		char path[512];
		snprintf(path, sizeof(path), "/v1/repos/%s", e);
		free(e);
		if (!(r = cli_call(c, "GET", path, NULL, &o)))
			print_json(o);
	} else {
		r = usage_error(u_repo, "unknown repo command '%s'", sub);
	}
done:
	json_decref(o);
	args_release(opts, NOPTS(opts), pos);
	return r;
}

/* ---- images ---- */

/* The repository's build counters (the daemon's repo object). */
static int repo_counts(struct thaw_cli *c, const char *rpath, long long *builds, long long *failures, json_t **repo)
{
	json_t *o = NULL;
	int r = cli_call(c, "GET", rpath, NULL, &o);
	if (r)
		return r;
	*builds = (long long)json_integer_value(json_object_get(o, "builds"));
	*failures = (long long)json_integer_value(json_object_get(o, "build_failures"));
	if (repo)
		*repo = o;
	else
		json_decref(o);
	return 0;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Polls the repository until the build started by us is over (its builds
 * counter passes `builds0` and it is no longer building). Progress on
 * stderr. On success *result is the repository object (new). */
static int wait_build(struct thaw_cli *c, const char *rpath, long long builds0, long long failures0,
		      unsigned timeout_s, json_t **result)
{
	double t0 = now_s(), last_note = 0;
	for (;;) {
		json_t *repo = NULL;
		long long builds, failures;
		int r = repo_counts(c, rpath, &builds, &failures, &repo);
		if (r)
			return r;
		bool building = json_is_true(json_object_get(repo, "building"));
		if (!building && builds > builds0) {
			if (failures > failures0) {
				fprintf(stderr, "thaw: image build failed after %.1f s: %s\n", now_s() - t0,
					jstr(repo, "last_error"));
				json_decref(repo);
				return THAW_EXIT_API;
			}
			fprintf(stderr, "thaw: image %s ready (%.1f s)\n", jstr(repo, "image"), now_s() - t0);
			*result = repo;
			return 0;
		}
		json_decref(repo);
		double el = now_s() - t0;
		if (el > timeout_s) {
			fprintf(stderr, "thaw: image build still running after %u s\n", timeout_s);
			return THAW_EXIT_API;
		}
		if (el - last_note >= 5 || last_note == 0) {
			fprintf(stderr, "thaw: building (%.0f s)\n", el);
			last_note = el > 0 ? el : 0.001;
		}
		usleep(250 * 1000);
	}
}

static void print_images(const json_t *a)
{
	static const char *const hdr[] = {"ID", "STATUS", "COMMIT", "AGE", "BUILD MS", "ERROR"};
	struct table *t = table_new(6, hdr);
	size_t i;
	json_t *m;
	json_array_foreach(a, i, m) {
		char age[32], dur[32];
		const char *cells[] = {jstr(m, "id"), jstr(m, "status"), jstr(m, "commit"),
				       jage(m, "created_ms", age, sizeof(age)), jnum(m, "duration_ms", dur, sizeof(dur)),
				       jstr(m, "error")};
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

int cmd_image(struct thaw_cli *c, int argc, char **argv)
{
	struct cli_opt opts[] = {{.name = "wait"}, {.name = "wait-timeout", .has_arg = true}};
	const char **pos = NULL;
	size_t np = 0;
	bool help = false;
	int r = args_parse(c, argc, argv, opts, NOPTS(opts), &pos, &np, &help);
	if (r)
		return r;
	const char *sub = np ? pos[0] : NULL;
	json_t *o = NULL;
	char *e = NULL;
	if (help) {
		printf("usage: %s\n       %s\n", u_build, u_ils);
		goto done;
	}
	if (!sub || np != 2) {
		r = usage_error(u_build, "expected image build REPO or image ls REPO");
		goto done;
	}
	e = cli_escape(c, pos[1]);
	char path[512];
	snprintf(path, sizeof(path), "/v1/repos/%s/images", e);
	if (!strcmp(sub, "ls")) {
		if (opts[0].value || opts[1].value) {
			r = usage_error(u_ils, "image ls takes no options");
			goto done;
		}
		if (!(r = cli_call(c, "GET", path, NULL, &o))) {
			if (c->json)
				print_json(o);
			else
				print_images(o);
		}
	} else if (!strcmp(sub, "build")) {
		unsigned long long timeout = 1800;
		if (opts[1].value && (parse_uint(opts[1].value, &timeout) < 0 || timeout == 0)) {
			r = usage_error(u_build, "--wait-timeout: expected seconds > 0");
			goto done;
		}
		char rpath[512];
		snprintf(rpath, sizeof(rpath), "/v1/repos/%s", e);
		long long builds0 = 0, failures0 = 0;
		if (opts[0].value && (r = repo_counts(c, rpath, &builds0, &failures0, NULL)))
			goto done;
		r = cli_call(c, "POST", path, json_object(), &o);
		if (!r && opts[0].value) {
			if (!c->json)
				fprintf(stderr, "thaw: build of %s started\n", pos[1]);
			json_t *repo = NULL;
			r = wait_build(c, rpath, builds0, failures0, (unsigned)timeout, &repo);
			if (!r) {
				json_decref(o);
				o = repo;
			}
		}
		if (!r) {
			if (c->json)
				print_json(o);
			else if (opts[0].value)
				printf("%s\n", jstr(o, "image"));
			else
				printf("build of %s started\n", pos[1]);
		}
	} else {
		r = usage_error(u_build, "unknown image command '%s'", sub);
	}
done:
	free(e);
	json_decref(o);
	args_release(opts, NOPTS(opts), pos);
	return r;
}
