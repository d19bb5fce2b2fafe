//! Bearer tokens: writes and `/_admin` need one (reads too when `protect_reads`). Tokens are
//! named in jsonlift.toml (`[serve] tokens`), or one comes from `JSONLIFT_TOKEN` (named "env");
//! the name is the actor recorded in the audit log. Each has a scope (read, write or admin;
//! issue #18: a token for a frontend should not be able to restore a backup). Tokens are
//! compared by their SHA-256 in constant time, so timing tells nothing about a token.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::config::{Scope, ServeConfig};

/// The actor recorded when no tokens are configured (loopback only).
pub const ANONYMOUS: &str = "anonymous";

pub struct Auth {
    tokens: Vec<(String, [u8; 32], Scope)>,
    pub protect_reads: bool,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equal without an early exit: the time taken does not depend on where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl Auth {
    /// The tokens of `[serve] tokens` and `JSONLIFT_TOKEN`; `env_token` is that variable's value.
    pub fn load(cfg: &ServeConfig, env_token: Option<String>) -> anyhow::Result<Auth> {
        let mut tokens = Vec::new();
        for (name, t) in &cfg.tokens {
            let value = &t.token;
            let token = match value.strip_prefix("env:") {
                Some(var) => std::env::var(var).with_context(|| {
                    format!(
                        "[serve] tokens.{name} reads environment variable {var}, which is not set"
                    )
                })?,
                None => value.clone(),
            };
            if token.len() < 16 {
                bail!("[serve] tokens.{name}: a token needs at least 16 characters");
            }
            tokens.push((name.clone(), digest(&token), t.scope));
        }
        if let Some(t) = env_token.filter(|t| !t.is_empty()) {
            if t.len() < 16 {
                bail!("JSONLIFT_TOKEN: a token needs at least 16 characters");
            }
            tokens.push(("env".to_string(), digest(&t), Scope::Admin));
        }
        Ok(Auth {
            tokens,
            protect_reads: cfg.protect_reads,
        })
    }

    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Refuses to expose an unprotected server beyond this machine.
    pub fn check_listen(&self, addr: &SocketAddr) -> anyhow::Result<()> {
        if !addr.ip().is_loopback() && !self.has_tokens() {
            bail!(
                "refusing to listen on {addr} without a token: anyone who can reach it could change the data.\nhint: set JSONLIFT_TOKEN or add `[serve] tokens = {{ name = \"env:VAR\" }}` to jsonlift.toml, or listen on 127.0.0.1"
            );
        }
        Ok(())
    }

    /// The name of the token in an `Authorization` header value, or why it is refused. With no
    /// tokens configured (a loopback server), everyone is [`ANONYMOUS`].
    pub fn actor(&self, header: Option<&str>) -> Result<String, String> {
        self.token(header).map(|(name, _)| name)
    }

    /// The name and scope of the token in an `Authorization` header value, or why it is
    /// refused. With no tokens configured, everyone is [`ANONYMOUS`] with every right.
    pub fn token(&self, header: Option<&str>) -> Result<(String, Scope), String> {
        if self.tokens.is_empty() {
            return Ok((ANONYMOUS.to_string(), Scope::Admin));
        }
        let Some(h) = header else {
            return Err("this request needs `Authorization: Bearer <token>`".into());
        };
        // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
        let token = h
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let Some(token) = token else {
            return Err("the Authorization header must be `Bearer <token>`".into());
        };
        let d = digest(token);
        let mut found = None;
        for (name, t, scope) in &self.tokens {
            if same(&d, t) && found.is_none() {
                found = Some((name.clone(), *scope));
            }
        }
        found.ok_or_else(|| "the token is not valid".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    #[test]
    fn tokens_by_name_and_from_env() {
        let mut cfg = ServeConfig::default();
        cfg.tokens.insert(
            "ci".into(),
            TokenConfig {
                token: "0123456789abcdef-ci".into(),
                scope: Scope::Admin,
            },
        );
        let a = Auth::load(&cfg, Some("0123456789abcdef-env".into())).unwrap();
        assert_eq!(a.actor(Some("Bearer 0123456789abcdef-ci")), Ok("ci".into()));
        assert_eq!(
            a.actor(Some("Bearer 0123456789abcdef-env")),
            Ok("env".into())
        );
        assert!(a.actor(Some("Bearer nope")).is_err());
        assert_eq!(a.actor(Some("bearer 0123456789abcdef-ci")), Ok("ci".into()));
        assert!(a.actor(Some("Bearer 0123456789ABCDEF-CI")).is_err());
        assert!(a.actor(Some("Bearer 0123456789abcdef")).is_err());
        assert!(a.actor(Some("0123456789abcdef-ci")).is_err());
        assert!(a.actor(Some("Basic 0123456789abcdef-ci")).is_err());
        assert!(a.actor(Some("Bearer")).is_err());
        assert!(a.actor(None).is_err());
        assert!(a.check_listen(&"0.0.0.0:1".parse().unwrap()).is_ok());
        let open = Auth::load(&ServeConfig::default(), None).unwrap();
        assert_eq!(open.actor(None), Ok(ANONYMOUS.into()));
        assert!(open.check_listen(&"0.0.0.0:1".parse().unwrap()).is_err());
        assert!(open.check_listen(&"[::1]:1".parse().unwrap()).is_ok());
        cfg.tokens.insert(
            "short".into(),
            TokenConfig {
                token: "x".into(),
                scope: Scope::Read,
            },
        );
        assert!(Auth::load(&cfg, None).is_err());
    }

    #[test]
    fn tokens_carry_their_scope() {
        let cfg: ServeConfig = toml::from_str(
            r#"tokens = { app = { token = "0123456789abcdef-app", scope = "write" }, full = "0123456789abcdef-full" }"#,
        )
        .unwrap();
        let a = Auth::load(&cfg, None).unwrap();
        assert_eq!(
            a.token(Some("Bearer 0123456789abcdef-app")),
            Ok(("app".into(), Scope::Write))
        );
        assert_eq!(
            a.token(Some("Bearer 0123456789abcdef-full")),
            Ok(("full".into(), Scope::Admin))
        );
        for bad in [
            r#"tokens = { app = { token = "0123456789abcdef-app", scope = "root" } }"#,
            r#"tokens = { app = { token = "0123456789abcdef-app" } }"#,
            r#"tokens = { app = { token = "0123456789abcdef-app", scope = "read", role = "x" } }"#,
            r#"tokens = { app = 7 }"#,
        ] {
            assert!(toml::from_str::<ServeConfig>(bad).is_err(), "{bad}");
        }
    }
}
