// SPDX-License-Identifier: Apache-2.0
/*
 * screenshots.js - takes the README's screenshots (examples/rideshare/images/)
 * from a running `make demo`, with the UI's own URL parameters, through the
 * browser tests' helpers (tests/web/browser.js: playwright-core driving Debian's
 * chromium). Run it after the demo has run a few minutes:
 *   NODE_PATH=build/web-deps/node_modules KILN_UI_URL=http://127.0.0.1:4040 \
 *     node examples/rideshare/screenshots.js [PERIOD_S]
 * PERIOD_S (60) is the demo's RIDESHARE_PERIOD_S: the diff compares the last
 * whole low period of us-west-1 with the last whole high one. KILN_SHOTS_FROM
 * (now-10m) starts the range, e.g. at the demo's start in epoch seconds.
 */
'use strict';

const path = require('path');
const B = require('../../tests/web/browser.js');

const OUT = process.env.KILN_UI_SHOTS_OUT || path.join(__dirname, 'images');
const P = +(process.argv[2] || 60);
const CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
const WEST = 'region="us-west-1"';

function url(params) {
	const from = process.env.KILN_SHOTS_FROM || 'now-10m';
	const p = new URLSearchParams(Object.assign({ service: 'ride-sharing-app', from }, params));
	return '?' + p.toString();
}

async function take(page, name, params) {
	await B.open(page, url(params));
	await page.waitForTimeout(300);
	await page.screenshot({ path: path.join(OUT, name + '.png') });
	console.log('wrote ' + path.join(OUT, name + '.png'));
}

B.run(async function () {
	const { page, errors, close } = await B.launch();
	// the last whole periods: high when floor(t / P) is even (rideshare.c)
	const now = Math.floor(Date.now() / 1000) - 10;
	let end = Math.floor(now / P) * P;
	const last = { high: null, low: null };
	while (!last.high || !last.low) {
		const kind = Math.floor((end - P) / P) % 2 === 0 ? 'high' : 'low';
		if (!last[kind])
			last[kind] = [end - P + 5, end - 5];
		end -= P;
	}
	await take(page, 'flame', { type: CPU });
	await take(page, 'us-west-1', { type: CPU, q: WEST, search: 'mutex_lock' });
	await take(page, 'tags-region', { type: CPU, view: 'tags', group: 'region' });
	await take(page, 'tags-vehicle', { type: CPU, view: 'tags', group: 'vehicle' });
	await take(page, 'diff', {
		type: CPU, q: WEST, view: 'diff', lfrom: '' + last.low[0], luntil: '' + last.low[1],
		rfrom: '' + last.high[0], runtil: '' + last.high[1],
	});
	await take(page, 'lock', { type: 'mutex:mutex_duration:nanoseconds:contentions:count', q: WEST });
	await take(page, 'heap', { type: 'memory:inuse_space:bytes:space:bytes' });
	B.check('no page errors', errors.length === 0, errors);
	console.log('low ' + JSON.stringify(last.low) + ' high ' + JSON.stringify(last.high));
	await close();
});
