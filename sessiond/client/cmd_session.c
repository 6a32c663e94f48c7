/* thaw session create|ls|inspect|rm|snapshot|restore|events|export|prompt */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

#define NOPTS(a) (sizeof(a) / sizeof(a[0]))

static const char u_create[] =
	"thaw session create --repo R [--author \"N <e>\"] [--from-snapshot ID] [--parent ID] [--timeout S]";
static const char u_ls[] = "thaw session ls [--state S]";
static const char u_inspect[] = "thaw session inspect ID";
static const char u_rm[] = "thaw session rm ID";
static const char u_snapshot[] = "thaw session snapshot ID";
static const char u_restore[] = "thaw session restore SNAPSHOT_ID --repo R [--author \"N <e>\"] [--timeout S]";
static const char u_events[] = "thaw session events ID [--since N] [--follow]";
static const char u_export[] = "thaw session export ID --branch B [--message M]";
static const char u_prompt[] = "thaw session prompt ID --author \"N <e>\" TEXT";

static const char help[] =
	"thaw session: workspaces owned by thawd\n"
	"  create    mount a new session of a repository (201: id, mount, timings)\n"
	"  ls        list sessions (--state S filters)\n"
	"  inspect   the session's full JSON\n"
	"  rm        remove (a pre-exit snapshot is taken first)\n"
	"  snapshot  freeze the session's changes into a snapshot\n"
	"  restore   a new session from a snapshot\n"
	"  events    the session's events (--since N replays after N; --follow keeps streaming)\n"
	"  export    commit the session's changes to a branch, one commit per prompting author\n"
	"  prompt    queue a prompt with its author\n";

/* author object from "N <e>", $THAW_AUTHOR or the user name. */
static int author_json(const char *s, json_t **out)
{
	char name[256], email[256];
	const char *env = getenv("THAW_AUTHOR");
	if (!s && env && *env)
		s = env;
	if (s) {
		if (parse_author(s, name, sizeof(name), email, sizeof(email)) < 0)
			return usage_error(NULL, "--author: expected \"Name <email>\", got '%s'", s);
	} else {
		const char *u = getenv("USER");
		if (!u || !*u)
			u = "thaw";
		snprintf(name, sizeof(name), "%s", u);
		snprintf(email, sizeof(email), "%.200s@localhost", u);
	}
	*out = json_pack("{s:s, s:s}", "name", name, "email", email);
	return 0;
}

static void ms_text(const json_t *t, const char *key, char *buf, size_t n)
{
	const json_t *v = json_object_get(t, key);
	if (json_is_number(v) && json_number_value(v) > 0)
		snprintf(buf, n, "%.1f ms", json_number_value(v));
	else
		snprintf(buf, n, "-");
}

static void print_session(const json_t *s)
{
	char a[32], b[32], c[32];
	const json_t *t = json_object_get(s, "timings");
	ms_text(t, "mounted_ms", a, sizeof(a));
	ms_text(t, "reads_ready_ms", b, sizeof(b));
	ms_text(t, "writes_ready_ms", c, sizeof(c));
	printf("id:       %s\n", jstr(s, "id"));
	printf("repo:     %s\n", jstr(s, "repo"));
	printf("state:    %s\n", jstr(s, "state"));
	printf("mount:    %s\n", jstr(s, "mount"));
	printf("pool:     %s\n", jstr(s, "pool"));
	printf("commit:   %s\n", jstr(s, "synced_commit")[0] != '-' ? jstr(s, "synced_commit") : jstr(s, "base_commit"));
	printf("timings:  mounted %s, reads ready %s, writes ready %s\n", a, b, c);
}

