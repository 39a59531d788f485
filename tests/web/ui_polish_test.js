// SPDX-License-Identifier: Apache-2.0
/*
 * ui_polish_test.js - the web UI's finish, in a real browser against the
 * kiln server that tests/cli/t8003-ui-polish.sh started and seeded (a
 * native "nat" service whose frames come from libraries, and the "shop"
 * service of t8001): colours by package / library / none, the same in
 * every view; cached assets revalidated with ETags (304); a long query's
 * spinner, elapsed time and Cancel; empty and error states with their
 * actions; comparison and diff zoom kept in the URL; auto refresh showing
 * newly ingested data without a reload; a dropped speedscope file;
 * keyboard focus order and use of the flame graph, accessible names and
 * dark-theme contrast.
 *
 * env: KILN_UI_URL, KILN_CHROMIUM, KILN_UI_SHOTS, KILN_UI_TMP.
 * Prints "N passed, N failed"; exit 1 on any failure.
 */
'use strict';

const { BASE, check, idle, open, nodes, node, shot, andWait, launch, run } = require('./browser.js');

async function pixel(page, which, name) {
	return page.evaluate((a) => window.kilnTest.pixel(a[0], a[1]), [which, name]);
}

function same(a, b) { return a && b && a.join() === b.join(); }

async function drop(page, name, text) {
	await page.evaluate((f) => {
		const dt = new DataTransfer();
		dt.items.add(new File([f.text], f.name));
		document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
	}, { name, text });
}

/* What has keyboard focus: an id, a tab's view, or the tag name. */
async function focused(page) {
	return page.evaluate(() => {
		const e = document.activeElement;
		return e.id || (e.dataset && e.dataset.view ? 'tab:' + e.dataset.view : '') ||
			(e.closest('#export') ? 'export' : e.tagName.toLowerCase() + '.' + e.className);
	});
}

async function colours(page) {
	/* --- colour by package / library / none, the same in every view --- */
	await open(page, '?service=nat');
	check('colour selector defaults to package', (await page.inputValue('#colorby')) === 'package');
	let libc = await pixel(page, 'main', '[libc.so.6]'), libcAddr = await pixel(page, 'main', 'libc.so.6+0x9d1f0');
	check('package: [libc.so.6] and libc.so.6+0x9d1f0 differ', libc && libcAddr && !same(libc, libcAddr), [libc, libcAddr]);
	await page.selectOption('#colorby', 'library');
	await idle(page);
	check('colour choice in the URL', /color=library/.test(page.url()), page.url());
	libc = await pixel(page, 'main', '[libc.so.6]');
	libcAddr = await pixel(page, 'main', 'libc.so.6+0x9d1f0');
	const zlib = await pixel(page, 'main', '[libz.so.1]');
	const sort = await pixel(page, 'main', 'std::sort<int*>'), push = await pixel(page, 'main', 'std::vector<int>::push_back');
	const asio = await pixel(page, 'main', 'boost::asio::io_context::run');
	check('library: one library, one colour (libc)', same(libc, libcAddr), [libc, libcAddr]);
	check('library: libz is not libc', zlib && !same(zlib, libc), [zlib, libc]);
	check('library: std:: frames alike', same(sort, push), [sort, push]);
	check('library: boost is not std', asio && !same(asio, sort), [asio, sort]);
	const legend = await page.textContent('#colors-legend');
	check('legend names the libraries', legend.includes('libc.so.6') && legend.includes('std'), legend);
	const sw = await page.$eval('#colors-legend .cl-item[data-key="libc.so.6"] .kfg-sw', (e) => getComputedStyle(e).backgroundColor);
	check('legend swatch is the frames\' colour', sw === 'rgb(' + libc.slice(0, 3).join(', ') + ')', [sw, libc]);
	await shot(page, 'ui-colors-library');

	/* stable across views: the same frame has the same colour in the comparison and the sandwich */
	await andWait(page, () => page.click('#tabs [data-view=compare]'));
	const left = await pixel(page, 'left', '[libc.so.6]'), right = await pixel(page, 'right', '[libc.so.6]');
	check('comparison: libc in both sides as in the flame graph', same(left, libc) && same(right, libc), [left, right, libc]);
	await andWait(page, () => page.click('#tabs [data-view=sandwich]'));
	await page.click('#sandwich .kfg-table tbody tr[data-name="compress"]');
	await idle(page);
	const callee = await pixel(page, 'callees', '[libz.so.1]');
	check('sandwich: libz as in the flame graph', same(callee, zlib), [callee, zlib]);
	/* a shared link keeps the colouring; none paints one colour */
	await open(page, '?service=nat&color=library');
	check('shared link: library colours', same(await pixel(page, 'main', 'libc.so.6+0x9d1f0'), libc));
	await page.selectOption('#colorby', 'none');
	await idle(page);
	const all = await Promise.all(['[libc.so.6]', '[libz.so.1]', 'std::sort<int*>', 'compress'].map((n) => pixel(page, 'main', n)));
	check('none: one colour', all.every((p) => same(p, all[0])), all);
	check('none: no legend', (await page.textContent('#colors-legend')) === '');
}

