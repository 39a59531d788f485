/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sampler.c - the sampling signal and what sends it: per-thread CPU-time
 * timers (cpu), the wall ticker thread (wall), one-shot signals to every
 * thread (threads snapshots); the thread registry; the pthread_create,
 * sigaction and signal interposers. The ticker also polls for objects
 * loaded by dlopen (agent_modules_poll).
 *
 * One handler serves every kind. Each signal the agent sends carries a
 * tagged si_value (SMP_MAGIC in the high half, the kind and a payload in the
 * low half): CPU timers come as SI_TIMER, wall and snapshot signals as
 * SI_QUEUE from rt_tgsigqueueinfo with our pid. Anything else belongs to
 * the host and goes to the handler the host installed (the sigaction and
 * signal interposers record it instead of letting it replace ours).
 *
 * Invariants and transitions:
 *   1. the handler, once installed, stays installed for the life of the
 *      process (a queued signal after stop must not meet SIG_DFL);
 *   2. smp_running gates sampling: agent_sampler_start sets it last,
 *      agent_sampler_stop clears it and then waits for smp_inflight == 0, so
 *      after stop returns no handler touches the buffers;
 *   3. smp_active (under reg_lock) gates the registry: a thread registers
 *      (and gets a CPU timer) only while it is set, and stop clears it and
 *      deletes every timer under the same lock, so no timer outlives stop;
 *   4. every registered thread's timer is deleted by its key destructor at
 *      thread exit, or by the periodic /proc/self/task reconciliation for
 *      threads that did not start through our pthread_create.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/base.h"
#include "unwind.h"

#define SMP_MAGIC 0x4b494c4eull		/* "KILN" */
#define SMP_KIND_CPU 1u
#define SMP_KIND_WALL 2u
#define SMP_KIND_THREADS 3u
#define SMP_PAYLOAD_MASK 0x0fffffffu
#define SMP_SCAN_NS 2000000000ll	/* /proc/self/task reconciliation period */
#define SMP_POLL_NS 100000000ll		/* ticker period when there are no wall ticks */
#define SMP_SNAPSHOT_WAIT_NS 1000000000ll	/* slow to schedule on a loaded machine */

struct agent_profbuf *agent_cpu_buf, *agent_wall_buf;

/* settings copied at start (they survive fork for a restart in the child) */
static unsigned smp_profiles, smp_cpu_hz, smp_wall_hz, smp_per_tick, smp_max_frames,
	smp_max_stacks;
static int64_t smp_cpu_period, smp_wall_period;

static int smp_sig;			/* chosen once, kept: the handler stays */
static pid_t smp_pid;
static _Atomic bool smp_running;
static _Atomic int smp_inflight;

/* the host's disposition of smp_sig, two slots flipped atomically */
static struct sigaction smp_host[2];
static _Atomic int smp_host_cur;

/*
 * At most one wall and one snapshot signal in flight per thread (by tid,
 * folded): a thread that blocks our signal would otherwise collect a queue
 * of real-time signals, charged to the user's RLIMIT_SIGPENDING. A mark is
 * 0 (none in flight) or the coarse time it was sent (smp_stamp): a standard
 * signal (SIGPROF) pending twice is delivered once, so a mark may outlive
 * its signal, and SMP_STALE later it is taken as lost (smp_send). Real-time
 * signals queue: theirs are never lost, and never sent twice.
 */
#define SMP_PENDING_SLOTS 65536
#define SMP_STALE 4	/* in stamps of 2^28 ns: 0.4-0.54 s */
static _Atomic uint8_t smp_pending[2][SMP_PENDING_SLOTS];	/* [wall, snapshot] */
static __thread pid_t smp_tid AGENT_TLS;	/* cached gettid, 0 = unknown */

static _Atomic uint8_t *smp_mark(pid_t tid, unsigned kind)
{
	return &smp_pending[kind == SMP_KIND_WALL ? 0 : 1][(uint32_t)tid % SMP_PENDING_SLOTS];
}

