//! `deploy/nginx/jwtgate.conf` with nginx `auth_request`.

use std::process::Command;

use crate::spec::{Proxy, proxy_protects_the_upstream_as_documented};
use crate::stack::{Backends, Process, Scratch, deploy_file, executable, free_port};

#[actix_web::test]
async fn nginx_auth_request_protects_the_upstream_as_documented() {
    protects_the_upstream(false).await;
}

#[actix_web::test]
async fn nginx_auth_request_protects_the_upstream_with_refuse_identity_headers_on() {
    protects_the_upstream(true).await;
}

/// Runs every case of the spec through the example, jwtgate's `refuse_identity_headers` as given.
async fn protects_the_upstream(refuse_identity_headers: bool) {
    let scratch = Scratch::new("nginx");
    let mut backends = Backends::start(&scratch, refuse_identity_headers).await;
    let port = free_port();
    let site = deploy_file(
        "nginx/jwtgate.conf",
        &[
            (
                "server 127.0.0.1:8080;",
                format!("server 127.0.0.1:{};", backends.jwtgate.port),
            ),
            (
                "server 127.0.0.1:3000;",
                format!("server 127.0.0.1:{};", backends.echo.port),
            ),
            ("listen 8000;", format!("listen 127.0.0.1:{port};")),
        ],
    );
    let site = scratch.write("jwtgate.conf", &site);
    // The smallest main configuration around the example, runnable without root: one process in
    // the foreground, every path inside the scratch directory.
    let dir = scratch.dir.display();
    let main = scratch.write(
        "nginx.conf",
        &format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
             error_log {dir}/nginx-error.log warn;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  \
             proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  \
             uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  include {};\n}}\n",
            site.display()
        ),
    );
    let mut command = Command::new(executable("nginx", &["/usr/sbin"]));
    command
        .arg("-p")
        .arg(&scratch.dir)
        .arg("-e")
        .arg(scratch.dir.join("nginx-error.log"))
        .arg("-c")
        .arg(&main);
    let nginx = Process::spawn("nginx", command, &scratch);
    let proxy = Proxy {
        name: format!("nginx (refuse_identity_headers = {refuse_identity_headers})"),
        forwards_jwtgate_401_body: false,
        refuses_forged_identity_headers: true,
        names_keys_unavailable: true,
        status_while_jwtgate_is_down: 500,
    };
    proxy_protects_the_upstream_as_documented(proxy, nginx, port, &mut backends).await;
}
