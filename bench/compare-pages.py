#!/usr/bin/env python3
"""Compare what two builds of `tram` serve for the same demo school (issue 21: a refactor must
not change behaviour).

    bench/compare-pages.py BEFORE_BIN AFTER_BIN [--keep DIR] [--per-pattern N]

Seeds the demo school once with BEFORE_BIN, copies the data directory, starts each binary on
its own copy (plain HTTP on a loopback port), signs in as each demo role and walks every page a
role can reach by following same-site links (GET only, never /logout), plus the anonymous pages,
`/openapi.json` and the static files. Each answer is normalised — CSRF tokens, session cookies,
times of day, timestamps, durations, uptime, memory and hashes of the audit chain are masked;
a PDF is compared as `pdftotext -layout` text, an xlsx/zip by its members except the zip's own
timestamps and docProps — and the two runs must give the same set of URLs with the same status,
content type and normalised body. Exit 0 when identical, 1 with a diff otherwise.
`/openapi.json` is compared byte for byte.
"""

import argparse
import difflib
import hashlib
import html
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile

import requests

PASSWORD = "mat-khau-demo-1"
ROLES = ["admin", "hieutruong", "phohieutruong", "gv01", "gv02"]
SKIP = re.compile(r"^/(logout|api/v1/logout|lang/)|/events(\?|$)|/live(\?|$)|/wait(\?|$)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


PORTS = []


def start(binary, data, log):
    # The same ports for both runs: the admin home shows the address (and its QR code).
    if not PORTS:
        PORTS.extend([free_port(), free_port()])
    port, boot = PORTS
    env = dict(os.environ, TRAM_ADMIN_PASSWORD=PASSWORD, TRAM_LOG="warn")
    p = subprocess.Popen(
        [binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
         "--bootstrap-listen", f"127.0.0.1:{boot}", "--demo", "--no-mdns", "--http-only",
         "--no-backup"],
        env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if p.poll() is not None:
            sys.exit(f"{binary} exited during start (see {log.name})")
        try:
            if requests.get(base + "/healthz", timeout=2).ok:
                return p, base
        except requests.RequestException:
            pass
        time.sleep(0.1)
    p.kill()
    sys.exit(f"{binary} did not answer /healthz")


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


MASKS = [
    (re.compile(r'(name="csrf"[^>]*content=")[^"]+'), r"\1CSRF"),
    (re.compile(r'(data-csrf=")[^"]+'), r"\1CSRF"),
    (re.compile(r'(name="csrf"[^>]*value=")[^"]+'), r"\1CSRF"),
    (re.compile(r'("csrf"\s*:\s*")[^"]+'), r"\1CSRF"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?(\[[^\]]+\])?"), "TIMESTAMP"),
    (re.compile(r"\b\d{1,2}:\d\d(:\d\d)?\b"), "HH:MM"),
    (re.compile(r"\b[0-9a-f]{32,}\b"), "HEX"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|µs|s|giây|phút|MB|MiB|KB|kB|GB|%)\b"), "N UNIT"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b"), "DATE"),
]

# Pages whose numbers are the machine's state right now (uptime, load, memory, disk).
LIVE = re.compile(r"^/(admin/device|api/v1/device|healthz|api/v1/health)")


def normalise(path, r):
    ctype = r.headers.get("content-type", "").split(";")[0]
    body = r.content
    if ctype == "application/pdf":
        t = subprocess.run(["pdftotext", "-layout", "-", "-"], input=body,
                           capture_output=True).stdout.decode("utf-8", "replace")
    elif ctype.endswith(("zip", "spreadsheetml.sheet")) or body[:2] == b"PK":
        try:
            z = zipfile.ZipFile(io.BytesIO(body))
            t = "\n".join(
                f"{i.filename} " + mask(z.read(i.filename).decode("utf-8", "replace"))
                for i in sorted(z.infolist(), key=lambda i: i.filename)
                if not i.filename.startswith("docProps/"))
        except zipfile.BadZipFile:
            t = hashlib.blake2b(body).hexdigest()
    elif ctype.startswith(("text/", "application/json", "application/xml",
                           "application/atom", "application/opensearch", "image/svg")):
        t = body.decode("utf-8", "replace")
    else:
        t = hashlib.blake2b(body).hexdigest()
    t = mask(t)
    if LIVE.match(path):
        t = re.sub(r"\d+", "N", t)
    return f"{r.status_code} {ctype}\n{t}"


