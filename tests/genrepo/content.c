/* File contents: pseudo source code, prose and data in the language a file
 * name suggests, random bytes, multi-MiB files, the fixed files every
 * repository has, and edits of existing contents. Everything comes from the
 * seed it is given. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, realpath */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "genrepo.h"
#include "banned.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum lang { L_C, L_H, L_PY, L_SH, L_PROSE, L_DATA, L_BIN };

static const char *const nouns[] = {
	"buf", "len", "ctx", "node", "list", "item", "state", "flags", "count",
	"index", "offset", "size", "data", "key", "value", "hash", "table",
	"entry", "next", "prev", "head", "tail", "ref", "obj", "err", "path",
	"name", "mode", "cache", "page", "block", "chunk", "queue", "lock",
	"cond", "thread", "task", "job", "event", "timer", "conn", "sock", "req",
	"resp", "msg", "frame", "packet", "token", "parser", "lexer", "tree",
	"leaf", "root", "child", "parent", "stack", "heap", "arena", "pool",
	"slot", "cursor", "range",
};

static const char *const verbs[] = {
	"init", "free", "get", "set", "read", "write", "open", "close", "push",
	"pop", "find", "insert", "remove", "update", "parse", "emit", "alloc",
	"reset", "flush", "sync", "check", "apply", "merge", "split", "load",
	"store", "scan", "walk", "visit", "hash", "compare", "copy", "move",
	"grow", "shrink", "lock", "unlock", "wait", "signal", "start", "stop",
	"run", "encode", "decode", "resolve", "commit",
};

static const char *const ctypes[] = {
	"int", "size_t", "uint32_t", "uint64_t", "bool", "const char *",
	"struct ctx *", "void *", "double", "long", "unsigned", "ssize_t",
};

static const char *const words[] = {
	"the", "a", "of", "to", "and", "in", "is", "it", "that", "for", "on",
	"with", "as", "this", "be", "by", "are", "from", "or", "an", "when",
	"each", "which", "all", "can", "new", "not", "one", "only", "its",
	"file", "files", "tree", "object", "objects", "commit", "value", "cache",
	"entry", "entries", "buffer", "request", "server", "client", "thread",
	"lock", "read", "write", "reads", "writes", "returns", "error", "errors",
	"size", "bytes", "first", "last", "next", "before", "after", "every",
	"callers", "must", "should", "never", "always", "keeps", "holds", "list",
	"table", "index", "state", "path", "paths", "directory", "mount", "layer",
	"block", "blocks", "page", "memory", "disk", "time", "order", "queue",
	"events", "updates", "changes", "copy", "copies", "version", "format",
	"header", "record", "records", "stream", "offset", "checks", "data",
};

static const char *const levels[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};

static const char *const dir_words[] = {
	"core", "util", "net", "io", "parser", "codec", "render", "storage",
	"cache", "sched", "proto", "crypto", "auth", "http", "json", "xml", "db",
	"index", "query", "plan", "exec", "mem", "alloc", "gc", "vm", "jit", "ir",
	"opt", "lex", "ast", "sema", "diag", "logging", "trace", "metrics",
	"config", "cli", "server", "client", "worker", "queue", "event", "timer",
	"thread", "sync", "fs", "path", "image", "audio", "video", "font", "text",
	"unicode", "math", "geom", "physics", "ui", "widget", "layout", "style",
	"theme", "driver", "usb", "pci", "gpu", "shader", "mesh", "scene", "anim",
	"script", "plugin", "module", "api", "rpc", "rest", "model", "view",
	"controller", "service", "handler", "middleware", "router", "session",
	"token", "user", "admin", "billing", "report", "export", "import",
	"backup", "compress", "zip", "hash", "random", "common", "shared", "base",
	"platform", "linux", "posix", "win32", "darwin", "arch", "x86", "arm",
	"riscv", "internal", "detail", "impl", "experimental", "legacy", "compat",
	"contrib", "extra", "misc", "samples", "data", "res", "static",
	"templates", "locale", "i18n", "fixtures", "cases", "golden", "regress",
	"unit", "integration", "stress", "fuzzing", "mocks", "helpers",
};

