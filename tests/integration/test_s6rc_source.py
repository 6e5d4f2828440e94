"""test_s6rc_source.py — s6-overlay/s6-rc.d checked without s6-rc (Debian 12 has none, so
s6-rc-compile cannot be run here), and deploy/s6-scandir's translation of it. Unit-level: no
root, no Docker, no daemon started.

check_source() applies the rules of s6-rc-compile's documented source format
(skarnet.org/software/s6-rc/s6-rc-compile.html, "Source format" and "Longrun pipelining"):
  - every directory not starting with a dot is a service definition; its name has no
    slash or newline and not the reserved s6rc- / s6-rc- prefixes (we also keep to the
    alphanumerics, '_' and '-' the page recommends);
  - a regular file `type` holding exactly "oneshot", "longrun" or "bundle" and a newline;
  - bundles: `contents` (file) or `contents.d/` (one entry per name), naming services that
    exist; no cycle between bundles;
  - atomic services: `dependencies` / `dependencies.d/` naming services that exist (or
    s6-overlay's own `base`), no dependency cycle (bundles expanded); `timeout-up` and
    `timeout-down` integers;
  - oneshots: `up` mandatory, `down` optional, each one command line (execlineb lexes it);
  - longruns: `run` mandatory; `finish`, `notification-fd`, `nosetsid` and the other s6
    service-directory files optional; only `data/` and `env/` directories are copied, so
    anything else (a helper script beside `run`, `log/`, `down`) would be lost;
    `producer-for` / `consumer-for` name each other's longrun, one producer per consumer, no
    pipeline cycle; `pipeline-name` only on a first producer.
Then the Postern conventions (s6-overlay/README.md, deploy/README.md): s6-overlay's `user`
bundle exists, every atomic service depends on `base` (s6-overlay v3: started in stage 2),
run scripts are executable with a #! line, notification-fd matches the `--ready-fd` the run
script passes, every service deploy/postern-config can select has a definition and postfix
depends on each daemon, the oneshot's program is installed there by deploy/Dockerfile.

ScandirTests: deploy/s6-scandir make, as deploy/postern-init calls it (--only, the services
the generator selects), gives the scan directory s6-svscan runs: the run scripts unchanged
behind a wrapper that waits for the selected dependencies' readiness, loggers under
<producer>/log, the oneshot left out, s6-rc-only files not copied, dependencies first in
.s6-scandir/order.
"""

import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCE = os.path.join(REPO, "s6-overlay", "s6-rc.d")
S6_SCANDIR = os.path.join(REPO, "deploy", "s6-scandir")
GENERATOR = os.path.join(REPO, "deploy", "postern-config")

# Provided by s6-overlay v3 itself, not by our tree.
EXTERNAL = {"base"}
# What s6-rc-compile reads or copies from a longrun definition (s6 service directory files).
LONGRUN_FILES = {"type", "run", "finish", "notification-fd", "nosetsid", "timeout-up",
                 "timeout-down", "timeout-kill", "timeout-finish", "max-death-tally",
                 "down-signal", "lock-fd", "dependencies", "dependencies.d", "producer-for",
                 "consumer-for", "pipeline-name", "flag-essential", "flag-recommend-restart"}
LONGRUN_DIRS = {"data", "env", "dependencies.d"}
ONESHOT_FILES = {"type", "up", "down", "timeout-up", "timeout-down", "dependencies",
                 "dependencies.d", "flag-essential", "flag-recommend-restart"}
BUNDLE_FILES = {"type", "contents", "contents.d", "flag-essential"}


def read_list(path):
    """A `contents`/`dependencies` file: one name a line, leading white space ignored
    (trailing kept, as the page says), '#' lines and empty lines skipped."""
    out = []
    with open(path) as f:
        for line in f.read().split("\n"):
            line = line.lstrip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def names_in(defdir, what):
    """The names of DEFDIR/<what>.d/ (preferred) or DEFDIR/<what>; None when neither."""
    d = os.path.join(defdir, what + ".d")
    if os.path.isdir(d):
        return sorted(n for n in os.listdir(d) if not n.startswith("."))
    f = os.path.join(defdir, what)
    if os.path.isfile(f):
        return read_list(f)
    return None