static void smp_pending_clear(pid_t tid)
{
	atomic_store(smp_mark(tid, SMP_KIND_WALL), 0);
	atomic_store(smp_mark(tid, SMP_KIND_THREADS), 0);
}

/* threads snapshot */
static struct agent_profbuf *smp_thr_buf;
static pthread_mutex_t smp_snap_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool smp_snap_on;		/* a snapshot is being taken */
static _Atomic uint32_t smp_snap_acks;

/* ---- thread registry ------------------------------------------------------------ */

struct smp_thread {
	pid_t tid;		/* 0 = empty, -1 = deleted */
	int timer;		/* kernel timer id, -1 = none */
	uint64_t gen;		/* registration number, for reconciliation */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smp_thread *reg;
static size_t reg_cap, reg_n, reg_used;	/* slots, live, live + deleted */
static uint64_t reg_gen;
static size_t reg_cursor;		/* wall round robin */
static bool smp_active;			/* registry accepts threads (under reg_lock) */
static pid_t smp_excluded[16];		/* agent threads: never registered */
static pthread_key_t smp_key;
static bool smp_key_ok;
static bool smp_atfork_done;

/* the ticker thread */
static pthread_t smp_ticker;
static bool smp_ticker_on;
static pthread_mutex_t tick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cond;
static bool tick_stop;

static pid_t smp_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static size_t reg_slot(pid_t tid)
{
	return ((uint32_t)tid * 2654435761u) & (reg_cap - 1);
}

/* The slot of tid, or SIZE_MAX. Under reg_lock. */
static size_t reg_find(pid_t tid)
{
	if (!reg_cap)
		return SIZE_MAX;
	for (size_t i = reg_slot(tid), k = 0; k < reg_cap; i = (i + 1) & (reg_cap - 1), k++) {
		if (reg[i].tid == tid)
			return i;
		if (reg[i].tid == 0)
			return SIZE_MAX;
	}
	return SIZE_MAX;
}

static int reg_rehash(size_t cap)
{
	struct smp_thread *old = reg, *n = kl_calloc(cap, sizeof(*n));
	size_t oldcap = reg_cap;

	if (!n)
		return -ENOMEM;
	reg = n;
	reg_cap = cap;
	reg_used = reg_n;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].tid <= 0)
			continue;
		size_t j = reg_slot(old[i].tid);

		while (reg[j].tid != 0)
			j = (j + 1) & (cap - 1);
		reg[j] = old[i];
	}
	kl_free(old);
	reg_cursor = 0;
	return 0;
}

/* Adds tid (not present) with timer. Under reg_lock. */
static int reg_put(pid_t tid, int timer)
{
	size_t i;

	if ((reg_used + 1) * 2 > reg_cap) {
		size_t cap = reg_cap ? reg_cap : 64;

		while ((reg_n + 1) * 4 > cap)
			cap *= 2;
		if (reg_rehash(cap) < 0)
			return -ENOMEM;
	}
	i = reg_slot(tid);
	while (reg[i].tid > 0)
		i = (i + 1) & (reg_cap - 1);
	if (reg[i].tid == 0)
		reg_used++;
	reg[i] = (struct smp_thread){tid, timer, ++reg_gen};
	reg_n++;
	smp_pending_clear(tid);
	return 0;
}

static void smp_timer_delete(int timer)
{
	if (timer >= 0)
		syscall(SYS_timer_delete, timer);
}

static void reg_del(size_t i)
{
	smp_pending_clear(reg[i].tid);
	smp_timer_delete(reg[i].timer);
	reg[i].tid = -1;
	reg[i].timer = -1;
	reg_n--;
}