static const char *const file_words[] = {
	"main", "util", "buffer", "list", "map", "hash", "tree", "node", "queue",
	"stack", "heap", "arena", "pool", "alloc", "string", "format", "parse",
	"lexer", "token", "reader", "writer", "stream", "file", "dir", "path",
	"socket", "conn", "server", "client", "request", "response", "header",
	"cache", "index", "table", "schema", "query", "plan", "exec", "engine",
	"worker", "thread", "mutex", "cond", "timer", "clock", "event", "loop",
	"signal", "config", "options", "args", "log", "trace", "stats", "error",
	"types", "defs", "common", "compat", "platform", "memory", "vector",
	"matrix", "image", "color", "font", "glyph", "shape", "layout", "widget",
	"window", "input", "output", "codec", "encode", "decode", "crc", "sha",
	"zlib", "inflate", "deflate", "archive", "bundle", "module", "plugin",
	"registry", "session", "auth", "crypto", "random", "uuid", "time",
	"date", "version", "checks", "helpers", "fixture", "sample", "demo",
};

static const char *const sub_gitignores[] = {
	"# Python bytecode\n__pycache__/\n*.pyc\n",
	"# Editor files\n*.swp\n*~\n",
	"# Packaging output\ndist/\n/out/\n",
	"node_modules/\n*.log\n",
	"*.o\n*.d\n*.a\n",
};

static const char license_text[] =
	"MIT License\n"
	"\n"
	"Copyright (c) 2026 Thaw Generator\n"
	"\n"
	"Permission is hereby granted, free of charge, to any person obtaining a copy\n"
	"of this software and associated documentation files (the \"Software\"), to deal\n"
	"in the Software without restriction, including without limitation the rights\n"
	"to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
	"copies of the Software, and to permit persons to whom the Software is\n"
	"furnished to do so, subject to the following conditions:\n"
	"\n"
	"The above copyright notice and this permission notice shall be included in\n"
	"all copies or substantial portions of the Software.\n"
	"\n"
	"THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
	"IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
	"FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.\n";

static const struct fixed_file fixed_files[] = {
	{".gitignore",
	 "# Build output\nbuild/\n*.o\n*.a\nnode_modules/\n*.tmp\n", false},
	{".gitattributes",
	 "# Generated by thaw-genrepo\n"
	 "*.c diff=cpp\n*.h diff=cpp\n*.sh text eol=lf\n"
	 "*.png binary\n*.jpg binary\n*.bin binary\n*.dat binary\n*.img binary\n", false},
	{".gitmodules",
	 "[submodule \"vendor/submod\"]\n"
	 "\tpath = vendor/submod\n"
	 "\turl = https://example.invalid/thaw/submod.git\n", false},
	{"LICENSE", license_text, false},
	{"README.md",
	 "# Generated repository\n\n"
	 "This repository was generated by `thaw-genrepo` for tests and benchmarks.\n"
	 "Its contents are pseudo-random but deterministic: the same seed and options\n"
	 "give the same commits.\n\n"
	 "* `cproject/` is a small C program: run `make -C cproject`.\n"
	 "* `" GEN_DEEP_PATH "` is five directories deep.\n", false},
	{"Makefile",
	 "# Top-level convenience targets.\n"
	 "all:\n\t$(MAKE) -C cproject\n\n"
	 "clean:\n\t$(MAKE) -C cproject clean\n\n"
	 ".PHONY: all clean\n", false},
	{"tools/build.sh",
	 "#!/bin/sh\n# Builds the C project.\nset -e\ncd \"$(dirname \"$0\")/..\"\n"
	 "make -C cproject \"$@\"\n", true},
	{"cproject/.gitignore", "*.o\n/hello\n", false},
	{"cproject/Makefile",
	 "CFLAGS ?= -O2 -Wall\n"
	 "OBJS = main.o util.o\n"
	 "\n"
	 "all: hello\n"
	 "\n"
	 "hello: $(OBJS)\n"
	 "\t$(CC) $(CFLAGS) -o $@ $(OBJS)\n"
	 "\n"
	 "main.o: main.c util.h\n"
	 "util.o: util.c util.h\n"
	 "\n"
	 "clean:\n"
	 "\trm -f hello $(OBJS)\n"
	 "\n"
	 ".PHONY: all clean\n", false},
	{"cproject/util.h",
	 "#ifndef CPROJECT_UTIL_H\n"
	 "#define CPROJECT_UTIL_H\n"
	 "\n"
	 "int util_sum(const int *v, int n);\n"
	 "const char *util_greeting(void);\n"
	 "\n"
	 "#endif\n", false},
	{"cproject/util.c",
	 "#include \"util.h\"\n"
	 "\n"
	 "int util_sum(const int *v, int n)\n"
	 "{\n"
	 "\tint s = 0;\n"
	 "\n"
	 "\tfor (int i = 0; i < n; i++)\n"
	 "\t\ts += v[i];\n"
	 "\treturn s;\n"
	 "}\n"
	 "\n"
	 "const char *util_greeting(void)\n"
	 "{\n"
	 "\treturn \"hello from cproject\";\n"
	 "}\n", false},
	{"cproject/main.c",
	 "#include <stdio.h>\n"
	 "\n"
	 "#include \"util.h\"\n"
	 "\n"
	 "int main(void)\n"
	 "{\n"
	 "\tint v[] = {1, 2, 3, 4};\n"
	 "\n"
	 "\tprintf(\"%s: sum=%d\\n\", util_greeting(), util_sum(v, 4));\n"
	 "\treturn 0;\n"
	 "}\n", false},
	{"assets/.keep", "", false},
	{"lib/.keep", "", false},
	{"tests/fixtures/empty.txt", "", false},
};

