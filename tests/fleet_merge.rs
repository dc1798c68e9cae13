//! `krc report merge` on real reports: each host's JSON comes from
//! `krc preflight --root fixtures/hosts/NAME --json`, the real binary
//! merges them, and the fleet's JUnit (both schemas, unique testcases),
//! JSON, HTML (rendered in headless Chromium), terminal lines and exit
//! statuses are checked. Malformed and hostile reports are refused or
//! escaped without showing what they hold.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{have, krc, repo, validate_junit};

/// `krc preflight` of a fixture host, its JSON report written to `dir`.
fn report_of(fixture: &str, dir: &Path) -> PathBuf {
    let json = dir.join(format!("{fixture}.json"));
    let out = krc()
        .args(["preflight", "-q", "--root"])
        .arg(repo().join("fixtures/hosts").join(fixture))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 5)),
        "preflight of {fixture}: {out:?}"
    );
    json
}

fn merge(files: &[&Path], extra: &[&Path]) -> Output {
    let mut c = krc();
    c.args(["report", "merge"]).args(files);
    for (flag, p) in ["--junit", "--json", "--html"].iter().zip(extra) {
        c.arg(flag).arg(p);
    }
    c.output().unwrap()
}

fn json_of(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Rewrites a report's JSON in place.
fn edit(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut doc = json_of(path);
    f(&mut doc);
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// Every testsuite's name and every testcase's (classname, name).
fn junit_names(xml: &str) -> (Vec<String>, Vec<(String, String)>) {
    let attr = |tag: &str, key: &str| -> String {
        let pat = format!(" {key}=\"");
        let start = tag.find(&pat).map(|i| i + pat.len()).unwrap();
        tag[start..].split('"').next().unwrap().to_string()
    };
    let suites = xml
        .split("<testsuite ")
        .skip(1)
        .map(|r| attr(&format!(" {}", r.split('>').next().unwrap()), "name"))
        .collect();
    let cases = xml
        .split("<testcase ")
        .skip(1)
        .map(|r| {
            let tag = format!(" {}", r.split('>').next().unwrap());
            (attr(&tag, "classname"), attr(&tag, "name"))
        })
        .collect();
    (suites, cases)
}

fn validate(junit: &Path) {
    if !have("xmllint") {
        lab_skip!("xmllint is not installed (Debian: libxml2-utils)");
    }
    validate_junit(junit).unwrap_or_else(|e| panic!("{}: {e}", junit.display()));
}

/// Four real hosts, three of them named `bookworm`: one failed (IP
/// forwarding off), one failed (AppArmor), two qualified.
#[test]
fn real_reports_merge_into_one_valid_fleet_report() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = [
        "ready-v2",
        "ip-forward-off",
        "ubuntu2404-apparmor",
        "docker-host",
    ];
    let files: Vec<PathBuf> = hosts.iter().map(|h| report_of(h, dir.path())).collect();

    // The host reports carry the fleet's meta, from the fixture's files.
    let meta = &json_of(&files[2])["meta"];
    assert_eq!(meta["distribution"]["id"], "ubuntu", "{meta}");
    assert_eq!(meta["distribution"]["version_id"], "24.04", "{meta}");
    assert_eq!(meta["settings"]["cidr"], "10.41.0.0/16", "{meta}");
    assert_eq!(meta["settings"]["port_driver"], "slirp4netns", "{meta}");
    assert!(meta["krc_commit"].as_str().is_some_and(|c| !c.is_empty()));
    let id = meta["host_id"].as_str().unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(
        json_of(&files[3])["meta"]["host_id"].is_null(),
        "no machine-id, no id"
    );

    let (junit, json, html) = (
        dir.path().join("fleet.xml"),
        dir.path().join("fleet.json"),
        dir.path().join("fleet.html"),
    );
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = merge(&refs, &[&junit, &json, &html]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // The terminal: one line per failed host, then the total.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("FAILED") && lines[0].contains("sysctl.ip-forward"));
    assert!(lines[1].starts_with("FAILED") && lines[1].contains("noble (ubuntu 24.04)"));
    assert!(
        lines[2].contains("4 hosts: 2 qualified, 2 failed") && lines[2].contains("exit status 1"),
        "{stdout}"
    );

    // JUnit: a testsuite per HOST/PHASE, every testcase unique and
    // prefixed with its host; both schemas accept it.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let (suites, cases) = junit_names(&xml);
    assert_eq!(suites.len(), 4, "{suites:?}");
    assert!(
        suites.iter().all(|s| s.ends_with("/preflight")),
        "{suites:?}"
    );
    assert_eq!(suites.iter().collect::<HashSet<_>>().len(), 4, "{suites:?}");
    assert!(suites.contains(&"noble/preflight".to_string()));
    let bookworms = suites.iter().filter(|s| s.starts_with("bookworm")).count();
    assert_eq!(bookworms, 3, "three hosts share the hostname: {suites:?}");
    assert_eq!(cases.iter().collect::<HashSet<_>>().len(), cases.len());
    let per_host = cases.len() / 4;
    assert!(per_host >= 20, "{}", cases.len());
    for (classname, name) in &cases {
        let group = name.split('.').next().unwrap();
        assert!(
            suites.iter().any(|s| {
                let host = s.trim_end_matches("/preflight");
                classname == &format!("{host}.krc.preflight.{group}")
            }),
            "{classname} {name}"
        );
    }
    validate(&junit);

    // JSON: the fleet document, failures first, each host's meta kept.
    let doc = json_of(&json);
    assert_eq!(doc["schema"], "krc.fleet/v1");
    assert_eq!(doc["verdict"], "failed");
    assert_eq!(doc["exit_status"], 1);
    assert_eq!(doc["counts"]["failed"], 2);
    let verdicts: Vec<&str> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["failed", "failed", "passed", "passed"]);
    let noble = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["label"] == "noble")
        .unwrap();
    assert_eq!(noble["failed"][0], "userns.apparmor");
    assert_eq!(noble["meta"]["distribution"]["id"], "ubuntu");

    // HTML: the verdict first, then the matrix, the failed hosts on top,
    // each cell linking to a finding that exists.
    let page = std::fs::read_to_string(&html).unwrap();
    let verdict = page.find("id=\"verdict\"").unwrap();
    let matrix = page.find("id=\"matrix\"").unwrap();
    assert!(verdict < matrix);
    assert!(page[verdict..matrix].contains("FAILED</strong>: 2 of 4 hosts"));
    let rows = &page[matrix..page.find("</tbody>").unwrap()];
    let first_ok = rows.find("data-v=\"passed\"").unwrap();
    assert!(rows.rfind("data-v=\"failed\"").unwrap() < first_ok);
    for link in rows.split("href=\"#").skip(1) {
        let target = link.split('"').next().unwrap();
        assert!(page.contains(&format!("id=\"{target}\"")), "#{target}");
    }
    // The raw machine id is in no output, only its hash.
    let raw =
        std::fs::read_to_string(repo().join("fixtures/hosts/ready-v2/etc/machine-id")).unwrap();
    for out in [&xml, &page, &std::fs::read_to_string(&json).unwrap()] {
        assert!(!out.contains(raw.trim()));
    }
}

