/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unwind_x86_64.c - async-signal-safe stack unwinding for x86_64: DWARF CFI
 * from .eh_frame, found through the .eh_frame_hdr search table of the module
 * snapshot (modules.c), with the frame pointer as the fallback for code
 * without FDEs. No locks, no allocation, no libc calls that could take one.
 *
 * Sections: memory reads (stack bounds or a non-faulting probe), pointer
 * encodings, CIE/FDE parsing, the CFA program, DWARF expressions, one
 * unwind step, and the public entry points.
 *
 * Every stack read is checked against the thread's stack [lo, hi) captured
 * by agent_unwind_thread_init, or, when unknown (threads the agent did not
 * see start) or when sp is elsewhere (alternate stacks), against pages
 * probed with rt_sigprocmask(invalid how, addr), which returns EFAULT for an
 * unreadable address and EINVAL otherwise, without side effects. Module data
 * (.eh_frame) is read only inside the module's mapped PT_LOAD span, which the
 * snapshot's grace period keeps mapped.
 *
 * The rule cache: finding the FDE and running the CIE and FDE programs to
 * the row of a PC costs ~200 ns, and the same few hundred PCs come back in
 * every sample. The row of the common x86_64 shape (CFA = rsp or rbp +
 * offset, return address and rbp/rbx/r12-r15 either unchanged or saved at
 * CFA - 8k, every other register unchanged, no signal frame) packs into 64
 * bits; uw_step applies it with the same reads and checks as the full path,
 * so a cached step gives exactly the frame the full one would. Other rows
 * are not cached (always the full path); PCs without CFI are cached as such
 * (straight to the frame pointer). Entries are 16 bytes {key, rule}, read
 * and written whole with aligned SSE moves, which processors with AVX
 * perform atomically (Intel SDM vol. 3 8.1.1, AMD APM vol. 2 7.3.2): a
 * racing fill replaces an entry, never tears it. The key holds the PC and
 * the snapshot's gen, so a new snapshot (dlopen, dlclose) invalidates
 * everything at once; modules.c empties the table when gen wraps.
 */
#include <emmintrin.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/base.h"
#include "unwind.h"

__thread struct agent_stack agent_stack_bounds AGENT_TLS;

void agent_unwind_thread_init(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size;

	agent_stack_bounds.tried = true;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &addr, &size) == 0 && addr && size) {
		agent_stack_bounds.lo = (uintptr_t)addr;
		agent_stack_bounds.hi = (uintptr_t)addr + size;
	}
	pthread_attr_destroy(&a);
}

/*
 * The same from inside a malloc or lock hook, where pthread_getattr_np is
 * unsafe: it takes the thread's own descriptor lock and, on the main
 * thread, allocates (fopen of /proc/self/maps), so a host that calls it
 * and lands in a sampled malloc under that lock would deadlock against
 * itself. Here only the main thread gets bounds, from __libc_stack_end (the
 * top of the initial stack; reads never go below the sampled SP's page);
 * other threads keep the probe unless the sampler registered them.
 */
extern void *__libc_stack_end;

void agent_unwind_thread_init_nolock(void)
{
	struct rlimit rl;
	uintptr_t hi = ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
	uintptr_t size = 8u << 20;

	agent_stack_bounds.tried = true;
	if (getpid() != (pid_t)syscall(SYS_gettid) || !__libc_stack_end)
		return;

	/* the stack can grow to its rlimit below the top; an SP outside (a fiber) probes */
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < hi)
		size = (uintptr_t)rl.rlim_cur;
	agent_stack_bounds.hi = hi;
	agent_stack_bounds.lo = hi > size ? hi - size : 4096;
}

/* ---- memory reads ------------------------------------------------------------- */

#define UW_PAGE 4096ul
#define UW_MAX_PROBES 64

struct uw_mem {
	uintptr_t lo, hi;	/* known stack bounds, or 0, 0: probe */
	uintptr_t plo, phi;	/* pages probed readable */
	int probes;
};

static bool uw_probe_page(uintptr_t page)
{
	/* how = -1 is invalid: EINVAL after the kernel read *set, EFAULT if it could not */
	long rc = syscall(SYS_rt_sigprocmask, -1, (void *)page, NULL, sizeof(uint64_t));

	return !(rc == -1 && errno == EFAULT);
}

static bool uw_read(struct uw_mem *m, uintptr_t addr, uint64_t *out)
{
	uintptr_t page;

	if (addr & 7)
		return false;
	if (m->hi) {
		if (addr < m->lo || addr > m->hi - 8)
			return false;
		*out = *(const uint64_t *)addr;
		return true;
	}
	page = addr & ~(UW_PAGE - 1);
	if (!(page >= m->plo && page < m->phi)) {
		if (page < UW_PAGE || m->probes >= UW_MAX_PROBES)
			return false;
		m->probes++;
		if (!uw_probe_page(page))
			return false;
		if (page == m->phi)
			m->phi += UW_PAGE;
		else if (page + UW_PAGE == m->plo)
			m->plo = page;
		else {
			m->plo = page;
			m->phi = page + UW_PAGE;
		}
	}
	*out = *(const uint64_t *)addr;
	return true;
}

