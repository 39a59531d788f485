/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_heap_cxx.cc - C++ allocations through every operator new/delete
 * family the agent interposes (plain, array, nothrow, aligned, sized
 * delete), with known live bytes per allocating function printed as
 * "live <function> <bytes>" / "alloc <function> <bytes>" lines, like
 * prog_heap.c. Everything kept stays live through exit.
 */
#include <cstdint>
#include <cstdio>
#include <new>
#include <vector>

struct alignas(256) Wide {
	char bytes[4096];
};

static std::vector<void *> *keep;
static std::vector<std::vector<uint64_t>> *bufs;
static uint64_t live_obj, live_arr, live_aligned, alloc_churn;

__attribute__((noinline)) static void new_objects(int n)
{
	for (int i = 0; i < n; i++) {
		// 6000-byte objects through plain and nothrow new
		char *p = i % 2 ? new char[6000] : new (std::nothrow) char[6000];
		p[0] = 1;
		keep->push_back(p);
		live_obj += 6000;
	}
}

__attribute__((noinline)) static void new_arrays(int n)
{
	for (int i = 0; i < n; i++) {
		auto *v = new std::vector<uint64_t>(1000);	// 8000 bytes of elements
		(*v)[0] = 1;
		live_arr += 8000;
		// the elements stay live in bufs; the vector object goes (sized delete)
		bufs->push_back(std::move(*v));
		delete v;
	}
}

__attribute__((noinline)) static void new_aligned(int n)
{
	for (int i = 0; i < n; i++) {
		Wide *w = new Wide;	// operator new(size_t, align_val_t)
		w->bytes[0] = 1;
		keep->push_back(w);
		live_aligned += sizeof(Wide);
	}
}

__attribute__((noinline)) static void new_churn(int n)
{
	for (int i = 0; i < n; i++) {
		auto *a = new char[3000];
		a[0] = 1;
		delete[] a;
		Wide *w = new Wide;
		w->bytes[0] = 1;
		delete w;	// aligned (sized) delete
		alloc_churn += 3000 + sizeof(Wide);
	}
}

int main()
{
	keep = new std::vector<void *>();
	keep->reserve(100000);
	bufs = new std::vector<std::vector<uint64_t>>();
	bufs->reserve(3000);
	new_objects(4000);
	new_arrays(3000);
	new_aligned(4000);
	new_churn(20000);
	std::printf("live new_objects %llu\nlive new_arrays %llu\nlive new_aligned %llu\n",
		    (unsigned long long)live_obj, (unsigned long long)live_arr,
		    (unsigned long long)live_aligned);
	std::printf("alloc new_churn %llu\nlive new_churn 0\n", (unsigned long long)alloc_churn);
	// the keep and bufs vectors' own buffers are live too
	uint64_t total = live_obj + live_arr + live_aligned + 100000 * sizeof(void *) +
			 3000 * sizeof(std::vector<uint64_t>);
	std::printf("live total %llu\n", (unsigned long long)total);
	return 0;
}
