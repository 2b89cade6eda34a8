//! `jwtgate dev`: a local issuer and service in one command, and the library's dev issuer.

use super::*;

#[test]
fn dev_stops_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        let mut child = Running(
            Command::new(env!("CARGO_BIN_EXE_jwtgate"))
                .args(["dev", "--bind", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let out = BufReader::new(child.0.stdout.take().unwrap());
        let ready = out
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("jwtgate dev --sub"));
        assert!(ready, "the banner is printed");

        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.0.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());

        let mut exited = None;
        for _ in 0..200 {
            exited = child.0.try_wait().unwrap();
            if exited.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert_eq!(
            exited.and_then(|s| s.code()),
            Some(0),
            "SIG{signal} stops jwtgate dev within 5 s"
        );
    }
}

#[actix_web::test]
async fn dev_prints_a_token_and_curl_lines_that_work_and_leaves_nothing_behind() {
    let workdir = temp_dir("dev");
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_jwtgate"))
            .args([
                "dev",
                "--bind",
                "127.0.0.1:0",
                "--alg",
                "ES256",
                "--sub",
                "carol",
            ])
            .current_dir(&workdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = mpsc::channel::<String>();
    let out = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut banner = Vec::new();
    while !banner
        .last()
        .is_some_and(|l: &String| l.contains("jwtgate dev --sub"))
    {
        banner.push(
            lines
                .recv_timeout(Duration::from_secs(30))
                .expect("jwtgate dev prints its banner"),
        );
    }
    let find = |prefix: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {banner:#?}"))
    };
    let token = find("export TOKEN=");
    let verify_url = find("curl -i -H \"Authorization: Bearer $TOKEN\" ");
    let key_url = find("curl -H \"Authorization: Bearer $TOKEN\" ");
    let mint_url = find("curl -s ").trim_matches('\'').to_string();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("jwtgate inspect --allow-private-addresses \"$TOKEN\""))
    );
    let inspected = jwtgate(&["inspect", "--allow-private-addresses", &token], "", &[]).await;
    assert_eq!(
        inspected.status.code(),
        Some(0),
        "the printed inspect line works"
    );

    let client = awc::Client::default();
    let get = |url: String, token: String| {
        let request = client
            .get(url)
            .insert_header(("Authorization", format!("Bearer {token}")));
        async move {
            let mut response = request.send().await.unwrap();
            let body = response.body().await.unwrap();
            (response.status().as_u16(), response.headers().clone(), body)
        }
    };
    let (status, headers, _) = get(verify_url.clone(), token.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-auth-subject").unwrap(), "carol");
    let (status, _, body) = get(key_url, token).await;
    assert_eq!(status, 200);
    let key: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(key["jwk"]["crv"], "P-256");
    let (status, _, minted) = get(mint_url, String::new()).await;
    assert_eq!(status, 200);
    let minted = String::from_utf8(minted.to_vec()).unwrap();
    let (status, headers, _) = get(verify_url, minted.trim().to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-auth-subject").unwrap(), "bob");

    drop(child);
    assert_eq!(
        std::fs::read_dir(&workdir).unwrap().count(),
        0,
        "jwtgate dev writes nothing"
    );
}

#[actix_web::test]
async fn the_dev_issuer_is_a_library_issuer_whose_tokens_jwtgate_accepts() {
    let dev = jwtgate::dev::DevIssuer::start(
        "127.0.0.1:0".parse().unwrap(),
        jsonwebtoken::Algorithm::PS256,
    )
    .unwrap();
    let settings = jwtgate::settings::Settings::from_toml(&format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\n\
         [fetch]\nhttps_only = false\nallow_private_addresses = true\n\
         [verify]\nsuccess_body = true\n\
         [[issuers]]\nissuer = \"{}\"\naudiences = [\"reports\"]\n",
        dev.issuer()
    ))
    .unwrap();
    let app = crate::helpers::spawn_app(settings).await;
    let mint = |sub: &str, ttl: u64| jwtgate::dev::MintRequest {
        sub: sub.into(),
        aud: "reports".into(),
        ttl,
        scope: Some("read".into()),
    };

    let answer = app.verify(&dev.mint(&mint("erin", 60)).unwrap()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["claims"]["scope"], "read");
    assert_eq!(answer.header("x-auth-subject"), Some("erin"));
    assert!(dev.mint(&mint("erin", 0)).is_err(), "a ttl of 0 is refused");
    assert!(
        dev.mint(&mint("erin", jwtgate::dev::MAX_TTL_SECS + 1))
            .is_err()
    );

    let client = awc::Client::default();
    let mut over_http = client
        .get(dev.mint_url(&mint("frank", 0)))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status().as_u16(), 400, "/mint refuses a ttl of 0");
    let jwks: Value = client
        .get(dev.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], dev.key().kid());
    assert!(jwks["keys"][0].get("d").is_none(), "no private member");
    let _ = over_http.body().await;
    dev.stop().await;
}