/// 0 when every host qualified, 5 when one could not be judged (by the
/// report's `verdict`, or an older report's `unjudged` checks), 1 when one
/// failed, whatever else the fleet holds.
#[test]
fn the_exit_status_is_the_worst_host() {
    let dir = tempfile::tempdir().unwrap();
    let ok = report_of("ready-v2", dir.path());
    let ok2 = report_of("docker-host", dir.path());
    let failed = report_of("ip-forward-off", dir.path());
    let said = dir.path().join("said-inconclusive.json");
    std::fs::copy(report_of("no-probes", dir.path()), &said).unwrap();
    edit(&said, |d| {
        d["verdict"] = "inconclusive".into();
        d["exit_status"] = 5.into();
    });
    let older = dir.path().join("older-unjudged.json");
    std::fs::copy(&ok2, &older).unwrap();
    edit(&older, |d| {
        // A report of a krc before `verdict`: only `passed` and statuses.
        let top = d.as_object_mut().unwrap();
        top.remove("verdict");
        top.remove("exit_status");
        let c = &mut d["phases"][0]["checks"][0];
        c["status"] = "skip".into();
        c["unjudged"] = true.into();
    });
    let reboot = dir.path().join("reboot.json");
    std::fs::copy(&ok, &reboot).unwrap();
    edit(&reboot, |d| d["verdict"] = "reboot-required".into());

    let status = |files: &[&Path]| merge(files, &[]).status.code();
    assert_eq!(status(&[&ok, &ok2]), Some(0));
    assert_eq!(status(&[&ok, &said]), Some(5));
    assert_eq!(status(&[&older, &ok]), Some(5));
    assert_eq!(status(&[&reboot]), Some(5));
    assert_eq!(status(&[&ok, &said, &failed, &older]), Some(1));
    let out = merge(&[&said, &older, &ok], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("INCONCLUSIVE"), "{text}");
    assert!(text.contains("not judged: session.systemd"), "{text}");
    assert!(
        text.contains("1 qualified, 0 failed, 2 not judged"),
        "{text}"
    );
}