def first_line(path):
    with open(path) as f:
        return f.read().split("\n", 1)[0].strip()


class Source:
    """The parsed definitions of one s6-rc source directory."""

    def __init__(self, path):
        self.path = path
        self.types = {}
        self.errors = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if name.startswith(".") or not os.path.isdir(full):
                continue            # s6-rc-compile ignores them
            self.types[name] = None
            t = os.path.join(full, "type")
            if not os.path.isfile(t):
                self.err(name, "no regular file 'type'")
                continue
            with open(t) as f:
                text = f.read()
            if text not in ("oneshot\n", "longrun\n", "bundle\n"):
                self.err(name, "type is %r: want exactly oneshot, longrun or bundle and a "
                               "newline" % text)
                continue
            self.types[name] = text.strip()

    def err(self, name, text):
        self.errors.append("%s: %s" % (name, text))

    def d(self, name):
        return os.path.join(self.path, name)

    def contents(self, name):
        return names_in(self.d(name), "contents") or []

    def dependencies(self, name):
        return names_in(self.d(name), "dependencies") or []

    def atomics(self, name, seen=()):
        """A name as atomic services (bundles flattened)."""
        if self.types.get(name) != "bundle":
            return [name]
        out = []
        for m in self.contents(name):
            if m not in seen and m in self.types:
                out += self.atomics(m, seen + (name,))
        return out


