/* SPDX-License-Identifier: Apache-2.0 */
/*
 * symbolize.c - addresses of this process -> functions, files, lines and
 * inline frames, with elfutils' libdwfl over /proc/self/maps. Function
 * names come from the symbol tables (.symtab, so static functions too, or
 * .dynsym), are demangled with __cxa_demangle, and inline frames come from
 * the DWARF scopes around the address (not read from big separate debug
 * files: MAX_SEPARATE_DEBUG). Results are cached by address; the module
 * list is re-read when the code mapped from files changes (dlopen, dlclose).
 * Runs on agent threads only (the exporter, the pull endpoint).
 */
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <gelf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/base.h"
#include "../core/buf.h"
#include "../core/hindex.h"
#include "../core/strtab.h"
#include "agent.h"

/* libstdc++'s demangler (libkiln links libstdc++). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

#define MAX_CACHE 262144	/* addresses remembered before the cache restarts */
/*
 * DWARF in a separate debug file bigger than this is not read: libdw
 * decompresses all of a file's debug sections at once (glibc's: ~12 MB of
 * heap), which alone was a third of what the agent added to a program.
 * Such modules keep their symbol table (static functions are named too)
 * but get no inline frames or lines.
 */
#define MAX_SEPARATE_DEBUG (1u << 20)

struct frame {
	kl_strid function, system_name, file;
	int64_t line;
};

struct entry {
	uintptr_t pc;
	int32_t map;		/* index into maps, -1 = no module */
	uint32_t frame_start, nframes;
};

/* A compile unit's address range (file addresses), for modules without .debug_aranges. */
struct cu_range {
	uint64_t lo, hi;
	Dwarf_Off die;
};

struct map {
	uint64_t start, limit;
	kl_strid path, build_id;
	bool has_lines;
	bool cus_built;
	int8_t dwarf;		/* 0: not decided, 1: read the DWARF, -1: symbols only */
	struct cu_range *cus;	/* sorted by lo */
	size_t ncus;
};

struct agent_symbolizer {
	Dwfl *dwfl;
	uint64_t maps_hash;	/* of /proc/self/maps when dwfl was built */
	struct kl_strtab *strs;
	struct kl_hindex index;	/* pc -> entry */
	struct entry *entries;
	size_t nentries, entries_cap;
	struct frame *frames;
	size_t nframes, frames_cap;
	struct map *maps;
	size_t nmaps, maps_cap;
};

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

static void cache_clear(struct agent_symbolizer *s)
{
	for (size_t i = 0; i < s->nmaps; i++)
		kl_free(s->maps[i].cus);
	kl_hindex_clear(&s->index);
	s->nentries = s->nframes = s->nmaps = 0;
	kl_strtab_free(s->strs);
	s->strs = kl_strtab_new();
}