/// The same report twice (one host merged twice, or two hosts cloned from
/// one image): two testsuites, still unique.
#[test]
fn one_hostname_twice_is_still_two_testsuites() {
    let dir = tempfile::tempdir().unwrap();
    let a = report_of("ready-v2", dir.path());
    let b = dir.path().join("copy.json");
    std::fs::copy(&a, &b).unwrap();
    let junit = dir.path().join("f.xml");
    let out = merge(&[&a, &b], &[&junit]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (suites, cases) = junit_names(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(suites.len(), 2);
    assert_ne!(suites[0], suites[1], "{suites:?}");
    assert_eq!(cases.iter().collect::<HashSet<_>>().len(), cases.len());
    validate(&junit);
}

/// A report that is not one is refused in one line that names the file
/// and shows nothing of what it holds; a FIFO does not hang the merge.
#[test]
fn malformed_reports_are_refused_by_name_without_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let good = report_of("ready-v2", dir.path());
    let secret = "K10deadbeefSECRETtoken::server:cafe";
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut wrong_type = json_of(&good);
    wrong_type["phases"][0]["checks"][0]["status"] = secret.into();
    let mut wrong_field = json_of(&good);
    wrong_field["phases"] = secret.into();
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    let fifo = dir.path().join("fifo.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let cases = [
        write("truncated.json", &format!("{{\"schema\":\"{secret}")),
        write("array.json", &format!("[\"{secret}\"]")),
        write("status.json", &wrong_type.to_string()),
        write("phases.json", &wrong_field.to_string()),
        write(
            "schema.json",
            &std::fs::read_to_string(&good)
                .unwrap()
                .replace("krc.report/v1", secret),
        ),
        big,
        fifo,
        dir.path().to_path_buf(),
        dir.path().join("missing.json"),
    ];
    for bad in &cases {
        let start = Instant::now();
        let out = merge(&[&good, bad], &[]);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            bad.display()
        );
        assert_eq!(out.status.code(), Some(2), "{}: {out:?}", bad.display());
        let err = String::from_utf8(out.stderr.clone()).unwrap();
        let name = bad.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty(), "nothing merged: {out:?}");
    }
    // A fleet report is not a host report, and says so.
    let fleet = dir.path().join("fleet.json");
    merge(&[&good], &[Path::new("-"), &fleet]);
    let out = merge(&[&good, &fleet], &[]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("merged krc.fleet/v1"), "{err}");
    // An output over an input would lose it.
    let out = merge(&[&good], &[Path::new("-"), &good]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(json_of(&good)["schema"] == "krc.report/v1");
}

const HOSTILE_HOST: &str = "<script>alert(1)</script>\"'&\u{1b}[31mevil\u{202e}";
const HOSTILE_EVIDENCE: &str = "</pre><img src=x onerror=alert(2)>]]><!--";

/// Hostnames, ids and evidence with markup, ANSI escapes and a bidi
/// override: the page holds them as text, the JUnit stays valid, the
/// terminal shows the escape characters visibly.
#[test]
fn hostile_strings_are_escaped_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let r = report_of("ip-forward-off", dir.path());
    edit(&r, |d| {
        d["meta"]["hostname"] = HOSTILE_HOST.into();
        d["meta"]["distribution"]["id"] = "<b>deb</b>".into();
        for c in d["phases"][0]["checks"].as_array_mut().unwrap() {
            if c["status"] == "fail" {
                c["evidence"]
                    .as_array_mut()
                    .unwrap()
                    .push(HOSTILE_EVIDENCE.into());
                c["summary"] = format!("{HOSTILE_EVIDENCE}\" onmouseover=\"x").into();
            }
        }
    });
    let (junit, json, html) = (
        dir.path().join("f.xml"),
        dir.path().join("f.json"),
        dir.path().join("f.html"),
    );
    let out = merge(&[&r], &[&junit, &json, &html]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!out.stdout.contains(&0x1b), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("\\u{1b}[31mevil\\u{202e}"), "{stdout}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<script").count(), 1, "only the filter");
    for raw in [
        "<script>alert",
        "<img",
        "<b>deb",
        "\" onmouseover",
        "\u{1b}",
    ] {
        assert!(!page.contains(raw), "{raw:?} in the page");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;/pre&gt;&lt;img src=x onerror=alert(2)&gt;"));
    validate(&junit);
    assert_eq!(json_of(&json)["hosts"][0]["hostname"], HOSTILE_HOST);
}

