/* SPDX-License-Identifier: Apache-2.0 */
/*
 * modules.c - the loaded ELF objects, snapshotted outside signal handlers
 * with dl_iterate_phdr (text ranges, .eh_frame_hdr search tables, build
 * ids) and published with an atomic pointer swap for the unwinder, which
 * must never call dl_iterate_phdr itself (it takes the loader lock).
 *
 * Retiring old snapshots: readers (handlers, hooks) announce themselves in
 * one of two counters chosen by the parity of `epoch`; a refresh swaps the
 * pointer, flips the epoch and waits until the old parity's counter is
 * zero, after which no reader can hold the old snapshot (see
 * agent_modules_enter). The interposed dlclose publishes a snapshot without
 * dlopen'ed modules and waits the same way BEFORE the loader unmaps
 * anything, so a handler never reads .eh_frame of a vanished module;
 * objects dlopen'ed later are picked up by agent_modules_poll.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base.h"
#include "unwind.h"

/* a string interned for the life of the agent (paths, build ids) */
struct mod_str {
	struct mod_str *next;
	char s[];
};

static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct agent_modsnap *) mod_cur;
static _Atomic unsigned mod_epoch;
static _Atomic int mod_readers[2];
static struct mod_str *mod_strs;	/* under mod_lock */
static uintptr_t *mod_initial;		/* biases of the first snapshot's modules */
static size_t mod_ninitial;
static bool mod_have_initial;
static _Atomic int mod_closing;		/* dlcloses in progress: hide dlopen'ed modules */
static uint32_t mod_gen;		/* gen of the last snapshot published, under mod_lock */

/* the loader's load and unload counters, as of the current snapshot */
struct mod_counts {
	unsigned long long adds, subs;
};

static struct mod_counts mod_seen;	/* under mod_lock */

static int mod_counts_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct mod_counts *c = arg;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		c->adds = info->dlpi_adds;
		c->subs = info->dlpi_subs;
	}
	return 1;
}

const struct agent_modsnap *agent_modules_enter(int *token)
{
	unsigned p;

	for (;;) {
		p = atomic_load(&mod_epoch) & 1;
		atomic_fetch_add(&mod_readers[p], 1);
		if ((atomic_load(&mod_epoch) & 1) == p)
			break;
		atomic_fetch_sub(&mod_readers[p], 1);
	}
	*token = (int)p;
	return atomic_load(&mod_cur);
}

void agent_modules_leave(int token)
{
	atomic_fetch_sub(&mod_readers[token & 1], 1);
}

