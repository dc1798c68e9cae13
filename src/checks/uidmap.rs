//! Subordinate ids: `uidmap.binaries`, `uidmap.subids`.

use super::{Check, Ctx, Findings, Phase, Severity, Status, Verdict, at};
use crate::host::users::{accounts_in, free_subid_start, known_accounts, parse_subids};
use crate::host::{FactError, FileStat, Probe};

const NEEDED_IDS: u64 = 65536;

pub(crate) const BINARIES: Check = Check {
    id: "uidmap.binaries",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "newuidmap and newgidmap are installed with privileges",
    fixed_by: Some("packages"),
    run: binaries,
    explain: "\
Verifies that newuidmap and newgidmap are on the PATH the k3s unit uses and are setuid root or carry cap_setuid / cap_setgid.

Why: an unprivileged process cannot write a uid_map with more than its own id; RootlessKit calls these two helpers (from shadow's uidmap package) to map the user's subordinate ranges into k3s's namespace. Without them k3s fails with \"failed to setup UID/GID map: failed to compute uid/gid map\" or \"newuidmap ... failed\".

Fix: `sudo apt-get install -y uidmap` (Debian/Ubuntu) or `sudo dnf install -y shadow-utils` (Fedora/RHEL). If installed but stripped of privileges: `sudo chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap`.",
};

pub(super) fn binaries(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let mut f = Findings::default();
    for (prog, cap) in [("newuidmap", "cap_setuid"), ("newgidmap", "cap_setgid")] {
        let Some(path) = host.which(prog) else {
            f.observe(format!(
                "{prog}: not found on PATH ({})",
                crate::host::UNIT_PATH
            ));
            f.find(Status::Fail, format!("{prog} is not installed"));
            f.remedy(
                "sudo apt-get install -y uidmap   # Fedora/RHEL: sudo dnf install -y shadow-utils",
            );
            continue;
        };
        let Some(st) = host.stat(&path)? else {
            continue;
        };
        f.observe(describe(host, &path, &st));
        let setuid_root = st.mode & 0o4000 != 0 && st.uid == 0;
        if !setuid_root && !st.caps.iter().any(|c| c == cap) {
            f.find(
                Status::Fail,
                format!("{path} is neither setuid root nor has {cap}"),
            );
            f.remedy(format!("sudo chmod u+s {path}   # or: sudo setcap {cap}+ep {path}; reinstalling the uidmap package restores it"));
        }
    }
    Ok(f.finish("newuidmap and newgidmap can map the user's subordinate ids"))
}

fn describe(host: &crate::host::Host, path: &str, st: &FileStat) -> String {
    let caps = if st.caps.is_empty() {
        String::new()
    } else {
        format!(" caps={}", st.caps.join(","))
    };
    format!(
        "{path}: {} {}:{}{caps}",
        st.mode_string(),
        host.owner_name(st.uid),
        host.group_name(st.gid)
    )
}

/// Sub-ids from an NSS source (`subid: sss` in nsswitch.conf): libsubid and
/// with it newuidmap/newgidmap ask that source only, so does getsubids.
fn subids_from_nss(ctx: &Ctx<'_>, source: &str, line: &str) -> Verdict {
    use crate::host::subids::{getsubids, parse};
    let host = ctx.host;
    let u = host.user();
    let mut f = Findings::default();
    f.observe(line.to_string());
    f.observe(format!(
        "/etc/subuid, /etc/subgid: not consulted (nsswitch.conf names {source})"
    ));
    for (group, what) in [(false, "uids"), (true, "gids")] {
        let cmd = if group {
            format!("getsubids -g {}", u.name)
        } else {
            format!("getsubids {}", u.name)
        };
        match getsubids(host, &u.name, group) {
            Probe::NotRun(why) => {
                f.observe(why);
                f.find(
                    Status::Skip,
                    format!("subordinate {what} come from {source} and were not verified"),
                );
            }
            Probe::Answer(Err(e)) => {
                f.observe(e.clone());
                let missing = e.contains("No such file") || e.contains("not found");
                f.find(
                    Status::Fail,
                    if missing {
                        format!("getsubids is not installed: the {what} {source} gives {} cannot be verified", u.name)
                    } else {
                        format!("{source} gives {} no subordinate {what}: {cmd} failed", u.name)
                    },
                );
                f.remedy(if missing {
                    "sudo apt-get install -y uidmap   # Debian/Ubuntu ship getsubids in it; Fedora/RHEL: sudo dnf install -y shadow-utils-subid".to_string()
                } else {
                    format!("give {} a range of 65536 {what} in {source}'s directory (FreeIPA: ipa subid-generate --owner {})", u.name, u.name)
                });
            }
            Probe::Answer(Ok(out)) => match parse(&out) {
                Err(text) => {
                    f.observe(format!("{cmd}: {text}"));
                    f.find(
                        Status::Fail,
                        format!("{source} gives {} no subordinate {what}", u.name),
                    );
                    f.remedy(format!("give {} a range of 65536 {what} in {source}'s directory (FreeIPA: ipa subid-generate --owner {})", u.name, u.name));
                }
                Ok(ranges) => {
                    for r in &ranges {
                        f.observe(format!("{cmd}: {}", r.text));
                        let names = accounts_inside(
                            &mut f,
                            host,
                            &known_accounts(host, group),
                            (r.start, r.count),
                            group,
                            &format!("{cmd}: {}", r.text),
                        );
                        if !names.is_empty() {
                            f.remedy(format!("give {} a range in {source}'s directory that covers no account ({}), then remove this one", u.name, names.join(", ")));
                        }
                    }
                    let total: u64 = ranges.iter().map(|r| r.count).sum();
                    if total < NEEDED_IDS {
                        f.find(
                            Status::Fail,
                            format!(
                                "{} has {total} subordinate {what} from {source}, fewer than {NEEDED_IDS}",
                                u.name
                            ),
                        );
                        f.remedy(format!("give {} a range of 65536 {what} in {source}'s directory (FreeIPA: ipa subid-generate --owner {})", u.name, u.name));
                    }
                }
            },
        }
    }
    f.finish(format!(
        "{} has at least {NEEDED_IDS} subordinate uids and gids from {source} (getsubids)",
        u.name
    ))
}

/// Warns about every account of `accounts` (uids, or with `group` gids:
/// see host::users::known_accounts) whose id lies in the range `[start, start + count)` quoted as
/// `range`: inside a container that id is the account's on the host, so
/// files of the container are that account's (and a setuid file its
/// power). The names found, for the remedy.
fn accounts_inside(
    f: &mut Findings,
    host: &crate::host::Host,
    accounts: &[(String, u64)],
    (start, count): (u64, u64),
    group: bool,
    range: &str,
) -> Vec<String> {
    let u = host.user();
    let (db, what) = if group {
        ("/etc/group", "gid")
    } else {
        ("/etc/passwd", "uid")
    };
    let mut names = Vec::new();
    for (name, id) in accounts_in(accounts, start, start.saturating_add(count)) {
        // Not `/etc/passwd: ...`: redaction takes `passwd:` for a key.
        f.observe(format!("{name} has {what} {id} in {db}, inside {range}"));
        f.find(
            Status::Warn,
            format!(
                "{}'s subordinate range covers {name}'s {what} {id}: id {} in their containers is {name} on the host",
                u.name,
                id - start
            ),
        );
        names.push(format!("{name} ({what} {id})"));
    }
    names
}

pub(crate) const SUBIDS: Check = Check {
    id: "uidmap.subids",
    phase: Phase::Preflight,
    severity: Severity::Required,
    title: "the user owns 65536 subordinate uids and gids",
    fixed_by: Some("subids"),
    run: subids,
    explain: "\
Verifies that /etc/subuid and /etc/subgid give the user (by name or by uid) at least 65536 ids each, that no range of theirs overlaps another user's (a warning), and that no range of theirs covers the uid of an account in /etc/passwd (subuid) or the gid of a group in /etc/group (subgid): that covering is a warning naming the account. When /etc/nsswitch.conf has a `subid:` line naming another source (sssd for FreeIPA), shadow's libsubid, and with it newuidmap/newgidmap, asks that source instead of the files: the check then runs `getsubids USER` and `getsubids -g USER` (a live probe; on a tree the fixture's answer) and judges their ranges.

Why: containers in rootless k3s run with ids from these ranges; images expect the full 0-65535 range. Without them RootlessKit fails with \"failed to setup UID/GID map\"; overlapping ranges between two users do not stop k3s (newuidmap maps them; neither rootlesskit, k3s-io/k3s:pkg/rootless/rootless.go, nor shadow's newuidmap refuses them), so they warn: the host ids both ranges cover belong to both users' containers at once, so a process of one user's container can own, read and write the other's container files and signal its processes, a risk between those users that krc reports rather than a k3s failure. A range over a real account's id (useradd does not avoid system or directory accounts with high ids) makes that id, inside the user's containers, the account itself on the host: its files, its processes' signals, a setuid file owned by it.

Fix: with NSS, give the user 65536 ids in the directory (FreeIPA: `ipa subid-generate --owner USER`); getsubids comes with uidmap (Debian/Ubuntu) or shadow-utils-subid (Fedora/RHEL). Otherwise `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER` with a range nobody else has (useradd assigns one to new users). `krc install` adds a free range in its subids step.",
};

pub(super) fn subids(ctx: &Ctx<'_>) -> Result<Verdict, FactError> {
    let host = ctx.host;
    let u = host.user();
    if let Some((source, line)) = crate::host::subids::nss_source(host)? {
        return Ok(subids_from_nss(ctx, &source, &line));
    }
    let mut f = Findings::default();
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let Some(text) = host.read_opt(file)? else {
            f.observe(format!("{file}: does not exist"));
            f.find(Status::Fail, format!("{file} does not exist"));
            f.remedy(format!(
                "sudo usermod {flag} 100000-165535 {}   # pick a range no other user has",
                u.name
            ));
            continue;
        };
        let ranges = parse_subids(&text, file)?;
        let mine: Vec<_> = ranges.iter().filter(|r| r.belongs_to(u)).collect();
        for r in &mine {
            f.observe(at(file, r.line, &r.text));
        }
        let total: u64 = mine.iter().map(|r| r.count).sum();
        if mine.is_empty() {
            f.observe(format!("{file}: no line for {} or {}", u.name, u.uid));
            f.find(
                Status::Fail,
                format!("{} has no subordinate ids in {file}", u.name),
            );
        } else if total < NEEDED_IDS {
            f.find(
                Status::Fail,
                format!(
                    "{} has {total} subordinate ids in {file}, fewer than {NEEDED_IDS}",
                    u.name
                ),
            );
        }
        if mine.is_empty() || total < NEEDED_IDS {
            let start = ranges
                .iter()
                .map(|r| r.end())
                .max()
                .unwrap_or(100_000)
                .max(100_000);
            f.remedy(format!(
                "sudo usermod {flag} {start}-{} {}",
                start + NEEDED_IDS - 1,
                u.name
            ));
        }
        let group = flag == "--add-subgids";
        for r in &mine {
            let accounts = known_accounts(host, group);
            let names = accounts_inside(
                &mut f,
                host,
                &accounts,
                (r.start, r.count),
                group,
                &at(file, r.line, &r.text),
            );
            if names.is_empty() {
                continue;
            }
            let (del, add) = if group {
                ("--del-subgids", "--add-subgids")
            } else {
                ("--del-subuids", "--add-subuids")
            };
            let others: Vec<_> = ranges
                .iter()
                .filter(|o| o.line != r.line)
                .cloned()
                .collect();
            let last = r.end() - 1;
            // Clear of uids and gids both, as the subids step picks.
            let ids: Vec<u64> = known_accounts(host, !group)
                .iter()
                .chain(&accounts)
                .map(|(_, id)| *id)
                .collect();
            match free_subid_start(&others, &ids, r.count.max(NEEDED_IDS)) {
                Some(s) => f.remedy(format!(
                    "sudo usermod {del} {}-{last} {add} {s}-{} {}   # a range clear of {}; files the user's containers made keep the old ids",
                    r.start,
                    s + r.count.max(NEEDED_IDS) - 1,
                    u.name,
                    names.join(", ")
                )),
                None => f.remedy(format!(
                    "edit {file} line {} so that {}'s range covers no account of {}",
                    r.line,
                    u.name,
                    if group { "/etc/group" } else { "/etc/passwd" }
                )),
            }
        }
        for r in &mine {
            for other in ranges.iter().filter(|o| !o.belongs_to(u) && o.overlaps(r)) {
                f.observe(at(file, other.line, &other.text));
                // Advisory: newuidmap maps overlapping ranges and k3s runs
                // (nothing upstream refuses them); the harm is between the
                // two users, so it warns with the risk spelled out.
                f.find(
                    Status::Warn,
                    format!(
                        "{file}:{} overlaps {}'s range at line {} (a security risk, not a k3s failure: the shared host ids let one user's containers own the other's container files and signal their processes)",
                        r.line, other.owner, other.line
                    ),
                );
                f.remedy(format!("edit {file} so that no two users share ids (line {} and line {}), then re-create the user's containers", r.line, other.line));
            }
        }
    }
    Ok(f.finish(format!(
        "{} has at least {NEEDED_IDS} subordinate uids and gids of their own",
        u.name
    )))
}
