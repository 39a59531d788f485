/* SPDX-License-Identifier: Apache-2.0 */
/*
 * units.c - pprof's value formatting (its measurement package, as vendored
 * in Go 1.19): unit tables, scaling, labels, percentages and the choice of
 * one output unit per report. Parity with `go tool pprof` output depends on
 * every detail here, down to which strings count as aliases of a unit, so
 * the tables mirror pprof's rather than being "improved".
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

struct unit {
	const char *name;		/* canonical name, printed after values */
	const char *aliases[4];		/* lower case, NULL-terminated */
	double factor;			/* size in the kind's base unit */
};

struct unit_kind {
	const struct unit *units;	/* ascending factors */
	size_t nunits;
	struct unit fallback;		/* used when the target is unknown */
};

static const struct unit bytes_units[] = {
	{ "B", { "b", "byte" }, 1 },
	{ "kB", { "kb", "kbyte", "kilobyte" }, 1024.0 },
	{ "MB", { "mb", "mbyte", "megabyte" }, 1048576.0 },
	{ "GB", { "gb", "gbyte", "gigabyte" }, 1073741824.0 },
	{ "TB", { "tb", "tbyte", "terabyte" }, 1099511627776.0 },
	{ "PB", { "pb", "pbyte", "petabyte" }, 1125899906842624.0 },
};

/*
 * pprof 1.19 knows no minutes or days: anything of an hour or more prints
 * in "hrs". "μs" is listed as pprof lists it, although its sniffing (which
 * strips a final "s" from names longer than two bytes) never matches it.
 */
static const struct unit time_units[] = {
	{ "ns", { "ns", "nanosecond" }, 1 },
	{ "us", { "\xce\xbcs", "us", "microsecond" }, 1e3 },
	{ "ms", { "ms", "millisecond" }, 1e6 },
	{ "s", { "s", "sec", "second" }, 1e9 },
	{ "hrs", { "hour", "hr" }, 3600e9 },
};

/* Google Compute Units, which pprof also knows. */
static const struct unit gcu_units[] = {
	{ "n*GCU", { "nanogcu" }, 1e-9 },
	{ "u*GCU", { "microgcu" }, 1e-6 },
	{ "m*GCU", { "milligcu" }, 1e-3 },
	{ "GCU", { "gcu" }, 1 },
	{ "k*GCU", { "kilogcu" }, 1e3 },
	{ "M*GCU", { "megagcu" }, 1e6 },
	{ "G*GCU", { "gigagcu" }, 1e9 },
	{ "T*GCU", { "teragcu" }, 1e12 },
	{ "P*GCU", { "petagcu" }, 1e15 },
};

static const struct unit_kind kinds[] = {
	{ bytes_units, KL_ARRAY_SIZE(bytes_units), { "B", { NULL }, 1 } },
	{ time_units, KL_ARRAY_SIZE(time_units), { "s", { NULL }, 1e9 } },
	{ gcu_units, KL_ARRAY_SIZE(gcu_units), { "GCU", { NULL }, 1 } },
};

/*
 * pprof's sniffUnit: lower case, drop one trailing "s" when the name is
 * longer than two bytes, then look the result up among the aliases.
 * Lower-casing is ASCII only; profile units are ASCII in practice.
 */
static const struct unit *sniff(const struct unit_kind *k, const char *name)
{
	char low[32];
	size_t n = strlen(name);

	if (n >= sizeof(low))
		return NULL;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	if (n > 2 && low[n - 1] == 's')
		low[n - 1] = '\0';
	for (size_t i = 0; i < k->nunits; i++) {
		for (size_t a = 0; a < KL_ARRAY_SIZE(k->units[i].aliases) && k->units[i].aliases[a];
		     a++) {
			if (!strcmp(low, k->units[i].aliases[a]))
				return &k->units[i];
		}
	}
	return NULL;
}

static bool is_auto(const char *to)
{
	return !strcmp(to, "minimum") || !strcmp(to, "auto");
}