async function etags(ctx, page) {
	/* --- a reload revalidates the assets: 304s, no bodies --- */
	await open(page, '?service=shop');
	const statuses = {};
	const onResp = (r) => {
		if (r.url().includes('/assets/'))
			statuses[r.url().replace(BASE, '')] = r.status();
	};
	page.on('response', onResp);
	await page.reload();
	await idle(page);
	page.off('response', onResp);
	const urls = Object.keys(statuses);
	check('reload: every asset revalidated with 304', urls.length >= 8 && urls.every((u) => statuses[u] === 304), statuses);
	const r = await ctx.request.get(BASE + '/assets/app/main.js');
	check('asset: ETag and no-cache', /^W\/"[0-9a-f]{16}"$/.test(r.headers().etag) && r.headers()['cache-control'] === 'no-cache',
		r.headers());
}

async function progress(page) {
	/* --- a long query: spinner, elapsed time, Cancel aborts the requests --- */
	await open(page, '?service=shop');
	let release;
	const held = new Promise((res) => { release = res; });
	await page.route('**/pyroscope/render?*', async (route) => {
		await held;
		await route.continue().catch(() => {});
	});
	await page.click('#refresh');
	await page.waitForSelector('#status .spin');
	const t1 = await page.textContent('#status .elapsed');
	await page.waitForFunction((t) => document.querySelector('#status .elapsed').textContent !== t, t1);
	const text = await page.textContent('#status');
	check('loading: says what runs and for how long', /Loading flame.*\d+\.\d s/.test(text), text);
	const cancel = page.getByRole('button', { name: 'Cancel' });
	check('loading: a Cancel button', await cancel.isVisible());
	check('loading: inflight requests', (await page.evaluate(() => window.Kiln.inflight)) > 0);
	await shot(page, 'ui-loading');
	await cancel.click();
	await page.waitForFunction(() => document.body.dataset.state === 'cancelled' && window.Kiln.inflight === 0);
	const ctext = await page.textContent('#status');
	check('cancelled: says so and what to do', /cancelled after \d+\.\d s/.test(ctext) && /Retry/.test(ctext), ctext);
	/* Esc cancels too */
	await page.click('#tabs [data-view=both]');
	await page.waitForSelector('#status .spin');
	await page.keyboard.press('Escape');
	await page.waitForFunction(() => document.body.dataset.state === 'cancelled' && window.Kiln.inflight === 0);
	check('Esc cancels a running query', /cancelled/.test(await page.textContent('#status')));
	await shot(page, 'ui-cancelled');
	release();
	await page.unroute('**/pyroscope/render?*');
	await andWait(page, () => page.getByRole('button', { name: 'Retry' }).click());
	check('retry after cancel draws the graph', (await nodes(page)).some((n) => n.name === 'compute_tax'));

	/* empty: what to try, as buttons that do it */
	await open(page, '?service=shop&q=' + encodeURIComponent('region="nowhere"'));
	const etext = await page.textContent('#status');
	check('empty: says what was asked and what to try', /No data for .*nowhere/.test(etext) && /longer range/.test(etext), etext);
	check('empty: offers a longer range', await page.getByRole('button', { name: 'Show the last 7 days' }).isVisible());
	await shot(page, 'ui-empty');
	await andWait(page, () => page.getByRole('button', { name: 'Remove the labels' }).click());
	check('empty: "Remove the labels" shows data', (await node(page, 'compute_tax')) !== undefined && !/region/.test(page.url()));
	/* error: the server's message, a hint and Retry */
	await open(page, '?service=shop&q=' + encodeURIComponent('region=~"("'));
	const err = await page.textContent('#status');
	check('error: message, hint and Retry', /Error:/.test(err) && /Check the label matchers/.test(err) &&
		await page.getByRole('button', { name: 'Retry' }).isVisible(), err);
}

