/* thaw-genrepo: command line and output. See docs/genrepo.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, realpath */
#endif
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genrepo.h"
#include "banned.h"

enum { EXIT_ERR = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
	"usage: thaw-genrepo --out DIR [--files N] [--seed S] [--commits C] [--bare]\n"
	"                    [--big N] [--loose] [--json] [--quiet]\n"
	"       thaw-genrepo --advance DIR [--commits K] [--changes M] [--seed S]\n"
	"                    [--loose] [--json] [--quiet]\n"
	"\n"
	"Generates a realistic, deterministic git repository (the same options give\n"
	"the same commit ids), or adds commits to main of one.\n"
	"\n"
	"  --out DIR      create the repository in DIR (absent or empty)\n"
	"  --files N      files and symlinks in the first commit (default 2000)\n"
	"  --seed S       seed of every random choice (default 1)\n"
	"  --commits C    commits on main, each tagged gen-<n> (default 4;\n"
	"                 with --advance: commits to add, default 1)\n"
	"  --bare         create a bare repository (default: with a checkout)\n"
	"  --big N        files of 2-8 MiB (default N/2000 rounded, at least 1)\n"
	"  --loose        leave objects loose instead of packing them\n"
	"  --advance DIR  add commits on top of main of the repository DIR; a\n"
	"                 checkout of main is updated too\n"
	"  --changes M    files modified by each added commit (default 20); a few\n"
	"                 are also added, deleted, renamed and chmod'ed\n"
	"  --json         print one JSON object describing the result\n"
	"  --quiet        print no summary line (--json still prints)\n"
	"  --help         show this help\n";

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "thaw-genrepo: %s%s (see --help)\n", what, arg);
	return EXIT_USAGE;
}