static void uw_mem_init(struct uw_mem *m, uintptr_t sp)
{
	memset(m, 0, sizeof(*m));
	if (agent_stack_bounds.hi && sp >= agent_stack_bounds.lo && sp < agent_stack_bounds.hi) {
		/*
		 * Frames live above sp: nothing below its page is read, which also
		 * keeps reads off the unmapped bottom of the main thread's stack
		 * (pthread_getattr_np reports it at its rlimit size).
		 */
		m->lo = KL_MAX(agent_stack_bounds.lo, sp & ~(UW_PAGE - 1));
		m->hi = agent_stack_bounds.hi;
	}
}

/* ---- registers ------------------------------------------------------------------ */

/* DWARF register numbers of x86_64 */
enum { R_RAX, R_RDX, R_RCX, R_RBX, R_RSI, R_RDI, R_RBP, R_RSP, R_R8, R_R9, R_R10, R_R11,
       R_R12, R_R13, R_R14, R_R15, R_RIP, UW_NREGS };

struct uw_regs {
	uint64_t r[UW_NREGS];
	uint32_t valid;		/* bit per register */
};

static void uw_regs_from_ucontext(struct uw_regs *s, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	static const int map[UW_NREGS] = {
		REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
		REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
	};

	for (int i = 0; i < UW_NREGS; i++)
		s->r[i] = (uint64_t)g[map[i]];
	s->valid = (1u << UW_NREGS) - 1;
}

/* ---- byte readers for module data ------------------------------------------------ */

struct uw_cur {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t uw_u(struct uw_cur *c, int n)
{
	uint64_t v = 0;

	if (c->bad || c->end - c->p < n) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, (size_t)n);	/* little endian */
	c->p += n;
	return v;
}

static uint64_t uw_uleb(struct uw_cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (!c->bad) {
		if (c->p >= c->end) {
			c->bad = true;
			break;
		}
		uint8_t b = *c->p++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	return v;
}

static int64_t uw_sleb(struct uw_cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	while (!c->bad) {
		if (c->p >= c->end) {
			c->bad = true;
			return 0;
		}
		b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	if (shift < 64 && (b & 0x40))
		v |= ~0ull << shift;
	return (int64_t)v;
}

/* DW_EH_PE_* pointer; `indirect` is refused (it would read arbitrary memory). */
static uint64_t uw_enc(struct uw_cur *c, uint8_t enc, const struct agent_mod *m)
{
	const uint8_t *at = c->p;
	uint64_t v;

	if (enc == 0xff)
		return 0;
	switch (enc & 0x0f) {
	case 0x00: v = uw_u(c, 8); break;
	case 0x01: v = uw_uleb(c); break;
	case 0x02: v = uw_u(c, 2); break;
	case 0x03: v = uw_u(c, 4); break;
	case 0x04: v = uw_u(c, 8); break;
	case 0x09: v = (uint64_t)uw_sleb(c); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)uw_u(c, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)uw_u(c, 4); break;
	case 0x0c: v = uw_u(c, 8); break;
	default: c->bad = true; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += (uintptr_t)at; break;
	case 0x30: v += (uintptr_t)m->eh_hdr; break;
	default: c->bad = true; return 0;
	}
	if (enc & 0x80)
		c->bad = true;
	return v;
}

/* ---- CIE / FDE ------------------------------------------------------------------- */

struct uw_cie {
	uint64_t code_align;
	int64_t data_align;
	uint32_t ra_reg;
	uint8_t fde_enc;
	bool has_z, signal;
	const uint8_t *insns, *end;
};

struct uw_fde {
	uint64_t pc_begin, pc_end;
	const uint8_t *insns, *end;
};

/* The record at p: its body [*body, *end) inside the module, or false. */
static bool uw_record(const struct agent_mod *m, const uint8_t *p, const uint8_t **body,
		      const uint8_t **end)
{
	uint32_t len32;
	uint64_t len;

	if ((uintptr_t)p < m->lo || (uintptr_t)p + 12 > m->hi)
		return false;
	memcpy(&len32, p, 4);
	p += 4;
	len = len32;
	if (len32 == 0xffffffffu) {
		memcpy(&len, p, 8);
		p += 8;
	}
	if (len == 0 || len > m->hi - (uintptr_t)p)
		return false;
	*body = p;
	*end = p + len;
	return true;
}

static bool uw_parse_cie(const struct agent_mod *m, const uint8_t *p, struct uw_cie *cie)
{
	const uint8_t *body, *end;
	struct uw_cur c;
	const char *aug;
	uint8_t version;

	if (!uw_record(m, p, &body, &end))
		return false;
	c = (struct uw_cur){body, end, false};
	if (uw_u(&c, 4) != 0)		/* .eh_frame CIE id */
		return false;
	version = (uint8_t)uw_u(&c, 1);
	if (version != 1 && version != 3)
		return false;
	aug = (const char *)c.p;
	while (c.p < c.end && *c.p)
		c.p++;
	if (c.p >= c.end)
		return false;
	c.p++;
	if (aug[0] == 'e' && aug[1] == 'h')	/* pre-GCC 3 layout: give up */
		return false;
	memset(cie, 0, sizeof(*cie));
	cie->fde_enc = 0;
	cie->code_align = uw_uleb(&c);
	cie->data_align = uw_sleb(&c);
	cie->ra_reg = version == 1 ? (uint32_t)uw_u(&c, 1) : (uint32_t)uw_uleb(&c);
	if (aug[0] == 'z') {
		uint64_t alen = uw_uleb(&c);
		const uint8_t *aend = c.p + alen;

		if (c.bad || alen > (uint64_t)(c.end - c.p))
			return false;
		cie->has_z = true;
		for (const char *a = aug + 1; *a && !c.bad; a++) {
			if (*a == 'R') {
				cie->fde_enc = (uint8_t)uw_u(&c, 1);
			} else if (*a == 'L') {
				uw_u(&c, 1);
			} else if (*a == 'P') {
				uint8_t penc = (uint8_t)uw_u(&c, 1);

				/* only skipped: strip `indirect` so uw_enc does not refuse */
				uw_enc(&c, penc & 0x7f, m);
			} else if (*a == 'S') {
				cie->signal = true;
			} else {
				break;	/* unknown: 'z' data length skips the rest */
			}
		}
		c.p = aend;
	} else if (aug[0]) {
		return false;
	}
	if (c.bad)
		return false;
	cie->insns = c.p;
	cie->end = end;
	return true;
}

/* Finds the FDE covering pc in module m (binary search of .eh_frame_hdr). */
static bool uw_find_fde(const struct agent_mod *m, uintptr_t pc, struct uw_cie *cie,
			struct uw_fde *fde)
{
	const int32_t *tab = (const int32_t *)m->fde_table;
	uint32_t lo = 0, hi = m->fde_count;
	const uint8_t *body, *end, *fp;
	struct uw_cur c;
	uint32_t cie_off;

	if (!tab || !hi)
		return false;
	if ((uintptr_t)(tab + 2 * (size_t)hi) > m->hi || (uintptr_t)tab < m->lo)
		return false;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)(m->eh_hdr + tab[2 * mid]) <= pc)
			lo = mid;
		else
			hi = mid;
	}
	if ((uintptr_t)(m->eh_hdr + tab[2 * lo]) > pc)
		return false;
	fp = m->eh_hdr + tab[2 * lo + 1];
	if (!uw_record(m, fp, &body, &end))
		return false;
	c = (struct uw_cur){body, end, false};
	cie_off = (uint32_t)uw_u(&c, 4);
	if (cie_off == 0 || (uintptr_t)body < cie_off)
		return false;
	if (!uw_parse_cie(m, body - cie_off, cie))
		return false;
	fde->pc_begin = uw_enc(&c, cie->fde_enc, m);
	fde->pc_end = fde->pc_begin + uw_enc(&c, cie->fde_enc & 0x0f, m);
	if (cie->has_z) {
		uint64_t alen = uw_uleb(&c);

		if (alen > (uint64_t)(c.end - c.p))
			return false;
		c.p += alen;
	}
	if (c.bad || pc < fde->pc_begin || pc >= fde->pc_end)
		return false;
	fde->insns = c.p;
	fde->end = end;
	return true;
}