const struct fixed_file *content_fixed_files(size_t *count)
{
	*count = COUNT(fixed_files);
	return fixed_files;
}

const char *content_sub_gitignore(size_t i)
{
	return sub_gitignores[i % COUNT(sub_gitignores)];
}

size_t content_sub_gitignore_count(void)
{
	return COUNT(sub_gitignores);
}

const char *content_dir_word(struct rng *r)
{
	return dir_words[rng_below(r, COUNT(dir_words))];
}

const char *content_file_word(struct rng *r)
{
	return file_words[rng_below(r, COUNT(file_words))];
}

#define PICK(r, a) ((a)[rng_below((r), COUNT(a))])

static enum lang lang_of(const char *name, bool exec)
{
	static const struct {
		const char *ext;
		enum lang lang;
	} map[] = {
		{".c", L_C}, {".cc", L_C}, {".cpp", L_C}, {".go", L_C},
		{".rs", L_C}, {".S", L_C}, {".js", L_C}, {".java", L_C},
		{".h", L_H}, {".hpp", L_H}, {".inc", L_H},
		{".py", L_PY}, {".sh", L_SH}, {".pl", L_SH}, {".bash", L_SH},
		{".md", L_PROSE}, {".txt", L_PROSE}, {".rst", L_PROSE},
		{".json", L_DATA}, {".yml", L_DATA}, {".toml", L_DATA},
		{".svg", L_DATA}, {".css", L_DATA}, {".html", L_DATA},
		{".xml", L_DATA}, {".cfg", L_DATA},
		{".png", L_BIN}, {".jpg", L_BIN}, {".bin", L_BIN}, {".dat", L_BIN},
		{".ico", L_BIN}, {".gz", L_BIN}, {".ttf", L_BIN}, {".wav", L_BIN},
		{".wasm", L_BIN}, {".img", L_BIN},
	};
	const char *dot = strrchr(name, '.');

	if (dot && dot != name) {
		for (size_t i = 0; i < COUNT(map); i++)
			if (strcmp(dot, map[i].ext) == 0)
				return map[i].lang;
	}
	return exec ? L_SH : L_PROSE;
}

static void add_ident(struct buf *b, struct rng *r)
{
	buf_adds(b, PICK(r, nouns));
	if (rng_chance(r, 400)) {
		buf_addc(b, '_');
		buf_adds(b, PICK(r, nouns));
	}
}