/* Hash of /proc/self/maps, 0 when unreadable. */
static uint64_t maps_hash(void)
{
	struct kl_buf b = KL_BUF_INIT;
	char chunk[4096];
	uint64_t h = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	kl_buf_init(&b, 64 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		kl_buf_add(&b, chunk, (size_t)n);
	close(fd);
	if (kl_buf_error(&b) || !b.len)
		goto out;
	/*
	 * Only the lines of executable code from files (what dlopen and
	 * dlclose change): anonymous ones change all the time (malloc arenas
	 * growing, thread stacks), and so do the files libdwfl itself maps to
	 * read (not executable); rebuilding for them emptied the cache and
	 * re-read the debug info at every build.
	 */
	for (size_t at = 0; at < b.len;) {
		const char *line = b.data + at, *nl = memchr(line, '\n', b.len - at);
		size_t len = nl ? (size_t)(nl - line) + 1 : b.len - at;
		const char *perms = memchr(line, ' ', len);

		if (perms && (size_t)(perms - line) + 4 < len && perms[3] == 'x' &&
		    memchr(line, '/', len))
			h = kl_hash_u64(h ^ kl_hash(line, len));
		at += len;
	}
	h |= 1;
out:
	kl_buf_release(&b);
	return h;
}

/* libdwfl's view of the modules now mapped; 0 or -ENOMEM. */
static int dwfl_open(struct agent_symbolizer *s)
{
	s->dwfl = dwfl_begin(&callbacks);
	if (!s->dwfl)
		return -ENOMEM;
	dwfl_report_begin(s->dwfl);
	/* errors (an unreadable file) leave those modules out: their frames become module+0x... */
	dwfl_linux_proc_report(s->dwfl, getpid());
	dwfl_report_end(s->dwfl, NULL, NULL);
	return 0;
}

int agent_symbolizer_refresh(struct agent_symbolizer *s)
{
	uint64_t h = maps_hash();

	if (s->maps_hash && h == s->maps_hash)
		return 0;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	s->dwfl = NULL;
	cache_clear(s);
	s->maps_hash = h;
	if (!s->strs)
		return -ENOMEM;
	return dwfl_open(s);
}

void agent_symbolizer_idle(struct agent_symbolizer *s)
{
	if (!s || !s->dwfl)
		return;
	/* the address cache stays; the next miss opens libdwfl again (dwfl_open) */
	dwfl_end(s->dwfl);
	s->dwfl = NULL;
}

struct agent_symbolizer *agent_symbolizer_new(void)
{
	struct agent_symbolizer *s = kl_calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->strs = kl_strtab_new();
	if (!s->strs || kl_hindex_init(&s->index, 4096) || agent_symbolizer_refresh(s)) {
		agent_symbolizer_free(s);
		return NULL;
	}
	return s;
}

void agent_symbolizer_free(struct agent_symbolizer *s)
{
	if (!s)
		return;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	for (size_t i = 0; i < s->nmaps; i++)
		kl_free(s->maps[i].cus);
	kl_hindex_release(&s->index);
	kl_strtab_free(s->strs);
	kl_free(s->entries);
	kl_free(s->frames);
	kl_free(s->maps);
	kl_free(s);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The map index of mod, added on first sight (index + 1 kept in its userdata). */
static int32_t map_of(struct agent_symbolizer *s, Dwfl_Module *mod)
{
	void **userdata;
	Dwarf_Addr start, end, bias;
	const char *name, *mainfile = NULL;
	const unsigned char *bits;
	GElf_Addr vaddr;
	struct map *m;
	int n;

	name = dwfl_module_info(mod, &userdata, &start, &end, NULL, NULL, &mainfile, NULL);
	if (*userdata)
		return (int32_t)(uintptr_t)*userdata - 1;
	/* known from before agent_symbolizer_idle: same mapping, same file (maps_hash) */
	for (size_t i = 0; i < s->nmaps; i++) {
		if (s->maps[i].start == start && s->maps[i].limit == end) {
			*userdata = (void *)(uintptr_t)(i + 1);
			return (int32_t)i;
		}
	}
	if (KL_GROW(s->maps, s->maps_cap, s->nmaps + 1))
		return -1;
	m = &s->maps[s->nmaps];
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->limit = end;
	dwfl_module_getelf(mod, &bias);	/* loads the file, so the build id is known */
	dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
	m->path = kl_strtab_intern_cstr(s->strs, mainfile ? mainfile : name ? name : "");
	n = dwfl_module_build_id(mod, &bits, &vaddr);
	if (n > 0) {
		char hex[2 * 64 + 1];
		int len = n > 64 ? 64 : n;

		for (int i = 0; i < len; i++)
			snprintf(hex + 2 * i, 3, "%02x", bits[i]);
		m->build_id = kl_strtab_intern(s->strs, hex, (size_t)len * 2);
	}
	*userdata = (void *)(uintptr_t)(s->nmaps + 1);
	return (int32_t)s->nmaps++;
}

static int cmp_range(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Every compile unit's ranges of m's module, sorted. Failures leave the table short. */
static void build_cu_ranges(struct map *m, Dwarf *dw)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	Dwarf_Half version;
	uint8_t unit_type;
	size_t cap = 0;

	m->cus_built = true;
	while (dwarf_get_units(dw, cu, &cu, &version, &unit_type, &cudie, NULL) == 0) {
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		if (unit_type != DW_UT_compile && unit_type != DW_UT_partial)
			continue;
		while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
			if (hi <= lo)
				continue;
			if (KL_GROW(m->cus, cap, m->ncus + 1))
				goto out;
			m->cus[m->ncus++] = (struct cu_range){ lo, hi, dwarf_dieoffset(&cudie) };
		}
	}
out:
	if (m->ncus)
		qsort(m->cus, m->ncus, sizeof(*m->cus), cmp_range);
}

/*
 * The compile unit holding pc when libdw finds none: compilers that emit no
 * .debug_aranges (clang by default) leave dwfl_module_addrdie blind on
 * libdw before 0.189, so look the address up in the units' own ranges.
 */
static Dwarf_Die *cu_fallback(struct agent_symbolizer *s, int32_t map, Dwfl_Module *mod,
			      uintptr_t pc, Dwarf_Die *out, Dwarf_Addr *bias)
{
	Dwarf *dw = dwfl_module_getdwarf(mod, bias);
	struct map *m;
	size_t lo = 0, hi;
	uint64_t a;

	if (!dw || map < 0)
		return NULL;
	m = &s->maps[map];
	if (!m->cus_built)
		build_cu_ranges(m, dw);
	a = pc - *bias;
	hi = m->ncus;
	while (lo < hi) {	/* first range with lo > a */
		size_t mid = lo + (hi - lo) / 2;

		if (m->cus[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* nested or overlapping units are rare: look back a little */
	for (size_t i = lo, k = 0; i-- > 0 && k < 8; k++) {
		if (m->cus[i].lo <= a && a < m->cus[i].hi)
			return dwarf_offdie(dw, m->cus[i].die, out);
	}
	return NULL;
}

/* A name for a frame: demangled when mangled. */
static void add_names(struct agent_symbolizer *s, struct frame *f, const char *name)
{
	char *dem = NULL;
	int status = -1;

	const char *at = strchr(name, '@');
	char plain[512];

	f->system_name = kl_strtab_intern_cstr(s->strs, name);
	if (at && (size_t)(at - name) < sizeof(plain)) {
		/* symbol versions ("memcpy@@GLIBC_2.14") are not part of the function's name */
		memcpy(plain, name, (size_t)(at - name));
		plain[at - name] = 0;
		name = plain;
	}
	if (name[0] == '_' && name[1] == 'Z')
		dem = __cxa_demangle(name, NULL, NULL, &status);
	f->function = status == 0 && dem ? kl_strtab_intern_cstr(s->strs, dem)
		      : kl_strtab_intern_cstr(s->strs, name);
	free(dem);
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *n;

	if ((dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
	     dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a)) &&
	    (n = dwarf_formstring(&a)))
		return n;
	if (dwarf_attr_integrate(die, DW_AT_name, &a) && (n = dwarf_formstring(&a)))
		return n;
	return NULL;
}

static int push_frame(struct agent_symbolizer *s, const char *name, const char *file,
		      int64_t line)
{
	struct frame *f;

	if (KL_GROW(s->frames, s->frames_cap, s->nframes + 1))
		return -ENOMEM;
	f = &s->frames[s->nframes++];
	memset(f, 0, sizeof(*f));
	add_names(s, f, name);
	f->file = file ? kl_strtab_intern_cstr(s->strs, file) : 0;
	f->line = line;
	return 0;
}

/* Whether mod's own file has DWARF (section .debug_info). */
static bool has_own_dwarf(Dwfl_Module *mod)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
		    !strcmp(name, ".debug_info"))
			return true;
	}
	return false;
}

