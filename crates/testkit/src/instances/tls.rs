//! A throwaway certificate authority for one TLS test server.
//!
//! Each instance makes its own CA, so no test trusts anything outside its
//! temporary directory and nothing has to be installed on the machine. The
//! CA signs a server certificate for `127.0.0.1` and `localhost` and a client
//! certificate, so a test can do mutual TLS as well as plain server-verified
//! TLS.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM files in the instance's directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Writes a fresh CA and the server and client certificates it signs into `dir`.
    pub fn generate(dir: &Path) -> Self {
        let files = Self {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
        };

        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "clicks test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("a CA key"))
            .expect("a self-signed CA certificate");
        write(&files.ca_cert, &ca.pem());

        let (cert, key) = leaf(
            &ca,
            "127.0.0.1",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        write(&files.server_cert, &cert);
        write(&files.server_key, &key);

        let (cert, key) = leaf(
            &ca,
            "clicks test client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        write(&files.client_cert, &cert);
        write(&files.client_key, &key);

        files
    }
}

/// A certificate signed by `ca` and its key, both PEM.
fn leaf(
    ca: &Issuer<'_, KeyPair>,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("valid subject alternative names");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("a certificate key");
    let cert = params
        .signed_by(&key, ca)
        .expect("a certificate signed by the test CA");
    (cert.pem(), key.serialize_pem())
}

fn write(path: &Path, pem: &str) {
    std::fs::write(path, pem)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}
