/* thaw: option parsing shared by the commands (options may follow
 * positionals, as in "thaw session create --repo R"). */
#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("thaw: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (usage)
		fprintf(stderr, "usage: %s\n", usage);
	return THAW_EXIT_USAGE;
}

static struct cli_opt *find(struct cli_opt *opts, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

int args_parse(struct thaw_cli *c, int argc, char **argv, struct cli_opt *opts, size_t nopts,
	       const char ***pos, size_t *npos, bool *help)
{
	const char **p = calloc((size_t)argc + 1, sizeof(*p));
	size_t np = 0;
	bool only_pos = false;
	*help = false;
	if (!p)
		return usage_error(NULL, "out of memory");
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			p[np++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			*help = true;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			c->json = true;
			continue;
		}
		if (a[1] != '-') {
			free(p);
			return usage_error(NULL, "unknown option %s", a);
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		struct cli_opt *o = find(opts, nopts, name, len);
		if (!o) {
			free(p);
			return usage_error(NULL, "unknown option --%.*s", (int)len, name);
		}
		const char *v = "1";
		if (o->has_arg) {
			if (eq)
				v = eq + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				free(p);
				return usage_error(NULL, "option --%s needs a value", o->name);
			}
		} else if (eq) {
			free(p);
			return usage_error(NULL, "option --%s takes no value", o->name);
		}
		if (o->repeat) {
			const char **nv = realloc(o->values, (o->nvalues + 1) * sizeof(*nv));
			if (!nv) {
				free(p);
				return usage_error(NULL, "out of memory");
			}
			o->values = nv;
			o->values[o->nvalues++] = v;
		} else if (o->value && o->has_arg) {
			free(p);
			return usage_error(NULL, "option --%s given twice", o->name);
		}
		o->value = v;
	}
	*pos = p;
	*npos = np;
	return 0;
}

void args_release(struct cli_opt *opts, size_t nopts, const char **pos)
{
	for (size_t i = 0; i < nopts; i++) {
		free(opts[i].values);
		opts[i].values = NULL;
	}
	free(pos);
}

int parse_author(const char *s, char *name, size_t nn, char *email, size_t en)
{
	const char *lt = strchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt || gt[1] != '\0' || gt == lt + 1)
		return -1;
	const char *ne = lt;
	while (ne > s && ne[-1] == ' ')
		ne--;
	if (ne == s || (size_t)(ne - s) >= nn || (size_t)(gt - lt - 1) >= en)
		return -1;
	memcpy(name, s, (size_t)(ne - s));
	name[ne - s] = '\0';
	memcpy(email, lt + 1, (size_t)(gt - lt - 1));
	email[gt - lt - 1] = '\0';
	return 0;
}

int parse_uint(const char *s, unsigned long long *out)
{
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}