/* pprof's convertUnit: false when from is not of kind k. */
static bool convert(const struct unit_kind *k, int64_t value, const char *from, const char *to,
		    double *out, const char **out_unit)
{
	const struct unit *fu = sniff(k, from), *tu;
	double v;

	if (!fu)
		return false;
	v = (double)value * fu->factor;
	if (is_auto(to)) {
		/* the largest unit in which the value is at least 1 */
		double f = 0;
		const char *name = NULL;

		for (size_t i = 0; i < k->nunits; i++) {
			if (k->units[i].factor >= f && v / k->units[i].factor >= 1.0) {
				f = k->units[i].factor;
				name = k->units[i].name;
			}
		}
		if (name) {
			*out = v / f;
			*out_unit = name;
			return true;
		}
		*out = v / k->fallback.factor;
		*out_unit = k->fallback.name;
		return true;
	}
	tu = sniff(k, to);
	if (!tu)
		tu = &k->fallback;
	*out = v / tu->factor;
	*out_unit = tu->name;
	return true;
}

double kl_unit_scale(int64_t value, const char *from_unit, const char *to_unit,
		     const char **out_unit)
{
	static const char *const plain[] = { "count", "sample", "unit", "minimum", "auto" };
	double v;

	/* scale the magnitude so that rounding is symmetric (INT64_MIN stays) */
	if (value < 0 && value != INT64_MIN)
		return -kl_unit_scale(-value, from_unit, to_unit, out_unit);
	for (size_t i = 0; i < KL_ARRAY_SIZE(kinds); i++) {
		if (convert(&kinds[i], value, from_unit, to_unit, &v, out_unit))
			return v;
	}
	*out_unit = to_unit;
	for (size_t i = 0; i < KL_ARRAY_SIZE(plain); i++) {
		if (!strcmp(to_unit, plain[i])) {
			*out_unit = "";
			break;
		}
	}
	return (double)value;
}

char *kl_unit_label(char *buf, size_t size, int64_t value, const char *from_unit,
		    const char *to_unit)
{
	const char *unit;
	double v = kl_unit_scale(value, from_unit, to_unit, &unit);
	char num[KL_UNIT_LABEL_MAX];
	size_t n;

	snprintf(num, sizeof(num), "%.2f", v);
	n = strlen(num);
	if (n >= 3 && !strcmp(num + n - 3, ".00"))
		num[n - 3] = '\0';
	if (!strcmp(num, "0") || !strcmp(num, "-0"))
		snprintf(buf, size, "0");
	else
		snprintf(buf, size, "%s%s", num, unit);
	return buf;
}

char *kl_unit_percentage(char *buf, size_t size, int64_t value, int64_t total)
{
	double ratio = 0;

	if (total != 0)
		ratio = fabs((double)value / (double)total) * 100;
	if (ratio >= 99.95 && ratio <= 100.05)
		snprintf(buf, size, "  100%%");
	else if (ratio >= 1.0)
		snprintf(buf, size, "%5.2f%%", ratio);
	else
		snprintf(buf, size, "%5.2g%%", ratio);
	return buf;
}

const char *kl_unit_select(int64_t min_value, int64_t max_value, const char *sample_unit)
{
	const char *min_unit, *max_unit, *unit;
	int64_t scaled;

	if (min_value == 0)
		min_value = max_value;
	kl_unit_scale(min_value, sample_unit, "minimum", &min_unit);
	kl_unit_scale(max_value, sample_unit, "minimum", &max_unit);
	unit = min_unit;
	/*
	 * When the smallest and largest values fall in different units,
	 * pprof picks the unit of 100 times the smallest, so that it still
	 * prints as at least 0.01 while larger values stay readable.
	 */
	if (strcmp(min_unit, max_unit) && !__builtin_mul_overflow(min_value, 100, &scaled) &&
	    scaled < max_value)
		kl_unit_scale(scaled, sample_unit, "minimum", &unit);
	return *unit ? unit : sample_unit;
}
