#!/usr/bin/env python3
# test/lib/retention_model.py - an independent model of coffer's schedules
# and retention per tenant class, for tests that live through months of
# "coffer run" (091_retention_sim.t). It shares no code with coffer: it
# reads the classes from coffer.yaml and follows the documented rules
# (coffer help run, coffer help expire; restic's forget rules in UTC).
#
#   retention_model.py plan CONFIG [options] > EVENTS
#       the events of a simulation, one a line, in order:
#         run TIME OWNERS      a real "coffer run" at TIME: OWNERS are due
#         forge TIME OWNERS    a snapshot of OWNERS that coffer run would have
#                              made at TIME (repo_tool clone-snapshots makes it)
#         data TIME            change the data of the live tenants and shared
#         expire TIME          coffer expire --yes
#         prune TIME           coffer prune
#         drop TIME TENANT     the tenant's schema is dropped
#         gone TIME TENANT keep|drop   coffer expire --tenant TENANT
#                              --allow-empty --dry-run: its last snapshot's verdict
#         empty TIME TENANT    coffer expire --tenant TENANT --allow-empty --yes
#         check TIME NAME      compare what the repository holds (checkpoint NAME)
#       OWNERS is "shared,tenant:a,tenant:b" (owner names as repo_tool takes
#       them). Times are RFC 3339 UTC. A run happens at every full hour (what a
#       timer every 5 minutes does when every period starts on a full hour).
#       options: --start DATE (a Thursday, 00:00 UTC) --days N --step-days N
#       --real-every STEPS (a real run in every STEPS-th step, at its first due
#       time of a tenant class backed up daily; the first run is real too)
#       --prune-every STEPS --tenant NAME:CLASS (repeatable) --drop NAME:DAY
#       --hourly-days N (runs when only the shared part is due happen in the
#       last N days of each step only, e.g. the 48 hours the hourly rule keeps:
#       fewer snapshots, the same rules; default: the whole step)
#       --check NAME:DAY (repeatable; after that day's expire). The last hour
#       has an expire and a prune too; with --drop, the deleted class's window
#       is probed at its end ("gone" keep, then drop a second later), and at
#       the very end the tenant is emptied ("empty") and checked ("after-empty").
#
#   retention_model.py expect CONFIG EVENTS ACTUAL_DIR TENANT=CLASS...
#       replays EVENTS against a model of the repository (every expire applied
#       in turn), and at each "check TIME NAME" compares with ACTUAL_DIR/NAME/
#       OWNER, OWNER written tenant_NAME or shared (one time a line: the
#       snapshots holding OWNER's part). Also computes each checkpoint in one
#       pass over every snapshot ever made, which equals the replay when the
#       rules are monotone (what one expire drops, any later one would drop
#       too). Prints "PASS what", "FAIL what: detail" and "NOTE what" lines.
import datetime as dt
import os
import re
import sys

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
RULES = ("hourly", "daily", "weekly", "monthly", "yearly")


