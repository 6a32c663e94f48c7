/* thaw-snapshot / thaw-image: the subcommands and the helpers they share
 * (snapshot/cli_util.c). Conventions: human output by default, --json for
 * one JSON document on stdout; a failure prints one line
 * "PROG CMD: message" on stderr (and with --json {"error":..., "errno":...}
 * on stdout) and exits 1; a usage error exits 2. */
#ifndef THAW_SNAPSHOT_CLI_H
#define THAW_SNAPSHOT_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

#define SNAP_EXIT_OK 0
#define SNAP_EXIT_FAIL 1
#define SNAP_EXIT_USAGE 2

/* Subcommands: argv[0] is the subcommand's name. Return the exit status. */
int snap_cli_freeze(int argc, char **argv);  /* cli_freeze.c (freeze engineer) */
int snap_cli_restore(int argc, char **argv); /* cli_restore.c (freeze engineer) */
int snap_cli_ls(int argc, char **argv);
int snap_cli_inspect(int argc, char **argv);
int snap_cli_rm(int argc, char **argv);
int snap_cli_check(int argc, char **argv);
int snap_cli_diff(int argc, char **argv);
int snap_cli_export(int argc, char **argv);
int snap_cli_gc(int argc, char **argv);

/* The program name used in messages ("thaw-snapshot"); set by main. */
extern const char *snap_cli_prog;

/* The store directory: opt (--store) if given, else $THAW_STORE, else NULL
 * after printing an error. */
const char *snap_cli_store_path(const char *cmd, const char *opt);
/* Resolves the store path and opens it; on failure prints the error and
 * returns SNAP_EXIT_FAIL or SNAP_EXIT_USAGE (no store given); else 0. */
int snap_cli_open_store(const char *cmd, const char *opt, bool create, bool json, struct snap_store **out);
/* snap_cli_open_store (no create), then the layer id (an id or a unique
 * prefix) in it: 0 with both open (the caller frees them), else the exit
 * status after the error is printed (nothing left open). */
int snap_cli_open_layer(const char *cmd, const char *store, bool json, const char *id, struct snap_store **s,
                        struct snap_layer **l);

/* Prints "PROG CMD: message" (message from snap_last_error() when fmt is
 * NULL, else formatted) on stderr and, when json, an error object on stdout.
 * Returns SNAP_EXIT_FAIL. */
int snap_cli_fail(const char *cmd, bool json, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prints "PROG CMD: message" and "Try 'PROG CMD --help'." on stderr;
 * returns SNAP_EXIT_USAGE. */
int snap_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Dumps j (stolen) as one line on stdout. Returns 0, or SNAP_EXIT_FAIL if it
 * cannot be printed. */
int snap_cli_print_json(json_t *j);
/* A layer's metadata as a new JSON object. */
json_t *snap_cli_meta_json(const struct snap_meta *m);
/* A layer entry as a new JSON object (path, type, mode, ...). */
json_t *snap_cli_entry_json(const struct snap_entry *e);
/* "1.5 MiB"-style size into buf. */
const char *snap_cli_size(uint64_t bytes, char *buf, size_t len);
/* "2026-01-31 12:00:00" (UTC) for wall-clock milliseconds. */
const char *snap_cli_time(int64_t ms, char *buf, size_t len);

#endif