def check_source(path):
    """Every rule in the module text; a list of "service: what is wrong" lines."""
    s = Source(path)
    for name, typ in s.types.items():
        if "\n" in name or name.startswith(("s6rc-", "s6-rc-")):
            s.err(name, "reserved or impossible service name")
        elif not re.match(r"^[A-Za-z0-9_-]+$", name):
            s.err(name, "name outside [A-Za-z0-9_-] (discouraged by s6-rc-compile)")
        if typ is None:
            continue
        entries = set(os.listdir(s.d(name)))
        allowed = {"bundle": BUNDLE_FILES, "oneshot": ONESHOT_FILES,
                   "longrun": LONGRUN_FILES | LONGRUN_DIRS}[typ]
        for e in sorted(entries - allowed):
            s.err(name, "%r in a %s definition: s6-rc-compile ignores it (a longrun keeps only "
                        "run, finish, notification-fd, ... and the data/ and env/ directories)"
                  % (e, typ))
        for e in sorted(entries):
            full = os.path.join(s.d(name), e)
            is_dir = os.path.isdir(full)
            if e.endswith(".d") or (typ == "longrun" and e in ("data", "env")):
                if not is_dir:
                    s.err(name, "%s must be a directory" % e)
            elif is_dir and e in allowed:
                s.err(name, "%s must be a regular file" % e)
        if typ == "bundle":
            members = names_in(s.d(name), "contents")
            if members is None:
                s.err(name, "a bundle needs contents.d/ or contents")
            for m in members or []:
                if m not in s.types:
                    s.err(name, "contents: no service %r" % m)
            continue
        for t in ("timeout-up", "timeout-down"):
            if t in entries and not re.match(r"^[0-9]+$", first_line(os.path.join(s.d(name),
                                                                                 t))):
                s.err(name, "%s is not a number of milliseconds" % t)
        for dep in s.dependencies(name):
            if dep not in s.types and dep not in EXTERNAL:
                s.err(name, "dependency %r is not defined" % dep)
            elif dep == name:
                s.err(name, "depends on itself")
        if typ == "oneshot":
            for script in ("up", "down"):
                p = os.path.join(s.d(name), script)
                if script == "up" and not os.path.isfile(p):
                    s.err(name, "a oneshot needs 'up'")
                elif os.path.isfile(p):
                    lines = [l for l in read_list(p)]
                    if script == "up" and not lines:
                        s.err(name, "'up' is empty")
                    if len(lines) > 1 and not any(l.endswith(("\\", "{", "}")) for l in lines):
                        s.err(name, "%r holds %d command lines; execlineb reads one"
                              % (script, len(lines)))
            continue
        # longrun
        run = os.path.join(s.d(name), "run")
        if not os.path.isfile(run):
            s.err(name, "a longrun needs 'run'")
        for script in ("run", "finish"):
            p = os.path.join(s.d(name), script)
            if os.path.isfile(p):
                if not os.access(p, os.X_OK):
                    s.err(name, "%s is not executable" % script)
                with open(p, "rb") as f:
                    if not f.read(2) == b"#!":
                        s.err(name, "%s has no #! line" % script)
        nfd = os.path.join(s.d(name), "notification-fd")
        if os.path.isfile(nfd) and not re.match(r"^[0-9]+$", first_line(nfd)):
            s.err(name, "notification-fd is not a file descriptor number")
        for f, other_f in (("producer-for", "consumer-for"), ("consumer-for", "producer-for")):
            p = os.path.join(s.d(name), f)
            if not os.path.isfile(p):
                continue
            other = first_line(p)
            if s.types.get(other) != "longrun":
                s.err(name, "%s names %r, which is not a longrun" % (f, other))
                continue
            q = os.path.join(s.d(other), other_f)
            if not os.path.isfile(q) or first_line(q) != name:
                s.err(name, "%s %s, but %s has no %s %s" % (f, other, other, other_f, name))
        if os.path.isfile(os.path.join(s.d(name), "pipeline-name")) and (
                not os.path.isfile(os.path.join(s.d(name), "producer-for"))
                or os.path.isfile(os.path.join(s.d(name), "consumer-for"))):
            s.err(name, "pipeline-name on a service that is not a first producer (ignored)")
    # one producer per consumer, pipelines without cycles
    producers = {}
    for name, typ in s.types.items():
        p = os.path.join(s.d(name), "producer-for")
        if typ == "longrun" and os.path.isfile(p):
            producers.setdefault(first_line(p), []).append(name)
    for consumer, prods in producers.items():
        if len(prods) > 1:
            s.err(consumer, "consumer of several producers: %s" % ", ".join(sorted(prods)))
    for start in producers:
        seen, cur = [], start
        while cur in s.types and os.path.isfile(os.path.join(s.d(cur), "producer-for")):
            if cur in seen:
                s.err(start, "pipeline cycle: %s" % " -> ".join(seen + [cur]))
                break
            seen.append(cur)
            cur = first_line(os.path.join(s.d(cur), "producer-for"))
    # cycles: bundles among themselves, then dependencies between atomic services
    for kind, edges in (("bundle", lambda n: [m for m in s.contents(n)
                                              if s.types.get(m) == "bundle"]
                         if s.types.get(n) == "bundle" else []),
                        ("dependency", lambda n: [a for d in s.dependencies(n) if d in s.types
                                                  for a in s.atomics(d)]
                         if s.types.get(n) in ("oneshot", "longrun") else [])):
        state = {}

        def visit(n, path):
            if state.get(n) == 1:
                s.err(n, "%s cycle: %s" % (kind, " -> ".join(path[path.index(n):] + [n])))
                return
            if state.get(n) == 2:
                return
            state[n] = 1
            for m in edges(n):
                visit(m, path + [n])
            state[n] = 2

        for n in s.types:
            visit(n, [])
    return s.errors


def generator_module():
    """deploy/postern-config as a module (its DAEMONS table); no bytecode left in deploy/."""
    loader = importlib.machinery.SourceFileLoader("postern_config", GENERATOR)
    spec = importlib.util.spec_from_loader("postern_config", loader)
    mod = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        loader.exec_module(mod)
    finally:
        sys.dont_write_bytecode = saved
    return mod


