"""A signing identity for a fake provider's PayPal deliveries: an RSA key, a certificate for
PayPal's signing name, and the throwaway root that issued it (the trust anchor a system under
test is given, since a certificate is trusted only through its issuer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SUBJECT", "SigningIdentity", "load_key", "signing_identity"]

#: the name on PayPal's message-signing certificate, which a verifier checks
SUBJECT = "messageverificationcerts.paypal.com"


@dataclass(frozen=True)
class SigningIdentity:
    key: Path  #: the private key (mode 0600)
    cert: Path  #: the signing certificate, what the fake serves at its certificate URL
    root: Path  #: the root that issued it: the system's trust anchor

    def root_pem(self) -> str:
        return self.root.read_text()


def signing_identity(directory: Path, subject: str = SUBJECT) -> SigningIdentity:
    """Write ``paypal-key.pem``, ``paypal-cert.pem`` and ``paypal-root.pem`` (valid from
    yesterday for 30 days) into ``directory``."""
    start = datetime.now(UTC) - timedelta(days=1)
    end = start + timedelta(days=30)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chaosgate fake root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    identity = SigningIdentity(
        directory / "paypal-key.pem", directory / "paypal-cert.pem", directory / "paypal-root.pem"
    )
    identity.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    identity.key.chmod(0o600)
    identity.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    identity.root.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return identity


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key