static void add_func(struct buf *b, struct rng *r)
{
	buf_adds(b, PICK(r, nouns));
	buf_addc(b, '_');
	buf_adds(b, PICK(r, verbs));
}

static void add_words(struct buf *b, struct rng *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (i)
			buf_addc(b, ' ');
		buf_adds(b, PICK(r, words));
	}
}

static void add_indent(struct buf *b, unsigned depth, bool tabs)
{
	for (unsigned i = 0; i < depth; i++)
		buf_adds(b, tabs ? "\t" : "    ");
}

/* One C statement (one or two lines) at the given depth. */
static void c_stmt(struct buf *b, struct rng *r, unsigned depth)
{
	add_indent(b, depth, true);
	switch (rng_below(r, 9)) {
	case 0:
		buf_adds(b, PICK(r, ctypes));
		buf_addc(b, ' ');
		add_ident(b, r);
		buf_adds(b, " = ");
		buf_addu(b, rng_below(r, 4096));
		buf_adds(b, ";\n");
		break;
	case 1:
		add_ident(b, r);
		buf_adds(b, " = ");
		add_func(b, r);
		buf_addc(b, '(');
		add_ident(b, r);
		buf_adds(b, ", ");
		buf_addu(b, rng_below(r, 256));
		buf_adds(b, ");\n");
		break;
	case 2:
		buf_adds(b, "if (");
		add_ident(b, r);
		buf_adds(b, rng_chance(r, 500) ? " > " : " == ");
		buf_addu(b, rng_below(r, 1000));
		buf_adds(b, ")\n");
		add_indent(b, depth + 1, true);
		buf_adds(b, "return ");
		add_ident(b, r);
		buf_adds(b, ";\n");
		break;
	case 3:
		buf_adds(b, "/* ");
		add_words(b, r, (unsigned)rng_range(r, 3, 10));
		buf_adds(b, ". */\n");
		break;
	case 4:
		buf_adds(b, "for (size_t i = 0; i < ");
		add_ident(b, r);
		buf_adds(b, "->");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, "; i++)\n");
		add_indent(b, depth + 1, true);
		add_ident(b, r);
		buf_adds(b, "[i] = ");
		add_func(b, r);
		buf_adds(b, "(i);\n");
		break;
	case 5:
		add_ident(b, r);
		buf_adds(b, "->");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, " = ");
		add_ident(b, r);
		buf_adds(b, rng_chance(r, 500) ? " + " : " | ");
		buf_addu(b, rng_below(r, 64));
		buf_adds(b, ";\n");
		break;
	case 6:
		buf_adds(b, "if ((err = ");
		add_func(b, r);
		buf_adds(b, "(ctx, ");
		add_ident(b, r);
		buf_adds(b, ")) < 0)\n");
		add_indent(b, depth + 1, true);
		buf_adds(b, "goto done;\n");
		break;
	case 7:
		add_func(b, r);
		buf_adds(b, "(&");
		add_ident(b, r);
		buf_adds(b, ");\n");
		break;
	default:
		buf_adds(b, "assert(");
		add_ident(b, r);
		buf_adds(b, " != NULL);\n");
		break;
	}
}

static void c_function(struct buf *b, struct rng *r)
{
	unsigned n = (unsigned)rng_range(r, 3, 14);

	if (rng_chance(r, 300)) {
		buf_adds(b, "/*\n * ");
		add_words(b, r, (unsigned)rng_range(r, 6, 12));
		buf_adds(b, ".\n * ");
		add_words(b, r, (unsigned)rng_range(r, 4, 10));
		buf_adds(b, ".\n */\n");
	}
	if (rng_chance(r, 600))
		buf_adds(b, "static ");
	buf_adds(b, PICK(r, ctypes));
	buf_addc(b, ' ');
	add_func(b, r);
	buf_adds(b, "(struct ");
	buf_adds(b, PICK(r, nouns));
	buf_adds(b, " *");
	buf_adds(b, PICK(r, nouns));
	buf_adds(b, ", size_t n)\n{\n\tint err = 0;\n\n");
	for (unsigned i = 0; i < n; i++)
		c_stmt(b, r, 1);
	buf_adds(b, "done:\n\treturn err;\n}\n\n");
}