/* A CPU-time timer of thread tid signalling that thread; -1 on failure. */
static int smp_timer_create(pid_t tid)
{
	struct sigevent sev;
	struct itimerspec its;
	int id = -1;
	/* the kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) */
	clockid_t clk = (clockid_t)((~(unsigned)tid) << 3 | 6);

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = smp_sig;
	sev._sigev_un._tid = tid;
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)(SMP_MAGIC << 32 | SMP_KIND_CPU << 28);
	if (syscall(SYS_timer_create, clk, &sev, &id) != 0)
		return -1;
	its.it_interval.tv_sec = smp_cpu_period / 1000000000;
	its.it_interval.tv_nsec = smp_cpu_period % 1000000000;
	its.it_value = its.it_interval;
	if (syscall(SYS_timer_settime, id, 0, &its, NULL) != 0) {
		syscall(SYS_timer_delete, id);
		return -1;
	}
	return id;
}

/* Registers tid (with a CPU timer when cpu is on) if not there yet. Under reg_lock. */
static void reg_add_thread(pid_t tid)
{
	int timer = -1;

	if (!smp_active || reg_find(tid) != SIZE_MAX)
		return;
	for (size_t i = 0; i < KL_ARRAY_SIZE(smp_excluded); i++)
		if (smp_excluded[i] == tid)
			return;
	if (smp_profiles & KILN_PROFILE_CPU)
		timer = smp_timer_create(tid);
	if (reg_put(tid, timer) < 0)
		smp_timer_delete(timer);
}

static void smp_thread_exit(void *arg)
{
	pid_t tid = (pid_t)(intptr_t)arg;
	size_t i;

	agent_self.in_agent++;
	pthread_mutex_lock(&reg_lock);
	i = reg_find(tid);
	if (i != SIZE_MAX)
		reg_del(i);
	pthread_mutex_unlock(&reg_lock);
	agent_self.in_agent--;
}

/* The calling thread joins the registry (outside any handler). */
static void smp_thread_begin(void)
{
	pid_t tid = smp_gettid();
	size_t i;

	agent_unwind_thread_init();
	pthread_mutex_lock(&reg_lock);
	/* an entry for this tid is a dead thread's (tid reuse) or a scan's: replace it */
	i = reg_find(tid);
	if (i != SIZE_MAX)
		reg_del(i);
	reg_add_thread(tid);
	pthread_mutex_unlock(&reg_lock);
	if (smp_key_ok)
		pthread_setspecific(smp_key, (void *)(intptr_t)tid);
}

static int smp_cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Reconciles the registry with /proc/self/task: adds threads the agent did
 * not see start, deletes the timers of threads that are gone. Registrations
 * made while the directory was read are left alone.
 */
static void smp_scan(void)
{
	DIR *d;
	struct dirent *de;
	pid_t *tids = NULL;
	size_t n = 0, cap = 0;
	uint64_t gen0;
	bool complete = true;

	agent_self.in_agent++;
	pthread_mutex_lock(&reg_lock);
	gen0 = reg_gen;
	pthread_mutex_unlock(&reg_lock);
	d = opendir("/proc/self/task");
	if (!d)
		goto out;
	while ((de = readdir(d))) {
		char *end;
		long t = strtol(de->d_name, &end, 10);

		if (*end || t <= 0)
			continue;
		if (KL_GROW(tids, cap, n + 1) < 0) {
			complete = false;	/* then nothing is deleted */
			break;
		}
		tids[n++] = (pid_t)t;
	}
	closedir(d);
	pthread_mutex_lock(&reg_lock);
	if (smp_active) {
		/* mark: gen of present entries is left, gone ones are deleted */
		for (size_t i = 0; i < n; i++)
			reg_add_thread(tids[i]);
		qsort(tids, n, sizeof(*tids), smp_cmp_tid);
		for (size_t i = 0; complete && i < reg_cap; i++) {
			if (reg[i].tid <= 0 || reg[i].gen > gen0)
				continue;
			if (!bsearch(&reg[i].tid, tids, n, sizeof(*tids), smp_cmp_tid))
				reg_del(i);
		}
	}
	pthread_mutex_unlock(&reg_lock);
out:
	kl_free(tids);
	agent_self.in_agent--;
}

/* ---- the handler ------------------------------------------------------------------ */

