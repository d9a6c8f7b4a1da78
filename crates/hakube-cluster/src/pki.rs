//! Cluster public-key infrastructure.
//!
//! This module owns the cluster certificate authority (generation, loading
//! from PEM, signing), the shape of the certificates it issues (profiles),
//! node-side key + CSR generation, and small helpers to inspect certificates
//! (fingerprints, common names).
//!
//! Trust model: every cluster has its own self-signed CA. A node's private key
//! is generated on that node and never leaves it; joining nodes send a CSR and
//! the CA decides the identity (subject and SANs) of the certificate it signs.
//! The CA certificate is identified out of band by its SHA-256 fingerprint
//! (part of the join string).

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

/// Common name of every cluster CA. The cluster is identified by the CA's
/// fingerprint, not by its name, so a fixed name is fine.
pub const CA_COMMON_NAME: &str = "hakube-ca";

/// CA lifetime. Rotating a cluster CA means re-issuing every node
/// certificate, so it is long-lived on purpose.
const CA_VALIDITY_DAYS: u64 = 3650;

/// Issued certificates start this far in the past, so that a peer whose clock
/// is slightly behind ours still accepts a freshly issued certificate.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(60 * 60);

/// Upper bound for leaf validity; also keeps the date arithmetic far from
/// overflow.
const MAX_LEAF_VALIDITY_DAYS: u32 = CA_VALIDITY_DAYS as u32;

const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

#[derive(thiserror::Error, Debug)]
pub enum PkiError {
    #[error("failed to generate private key: {0}")]
    KeyGeneration(#[source] rcgen::Error),
    #[error("invalid private key PEM: {0}")]
    InvalidKey(#[source] rcgen::Error),
    #[error("invalid certificate PEM: {0}")]
    InvalidCertificatePem(String),
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    #[error("invalid certificate signing request: {0}")]
    InvalidCsr(#[source] rcgen::Error),
    #[error("CA private key does not match the CA certificate's public key")]
    KeyMismatch,
    #[error("certificate is not a CA certificate (basicConstraints CA:TRUE missing)")]
    NotACa,
    #[error("invalid certificate profile: {0}")]
    InvalidProfile(String),
    #[error("failed to sign certificate: {0}")]
    Signing(#[source] rcgen::Error),
    #[error("system clock is before the Unix epoch")]
    Clock,
}

/// The cluster certificate authority: its certificate and private key (both
/// PEM, for persistence) plus the parsed issuer used for signing.
pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

// Hand-written so the private key never ends up in logs.
impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// What a certificate issued by the CA says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateProfile {
    pub common_name: String,
    /// At most one organization is supported (rcgen's distinguished name holds
    /// one value per attribute type); more is rejected rather than silently
    /// dropped.
    pub organizations: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub dns_names: Vec<String>,
    /// Extended key usage serverAuth.
    pub server: bool,
    /// Extended key usage clientAuth.
    pub client: bool,
    pub validity_days: u32,
}

/// A certificate together with the private key generated for it.
#[derive(Clone)]
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

// Hand-written so the private key never ends up in logs.
impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new self-signed cluster CA with a fresh ECDSA P-256 key.
    /// `cluster_name` is recorded as the organization, for humans only.
    pub fn generate(cluster_name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate().map_err(PkiError::KeyGeneration)?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, CA_COMMON_NAME);
        if !cluster_name.is_empty() {
            dn.push(DnType::OrganizationName, cluster_name);
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, CA_VALIDITY_DAYS)?;

        let cert = params.self_signed(&key).map_err(PkiError::Signing)?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        let cert_der = cert.der().to_vec();
        let issuer = Issuer::new(params, key);
        Ok(Self {
            cert_pem,
            key_pem,
            cert_der,
            issuer,
        })
    }

    /// Loads a CA from persisted PEM. Checks that the certificate is a CA and
    /// that the key belongs to it, so a mixed-up pair fails here instead of
    /// producing certificates nobody can verify.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = first_cert_der(cert_pem)?;
        let key = KeyPair::from_pem(key_pem).map_err(PkiError::InvalidKey)?;

        {
            let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
                .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
            let is_ca = x509
                .basic_constraints()
                .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?
                .is_some_and(|bc| bc.value.ca);
            if !is_ca {
                return Err(PkiError::NotACa);
            }
            if x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
                return Err(PkiError::KeyMismatch);
            }
        }

        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)
            .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            cert_der,
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// DER of the CA certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Lowercase hex SHA-256 of the CA certificate DER (the join-string
    /// fingerprint).
    pub fn fingerprint(&self) -> String {
        fingerprint_of_der(&self.cert_der)
    }

    /// Signs a CSR. Only the public key is taken from the CSR (after its
    /// self-signature is verified, proving possession of the private key);
    /// subject, SANs and usages come from `profile`, because the CA, not the
    /// requester, decides a node's identity.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        profile: &CertificateProfile,
    ) -> Result<String, PkiError> {
        let csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(PkiError::InvalidCsr)?;
        let params = leaf_params(profile)?;
        let cert = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(PkiError::Signing)?;
        Ok(cert.pem())
    }

    /// Generates a key locally and issues a certificate for it. Used where the
    /// key holder is this process anyway (the bootstrap node's own
    /// certificate, admin client certificates).
    pub fn issue(&self, profile: &CertificateProfile) -> Result<IssuedCertificate, PkiError> {
        let params = leaf_params(profile)?;
        let key = KeyPair::generate().map_err(PkiError::KeyGeneration)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(PkiError::Signing)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Lowercase hex SHA-256 of the DER of the first certificate in `cert_pem`.
pub fn fingerprint_of_pem(cert_pem: &str) -> Result<String, PkiError> {
    Ok(fingerprint_of_der(&first_cert_der(cert_pem)?))
}

/// Lowercase hex SHA-256 of a DER certificate.
pub fn fingerprint_of_der(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

/// Generates a node's private key (ECDSA P-256) and a CSR for it. The key
/// stays on the node; only the CSR is sent to the cluster. The CSR carries no
/// SANs: the CA assigns them.
pub fn generate_key_and_csr(common_name: &str) -> Result<(String, String), PkiError> {
    if common_name.is_empty() {
        return Err(PkiError::InvalidProfile(
            "common name must not be empty".into(),
        ));
    }
    let key = KeyPair::generate().map_err(PkiError::KeyGeneration)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key).map_err(PkiError::Signing)?;
    let csr_pem = csr.pem().map_err(PkiError::Signing)?;
    Ok((key.serialize_pem(), csr_pem))
}

/// Reads the subject common name of a (peer) certificate.
pub fn certificate_common_name(cert_der: &[u8]) -> Result<String, PkiError> {
    let (_, x509) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    let cn = x509
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(|| PkiError::InvalidCertificate("certificate has no common name".into()))?;
    cn.as_str()
        .map(str::to_owned)
        .map_err(|e| PkiError::InvalidCertificate(format!("common name is not a string: {e}")))
}

/// The organizations (O=) of a DER certificate's subject: a Kubernetes client's groups.
pub fn certificate_organizations(cert_der: &[u8]) -> Vec<String> {
    let Ok((_, x509)) = x509_parser::parse_x509_certificate(cert_der) else {
        return Vec::new();
    };
    x509.subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_owned))
        .collect()
}