async function zoomInUrl(ctx, page) {
	/* --- comparison and diff zoom live in the URL --- */
	await open(page, '?service=shop&view=compare');
	let co = await node(page, 'checkout', 'left');
	await page.mouse.click(co.cx, co.cy);
	await idle(page);
	check('compare: left zoom in the URL', /lzoom=main%3Bhandle_request%3Bcheckout/.test(page.url()), page.url());
	const rc = await node(page, 'charge_card', 'right');
	await page.mouse.click(rc.cx, rc.cy);
	await idle(page);
	check('compare: right zoom in the URL', /rzoom=main%3Bhandle_request%3Bcheckout%3Bcharge_card/.test(page.url()), page.url());
	const url = page.url();
	const p2 = await ctx.newPage();
	await open(p2, url.slice(BASE.length + 1));
	const lt = await node(p2, 'total', 'left');
	co = await node(p2, 'checkout', 'left');
	check('shared compare link: left zoomed to checkout', co && lt && Math.abs(co.w - lt.w) < 2, [co, lt]);
	const cc = await node(p2, 'charge_card', 'right'), rt = await node(p2, 'total', 'right');
	check('shared compare link: right zoomed to charge_card', cc && rt && Math.abs(cc.w - rt.w) < 2, [cc, rt]);
	check('shared compare link: crumbs', /checkout/.test(await p2.textContent('#cmp-left .fp-crumbs')));
	await shot(p2, 'ui-compare-zoom');
	/* diff */
	await andWait(p2, () => p2.click('#tabs [data-view=diff]'));
	co = await node(p2, 'checkout', 'diff');
	await p2.mouse.click(co.cx, co.cy);
	await idle(p2);
	check('diff: zoom in the URL', /dzoom=main%3Bhandle_request%3Bcheckout/.test(p2.url()), p2.url());
	const durl = p2.url();
	await p2.close();
	const p3 = await ctx.newPage();
	await open(p3, durl.slice(BASE.length + 1));
	co = await node(p3, 'checkout', 'diff');
	const dt = await node(p3, 'total', 'diff');
	check('shared diff link: zoomed to checkout', co && dt && Math.abs(co.w - dt.w) < 2, [co, dt]);
	check('shared diff link: still red for compute_tax', (await pixel(p3, 'diff', 'compute_tax') || [0])[0] > 200);
	/* Esc in the diff clears its zoom from the URL */
	await p3.keyboard.press('Escape');
	await idle(p3);
	check('Esc: diff zoom leaves the URL', !/dzoom/.test(p3.url()), p3.url());
	await p3.close();
}

async function autoRefresh(ctx, page) {
	/* --- auto refresh: data ingested now appears without a reload --- */
	await open(page, '?service=shop&refresh=1');
	check('auto: the picker shows the interval', (await page.$eval('#auto', (s) => s.selectedOptions[0].textContent)) === '1 s');
	check('auto: not there yet', !(await nodes(page)).some((n) => n.name === 'fresh_func'));
	await page.evaluate(() => { window.notReloaded = true; });
	const now = Math.floor(Date.now() / 1000);
	const r = await ctx.request.post(BASE + '/ingest?name=' + encodeURIComponent('shop.cpu{region=eu-west}') +
		'&sampleRate=100&from=' + (now - 30) + '&until=' + (now - 20), { data: 'main;fresh_func 900\n' });
	check('auto: ingest', r.status() === 200, r.status());
	const t0 = Date.now();
	await page.waitForFunction(() => window.kilnTest.nodes('main').some((n) => n.name === 'fresh_func'), null,
		{ timeout: 15000 }).catch(() => {});
	const ms = Date.now() - t0;
	check('auto: fresh_func appears', (await nodes(page)).some((n) => n.name === 'fresh_func'), ms);
	check('auto: without a reload', await page.evaluate(() => window.notReloaded === true));
	console.log('figure: auto refresh (1 s) showed new data after ' + ms + ' ms');
	await page.selectOption('#auto', '');
	check('auto off leaves the URL', !/refresh=/.test(page.url()), page.url());
}

