/* SPDX-License-Identifier: Apache-2.0 */
/*
 * units.h - formatting sample values the way pprof prints them.
 *
 * pprof's text reports (-top, -tree, -peek) print every value through its
 * measurement package: a value in the profile's unit (nanoseconds, bytes,
 * count ...) is scaled to an output unit and printed with two decimals,
 * "1.50s", "512.20kB", "4" (a trailing ".00" is dropped). The output unit
 * is either named by the user (-unit ms) or chosen once per report from the
 * smallest and largest value shown ("minimum", the default), so that a whole
 * column reads in one unit. Percentages have their own rules ("  100%",
 * "85.38%", "0.017%"). Kiln follows Go 1.19's pprof exactly, including its
 * unit tables (bytes in powers of 1024; ns, us, ms, s, hrs).
 *
 * Everything here is pure computation on the caller's buffers: no
 * allocation, thread-safe.
 */
#ifndef KL_UNITS_H
#define KL_UNITS_H

#include "base.h"

/* Room for any label or percentage these functions write, NUL included. */
#define KL_UNIT_LABEL_MAX 64

/*
 * Scales value, measured in from_unit (a profile unit such as "nanoseconds"
 * or "bytes", matched case-insensitively with a trailing "s" ignored, as
 * pprof's sniffUnit), to to_unit. to_unit may be a unit name ("ms", "MB"),
 * or "minimum"/"auto" to pick the largest unit in which the value is at
 * least 1. Returns the scaled value and sets *out_unit to the unit to print
 * after it: a canonical name ("ms", "kB", "hrs"), "" for plain counts, or
 * to_unit itself when from_unit is of no known kind and to_unit is not one
 * of "count", "sample", "unit", "minimum", "auto" (pprof's Scale).
 * *out_unit points at static storage or into to_unit.
 */
double kl_unit_scale(int64_t value, const char *from_unit, const char *to_unit,
		     const char **out_unit);

/*
 * Writes pprof's ScaledLabel of value into buf (size >= KL_UNIT_LABEL_MAX
 * is always enough): the scaled value with "%.2f", a trailing ".00"
 * removed, then the unit; a value that prints as 0 is written "0" without
 * a unit. Returns buf.
 */
char *kl_unit_label(char *buf, size_t size, int64_t value, const char *from_unit,
		    const char *to_unit);

/*
 * Writes pprof's Percentage of value in total into buf: "  100%" within
 * 0.05 of 100, "%5.2f%%" from 1% up, "%5.2g%%" below (so 0.0166% prints
 * "0.017%"); the sign of value is ignored and a zero total gives "    0%".
 * Returns buf.
 */
char *kl_unit_percentage(char *buf, size_t size, int64_t value, int64_t total);

/*
 * pprof's selectOutputUnit for the default -unit=minimum: given the
 * smallest non-zero magnitude among the values a report shows (min_value,
 * 0 if none) and the report total (max_value), returns the unit to format
 * the whole report in. The result is a canonical unit name, or sample_unit
 * itself when the unit is of no known kind (counts). Returns a pointer to
 * static storage or to sample_unit.
 */
const char *kl_unit_select(int64_t min_value, int64_t max_value, const char *sample_unit);

#endif /* KL_UNITS_H */