def generator_services():
    """Every service deploy/postern-config can list in RUN/services."""
    gen = generator_module()
    with open(GENERATOR) as f:
        text = f.read()
    extra = ["freshclam", "postgrey-whitelist-update"]
    for e in extra:                 # the generator still names it
        assert '"%s"' % e in text, e
    return ["postfix"] + [d.program for d in gen.DAEMONS if d.shipped] + extra


class SourceTests(unittest.TestCase):
    def copy(self):
        tmp = tempfile.mkdtemp(prefix="postern-s6rc-")
        self.addCleanup(shutil.rmtree, tmp, True)
        dst = os.path.join(tmp, "s6-rc.d")
        shutil.copytree(SOURCE, dst, symlinks=True)
        return dst

    def test_tree_follows_s6_rc_compile_rules(self):
        self.assertEqual(check_source(SOURCE), [])

    def test_checker_finds_each_broken_rule(self):
        """Each rule, broken once in a copy of the tree, is reported (the checker can fail)."""
        def write(root, rel, text, mode=0o644):
            p = os.path.join(root, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, mode)

        cases = [
            (lambda r: os.unlink(os.path.join(r, "postfix", "type")),
             "postfix: no regular file 'type'"),
            (lambda r: write(r, "postfix/type", "longrun"), "postfix: type is 'longrun'"),
            (lambda r: write(r, "postfix/type", "daemon\n"), "postfix: type is 'daemon\\n'"),
            (lambda r: os.unlink(os.path.join(r, "postern-dkim", "run")),
             "postern-dkim: a longrun needs 'run'"),
            (lambda r: os.chmod(os.path.join(r, "postern-dkim", "run"), 0o644),
             "postern-dkim: run is not executable"),
            (lambda r: write(r, "postern-dkim/helper.sh", "#!/bin/sh\n", 0o755),
             "postern-dkim: 'helper.sh' in a longrun definition"),
            (lambda r: os.makedirs(os.path.join(r, "postern-dkim", "log")),
             "postern-dkim: 'log' in a longrun definition"),
            (lambda r: write(r, "postern-dkim/notification-fd", "three\n"),
             "postern-dkim: notification-fd is not a file descriptor number"),
            (lambda r: write(r, "postfix/dependencies.d/postern-nope", ""),
             "postfix: dependency 'postern-nope' is not defined"),
            (lambda r: write(r, "postern-config/dependencies.d/postfix", ""),
             "dependency cycle: "),
            (lambda r: write(r, "postern-dkim-log/consumer-for", "postern-spf\n"),
             "postern-dkim-log: consumer-for postern-spf, but postern-spf has no producer-for "
             "postern-dkim-log"),
            (lambda r: write(r, "postern-spf/producer-for", "postern-dkim-log\n"),
             "postern-dkim-log: consumer of several producers"),
            (lambda r: write(r, "postern-dkim/producer-for", "postern-config\n"),
             "postern-dkim: producer-for names 'postern-config', which is not a longrun"),
            (lambda r: write(r, "user/contents.d/postern-nope", ""),
             "user: contents: no service 'postern-nope'"),
            (lambda r: (write(r, "more/type", "bundle\n"), write(r, "more/contents.d/user", ""),
                        write(r, "user/contents.d/more", "")),
             "bundle cycle: "),
            (lambda r: os.unlink(os.path.join(r, "postern-config", "up")),
             "postern-config: a oneshot needs 'up'"),
            (lambda r: write(r, "postern-config/up", "a\nb\n"),
             "postern-config: 'up' holds 2 command lines"),
            (lambda r: write(r, "postern-config/run", "#!/bin/sh\n", 0o755),
             "postern-config: 'run' in a oneshot definition"),
            (lambda r: write(r, "s6rc-mine/type", "longrun\n"), "s6rc-mine: reserved"),
            (lambda r: write(r, "postern-dkim/pipeline-name", "dkim-pipeline\n")
             or write(r, "postern-dkim-log/pipeline-name", "x\n"),
             "postern-dkim-log: pipeline-name on a service that is not a first producer"),
            (lambda r: write(r, "postfix/timeout-up", "soon\n"),
             "postfix: timeout-up is not a number"),
            (lambda r: (write(r, "postern-dkim-log/producer-for", "postern-dkim\n"),
                        write(r, "postern-dkim/consumer-for", "postern-dkim-log\n")),
             "pipeline cycle: "),
        ]
        for i, (breakit, needle) in enumerate(cases):
            root = self.copy()
            breakit(root)
            errors = check_source(root)
            self.assertTrue(any(needle in e for e in errors),
                            "case %d: %r not in %s" % (i, needle, errors))

    def test_postern_conventions(self):
        s = Source(SOURCE)
        self.assertEqual(s.types.get("user"), "bundle")
        for name, typ in s.types.items():
            if typ in ("oneshot", "longrun"):
                self.assertIn("base", s.dependencies(name), name)
        # every service the generator can select is defined; postfix waits for the daemons
        # and for the configuration
        gen = generator_module()
        for svc in generator_services():
            self.assertEqual(s.types.get(svc), "longrun", svc)
        postfix_deps = s.dependencies("postfix")
        self.assertIn("postern-config", postfix_deps)
        for d in gen.DAEMONS:
            self.assertIn(d.program, postfix_deps)
            self.assertEqual(first_line(os.path.join(SOURCE, d.program, "producer-for")),
                             d.program + "-log")
            self.assertIn("postern-config", s.dependencies(d.program))
        # notification-fd is what the run script tells the program to write to
        for name, typ in s.types.items():
            nfd = os.path.join(SOURCE, name, "notification-fd")
            if typ != "longrun" or not os.path.isfile(nfd):
                continue
            with open(os.path.join(SOURCE, name, "run")) as f:
                run = f.read()
            fd = first_line(nfd)
            self.assertTrue(re.search(r"--ready-fd %s\b" % fd, run)
                            or ("s6-notifyoncheck" in run and fd == "3"),
                            "%s: notification-fd %s is not the fd its run script uses"
                            % (name, fd))
        # the oneshot's program is where deploy/Dockerfile installs it
        up = first_line(os.path.join(SOURCE, "postern-config", "up")).split()[0]
        with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
            dockerfile = f.read()
        m = re.search(r"COPY ((?:deploy/\S+\s+(?:\\\s+)?)+)(/usr/lib/postern/)", dockerfile)
        self.assertIsNotNone(m)
        installed = ["/usr/lib/postern/" + os.path.basename(p)
                     for p in re.findall(r"deploy/(\S+)", m.group(1))]
        self.assertIn(up, installed)
        # the helpers the run scripts call by name are installed on PATH or in /usr/sbin
        with open(os.path.join(SOURCE, "postgrey-whitelist-update", "run")) as f:
            self.assertIn("postgrey-whitelist-update --no-reload", f.read())
        self.assertRegex(dockerfile, r"COPY [^\n]*deploy/postgrey-whitelist-update[^\n]* "
                                     r"/usr/local/bin/")