/* ---- the CFA program --------------------------------------------------------------- */

enum uw_how { RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_VAL_OFFSET, RULE_REG, RULE_EXPR,
	      RULE_VAL_EXPR };

struct uw_rule {
	uint8_t how;
	int64_t off;		/* offset, or register number for RULE_REG */
	const uint8_t *expr;	/* RULE_*EXPR: block */
	uint64_t exprlen;
};

struct uw_row {
	struct uw_rule reg[UW_NREGS];
	uint32_t cfa_reg;
	int64_t cfa_off;
	const uint8_t *cfa_expr;	/* non-NULL: CFA by expression */
	uint64_t cfa_exprlen;
};

#define UW_STATE_DEPTH 8

/* Runs insns [p, end) until the row for pc; false on anything unknown. */
static bool uw_run(const struct agent_mod *m, const struct uw_cie *cie, const uint8_t *p,
		   const uint8_t *end, uint64_t loc, uint64_t pc, struct uw_row *row,
		   const struct uw_row *initial)
{
	struct uw_row saved[UW_STATE_DEPTH];
	int depth = 0;
	struct uw_cur c = {p, end, false};

	while (c.p < c.end && !c.bad) {
		uint8_t op = (uint8_t)uw_u(&c, 1);
		uint64_t reg = 0, delta = 0;
		int64_t off = 0;

		switch (op & 0xc0) {
		case 0x40:
			delta = (op & 0x3f) * cie->code_align;
			goto advance;
		case 0x80:
			reg = op & 0x3f;
			off = (int64_t)uw_uleb(&c) * cie->data_align;
			goto set_offset;
		case 0xc0:
			reg = op & 0x3f;
			goto restore;
		}
		switch (op) {
		case 0x00: break;	/* nop */
		case 0x01:		/* set_loc */
			delta = uw_enc(&c, cie->fde_enc, m);
			if (delta > pc)
				return !c.bad;
			loc = delta;
			break;
		case 0x02: delta = uw_u(&c, 1) * cie->code_align; goto advance;
		case 0x03: delta = uw_u(&c, 2) * cie->code_align; goto advance;
		case 0x04: delta = uw_u(&c, 4) * cie->code_align; goto advance;
		case 0x05:		/* offset_extended */
			reg = uw_uleb(&c);
			off = (int64_t)uw_uleb(&c) * cie->data_align;
			goto set_offset;
		case 0x06:		/* restore_extended */
			reg = uw_uleb(&c);
			goto restore;
		case 0x07:		/* undefined */
			reg = uw_uleb(&c);
			if (reg < UW_NREGS)
				row->reg[reg].how = RULE_UNDEF;
			break;
		case 0x08:		/* same_value */
			reg = uw_uleb(&c);
			if (reg < UW_NREGS)
				row->reg[reg].how = RULE_SAME;
			break;
		case 0x09:		/* register */
			reg = uw_uleb(&c);
			off = (int64_t)uw_uleb(&c);
			if (reg < UW_NREGS) {
				row->reg[reg].how = RULE_REG;
				row->reg[reg].off = off;
			}
			break;
		case 0x0a:		/* remember_state */
			if (depth >= UW_STATE_DEPTH)
				return false;
			saved[depth++] = *row;
			break;
		case 0x0b:		/* restore_state: the CFA too, as GCC's unwinder does */
			if (depth == 0)
				return false;
			*row = saved[--depth];
			break;
		case 0x0c:		/* def_cfa */
			row->cfa_reg = (uint32_t)uw_uleb(&c);
			row->cfa_off = (int64_t)uw_uleb(&c);
			row->cfa_expr = NULL;
			break;
		case 0x0d:		/* def_cfa_register */
			row->cfa_reg = (uint32_t)uw_uleb(&c);
			row->cfa_expr = NULL;
			break;
		case 0x0e:		/* def_cfa_offset */
			row->cfa_off = (int64_t)uw_uleb(&c);
			break;
		case 0x0f:		/* def_cfa_expression */
			row->cfa_exprlen = uw_uleb(&c);
			row->cfa_expr = c.p;
			if (row->cfa_exprlen > (uint64_t)(c.end - c.p))
				return false;
			c.p += row->cfa_exprlen;
			break;
		case 0x10:		/* expression */
		case 0x16: {		/* val_expression */
			uint64_t len;

			reg = uw_uleb(&c);
			len = uw_uleb(&c);
			if (c.bad || len > (uint64_t)(c.end - c.p))
				return false;
			if (reg < UW_NREGS) {
				row->reg[reg].how = op == 0x10 ? RULE_EXPR : RULE_VAL_EXPR;
				row->reg[reg].expr = c.p;
				row->reg[reg].exprlen = len;
			}
			c.p += len;
			break;
		}
		case 0x11:		/* offset_extended_sf */
			reg = uw_uleb(&c);
			off = uw_sleb(&c) * cie->data_align;
			goto set_offset;
		case 0x12:		/* def_cfa_sf */
			row->cfa_reg = (uint32_t)uw_uleb(&c);
			row->cfa_off = uw_sleb(&c) * cie->data_align;
			row->cfa_expr = NULL;
			break;
		case 0x13:		/* def_cfa_offset_sf */
			row->cfa_off = uw_sleb(&c) * cie->data_align;
			break;
		case 0x14:		/* val_offset */
			reg = uw_uleb(&c);
			off = (int64_t)uw_uleb(&c) * cie->data_align;
			goto set_val_offset;
		case 0x15:		/* val_offset_sf */
			reg = uw_uleb(&c);
			off = uw_sleb(&c) * cie->data_align;
			goto set_val_offset;
		case 0x2e:		/* GNU_args_size: the CFA does not depend on it */
			uw_uleb(&c);
			break;
		case 0x2f:		/* GNU_negative_offset_extended */
			reg = uw_uleb(&c);
			off = -(int64_t)uw_uleb(&c) * cie->data_align;
			goto set_offset;
		default:
			return false;
		}
		continue;
advance:
		if (loc + delta > pc)
			return !c.bad;
		loc += delta;
		continue;
set_offset:
		if (reg < UW_NREGS) {
			row->reg[reg].how = RULE_OFFSET;
			row->reg[reg].off = off;
		}
		continue;
set_val_offset:
		if (reg < UW_NREGS) {
			row->reg[reg].how = RULE_VAL_OFFSET;
			row->reg[reg].off = off;
		}
		continue;
restore:
		if (reg < UW_NREGS)
			row->reg[reg] = initial ? initial->reg[reg]
						: (struct uw_rule){RULE_SAME, 0, 0, 0};
		continue;
	}
	return !c.bad;
}