/*
 * Whether pc's DWARF is worth reading: the module's own, or a separate
 * debug file of at most MAX_SEPARATE_DEBUG bytes. Decided once per module
 * (after dwfl_module_addrinfo, which has looked for the debug file).
 */
static bool use_dwarf(struct agent_symbolizer *s, int32_t map, Dwfl_Module *mod)
{
	const char *debugfile = NULL;
	struct stat st;
	int8_t ok;

	if (map < 0)
		return true;
	if (s->maps[map].dwarf)
		return s->maps[map].dwarf > 0;
	dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile);
	ok = (has_own_dwarf(mod) || !debugfile || stat(debugfile, &st) ||
	      st.st_size <= MAX_SEPARATE_DEBUG) ? 1 : -1;
	s->maps[map].dwarf = ok;
	return ok > 0;
}

/*
 * The frames at pc inside mod, innermost first: for every inlined
 * subroutine around pc its name, at the line the one inside it was called
 * from, then the containing function (named by the symbol table when it
 * has the symbol: that covers static functions and stripped DWARF).
 */
static int resolve(struct agent_symbolizer *s, Dwfl_Module *mod, int32_t map, uintptr_t pc)
{
	GElf_Off off = 0;
	GElf_Sym sym;
	Dwarf_Addr bias = 0, start = 0;
	const char *symname, *file = NULL;
	Dwarf_Die *cu, *scopes = NULL, cu_mem;
	Dwfl_Line *dl;
	int lineno = 0, nscopes = 0, rc = 0;
	bool outer_done = false;

	symname = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
	if (!use_dwarf(s, map, mod)) {
		cu = NULL;
		dl = NULL;
	} else {
		cu = dwfl_module_addrdie(mod, pc, &bias);
		if (!cu)
			cu = cu_fallback(s, map, mod, pc, &cu_mem, &bias);
		dl = dwfl_module_getsrc(mod, pc);
	}
	if (dl) {
		file = dwfl_lineinfo(dl, NULL, &lineno, NULL, NULL, NULL);
	} else if (cu) {
		Dwarf_Line *l = dwarf_getsrc_die(cu, pc - bias);

		if (l && (file = dwarf_linesrc(l, NULL, NULL)))
			dwarf_lineno(l, &lineno);
	}
	if (cu)
		nscopes = dwarf_getscopes(cu, pc - bias, &scopes);
	for (int i = 0; i < nscopes && !rc; i++) {
		int tag = dwarf_tag(&scopes[i]);
		const char *name;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		if (tag == DW_TAG_subprogram) {
			name = symname ? symname : die_name(&scopes[i]);
			if (name) {
				rc = push_frame(s, name, file, lineno);
				outer_done = true;
			}
			break;
		}
		name = die_name(&scopes[i]);
		rc = push_frame(s, name ? name : "??", file, lineno);
		{
			Dwarf_Attribute a;
			Dwarf_Word cf = 0, cl = 0;
			Dwarf_Files *files;
			size_t nfiles;

			file = NULL;
			lineno = 0;
			if (dwarf_attr(&scopes[i], DW_AT_call_file, &a) && !dwarf_formudata(&a, &cf) &&
			    !dwarf_getsrcfiles(cu, &files, &nfiles) && cf < nfiles)
				file = dwarf_filesrc(files, cf, NULL, NULL);
			if (dwarf_attr(&scopes[i], DW_AT_call_line, &a) && !dwarf_formudata(&a, &cl))
				lineno = (int)cl;
		}
	}
	free(scopes);
	if (!rc && !outer_done) {
		if (symname) {
			rc = push_frame(s, symname, file, lineno);
		} else {
			char name[320];
			const char *mname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL,
							     NULL, NULL);

			/* a file address, as addr2line and objdump count */
			if (!dwfl_module_getelf(mod, &bias))
				bias = start;
			snprintf(name, sizeof(name), "%s+0x%llx", base_name(mname ? mname : "?"),
				 (unsigned long long)(pc - bias));
			rc = push_frame(s, name, NULL, 0);
		}
	}
	return rc;
}

