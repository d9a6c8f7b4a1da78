//! Service account tokens: JWTs (HS256) that the API server issues through
//! `serviceaccounts/<name>/token` (`kubectl create token`) and accepts as bearer tokens. The
//! signing key is derived from the cluster CA key, which every control-plane node holds, so any
//! node verifies what another issued. A token names its service account by uid and is refused
//! once that account is deleted (bound tokens, like upstream's).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Upstream's default and bounds for requested lifetimes.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
pub const MAX_EXPIRATION_SECONDS: i64 = 48 * 3600;

/// Signs and verifies tokens.
#[derive(Clone)]
pub struct TokenKey {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl TokenSubject {
    pub fn user_name(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    pub fn groups(&self) -> Vec<String> {
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".into(),
        ]
    }
}

impl TokenKey {
    /// The key of a cluster: derived from secret material every control-plane node has.
    pub fn derive(secret: &[u8]) -> Self {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            &[b"hakube service account tokens\0".as_slice(), secret].concat(),
        );
        TokenKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, digest.as_ref()),
        }
    }

    /// A token for `subject`, valid from `now` for `seconds`, for `audiences`.
    pub fn issue(
        &self,
        subject: &TokenSubject,
        audiences: &[String],
        now: i64,
        seconds: i64,
    ) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let claims = json!({
            "iss": ISSUER,
            "sub": subject.user_name(),
            "aud": audiences,
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "kubernetes.io": {"namespace": subject.namespace,
                "serviceaccount": {"name": subject.name, "uid": subject.uid}},
        });
        let signing_input = format!("{}.{}", encode(&header), encode(&claims));
        let signature = hmac::sign(&self.key, signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    /// The subject of a valid, unexpired token for `audience`; `None` for anything else.
    pub fn verify(&self, token: &str, now: i64) -> Option<TokenSubject> {
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(
            &self.key,
            format!("{header}.{claims}").as_bytes(),
            &signature,
        )
        .ok()?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != "HS256" {
            return None;
        }
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
        let expires = claims["exp"].as_i64()?;
        let not_before = claims["nbf"].as_i64().unwrap_or(0);
        if now >= expires || now < not_before || claims["iss"] != ISSUER {
            return None;
        }
        let account = &claims["kubernetes.io"];
        Some(TokenSubject {
            namespace: account["namespace"].as_str()?.to_string(),
            name: account["serviceaccount"]["name"].as_str()?.to_string(),
            uid: account["serviceaccount"]["uid"].as_str()?.to_string(),
        })
    }
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> TokenSubject {
        TokenSubject {
            namespace: "default".into(),
            name: "robot".into(),
            uid: "u-1".into(),
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let key = TokenKey::derive(b"secret");
        let token = key.issue(&subject(), &[ISSUER.to_string()], 1000, 600);
        assert_eq!(key.verify(&token, 1000), Some(subject()));
        assert_eq!(key.verify(&token, 1600), None);
        assert_eq!(subject().user_name(), "system:serviceaccount:default:robot");
    }

    #[test]
    fn another_key_or_a_changed_token_is_refused() {
        let token = TokenKey::derive(b"secret").issue(&subject(), &[], 1000, 600);
        assert_eq!(TokenKey::derive(b"other").verify(&token, 1000), None);
        let mut forged = token.clone();
        forged.insert(forged.len() / 2, 'x');
        assert_eq!(TokenKey::derive(b"secret").verify(&forged, 1000), None);
        assert_eq!(
            TokenKey::derive(b"secret").verify("not-a-token", 1000),
            None
        );
    }
}
