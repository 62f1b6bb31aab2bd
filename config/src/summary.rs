//! What `tidegate check` prints: the listeners, the admin port, and for each function how
//! its instances are provided, which requests reach it, and how far it scales.

use std::fmt::Write;

use crate::schema::{Config, Function, Route};
use crate::units::{format_bytes, format_duration};

impl Config {
    /// A human-readable summary of a loaded configuration, one fact per line.
    ///
    /// Never prints the admin token, only whether one is set.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let server = &self.server;

        // `write!` into a String cannot fail, hence the discarded results throughout.
        out.push_str("listeners:\n");
        for address in &server.listen {
            let _ = writeln!(out, "  http   {address}");
        }
        if let Some(tls) = &server.tls {
            for address in &tls.listen {
                let _ = writeln!(
                    out,
                    "  https  {address} (cert {}, key {})",
                    tls.cert.display(),
                    tls.key.display()
                );
            }
        }
        let threads = match server.worker_threads {
            0 => "one per core".to_owned(),
            n => n.to_string(),
        };
        let _ = writeln!(
            out,
            "  limits: worker threads {threads}, request timeout {}, header read timeout {}, idle timeout {}, max body {}, shutdown grace {}",
            format_duration(server.request_timeout),
            format_duration(server.header_read_timeout),
            format_duration(server.idle_timeout),
            format_bytes(server.max_body_bytes),
            format_duration(server.shutdown_grace),
        );

        let token = if self.admin.token.is_some() {
            "token set"
        } else {
            "no token"
        };
        let _ = writeln!(out, "admin:\n  {} ({token})", self.admin.listen);

        let _ = writeln!(out, "functions: {}", self.functions.len());
        for (name, function) in &self.functions {
            let _ = writeln!(out, "  {name}");
            let _ = writeln!(out, "    provider: {}", provider(function));
            out.push_str("    routes:\n");
            for route in &function.routes {
                let _ = writeln!(out, "      {}", describe_route(route));
            }
            let _ = writeln!(out, "    scaling: {}", scaling(function));
        }
        out
    }
}

fn provider(function: &Function) -> String {
    if function.is_static() {
        let endpoints: Vec<String> = function.endpoints.iter().map(ToString::to_string).collect();
        return format!("static, endpoints {}", endpoints.join(", "));
    }
    // Quote only the arguments a shell reader would misread.
    let words: Vec<String> = function
        .command
        .iter()
        .map(|word| {
            if word.is_empty() || word.contains(char::is_whitespace) || word.contains('"') {
                format!("{word:?}")
            } else {
                word.clone()
            }
        })
        .collect();
    let mut text = format!("process, command {}", words.join(" "));
    if let Some(workdir) = &function.workdir {
        let _ = write!(text, " (in {})", workdir.display());
    }
    text
}

fn describe_route(route: &Route) -> String {
    let mut parts = vec![
        route
            .host
            .as_deref()
            .map_or("any host".to_owned(), |host| format!("host {host}")),
        route
            .path_prefix
            .as_deref()
            .map_or("any path".to_owned(), |path| format!("path {path}")),
    ];
    if route.strip_prefix {
        parts.push("strip prefix".to_owned());
    }
    if let Some(priority) = &route.priority {
        parts.push(format!("priority {priority}"));
    }
    parts.join(", ")
}

fn scaling(function: &Function) -> String {
    if function.is_static() {
        return "none (static endpoints)".to_owned();
    }
    let scaling = &function.scaling;
    let mut text = format!(
        "{} to {} instances, target concurrency {} per instance",
        scaling.min_instances, scaling.max_instances, scaling.target_concurrency
    );
    if scaling.container_concurrency > 0 {
        let _ = write!(text, ", at most {} at once", scaling.container_concurrency);
    }
    text
}
