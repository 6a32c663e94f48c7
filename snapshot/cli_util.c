/* thaw-snapshot: helpers shared by the subcommands (and by thaw-image). */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

const char *snap_cli_prog = "thaw-snapshot";

int snap_cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s %s: ", snap_cli_prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", snap_cli_prog, cmd);
	return SNAP_EXIT_USAGE;
}

int snap_cli_fail(const char *cmd, bool json, int rc, const char *fmt, ...)
{
	char msg[2048];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	} else {
		const char *e = snap_last_error();
		snprintf(msg, sizeof(msg), "%s", e && *e ? e : (rc < 0 ? strerror(-rc) : "failed"));
	}
	fprintf(stderr, "%s %s: %s\n", snap_cli_prog, cmd, msg);
	if (json) {
		json_t *j = json_pack("{s:s, s:i}", "error", msg, "errno", rc < 0 ? -rc : rc);
		if (j)
			snap_cli_print_json(j);
	}
	return SNAP_EXIT_FAIL;
}

const char *snap_cli_store_path(const char *cmd, const char *opt)
{
	if (opt && *opt)
		return opt;
	const char *env = getenv("THAW_STORE");
	if (env && *env)
		return env;
	snap_cli_usage(cmd, "no store: give --store DIR or set THAW_STORE");
	return NULL;
}

int snap_cli_open_store(const char *cmd, const char *opt, bool create, bool json, struct snap_store **out)
{
	const char *dir = snap_cli_store_path(cmd, opt);
	if (!dir)
		return SNAP_EXIT_USAGE;
	int r = snap_store_open(out, dir, create);
	if (r < 0)
		return snap_cli_fail(cmd, json, r, NULL);
	return 0;
}

int snap_cli_open_layer(const char *cmd, const char *store, bool json, const char *id, struct snap_store **s,
                        struct snap_layer **l)
{
	int r = snap_cli_open_store(cmd, store, false, json, s);
	if (r)
		return r;
	if ((r = snap_layer_open(l, *s, id)) < 0) {
		snap_store_free(*s);
		*s = NULL;
		return snap_cli_fail(cmd, json, r, NULL);
	}
	return 0;
}

int snap_cli_print_json(json_t *j)
{
	if (!j) {
		fprintf(stderr, "%s: out of memory\n", snap_cli_prog);
		return SNAP_EXIT_FAIL;
	}
	int r = json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	fputc('\n', stdout);
	return r == 0 ? 0 : SNAP_EXIT_FAIL;
}

json_t *snap_cli_meta_json(const struct snap_meta *m)
{
	json_t *j = json_object();
	if (!j)
		return NULL;
	json_object_set_new(j, "id", json_string(m->id));
	json_object_set_new(j, "kind", json_string(snap_kind_name(m->kind)));
	json_object_set_new(j, "parent", m->parent[0] ? json_string(m->parent) : json_null());
	json_object_set_new(j, "repo", json_string(m->repo));
	json_object_set_new(j, "base_commit", json_string(m->base_commit));
	json_object_set_new(j, "synced_commit", json_string(m->synced_commit));
	json_object_set_new(j, "created_ms", json_integer(m->created_ms));
	json_object_set_new(j, "author", json_string(m->author));
	json_object_set_new(j, "bytes", json_integer((json_int_t)m->bytes));
	json_object_set_new(j, "stored_bytes", json_integer((json_int_t)m->stored_bytes));
	json_object_set_new(j, "files", json_integer((json_int_t)m->files));
	json_object_set_new(j, "commands", json_string(m->commands));
	json_object_set_new(j, "duration_ms", json_real(m->duration_ms));
	return j;
}

const char *snap_cli_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

const char *snap_cli_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%lld", (long long)ms);
	return buf;
}
