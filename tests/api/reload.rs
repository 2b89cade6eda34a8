//! Configuration reload: a new configuration swapped in whole, keys kept for unchanged issuers,
//! removed issuers refused at once, invalid files refused, requests in flight unharmed.

use std::path::{Path, PathBuf};

use jwtgate::dev::{DevIssuer, DevKey, claims};
use jwtgate::reload::{ReloadError, Trigger};

use crate::helpers::spawn_app_from_file;

/// A fresh directory for this test's configuration files.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jwtgate-reload-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A configuration trusting these issuers (file watching off: the tests reload explicitly).
fn config(issuers: &[&DevIssuer], extra: &str) -> String {
    let mut toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n[fetch]\nhttps_only = false\n\
         allow_private_addresses = true\ntimeout_secs = 2\n[reload]\nwatch_interval_secs = 0\n{extra}\n"
    );
    for issuer in issuers {
        toml.push_str(&format!(
            "[[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        ));
    }
    toml
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[actix_web::test]
async fn a_removed_issuer_stops_verifying_at_once_cached_tokens_included() {
    let (ka, kb) = (DevKey::rs256(), DevKey::es256());
    let (a, b) = (
        DevIssuer::serving(&[&ka]).await,
        DevIssuer::serving(&[&kb]).await,
    );
    let path = dir("removed").join("jwtgate.toml");
    write(&path, &config(&[&a, &b], ""));
    let (app, reloader) = spawn_app_from_file(&path).await;
    let (token_a, token_b) = (ka.sign(&claims(a.issuer())), kb.sign(&claims(b.issuer())));
    for _ in 0..2 {
        assert_eq!(
            app.verify(&token_b).await.status,
            200,
            "verified, then cached"
        );
    }
    let gauge = format!("jwtgate_issuer_keys{{issuer=\"{}\"}}", b.issuer());
    let before = app.get("/metrics").await.body;
    assert!(before.as_str().unwrap().contains(&gauge));

    write(&path, &config(&[&a], ""));
    let report = reloader.reload(Trigger::Signal).await.unwrap();

    assert_eq!(report.removed, [b.issuer()]);
    assert_eq!(report.unchanged, [a.issuer()]);
    let refused = app.verify(&token_b).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.reason(), "untrusted_issuer");
    assert_eq!(app.verify(&token_a).await.status, 200);
    assert_eq!(
        app.metric("jwtgate_config_reloads_total", &[("result", "ok")])
            .await,
        1.0
    );
    let scrape = app.get("/metrics").await.body;
    assert!(
        !scrape.as_str().unwrap().contains(&gauge),
        "the removed issuer's key gauge is gone"
    );
}

#[actix_web::test]
async fn an_unchanged_issuer_keeps_its_keys_and_an_added_one_is_fetched() {
    let (ka, kc) = (DevKey::rs256(), DevKey::es256());
    let (a, c) = (
        DevIssuer::serving(&[&ka]).await,
        DevIssuer::serving(&[&kc]).await,
    );
    let path = dir("unchanged").join("jwtgate.toml");
    write(&path, &config(&[&a], ""));
    let (app, reloader) = spawn_app_from_file(&path).await;
    assert_eq!(app.verify(&ka.sign(&claims(a.issuer()))).await.status, 200);
    let fetched_before = a.total_hits();

    write(&path, &config(&[&a, &c], "[log]\ndecisions = \"denied\"\n"));
    let report = reloader.reload(Trigger::Signal).await.unwrap();

    assert_eq!(report.added, [c.issuer()]);
    assert_eq!(app.verify(&ka.sign(&claims(a.issuer()))).await.status, 200);
    assert_eq!(app.verify(&kc.sign(&claims(c.issuer()))).await.status, 200);
    assert_eq!(
        a.total_hits(),
        fetched_before,
        "the unchanged issuer's keys were not fetched again"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
}

#[actix_web::test]
async fn an_invalid_file_keeps_the_running_configuration_logs_and_counts_it() {
    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let path = dir("invalid").join("jwtgate.toml");
    write(&path, &config(&[&issuer], ""));
    let (app, reloader) = spawn_app_from_file(&path).await;

    write(&path, &config(&[&issuer], "[cache]\nmax_issuers = 0\n"));
    let refused = reloader.reload(Trigger::Signal).await;

    let Err(ReloadError::Invalid(error)) = refused else {
        panic!("an invalid file is refused: {refused:?}");
    };
    assert!(error.to_string().contains("cache.max_issuers"), "{error}");
    assert_eq!(
        app.verify(&key.sign(&claims(issuer.issuer()))).await.status,
        200
    );
    assert_eq!(
        app.metric("jwtgate_config_reloads_total", &[("result", "error")])
            .await,
        1.0
    );
    assert_eq!(
        app.metric("jwtgate_config_last_reload_successful", &[])
            .await,
        0.0
    );

    write(&path, "this is = not [ toml");
    assert!(reloader.reload(Trigger::Signal).await.is_err());
    write(&path, &config(&[&issuer], ""));
    reloader.reload(Trigger::Signal).await.unwrap();
    assert_eq!(
        app.metric("jwtgate_config_last_reload_successful", &[])
            .await,
        1.0
    );
}

#[actix_web::test]
async fn a_configmap_update_swapping_the_data_symlink_is_noticed_once() {
    // The layout the kubelet gives a mounted ConfigMap: jwtgate.toml -> ..data/jwtgate.toml,
    // ..data -> ..<timestamp>; an update writes a new timestamped directory and renames a new
    // ..data symlink over the old one.
    let (ka, kb) = (DevKey::rs256(), DevKey::es256());
    let (a, b) = (
        DevIssuer::serving(&[&ka]).await,
        DevIssuer::serving(&[&kb]).await,
    );
    let mount = dir("configmap");
    let version = |name: &str, text: &str| {
        std::fs::create_dir(mount.join(name)).unwrap();
        write(&mount.join(name).join("jwtgate.toml"), text);
    };
    version("..2026_11_30_1", &config(&[&a], ""));
    std::os::unix::fs::symlink("..2026_11_30_1", mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/jwtgate.toml", mount.join("jwtgate.toml")).unwrap();
    let (app, reloader) = spawn_app_from_file(&mount.join("jwtgate.toml")).await;
    let token_b = kb.sign(&claims(b.issuer()));
    assert_eq!(app.verify(&token_b).await.reason(), "untrusted_issuer");
    let unchanged = reloader.reload(Trigger::FileChange).await.unwrap();
    assert!(!unchanged.applied, "nothing changed yet");

    version("..2026_11_30_2", &config(&[&a, &b], ""));
    std::os::unix::fs::symlink("..2026_11_30_2", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    let changed = reloader.reload(Trigger::FileChange).await.unwrap();
    let again = reloader.reload(Trigger::FileChange).await.unwrap();

    assert!(changed.applied);
    assert_eq!(changed.added, [b.issuer()]);
    assert!(!again.applied, "a change is applied once");
    assert_eq!(app.verify(&token_b).await.status, 200);
}

#[actix_web::test]
async fn a_changed_bind_is_reported_as_needing_a_restart_and_the_rest_applies() {
    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let path = dir("bind").join("jwtgate.toml");
    write(&path, &config(&[&issuer], ""));
    let (app, reloader) = spawn_app_from_file(&path).await;

    let moved =
        config(&[&issuer], "[verify]\nmode = \"report\"\n").replace("127.0.0.1:0", "127.0.0.1:1");
    write(&path, &moved);
    let report = reloader.reload(Trigger::Signal).await.unwrap();

    assert_eq!(report.needs_restart, ["server.bind"]);
    assert_eq!(
        app.get("/healthz").await.status,
        200,
        "still on the old port"
    );
    assert_eq!(
        app.get("/verify").await.status,
        200,
        "report mode applied without a restart"
    );
}

#[actix_web::test]
async fn requests_in_flight_during_reloads_never_fail() {
    let (ka, kb) = (DevKey::rs256(), DevKey::es256());
    let (a, b) = (
        DevIssuer::serving(&[&ka]).await,
        DevIssuer::serving(&[&kb]).await,
    );
    let path = dir("in-flight").join("jwtgate.toml");
    write(&path, &config(&[&a], ""));
    let (app, reloader) = spawn_app_from_file(&path).await;
    let token = ka.sign(&claims(a.issuer()));
    let app = std::rc::Rc::new(app);

    let requests = (0..300).map(|_| {
        let (app, token) = (app.clone(), token.clone());
        async move { app.verify(&token).await.status }
    });
    let reloads = async {
        for round in 0..20 {
            let issuers: Vec<&DevIssuer> = if round % 2 == 0 {
                vec![&a, &b]
            } else {
                vec![&a]
            };
            let decisions = if round % 3 == 0 { "off" } else { "all" };
            write(
                &path,
                &config(&issuers, &format!("[log]\ndecisions = \"{decisions}\"\n")),
            );
            reloader.reload(Trigger::Signal).await.unwrap();
            actix_web::rt::task::yield_now().await;
        }
    };
    let (statuses, ()) = futures_util::join!(futures_util::future::join_all(requests), reloads);

    assert!(
        statuses.iter().all(|s| *s == 200),
        "every request during the reloads succeeded: {:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert_eq!(
        app.metric("jwtgate_config_reloads_total", &[("result", "ok")])
            .await,
        20.0
    );
}

#[actix_web::test]
async fn sighup_makes_the_binary_reload_its_file_and_a_bad_file_keeps_it_serving() {
    use crate::binary::{serve, write_config};
    use crate::decision_log::{Served, listening, stop};

    let key = DevKey::rs256();
    let issuer = DevIssuer::serving(&[&key]).await;
    let text = |extra: &str| {
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n[log]\nformat = \"json\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\n{extra}\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        )
    };
    let path = write_config("sighup-reload.toml", &text(""));
    let mut served = Served(serve(&path));
    let child = &mut served.0;
    let (port, lines, _) = listening(child);
    let client = awc::Client::default();
    let no_token = || async {
        client
            .get(format!("http://127.0.0.1:{port}/verify"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(no_token().await, 401);
    let wait_for_line = |needle: &str| loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no log line with {needle}"));
        if line.contains(needle) {
            break line;
        }
    };

    std::fs::write(&path, text("[verify]\nmode = \"report\"\n")).unwrap();
    send_hup(child);
    wait_for_line("configuration reloaded");
    let after_reload = no_token().await;
    std::fs::write(&path, "[cache]\nmax_issuers = 0\n").unwrap();
    send_hup(child);
    let refused = wait_for_line("configuration reload refused");
    let still = no_token().await;
    stop(child);

    assert_eq!(after_reload, 200, "report mode applied by SIGHUP");
    assert!(refused.contains("cache.max_issuers"), "{refused}");
    assert_eq!(still, 200, "the running configuration is kept");
}

fn send_hup(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

#[actix_web::test]
async fn the_binary_notices_a_changed_file_by_itself() {
    use crate::binary::{serve, write_config};
    use crate::decision_log::{Served, listening, stop};

    let issuer = DevIssuer::serving(&[&DevKey::rs256()]).await;
    let text = |mode: &str| {
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\ndrain_secs = 0\n[log]\nformat = \"json\"\n\
             [reload]\nwatch_interval_secs = 1\n[verify]\nmode = \"{mode}\"\n\
             [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
             [[issuers]]\nissuer = \"{}\"\naudiences = [\"my-api\"]\n",
            issuer.issuer()
        )
    };
    let path = write_config("watched.toml", &text("enforce"));
    let mut served = Served(serve(&path));
    let child = &mut served.0;
    let (port, lines, _) = listening(child);

    std::fs::write(&path, text("report")).unwrap();
    // The watcher's own tick (1 s) is what is under test: wait for its log line, not a timer.
    let reloaded = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the change is noticed within a few ticks");
        if line.contains("configuration reloaded") {
            break line;
        }
    };
    let status = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/verify"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    stop(child);

    assert!(reloaded.contains("FileChange"), "{reloaded}");
    assert_eq!(status, 200, "report mode applied from the changed file");
}
