// Drives a flame graph SVG in headless Chromium through the DevTools protocol, as a user
// would: clicks "Search" and answers the prompt, presses Ctrl-F and answers again, clicks
// "Reset Search", clicks a frame to zoom, clicks "Reset Zoom".  Prints what the page shows
// after each step as one JSON object.  Node 20+ with --experimental-websocket (or 22+).
//
//   node --experimental-websocket t/lib/flame_browser.js CHROMIUM FILE.svg TERM1 TERM2 FRAME
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [chromium, svg, term1, term2, frameName] = process.argv.slice(2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flame-chromium-'));
const browser = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--remote-debugging-port=0', '--user-data-dir=' + dir, '--window-size=1280,2000', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
const done = (code, msg) => {
    if (msg) process.stderr.write(msg + '\n');
    browser.kill('SIGKILL');
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch (e) { /* best effort */ }
    process.exit(code);
};
setTimeout(() => done(2, 'timed out'), 60000);

function devtoolsPort() {
    return new Promise((resolve, reject) => {
        let err = '';
        browser.stderr.on('data', d => {
            err += d;
            const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
            if (m) resolve(+m[1]);
        });
        browser.on('exit', c => reject(new Error('chromium exited (' + c + '): ' + err)));
    });
}

async function main() {
    const port = await devtoolsPort();
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const page = targets.find(t => t.type === 'page');
    const ws = new WebSocket(page.webSocketDebuggerUrl);
    await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
    let id = 0;
    const pending = new Map(), waiters = [];
    let answer = null, dialogs = 0;
    const send = (method, params = {}) => new Promise(res => {
        pending.set(++id, res);
        ws.send(JSON.stringify({ id, method, params }));
    });
    ws.onmessage = m => {
        const msg = JSON.parse(m.data);
        if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg.result || msg); pending.delete(msg.id); return; }
        if (msg.method === 'Page.javascriptDialogOpening') {
            dialogs++;
            send('Page.handleJavaScriptDialog', { accept: answer !== null, promptText: answer || '' });
        }
        for (const w of waiters.splice(0)) w(msg);
    };
    const event = name => new Promise(res => {
        const look = msg => (msg.method === name ? res(msg) : waiters.push(look));
        waiters.push(look);
    });
    const ev = async expr => (await send('Runtime.evaluate', { expression: expr, returnByValue: true })).result.value;
    const click = async (x, y) => {
        await send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y });
        await send('Input.dispatchMouseEvent', { type: 'mousePressed', x, y, button: 'left', clickCount: 1 });
        await send('Input.dispatchMouseEvent', { type: 'mouseReleased', x, y, button: 'left', clickCount: 1 });
    };
    const centre = async sel => ev(`(function(){var e=${sel};if(!e)return null;var r=e.getBoundingClientRect();` +
        `return [r.x+r.width/2,r.y+r.height/2];})()`);
    const clickOn = async sel => { const c = await centre(sel); if (!c) throw new Error('no ' + sel); await click(c[0], c[1]); };
    const state = () => ev(`(function(){var fs=document.querySelectorAll('g.f'),hl=[],fade=[],hidden=0,zw=null;
        for(var i=0;i<fs.length;i++){var f=fs[i],r=f.getElementsByTagName('rect')[0];
          if(r.getAttribute('fill')==='rgb(230,0,230)')hl.push(f.getAttribute('data-n'));
          if(f.classList.contains('fade'))fade.push(f.getAttribute('data-n'));
          if(f.style.display==='none')hidden++;
          if(f.getAttribute('data-n')===${JSON.stringify(frameName)}&&zw===null)zw=+r.getAttribute('width');}
        var m=document.getElementById('matched'),u=document.getElementById('unzoom');
        return {matched:m.style.display==='none'?null:m.textContent,search:document.getElementById('search').textContent,
          highlighted:hl,faded:fade,hidden:hidden,frames:fs.length,frame_width:zw,unzoom_shown:u.style.display!=='none'};})()`);

    await send('Page.enable');
    await send('Runtime.enable');
    const loaded = event('Page.loadEventFired');
    await send('Page.navigate', { url: 'file://' + path.resolve(svg) });
    await loaded;
    const out = { initial: await state() };

    answer = term1;
    await clickOn(`document.getElementById('search')`);
    out.search_button = await state();

    answer = term2;
    await send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'f', code: 'KeyF', windowsVirtualKeyCode: 70, modifiers: 2 });
    await send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'f', code: 'KeyF', windowsVirtualKeyCode: 70, modifiers: 2 });
    out.ctrl_f = await state();

    answer = null;
    await clickOn(`document.getElementById('search')`);
    out.reset_search = await state();

    // the widest frame of that name
    await clickOn(`Array.prototype.slice.call(document.querySelectorAll('g.f')).filter(function(f){` +
        `return f.getAttribute('data-n')===${JSON.stringify(frameName)};}).sort(function(a,b){` +
        `return b.getAttribute('data-w')-a.getAttribute('data-w');}).map(function(f){return f.getElementsByTagName('rect')[0];})[0]`);
    out.zoom = await state();
    await clickOn(`document.getElementById('unzoom')`);
    out.reset_zoom = await state();
    out.dialogs = dialogs;
    process.stdout.write(JSON.stringify(out) + '\n');
    done(0);
}
main().catch(e => done(1, String(e && e.stack || e)));