int agent_symbolize(struct agent_symbolizer *s, uintptr_t pc, struct agent_sym *out)
{
	uint64_t h = kl_hash_u64(pc);
	struct kl_hindex_probe pr;
	struct entry *e;
	Dwfl_Module *mod;
	uint32_t idx;
	int rc = 0;

	for (idx = kl_hindex_first(&s->index, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&s->index, &pr)) {
		if (s->entries[idx].pc == pc)
			goto found;
	}
	if (s->nentries >= MAX_CACHE) {
		cache_clear(s);
		if (!s->strs)
			return -ENOMEM;
		kl_hindex_first(&s->index, h, &pr);
	}
	if (KL_GROW(s->entries, s->entries_cap, s->nentries + 1))
		return -ENOMEM;
	e = &s->entries[s->nentries];
	e->pc = pc;
	e->frame_start = (uint32_t)s->nframes;
	e->map = -1;
	if (!s->dwfl && dwfl_open(s))
		return -ENOMEM;
	mod = dwfl_addrmodule(s->dwfl, pc);
	if (mod) {
		e->map = map_of(s, mod);
		rc = resolve(s, mod, e->map, pc);
	} else {
		char name[64];

		snprintf(name, sizeof(name), "[unknown]+0x%llx", (unsigned long long)pc);
		rc = push_frame(s, name, NULL, 0);
	}
	if (!rc && kl_strtab_failed(s->strs))
		rc = -ENOMEM;
	if (rc) {
		s->nframes = e->frame_start;
		return rc;
	}
	e->nframes = (uint32_t)(s->nframes - e->frame_start);
	if (e->nframes > AGENT_SYM_MAX_FRAMES) {
		/* deeper inline chains than that keep the innermost and the function */
		s->frames[e->frame_start + AGENT_SYM_MAX_FRAMES - 1] = s->frames[s->nframes - 1];
		e->nframes = AGENT_SYM_MAX_FRAMES;
		s->nframes = e->frame_start + AGENT_SYM_MAX_FRAMES;
	}
	if (e->map >= 0 && e->nframes && s->frames[e->frame_start].file)
		s->maps[e->map].has_lines = true;
	idx = (uint32_t)s->nentries;
	if (kl_hindex_insert_at(&s->index, &pr, idx))
		return -ENOMEM;
	s->nentries++;
found:
	e = &s->entries[idx];
	out->nframes = e->nframes;
	for (uint32_t i = 0; i < e->nframes; i++) {
		const struct frame *f = &s->frames[e->frame_start + i];

		out->frames[i].function = kl_strtab_get(s->strs, f->function);
		out->frames[i].system_name = kl_strtab_get(s->strs, f->system_name);
		out->frames[i].file = kl_strtab_get(s->strs, f->file);
		out->frames[i].line = f->line;
	}
	out->has_map = e->map >= 0;
	if (out->has_map) {
		const struct map *m = &s->maps[e->map];

		out->map_index = (uint32_t)e->map;
		out->map_start = m->start;
		out->map_limit = m->limit;
		out->map_path = kl_strtab_get(s->strs, m->path);
		out->map_build_id = kl_strtab_get(s->strs, m->build_id);
		out->map_has_lines = m->has_lines;
	}
	return 0;
}
