/*
 * thaw-image: builds environment images (snap_image_build) and lists them.
 *
 *   thaw-image build --store DIR --repo PATH [options] (-- CMD ARGS... | --cmd LINE...)
 *   thaw-image ls --store DIR [--repo NAME] [--json]
 *   thaw-image current --store DIR --repo NAME [--json]
 *   thaw-image log --store DIR ID
 *
 * The current image of a repository is the newest image layer of that
 * repository name in the store (snap_store_list is newest first). A failed
 * build writes no layer, so the previous image stays current.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"

#include "banned.h"

#define PROG "thaw-image"

static void usage_main(FILE *f)
{
	fprintf(f, "usage: " PROG " build|ls|current|log [--help] ...\n"
	           "\n"
	           "  build    build a new image of a repository (see " PROG " build --help)\n"
	           "  ls       list the images of a store, newest first\n"
	           "  current  print the current image of a repository\n"
	           "  log      print the build log of an image\n");
}

static void usage_build(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " build --store DIR --repo PATH [--name NAME] [--remote URL] [--branch B]\n"
	        "                  [--previous ID | --no-previous] [--timeout S] [--cache DIR] [--log FILE]\n"
	        "                  [--workdir DIR] [--thawfs BIN] [--json] [--quiet]\n"
	        "                  (-- CMD [ARGS...] | --cmd 'shell line' [--cmd ...])\n"
	        "\n"
	        "Mounts a workspace from the previous image of the repository (default: its\n"
	        "current image, the newest image layer named NAME in the store; --no-previous:\n"
	        "the bare commit of the branch), syncs it to the tip of BRANCH (from --remote,\n"
	        "else from the repository itself), runs the setup commands with sh -c inside\n"
	        "bubblewrap (workspace at /workspace, no network, read-only system, /tmp a\n"
	        "tmpfs, HOME=/tmp) with one timeout for the whole build, then freezes what\n"
	        "they changed as a new image layer whose parent is the previous image.\n"
	        "\n"
	        "  --store DIR     the snapshot store (created if missing)\n"
	        "  --repo PATH     the git repository (a bare mirror or a work tree)\n"
	        "  --name NAME     repository name in the metadata (default: PATH's basename\n"
	        "                  without .git)\n"
	        "  --remote URL    where the branch tip comes from (default: the repository)\n"
	        "  --branch B      the base branch (default: the repository's HEAD branch)\n"
	        "  --previous ID   start from this image; --no-previous: from the bare commit\n"
	        "  --timeout S     seconds for the whole build (default 1800)\n"
	        "  --cache DIR     thawfs hydration cache (default thawfs's)\n"
	        "  --log FILE      also keep the build log here (always kept in the layer)\n"
	        "  --workdir DIR   scratch directory parent (default $TMPDIR or /tmp)\n"
	        "  --thawfs BIN    the thawfs binary (default: next to " PROG ", then PATH)\n"
	        "  --cmd LINE      a setup command as a shell line (repeatable, run in order)\n"
	        "  -- CMD ARGS...  one setup command given as arguments (quoted for sh)\n"
	        "  --json          print {\"id\",\"commit\",\"duration_ms\",\"files\",\"bytes\"}\n"
	        "                  or {\"error\",\"exit_status\"}\n"
	        "  --quiet         no progress on stderr\n"
	        "\n"
	        "Progress goes to stderr as '[phase] line' while the build runs. Exit status:\n"
	        "0 built, 1 failed (one-line reason on stderr; no new layer), 2 usage.\n");
}

static void usage_ls(FILE *f)
{
	fprintf(f, "usage: " PROG " ls --store DIR [--repo NAME] [--json]\n"
	           "Lists image layers newest first: id, repository, synced commit, age, build\n"
	           "duration, entries and bytes. The first image of a repository is its current one.\n");
}

static void usage_current(FILE *f)
{
	fprintf(f, "usage: " PROG " current --store DIR --repo NAME [--json]\n"
	           "Prints the id of the repository's current image (its newest image layer);\n"
	           "exit status 1 when it has none.\n");
}

static void usage_log(FILE *f)
{
	fprintf(f, "usage: " PROG " log --store DIR ID\nPrints the build log of image ID (an id or a unique prefix).\n");
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

static const char *errmsg(int r)
{
	const char *m = snap_last_error();
	return m && m[0] ? m : strerror(-r);
}

/* ---- the current image and listings ---- */