def duration(text):
    """'1d12h' -> seconds."""
    parts = re.findall(r"(\d+)([smhdwy])", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise ValueError("bad duration %r" % text)
    return sum(int(n) * UNITS[u] for n, u in parts)


def parse_time(s):
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return int(dt.datetime.fromisoformat(s).timestamp())


def fmt(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def flow(text, i=0):
    """Parses a YAML flow mapping ('{ a: 1, b: { c: "x" } }') at text[i]:
    returns (dict, index after it). Values are strings or mappings."""
    def skip(j):
        while j < len(text) and text[j] in " \t":
            j += 1
        return j

    i = skip(i)
    if text[i] != "{":
        raise ValueError("expected { at %r" % text[i:])
    out, i = {}, skip(i + 1)
    while text[i] != "}":
        j = text.index(":", i)
        key, i = text[i:j].strip(), skip(j + 1)
        if text[i] == "{":
            out[key], i = flow(text, i)
        elif text[i] == '"':
            j = text.index('"', i + 1)
            out[key], i = text[i + 1:j], j + 1
        else:
            j = i
            while text[j] not in ",}":
                j += 1
            out[key], i = text[i:j].strip(), j
        i = skip(i)
        if text[i] == ",":
            i = skip(i + 1)
    return out, i + 1


class Policy:
    """The classes of coffer.yaml: every (s), at (s after midnight or None),
    keep. Reads what the tests write: tenancy.shared_class, and under
    classes: one class a line as a flow mapping (no YAML library needed)."""

    def __init__(self, path):
        self.classes, self.shared_class, section = {}, None, None
        for line in open(path):
            if re.match(r"^\S", line):
                section = line.split(":")[0]
                continue
            m = re.match(r"^\s+shared_class:\s*\"?([^\"\s]+)", line)
            if section == "tenancy" and m:
                self.shared_class = m.group(1)
            m = re.match(r"^  (\w+):\s*(\{.*\})\s*$", line)
            if section == "classes" and m:
                c = flow(m.group(2))[0]
                at = None
                if c.get("at") is not None:
                    h, mi = c["at"].split(":")
                    at = int(h) * 3600 + int(mi) * 60
                keep = None
                if c.get("keep") is not None:
                    keep = {k: (duration(v) if k == "within" else int(v))
                            for k, v in c["keep"].items()}
                self.classes[m.group(1)] = {
                    "every": duration(c["every"]) if c.get("every") else 0,
                    "at": at,
                    "keep": keep,
                }

    def cls(self, name):
        return self.classes.get(name, self.classes.get("default"))


# ---- schedules -----------------------------------------------------------


def period_start(c, now):
    """The start of the period of class c that now is in: every is counted
    from 1970-01-01 00:00 UTC, shifted by at."""
    at = c["at"] or 0
    return (now - at) // c["every"] * c["every"] + at


def is_due(c, last, now):
    return c["every"] > 0 and (last is None or last < period_start(c, now))


# ---- retention -------------------------------------------------------------


def bucket(rule, t):
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    if rule == "hourly":
        return (d.year, d.month, d.day, d.hour)
    if rule == "daily":
        return (d.year, d.month, d.day)
    if rule == "weekly":
        iso = d.isocalendar()
        return (iso[0], iso[1])
    if rule == "monthly":
        return (d.year, d.month)
    return (d.year,)


def select(keep, times, anchor):
    """restic's forget rules: which of times (any order) keep selects, with
    within counted back from anchor."""
    times = sorted(times, reverse=True)
    if keep is None:
        return set(times)
    kept = set(times[: keep.get("last", 0)])
    for rule in RULES:
        left, seen = keep.get(rule, 0), set()
        for t in times:
            if left <= 0:
                break
            b = bucket(rule, t)
            if b not in seen:
                seen.add(b)
                kept.add(t)
                left -= 1
    if keep.get("within"):
        kept |= {t for t in times if t >= anchor - keep["within"]}
    return kept


class Repo:
    """Snapshots as {time: set of owners}; one snapshot per time here."""

    def __init__(self, policy, classes):
        self.policy = policy
        self.classes = classes  # tenant -> its class
        self.snaps = {}
        self.seen = {}  # tenant -> the last time discovery saw it
        self.live = set()

    def holding(self, owner):
        return {t for t, o in self.snaps.items() if owner in o}

    def verdicts(self, now, tenants=None, allow_empty=False):
        """owner -> the times whose part it keeps (what coffer expire decides)."""
        keep = {}
        owners = {o for os_ in self.snaps.values() for o in os_ if o != "shared"}
        for owner in sorted(owners):
            name = owner.split(":", 1)[1]
            times = self.holding(owner)
            if tenants is not None and name not in tenants:
                keep[owner] = times
                continue
            gone = name not in self.live
            newest = max(times)
            c = self.policy.cls("deleted" if gone and "deleted" in self.policy.classes
                                else self.classes[name])
            if gone and c is self.policy.classes.get("deleted") and c["keep"] is not None:
                # the deleted class: its counting rules, and the last snapshot
                # while now is within of when the tenant was last seen
                rules = {k: v for k, v in c["keep"].items() if k != "within"}
                kept = select(rules, times, newest)
                last_seen = max(newest, self.seen.get(name, 0))
                if c["keep"].get("within") and now <= last_seen + c["keep"]["within"]:
                    kept.add(newest)
            else:
                kept = select(c["keep"], times, newest)
            if not kept and not allow_empty:
                kept = {newest}
            keep[owner] = kept
        times = self.holding("shared")
        if times:
            c = self.policy.cls(self.policy.shared_class or "default")
            kept = select(c["keep"], times, max(times)) if c else set()
            kept |= {t for t in times if any(t in k for k in keep.values())}
            if not kept and not allow_empty:
                kept = {max(times)}
            keep["shared"] = kept
        return keep

    def expire(self, now, tenants=None, allow_empty=False):
        keep = self.verdicts(now, tenants, allow_empty)
        for t in list(self.snaps):
            self.snaps[t] = {o for o in self.snaps[t] if t in keep.get(o, set())}
            if not self.snaps[t]:
                del self.snaps[t]

    def saw(self, now):
        for name in self.live:
            self.seen[name] = now


# ---- plan -----------------------------------------------------------------


def plan(args):
    opts = {"tenant": [], "check": []}
    i = 1
    while i < len(args):
        key = args[i].lstrip("-").replace("-", "_")
        if key in ("tenant", "check"):
            opts[key].append(args[i + 1])
        else:
            opts[key] = args[i + 1]
        i += 2
    policy = Policy(args[0])
    start = parse_time(opts["start"])
    hours = int(opts["days"]) * 24
    step = int(opts.get("step_days", 7)) * 86400
    real_every = int(opts.get("real_every", 0))
    prune_every = int(opts.get("prune_every", 0))
    hourly_window = float(opts.get("hourly_days", opts.get("step_days", 7))) * 86400
    classes = dict(x.split(":") for x in opts["tenant"])
    drop_name, drop_at = None, None
    if "drop" in opts:
        drop_name, drop_day = opts["drop"].split(":")
        drop_at = start + int(drop_day) * 86400
    checks = {start + int(d) * 86400: n for n, d in (x.split(":") for x in opts["check"])}
    out = sys.stdout
    last = {}
    live = set(classes)
    owners_cls = {"shared": policy.cls(policy.shared_class)} if policy.shared_class else {}
    owners_cls.update({"tenant:" + n: policy.cls(c) for n, c in classes.items()})
    deleted = policy.classes.get("deleted")
    window = deleted["keep"].get("within", 0) if deleted and deleted["keep"] else 0
    discovered = None  # the last run or expire: discovery saw every live tenant then
    gone_since = None  # when discovery last saw the dropped tenant
    for h in range(hours + 1):
        now = start + h * 3600
        k, at_step_end = divmod(now - start, step)
        due = sorted(o for o, c in owners_cls.items()
                     if (o == "shared" or o[7:] in live) and is_due(c, last.get(o), now))
        if due == ["shared"] and now < start + (k + 1) * step - hourly_window:
            due = []  # no run this hour: only the shared part would be due
        daily = any(owners_cls[o]["every"] == 86400 for o in due)
        real = h == 0 or (real_every and k % real_every == 0 and daily and
                          not any(start + k * step <= t < now and
                                  owners_cls[o]["every"] == 86400
                                  for o, t in last.items()))
        if due:
            if real:
                if h > 0:
                    out.write("data %s\n" % fmt(now))
                out.write("run %s %s\n" % (fmt(now), ",".join(due)))
            else:
                out.write("forge %s %s\n" % (fmt(now), ",".join(due)))
            for o in due:
                last[o] = now
            if real:
                discovered = now
        if (at_step_end == 0 and h > 0) or h == hours:
            out.write("expire %s\n" % fmt(now))
            discovered = now
            if (prune_every and k % prune_every == 0) or h == hours:
                out.write("prune %s\n" % fmt(now))
        if now in checks:
            out.write("check %s %s\n" % (fmt(now), checks[now]))
        if now == drop_at:
            out.write("drop %s %s\n" % (fmt(now), drop_name))
            live.discard(drop_name)
            gone_since = max(discovered or 0, last.get("tenant:" + drop_name, 0))
        if window and gone_since is not None and now >= gone_since + window:
            # the deleted window ends: the last snapshot stays up to its end,
            # exactly, and goes (with --allow-empty) a second later
            end = gone_since + window
            out.write("gone %s %s keep\n" % (fmt(end), drop_name))
            out.write("gone %s %s drop\n" % (fmt(end + 1), drop_name))
            window = 0
    if drop_at is not None:
        out.write("empty %s %s\n" % (fmt(start + hours * 3600), drop_name))
        out.write("check %s after-empty\n" % fmt(start + hours * 3600))


# ---- expect ---------------------------------------------------------------


def read_actual(path):
    try:
        with open(path) as f:
            return {parse_time(line) for line in f if line.strip()}
    except FileNotFoundError:
        return None


def expect(args):
    policy = Policy(args[0])
    events = [line.split() for line in open(args[1]) if line.strip()]
    actual_dir = args[2]
    # a tenant's class is the one discovery gives it: the test says which
    classes = dict(x.split("=") for x in args[3:])
    repo = Repo(policy, classes)
    repo.live = set(classes)
    everything = Repo(policy, classes)  # every snapshot ever made, nothing expired
    everything.live = repo.live
    results = []
    emptied = False  # once --allow-empty ran, one pass without it differs
    for ev in events:
        op, now = ev[0], parse_time(ev[1])
        if op in ("run", "forge"):
            owners = set(ev[2].split(","))
            repo.snaps[now] = set(owners)
            everything.snaps[now] = set(owners)
            if op == "run":
                repo.saw(now)
                repo.expire(now)
        elif op == "expire":
            repo.saw(now)
            repo.expire(now)
        elif op == "drop":
            repo.live = repo.live - {ev[2]}
            everything.live = repo.live
        elif op == "empty":
            repo.expire(now, tenants={ev[2]}, allow_empty=True)
            emptied = True
        elif op == "gone":
            v = repo.verdicts(now, tenants={ev[2]}, allow_empty=True)
            t = max(repo.holding("tenant:" + ev[2]))
            got = "keep" if t in v["tenant:" + ev[2]] else "drop"
            results.append(("PASS" if got == ev[3] else "FAIL",
                            "model: %s's last snapshot at %s: %s" % (ev[2], ev[1], got)))
        elif op == "check":
            name = ev[2]
            owners = sorted({o for s in everything.snaps.values() for o in s})
            everything.seen = dict(repo.seen)
            oneshot = None if emptied else everything.verdicts(now)
            for owner in owners:
                want = repo.holding(owner)
                if oneshot is not None:
                    same = oneshot.get(owner, set()) == want
                    results.append(("PASS" if same else "FAIL",
                                    "%s: %s: one pass over every snapshot ever made keeps what "
                                    "the expires in turn kept (%d)" % (name, owner, len(want))))
                    if not same:
                        results[-1] = (results[-1][0], results[-1][1] + ": one pass only "
                                       + " ".join(fmt(t) for t in sorted(oneshot[owner] - want)[:5])
                                       + "; in turn only "
                                       + " ".join(fmt(t) for t in sorted(want - oneshot[owner])[:5]))
                got = read_actual(os.path.join(actual_dir, name, owner.replace(":", "_")))
                if got is None:
                    results.append(("FAIL", "%s: %s: nothing recorded" % (name, owner)))
                    continue
                what = "%s: %s holds the %d snapshots the model keeps" % (name, owner, len(want))
                if got == want:
                    results.append(("PASS", what))
                else:
                    results.append(("FAIL", "%s: missing %s; extra %s" % (
                        what, " ".join(fmt(t) for t in sorted(want - got)[:8]) or "-",
                        " ".join(fmt(t) for t in sorted(got - want)[:8]) or "-")))
            results.append(("NOTE", "%s: %d snapshots in the model, %d ever made" % (
                name, len(repo.snaps), len(everything.snaps))))
    for status, what in results:
        print(status, what)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("plan", "expect"):
        sys.exit("usage: retention_model.py plan CONFIG [options] | expect CONFIG EVENTS ACTUAL_DIR "
                 "TENANT=CLASS...")
    (plan if sys.argv[1] == "plan" else expect)(sys.argv[2:])