/* Shared by create and restore. */
static int create(struct thaw_cli *c, const char *repo, const char *author, const char *from, const char *parent,
		  const char *timeout)
{
	json_t *au = NULL;
	int r = author_json(author, &au);
	if (r)
		return r;
	json_t *body = json_pack("{s:s, s:o}", "repo", repo, "author", au);
	if (from)
		json_object_set_new(body, "from_snapshot", json_string(from));
	if (parent)
		json_object_set_new(body, "parent", json_string(parent));
	if (timeout) {
		unsigned long long t;
		if (parse_uint(timeout, &t) < 0 || t == 0) {
			json_decref(body);
			return usage_error(u_create, "--timeout: expected seconds > 0, got '%s'", timeout);
		}
		json_object_set_new(body, "timeout_s", json_integer((json_int_t)t));
	}
	json_t *s = NULL;
	r = cli_call(c, "POST", "/v1/sessions", body, &s);
	if (r)
		return r;
	if (c->json)
		print_json(s);
	else
		print_session(s);
	json_decref(s);
	return 0;
}

static int one_id(struct thaw_cli *c, const char *method, const char *fmt, const char *id, json_t *body,
		  json_t **out)
{
	char *e = cli_escape(c, id);
	char path[512];
	snprintf(path, sizeof(path), fmt, e);
	free(e);
	return cli_call(c, method, path, body, out);
}