struct find_ctx {
	const char *repo; /* NULL: any */
	char id[SNAP_ID_HEXLEN + 1];
	json_t *list;     /* ls: collected metas */
	const char *store_dir;
	bool human;
	int64_t now;
};

static int find_current(void *arg, const struct snap_meta *m)
{
	struct find_ctx *c = arg;
	if (m->kind != SNAP_KIND_IMAGE || strcmp(m->repo, c->repo))
		return 0;
	snprintf(c->id, sizeof(c->id), "%s", m->id);
	return 1; /* newest first: the first one is current */
}

/* Returns 1 and fills id when the repository has an image, 0 if not. */
static int current_image(struct snap_store *s, const char *repo, char id[SNAP_ID_HEXLEN + 1])
{
	struct find_ctx c = {.repo = repo};
	int r = snap_store_list(s, find_current, &c);
	if (r < 0)
		return r;
	if (!c.id[0])
		return 0;
	snprintf(id, SNAP_ID_HEXLEN + 1, "%s", c.id);
	return 1;
}

/* The build's sidecar (STORE/layers/ID/build.json), or NULL. */
static json_t *load_sidecar(const char *store_dir, const char *id)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/layers/%s/build.json", store_dir, id);
	return json_load_file(path, 0, NULL);
}

static int collect(void *arg, const struct snap_meta *m)
{
	struct find_ctx *c = arg;
	if (m->kind != SNAP_KIND_IMAGE || (c->repo && strcmp(m->repo, c->repo)))
		return 0;
	json_t *side = load_sidecar(c->store_dir, m->id);
	double dur = m->duration_ms;
	json_t *d = side ? json_object_get(side, "duration_ms") : NULL;
	if (json_is_number(d))
		dur = json_number_value(d);
	json_t *cmds = side ? json_object_get(side, "commands") : NULL;
	json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:I, s:f, s:I, s:I, s:I}", "id", m->id, "repo", m->repo,
	                      "commit", m->synced_commit, "base_commit", m->base_commit, "parent",
	                      m->parent[0] ? m->parent : NULL, "created_ms", (json_int_t)m->created_ms, "age_s",
	                      (json_int_t)((c->now - m->created_ms) / 1000), "duration_ms", dur, "files",
	                      (json_int_t)m->files, "bytes", (json_int_t)m->bytes, "stored_bytes",
	                      (json_int_t)m->stored_bytes);
	if (!e) {
		json_decref(side);
		return -ENOMEM;
	}
	if (json_is_array(cmds))
		json_object_set(e, "commands", cmds);
	else
		json_object_set_new(e, "commands", json_string(m->commands));
	json_decref(side);
	json_array_append_new(c->list, e);
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void human_age(int64_t s, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
}

static int open_store(struct snap_store **s, const char *dir, bool create)
{
	if (!dir)
		return die("--store DIR is required");
	int r = snap_store_open(s, dir, create);
	if (r < 0)
		return die("cannot open store %s: %s", dir, errmsg(r));
	return 0;
}

/* Prints j (stolen) as one compact line on stdout, or fallback if it cannot
 * be formatted (out of memory). */
static void print_json(json_t *j, const char *fallback)
{
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	printf("%s\n", txt ? txt : fallback);
	free(txt);
	json_decref(j);
}

/* The options of ls, current and log: --store DIR, --repo NAME (only when
 * repo is not NULL), --json (only when json is not NULL) and --help. Returns
 * -1 to go on, else the exit status (after --help, or 2 after a usage
 * message for an unknown option). */