const struct agent_mod *agent_modsnap_find(const struct agent_modsnap *s, uintptr_t pc)
{
	uint32_t lo = 0, hi;

	if (!s)
		return NULL;
	hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct agent_mod *m = &s->mods[mid];

		if (pc < m->start)
			hi = mid;
		else if (pc >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

/* Waits until no reader can still see what was published before the call. */
static bool mod_grace(void)
{
	unsigned old = atomic_fetch_add(&mod_epoch, 1) & 1;
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned spins = 0; atomic_load(&mod_readers[old]) != 0; spins++) {
		if (spins < 50) {
			sched_yield();
			continue;
		}
		struct timespec ts = {0, 50000};

		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* a reader stopped for seconds (debugger, SIGSTOP): leak rather than free */
		if (now.tv_sec - t0.tv_sec > 2)
			return false;
	}
	return true;
}

static const char *mod_intern(const char *s)
{
	struct mod_str *m;
	size_t n = strlen(s);

	for (m = mod_strs; m; m = m->next)
		if (strcmp(m->s, s) == 0)
			return m->s;
	m = kl_malloc(sizeof(*m) + n + 1);
	if (!m)
		return NULL;
	memcpy(m->s, s, n + 1);
	m->next = mod_strs;
	mod_strs = m;
	return m->s;
}

struct mod_collect {
	struct agent_mod *mods;
	size_t n, cap;
	int err;
	bool skip_dynamic;
};

/* Reads a .eh_frame_hdr pointer of the encodings it uses in practice. */
static bool mod_hdr_ptr(const uint8_t **p, uint8_t enc, const uint8_t *hdr, uintptr_t *out)
{
	const uint8_t *at = *p;
	int64_t v;

	switch (enc & 0x0f) {
	case 0x03: {	/* udata4 */
		uint32_t u;

		memcpy(&u, at, 4);
		v = u;
		*p += 4;
		break;
	}
	case 0x0b: {	/* sdata4 */
		int32_t s;

		memcpy(&s, at, 4);
		v = s;
		*p += 4;
		break;
	}
	case 0x00:	/* absptr */
	case 0x04:	/* udata8 */
	case 0x0c:	/* sdata8 */
		memcpy(&v, at, 8);
		*p += 8;
		break;
	default:
		return false;
	}
	switch (enc & 0x70) {
	case 0x00:
		break;
	case 0x10:	/* pcrel */
		v += (int64_t)(uintptr_t)at;
		break;
	case 0x30:	/* datarel: relative to the header */
		v += (int64_t)(uintptr_t)hdr;
		break;
	default:
		return false;
	}
	*out = (uintptr_t)v;
	return true;
}

static void mod_parse_hdr(struct agent_mod *m, const uint8_t *hdr)
{
	const uint8_t *p = hdr + 4;
	uintptr_t eh, count;

	if (hdr[0] != 1 || hdr[1] == 0xff)
		return;
	if (!mod_hdr_ptr(&p, hdr[1], hdr, &eh))
		return;
	m->eh_frame = (const uint8_t *)eh;
	m->eh_hdr = hdr;
	/* the binary search table must be datarel sdata4 to be usable */
	if (hdr[2] == 0xff || hdr[3] != 0x3b || !mod_hdr_ptr(&p, hdr[2], hdr, &count))
		return;
	m->fde_table = p;
	m->fde_count = (uint32_t)count;
}

static void mod_build_id(const uint8_t *note, size_t len, char *hex, size_t hexsz)
{
	size_t off = 0;

	while (off + 12 <= len) {
		uint32_t namesz, descsz, type;

		memcpy(&namesz, note + off, 4);
		memcpy(&descsz, note + off + 4, 4);
		memcpy(&type, note + off + 8, 4);
		off += 12;
		size_t name_off = off;

		off += (namesz + 3) & ~3u;
		if (off > len || descsz > len - off)
			return;
		if (type == NT_GNU_BUILD_ID && namesz == 4 &&
		    memcmp(note + name_off, "GNU", 4) == 0 && descsz * 2 < hexsz) {
			static const char digits[] = "0123456789abcdef";

			for (uint32_t i = 0; i < descsz; i++) {
				hex[2 * i] = digits[note[off + i] >> 4];
				hex[2 * i + 1] = digits[note[off + i] & 15];
			}
			hex[2 * descsz] = '\0';
			return;
		}
		off += (descsz + 3) & ~3u;
	}
}

static bool mod_is_initial(uintptr_t bias)
{
	for (size_t i = 0; i < mod_ninitial; i++)
		if (mod_initial[i] == bias)
			return true;
	return false;
}

static int mod_collect_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct mod_collect *c = arg;
	struct agent_mod m = {0};
	char hex[128] = "";
	bool have_text = false;

	m.bias = info->dlpi_addr;
	m.lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD) {
			if (a < m.lo)
				m.lo = a;
			if (a + ph->p_memsz > m.hi)
				m.hi = a + ph->p_memsz;
			if (ph->p_flags & PF_X) {
				if (!have_text || a < m.start) {
					m.start = a;
					m.file_offset = ph->p_offset;
				}
				if (a + ph->p_memsz > m.end)
					m.end = a + ph->p_memsz;
				have_text = true;
			}
		} else if (ph->p_type == PT_GNU_EH_FRAME) {
			mod_parse_hdr(&m, (const uint8_t *)a);
		} else if (ph->p_type == PT_NOTE && !hex[0]) {
			mod_build_id((const uint8_t *)a, ph->p_memsz, hex, sizeof(hex));
		}
	}
	if (!have_text)
		return 0;
	m.dynamic = mod_have_initial && !mod_is_initial(m.bias);
	if (c->skip_dynamic && m.dynamic)
		return 0;
	m.path = mod_intern(info->dlpi_name ? info->dlpi_name : "");
	m.build_id = mod_intern(hex);
	if (!m.path || !m.build_id || KL_GROW(c->mods, c->cap, c->n + 1) < 0) {
		c->err = -ENOMEM;
		return 1;
	}
	c->mods[c->n++] = m;
	return 0;
}