/* ---- DWARF expressions (the subset CFI uses: PLT stubs, signal frames) --------------- */

#define UW_EXPR_STACK 16

static bool uw_expr(const uint8_t *p, uint64_t len, const struct uw_regs *s, struct uw_mem *mem,
		    bool push_cfa, uint64_t cfa, uint64_t *out)
{
	uint64_t st[UW_EXPR_STACK];
	int sp = 0;
	struct uw_cur c = {p, p + len, false};

#define PUSH(v)                                                                 \
	do {                                                                    \
		uint64_t v_ = (v);                                              \
		if (sp >= UW_EXPR_STACK)                                        \
			return false;                                           \
		st[sp++] = v_;                                                  \
	} while (0)
#define NEED(n) do { if (sp < (n)) return false; } while (0)
	if (push_cfa)
		PUSH(cfa);
	while (c.p < c.end && !c.bad) {
		uint8_t op = (uint8_t)uw_u(&c, 1);
		uint64_t a, b;

		if (op >= 0x30 && op <= 0x4f) {		/* lit0..31 */
			PUSH(op - 0x30u);
			continue;
		}
		if (op >= 0x70 && op <= 0x8f) {		/* breg0..31 */
			unsigned r = op - 0x70u;
			int64_t off = uw_sleb(&c);

			if (r >= UW_NREGS || !(s->valid & (1u << r)))
				return false;
			PUSH(s->r[r] + (uint64_t)off);
			continue;
		}
		switch (op) {
		case 0x92: {	/* bregx */
			uint64_t r = uw_uleb(&c);
			int64_t off = uw_sleb(&c);

			if (r >= UW_NREGS || !(s->valid & (1u << r)))
				return false;
			PUSH(s->r[r] + (uint64_t)off);
			break;
		}
		case 0x03: PUSH(uw_u(&c, 8)); break;			/* addr */
		case 0x06:						/* deref */
			NEED(1);
			if (!uw_read(mem, st[sp - 1], &st[sp - 1]))
				return false;
			break;
		case 0x08: PUSH(uw_u(&c, 1)); break;
		case 0x09: PUSH((uint64_t)(int64_t)(int8_t)uw_u(&c, 1)); break;
		case 0x0a: PUSH(uw_u(&c, 2)); break;
		case 0x0b: PUSH((uint64_t)(int64_t)(int16_t)uw_u(&c, 2)); break;
		case 0x0c: PUSH(uw_u(&c, 4)); break;
		case 0x0d: PUSH((uint64_t)(int64_t)(int32_t)uw_u(&c, 4)); break;
		case 0x0e: case 0x0f: PUSH(uw_u(&c, 8)); break;
		case 0x10: PUSH(uw_uleb(&c)); break;
		case 0x11: PUSH((uint64_t)uw_sleb(&c)); break;
		case 0x12: NEED(1); PUSH(st[sp - 1]); break;		/* dup */
		case 0x13: NEED(1); sp--; break;			/* drop */
		case 0x14: NEED(2); PUSH(st[sp - 2]); break;		/* over */
		case 0x16: NEED(2); a = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = a; break;
		case 0x1f: NEED(1); st[sp - 1] = -st[sp - 1]; break;	/* neg */
		case 0x20: NEED(1); st[sp - 1] = ~st[sp - 1]; break;	/* not */
		case 0x23: NEED(1); st[sp - 1] += uw_uleb(&c); break;	/* plus_uconst */
		case 0x96: break;					/* nop */
		case 0x1a: case 0x1c: case 0x1e: case 0x21: case 0x22: case 0x24: case 0x25:
		case 0x26: case 0x27: case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d:
		case 0x2e:
			NEED(2);
			b = st[--sp];
			a = st[sp - 1];
			switch (op) {
			case 0x1a: a &= b; break;
			case 0x1c: a -= b; break;
			case 0x1e: a *= b; break;
			case 0x21: a |= b; break;
			case 0x22: a += b; break;
			case 0x24: a = b < 64 ? a << b : 0; break;
			case 0x25: a = b < 64 ? a >> b : 0; break;
			case 0x26: a = b < 64 ? (uint64_t)((int64_t)a >> b) : 0; break;
			case 0x27: a ^= b; break;
			case 0x29: a = a == b; break;
			case 0x2a: a = (int64_t)a >= (int64_t)b; break;
			case 0x2b: a = (int64_t)a > (int64_t)b; break;
			case 0x2c: a = (int64_t)a <= (int64_t)b; break;
			case 0x2d: a = (int64_t)a < (int64_t)b; break;
			case 0x2e: a = a != b; break;
			}
			st[sp - 1] = a;
			break;
		default:
			return false;
		}
	}
#undef PUSH
#undef NEED
	if (c.bad || sp < 1)
		return false;
	*out = st[sp - 1];
	return true;
}

