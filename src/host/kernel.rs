//! Kernel features: which modules are loaded (`/proc/modules`), built in
//! (`/lib/modules/RELEASE/modules.builtin`), installed as loadable modules
//! (`/lib/modules/RELEASE/modules.dep`), and what the kernel was built with
//! (`/proc/config.gz`, else `/boot/config-RELEASE`).
//!
//! Parsers are pure functions of text; [`KernelFacts::load`] reads the
//! files through the host's root like every other fact.

use std::collections::{BTreeMap, BTreeSet};

use super::{FactError, Host};

pub(crate) const OSRELEASE: &str = "/proc/sys/kernel/osrelease";
pub(crate) const PROC_MODULES: &str = "/proc/modules";
pub(crate) const PROC_CONFIG: &str = "/proc/config.gz";

/// A module name as the kernel shows it in `/proc/modules`: dashes are
/// underscores (`nft-chain-nat` and `nft_chain_nat` are one module).
pub(crate) fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// `/proc/modules`: `NAME SIZE REFS DEPS STATE ADDR` per line.
pub(crate) fn parse_proc_modules(text: &str, path: &str) -> Result<BTreeSet<String>, FactError> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 || fields[1].parse::<u64>().is_err() {
            return Err(FactError::malformed(
                path,
                i + 1,
                format!("{line:?} is not NAME SIZE REFS ..."),
            ));
        }
        out.insert(module_name(fields[0]));
    }
    Ok(out)
}

/// The module name of a path in `modules.builtin` or `modules.dep`:
/// `kernel/net/ipv4/netfilter/ip_tables.ko.zst` → `ip_tables`.
fn name_of_ko(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file.split(".ko").next()?;
    (file.contains(".ko") && !stem.is_empty()).then(|| module_name(stem))
}

/// `modules.builtin` (one path per line) or `modules.dep` (`PATH: DEPS`).
pub(crate) fn parse_module_list(text: &str, path: &str) -> Result<BTreeSet<String>, FactError> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let first = line.split(':').next().unwrap_or("").trim();
        if first.is_empty() {
            continue;
        }
        let name = name_of_ko(first).ok_or_else(|| {
            FactError::malformed(path, i + 1, format!("{first:?} is not a module path (.ko)"))
        })?;
        out.insert(name);
    }
    Ok(out)
}

/// A kernel config value with where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigValue {
    /// `y`, `m`, `n` (from `# CONFIG_X is not set`) or a string/number.
    pub(crate) value: String,
    pub(crate) line: usize,
}

/// A kernel `.config`: `CONFIG_X=y|m|...` and `# CONFIG_X is not set`,
/// by symbol without the `CONFIG_` prefix, for the symbols in `wanted`
/// only (a later line wins, as in Kconfig). Every line is still checked:
/// a malformed line anywhere makes the file malformed.
///
/// Why only `wanted`: a distribution config has ~4000 symbols and a check
/// asks about a dozen; a map of them all cost more than the rest of
/// `kernel.modules` put together.
pub(crate) fn parse_kconfig(
    text: &str,
    path: &str,
    wanted: &[&str],
) -> Result<BTreeMap<String, ConfigValue>, FactError> {
    let mut out = BTreeMap::new();
    let mut keep = |sym: &str, value: &str, line: usize| {
        if wanted.contains(&sym) {
            let value = value.to_string();
            out.insert(sym.to_string(), ConfigValue { value, line });
        }
    };
    let mut any = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# CONFIG_")
            && let Some(sym) = rest.strip_suffix(" is not set")
        {
            any = true;
            keep(sym, "n", i + 1);
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((sym, value)) = line.strip_prefix("CONFIG_").and_then(|l| l.split_once('='))
        else {
            return Err(FactError::malformed(
                path,
                i + 1,
                format!("{line:?} is not CONFIG_NAME=VALUE"),
            ));
        };
        any = true;
        keep(sym, value, i + 1);
    }
    if !any {
        return Err(FactError::malformed(
            path,
            1,
            "no CONFIG_ line: not a kernel config",
        ));
    }
    Ok(out)
}

/// What krc could read about the running kernel's features.
#[derive(Debug, Clone, Default)]
pub(crate) struct KernelFacts {
    pub(crate) release: String,
    /// Loaded modules; None when `/proc/modules` does not exist (a kernel
    /// without module support, or a tree that does not model it).
    pub(crate) loaded: Option<BTreeSet<String>>,
    /// Built-in modules and the file they came from.
    pub(crate) builtin: Option<(String, BTreeSet<String>)>,
    /// Installed loadable modules and the file they came from.
    pub(crate) installed: Option<(String, BTreeSet<String>)>,
    /// The kernel's build configuration (the symbols asked for) and the
    /// file it came from.
    pub(crate) config: Option<(String, BTreeMap<String, ConfigValue>)>,
}

/// Decompresses `/proc/config.gz`; a file that is not gzip is malformed.
pub(crate) fn gunzip(bytes: &[u8], path: &str) -> Result<String, FactError> {
    use std::io::Read;
    const LIMIT: usize = 16 << 20;
    // gzip's trailer holds the text's length (mod 4 GiB): one allocation
    // of the right size instead of a doubling buffer copied at each step.
    let size = bytes
        .last_chunk::<4>()
        .map_or(0, |n| u32::from_le_bytes(*n) as usize);
    let mut text = String::with_capacity(size.min(LIMIT));
    // The real file is ~25 KiB compressed, ~100 KiB of text: refuse a bomb.
    flate2::read::GzDecoder::new(bytes)
        .take(LIMIT as u64)
        .read_to_string(&mut text)
        .map_err(|e| FactError::malformed(path, 1, format!("not gzip-compressed text: {e}")))?;
    Ok(text)
}