static int mod_cmp(const void *a, const void *b)
{
	const struct agent_mod *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Builds and publishes a snapshot, then retires the old one. Under mod_lock. */
static int mod_refresh_locked(void)
{
	struct mod_collect c = {.skip_dynamic = atomic_load(&mod_closing) > 0};
	struct agent_modsnap *s = NULL, *old;
	int rc = 0;

	agent_self.in_agent++;
	/* without the cache the unwinder still works, only slower */
	agent_uwcache_init();
	/* counts first: a load racing with the collection is seen by the next poll */
	dl_iterate_phdr(mod_counts_cb, &mod_seen);
	dl_iterate_phdr(mod_collect_cb, &c);
	if (c.err) {
		rc = c.err;
		goto out;
	}
	qsort(c.mods, c.n, sizeof(*c.mods), mod_cmp);
	s = kl_malloc(sizeof(*s) + c.n * sizeof(struct agent_mod));
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	s->n = (uint32_t)c.n;
	/*
	 * The unwind cache keys its entries by gen (16 bits): when it wraps, the
	 * entries of the snapshot 65535 refreshes ago would match again, so the
	 * cache is emptied before the new snapshot can be seen.
	 */
	mod_gen = mod_gen % 65535 + 1;
	s->gen = mod_gen;
	if (mod_gen == 1)
		agent_uwcache_clear();
	if (c.n)
		memcpy(s->mods, c.mods, c.n * sizeof(struct agent_mod));
	if (!mod_have_initial) {
		mod_initial = kl_calloc(c.n ? c.n : 1, sizeof(uintptr_t));
		if (!mod_initial) {
			kl_free(s);
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < c.n; i++)
			mod_initial[i] = c.mods[i].bias;
		mod_ninitial = c.n;
		mod_have_initial = true;
	}
	old = atomic_exchange(&mod_cur, s);
	if (mod_grace())
		kl_free(old);
out:
	kl_free(c.mods);
	agent_self.in_agent--;
	return rc;
}

int agent_modules_refresh(void)
{
	int rc;

	pthread_mutex_lock(&mod_lock);
	rc = mod_refresh_locked();
	pthread_mutex_unlock(&mod_lock);
	return rc;
}

void agent_modules_free(void)
{
	struct agent_modsnap *old;

	pthread_mutex_lock(&mod_lock);
	old = atomic_exchange(&mod_cur, NULL);
	if (mod_grace()) {
		kl_free(old);
		/* strings may still be held by symbolization: they live as long as the snapshot */
		while (mod_strs) {
			struct mod_str *next = mod_strs->next;

			kl_free(mod_strs);
			mod_strs = next;
		}
	}
	kl_free(mod_initial);
	mod_initial = NULL;
	mod_ninitial = 0;
	mod_have_initial = false;
	pthread_mutex_unlock(&mod_lock);
}

int agent_module_lookup(uintptr_t addr, struct agent_module_info *out)
{
	const struct agent_mod *m;
	int rc = -ENOENT;

	pthread_mutex_lock(&mod_lock);
	m = agent_modsnap_find(atomic_load(&mod_cur), addr);
	if (m) {
		out->path = m->path;
		out->bias = m->bias;
		out->start = m->start;
		out->end = m->end;
		out->file_offset = m->file_offset;
		out->build_id = m->build_id;
		rc = 0;
	}
	pthread_mutex_unlock(&mod_lock);
	return rc;
}

/* ---- dlopen and dlclose ----------------------------------------------------------- */

/*
 * dlopen is not interposed: glibc picks the RUNPATH and $ORIGIN of the
 * object that called dlopen, and a wrapper would make that libkiln.so.
 * New objects are found instead by agent_modules_poll, which compares the
 * loader's load/unload counters with those of the snapshot (the sampler's
 * ticker polls every tick). A late snapshot only costs CFI for the new
 * object's frames for a moment; dlclose, where a late snapshot would be a
 * crash, is interposed below.
 */
int agent_modules_poll(void)
{
	struct mod_counts now = {0, 0};
	int rc = 0;

	if (!atomic_load(&mod_cur))
		return 0;
	dl_iterate_phdr(mod_counts_cb, &now);
	pthread_mutex_lock(&mod_lock);
	if (now.adds != mod_seen.adds || now.subs != mod_seen.subs)
		rc = mod_refresh_locked();
	pthread_mutex_unlock(&mod_lock);
	return rc;
}

typedef int (*dlclose_fn)(void *);

int dlclose(void *handle) __attribute__((visibility("default")));

int dlclose(void *handle)
{
	static _Atomic(dlclose_fn) real;
	dlclose_fn fn = atomic_load(&real);
	int rc;

	if (!fn) {
		fn = (dlclose_fn)dlsym(RTLD_NEXT, "dlclose");
		if (!fn)
			return -1;
		atomic_store(&real, fn);
	}
	if (!atomic_load(&mod_cur))
		return fn(handle);
	/*
	 * Which objects this dlclose unmaps is only known after the fact, so
	 * every dlopen'ed one is hidden from handlers while the loader works.
	 * mod_lock is not held across the real dlclose: library destructors
	 * may dlopen, and the loader lock must never be taken under mod_lock.
	 */
	pthread_mutex_lock(&mod_lock);
	atomic_fetch_add(&mod_closing, 1);
	mod_refresh_locked();
	pthread_mutex_unlock(&mod_lock);
	rc = fn(handle);
	pthread_mutex_lock(&mod_lock);
	atomic_fetch_sub(&mod_closing, 1);
	mod_refresh_locked();
	pthread_mutex_unlock(&mod_lock);
	return rc;
}