async function speedscope(page) {
	/* --- a dropped speedscope file --- */
	await open(page, '?service=shop');
	const file = JSON.stringify({
		$schema: 'https://www.speedscope.app/file-format-schema.json',
		shared: { frames: [{ name: 'main' }, { name: 'render_frame' }, { name: 'decode_png' }, { name: 'layout' }] },
		profiles: [{ type: 'sampled', name: 'cpu', unit: 'milliseconds', startValue: 0, endValue: 40,
			samples: [[0, 1], [0, 1, 2], [0, 1, 2], [0, 3]], weights: [10, 10, 10, 10] }],
		name: 'app.speedscope.json', activeProfileIndex: 0, exporter: 'ui_polish_test',
	});
	await drop(page, 'app.speedscope.json', file);
	await page.waitForFunction(() => window.kilnTest.state().view === 'file' && window.kilnTest.idle());
	const names = (await nodes(page, 'file')).map((n) => n.name);
	check('speedscope: frames shown', ['main', 'render_frame', 'decode_png', 'layout'].every((n) => names.includes(n)), names);
	check('speedscope: file named, not stored', /app\.speedscope\.json.*not stored/.test(await page.textContent('#file-head')));
	const rf = await node(page, 'render_frame', 'file');
	await page.mouse.move(rf.cx, rf.cy);
	await page.waitForSelector('#file-panel .kfg-tooltip', { state: 'visible' });
	const tip = await page.textContent('#file-panel .kfg-tooltip');
	check('speedscope: tooltip in ms and share', tip.includes('30.00 ms') && tip.includes('75.00% of all'), tip);
	const rows = await page.$$eval('#file-panel .kfg-table tbody tr', (t) => t.map((r) => r.dataset.name));
	check('speedscope: table', rows.includes('decode_png'), rows);
	await shot(page, 'ui-speedscope');
}

/* WCAG contrast ratio of two [r, g, b]. */
function contrast(a, b) {
	const lum = (c) => {
		const v = c.map((x) => {
			x /= 255;
			return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
		});
		return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
	};
	const l1 = lum(a), l2 = lum(b);
	return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
}