static void h_decl(struct buf *b, struct rng *r)
{
	if (rng_chance(r, 200)) {
		buf_adds(b, "struct ");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, " {\n");
		for (unsigned i = (unsigned)rng_range(r, 2, 8); i > 0; i--) {
			buf_addc(b, '\t');
			buf_adds(b, PICK(r, ctypes));
			buf_addc(b, ' ');
			add_ident(b, r);
			buf_adds(b, ";\n");
		}
		buf_adds(b, "};\n\n");
		return;
	}
	if (rng_chance(r, 250)) {
		buf_adds(b, "/* ");
		add_words(b, r, (unsigned)rng_range(r, 5, 12));
		buf_adds(b, ". */\n");
	}
	buf_adds(b, PICK(r, ctypes));
	buf_addc(b, ' ');
	add_func(b, r);
	buf_adds(b, "(struct ");
	buf_adds(b, PICK(r, nouns));
	buf_adds(b, " *");
	buf_adds(b, PICK(r, nouns));
	buf_adds(b, ", ");
	buf_adds(b, PICK(r, ctypes));
	buf_addc(b, ' ');
	add_ident(b, r);
	buf_adds(b, ");\n");
}

static void py_stmt(struct buf *b, struct rng *r, unsigned depth)
{
	add_indent(b, depth, false);
	switch (rng_below(r, 5)) {
	case 0:
		add_ident(b, r);
		buf_adds(b, " = ");
		add_func(b, r);
		buf_addc(b, '(');
		add_ident(b, r);
		buf_adds(b, ", ");
		buf_addu(b, rng_below(r, 100));
		buf_adds(b, ")\n");
		break;
	case 1:
		buf_adds(b, "if ");
		add_ident(b, r);
		buf_adds(b, " is None:\n");
		add_indent(b, depth + 1, false);
		buf_adds(b, "raise ValueError(\"");
		add_words(b, r, (unsigned)rng_range(r, 2, 6));
		buf_adds(b, "\")\n");
		break;
	case 2:
		buf_adds(b, "# ");
		add_words(b, r, (unsigned)rng_range(r, 4, 10));
		buf_addc(b, '\n');
		break;
	case 3:
		buf_adds(b, "for item in ");
		add_ident(b, r);
		buf_adds(b, ":\n");
		add_indent(b, depth + 1, false);
		add_ident(b, r);
		buf_adds(b, ".append(item)\n");
		break;
	default:
		buf_adds(b, "self.");
		add_ident(b, r);
		buf_adds(b, " = {\"");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, "\": ");
		buf_addu(b, rng_below(r, 1000));
		buf_adds(b, "}\n");
		break;
	}
}

static void sh_stmt(struct buf *b, struct rng *r)
{
	switch (rng_below(r, 5)) {
	case 0:
		buf_adds(b, "echo \"");
		add_words(b, r, (unsigned)rng_range(r, 2, 6));
		buf_adds(b, " $");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, "\"\n");
		break;
	case 1:
		buf_adds(b, "# ");
		add_words(b, r, (unsigned)rng_range(r, 4, 10));
		buf_addc(b, '\n');
		break;
	case 2:
		buf_adds(b, "for f in ");
		buf_adds(b, PICK(r, dir_words));
		buf_adds(b, "/*.");
		buf_adds(b, rng_chance(r, 500) ? "c" : "txt");
		buf_adds(b, "; do\n    ");
		add_func(b, r);
		buf_adds(b, " \"$f\"\ndone\n");
		break;
	case 3:
		buf_adds(b, "if [ -n \"${");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, ":-}\" ]; then\n    ");
		add_func(b, r);
		buf_adds(b, " \"$@\"\nfi\n");
		break;
	default:
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, "=${");
		buf_adds(b, PICK(r, nouns));
		buf_adds(b, ":-");
		buf_addu(b, rng_below(r, 100));
		buf_adds(b, "}\n");
		break;
	}
}

