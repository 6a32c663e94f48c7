/*
 * thaw, the command-line client of thawd: internal header.
 *
 * http_client.c  libcurl over the Unix socket (or loopback TCP + bearer token)
 * args.c         the small option parser every command uses
 * table.c        human tables (aligned columns)
 * cmd_*.c        one file per command family
 *
 * Exit codes (docs/cli.md): 0 ok, 1 API error (message on one line:
 * "thaw: <message> (<status> <code>)"), 2 usage, 3 daemon unreachable.
 */
#ifndef THAW_CLIENT_H
#define THAW_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum { THAW_EXIT_OK = 0, THAW_EXIT_API = 1, THAW_EXIT_USAGE = 2, THAW_EXIT_UNREACHABLE = 3 };

struct thaw_cli {
	char socket[PATH_MAX];     /* Unix socket, or "" with url */
	char url[256];             /* http://127.0.0.1:PORT, or "" */
	char token[512];           /* with url */
	bool json;                 /* --json: print the API's JSON */
	void *curl;                /* CURL *, reused (keep-alive) */
};

/* ---- http_client.c ---- */
int cli_init(struct thaw_cli *c);
void cli_release(struct thaw_cli *c);
/* One request. body is stolen (may be NULL). On an answer (any status):
 * 0, *status and *out (new JSON, NULL if the body is not JSON; raw text in
 * *text if text != NULL, caller frees). On a transport failure: -1 with a
 * message printed (the caller exits THAW_EXIT_UNREACHABLE). */
int cli_request(struct thaw_cli *c, const char *method, const char *path, json_t *body, long *status,
		json_t **out, char **text);
/* cli_request + error handling: returns an exit code; on 0 *out (if out)
 * holds the answer (new). API errors are printed on one line. */
int cli_call(struct thaw_cli *c, const char *method, const char *path, json_t *body, json_t **out);
/* Reads an ndjson stream; fn gets each line (NUL-terminated, without the
 * newline) and returns nonzero to stop. idle_ms > 0: stop quietly after
 * that long without data. Returns an exit code. */
int cli_stream(struct thaw_cli *c, const char *path, long idle_ms, int (*fn)(const char *line, void *arg),
	       void *arg);
/* A path segment percent-escaped (caller frees). */
char *cli_escape(struct thaw_cli *c, const char *s);

/* ---- args.c ---- */
struct cli_opt {
	const char *name;          /* "repo" for --repo */
	bool has_arg;
	bool repeat;               /* values collected in order */
	const char *value;         /* last value (or "1" for a flag); NULL if absent */
	const char **values;       /* with repeat: every value */
	size_t nvalues;
};
/* Parses argv[0..argc): options anywhere ("--name value", "--name=value",
 * "--" ends them), positionals collected in order. "--json" sets
 * c->json; "--help"/"-h" sets *help. Returns 0, or THAW_EXIT_USAGE with a
 * message printed. Free with args_release. */
int args_parse(struct thaw_cli *c, int argc, char **argv, struct cli_opt *opts, size_t nopts,
	       const char ***pos, size_t *npos, bool *help);
void args_release(struct cli_opt *opts, size_t nopts, const char **pos);
int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "Name <email>" -> parts; -1 if malformed. */
int parse_author(const char *s, char *name, size_t nn, char *email, size_t en);
/* Strict unsigned integer. */
int parse_uint(const char *s, unsigned long long *out);

/* ---- table.c ---- */
struct table;
struct table *table_new(unsigned ncols, const char *const *headers);
/* ncols strings (NULL prints "-"), copied. */
void table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);
/* Field helpers: a string member or "-"; integers and durations as text
 * into buf. */
const char *jstr(const json_t *o, const char *key);
const char *jnum(const json_t *o, const char *key, char *buf, size_t n);
const char *jage(const json_t *o, const char *key, char *buf, size_t n);
void print_json(const json_t *j);

/* ---- commands ---- */
int cmd_session(struct thaw_cli *c, int argc, char **argv);
int cmd_repo(struct thaw_cli *c, int argc, char **argv);
int cmd_image(struct thaw_cli *c, int argc, char **argv);
int cmd_pool(struct thaw_cli *c, int argc, char **argv);
int cmd_warm(struct thaw_cli *c, int argc, char **argv);
int cmd_status(struct thaw_cli *c, int argc, char **argv);

#endif
