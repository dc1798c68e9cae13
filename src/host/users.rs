//! Users, groups and subordinate ids, from the host's `/etc` files.

use super::{FactError, RootedFs};

/// The unprivileged user rootless k3s will run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetUser {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) home: String,
    /// Primary and supplementary group ids.
    pub(crate) groups: Vec<u32>,
}

impl TargetUser {
    pub(crate) fn runtime_dir(&self) -> String {
        format!("/run/user/{}", self.uid)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// The host's `/etc/passwd` and `/etc/group`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserDb {
    passwd: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
}

impl UserDb {
    pub(crate) fn load(fs: &RootedFs) -> Result<UserDb, FactError> {
        let passwd = parse_passwd(&fs.read("/etc/passwd")?);
        let groups = match fs.read("/etc/group") {
            Ok(text) => parse_group(&text),
            Err(FactError::Missing { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(UserDb { passwd, groups })
    }

    /// Resolves a user by name or numeric uid.
    pub(crate) fn resolve(&self, who: &str) -> Option<TargetUser> {
        let entry = self.passwd.iter().find(|p| p.name == who).or_else(|| {
            who.parse::<u32>()
                .ok()
                .and_then(|uid| self.passwd.iter().find(|p| p.uid == uid))
        })?;
        let mut groups = vec![entry.gid];
        for g in &self.groups {
            if g.members.iter().any(|m| m == &entry.name) && !groups.contains(&g.gid) {
                groups.push(g.gid);
            }
        }
        Some(TargetUser {
            name: entry.name.clone(),
            uid: entry.uid,
            gid: entry.gid,
            home: entry.home.clone(),
            groups,
        })
    }

    pub(crate) fn name_of(&self, uid: u32) -> Option<&str> {
        self.passwd
            .iter()
            .find(|p| p.uid == uid)
            .map(|p| p.name.as_str())
    }

    /// Every account of `/etc/passwd` as (name, uid), or with `groups`
    /// every group of `/etc/group` as (name, gid).
    pub(crate) fn accounts(&self, groups: bool) -> Vec<(String, u64)> {
        if groups {
            self.groups
                .iter()
                .map(|g| (g.name.clone(), u64::from(g.gid)))
                .collect()
        } else {
            self.passwd
                .iter()
                .map(|p| (p.name.clone(), u64::from(p.uid)))
                .collect()
        }
    }

    pub(crate) fn group_name_of(&self, gid: u32) -> Option<&str> {
        self.groups
            .iter()
            .find(|g| g.gid == gid)
            .map(|g| g.name.as_str())
    }
}

// Lines that do not have the expected fields are passed over: NSS does the
// same, and a user we cannot find is reported by name later.
pub(crate) fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

pub(crate) fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// Looks a user up through the C library (NSS) on the live host.
pub(crate) fn nss_lookup(who: &str) -> Option<TargetUser> {
    let user = match who.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??,
        Err(_) => nix::unistd::User::from_name(who).ok()??,
    };
    let cname = std::ffi::CString::new(user.name.clone()).ok()?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| vec![user.gid.as_raw()]);
    Some(TargetUser {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        home: user.dir.to_string_lossy().into_owned(),
        groups,
    })
}

/// One line of `/etc/subuid` or `/etc/subgid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubidRange {
    /// A user name or a numeric uid, as written.
    pub(crate) owner: String,
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) line: usize,
    pub(crate) text: String,
}

impl SubidRange {
    pub(crate) fn end(&self) -> u64 {
        self.start.saturating_add(self.count)
    }

    pub(crate) fn overlaps(&self, other: &SubidRange) -> bool {
        self.count > 0 && other.count > 0 && self.start < other.end() && other.start < self.end()
    }

    pub(crate) fn belongs_to(&self, user: &TargetUser) -> bool {
        self.owner == user.name || self.owner == user.uid.to_string()
    }
}

/// Every account a subordinate range must not cover: `/etc/passwd` (or
/// with `groups` `/etc/group`), and on a live host what NSS lists beyond
/// them (`getent passwd` / `getent group`: LDAP, or sssd with enumeration
/// on; within 5 s, nothing more when it fails). (name, id), by id.
pub(crate) fn known_accounts(host: &super::Host, groups: bool) -> Vec<(String, u64)> {
    let mut v = host.user_db().accounts(groups);
    if host.origin() == super::Origin::Live {
        let mut cmd = std::process::Command::new("getent");
        super::probes::clean_env(&mut cmd).arg(if groups { "group" } else { "passwd" });
        if let Ok(o) = super::probes::run_with_timeout(&mut cmd, std::time::Duration::from_secs(5))
            && o.status.success()
        {
            v.extend(o.stdout.lines().filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?.to_string();
                let id = f.nth(1)?.parse().ok()?;
                Some((name, id))
            }));
        }
    }
    v.sort_by_key(|(_, id)| *id);
    v.dedup();
    if let Some(rec) = host.recorder() {
        rec.accounts(groups, &v);
    }
    v
}

/// The accounts of `accounts` whose id is in `[start, end)`.
pub(crate) fn accounts_in(accounts: &[(String, u64)], start: u64, end: u64) -> Vec<(String, u64)> {
    accounts
        .iter()
        .filter(|(_, id)| (start..end).contains(id))
        .cloned()
        .collect()
}

