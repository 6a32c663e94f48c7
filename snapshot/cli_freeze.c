/*
 * thaw-snapshot freeze: freeze a mounted workspace's changes into a layer.
 * Prints the new layer's id (or one JSON object with --json).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"
#include "cli.h"
#include "banned.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: thaw-snapshot freeze [--store DIR] --control SOCKET [--kind session|pre-exit]\n"
	           "                            [--author \"Name <email>\"] [--repo-name NAME] [--progress] [--json]\n"
	           "\n"
	           "Freezes the workspace behind the thawfs control SOCKET: parks its writes,\n"
	           "packs its upper layer (new and changed files, deletions, metadata) into a\n"
	           "new layer of the store DIR (default $THAW_STORE; content deduplicated: unchanged data costs\n"
	           "nothing), and reopens it. The new layer's parent is the workspace's topmost\n"
	           "store layer. Freezing again without a change gives the same id.\n"
	           "Prints the layer id; --json prints {\"id\",\"files\",\"bytes\",\"new_objects\",\n"
	           "\"new_bytes\",\"ms\",\"park_ms\",\"pack_ms\",\"started_us\",\"thaw_us\"} (the two\n"
	           "last: wall clock in microseconds when the freeze started and right\n"
	           "before the gate was reopened). --progress prints phases on stderr.\n"
	           "Exit status: 0 on success, 1 on an error (one line on stderr), 2 on usage errors.\n");
}

struct prog {
	bool print;
	int64_t thaw_us;
};

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
	struct prog *p = arg;
	if (!strcmp(phase, "thaw"))
		p->thaw_us = wall_us();
	if (p->print) {
		if (total)
			fprintf(stderr, "freeze: %s %llu/%llu\n", phase, (unsigned long long)done, (unsigned long long)total);
		else if (done)
			fprintf(stderr, "freeze: %s %llu entries\n", phase, (unsigned long long)done);
		else
			fprintf(stderr, "freeze: %s\n", phase);
	}
}

int snap_cli_freeze(int argc, char **argv)
{
	enum { O_STORE = 256, O_CONTROL, O_KIND, O_AUTHOR, O_REPO_NAME, O_JSON, O_PROGRESS, O_HELP };
	static const struct option opts[] = {
		{"store", required_argument, NULL, O_STORE},   {"control", required_argument, NULL, O_CONTROL},
		{"kind", required_argument, NULL, O_KIND},     {"author", required_argument, NULL, O_AUTHOR},
		{"repo-name", required_argument, NULL, O_REPO_NAME}, {"json", no_argument, NULL, O_JSON},
		{"progress", no_argument, NULL, O_PROGRESS},   {"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL;
	struct snap_freeze_opts o = {.kind = SNAP_KIND_SESSION};
	struct prog pr = {0};
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_STORE: store = optarg; break;
		case O_CONTROL: o.control = optarg; break;
		case O_KIND:
			if (snap_kind_parse(optarg, &o.kind) < 0 || o.kind == SNAP_KIND_IMAGE)
				return snap_cli_usage("freeze", "--kind is session or pre-exit (images: thaw-image)");
			break;
		case O_AUTHOR: o.author = optarg; break;
		case O_REPO_NAME: o.repo_name = optarg; break;
		case O_JSON: json = true; break;
		case O_PROGRESS: pr.print = true; break;
		case 'h':
		case O_HELP: usage(stdout); return 0;
		default: return snap_cli_usage("freeze", "unknown option");
		}
	}
	if (optind != argc)
		return snap_cli_usage("freeze", "unexpected argument '%s'", argv[optind]);
	if (!o.control)
		return snap_cli_usage("freeze", "--control SOCKET is required");
	o.progress = on_progress;
	o.progress_arg = &pr;

	struct snap_store *s = NULL;
	int r = snap_cli_open_store("freeze", store, true, json, &s);
	if (r)
		return r;
	char id[SNAP_ID_HEXLEN + 1];
	struct snap_freeze_stats st = {0};
	/* An interrupt between freeze and thaw would leave the workspace's writes
	 * parked: termination signals wait until the gate is open again. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &old);
	int64_t started = wall_us();
	r = snap_freeze(s, &o, id, &st);
	sigprocmask(SIG_SETMASK, &old, NULL);
	snap_store_free(s);
	if (r < 0)
		return snap_cli_fail("freeze", json, r, NULL);
	if (!json) {
		puts(id);
		return 0;
	}
	json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:I,s:I}", "id", id, "files", (json_int_t)st.files,
	                      "bytes", (json_int_t)st.bytes, "new_objects", (json_int_t)st.new_objects, "new_bytes",
	                      (json_int_t)st.new_bytes, "ms", st.total_ms, "park_ms", st.park_ms, "pack_ms",
	                      st.pack_ms, "started_us", (json_int_t)started, "thaw_us", (json_int_t)pr.thaw_us);
	return snap_cli_print_json(j);
}