static void smp_chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction h = smp_host[atomic_load(&smp_host_cur) & 1];

	if (h.sa_flags & SA_SIGINFO) {
		if (h.sa_sigaction)
			h.sa_sigaction(sig, si, uc);
	} else if (h.sa_handler != SIG_DFL && h.sa_handler != SIG_IGN) {
		h.sa_handler(sig);
	}
	/* SIG_DFL would terminate the host for a signal it never asked for: drop it */
}

static void smp_sample(unsigned kind, uint32_t payload, const siginfo_t *si, void *uc)
{
	unsigned max = smp_max_frames ? smp_max_frames : 1;
	uintptr_t pcs[max];
	int64_t v[2];
	int n;

	/*
	 * Any snapshot's signal counts while a snapshot is being taken: one
	 * that missed the last snapshot's deadline is still queued (one per
	 * thread at most), and the current snapshot expects it instead of
	 * sending another (agent_threads_snapshot).
	 */
	if (kind == SMP_KIND_THREADS && !atomic_load(&smp_snap_on))
		return;
	if (agent_self.in_agent > 0) {
		/* the agent's own threads (exporter) and hooks: not the host's work */
		if (kind == SMP_KIND_THREADS)
			atomic_fetch_add(&smp_snap_acks, 1);
		return;
	}
	n = agent_unwind_signal(uc, pcs, (int)max);
	switch (kind) {
	case SMP_KIND_CPU:
		v[0] = 1 + (si->si_overrun > 0 ? si->si_overrun : 0);
		v[1] = v[0] * smp_cpu_period;
		if (agent_cpu_buf)
			agent_profbuf_add(agent_cpu_buf, agent_labelset_current(), pcs,
					  (uint32_t)n, v);
		break;
	case SMP_KIND_WALL:
		v[0] = payload;
		v[1] = (int64_t)payload * smp_wall_period;
		if (agent_wall_buf)
			agent_profbuf_add(agent_wall_buf, agent_labelset_current(), pcs,
					  (uint32_t)n, v);
		break;
	case SMP_KIND_THREADS:
		v[0] = 1;
		agent_profbuf_add(smp_thr_buf, agent_labelset_current(), pcs, (uint32_t)n, v);
		atomic_fetch_add(&smp_snap_acks, 1);
		break;
	}
}

static void smp_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	uint64_t tag = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	bool ours = (tag >> 32) == SMP_MAGIC &&
		    (si->si_code == SI_TIMER || (si->si_code == SI_QUEUE && si->si_pid == smp_pid));
	unsigned kind;

	if (!ours) {
		smp_chain(sig, si, uc);
		errno = saved;
		return;
	}
	atomic_fetch_add(&smp_inflight, 1);
	kind = (uint32_t)tag >> 28;
	if (atomic_load(&smp_running))
		smp_sample(kind, (uint32_t)tag & SMP_PAYLOAD_MASK, si, uc);
	/*
	 * Only now may the next signal be sent: a snapshot that finds this
	 * one pending counts on it to answer (smp_sample), so it must not
	 * also send a second one, answered twice.
	 */
	if (kind == SMP_KIND_WALL || kind == SMP_KIND_THREADS) {
		if (!smp_tid)
			smp_tid = (pid_t)syscall(SYS_gettid);
		atomic_store(smp_mark(smp_tid, kind), 0);
	}
	atomic_fetch_sub(&smp_inflight, 1);
	errno = saved;
}

/* ---- signal choice and the sigaction / signal interposers -------------------------- */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);

/* The next definition of name after ours (libc's), looked up once into *slot. */
static void *smp_real(const char *name, void *_Atomic *slot)
{
	void *fn = atomic_load(slot);

	if (!fn) {
		fn = dlsym(RTLD_NEXT, name);
		atomic_store(slot, fn);
	}
	return fn;
}

static void *_Atomic smp_real_slots[3];

static sigaction_fn smp_real_sigaction(void)
{
	return (sigaction_fn)smp_real("sigaction", &smp_real_slots[0]);
}

