// SPDX-License-Identifier: Apache-2.0
/*
 * budget.js - time limits for the speed checks of the UI tests. The
 * figures themselves are printed and recorded in docs/benchmarks.md; a
 * check only has to catch a real regression, not the other jobs of a busy
 * machine, so its limit grows with the load: ms times the runnable work
 * per core (the 1-minute load average over the cores), never less than ms.
 */
'use strict';

const os = require('os');

function budget(ms) {
	const perCore = os.loadavg()[0] / Math.max(1, os.cpus().length);
	return Math.round(ms * Math.max(1, perCore));
}

module.exports = { budget };