/* A decimal number in [min, max]. */
static int parse_number(const char *opt, const char *s, uint64_t min, uint64_t max,
			uint64_t *out, struct gerr *e)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return gerr_set(e, -EINVAL, "bad number for --%s: '%s'", opt, s);
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return gerr_set(e, -EINVAL, "bad number for --%s: '%s' (%llu to %llu)", opt, s,
				(unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void print_result(const struct gen_result *res, bool json)
{
	char hex[GIT_OID_HEXSZ + 1];
	const git_oid *head = &res->commits[res->ncommits - 1];

	git_oid_tostr(hex, sizeof(hex), head);
	if (!json) {
		printf("thaw-genrepo: %s: %llu files, %llu dirs, %llu symlinks, %llu bytes, "
		       "%zu commits, head %s, deep file %s\n",
		       res->path, (unsigned long long)res->st.files,
		       (unsigned long long)res->st.dirs, (unsigned long long)res->st.symlinks,
		       (unsigned long long)res->st.bytes, res->ncommits, hex, GEN_DEEP_PATH);
		return;
	}
	fputs("{\"path\":", stdout);
	json_string(stdout, res->path);
	printf(",\"head\":\"%s\",\"commits\":[", hex);
	for (size_t i = 0; i < res->ncommits; i++) {
		git_oid_tostr(hex, sizeof(hex), &res->commits[i]);
		printf("%s\"%s\"", i ? "," : "", hex);
	}
	printf("],\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,\"bytes\":%llu,"
	       "\"deep_file\":\"%s\"}\n",
	       (unsigned long long)res->st.files, (unsigned long long)res->st.dirs,
	       (unsigned long long)res->st.symlinks, (unsigned long long)res->st.bytes,
	       GEN_DEEP_PATH);
}

enum {
	OPT_OUT = 'o',
	OPT_ADVANCE = 'a',
	OPT_FILES = 'n',
	OPT_SEED = 's',
	OPT_COMMITS = 'c',
	OPT_BARE = 'b',
	OPT_BIG = 'B',
	OPT_LOOSE = 'l',
	OPT_JSON = 'j',
	OPT_QUIET = 'q',
	OPT_CHANGES = 'm',
	OPT_HELP = 'h',
};

struct cli {
	struct gen_opts o;
	bool create; /* --out, else --advance */
	bool json, quiet, help;
};

/* 0, or the exit status of a bad command line (the message printed). */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, OPT_OUT},
		{"advance", required_argument, NULL, OPT_ADVANCE},
		{"files", required_argument, NULL, OPT_FILES},
		{"seed", required_argument, NULL, OPT_SEED},
		{"commits", required_argument, NULL, OPT_COMMITS},
		{"bare", no_argument, NULL, OPT_BARE},
		{"big", required_argument, NULL, OPT_BIG},
		{"loose", no_argument, NULL, OPT_LOOSE},
		{"json", no_argument, NULL, OPT_JSON},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"changes", required_argument, NULL, OPT_CHANGES},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	struct gen_opts *o = &cli->o;
	const char *out = NULL, *advance = NULL;
	bool have_big = false, have_commits = false, create_only = false, advance_only = false;
	struct gerr e = {{0}};
	int c, status = 0;

	*o = (struct gen_opts){.files = 2000, .seed = 1, .changes = 20};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_ADVANCE:
			advance = optarg;
			break;
		case OPT_FILES:
			rc = parse_number("files", optarg, 1, 10000000, &o->files, &e);
			create_only = true;
			break;
		case OPT_SEED:
			rc = parse_number("seed", optarg, 0, UINT64_MAX, &o->seed, &e);
			break;
		case OPT_COMMITS:
			rc = parse_number("commits", optarg, 1, 100000, &o->commits, &e);
			have_commits = true;
			break;
		case OPT_BARE:
			o->bare = true;
			create_only = true;
			break;
		case OPT_BIG:
			rc = parse_number("big", optarg, 0, 100000, &o->big, &e);
			have_big = true;
			create_only = true;
			break;
		case OPT_LOOSE:
			o->loose = true;
			break;
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_QUIET:
			cli->quiet = true;
			break;
		case OPT_CHANGES:
			rc = parse_number("changes", optarg, 0, 10000000, &o->changes, &e);
			advance_only = true;
			break;
		case OPT_HELP:
			cli->help = true;
			goto done;
		default:
			status = usage_error("unknown option or missing argument: ",
					     argv[optind > 1 ? optind - 1 : 1]);
			goto done;
		}
		if (rc < 0) {
			fprintf(stderr, "thaw-genrepo: %s\n", e.msg);
			status = EXIT_ERR;
			goto done;
		}
	}
	if (optind < argc)
		status = usage_error("unexpected argument: ", argv[optind]);
	else if (!out == !advance)
		status = usage_error("give exactly one of --out DIR and --advance DIR", "");
	else if (advance && create_only)
		status = usage_error("--files, --bare and --big only go with --out", "");
	else if (out && advance_only)
		status = usage_error("--changes only goes with --advance", "");
	if (status)
		goto done;
	cli->create = out != NULL;
	o->dir = out ? out : advance;
	if (!have_commits)
		o->commits = out ? 4 : 1;
	if (!have_big) /* files / 2000, rounded, at least 1 */
		o->big = o->files < 1000 ? 1 : (o->files + 1000) / 2000;
done:
	return status;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	struct gen_result res = {0};
	struct gerr e = {{0}};
	bool inited = false;
	int rc, status;

	if ((status = parse_args(argc, argv, &cli)) != 0)
		goto done;
	if (cli.help) {
		fputs(usage_text, stdout);
		goto done;
	}
	if ((rc = git_libgit2_init()) < 0) {
		fprintf(stderr, "thaw-genrepo: initializing libgit2 failed (%d)\n", rc);
		status = EXIT_ERR;
		goto done;
	}
	inited = true;
	rc = cli.create ? gen_create(&cli.o, &res, &e) : gen_advance(&cli.o, &res, &e);
	if (rc < 0) {
		fprintf(stderr, "thaw-genrepo: %s\n", e.msg[0] ? e.msg : "failed");
		status = EXIT_ERR;
		goto done;
	}
	if (cli.json || !cli.quiet)
		print_result(&res, cli.json);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "thaw-genrepo: writing the output: %s\n", strerror(errno));
		status = EXIT_ERR;
	}
done:
	gen_result_free(&res);
	if (inited)
		git_libgit2_shutdown();
	return status;
}