static signal_fn smp_real_signal(void)
{
	return (signal_fn)smp_real("signal", &smp_real_slots[1]);
}

static bool smp_sig_free(int sig)
{
	struct sigaction old;

	if (smp_real_sigaction()(sig, NULL, &old) != 0)
		return false;
	if (old.sa_flags & SA_SIGINFO)
		return false;
	return old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN;
}

/* Chooses and installs the signal once; later starts reuse it. */
static int smp_install(int want)
{
	struct sigaction sa;
	int sig = want;

	if (smp_sig)
		return 0;
	if (!sig) {
		if (smp_sig_free(SIGPROF))
			sig = SIGPROF;
		for (int s = SIGRTMAX; !sig && s >= SIGRTMIN; s--)
			if (smp_sig_free(s))
				sig = s;
		if (!sig)
			return -KILN_ESIGNAL;
	}
	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
		return -KILN_ESIGNAL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = smp_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (smp_real_sigaction()(sig, &sa, &smp_host[0]) != 0)
		return -errno;
	atomic_store(&smp_host_cur, 0);
	smp_sig = sig;
	return 0;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
	__attribute__((visibility("default")));
sighandler_t signal(int sig, sighandler_t handler) __attribute__((visibility("default")));

int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	sigaction_fn real = smp_real_sigaction();
	int cur;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (!smp_sig || sig != smp_sig)
		return real(sig, act, oact);
	/* our signal: the host's handler is recorded and chained, ours stays */
	cur = atomic_load(&smp_host_cur) & 1;
	if (oact)
		*oact = smp_host[cur];
	if (act) {
		smp_host[!cur] = *act;
		atomic_store(&smp_host_cur, !cur);
	}
	return 0;
}

sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	if (!smp_sig || sig != smp_sig) {
		signal_fn fn = smp_real_signal();

		return fn ? fn(sig, handler) : SIG_ERR;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;	/* glibc's signal() has BSD semantics */
	if (sigaction(sig, &sa, &old) != 0)
		return SIG_ERR;
	return (old.sa_flags & SA_SIGINFO) ? (sighandler_t)(void *)old.sa_sigaction
					   : old.sa_handler;
}

/* ---- pthread_create interposer --------------------------------------------------- */

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
				 void *);

struct smp_start {
	void *(*fn)(void *);
	void *arg;
};