def mask(t):
    for rx, rep in MASKS:
        t = rx.sub(rep, t)
    return t


HREF = re.compile(r'(?:href|src|action)="([^"#]+)"')


def pattern(path):
    """A URL with its ids replaced, so the walk visits a few of each kind of page."""
    p = urllib.parse.urlsplit(path)
    segs = [re.sub(r"[0-9]", "9", s) if re.search(r"\d", s) else s for s in p.path.split("/")]
    return "/".join(segs) + ("?" + ",".join(sorted(urllib.parse.parse_qs(p.query))) if p.query else "")


def crawl(base, session, start_paths, per_pattern):
    seen, out, counts = set(), {}, {}
    queue = sorted(set(start_paths))
    while queue:
        path = queue.pop(0)
        if path in seen or SKIP.search(path):
            continue
        seen.add(path)
        pat = pattern(path)
        if counts.get(pat, 0) >= per_pattern:
            continue
        counts[pat] = counts.get(pat, 0) + 1
        try:
            r = session.get(base + path, allow_redirects=False, timeout=60)
        except requests.RequestException as e:
            out[path] = f"ERROR {type(e).__name__}"
            continue
        out[path] = normalise(path, r)
        if r.status_code in (301, 302, 303, 307, 308):
            loc = r.headers.get("location", "")
            out[path] += f"\n-> {loc}"
        ctype = r.headers.get("content-type", "")
        if ctype.startswith("text/html"):
            found = []
            for h in HREF.findall(r.text):
                h = html.unescape(h)
                if h.startswith("//") or not h.startswith("/"):
                    continue
                found.append(h)
            for h in sorted(set(found)):
                if h not in seen:
                    queue.append(h)
    return out


def login(base, user):
    s = requests.Session()
    r = s.post(base + "/api/v1/login", json={"username": user, "password": PASSWORD}, timeout=30)
    if r.status_code != 200:
        sys.exit(f"login as {user}: {r.status_code} {r.text[:200]}")
    return s


def collect(binary, data, log, per_pattern):
    p, base = start(binary, data, log)
    try:
        pages = {}
        anon = requests.Session()
        raw_openapi = anon.get(base + "/api/v1/openapi.json", timeout=30).content
        for path, v in crawl(base, anon, ["/", "/login", "/healthz", "/api/v1/openapi.json"],
                             per_pattern).items():
            pages["anon " + path] = v
        for role in ROLES:
            s = login(base, role)
            for path, v in crawl(base, s, ["/"], per_pattern).items():
                pages[f"{role} {path}"] = v
        return pages, raw_openapi
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--keep", help="keep the data directories and logs here")
    ap.add_argument("--per-pattern", type=int, default=3,
                    help="pages visited per kind of URL (ids masked), default 3")
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="tram-compare-")
    os.makedirs(work, exist_ok=True)
    seed = os.path.join(work, "seed")
    with open(os.path.join(work, "seed.log"), "w") as log:
        p, _ = start(a.before, seed, log)
        stop(p)
    results = []
    for name, binary in (("before", a.before), ("after", a.after)):
        d = os.path.join(work, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(seed, d, symlinks=True,
                        ignore=shutil.ignore_patterns("*.sock"))
        with open(os.path.join(work, name + ".log"), "w") as log:
            results.append(collect(binary, d, log, a.per_pattern))
    (b, b_api), (c, c_api) = results
    bad = 0
    if b_api != c_api:
        bad += 1
        print("openapi.json differs byte for byte")
    for key in sorted(set(b) | set(c)):
        if key not in c:
            bad += 1
            print(f"only before: {key}")
        elif key not in b:
            bad += 1
            print(f"only after: {key}")
        elif b[key] != c[key]:
            bad += 1
            print(f"differs: {key}")
            for line in list(difflib.unified_diff(b[key].splitlines(), c[key].splitlines(),
                                                  "before", "after", lineterm="", n=1))[:40]:
                print("   " + (line if len(line) < 300 else line[:300] + " …"))
    print(f"{len(b)} answers before, {len(c)} after, {bad} differences; openapi.json "
          f"{'identical' if b_api == c_api else 'DIFFERENT'} ({len(b_api)} bytes)")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