/// Where subordinate ranges start (shadow's SUB_UID_MIN default).
pub(crate) const SUBID_MIN: u64 = 100_000;

/// The start of a free range of `count` subordinate ids: after every
/// range in use (`ranges`, of both files: krc gives the same range in
/// each) and past every account id in it (`accounts`: a uid or gid of
/// passwd or group), so that no container id is a real account on the
/// host. None when no such range fits below 2^32 - 1 (the invalid id).
pub(crate) fn free_subid_start(ranges: &[SubidRange], accounts: &[u64], count: u64) -> Option<u64> {
    let mut start = ranges.iter().map(SubidRange::end).fold(SUBID_MIN, u64::max);
    while let Some(id) = accounts
        .iter()
        .filter(|id| (start..start.saturating_add(count)).contains(*id))
        .max()
    {
        start = id + 1;
    }
    (start.checked_add(count)? < u64::from(u32::MAX)).then_some(start)
}

pub(crate) fn parse_subids(text: &str, path: &str) -> Result<Vec<SubidRange>, FactError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        let bad = |why: &str| {
            FactError::malformed(
                path,
                i + 1,
                format!("{why}: {raw:?} (expected NAME:START:COUNT)"),
            )
        };
        if f.len() != 3 || f[0].is_empty() {
            return Err(bad("wrong number of fields"));
        }
        let start = f[1]
            .parse::<u64>()
            .map_err(|_| bad("START is not a number"))?;
        let count = f[2]
            .parse::<u64>()
            .map_err(|_| bad("COUNT is not a number"))?;
        // Ids are 32-bit: a range past 2^32 is a typo (or garbage), and
        // summing or comparing such counts would judge nonsense.
        if start.saturating_add(count) > 1 << 32 {
            return Err(bad("the range ends beyond the 32-bit id space"));
        }
        out.push(SubidRange {
            owner: f[0].to_string(),
            start,
            count,
            line: i + 1,
            text: line.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subids_parse_and_overlap() {
        let r = parse_subids(
            "alice:100000:65536\n# c\n\nbob:165536:65536\n1002:150000:10\n",
            "/etc/subuid",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert!(!r[0].overlaps(&r[1]));
        assert!(r[0].overlaps(&r[2]));
        assert_eq!(r[2].line, 5);
    }

    #[test]
    fn subids_malformed_names_line() {
        let e = parse_subids("alice:100000:65536\nbob:x:1\n", "/etc/subuid").unwrap_err();
        assert!(e.to_string().starts_with("/etc/subuid:2: malformed"), "{e}");
        // Parses as u64, but no uid is that large; must not overflow either.
        for huge in [
            "a:18446744073709551615:18446744073709551615",
            "a:4294967295:4294967295",
        ] {
            let e = parse_subids(&format!("bob:1:1\n{huge}\n"), "/etc/subuid").unwrap_err();
            assert!(e.to_string().starts_with("/etc/subuid:2: malformed"), "{e}");
        }
        assert!(parse_subids("a:4294901760:65536\n", "/etc/subuid").is_ok());
        let r = SubidRange {
            owner: "x".into(),
            start: u64::MAX,
            count: 2,
            line: 1,
            text: String::new(),
        };
        assert_eq!(r.end(), u64::MAX);
    }

    #[test]
    fn a_free_range_covers_no_account_and_no_range() {
        let r = parse_subids("bob:100000:65536\n", "/etc/subuid").unwrap();
        assert_eq!(free_subid_start(&r, &[0, 1000], 65536), Some(165536));
        assert_eq!(free_subid_start(&r, &[165546], 65536), Some(165547));
        // Two accounts, the second inside the range after the first.
        assert_eq!(
            free_subid_start(&[], &[100000, 150000], 65536),
            Some(150001)
        );
        assert_eq!(free_subid_start(&[], &[], 65536), Some(100000));
        let full = parse_subids("a:100000:4294850000\n", "/etc/subuid").unwrap();
        assert_eq!(free_subid_start(&full, &[], 65536), None);
        let db = UserDb {
            passwd: parse_passwd("svc:x:165546:65534::/:/bin/false\n"),
            groups: parse_group("grp:x:200000:\n"),
        };
        let users = db.accounts(false);
        assert_eq!(
            accounts_in(&users, 165536, 231072),
            [("svc".to_string(), 165546)]
        );
        assert!(accounts_in(&users, 100000, 165546).is_empty());
        assert_eq!(db.accounts(true), [("grp".to_string(), 200000)]);
    }

    #[test]
    fn users_resolve_with_groups() {
        let db = UserDb {
            passwd: parse_passwd(
                "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n",
            ),
            groups: parse_group("alice:x:1000:\nkvm:x:108:alice,bob\n"),
        };
        let u = db.resolve("alice").unwrap();
        assert_eq!(
            (u.uid, u.home.as_str(), u.groups.clone()),
            (1000, "/home/alice", vec![1000, 108])
        );
        assert_eq!(db.resolve("1000").unwrap().name, "alice");
        assert!(db.resolve("carol").is_none());
    }
}