static void *smp_trampoline(void *p)
{
	struct smp_start s = *(struct smp_start *)p;

	agent_self.in_agent++;
	kl_free(p);
	smp_thread_begin();
	agent_self.in_agent--;
	return s.fn(s.arg);
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
	__attribute__((visibility("default")));

static pthread_create_fn smp_real_create(void)
{
	return (pthread_create_fn)smp_real("pthread_create", &smp_real_slots[2]);
}

/*
 * The real functions are looked up at load time: the interposers may first
 * be called where dlsym is not safe (sigaction from a signal handler).
 */
__attribute__((constructor)) static void smp_resolve(void)
{
	smp_real_sigaction();
	smp_real_signal();
	smp_real_create();
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	pthread_create_fn create = smp_real_create();
	struct smp_start *s;
	int rc;

	if (!create)
		return EAGAIN;
	if (!atomic_load(&smp_running)) {
		agent_export_host_thread();
		return create(t, attr, fn, arg);
	}
	agent_self.in_agent++;
	s = kl_malloc(sizeof(*s));
	agent_self.in_agent--;
	if (!s)
		return create(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	rc = create(t, attr, smp_trampoline, s);
	if (rc != 0) {
		agent_self.in_agent++;
		kl_free(s);
		agent_self.in_agent--;
	}
	return rc;
}

/* ---- the ticker: wall ticks and reconciliation ------------------------------------ */

static int64_t smp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The coarse time for pending marks: 1..255, 2^28 ns a step, wrapping. */
static uint8_t smp_stamp(void)
{
	return (uint8_t)(1 + (uint64_t)smp_now() / ((uint64_t)1 << 28) % 255);
}

/*
 * 0 sent, 1 the last one of KIND is still pending (not sent), -1 failed.
 * Async-signal-safe (a snapshot may be taken from anywhere the host calls).
 */
static int smp_send(pid_t tid, unsigned kind, uint32_t payload)
{
	_Atomic uint8_t *pend = smp_mark(tid, kind);
	uint8_t now = smp_stamp(), mark = 0;
	siginfo_t si;
	int rc;

	if (!atomic_compare_exchange_strong(pend, &mark, now)) {
		/* in flight, unless a standard signal's mark is stale: merged away */
		if (smp_sig >= SIGRTMIN || (uint8_t)((now - mark + 255) % 255) < SMP_STALE ||
		    !atomic_compare_exchange_strong(pend, &mark, now))
			return 1;
	}
	memset(&si, 0, sizeof(si));
	si.si_signo = smp_sig;
	si.si_code = SI_QUEUE;
	si.si_pid = smp_pid;
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)(SMP_MAGIC << 32 | (uint64_t)kind << 28 |
						     (payload & SMP_PAYLOAD_MASK));
	rc = (int)syscall(SYS_rt_tgsigqueueinfo, smp_pid, tid, smp_sig, &si);
	if (rc != 0)
		atomic_store(pend, 0);
	return rc;
}

/*
 * Signals up to smp_per_tick threads, round robin. Each stands for
 * threads/signalled ticks of wall time; the integer weights of one tick
 * add up to the number of threads exactly.
 */
static void smp_wall_tick(void)
{
	pid_t tids[256];
	size_t k, total, want;

	pthread_mutex_lock(&reg_lock);
	total = reg_n;
	want = KL_MIN((size_t)smp_per_tick, KL_MIN(total, KL_ARRAY_SIZE(tids)));
	k = 0;
	for (size_t seen = 0; k < want && seen < reg_cap; seen++) {
		size_t i = reg_cursor;

		reg_cursor = (reg_cursor + 1) & (reg_cap - 1);
		if (reg[i].tid > 0)
			tids[k++] = reg[i].tid;
	}
	pthread_mutex_unlock(&reg_lock);
	for (size_t i = 0; i < k; i++) {
		uint32_t w = (uint32_t)(total / k + (i < total % k));

		smp_send(tids[i], SMP_KIND_WALL, w);
	}
}

static void *smp_ticker_main(void *arg)
{
	/* without wall ticks, still wake up often enough to notice dlopen'ed objects */
	int64_t period = (smp_profiles & KILN_PROFILE_WALL) ? smp_wall_period : SMP_POLL_NS;
	int64_t next = smp_now(), next_scan = next + SMP_SCAN_NS;

	agent_sampler_thread_exclude();
	agent_self.in_agent++;	/* permanently: an agent thread, not sampled */
	pthread_mutex_lock(&tick_lock);
	while (!tick_stop) {
		struct timespec ts;

		next += period;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		while (!tick_stop && pthread_cond_timedwait(&tick_cond, &tick_lock, &ts) == 0)
			;
		if (tick_stop)
			break;
		pthread_mutex_unlock(&tick_lock);
		agent_modules_poll();
		if (smp_profiles & KILN_PROFILE_WALL)
			smp_wall_tick();
		if (smp_now() >= next_scan) {
			smp_scan();
			next_scan = smp_now() + SMP_SCAN_NS;
		}
		/* after a long stall, do not burst to catch up */
		if (smp_now() - next > 10 * period)
			next = smp_now();
		pthread_mutex_lock(&tick_lock);
	}
	pthread_mutex_unlock(&tick_lock);
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < KL_ARRAY_SIZE(smp_excluded); i++)
		if (smp_excluded[i] == smp_gettid())
			smp_excluded[i] = 0;
	pthread_mutex_unlock(&reg_lock);
	return NULL;
}