static void prose_line(struct buf *b, struct rng *r)
{
	unsigned n = (unsigned)rng_range(r, 6, 13);
	size_t at = b->len;

	buf_adds(b, PICK(r, words));
	/* Lines start with a capital letter. */
	if (!b->oom && b->p[at] >= 'a' && b->p[at] <= 'z')
		b->p[at] = (char)(b->p[at] - 'a' + 'A');
	for (unsigned i = 1; i < n; i++) {
		buf_addc(b, ' ');
		buf_adds(b, PICK(r, words));
	}
	buf_adds(b, rng_chance(r, 300) ? ".\n" : "\n");
}

static void data_line(struct buf *b, struct rng *r)
{
	buf_adds(b, "  \"");
	add_ident(b, r);
	buf_adds(b, "\": ");
	if (rng_chance(r, 500)) {
		buf_addu(b, rng_below(r, 100000));
	} else {
		buf_addc(b, '"');
		add_words(b, r, (unsigned)rng_range(r, 1, 5));
		buf_addc(b, '"');
	}
	buf_adds(b, ",\n");
}

/* One edit's worth of lines in a language. */
static void lang_lines(struct buf *b, struct rng *r, enum lang lang, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		switch (lang) {
		case L_C:
			c_stmt(b, r, 1);
			break;
		case L_H:
			h_decl(b, r);
			break;
		case L_PY:
			py_stmt(b, r, 1);
			break;
		case L_SH:
			sh_stmt(b, r);
			break;
		case L_DATA:
			data_line(b, r);
			break;
		default:
			prose_line(b, r);
			break;
		}
	}
}

static void text_header(struct buf *b, struct rng *r, enum lang lang, const char *name, bool exec)
{
	switch (lang) {
	case L_C:
	case L_H:
		buf_adds(b, "/* SPDX-License-Identifier: MIT */\n/*\n * ");
		buf_adds(b, name);
		buf_adds(b, ": ");
		add_words(b, r, (unsigned)rng_range(r, 4, 10));
		buf_adds(b, ".\n */\n");
		if (lang == L_H)
			buf_adds(b, "#pragma once\n\n#include <stddef.h>\n#include <stdint.h>\n\n");
		else
			buf_adds(b, "#include <assert.h>\n#include <stdlib.h>\n\n");
		break;
	case L_PY:
		if (exec)
			buf_adds(b, "#!/usr/bin/env python3\n");
		buf_adds(b, "\"\"\"");
		add_words(b, r, (unsigned)rng_range(r, 4, 10));
		buf_adds(b, ".\"\"\"\n\nimport os\nimport sys\n\n");
		break;
	case L_SH:
		buf_adds(b, "#!/bin/sh\n# ");
		add_words(b, r, (unsigned)rng_range(r, 4, 10));
		buf_adds(b, "\nset -eu\n\n");
		break;
	case L_DATA:
		buf_adds(b, "{\n");
		break;
	default:
		buf_adds(b, "# ");
		add_words(b, r, (unsigned)rng_range(r, 2, 5));
		buf_adds(b, "\n\n");
		break;
	}
}

/* Text of about `size` bytes, cut to exactly size and ending in a newline. */
static void gen_text(struct buf *b, struct rng *r, const char *name, bool exec, uint64_t size)
{
	enum lang lang = lang_of(name, exec);
	size_t start = b->len, end;

	if (size == 0)
		return;
	buf_reserve(b, (size_t)size + 4096);
	text_header(b, r, lang, name, exec);
	while (!b->oom && b->len - start < size) {
		switch (lang) {
		case L_C:
			c_function(b, r);
			break;
		case L_H:
			h_decl(b, r);
			break;
		case L_PY:
			buf_adds(b, "def ");
			add_func(b, r);
			buf_adds(b, "(self, ");
			add_ident(b, r);
			buf_adds(b, "):\n");
			for (unsigned i = (unsigned)rng_range(r, 2, 8); i > 0; i--)
				py_stmt(b, r, 1);
			buf_adds(b, "    return self\n\n");
			break;
		case L_PROSE:
			if (rng_chance(r, 80)) {
				buf_adds(b, "\n## ");
				add_words(b, r, (unsigned)rng_range(r, 2, 4));
				buf_adds(b, "\n\n");
			}
			lang_lines(b, r, lang, 4);
			break;
		default:
			lang_lines(b, r, lang, 4);
			break;
		}
	}
	if (b->oom)
		return;
	end = start + (size_t)size;
	b->len = end;
	b->p[end - 1] = '\n';
	b->p[end] = '\0';
}

