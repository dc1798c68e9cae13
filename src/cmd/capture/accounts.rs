//! `/etc/passwd` and `/etc/group` as a capture keeps them: only the
//! accounts krc looks at, each line without its password or GECOS field.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::host::TargetUser;
use crate::host::record::{Read, Record, Stat};
use crate::host::subids;
use crate::host::users::{accounts_in, parse_subids};

/// `/etc/passwd` and `/etc/group` cut down to the accounts krc looks
/// at: root, the user (and their groups), the owners of the files it
/// stat'ed, and every account inside the user's subordinate ranges
/// (NSS ones too: a tree has only its files). No password field, no
/// GECOS: a line is `name:x:uid:gid::home:shell`. None for a file the
/// run never read.
pub(crate) fn cut_down(rec: &Record, user: &TargetUser) -> (Option<String>, Option<String>) {
    let text = |p: &str| match rec.reads.get(p) {
        Some(Read::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let ranges = |file: &str, key: &str| -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = parse_subids(&text(file), file)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.belongs_to(user))
            .map(|r| (r.start, r.end()))
            .collect();
        if let Some(out) = rec.probes.getsubids.get(key) {
            v.extend(
                subids::parse(out)
                    .unwrap_or_default()
                    .iter()
                    .map(|r| (r.start, r.start.saturating_add(r.count))),
            );
        }
        v
    };
    let stat_ids = |gid: bool| -> BTreeSet<u64> {
        rec.stats
            .values()
            .filter_map(|s| match s {
                Stat::Found(st) => Some(u64::from(if gid { st.gid } else { st.uid })),
                _ => None,
            })
            .collect()
    };
    let inside = |accounts: &[(String, u64)], rs: &[(u64, u64)]| -> BTreeSet<u64> {
        rs.iter()
            .flat_map(|(s, e)| accounts_in(accounts, *s, *e))
            .map(|(_, id)| id)
            .collect()
    };
    // passwd
    let mut uids = stat_ids(false);
    uids.extend([0, u64::from(user.uid)]);
    uids.extend(inside(&rec.accounts, &ranges("/etc/subuid", "uid")));
    let mut lines = String::new();
    let mut seen = BTreeSet::new();
    for l in text("/etc/passwd").lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let Ok(id) = f[2].parse::<u64>() else {
            continue;
        };
        if uids.contains(&id) && seen.insert(f[0].to_string()) {
            let _ = writeln!(lines, "{}:x:{}:{}::{}:{}", f[0], f[2], f[3], f[5], f[6]);
        }
    }
    if seen.insert(user.name.clone()) {
        let _ = writeln!(
            lines,
            "{}:x:{}:{}::{}:/bin/sh",
            user.name, user.uid, user.gid, user.home
        );
    }
    for (name, id) in &rec.accounts {
        if uids.contains(id) && seen.insert(name.clone()) {
            let _ = writeln!(lines, "{name}:x:{id}:{id}::/nonexistent:/usr/sbin/nologin");
        }
    }
    let passwd = rec.reads.contains_key("/etc/passwd").then_some(lines);
    // group
    let mine: BTreeSet<u64> = user.groups.iter().map(|g| u64::from(*g)).collect();
    let mut gids = stat_ids(true);
    gids.extend([0, u64::from(user.gid)]);
    gids.extend(mine.iter().copied());
    gids.extend(inside(&rec.groups, &ranges("/etc/subgid", "gid")));
    let mut lines = String::new();
    let mut seen = BTreeSet::new();
    let member = |gid: u64| {
        if mine.contains(&gid) {
            user.name.as_str()
        } else {
            ""
        }
    };
    for l in text("/etc/group").lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let Ok(id) = f[2].parse::<u64>() else {
            continue;
        };
        if gids.contains(&id) && seen.insert(id) {
            let _ = writeln!(lines, "{}:x:{id}:{}", f[0], member(id));
        }
    }
    for (name, id) in &rec.groups {
        if gids.contains(id) && seen.insert(*id) {
            let _ = writeln!(lines, "{name}:x:{id}:{}", member(*id));
        }
    }
    for id in &mine {
        if seen.insert(*id) {
            let _ = writeln!(lines, "gid{id}:x:{id}:{}", user.name);
        }
    }
    let group = (rec.reads.contains_key("/etc/group") || !mine.is_empty()).then_some(lines);
    (passwd, group)
}
