#!/usr/bin/env python3
"""Opens pages in a real headless Chromium and says what the browser saw, as JSON on stdout.

    cdp.py CHROMIUM URL...

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 for
commands, fd 4 for answers, NUL-terminated JSON), with the Python standard library only. For
each URL, in a tab of its own, after the load event:

- "requests": every request the page made (Network.requestWillBeSent, the page's own
  document included), so that a test can tell that nothing left the file;
- "blocked": resources the page asked for that were refused (loadingFailed, and CSP
  violations reported on the console or the log);
- "title", "scripts": the document's title and how many <script> elements it has;
- "svgs": the rendered size of every <svg> (a plot that renders has a size);
- "points": for every <g class="point">: its <title> text and the rendered size of its mark;
- "text": the body's rendered text (innerText).

The browser is started as the project's tests start it (rust.md: headless, no sandbox as root,
no background networking, a fresh profile) and killed at the end, whatever happens.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
]

PROBE = r"""
(() => {
  const size = (e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const points = Array.from(document.querySelectorAll("g.point")).map((g) => {
    const t = g.querySelector("title");
    const mark = g.querySelector("circle, rect, polygon");
    return { title: t ? t.textContent : null, size: mark ? size(mark) : [0, 0] };
  });
  return {
    title: document.title,
    scripts: document.querySelectorAll("script").length,
    svgs: Array.from(document.querySelectorAll("svg")).map(size),
    points: points,
    text: document.body ? document.body.innerText : "",
  };
})()
"""


class Browser:
    def __init__(self, chromium, profile):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()

        def pipes():
            # Through fresh descriptors: dup2 onto itself would keep close-on-exec.
            r, w = os.dup(to_r), os.dup(from_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=pipes,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(profile, "chromium.err"), "wb"),
        )
        self.profile = profile
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def read(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                err = open(os.path.join(self.profile, "chromium.err"), errors="replace").read()
                raise EOFError(f"Chromium closed the pipe; its stderr:\n{err[-2000:]}")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None, timeout=30):
        want = self.send(method, params, session)
        deadline = time.time() + timeout
        while True:
            msg = self.read(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method, session, timeout=30):
        deadline = time.time() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method and e.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            msg = self.read(deadline)
            if msg.get("method") == method and msg.get("sessionId") == session:
                return msg
            self.events.append(msg)

    def close(self):
        try:
            self.send("Browser.close")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def visit(b, url):
    target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Network", "Runtime", "Log"):
        b.call(f"{domain}.enable", session=session)
    b.events.clear()
    b.call("Page.navigate", {"url": url}, session=session)
    b.wait_event("Page.loadEventFired", session)
    # Late requests (an image's, a font's) are sent by now; give stragglers a moment.
    time.sleep(0.3)
    seen = b.call(
        "Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session
    )["result"]["value"]
    b.call("Runtime.evaluate", {"expression": "0"}, session=session)  # drain events
    requests, blocked = [], []
    for e in b.events:
        if e.get("sessionId") != session:
            continue
        p = e.get("params", {})
        m = e.get("method")
        if m == "Network.requestWillBeSent":
            requests.append(p["request"]["url"])
        elif m == "Network.webSocketCreated":
            requests.append(p["url"])
        elif m == "Network.loadingFailed":
            blocked.append(p.get("blockedReason") or p.get("errorText"))
        elif m == "Log.entryAdded":
            entry = p["entry"]
            if "Content Security Policy" in entry.get("text", ""):
                blocked.append(entry["text"])
        elif m == "Runtime.consoleAPICalled":
            blocked.append("console: " + " ".join(str(a.get("value")) for a in p["args"]))
    b.call("Target.closeTarget", {"targetId": target})
    seen["requests"] = requests
    seen["blocked"] = blocked
    seen["url"] = url
    return seen


def main():
    chromium, urls = sys.argv[1], sys.argv[2:]
    profile = tempfile.mkdtemp(prefix="sweep-cdp-")
    b = Browser(chromium, profile)
    try:
        out = [visit(b, u) for u in urls]
    finally:
        b.close()
        shutil.rmtree(profile, ignore_errors=True)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
