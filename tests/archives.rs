//! Archives and compressed files in directory scans: found by content, nested, bounded.

use std::fs;
use std::io::Write;

use crate::common::*;

fn key() -> String {
    live("Arc1Kq2Wm9Rb4Xv8Lp3Nc6Hd")
}

#[test]
fn keys_in_archives_are_found_at_archive_member_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("# settings\nkey={}\n", key());
    let jar = zip_of(&[
        ("META-INF/MANIFEST.MF", b"x"),
        ("config/app.properties", text.as_bytes()),
    ]);
    fs::write(dir.path().join("app.jar"), &jar).unwrap();
    // Named like text, but a zip: decided by content, not by the extension.
    fs::write(
        dir.path().join("report.txt"),
        zip_of(&[("word/doc.xml", text.as_bytes())]),
    )
    .unwrap();
    fs::write(
        dir.path().join("fixture.tgz"),
        gzip_of(&tar_of(&[("package/.env", text.as_bytes())])),
    )
    .unwrap();
    fs::write(dir.path().join("dump.sql.gz"), gzip_of(text.as_bytes())).unwrap();
    // zip → tar.gz → zip: three levels, the default depth.
    let inner = zip_of(&[("deep.cfg", text.as_bytes())]);
    let middle = gzip_of(&tar_of(&[("inner.zip", &inner)]));
    fs::write(
        dir.path().join("outer.zip"),
        zip_of(&[("lib/middle.tar.gz", &middle)]),
    )
    .unwrap();

    let (code, findings, stats, stderr) = scan_json(dir.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let found: Vec<(String, u64, String)> = places(&findings)
        .into_iter()
        .map(|(path, line, _, _, encoding)| (path, line, encoding))
        .collect();
    let archive = |p: &str| (p.to_string(), 2, "archive".to_string());
    assert_eq!(
        found,
        vec![
            archive("app.jar!config/app.properties"),
            archive("dump.sql.gz!dump.sql"),
            archive("fixture.tgz!package/.env"),
            archive("outer.zip!lib/middle.tar.gz!inner.zip!deep.cfg"),
            archive("report.txt!word/doc.xml"),
        ]
    );
    assert!(findings
        .iter()
        .all(|f| f["redacted"] != key() && f["fingerprint"] == findings[0]["fingerprint"]));
    assert_eq!(stats["archives"], 5, "{stats}");

    // Depth 2 leaves the innermost zip unopened, and says so.
    let (_, findings, _, stderr) = scan_json(dir.path(), &["--archive-depth", "2"]);
    assert!(!places(&findings).iter().any(|p| p.0.contains("deep.cfg")));
    assert!(
        stderr.contains("inner.zip") && stderr.contains("--archive-depth"),
        "{stderr}"
    );
    // Depth 0: no archive is opened, and the summary says so (a clean answer that did not look
    // inside them is not the same as one that did).
    let (code, findings, stats, _) = scan_json(dir.path(), &["--archive-depth", "0"]);
    assert_eq!((code, findings.len()), (0, 0));
    assert_eq!(stats["archives"], 0, "{stats}");
    assert_eq!(stats["archives_not_opened"], 5, "{stats}");
    let out = skguard()
        .current_dir(dir.path())
        .args(["scan", "--archive-depth", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("5 archives not opened (--archive-depth 0)"),
        "{stdout}"
    );
}

#[test]
fn a_stored_member_is_one_finding_not_two() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("key={}\n", key());
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    zip.start_file(
        "plain.txt",
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(text.as_bytes()).unwrap();
    zip.finish().unwrap();
    fs::write(dir.path().join("stored.zip"), out.into_inner()).unwrap();
    let (code, findings, _, _) = scan_json(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&findings)
            .into_iter()
            .map(|p| p.0)
            .collect::<Vec<_>>(),
        vec!["stored.zip!plain.txt"]
    );
}

