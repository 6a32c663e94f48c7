/* thaw-snapshot: the command line of the snapshot store. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#include "banned.h"

#if !defined(SNAP_HAVE_CLI_FREEZE)
int snap_cli_freeze(int argc, char **argv)
{
	return snap_cli_fail("freeze", false, -1, "not built into this thaw-snapshot");
}
#endif
#if !defined(SNAP_HAVE_CLI_RESTORE)
int snap_cli_restore(int argc, char **argv)
{
	return snap_cli_fail("restore", false, -1, "not built into this thaw-snapshot");
}
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} commands[] = {
	{"freeze", snap_cli_freeze, "freeze a mounted workspace into a new layer"},
	{"restore", snap_cli_restore, "mount a new workspace from a layer"},
	{"ls", snap_cli_ls, "list the layers of the store"},
	{"inspect", snap_cli_inspect, "show a layer: metadata, chain, entries"},
	{"diff", snap_cli_diff, "what a layer changed (A, M, D paths)"},
	{"export", snap_cli_export, "commit a layer's changes on a git branch"},
	{"check", snap_cli_check, "check that a layer's chain and objects are all present"},
	{"rm", snap_cli_rm, "remove a layer"},
	{"gc", snap_cli_gc, "remove objects no layer references"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: thaw-snapshot COMMAND [--store DIR] [OPTIONS] [--json]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\nThe store is --store DIR, else $THAW_STORE. 'thaw-snapshot COMMAND --help' for more.\n");
}

int main(int argc, char **argv)
{
	snap_cli_prog = "thaw-snapshot";
	if (argc < 2) {
		usage(stderr);
		return SNAP_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return SNAP_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "thaw-snapshot: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return SNAP_EXIT_USAGE;
}