impl KernelFacts {
    /// Reads the kernel's facts; of its config, only the symbols in
    /// `config_symbols` (without `CONFIG_`).
    pub(crate) fn load(host: &Host, config_symbols: &[&str]) -> Result<KernelFacts, FactError> {
        let release = host.read(OSRELEASE)?.trim().to_string();
        let release_chars = |c: char| c.is_ascii_alphanumeric() || "._+-~".contains(c);
        if release.is_empty() || release.starts_with('.') || !release.chars().all(release_chars) {
            return Err(FactError::malformed(
                OSRELEASE,
                1,
                format!("{release:?} is not a kernel release"),
            ));
        }
        let loaded = host
            .read_opt(PROC_MODULES)?
            .map(|t| parse_proc_modules(&t, PROC_MODULES))
            .transpose()?;
        let list = |name: &str| -> Result<Option<(String, BTreeSet<String>)>, FactError> {
            // usrmerge hosts have /lib -> usr/lib; a tree may hold either.
            for dir in ["/lib/modules", "/usr/lib/modules"] {
                let path = format!("{dir}/{release}/{name}");
                if let Some(text) = host.read_opt(&path)? {
                    return Ok(Some((path.clone(), parse_module_list(&text, &path)?)));
                }
            }
            Ok(None)
        };
        let builtin = list("modules.builtin")?;
        let installed = list("modules.dep")?;
        let config = match host.read_bytes_opt(PROC_CONFIG)? {
            Some(bytes) => {
                let text = gunzip(&bytes, PROC_CONFIG)?;
                Some((
                    PROC_CONFIG.to_string(),
                    parse_kconfig(&text, PROC_CONFIG, config_symbols)?,
                ))
            }
            None => {
                let path = format!("/boot/config-{release}");
                match host.read_opt(&path)? {
                    Some(text) => {
                        Some((path.clone(), parse_kconfig(&text, &path, config_symbols)?))
                    }
                    None => None,
                }
            }
        };
        Ok(KernelFacts {
            release,
            loaded,
            builtin,
            installed,
            config,
        })
    }

    /// Nothing at all to judge by.
    pub(crate) fn is_blind(&self) -> bool {
        self.loaded.is_none()
            && self.builtin.is_none()
            && self.installed.is_none()
            && self.config.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modules_lists_and_config() {
        let m = parse_proc_modules(
            "nft_chain_nat 12288 1 - Live 0x0000000000000000\nip_tables 32768 0 - Live 0x0\n",
            PROC_MODULES,
        )
        .unwrap();
        assert!(m.contains("nft_chain_nat") && m.contains("ip_tables"));
        assert!(parse_proc_modules("garbage\n", PROC_MODULES).is_err());
        let b = parse_module_list(
            "kernel/fs/fuse/fuse.ko\nkernel/net/bridge/br-netfilter.ko\n",
            "modules.builtin",
        )
        .unwrap();
        assert!(b.contains("fuse") && b.contains("br_netfilter"));
        let d = parse_module_list(
            "kernel/net/ipv4/netfilter/iptable_nat.ko.zst: kernel/net/netfilter/nf_nat.ko.zst\n",
            "modules.dep",
        )
        .unwrap();
        assert_eq!(d.into_iter().collect::<Vec<_>>(), ["iptable_nat"]);
        assert!(parse_module_list("not a module\n", "modules.dep").is_err());
        let c = parse_kconfig(
            "#\n# Automatically generated\nCONFIG_VXLAN=m\n# CONFIG_MODULES is not set\nCONFIG_LOCALVERSION=\"\"\n",
            "/boot/config-6.1.0",
            &["VXLAN", "MODULES", "TUN"],
        )
        .unwrap();
        assert_eq!(c["VXLAN"].value, "m");
        assert_eq!((c["MODULES"].value.as_str(), c["MODULES"].line), ("n", 4));
        // Only what was asked for; an absent symbol stays absent.
        assert_eq!(c.len(), 2);
        assert!(parse_kconfig("VXLAN=y\n", "x", &["VXLAN"]).is_err());
    }

    #[test]
    fn kconfig_checks_every_line_whatever_is_wanted() {
        let text = "CONFIG_TUN=m\nCONFIG_A=y\nnot a config line\n";
        match parse_kconfig(text, "c", &["TUN"]) {
            Err(FactError::Malformed { line: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
        // A config with none of the wanted symbols is still a config.
        assert!(
            parse_kconfig("CONFIG_A=y\n", "c", &["TUN"])
                .unwrap()
                .is_empty()
        );
        assert!(parse_kconfig("# comment\n\n", "c", &["TUN"]).is_err());
        // A later line wins, as when Kconfig reads the file.
        let c = parse_kconfig("CONFIG_TUN=m\n# CONFIG_TUN is not set\n", "c", &["TUN"]).unwrap();
        assert_eq!((c["TUN"].value.as_str(), c["TUN"].line), ("n", 2));
    }

    #[test]
    fn gunzip_refuses_what_is_not_gzip() {
        assert!(gunzip(b"CONFIG_X=y\n", PROC_CONFIG).is_err());
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"CONFIG_X=y\n").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, PROC_CONFIG).unwrap(), "CONFIG_X=y\n");
    }
}