fn first_cert_der(cert_pem: &str) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| PkiError::InvalidCertificatePem(e.to_string()))
}

fn leaf_params(profile: &CertificateProfile) -> Result<CertificateParams, PkiError> {
    if profile.common_name.is_empty() {
        return Err(PkiError::InvalidProfile(
            "common name must not be empty".into(),
        ));
    }
    if !profile.server && !profile.client {
        return Err(PkiError::InvalidProfile(
            "certificate must allow server and/or client authentication".into(),
        ));
    }
    if profile.validity_days == 0 {
        return Err(PkiError::InvalidProfile(
            "validity must be at least one day".into(),
        ));
    }
    if profile.validity_days > MAX_LEAF_VALIDITY_DAYS {
        return Err(PkiError::InvalidProfile(format!(
            "validity of {} days exceeds the maximum of {MAX_LEAF_VALIDITY_DAYS}",
            profile.validity_days
        )));
    }
    if profile.organizations.len() > 1 {
        return Err(PkiError::InvalidProfile(format!(
            "at most one organization is supported, got {}",
            profile.organizations.len()
        )));
    }

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, profile.common_name.as_str());
    if let Some(org) = profile.organizations.first() {
        dn.push(DnType::OrganizationName, DnValue::Utf8String(org.clone()));
    }
    params.distinguished_name = dn;

    let mut sans = Vec::with_capacity(profile.ip_addresses.len() + profile.dns_names.len());
    for ip in &profile.ip_addresses {
        sans.push(SanType::IpAddress(*ip));
    }
    for name in &profile.dns_names {
        let ia5 = Ia5String::try_from(name.as_str())
            .map_err(|_| PkiError::InvalidProfile(format!("invalid DNS name {name:?}")))?;
        sans.push(SanType::DnsName(ia5));
    }
    params.subject_alt_names = sans;

    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if profile.server {
        params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if profile.client {
        params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.use_authority_key_identifier_extension = true;
    // rcgen's default serial is derived from the public key, which would
    // repeat when the same CSR is signed twice; serials must be unique per CA.
    params.serial_number = Some(random_serial());
    set_validity(&mut params, u64::from(profile.validity_days))?;
    Ok(params)
}

/// Sets the validity to [now - skew allowance, now + days]. Built from the
/// Unix epoch plus a std Duration so this crate need not depend on the `time`
/// crate that rcgen uses for these fields.
fn set_validity(params: &mut CertificateParams, days: u64) -> Result<(), PkiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PkiError::Clock)?;
    let start = now.saturating_sub(CLOCK_SKEW_ALLOWANCE);
    let end = now.saturating_add(Duration::from_secs(days.saturating_mul(SECONDS_PER_DAY)));
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + start;
    params.not_after = epoch + end;
    Ok(())
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::rng().random();
    // Keep it positive and non-zero so the DER INTEGER stays 16 bytes or less.
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use x509_parser::extensions::GeneralName;

    fn profile(cn: &str) -> CertificateProfile {
        CertificateProfile {
            common_name: cn.into(),
            organizations: vec!["hakube:nodes".into()],
            ip_addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))],
            dns_names: vec!["node-7.cluster.local".into()],
            server: true,
            client: true,
            validity_days: 365,
        }
    }

    fn now_secs() -> i64 {
        i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap()
    }

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    /// Verifies `cert_pem` as a server certificate for `ip` against `ca`
    /// with webpki, i.e. the same check a peer performs.
    fn verify_chain(
        ca: &CertificateAuthority,
        cert_pem: &str,
        ip: IpAddr,
    ) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.cert_der().to_vec()))
            .unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        verifier
            .verify_server_cert(
                &CertificateDer::from(der(cert_pem)),
                &[],
                &ServerName::IpAddress(ip.into()),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn ca_properties_and_fingerprint() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        let fp = ca.fingerprint();
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, fp.to_lowercase());
        assert_eq!(fingerprint_of_pem(ca.cert_pem()).unwrap(), fp);
        assert_eq!(fingerprint_of_der(&der(ca.cert_pem())), fp);

        let der = der(ca.cert_pem());
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(x509.is_ca());
        let bc = x509.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca && bc.path_len_constraint.is_none());
        let ku = x509.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert_eq!(certificate_common_name(&der).unwrap(), CA_COMMON_NAME);
        let lifetime =
            x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp();
        let ten_years = i64::try_from(CA_VALIDITY_DAYS * SECONDS_PER_DAY).unwrap();
        assert!((lifetime - ten_years - 3600).abs() < 60, "{lifetime}");

        assert_ne!(
            CertificateAuthority::generate("prod")
                .unwrap()
                .fingerprint(),
            fp
        );
        assert!(format!("{ca:?}").contains(&fp));
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn ca_roundtrips_through_pem() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        let loaded = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(loaded.fingerprint(), ca.fingerprint());
        let issued = loaded.issue(&profile("node-1")).unwrap();
        verify_chain(
            &ca,
            &issued.cert_pem,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
        )
        .unwrap();
    }

    #[test]
    fn ca_from_pem_rejects_bad_input() {
        let ca = CertificateAuthority::generate("a").unwrap();
        let other = CertificateAuthority::generate("b").unwrap();
        assert!(matches!(
            CertificateAuthority::from_pem(ca.cert_pem(), other.key_pem()),
            Err(PkiError::KeyMismatch)
        ));
        assert!(matches!(
            CertificateAuthority::from_pem("nope", ca.key_pem()),
            Err(PkiError::InvalidCertificatePem(_))
        ));
        assert!(matches!(
            CertificateAuthority::from_pem(ca.cert_pem(), "nope"),
            Err(PkiError::InvalidKey(_))
        ));
        let leaf = ca.issue(&profile("node-1")).unwrap();
        assert!(matches!(
            CertificateAuthority::from_pem(&leaf.cert_pem, &leaf.key_pem),
            Err(PkiError::NotACa)
        ));
        assert!(fingerprint_of_pem("garbage").is_err());
    }

    #[test]
    fn issued_leaf_has_profile_identity() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        let mut p = profile("node-1");
        p.ip_addresses
            .push(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
        let issued = ca.issue(&p).unwrap();
        assert!(issued.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{issued:?}").contains("PRIVATE KEY"));
        // The key is usable as a rustls key.
        rustls_pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap();

        let der = der(&issued.cert_pem);
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(!x509.is_ca());
        assert_eq!(certificate_common_name(&der).unwrap(), "node-1");
        let org = x509.subject().iter_organization().next().unwrap();
        assert_eq!(org.as_str().unwrap(), "hakube:nodes");
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let sans = &x509
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names;
        assert!(sans.contains(&GeneralName::DNSName("node-7.cluster.local")));
        assert!(sans.contains(&GeneralName::IPAddress(&[10, 0, 0, 7])));
        assert_eq!(sans.len(), 3);

        // Backdated by an hour for clock skew; lasts the requested days.
        let nb = x509.validity().not_before.timestamp();
        assert!((now_secs() - 3600 - nb).abs() < 60, "not_before {nb}");
        let na = x509.validity().not_after.timestamp();
        assert!((now_secs() + 365 * 86400 - na).abs() < 60, "not_after {na}");

        verify_chain(
            &ca,
            &issued.cert_pem,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
        )
        .unwrap();
        // Wrong IP is not covered by the SANs.
        assert!(
            verify_chain(
                &ca,
                &issued.cert_pem,
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 8))
            )
            .is_err()
        );
        // Not trusted by a different CA.
        let other = CertificateAuthority::generate("other").unwrap();
        assert!(
            verify_chain(
                &other,
                &issued.cert_pem,
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))
            )
            .is_err()
        );

        // Serials differ even for identical profiles.
        let again = ca.issue(&p).unwrap();
        let again_der = self::der(&again.cert_pem);
        let (_, x2) = x509_parser::parse_x509_certificate(&again_der).unwrap();
        assert_ne!(x509.serial, x2.serial);
    }

    #[test]
    fn client_only_profile_has_client_eku_only() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        let mut p = profile("admin");
        p.server = false;
        p.ip_addresses.clear();
        p.dns_names.clear();
        p.organizations = vec!["system:masters".into()];
        let issued = ca.issue(&p).unwrap();
        let der = der(&issued.cert_pem);
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(x509.subject_alternative_name().unwrap().is_none());
    }

    #[test]
    fn csr_flow_uses_csr_key_and_profile_identity() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        let (key_pem, csr_pem) = generate_key_and_csr("requested-name").unwrap();
        assert!(csr_pem.contains("CERTIFICATE REQUEST"));
        let cert_pem = ca.sign_csr(&csr_pem, &profile("node-9")).unwrap();

        let der = der(&cert_pem);
        // The CA decides the identity, not the requester.
        assert_eq!(certificate_common_name(&der).unwrap(), "node-9");
        // The certificate binds the node's own key.
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            x509.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        verify_chain(&ca, &cert_pem, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))).unwrap();
    }

    #[test]
    fn sign_csr_rejects_garbage_and_tampering() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        assert!(matches!(
            ca.sign_csr("not a csr", &profile("n")),
            Err(PkiError::InvalidCsr(_))
        ));
        let (_, csr_pem) = generate_key_and_csr("node").unwrap();
        let mut csr_der =
            rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
                .unwrap()
                .to_vec();
        let reencoded = |der: &[u8]| {
            format!(
                "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
                base64_lines(der)
            )
        };
        // The re-encoding itself is faithful...
        ca.sign_csr(&reencoded(&csr_der), &profile("n")).unwrap();
        // ...so flipping a bit in the signature (last byte) is what fails
        // the proof of possession.
        if let Some(last) = csr_der.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            ca.sign_csr(&reencoded(&csr_der), &profile("n")),
            Err(PkiError::InvalidCsr(
                rcgen::Error::InvalidCertificationRequestSignature
            ))
        ));
    }

    #[test]
    fn invalid_profiles_are_rejected() {
        let ca = CertificateAuthority::generate("prod").unwrap();
        let cases: Vec<fn(&mut CertificateProfile)> = vec![
            |p| p.common_name.clear(),
            |p| {
                p.server = false;
                p.client = false;
            },
            |p| p.validity_days = 0,
            |p| p.validity_days = u32::MAX,
            |p| p.organizations.push("second".into()),
            |p| p.dns_names.push("bad name é".into()),
        ];
        for mutate in cases {
            let mut p = profile("node");
            mutate(&mut p);
            let err = ca.issue(&p).unwrap_err();
            assert!(matches!(err, PkiError::InvalidProfile(_)), "{err}");
            assert!(!err.to_string().contains('\n'));
        }
        assert!(generate_key_and_csr("").is_err());
    }

    fn base64_lines(data: &[u8]) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out.as_bytes()
            .chunks(64)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