static void gen_random(struct buf *b, struct rng *r, uint64_t size)
{
	size_t start = b->len, n = (size_t)size;

	buf_reserve(b, n + 8);
	if (b->oom)
		return;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng_next(r);
		memcpy(b->p + start + i, &v, 8);
	}
	b->len = start + n;
	b->p[b->len] = '\0';
}

static void gen_binary(struct buf *b, struct rng *r, const char *name, uint64_t size)
{
	static const char png[] = "\x89PNG\r\n\x1a\n";
	size_t start = b->len;
	const char *dot = strrchr(name, '.');

	gen_random(b, r, size);
	/* A recognizable magic number where the name suggests one. */
	if (!b->oom && dot && strcmp(dot, ".png") == 0 && size >= sizeof(png) - 1)
		memcpy(b->p + start, png, sizeof(png) - 1);
}

/* One line of a service's log. */
static void log_line(struct buf *b, struct rng *r, uint64_t *ms)
{
	*ms += rng_below(r, 50);
	buf_addf(b, "2026-01-01T%02u:%02u:%02u.%03uZ %-5s ", (unsigned)(*ms / 3600000 % 24),
		 (unsigned)(*ms / 60000 % 60), (unsigned)(*ms / 1000 % 60), (unsigned)(*ms % 1000),
		 PICK(r, levels));
	buf_adds(b, PICK(r, nouns));
	buf_addc(b, '-');
	buf_addu(b, rng_below(r, 8));
	buf_addc(b, ' ');
	add_words(b, r, (unsigned)rng_range(r, 3, 8));
	buf_adds(b, " id=");
	buf_addu(b, rng_below(r, 100000));
	buf_adds(b, " took=");
	buf_addu(b, rng_below(r, 500));
	buf_adds(b, "ms\n");
}

/* A compressible multi-MiB binary, like a disk image or a database file:
 * 4 KiB pages that are zero, copies of a few pages of log text, or random.
 * (Text of that size would take zlib and the delta search several times
 * longer for the same realism.) */
static void gen_big_image(struct buf *b, struct rng *r, uint64_t size)
{
	enum { PAGE = 4096, PATTERNS = 8 };
	struct buf pat = {0};
	uint64_t ms = 0;
	size_t start = b->len, n = (size_t)size;

	while (!pat.oom && pat.len < PATTERNS * PAGE)
		log_line(&pat, r, &ms);
	buf_reserve(b, n);
	if (b->oom || pat.oom) {
		b->oom = true;
		goto done;
	}
	for (size_t off = 0; off < n; off += PAGE) {
		size_t len = n - off < PAGE ? n - off : PAGE;
		char *dst = b->p + start + off;
		uint64_t u = rng_below(r, 100);

		if (u < 35) {
			memset(dst, 0, len);
		} else if (u < 70) {
			memcpy(dst, pat.p + rng_below(r, PATTERNS) * PAGE, len);
		} else {
			for (size_t i = 0; i < len; i += 8) {
				uint64_t v = rng_next(r);

				memcpy(dst + i, &v, len - i < 8 ? len - i : 8);
			}
		}
	}
	b->len = start + n;
	b->p[b->len] = '\0';
done:
	buf_free(&pat);
}