static int smp_ticker_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t a;
	sigset_t all, old;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	tick_stop = false;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 256 * 1024);
	/* the ticker must never run the sampling handler (or the host's) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = smp_real_create() ? smp_real_create()(&smp_ticker, &a, smp_ticker_main, NULL)
			       : EAGAIN;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (rc != 0)
		return -rc;
	smp_ticker_on = true;
	return 0;
}

static void smp_ticker_stop(void)
{
	if (!smp_ticker_on)
		return;
	pthread_mutex_lock(&tick_lock);
	tick_stop = true;
	pthread_cond_signal(&tick_cond);
	pthread_mutex_unlock(&tick_lock);
	pthread_join(smp_ticker, NULL);
	smp_ticker_on = false;
}

/* ---- start / stop ------------------------------------------------------------------ */

static void smp_drop_buffers(void)
{
	agent_profbuf_free(agent_cpu_buf);
	agent_profbuf_free(agent_wall_buf);
	agent_profbuf_free(smp_thr_buf);
	agent_cpu_buf = agent_wall_buf = smp_thr_buf = NULL;
}

/* fork() never copies the registry mid-update: it waits for reg_lock */
static void smp_fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void smp_fork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void smp_fork_child(void)
{
	pthread_mutex_init(&reg_lock, NULL);
}

/* Timers, registry and ticker, with the settings already in place. */
static int smp_run(void)
{
	int rc;

	pthread_mutex_lock(&reg_lock);
	smp_active = true;
	pthread_mutex_unlock(&reg_lock);
	atomic_store(&smp_running, true);
	agent_unwind_thread_init();
	smp_scan();
	rc = smp_ticker_start();
	if (rc < 0)
		agent_sampler_stop();
	return rc;
}

int agent_sampler_start(const struct agent_config *c)
{
	unsigned want = c->profiles & (KILN_PROFILE_CPU | KILN_PROFILE_WALL | KILN_PROFILE_THREADS);
	int rc;

	if (atomic_load(&smp_running))
		return -KILN_EALREADY;
	if (!want)
		return 0;
	smp_profiles = want;
	smp_cpu_hz = c->cpu_hz ? c->cpu_hz : 100;
	smp_wall_hz = c->wall_hz ? c->wall_hz : 100;
	smp_per_tick = c->wall_threads_per_tick ? c->wall_threads_per_tick : 16;
	smp_max_frames = KL_MIN(c->max_frames ? c->max_frames : 128, AGENT_MAX_FRAMES_LIMIT);
	smp_max_stacks = c->max_stacks ? c->max_stacks : 65536;
	smp_cpu_period = 1000000000ll / smp_cpu_hz;
	smp_wall_period = 1000000000ll / smp_wall_hz;
	smp_pid = getpid();
	rc = smp_install(c->signal);
	if (rc < 0)
		return rc;
	if (!smp_key_ok && pthread_key_create(&smp_key, smp_thread_exit) == 0)
		smp_key_ok = true;
	if (!smp_atfork_done &&
	    pthread_atfork(smp_fork_prepare, smp_fork_parent, smp_fork_child) == 0)
		smp_atfork_done = true;
	agent_modules_refresh();
	smp_drop_buffers();
	rc = -ENOMEM;
	if ((want & KILN_PROFILE_CPU) &&
	    !(agent_cpu_buf = agent_profbuf_new(smp_max_stacks, smp_max_frames, 2)))
		goto fail;
	if ((want & KILN_PROFILE_WALL) &&
	    !(agent_wall_buf = agent_profbuf_new(smp_max_stacks, smp_max_frames, 2)))
		goto fail;
	if ((want & KILN_PROFILE_THREADS) &&
	    !(smp_thr_buf = agent_profbuf_new(KL_MIN(smp_max_stacks, 16384u), smp_max_frames, 1)))
		goto fail;
	return smp_run();
fail:
	smp_drop_buffers();
	return rc;
}