static int parse_query_opts(int argc, char **argv, void (*usage)(FILE *f), const char **store, const char **repo,
                            bool *json)
{
	struct option opts[5] = {{"store", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}};
	size_t n = 2;
	if (repo)
		opts[n++] = (struct option){"repo", required_argument, NULL, 'r'};
	if (json)
		opts[n++] = (struct option){"json", no_argument, NULL, 'j'};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *store = optarg; break;
		case 'r': *repo = optarg; break;
		case 'j': *json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	return -1;
}

static int cmd_ls(int argc, char **argv)
{
	const char *store = NULL, *repo = NULL;
	bool json = false;
	int rc = parse_query_opts(argc, argv, usage_ls, &store, &repo, &json);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		usage_ls(stderr);
		return 2;
	}
	struct snap_store *s = NULL;
	if (open_store(&s, store, false))
		return 1;
	struct find_ctx ctx = {.repo = repo, .list = json_array(), .store_dir = snap_store_dir(s), .now = wall_ms()};
	int r = snap_store_list(s, collect, &ctx);
	if (r < 0) {
		json_decref(ctx.list);
		snap_store_free(s);
		return die("listing %s: %s", store, errmsg(r));
	}
	if (json) {
		print_json(json_incref(ctx.list), "[]");
	} else {
		printf("%-12s  %-16s  %-12s  %6s  %10s  %8s  %12s\n", "ID", "REPO", "COMMIT", "AGE", "DURATION", "FILES", "BYTES");
		size_t i;
		json_t *e;
		json_array_foreach(ctx.list, i, e) {
			char age[32];
			human_age(json_integer_value(json_object_get(e, "age_s")), age, sizeof(age));
			printf("%-12.12s  %-16.16s  %-12.12s  %6s  %8.1f s  %8lld  %12lld\n",
			       json_string_value(json_object_get(e, "id")), json_string_value(json_object_get(e, "repo")),
			       json_string_value(json_object_get(e, "commit")), age,
			       json_number_value(json_object_get(e, "duration_ms")) / 1000.0,
			       (long long)json_integer_value(json_object_get(e, "files")),
			       (long long)json_integer_value(json_object_get(e, "bytes")));
		}
	}
	json_decref(ctx.list);
	snap_store_free(s);
	return 0;
}

static int cmd_current(int argc, char **argv)
{
	const char *store = NULL, *repo = NULL;
	bool json = false;
	int rc = parse_query_opts(argc, argv, usage_current, &store, &repo, &json);
	if (rc >= 0)
		return rc;
	if (optind != argc || !repo) {
		usage_current(stderr);
		return 2;
	}
	struct snap_store *s = NULL;
	if (open_store(&s, store, false))
		return 1;
	char id[SNAP_ID_HEXLEN + 1];
	int r = current_image(s, repo, id);
	snap_store_free(s);
	if (r < 0)
		return die("listing %s: %s", store, errmsg(r));
	if (r == 0) {
		if (json)
			printf("{\"error\":\"repository has no image\"}\n");
		return die("repository %s has no image in %s", repo, store);
	}
	if (json)
		printf("{\"id\":\"%s\"}\n", id);
	else
		printf("%s\n", id);
	return 0;
}