/* ---- one step ------------------------------------------------------------------------ */

enum uw_step { STEP_OK, STEP_END, STEP_FAIL };

/* The CIE and the CFI row for pc in module m: false when there is none (no FDE, bad CFI). */
static bool uw_row_for(const struct agent_mod *m, uintptr_t pc, struct uw_cie *cie,
		       struct uw_row *row)
{
	struct uw_fde fde;
	struct uw_row initial;

	if (!uw_find_fde(m, pc, cie, &fde))
		return false;
	memset(row, 0, sizeof(*row));	/* RULE_SAME everywhere */
	if (!uw_run(m, cie, cie->insns, cie->end, 0, UINT64_MAX, row, NULL))
		return false;
	initial = *row;
	return uw_run(m, cie, fde.insns, fde.end, fde.pc_begin, pc, row, &initial);
}

/* Unwinds s by a CFI row; *signal says the frame is a signal trampoline. */
static enum uw_step uw_apply_row(const struct uw_cie *cie, const struct uw_row *row,
				 struct uw_regs *s, struct uw_mem *mem, bool *signal)
{
	struct uw_regs n;
	uint64_t cfa;

	if (row->cfa_expr) {
		if (!uw_expr(row->cfa_expr, row->cfa_exprlen, s, mem, false, 0, &cfa))
			return STEP_FAIL;
	} else {
		if (row->cfa_reg >= UW_NREGS || !(s->valid & (1u << row->cfa_reg)))
			return STEP_FAIL;
		cfa = s->r[row->cfa_reg] + (uint64_t)row->cfa_off;
	}
	n = *s;
	for (int r = 0; r < UW_NREGS; r++) {
		const struct uw_rule *ru = &row->reg[r];
		uint64_t addr;

		switch (ru->how) {
		case RULE_SAME:
			break;
		case RULE_UNDEF:
			n.valid &= ~(1u << r);
			break;
		case RULE_OFFSET:
			if (!uw_read(mem, cfa + (uint64_t)ru->off, &n.r[r]))
				return STEP_FAIL;
			n.valid |= 1u << r;
			break;
		case RULE_VAL_OFFSET:
			n.r[r] = cfa + (uint64_t)ru->off;
			n.valid |= 1u << r;
			break;
		case RULE_REG:
			if (ru->off >= UW_NREGS || !(s->valid & (1u << ru->off)))
				n.valid &= ~(1u << r);
			else
				n.r[r] = s->r[ru->off];
			break;
		case RULE_EXPR:
			if (!uw_expr(ru->expr, ru->exprlen, s, mem, true, cfa, &addr) ||
			    !uw_read(mem, addr, &n.r[r]))
				return STEP_FAIL;
			n.valid |= 1u << r;
			break;
		case RULE_VAL_EXPR:
			if (!uw_expr(ru->expr, ru->exprlen, s, mem, true, cfa, &n.r[r]))
				return STEP_FAIL;
			n.valid |= 1u << r;
			break;
		}
	}
	if (cie->ra_reg >= UW_NREGS)
		return STEP_FAIL;
	/* an undefined return address marks the outermost frame (_start, clone) */
	if (row->reg[cie->ra_reg].how == RULE_UNDEF)
		return STEP_END;
	n.r[R_RIP] = n.r[cie->ra_reg];
	if (!(n.valid & (1u << cie->ra_reg)))
		return STEP_END;
	/* the CFA is the caller's stack pointer, unless a signal frame restored rsp */
	if (!(cie->signal && row->reg[R_RSP].how != RULE_SAME))
		n.r[R_RSP] = cfa;
	n.valid |= 1u << R_RSP | 1u << R_RIP;
	if (!cie->signal && n.r[R_RSP] <= s->r[R_RSP])
		return STEP_FAIL;	/* no progress: corrupt CFI or stack */
	*signal = cie->signal;
	*s = n;
	return STEP_OK;
}