static int do_ls(struct thaw_cli *c, const char *state)
{
	char path[256] = "/v1/sessions";
	if (state) {
		char *e = cli_escape(c, state);
		snprintf(path, sizeof(path), "/v1/sessions?state=%s", e);
		free(e);
	}
	json_t *a = NULL;
	int r = cli_call(c, "GET", path, NULL, &a);
	if (r)
		return r;
	if (c->json) {
		print_json(a);
		json_decref(a);
		return 0;
	}
	static const char *const hdr[] = {"ID", "REPO", "STATE", "AUTHOR", "POOL", "AGE", "MOUNT"};
	struct table *t = table_new(7, hdr);
	size_t i;
	json_t *s;
	json_array_foreach(a, i, s) {
		char age[32];
		const char *cells[] = {jstr(s, "id"), jstr(s, "repo"), jstr(s, "state"),
				       jstr(json_object_get(s, "author"), "name"), jstr(s, "pool"),
				       jage(s, "created_ms", age, sizeof(age)), jstr(s, "mount")};
		table_add(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(a);
	return 0;
}

struct ev_ctx {
	struct thaw_cli *c;
	unsigned long long n;
};

static int print_event(const char *line, void *arg)
{
	struct ev_ctx *x = arg;
	x->n++;
	if (x->c->json) {
		puts(line);
		fflush(stdout);
		return 0;
	}
	json_t *ev = json_loads(line, 0, NULL);
	if (!json_is_object(ev)) {
		printf("%s\n", line);
		json_decref(ev);
		return 0;
	}
	char seq[32], when[32] = "-";
	jnum(ev, "seq", seq, sizeof(seq));
	json_t *tm = json_object_get(ev, "time_ms");
	if (json_is_integer(tm)) {
		time_t t = (time_t)(json_integer_value(tm) / 1000);
		struct tm lt;
		localtime_r(&t, &lt);
		size_t k = strftime(when, sizeof(when), "%H:%M:%S", &lt);
		snprintf(when + k, sizeof(when) - k, ".%03lld", (long long)(json_integer_value(tm) % 1000));
	}
	char *type = strdup(jstr(ev, "type"));
	json_object_del(ev, "seq");
	json_object_del(ev, "time_ms");
	json_object_del(ev, "type");
	json_object_del(ev, "session");
	char *rest = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%-6s %s  %-10s %s\n", seq, when, type ? type : "-", rest ? rest : "");
	fflush(stdout);
	free(rest);
	free(type);
	json_decref(ev);
	return 0;
}

static int do_events(struct thaw_cli *c, const char *id, const char *since, bool follow)
{
	unsigned long long n = 0;
	if (since && parse_uint(since, &n) < 0)
		return usage_error(u_events, "--since: expected a sequence number, got '%s'", since);
	char *e = cli_escape(c, id);
	char path[512];
	snprintf(path, sizeof(path), "/v1/sessions/%s/events?since=%llu", e, n);
	free(e);
	struct ev_ctx x = {.c = c};
	/* The stream stays open for live events; without --follow we stop
	 * once the replay has gone quiet. */
	return cli_stream(c, path, follow ? 0 : 1000, print_event, &x);
}

static int do_export(struct thaw_cli *c, const char *id, const char *branch, const char *message)
{
	json_t *body = json_pack("{s:s}", "branch", branch);
	if (message)
		json_object_set_new(body, "message", json_string(message));
	json_t *o = NULL;
	int r = one_id(c, "POST", "/v1/sessions/%s/export", id, body, &o);
	if (r)
		return r;
	if (c->json) {
		print_json(o);
	} else {
		printf("branch %s\n", jstr(o, "branch"));
		static const char *const hdr[] = {"COMMIT", "AUTHOR"};
		struct table *t = table_new(2, hdr);
		size_t i;
		json_t *cm;
		json_array_foreach(json_object_get(o, "commits"), i, cm) {
			const json_t *au = json_object_get(cm, "author");
			char who[300];
			if (json_is_object(au))
				snprintf(who, sizeof(who), "%s <%s>", jstr(au, "name"), jstr(au, "email"));
			else
				snprintf(who, sizeof(who), "%s", json_is_string(au) ? json_string_value(au) : "-");
			const char *cells[] = {jstr(cm, "id"), who};
			table_add(t, cells);
		}
		table_print(t, stdout);
		table_free(t);
	}
	json_decref(o);
	return 0;
}

static int do_prompt(struct thaw_cli *c, const char *id, const char *author, const char *text)
{
	json_t *au = NULL;
	if (!author)
		return usage_error(u_prompt, "--author is required");
	int r = author_json(author, &au);
	if (r)
		return r;
	json_t *o = NULL;
	r = one_id(c, "POST", "/v1/sessions/%s/prompts", id, json_pack("{s:o, s:s}", "author", au, "text", text), &o);
	if (r)
		return r;
	if (c->json) {
		print_json(o);
	} else {
		char n[32];
		printf("prompt %s queued (%s)\n", jnum(o, "id", n, sizeof(n)), jstr(o, "state"));
	}
	json_decref(o);
	return 0;
}

int cmd_session(struct thaw_cli *c, int argc, char **argv)
{
	struct cli_opt opts[] = {
		{.name = "repo", .has_arg = true},          {.name = "author", .has_arg = true},
		{.name = "from-snapshot", .has_arg = true}, {.name = "parent", .has_arg = true},
		{.name = "timeout", .has_arg = true},       {.name = "state", .has_arg = true},
		{.name = "since", .has_arg = true},         {.name = "follow"},
		{.name = "branch", .has_arg = true},        {.name = "message", .has_arg = true},
	};
	enum { O_REPO, O_AUTHOR, O_FROM, O_PARENT, O_TIMEOUT, O_STATE, O_SINCE, O_FOLLOW, O_BRANCH, O_MESSAGE };
	const char **pos = NULL;
	size_t np = 0;
	bool want_help = false;
	int r = args_parse(c, argc, argv, opts, NOPTS(opts), &pos, &np, &want_help);
	if (r)
		return r;
	const char *sub = np ? pos[0] : NULL;
	const char *usage = NULL;
	size_t want = 0; /* positionals after the subcommand */
	static const struct {
		const char *name;
		const char *usage;
		size_t npos;
		unsigned allowed; /* bit per option */
	} subs[] = {
		{"create", u_create, 0, 1u << O_REPO | 1u << O_AUTHOR | 1u << O_FROM | 1u << O_PARENT | 1u << O_TIMEOUT},
		{"ls", u_ls, 0, 1u << O_STATE},
		{"inspect", u_inspect, 1, 0},
		{"rm", u_rm, 1, 0},
		{"snapshot", u_snapshot, 1, 0},
		{"restore", u_restore, 1, 1u << O_REPO | 1u << O_AUTHOR | 1u << O_TIMEOUT},
		{"events", u_events, 1, 1u << O_SINCE | 1u << O_FOLLOW},
		{"export", u_export, 1, 1u << O_BRANCH | 1u << O_MESSAGE},
		{"prompt", u_prompt, 2, 1u << O_AUTHOR},
	};
	unsigned allowed = 0;
	for (size_t k = 0; sub && k < NOPTS(subs); k++)
		if (strcmp(sub, subs[k].name) == 0) {
			usage = subs[k].usage;
			want = subs[k].npos;
			allowed = subs[k].allowed;
		}
	if (want_help) {
		if (usage)
			printf("usage: %s\n", usage);
		else
			fputs(help, stdout);
		r = 0;
		goto done;
	}
	if (!sub) {
		fputs(help, stderr);
		r = THAW_EXIT_USAGE;
		goto done;
	}
	if (!usage) {
		r = usage_error(NULL, "unknown session command '%s' (see thaw session --help)", sub);
		goto done;
	}
	for (size_t k = 0; k < NOPTS(opts); k++)
		if (opts[k].value && !(allowed & (1u << k))) {
			r = usage_error(usage, "option --%s does not apply to session %s", opts[k].name, sub);
			goto done;
		}
	if (np - 1 != want) {
		r = usage_error(usage, "session %s takes %zu argument%s", sub, want, want == 1 ? "" : "s");
		goto done;
	}
	const char *id = want ? pos[1] : NULL;
	json_t *o = NULL;
	if (!strcmp(sub, "create")) {
		if (!opts[O_REPO].value) {
			r = usage_error(usage, "--repo is required");
			goto done;
		}
		r = create(c, opts[O_REPO].value, opts[O_AUTHOR].value, opts[O_FROM].value, opts[O_PARENT].value,
			   opts[O_TIMEOUT].value);
	} else if (!strcmp(sub, "restore")) {
		if (!opts[O_REPO].value) {
			r = usage_error(usage, "--repo is required");
			goto done;
		}
		r = create(c, opts[O_REPO].value, opts[O_AUTHOR].value, id, NULL, opts[O_TIMEOUT].value);
	} else if (!strcmp(sub, "ls")) {
		r = do_ls(c, opts[O_STATE].value);
	} else if (!strcmp(sub, "inspect")) {
		if (!(r = one_id(c, "GET", "/v1/sessions/%s", id, NULL, &o)))
			print_json(o);
	} else if (!strcmp(sub, "rm")) {
		if (!(r = one_id(c, "DELETE", "/v1/sessions/%s", id, NULL, &o))) {
			if (c->json)
				print_json(o);
			else
				printf("removed %s (pre-exit snapshot %s)\n", jstr(o, "id"), jstr(o, "pre_exit_snapshot"));
		}
	} else if (!strcmp(sub, "snapshot")) {
		if (!(r = one_id(c, "POST", "/v1/sessions/%s/snapshots", id, json_object(), &o))) {
			if (c->json)
				print_json(o);
			else
				printf("%s\n", jstr(o, "id"));
		}
	} else if (!strcmp(sub, "events")) {
		r = do_events(c, id, opts[O_SINCE].value, opts[O_FOLLOW].value != NULL);
	} else if (!strcmp(sub, "export")) {
		if (!opts[O_BRANCH].value) {
			r = usage_error(usage, "--branch is required");
			goto done;
		}
		r = do_export(c, id, opts[O_BRANCH].value, opts[O_MESSAGE].value);
	} else if (!strcmp(sub, "prompt")) {
		r = do_prompt(c, id, opts[O_AUTHOR].value, pos[2]);
	}
	json_decref(o);
done:
	args_release(opts, NOPTS(opts), pos);
	return r;
}