/// Chromium, or None with the reason it cannot run.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| have(c))
}

/// Runs headless Chromium on `url` with `args`, killed after a minute.
fn headless(browser: &str, profile: &Path, args: &[&str], url: &str) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{browser} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// The pixels of an 8-bit RGB or RGBA PNG, as RGB triples (the PNG
/// filters undone), to look at what Chromium drew.
fn png_pixels(png: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut w, mut h, mut channels, mut idat) = (0u32, 0u32, 0usize, Vec::new());
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap());
                h = u32::from_be_bytes(data[4..8].try_into().unwrap());
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&idat[..]), &mut raw).unwrap();
    let stride = w as usize * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for row in raw.chunks(stride + 1).take(h as usize) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 } as i16;
            let b = prev[i] as i16;
            let c = if i >= channels { prev[i - channels] } else { 0 } as i16;
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[i] = line[i].wrapping_add(pred as u8);
        }
        for px in cur.chunks(channels) {
            pixels.push([px[0], px[1], px[2]]);
        }
        prev = cur;
    }
    (w, h, pixels)
}

/// The page of a three-host fleet, drawn by headless Chromium: the
/// screenshot is not blank and shows the failed verdict's red in its top
/// part; the DOM after the scripts ran holds the verdict before the rows,
/// failed hosts first, and the `#q=` filter hides the other rows (so the
/// script runs under the page's Content-Security-Policy).
#[test]
fn the_fleet_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        lab_skip!(
            "chromium is not installed (ci/provision/60-chromium.sh: apt-get install -y chromium)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = ["ready-v2", "ip-forward-off", "ubuntu2404-apparmor"]
        .iter()
        .map(|h| report_of(h, dir.path()))
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let html = dir.path().join("fleet.html");
    let out = merge(
        &refs,
        &[&dir.path().join("f.xml"), &dir.path().join("f.json"), &html],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("profile");

    let png = dir.path().join("shot.png");
    let out = headless(
        browser,
        &profile,
        &[&format!("--screenshot={}", png.display())],
        &url,
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot ({e}): {out:?}"));
    let (w, h, pixels) = png_pixels(&bytes);
    assert_eq!((w, h), (1280, 900));
    let white = pixels.iter().filter(|p| p.iter().all(|&c| c > 245)).count();
    assert!(
        white < pixels.len() * 98 / 100,
        "the screenshot is blank ({white} of {} pixels white)",
        pixels.len()
    );
    // The verdict's red (#b00020, anti-aliased) in the top fifth.
    let red = pixels[..(w * h / 5) as usize]
        .iter()
        .filter(|p| p[0] > 150 && p[1] < 60 && p[2] < 80)
        .count();
    assert!(red > 50, "no red verdict at the top ({red} red pixels)");

    let out = headless(
        browser,
        &profile,
        &["--dump-dom"],
        &format!("{url}#q=noble"),
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    let verdict = dom
        .find("FAILED</strong>: 2 of 3 hosts")
        .unwrap_or_else(|| panic!("{dom}"));
    let noble = dom.find("data-k=\"noble").unwrap();
    let bookworm_failed = dom.find("data-v=\"failed\" data-k=\"bookworm").unwrap();
    let passed = dom.find("data-v=\"passed\"").unwrap();
    assert!(verdict < bookworm_failed.min(noble));
    assert!(bookworm_failed.max(noble) < passed, "failed hosts first");
    // The start tag of the row around a position.
    let row = |at: usize| {
        let start = dom[..at].rfind("<tr").unwrap();
        &dom[start..start + dom[start..].find('>').unwrap()]
    };
    assert!(
        row(passed).contains("hidden"),
        "the filter hides other hosts"
    );
    assert!(!row(noble).contains("hidden"), "{}", row(noble));
    assert!(
        dom.contains("<span id=\"shown\">1</span>"),
        "the filter counts"
    );
}
