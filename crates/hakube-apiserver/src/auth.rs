//! Who is asking: the user of a request, from the client certificate the TLS layer verified
//! against the cluster CA (common name = user, organizations = groups). Requests without one
//! are anonymous and get 401, as on a cluster with anonymous auth off.

/// The verified client certificate of a connection, placed in each request's extensions by
/// the TLS server (absent fields: no certificate).
#[derive(Clone, Debug, Default)]
pub struct ClientCertificate {
    pub common_name: Option<String>,
    pub organizations: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// The user of a request, or `None` when it is anonymous.
pub fn authenticate(certificate: Option<&ClientCertificate>) -> Option<User> {
    let certificate = certificate?;
    let name = certificate.common_name.clone()?;
    let mut groups = certificate.organizations.clone();
    groups.push("system:authenticated".into());
    Some(User { name, groups })
}