void agent_sampler_stop(void)
{
	smp_ticker_stop();
	pthread_mutex_lock(&reg_lock);
	smp_active = false;
	for (size_t i = 0; i < reg_cap; i++)
		if (reg[i].tid > 0)
			reg_del(i);
	kl_free(reg);
	reg = NULL;
	reg_cap = reg_n = reg_used = 0;
	pthread_mutex_unlock(&reg_lock);
	atomic_store(&smp_running, false);
	while (atomic_load(&smp_inflight) != 0)
		sched_yield();
	/* the buffers stay for the exporter's last drain; the next start replaces them */
}

void agent_sampler_atfork_child(bool keep_profiling)
{
	/* only this thread exists: no ticker, no timers (POSIX timers are not inherited) */
	smp_tid = 0;
	memset((void *)smp_pending, 0, sizeof(smp_pending));
	pthread_mutex_init(&reg_lock, NULL);
	pthread_mutex_init(&tick_lock, NULL);
	pthread_mutex_init(&smp_snap_lock, NULL);
	smp_ticker_on = false;
	memset(smp_excluded, 0, sizeof(smp_excluded));
	kl_free(reg);		/* consistent: fork waited for reg_lock */
	reg = NULL;
	reg_cap = reg_n = reg_used = 0;
	smp_active = false;
	atomic_store(&smp_inflight, 0);
	smp_pid = getpid();
	if (!atomic_load(&smp_running))
		return;
	if (!keep_profiling) {
		atomic_store(&smp_running, false);
		return;
	}
	if (smp_run() < 0)
		atomic_store(&smp_running, false);
}

void agent_sampler_thread_exclude(void)
{
	pid_t tid = smp_gettid();
	size_t i;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < KL_ARRAY_SIZE(smp_excluded); i++) {
		if (smp_excluded[i] == tid)
			break;
		if (smp_excluded[i] == 0) {
			smp_excluded[i] = tid;
			break;
		}
	}
	i = reg_find(tid);
	if (i != SIZE_MAX)
		reg_del(i);
	pthread_mutex_unlock(&reg_lock);
}

int agent_sampler_signal(void)
{
	return atomic_load(&smp_running) ? smp_sig : 0;
}

uint64_t agent_sampler_threads(void)
{
	uint64_t n;

	pthread_mutex_lock(&reg_lock);
	n = reg_n;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

/* ---- threads snapshot -------------------------------------------------------------- */

int agent_threads_snapshot(agent_stack_fn fn, void *ctx)
{
	pid_t *tids = NULL;
	size_t n = 0, cap = 0;
	uint32_t sent = 0;
	int64_t deadline;
	int rc = 0;

	if (!atomic_load(&smp_running) || !smp_thr_buf)
		return -KILN_ENOTRUNNING;
	agent_self.in_agent++;
	pthread_mutex_lock(&smp_snap_lock);
	agent_profbuf_drain(smp_thr_buf, NULL, NULL);	/* stragglers of the last one */
	smp_scan();
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < reg_cap; i++) {
		if (reg[i].tid <= 0)
			continue;
		if (KL_GROW(tids, cap, n + 1) < 0) {
			rc = -ENOMEM;
			break;
		}
		tids[n++] = reg[i].tid;
	}
	pthread_mutex_unlock(&reg_lock);
	atomic_store(&smp_snap_acks, 0);
	atomic_store(&smp_snap_on, true);
	/* a signal still pending from an earlier snapshot answers this one */
	for (size_t i = 0; i < n; i++)
		if (smp_send(tids[i], SMP_KIND_THREADS, 0) >= 0)
			sent++;
	deadline = smp_now() + SMP_SNAPSHOT_WAIT_NS;
	while (atomic_load(&smp_snap_acks) < sent && smp_now() < deadline) {
		struct timespec ts = {0, 200000};

		nanosleep(&ts, NULL);
	}
	atomic_store(&smp_snap_on, false);
	agent_profbuf_drain(smp_thr_buf, fn, ctx);
	pthread_mutex_unlock(&smp_snap_lock);
	kl_free(tids);
	agent_self.in_agent--;
	return rc;
}