class ScandirTests(unittest.TestCase):
    """deploy/s6-scandir make as deploy/postern-init runs it."""

    def make(self, *args):
        tmp = tempfile.mkdtemp(prefix="postern-s6scan-")
        self.addCleanup(shutil.rmtree, tmp, True)
        scan = os.path.join(tmp, "scan")
        p = subprocess.run([S6_SCANDIR, "make", scan, "--source", SOURCE,
                            "--env", "POSTERN_RUN_DIR=/run/postern"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        return scan, p.stdout

    def test_only_generator_services(self):
        services = generator_services()
        scan, _ = self.make("--only", *services)
        s = Source(SOURCE)
        with open(os.path.join(scan, ".s6-scandir", "order")) as f:
            order = f.read().split()
        self.assertEqual(sorted(order), sorted(services))
        self.assertEqual(sorted(n for n in os.listdir(scan) if not n.startswith(".")),
                         sorted(services))
        for svc in services:
            d = os.path.join(scan, svc)
            with open(os.path.join(SOURCE, svc, "run"), "rb") as a, \
                    open(os.path.join(d, "run.s6rc"), "rb") as b:
                self.assertEqual(a.read(), b.read(), svc)
            self.assertTrue(os.access(os.path.join(d, "run"), os.X_OK))
            for f in ("type", "dependencies.d", "producer-for", "consumer-for"):
                self.assertFalse(os.path.exists(os.path.join(d, f)), "%s/%s" % (svc, f))
            for f in ("notification-fd", "data", "finish"):
                self.assertEqual(os.path.exists(os.path.join(SOURCE, svc, f)),
                                 os.path.exists(os.path.join(d, f)), "%s/%s" % (svc, f))
            with open(os.path.join(d, "run")) as f:
                wrapper = f.read()
            # waits for exactly its dependencies that were selected, each on readiness (-U)
            # when that one has a notification-fd, else on "up" (-u); they come first in order
            want = sorted(dep for dep in s.dependencies(svc) if dep in services)
            got = sorted(re.findall(r"s6-svwait -[uU] -t 1000 '%s/([^']+)'"
                                    % re.escape(scan), wrapper))
            self.assertEqual(got, want, svc)
            for dep in want:
                flag = "-U" if os.path.isfile(os.path.join(SOURCE, dep,
                                                           "notification-fd")) else "-u"
                self.assertIn("s6-svwait %s -t 1000 '%s/%s'" % (flag, scan, dep), wrapper)
                self.assertLess(order.index(dep), order.index(svc))
            self.assertIn("exec s6-envdir '%s/.s6-scandir/env' ./run.s6rc" % scan, wrapper)
            # the logger of a producer is its log/ service
            prod = os.path.join(SOURCE, svc, "producer-for")
            if os.path.isfile(prod):
                with open(os.path.join(SOURCE, first_line(prod), "run"), "rb") as a, \
                        open(os.path.join(d, "log", "run.s6rc"), "rb") as b:
                    self.assertEqual(a.read(), b.read())
            else:
                self.assertFalse(os.path.exists(os.path.join(d, "log")), svc)
        with open(os.path.join(scan, ".s6-scandir", "env", "POSTERN_RUN_DIR")) as f:
            self.assertEqual(f.read(), "/run/postern\n")

    def test_user_bundle_pulls_dependencies_and_skips_the_oneshot(self):
        scan, out = self.make("user")
        self.assertIn("leaving out oneshot postern-config", out)
        s = Source(SOURCE)
        services = sorted(n for n in os.listdir(scan) if not n.startswith("."))
        # the bundle's longruns and, as s6-rc would, every longrun they depend on (loggers
        # move under their producer)
        want = set()
        todo = [a for a in s.atomics("user")]
        while todo:
            n = todo.pop()
            if n in want or s.types.get(n) != "longrun":
                continue
            want.add(n)
            todo += [a for d in s.dependencies(n) if d in s.types for a in s.atomics(d)]
        loggers = {n for n in want
                   if os.path.isfile(os.path.join(SOURCE, n, "consumer-for"))}
        self.assertEqual(services, sorted(want - loggers))
        for lg in loggers:
            producer = first_line(os.path.join(SOURCE, lg, "consumer-for"))
            self.assertTrue(os.path.isfile(os.path.join(scan, producer, "log", "run.s6rc")))


if __name__ == "__main__":
    unittest.main()