/* ---- the rule cache ---------------------------------------------------------------- */

#define UWC_BITS 15
#define UWC_SLOTS (1u << UWC_BITS)
#define UWC_LEN (UWC_SLOTS * sizeof(struct uwc_entry))
/* rule word: kind (2 bits), CFA register (1), CFA offset (24, signed), 7 saves of 5 bits */
#define UWC_ROW 1u		/* apply the packed row */
#define UWC_END 2u		/* the outermost frame: return address undefined */
#define UWC_NOCFI 3u		/* no usable CFI here: the frame pointer */
#define UWC_CFA_RBP (1u << 2)
#define UWC_OFF_SHIFT 3
#define UWC_SAVE_SHIFT 27
#define UWC_SAVE_MAX 31		/* saved at CFA - 8 * (1..31), 0 = unchanged */

struct uwc_entry {
	uint64_t key;		/* pc | gen << 48, 0 = empty */
	uint64_t rule;
} __attribute__((aligned(16)));

/* the registers a cached row may restore, in DWARF order (the order reads happen in) */
static const uint8_t uwc_regs[7] = {R_RBX, R_RBP, R_R12, R_R13, R_R14, R_R15, R_RIP};

static struct uwc_entry *_Atomic uwc_tab;	/* mapped once, never unmapped */
static _Atomic bool uwc_off;
static __thread uint64_t uwc_hits AGENT_TLS, uwc_fills AGENT_TLS;