async function a11y(page) {
	/* --- keyboard focus order --- */
	await open(page, '?service=shop');
	await page.evaluate(() => document.activeElement.blur());
	const order = [];
	for (let i = 0; i < 20; i++) {
		await page.keyboard.press('Tab');
		order.push(await focused(page));
	}
	const want = ['skip', 'service', 'ptype', 'matchers', 'range', 'refresh', 'auto', 'theme', 'tab:flame', 'tab:table',
		'tab:both', 'tab:sandwich', 'tab:tags', 'tab:compare', 'tab:diff', 'search', 'reset', 'mode', 'colorby', 'export'];
	order[0] = order[0].startsWith('a.skip') ? 'skip' : order[0];
	check('focus order follows the page', JSON.stringify(order) === JSON.stringify(want), order);
	/* keyboard use: a tab opens with Enter, / searches, breadcrumbs work with Enter */
	await page.focus('#tabs [data-view=table]');
	await andWait(page, () => page.keyboard.press('Enter'));
	check('Enter on a tab opens it', (await page.evaluate(() => window.kilnTest.state().view)) === 'table');
	check('the open tab is aria-selected', (await page.getAttribute('#tabs [data-view=table]', 'aria-selected')) === 'true' &&
		(await page.getAttribute('#tabs [data-view=flame]', 'aria-selected')) === 'false');
	await andWait(page, () => page.click('#tabs [data-view=flame]'));
	const co = await node(page, 'checkout');
	await page.mouse.click(co.cx, co.cy);
	await idle(page);
	await page.focus('#panel .fp-crumbs a[data-node]');
	await page.keyboard.press('Enter');
	await idle(page);
	check('a breadcrumb zooms out with Enter', !/zoom=/.test(page.url()), page.url());
	await page.keyboard.press('Escape');
	/* the flame graph from the keyboard: arrows move a focus frame, Enter zooms, Shift+F10 opens the menu */
	await page.focus('#panel canvas');
	for (const k of ['ArrowDown', 'ArrowDown', 'ArrowRight', 'ArrowDown'])
		await page.keyboard.press(k);
	const live = await page.textContent('#panel .kfg-live');
	check('keyboard: arrows reach checkout, read out', /^checkout: total 7\.00 s, [\d.]+% of all, self 0 ns$/.test(live), live);
	check('keyboard: its tooltip shows', await page.isVisible('#panel .kfg-tooltip') &&
		/checkout/.test(await page.textContent('#panel .kfg-tooltip')));
	await page.keyboard.press('Enter');
	await idle(page);
	check('keyboard: Enter zooms', /zoom=main%3Bhandle_request%3Bcheckout/.test(page.url()), page.url());
	await page.keyboard.press('Shift+F10');
	await page.waitForSelector('.ctxmenu');
	check('keyboard: the menu has focus', (await page.evaluate(() => document.activeElement.textContent)) === 'Focus on subtree');
	await page.keyboard.press('ArrowDown');
	check('keyboard: arrows move in the menu', /Collapse above/.test(await page.evaluate(() => document.activeElement.textContent)));
	await page.keyboard.press('Escape');
	await idle(page);
	check('keyboard: Esc closes the menu and resets', !(await page.$('.ctxmenu')) && !/zoom=/.test(page.url()), page.url());
	/* accessible names */
	for (const [role, name] of [['button', 'Switch between light and dark theme'], ['button', 'Refresh'], ['button', 'Reset'],
		['combobox', 'Colour by'], ['combobox', 'Service'], ['searchbox', 'Search functions (regular expression)'],
		['tab', 'Flame graph'], ['tab', 'Diff']])
		check('accessible name: ' + role + ' "' + name + '"', (await page.getByRole(role, { name }).count()) === 1);
	check('the flame graph canvas is a described image',
		/^Flame graph of [\d.]+ m?s, \d+ frames$/.test(await page.getAttribute('#panel canvas', 'aria-label') || '') &&
		(await page.getAttribute('#panel canvas', 'role')) === 'img');
	const unnamed = await page.evaluate(() => Array.from(document.querySelectorAll('button, select, input, summary, [tabindex]'))
		.filter((e) => e.offsetParent !== null)
		.filter((e) => {
			const label = e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].textContent) ||
				e.getAttribute('title') || e.textContent;
			return !/[A-Za-z]/.test(label || '');
		}).map((e) => e.outerHTML.slice(0, 80)));
	check('every visible control has a name', unnamed.length === 0, unnamed);

	/* --- contrast in the dark theme: every visible text against its background >= 4.5 --- */
	await page.click('#theme');
	await page.fill('#search', 'tax');
	await page.waitForFunction(() => /Matched/.test(document.querySelector('#matched').textContent));
	await andWait(page, () => page.click('#tabs [data-view=both]'));
	const samples = await page.evaluate(() => {
		const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
		const bg = (e) => {
			for (; e; e = e.parentElement) {
				const c = rgb(getComputedStyle(e).backgroundColor);
				if (c.length === 3 || (c.length === 4 && c[3] > 0.5))
					return c.slice(0, 3);
			}
			return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3);
		};
		const out = [];
		document.querySelectorAll('body *').forEach((e) => {
			const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
			if (!own || e.offsetParent === null || /^(OPTION|SCRIPT|STYLE)$/.test(e.tagName))
				return;
			out.push({ what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' +
				e.textContent.trim().slice(0, 24), fg: rgb(getComputedStyle(e).color).slice(0, 3), bg: bg(e) });
		});
		return out;
	});
	const low = samples.map((s) => Object.assign(s, { ratio: +contrast(s.fg, s.bg).toFixed(2) })).filter((s) => s.ratio < 4.5);
	check('dark theme: checked many texts', samples.length > 40, samples.length);
	check('dark theme: text contrast >= 4.5:1', low.length === 0, low.slice(0, 8));
	const worst = Math.min(...samples.map((s) => s.ratio));
	console.log('figure: dark theme, ' + samples.length + ' texts, lowest contrast ' + worst.toFixed(2) + ':1');
	/* frame labels on the canvas: a dimmed (unmatched) frame's text against its fill */
	const hex = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
	const norm = (h) => h.length === 4 ? '#' + h[1] + h[1] + h[2] + h[2] + h[3] + h[3] : h;
	const under = await page.$eval('#panel canvas', (c) => {
		for (let e = c; e; e = e.parentElement) {
			const v = (getComputedStyle(e).backgroundColor.match(/[\d.]+/g) || []).map(Number);
			if (v.length === 3 || v[3] > 0.5)
				return v.slice(0, 3);
		}
		return [255, 255, 255];
	});
	for (const f of ['main', 'handle_request', 'compute_tax']) {
		const px = await pixel(page, 'main', f);
		/* the canvas is transparent where a frame is dimmed: the page shows through */
		const fill = px && px.slice(0, 3).map((v, k) => Math.round(v * px[3] / 255 + under[k] * (1 - px[3] / 255)));
		const text = await page.evaluate((n) => window.kilnTest.labelColor('main', n), f);
		const ratio = fill && text ? contrast(fill, hex(norm(text))) : 0;
		check('dark theme: label of ' + f + ' readable (' + ratio.toFixed(2) + ':1)', ratio >= 4.5, [fill, text]);
	}
	await shot(page, 'ui-dark-both');
	await page.click('#theme');
}

async function main() {
	const { ctx, page, errors, close } = await launch();
	await colours(page);
	await etags(ctx, page);
	await progress(page);
	await zoomInUrl(ctx, page);
	await autoRefresh(ctx, page);
	await speedscope(page);
	await a11y(page);
	check('no uncaught errors in the page', errors.length === 0, errors);
	await close();
}

run(main);