#[test]
fn a_decompression_bomb_is_named_and_what_was_read_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("key={}\n", key()).into_bytes();
    // 4 MiB of zeros deflate to about 4 KiB: just beyond the 1,000:1 bound.
    text.resize(4 << 20, b'\0');
    fs::write(dir.path().join("bomb.gz"), gzip_of(&text)).unwrap();
    fs::write(
        dir.path().join("broken.zip"),
        b"PK\x03\x04 not really a zip",
    )
    .unwrap();
    let (code, findings, stats, stderr) = scan_json(dir.path(), &[]);
    // A bound is a deliberate skip: the exit status is the findings', not 2.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(places(&findings)[0].0, "bomb.gz!bomb");
    assert!(
        stderr.contains("bomb.gz") && stderr.contains("decompression bomb"),
        "{stderr}"
    );
    assert!(stderr.contains("broken.zip"), "{stderr}");
    assert_eq!(stats["archive_bounds"], 2, "{stats}");
    let human = scan_output(dir.path(), &[]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("2 archive parts not read whole"),
        "{}",
        text_of(&human)
    );
}

fn text_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn archives_in_history_staged_and_ranges_are_new_only_where_a_member_gains_the_key() {
    let repo = Repo::new();
    repo.write("README", "x\n");
    let base = repo.commit_all("base");
    let text = format!("key={}\n", key());
    repo.write(
        "dist/app.jar",
        zip_of(&[("config/app.properties", text.as_bytes())]),
    );
    let added = repo.commit_all("add the jar");
    // The same member keeps the key while another member is added: nothing new.
    repo.write(
        "dist/app.jar",
        zip_of(&[
            ("config/app.properties", text.as_bytes()),
            ("README.txt", b"docs"),
        ]),
    );
    repo.commit_all("add a member");
    // The key moves to another member of the same archive: new there.
    repo.write(
        "dist/app.jar",
        zip_of(&[("config/moved.properties", text.as_bytes())]),
    );
    let moved = repo.commit_all("move the key");

    let (code, findings, _, stderr) = repo.scan(&["--git"]);
    assert_eq!(code, 1, "{stderr}");
    let found: Vec<(String, String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["commit"].as_str().unwrap_or("").to_string(),
                f["encoding"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "dist/app.jar!config/app.properties".to_string(),
                added.clone(),
                "archive".to_string()
            ),
            (
                "dist/app.jar!config/moved.properties".to_string(),
                moved.clone(),
                "archive".to_string()
            ),
        ]
    );

    // A range reads the same: from the base, both; from the commit that added the jar, the move.
    let range = format!("{base}..{moved}");
    let (_, findings, _, _) = repo.scan(&["--range", &range]);
    assert_eq!(findings.len(), 2);
    let range = format!("{added}..{moved}");
    let (code, findings, _, _) = repo.scan(&["--range", &range]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&findings)[0].0,
        "dist/app.jar!config/moved.properties"
    );
    // --archive-depth 0: the jar is bytes, nothing is found in it, and that is said.
    let (code, findings, stats, _) = repo.scan(&["--git", "--archive-depth", "0"]);
    assert_eq!((code, findings.len()), (0, 0));
    assert!(stats["archives_not_opened"].as_u64() > Some(0), "{stats}");

    // Staged: a compressed tar with a key blocks the commit, at its member.
    repo.write(
        "vendor/pkg.tgz",
        gzip_of(&tar_of(&[("package/.env", text.as_bytes())])),
    );
    repo.git(&["add", "vendor/pkg.tgz"]);
    let (code, findings, _, stderr) = repo.scan(&["--staged"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(places(&findings)[0].0, "vendor/pkg.tgz!package/.env");
    assert_eq!(places(&findings)[0].4, "archive");
    // And with --archive-depth 0 it passes as bytes, said in the summary.
    let (code, findings, stats, _) = repo.scan(&["--staged", "--archive-depth", "0"]);
    assert_eq!((code, findings.len()), (0, 0));
    assert_eq!(stats["archives_not_opened"], 1, "{stats}");
}

#[test]
fn bzip2_xz_and_zstd_are_opened_in_folders_history_and_staged() {
    let text = format!("# env\nkey={}\n", key());
    let files = [
        (
            "src.tar.xz",
            xz_of(&tar_of(&[("src/.env", text.as_bytes())])),
        ),
        ("db.sql.bz2", bzip2_of(text.as_bytes())),
        (
            "pkg.tar.zst",
            zstd_of(&tar_of(&[("package/.env", text.as_bytes())])),
        ),
    ];
    let expected = [
        "db.sql.bz2!db.sql",
        "pkg.tar.zst!package/.env",
        "src.tar.xz!src/.env",
    ];
    let repo = Repo::new();
    repo.write("README", "x\n");
    repo.commit_all("base");
    for (name, bytes) in &files {
        repo.write(name, bytes);
    }
    let (code, findings, stats, stderr) = scan_json(repo.path(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let found: Vec<String> = places(&findings).into_iter().map(|p| p.0).collect();
    assert_eq!(found, expected, "{stderr}");
    assert!(places(&findings)
        .iter()
        .all(|p| p.1 == 2 && p.4 == "archive"));
    assert_eq!(stats["archives"], 3, "{stats}");
    // Staged, the commit is blocked at the members.
    repo.git(&["add", "."]);
    let (code, findings, _, stderr) = repo.scan(&["--staged"]);
    assert_eq!(code, 1, "{stderr}");
    let found: Vec<String> = places(&findings).into_iter().map(|p| p.0).collect();
    assert_eq!(found, expected, "{stderr}");
    // In history, at the commit that added them.
    let added = repo.commit_all("add the archives");
    let (code, findings, _, stderr) = repo.scan(&["--git"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings.len(), 3, "{stderr}");
    assert!(findings.iter().all(|f| f["commit"] == added.as_str()));
    // --archive-depth 0: bytes only (a small zstd frame stores its text as it is, so that key is
    // found in the file's own bytes), and said.
    let (_, findings, stats, _) = scan_json(repo.path(), &["--archive-depth", "0"]);
    assert!(places(&findings).iter().all(|p| !p.0.contains('!')));
    assert_eq!(stats["archives_not_opened"], 3, "{stats}");
}

/// SARIF and github annotations point at the archive file itself (a member is not a file code
/// scanning can open) and name the member in the message; json keeps `archive!member`; a name glob
/// in the allowlist matches the member's last component.
#[test]
fn archive_findings_point_at_the_archive_in_sarif_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let member = "conf/app.env".to_string();
    let zip = zip_of(&[(member.as_str(), format!("K={}\n", key()).as_bytes())]);
    fs::create_dir_all(dir.path().join("dist")).unwrap();
    fs::write(dir.path().join("dist/bundle.zip"), zip).unwrap();

    let (code, findings, _, _) = scan_json(dir.path(), &["."]);
    assert_eq!(code, 1);
    assert_eq!(findings[0]["path"], "dist/bundle.zip!conf/app.env");

    let out = scan_output(dir.path(), &[".", "--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "dist/bundle.zip");
    assert!(location.get("region").is_none(), "{location}");
    let message = result["message"]["text"].as_str().unwrap();
    assert!(message.contains("member conf/app.env, line 1"), "{message}");
    assert!(message.contains("(in an archive)"), "{message}");
    assert!(!message.contains("archive encoded"), "{message}");

    let out = scan_output(dir.path(), &[".", "--format", "github"]);
    let annotations = String::from_utf8_lossy(&out.stdout);
    let line = annotations
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap();
    assert!(line.contains("file=dist/bundle.zip,"), "{line}");
    assert!(!line.contains("line="), "{line}");
    assert!(line.contains("member conf/app.env"), "{line}");
    assert!(line.contains("(in an archive)"), "{line}");

    fs::write(
        dir.path().join(".skguard.toml"),
        "[allowlist]\npaths = [\"app.env\"]\n",
    )
    .unwrap();
    let (code, findings, _, _) = scan_json(dir.path(), &["."]);
    assert_eq!(code, 0, "{findings:?}");
}