int agent_uwcache_init(void)
{
	void *t;

	if (atomic_load(&uwc_tab))
		return 0;
	/* 16-byte SSE moves are documented atomic only on processors with AVX */
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx"))
		return -ENOTSUP;
	t = mmap(NULL, UWC_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (t == MAP_FAILED)
		return -ENOMEM;
	atomic_store(&uwc_tab, (struct uwc_entry *)t);
	return 0;
}

void agent_uwcache_clear(void)
{
	struct uwc_entry *t = atomic_load(&uwc_tab);

	/* whole pages back to zero: a racing reader sees an entry or nothing */
	if (t)
		madvise(t, UWC_LEN, MADV_DONTNEED);
}

void agent_uwcache_enable(bool on)
{
	atomic_store(&uwc_off, !on);
}

void agent_uwcache_counters(uint64_t *hits, uint64_t *fills)
{
	*hits = uwc_hits;
	*fills = uwc_fills;
}

static inline struct uwc_entry *uwc_slot(struct uwc_entry *t, uint64_t pc)
{
	return &t[(pc * 0x9E3779B97F4A7C15ull) >> (64 - UWC_BITS)];
}

/* The rule of key in t, or 0. One atomic 16-byte load. */
static inline uint64_t uwc_get(struct uwc_entry *t, uint64_t pc, uint64_t key)
{
	__m128i v;

	__asm__ volatile("movdqa %1, %0" : "=x"(v) : "m"(*uwc_slot(t, pc)));
	if ((uint64_t)_mm_cvtsi128_si64(v) != key)
		return 0;
	return (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
}

/* Stores {key, rule} whole: a racing fill of the slot wins or loses entirely. */
static inline void uwc_put(struct uwc_entry *t, uint64_t pc, uint64_t key, uint64_t rule)
{
	__m128i v = _mm_set_epi64x((long long)rule, (long long)key);

	__asm__ volatile("movdqa %1, %0" : "=m"(*uwc_slot(t, pc)) : "x"(v));
	uwc_fills++;
}

/* The row packed for the cache, or 0 when its shape is not the common one. */
static uint64_t uwc_pack(const struct uw_cie *cie, const struct uw_row *row)
{
	uint64_t rule, saves = 0, nsaved = 0;
	int k = 0;

	if (cie->signal || cie->ra_reg != R_RIP || row->cfa_expr ||
	    (row->cfa_reg != R_RSP && row->cfa_reg != R_RBP) ||
	    row->cfa_off < -(1 << 23) || row->cfa_off >= (1 << 23))
		return 0;
	for (int r = 0; r < UW_NREGS; r++) {
		const struct uw_rule *ru = &row->reg[r];
		uint64_t v = 0;

		if (k < 7 && uwc_regs[k] == r) {
			k++;
			if (r == R_RIP && ru->how == RULE_UNDEF) {
				v = 0;
			} else if (ru->how == RULE_OFFSET) {
				if (ru->off > -8 || ru->off < -8 * UWC_SAVE_MAX || ru->off % 8)
					return 0;
				v = (uint64_t)(-ru->off / 8);
				nsaved++;
			} else if (ru->how != RULE_SAME) {
				return 0;
			}
			saves |= v << (5 * (k - 1));
		} else if (ru->how != RULE_SAME) {
			return 0;
		}
	}
	rule = (row->cfa_reg == R_RBP ? UWC_CFA_RBP : 0) |
	       ((uint64_t)row->cfa_off & 0xffffff) << UWC_OFF_SHIFT | saves << UWC_SAVE_SHIFT;
	if (row->reg[R_RIP].how == RULE_UNDEF) {
		/* the full path would read the saves before it sees the end: not cached */
		return nsaved ? 0 : rule | UWC_END;
	}
	return rule | UWC_ROW;
}

/* uw_apply_row for a packed row: the same reads, checks and result. */
static enum uw_step uwc_apply(uint64_t rule, struct uw_regs *s, struct uw_mem *mem)
{
	unsigned cr = (rule & UWC_CFA_RBP) ? R_RBP : R_RSP;
	uint64_t cfa, saves = rule >> UWC_SAVE_SHIFT, val[7];
	uint32_t valid = s->valid;

	if (!(valid & (1u << cr)))
		return STEP_FAIL;
	cfa = s->r[cr] + (uint64_t)((int64_t)(rule << (64 - UWC_SAVE_SHIFT)) >>
				    (64 - UWC_SAVE_SHIFT + UWC_OFF_SHIFT));
	if ((rule & 3) == UWC_END)
		return STEP_END;
	/* reads and checks first: s changes only in a step that succeeds (no copy of s) */
	for (int k = 0; k < 7; k++) {
		unsigned v = (saves >> (5 * k)) & 31;

		if (v) {
			if (!uw_read(mem, cfa - 8 * (uint64_t)v, &val[k]))
				return STEP_FAIL;
			valid |= 1u << uwc_regs[k];
		}
	}
	if (!(valid & (1u << R_RIP)))
		return STEP_END;
	if (cfa <= s->r[R_RSP])
		return STEP_FAIL;	/* no progress */
	for (int k = 0; k < 7; k++)
		if ((saves >> (5 * k)) & 31)
			s->r[uwc_regs[k]] = val[k];
	s->r[R_RSP] = cfa;
	s->valid = valid | 1u << R_RSP | 1u << R_RIP;
	return STEP_OK;
}

/*
 * One CFI step for lpc, through the cache when t is set (key: lpc and the
 * snapshot's gen). STEP_FAIL also when there is no CFI: the caller tries
 * the frame pointer.
 */
static enum uw_step uw_step_cfi(const struct agent_modsnap *snap, struct uwc_entry *t,
				uintptr_t lpc, struct uw_regs *s, struct uw_mem *mem, bool *signal)
{
	uint64_t key = 0, rule;
	const struct agent_mod *m;
	struct uw_cie cie;
	struct uw_row row;
	enum uw_step st;

	if (t && lpc < (1ull << 48)) {
		key = lpc | (uint64_t)snap->gen << 48;
		rule = uwc_get(t, lpc, key);
		if (rule) {
			uwc_hits++;
			if ((rule & 3) == UWC_NOCFI)
				return STEP_FAIL;
			return uwc_apply(rule, s, mem);
		}
	}
	m = agent_modsnap_find(snap, lpc);
	if (!m || !m->fde_table || !uw_row_for(m, lpc, &cie, &row)) {
		if (key)
			uwc_put(t, lpc, key, UWC_NOCFI);
		return STEP_FAIL;
	}
	st = uw_apply_row(&cie, &row, s, mem, signal);
	if (key && (rule = uwc_pack(&cie, &row)) != 0)
		uwc_put(t, lpc, key, rule);
	return st;
}

static enum uw_step uw_step_fp(struct uw_regs *s, struct uw_mem *mem)
{
	uint64_t bp = s->r[R_RBP], ra, next;

	if (!(s->valid & (1u << R_RBP)) || bp < s->r[R_RSP] || bp == 0)
		return STEP_FAIL;
	if (!uw_read(mem, bp, &next) || !uw_read(mem, bp + 8, &ra))
		return STEP_FAIL;
	/* the chain must go up the stack, else it is not a frame chain */
	if (next != 0 && next <= bp)
		next = 0;
	s->r[R_RBP] = next;
	s->r[R_RSP] = bp + 16;
	s->r[R_RIP] = ra;
	/* callee-saved registers the frame chain says nothing about stay as they were */
	s->valid = 1u << R_RBP | 1u << R_RSP | 1u << R_RIP |
		   (s->valid & (1u << R_RBX | 1u << R_R12 | 1u << R_R13 | 1u << R_R14 |
				1u << R_R15));
	if (next == 0)
		s->valid &= ~(1u << R_RBP);
	return STEP_OK;
}

/*
 * The unwind loop. exact: the first pc is exact (signal context) rather than
 * a return address. use_cfi false = frame pointers only.
 */
static int uw_unwind(struct uw_regs *s, uintptr_t *pcs, int max, int skip, bool exact,
		     bool use_cfi)
{
	struct uw_mem mem;
	const struct agent_modsnap *snap;
	struct uwc_entry *cache;
	int token, n = 0;

	if (max <= 0)
		return 0;
	uw_mem_init(&mem, s->r[R_RSP]);
	snap = agent_modules_enter(&token);
	/* a snapshot with gen 0 was never published by modules.c (tests build none such) */
	cache = snap && snap->gen && !atomic_load_explicit(&uwc_off, memory_order_relaxed)
			? atomic_load_explicit(&uwc_tab, memory_order_relaxed) : NULL;
	for (int frames = 0; n < max && frames < max + skip + 8; frames++) {
		uintptr_t pc = s->r[R_RIP];
		uintptr_t lpc = exact ? pc : pc - 1;
		enum uw_step st = STEP_FAIL;
		bool signal = false;

		if (pc < 4096)
			break;
		if (skip > 0)
			skip--;
		else
			pcs[n++] = lpc;
		if (use_cfi && snap)
			st = uw_step_cfi(snap, cache, lpc, s, &mem, &signal);
		if (st == STEP_FAIL)
			st = uw_step_fp(s, &mem);
		if (st != STEP_OK)
			break;
		exact = signal;
	}
	agent_modules_leave(token);
	return n;
}

static int uw_unwind_context(void *ucontext, uintptr_t *pcs, int max, bool use_cfi)
{
	struct uw_regs s;
	int saved = errno;
	int n;

	if (max <= 0)
		return 0;
	uw_regs_from_ucontext(&s, ucontext);
	n = uw_unwind(&s, pcs, max, 0, true, use_cfi);
	errno = saved;
	if (n == 0) {
		pcs[0] = (uintptr_t)((const ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
		n = 1;
	}
	return n;
}

int agent_unwind_signal(void *ucontext, uintptr_t *pcs, int max)
{
	return uw_unwind_context(ucontext, pcs, max, true);
}

int agent_unwind_signal_fp(void *ucontext, uintptr_t *pcs, int max)
{
	return uw_unwind_context(ucontext, pcs, max, false);
}

/*
 * uw_capture(regs) stores the callee-saved registers, rsp and rip as they
 * are in its caller right after the call returns: an ordinary frame state
 * at a return address, which the CFI of the caller describes.
 */
void agent_uw_capture(uint64_t *regs);
__asm__(".text\n"
	".p2align 4\n"
	".globl agent_uw_capture\n"
	".hidden agent_uw_capture\n"
	".type agent_uw_capture, @function\n"
	"agent_uw_capture:\n"
	".cfi_startproc\n"
	"\tmovq %rbx, 0(%rdi)\n"
	"\tmovq %rbp, 8(%rdi)\n"
	"\tleaq 8(%rsp), %rax\n"
	"\tmovq %rax, 16(%rdi)\n"
	"\tmovq %r12, 24(%rdi)\n"
	"\tmovq %r13, 32(%rdi)\n"
	"\tmovq %r14, 40(%rdi)\n"
	"\tmovq %r15, 48(%rdi)\n"
	"\tmovq (%rsp), %rax\n"
	"\tmovq %rax, 56(%rdi)\n"
	"\tret\n"
	".cfi_endproc\n"
	".size agent_uw_capture, .-agent_uw_capture\n");

__attribute__((noinline)) int agent_unwind_here(uintptr_t *pcs, int max, int skip)
{
	uint64_t cap[8];
	struct uw_regs s;
	int saved = errno;
	int n;

	agent_uw_capture(cap);
	memset(&s, 0, sizeof(s));
	s.r[R_RBX] = cap[0];
	s.r[R_RBP] = cap[1];
	s.r[R_RSP] = cap[2];
	s.r[R_R12] = cap[3];
	s.r[R_R13] = cap[4];
	s.r[R_R14] = cap[5];
	s.r[R_R15] = cap[6];
	s.r[R_RIP] = cap[7];
	s.valid = 1u << R_RBX | 1u << R_RBP | 1u << R_RSP | 1u << R_R12 | 1u << R_R13 |
		  1u << R_R14 | 1u << R_R15 | 1u << R_RIP;
	/* the first frame is this function itself */
	n = uw_unwind(&s, pcs, max, skip + 1, false, true);
	errno = saved;
	return n;
}
