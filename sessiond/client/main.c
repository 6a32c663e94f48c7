/*
 * thaw: the command-line client of thawd. Global options, the daemon's
 * address (Unix socket from the state directory, or loopback TCP with a
 * token), and dispatch to the command families (cmd_*.c).
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

static const char usage[] =
	"usage: thaw [--state DIR | --socket PATH | --url http://127.0.0.1:PORT [--token-file F]]\n"
	"            [--json] COMMAND [ARGS...]\n"
	"\n"
	"commands:\n"
	"  session create --repo R [--author \"N <e>\"] [--from-snapshot ID] [--parent ID] [--timeout S]\n"
	"  session ls [--state S]            session inspect ID        session rm ID\n"
	"  session snapshot ID               session restore SNAPSHOT_ID --repo R\n"
	"  session events ID [--since N] [--follow]\n"
	"  session export ID --branch B      session prompt ID --author \"N <e>\" TEXT\n"
	"  repo add NAME URL [--branch B] [--setup CMD]...       repo ls    repo inspect NAME\n"
	"  image build REPO [--wait]         image ls REPO\n"
	"  pool ls                           warm REPO --user U\n"
	"  status                            (health, version, sessions by state)\n"
	"\n"
	"The daemon: --socket PATH, else STATE/thawd.sock where STATE is --state, $THAW_STATE,\n"
	"$XDG_STATE_HOME/thaw or ~/.local/state/thaw. --url (loopback only) sends the bearer token\n"
	"read from --token-file (default STATE/token).\n"
	"--json prints the API's JSON. `thaw COMMAND --help` describes a command.\n"
	"Exit status: 0 ok, 1 API error, 2 usage, 3 daemon unreachable.\n";

static int state_dir(const char *opt, char *out, size_t n)
{
	const char *e;
	int r;
	if (opt)
		r = snprintf(out, n, "%s", opt);
	else if ((e = getenv("THAW_STATE")) && *e)
		r = snprintf(out, n, "%s", e);
	else if ((e = getenv("XDG_STATE_HOME")) && *e)
		r = snprintf(out, n, "%s/thaw", e);
	else if ((e = getenv("HOME")) && *e)
		r = snprintf(out, n, "%s/.local/state/thaw", e);
	else
		return -ENOENT;
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static int read_token(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t len = fread(out, 1, n - 1, f);
	fclose(f);
	out[len] = '\0';
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
		out[--len] = '\0';
	return len ? 0 : -ENODATA;
}

static bool loopback_url(const char *u)
{
	static const char *const ok[] = {"http://127.", "http://localhost:", "http://[::1]:"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strncmp(u, ok[i], strlen(ok[i])) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct thaw_cli c;
	memset(&c, 0, sizeof(c));
	const char *state = NULL, *sock = NULL, *url = NULL, *token_file = NULL;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (strcmp(a, "--json") == 0) {
			c.json = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return THAW_EXIT_OK;
		}
		if (strcmp(a, "--version") == 0) {
			puts("thaw 0.1.0");
			return THAW_EXIT_OK;
		}
		const char *names[] = {"--state", "--socket", "--url", "--token-file"};
		const char **dsts[] = {&state, &sock, &url, &token_file};
		for (size_t k = 0; k < 4; k++) {
			size_t l = strlen(names[k]);
			if (strncmp(a, names[k], l) == 0 && (a[l] == '\0' || a[l] == '=')) {
				dst = dsts[k];
				if (a[l] == '=')
					*dst = a + l + 1;
				else if (i + 1 < argc)
					*dst = argv[++i];
				else
					return usage_error(NULL, "option %s needs a value", names[k]);
				break;
			}
		}
		if (dst)
			continue;
		if (a[0] == '-')
			return usage_error(NULL, "unknown option %s (see thaw --help)", a);
		break;
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return THAW_EXIT_USAGE;
	}
	if ((sock != NULL) + (url != NULL) > 1)
		return usage_error(NULL, "--socket and --url exclude each other");

	char sdir[PATH_MAX];
	int sr = state_dir(state, sdir, sizeof(sdir));
	if (url) {
		if (!loopback_url(url) || strlen(url) >= sizeof(c.url))
			return usage_error(NULL, "--url must be http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT");
		snprintf(c.url, sizeof(c.url), "%s", url);
		size_t ul = strlen(c.url);
		while (ul && c.url[ul - 1] == '/')
			c.url[--ul] = '\0';
		char tf[PATH_MAX];
		if (!token_file) {
			if (sr < 0)
				return usage_error(NULL, "--url needs --token-file (no state directory)");
			snprintf(tf, sizeof(tf), "%.*s/token", (int)(sizeof(tf) - 7), sdir);
			token_file = tf;
		}
		int tr = read_token(token_file, c.token, sizeof(c.token));
		if (tr < 0) {
			fprintf(stderr, "thaw: cannot read the token file %s: %s\n", token_file, strerror(-tr));
			return THAW_EXIT_USAGE;
		}
	} else if (sock) {
		if (strlen(sock) >= sizeof(c.socket))
			return usage_error(NULL, "--socket: path too long");
		snprintf(c.socket, sizeof(c.socket), "%s", sock);
	} else {
		if (sr < 0)
			return usage_error(NULL, "no state directory: use --state DIR or --socket PATH");
		if (strlen(sdir) + sizeof("/thawd.sock") > sizeof(c.socket))
			return usage_error(NULL, "state directory path too long");
		snprintf(c.socket, sizeof(c.socket), "%.*s/thawd.sock", (int)(sizeof(c.socket) - 12), sdir);
	}

	static const struct {
		const char *name;
		int (*fn)(struct thaw_cli *, int, char **);
	} cmds[] = {
		{"session", cmd_session}, {"sessions", cmd_session}, {"repo", cmd_repo},   {"image", cmd_image},
		{"pool", cmd_pool},       {"warm", cmd_warm},         {"status", cmd_status},
	};
	const char *cmd = argv[i];
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(cmd, cmds[k].name) != 0)
			continue;
		if (cli_init(&c) < 0) {
			fprintf(stderr, "thaw: cannot initialise libcurl\n");
			return THAW_EXIT_API;
		}
		int r = cmds[k].fn(&c, argc - i - 1, argv + i + 1);
		cli_release(&c);
		return r;
	}
	if (strcmp(cmd, "help") == 0) {
		fputs(usage, stdout);
		return THAW_EXIT_OK;
	}
	return usage_error(NULL, "unknown command '%s' (see thaw --help)", cmd);
}
