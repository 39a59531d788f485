// SPDX-License-Identifier: Apache-2.0
/*
 * browser.js - what the web UI's browser tests share: launching Debian's
 * chromium through playwright-core (headless, the flags that work in this
 * environment, a fresh user-data-dir), waiting for the page to settle
 * (window.kilnTest.idle), reading the frames a flame graph drew, checks
 * and the closing "N passed, N failed" line.
 *
 * env: KILN_UI_URL (the server), KILN_CHROMIUM, KILN_UI_SHOTS (screenshot
 * dir), KILN_UI_TMP (scratch dir).
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const BASE = process.env.KILN_UI_URL;
const SHOTS = process.env.KILN_UI_SHOTS || os.tmpdir();
const TMP = process.env.KILN_UI_TMP || os.tmpdir();
const FIX = process.env.KILN_FIXTURES;
const counts = { passes: 0, failures: 0 };

function check(what, cond, detail) {
	if (cond) {
		counts.passes++;
	} else {
		counts.failures++;
		console.log('FAIL: ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail).slice(0, 600) : ''));
	}
}

/* Waits until the page has loaded its view and finished animating. */
async function idle(page, loadsBefore) {
	await page.waitForFunction((n) => window.kilnTest && window.kilnTest.idle() &&
		(n === undefined || window.kilnTest.loads() > n), loadsBefore, { timeout: 20000 });
}

async function open(page, query) {
	await page.goto(BASE + '/' + (query || ''));
	await idle(page);
}

async function nodes(page, which) {
	return page.evaluate((w) => window.kilnTest.nodes(w), which || 'main');
}

async function node(page, name, which) {
	return (await nodes(page, which)).find((n) => n.name === name);
}

async function tableNames(page, root) {
	return page.$$eval((root || '#panel') + ' .kfg-table tbody tr', (rows) => rows.map((r) => r.dataset.name));
}

async function shot(page, name) {
	await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

async function loads(page) {
	return page.evaluate(() => window.kilnTest.loads());
}

/* Does something that starts a load, then waits for it to finish. */
async function andWait(page, fn) {
	const n = await loads(page);
	await fn();
	await idle(page, n);
}

/* A persistent context in a fresh profile directory, one page open. */
async function launch() {
	const userDir = fs.mkdtempSync(path.join(TMP, 'chromium-'));
	const ctx = await chromium.launchPersistentContext(userDir, {
		executablePath: process.env.KILN_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1400, height: 900 },
		acceptDownloads: true,
	});
	const page = ctx.pages()[0] || await ctx.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	return { ctx, page, errors, close: async () => {
		await ctx.close();
		fs.rmSync(userDir, { recursive: true, force: true });
	} };
}

/* Runs main(), prints the summary line and exits 1 on any failure. */
function run(main) {
	main().catch((e) => {
		counts.failures++;
		console.log('FAIL: ' + (e.stack || e));
	}).finally(() => {
		console.log(counts.passes + ' passed, ' + counts.failures + ' failed');
		process.exit(counts.failures ? 1 : 0);
	});
}

module.exports = { BASE, SHOTS, TMP, FIX, check, idle, open, nodes, node, tableNames, shot, loads, andWait,
	launch, run };