int content_generate(struct buf *out, enum ckind kind, const char *name, bool exec,
		     uint64_t size, uint64_t seed)
{
	struct rng r;

	rng_seed(&r, seed);
	switch (kind) {
	case CK_TEXT:
		gen_text(out, &r, name, exec, size);
		break;
	case CK_BINARY:
		gen_binary(out, &r, name, size);
		break;
	case CK_BIG_IMAGE:
		gen_big_image(out, &r, size);
		break;
	case CK_BIG_RANDOM:
		gen_random(out, &r, size);
		break;
	default:
		return -EINVAL;
	}
	return buf_error(out);
}

static bool looks_binary(const char *p, size_t len)
{
	return memchr(p, 0, len < 8000 ? len : 8000) != NULL;
}

static void modify_binary(struct buf *out, struct rng *r, const char *old, size_t len)
{
	unsigned edits = (unsigned)rng_range(r, 1, 4);

	if (len == 0) {
		gen_random(out, r, rng_range(r, 256, 4096));
		return;
	}
	buf_add(out, old, len);
	if (out->oom)
		return;
	for (unsigned i = 0; i < edits; i++) {
		size_t off = (size_t)rng_below(r, len);
		size_t n = (size_t)rng_range(r, 16, 4096);

		if (n > len - off)
			n = len - off;
		for (size_t j = 0; j < n; j++)
			out->p[off + j] = (char)rng_next(r);
	}
}

/* Replaces a few line ranges with new lines; sometimes appends lines. */
static void modify_text(struct buf *out, struct rng *r, const char *old, size_t len,
			enum lang lang)
{
	size_t nlines = 0, *starts = NULL, pos = 0;
	unsigned edits = (unsigned)rng_range(r, 1, 3);

	for (size_t i = 0; i < len; i++)
		if (old[i] == '\n')
			nlines++;
	if (len && old[len - 1] != '\n')
		nlines++;
	starts = malloc((nlines + 1) * sizeof(*starts));
	if (!starts) {
		out->oom = true;
		return;
	}
	starts[0] = 0;
	for (size_t i = 0, l = 1; i < len && l <= nlines; i++)
		if (old[i] == '\n')
			starts[l++] = i + 1;
	starts[nlines] = len;
	buf_reserve(out, len + 1024);
	for (unsigned e = 0; e < edits && nlines > 0; e++) {
		size_t lo = nlines * e / edits, hi = nlines * (e + 1) / edits;
		size_t s, d, avail;

		if (hi <= lo)
			continue;
		s = lo + (size_t)rng_below(r, hi - lo);
		if (starts[s] < pos)
			continue;
		avail = hi - s;
		d = (size_t)rng_below(r, (avail < 5 ? avail : 5) + 1);
		buf_add(out, old + pos, starts[s] - pos);
		lang_lines(out, r, lang, (unsigned)rng_range(r, 1, 8));
		pos = starts[s + d];
	}
	buf_add(out, old + pos, len - pos);
	if (len && old[len - 1] != '\n')
		buf_addc(out, '\n');
	if (len == 0 || rng_chance(r, 250))
		lang_lines(out, r, lang, (unsigned)rng_range(r, 1, 10));
	free(starts);
}

int content_modify(struct buf *out, const char *old, size_t len, const char *name,
		   uint64_t seed, size_t min, size_t max)
{
	enum lang lang = lang_of(name, false);
	size_t start = out->len;
	struct rng r;

	rng_seed(&r, seed);
	if ((lang == L_BIN && len > 0) || looks_binary(old, len)) {
		modify_binary(out, &r, old, len);
		return buf_error(out);
	}
	if (lang == L_BIN)
		lang = L_PROSE;
	modify_text(out, &r, old, len, lang);
	if (max > 0) {
		while (!out->oom && out->len - start < min)
			lang_lines(out, &r, lang, 4);
		if (!out->oom && out->len - start > max) {
			const char *cut = out->p + start + max;
			size_t keep;

			while (cut > out->p + start && cut[-1] != '\n')
				cut--;
			keep = (size_t)(cut - (out->p + start));
			if (keep < min)
				keep = max; /* one very long line: cut inside it */
			out->len = start + keep;
			out->p[out->len - 1] = '\n';
			out->p[out->len] = '\0';
		}
	}
	return buf_error(out);
}
