// SPDX-License-Identifier: Apache-2.0
// client.js - a small Node program profiled by the real @pyroscope/nodejs
// client and pushed to the kiln server at $KILN_URL (tests/cli/t7201).
// Two named functions run under wrapWithLabels with different `endpoint`
// labels, so the test can find each function and select it by label.
// usage: KILN_URL=http://127.0.0.1:PORT node client.js [seconds]
'use strict';
const Pyroscope = require('@pyroscope/nodejs');

const seconds = Number(process.argv[2] || 4);

Pyroscope.init({
	serverAddress: process.env.KILN_URL,
	appName: 'kiln-node-test',
	tags: { region: 'eu-test' },
	flushIntervalMs: 1000,
	wall: { samplingDurationMs: 1000, collectCpuTime: true },
});
Pyroscope.start();

function kilnFibonacciWork(n) {
	return n < 2 ? n : kilnFibonacciWork(n - 1) + kilnFibonacciWork(n - 2);
}

function kilnHashWork() {
	let h = 0;
	for (let i = 0; i < 2e6; i++)
		h = (Math.imul(h, 31) + i) | 0;
	return h;
}

// Busy for a few ms at a time, then back to the event loop so the
// profiler's timers and uploads run.
async function main() {
	const end = Date.now() + seconds * 1000;
	let sink = 0;
	while (Date.now() < end) {
		Pyroscope.wrapWithLabels({ endpoint: 'fib' }, () => { sink += kilnFibonacciWork(22); });
		Pyroscope.wrapWithLabels({ endpoint: 'hash' }, () => { sink += kilnHashWork(); });
		await new Promise((resolve) => setImmediate(resolve));
	}
	await Pyroscope.stop();	// flushes the last profiles
	console.log('done', sink !== 0);
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