static int cmd_log(int argc, char **argv)
{
	const char *store = NULL;
	int rc = parse_query_opts(argc, argv, usage_log, &store, NULL, NULL);
	if (rc >= 0)
		return rc;
	if (optind + 1 != argc) {
		usage_log(stderr);
		return 2;
	}
	struct snap_store *s = NULL;
	if (open_store(&s, store, false))
		return 1;
	struct snap_layer *l = NULL;
	int r = snap_layer_open(&l, s, argv[optind]);
	if (r < 0) {
		snap_store_free(s);
		return die("image %s: %s", argv[optind], errmsg(r));
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/layers/%s/build.log", snap_store_dir(s), snap_layer_meta(l)->id);
	int kind = snap_layer_meta(l)->kind;
	snap_layer_free(l);
	snap_store_free(s);
	FILE *f = fopen(path, "r");
	if (!f) {
		if (kind != SNAP_KIND_IMAGE)
			return die("layer %s is a %s snapshot, not an image", argv[optind], snap_kind_name(kind));
		return die("image %s has no build log: %s", argv[optind], strerror(errno));
	}
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}

/* ---- build ---- */

static void progress(void *arg, const char *phase, const char *line)
{
	(void)arg;
	fprintf(stderr, "[%s] %s\n", phase, line);
}

/* Appends s quoted for sh to buf. */
static int sh_quote(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t need = *len + 4 * strlen(s) + 4;
	if (need > *cap) {
		size_t nc = need * 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	char *p = *buf + *len;
	if (*len)
		*p++ = ' ';
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	*len = (size_t)(p - *buf);
	return 0;
}

static void default_name(const char *repo, char *buf, size_t size)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", repo);
	size_t n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	const char *base = strrchr(tmp, '/');
	base = base ? base + 1 : tmp;
	snprintf(buf, size, "%s", base);
	n = strlen(buf);
	if (n > 4 && !strcmp(buf + n - 4, ".git"))
		buf[n - 4] = '\0';
	if (!strcmp(buf, ".git") || !buf[0])
		snprintf(buf, size, "repo");
}

static int cmd_build(int argc, char **argv)
{
	struct snap_image_opts o = {0};
	const char *store = NULL, *name = NULL, *previous = NULL;
	bool no_previous = false, json = false, quiet = false;
	const char **cmds = calloc((size_t)argc + 1, sizeof(*cmds));
	char *argv_cmd = NULL;
	size_t ncmds = 0;
	int rc = 1;
	if (!cmds)
		return die("out of memory");
	enum { O_STORE = 256, O_REPO, O_NAME, O_REMOTE, O_BRANCH, O_PREV, O_NOPREV, O_TIMEOUT, O_CACHE, O_LOG,
	       O_WORKDIR, O_THAWFS, O_CMD, O_JSON, O_QUIET };
	static const struct option opts[] = {
		{"store", required_argument, NULL, O_STORE},     {"repo", required_argument, NULL, O_REPO},
		{"name", required_argument, NULL, O_NAME},       {"remote", required_argument, NULL, O_REMOTE},
		{"branch", required_argument, NULL, O_BRANCH},   {"previous", required_argument, NULL, O_PREV},
		{"no-previous", no_argument, NULL, O_NOPREV},    {"timeout", required_argument, NULL, O_TIMEOUT},
		{"cache", required_argument, NULL, O_CACHE},     {"log", required_argument, NULL, O_LOG},
		{"workdir", required_argument, NULL, O_WORKDIR}, {"thawfs", required_argument, NULL, O_THAWFS},
		{"cmd", required_argument, NULL, O_CMD},         {"json", no_argument, NULL, O_JSON},
		{"quiet", no_argument, NULL, O_QUIET},           {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_STORE: store = optarg; break;
		case O_REPO: o.repo = optarg; break;
		case O_NAME: name = optarg; break;
		case O_REMOTE: o.remote = optarg; break;
		case O_BRANCH: o.branch = optarg; break;
		case O_PREV: previous = optarg; break;
		case O_NOPREV: no_previous = true; break;
		case O_TIMEOUT: {
			char *end;
			errno = 0;
			unsigned long t = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || t == 0 || t > 7 * 86400) {
				fprintf(stderr, PROG ": --timeout wants seconds (1 to 604800), not '%s'\n", optarg);
				rc = 2;
				goto done;
			}
			o.timeout_s = (unsigned)t;
			break;
		}
		case O_CACHE: o.cache = optarg; break;
		case O_LOG: o.log_path = optarg; break;
		case O_WORKDIR: o.workdir = optarg; break;
		case O_THAWFS: o.thawfs = optarg; break;
		case O_CMD: cmds[ncmds++] = optarg; break;
		case O_JSON: json = true; break;
		case O_QUIET: quiet = true; break;
		case 'h': usage_build(stdout); rc = 0; goto done;
		default: usage_build(stderr); rc = 2; goto done;
		}
	}
	if (optind < argc) {
		/* "--" was consumed by getopt: the rest is one command as arguments */
		size_t len = 0, cap = 0;
		for (int i = optind; i < argc; i++) {
			if (sh_quote(&argv_cmd, &len, &cap, argv[i]) < 0) {
				rc = die("out of memory");
				goto done;
			}
		}
		cmds[ncmds++] = argv_cmd;
	}
	if (!store || !o.repo || (previous && no_previous)) {
		fprintf(stderr, PROG ": build needs --store and --repo%s\n",
		        previous && no_previous ? ", and not both --previous and --no-previous" : "");
		usage_build(stderr);
		rc = 2;
		goto done;
	}
	if (ncmds == 0) {
		fprintf(stderr, PROG ": build needs at least one setup command (--cmd LINE or -- CMD ARGS...)\n");
		rc = 2;
		goto done;
	}
	char namebuf[256];
	if (!name) {
		default_name(o.repo, namebuf, sizeof(namebuf));
		name = namebuf;
	}
	struct snap_store *s = NULL;
	if (open_store(&s, store, true))
		goto done;
	char prev[SNAP_ID_HEXLEN + 1];
	if (previous) {
		o.previous = previous;
	} else if (!no_previous) {
		int r = current_image(s, name, prev);
		if (r < 0) {
			snap_store_free(s);
			rc = die("listing %s: %s", store, errmsg(r));
			goto done;
		}
		if (r == 1)
			o.previous = prev;
	}
	o.repo_name = name;
	o.commands = cmds;
	o.ncommands = ncmds;
	if (!quiet) {
		o.progress = progress;
		if (!o.previous)
			fprintf(stderr, "[start] no previous image of %s: building from the bare commit\n", name);
	}
	struct snap_image_result res;
	int r = snap_image_build(s, &o, &res);
	if (r < 0) {
		if (json) {
			/* exit_status only when a command failed or the deadline passed */
			json_t *j = json_pack("{s:s, s:f}", "error", res.error[0] ? res.error : strerror(-r), "duration_ms",
			                      res.duration_ms);
			if (j && (r == -ECHILD || r == -ETIMEDOUT))
				json_object_set_new(j, "exit_status", json_integer(res.exit_status));
			print_json(j, "{\"error\":\"build failed\"}");
		}
		snap_store_free(s);
		rc = die("build failed: %s", res.error[0] ? res.error : strerror(-r));
		goto done;
	}
	uint64_t files = 0, bytes = 0;
	struct snap_layer *l = NULL;
	if (snap_layer_open(&l, s, res.id) == 0) {
		files = snap_layer_meta(l)->files;
		bytes = snap_layer_meta(l)->bytes;
		snap_layer_free(l);
	}
	if (json) {
		json_t *j = json_pack("{s:s, s:s, s:f, s:I, s:I}", "id", res.id, "commit", res.commit, "duration_ms",
		                      res.duration_ms, "files", (json_int_t)files, "bytes", (json_int_t)bytes);
		print_json(j, "{}");
	} else {
		printf("%s\n", res.id);
	}
	snap_store_free(s);
	rc = 0;
done:
	free(argv_cmd);
	free(cmds);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		usage_main(stdout);
		return 0;
	}
	/* getopt sees "thaw-image build ..." as "build ..." */
	argc--;
	argv++;
	if (!strcmp(sub, "build"))
		return cmd_build(argc, argv);
	if (!strcmp(sub, "ls"))
		return cmd_ls(argc, argv);
	if (!strcmp(sub, "current"))
		return cmd_current(argc, argv);
	if (!strcmp(sub, "log"))
		return cmd_log(argc, argv);
	fprintf(stderr, PROG ": unknown command '%s'\n", sub);
	usage_main(stderr);
	return 2;
}
