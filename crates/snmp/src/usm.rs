//! The User-based Security Model's cryptography (RFC 3414, RFC 7860, RFC 3826, and the
//! AES-192/256 key-extension drafts): password-to-key, key localisation, HMAC
//! authentication with the RFC 7860 truncations, DES-CBC and AES-CFB128 privacy.
//!
//! Keys are [`SecretKey`]s: their `Debug` prints only their length, and no error of this
//! crate contains key or password bytes.
//!
//! AES-192 and AES-256 need more key bytes than MD5 or SHA-1 produce. Two extensions
//! exist and devices disagree:
//! - [`KeyExtension::Blumenthal`] (draft-blumenthal-aes-usm-04, net-snmp's `AES-192` /
//!   `AES-256`): append `H(key so far)` until long enough.
//! - [`KeyExtension::Reeder`] (draft-reeder-snmpv3-usm-3desede, Cisco's `aes 192` /
//!   `aes 256`, net-snmp's `AES-192-C` / `AES-256-C`): append
//!   `localize(password_to_key(key so far))` until long enough.

use std::fmt;
use std::str::FromStr;

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Digest;

/// Key material (Ku or Kul). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    pub fn new(bytes: Vec<u8>) -> SecretKey {
        SecretKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes redacted>)", self.0.len())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // Best effort: do not leave key bytes in freed memory.
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}

/// Authentication protocols (RFC 3414, RFC 7860).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

macro_rules! with_hash {
    ($proto:expr, $h:ident => $body:expr) => {
        match $proto {
            AuthProtocol::Md5 => {
                type $h = md5::Md5;
                $body
            }
            AuthProtocol::Sha1 => {
                type $h = sha1::Sha1;
                $body
            }
            AuthProtocol::Sha224 => {
                type $h = sha2::Sha224;
                $body
            }
            AuthProtocol::Sha256 => {
                type $h = sha2::Sha256;
                $body
            }
            AuthProtocol::Sha384 => {
                type $h = sha2::Sha384;
                $body
            }
            AuthProtocol::Sha512 => {
                type $h = sha2::Sha512;
                $body
            }
        }
    };
}

impl AuthProtocol {
    pub const ALL: [AuthProtocol; 6] = [
        AuthProtocol::Md5,
        AuthProtocol::Sha1,
        AuthProtocol::Sha224,
        AuthProtocol::Sha256,
        AuthProtocol::Sha384,
        AuthProtocol::Sha512,
    ];

    /// Length of msgAuthenticationParameters (the truncated HMAC).
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }

    /// The net-snmp name (`-a`).
    pub fn name(self) -> &'static str {
        match self {
            AuthProtocol::Md5 => "MD5",
            AuthProtocol::Sha1 => "SHA",
            AuthProtocol::Sha224 => "SHA-224",
            AuthProtocol::Sha256 => "SHA-256",
            AuthProtocol::Sha384 => "SHA-384",
            AuthProtocol::Sha512 => "SHA-512",
        }
    }

    fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        with_hash!(self, H => {
            let mut h = H::new();
            for part in parts {
                h.update(part);
            }
            h.finalize().to_vec()
        })
    }

    /// The truncated HMAC of `data` under the localized key `key`.
    pub fn mac(self, key: &SecretKey, data: &[u8]) -> Vec<u8> {
        self.mac_parts(key, &[data])
    }

    /// The truncated HMAC of the concatenation of `parts` (so a received message can be
    /// checked with its digest field zeroed without copying it).
    pub fn mac_parts(self, key: &SecretKey, parts: &[&[u8]]) -> Vec<u8> {
        let mut full = with_hash!(self, H => {
            match <Hmac<H> as KeyInit>::new_from_slice(key.as_bytes()) {
                Ok(mut mac) => {
                    for part in parts {
                        mac.update(part);
                    }
                    mac.finalize().into_bytes().to_vec()
                }
                // HMAC accepts keys of any length; unreachable in practice.
                Err(_) => Vec::new(),
            }
        });
        full.truncate(self.mac_len());
        full
    }

    /// Password to key (RFC 3414 A.2.1 / A.2.2, and RFC 7860 for SHA-2): the hash of
    /// 1 MiB of the password repeated.
    pub fn password_to_key(self, password: &[u8]) -> Result<SecretKey, KeyError> {
        if password.len() < 8 {
            return Err(KeyError::PasswordTooShort);
        }
        Ok(SecretKey(with_hash!(self, H => {
            let mut h = H::new();
            let mut block = [0u8; 64];
            let mut index = 0;
            for _ in 0..(1_048_576 / 64) {
                for b in block.iter_mut() {
                    *b = password[index];
                    index += 1;
                    if index == password.len() {
                        index = 0;
                    }
                }
                h.update(block);
            }
            h.finalize().to_vec()
        })))
    }

    /// Key localisation (RFC 3414 A.2): `H(Ku || engineID || Ku)`.
    pub fn localize(self, ku: &SecretKey, engine_id: &[u8]) -> SecretKey {
        SecretKey(self.hash(&[ku.as_bytes(), engine_id, ku.as_bytes()]))
    }
}

impl fmt::Display for AuthProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AuthProtocol {
    type Err = String;

    /// net-snmp's names, case-insensitive, with or without the dash.
    fn from_str(s: &str) -> Result<AuthProtocol, String> {
        let norm = s.to_ascii_uppercase().replace(['-', '_'], "");
        Ok(match norm.as_str() {
            "MD5" => AuthProtocol::Md5,
            "SHA" | "SHA1" => AuthProtocol::Sha1,
            "SHA224" => AuthProtocol::Sha224,
            "SHA256" => AuthProtocol::Sha256,
            "SHA384" => AuthProtocol::Sha384,
            "SHA512" => AuthProtocol::Sha512,
            _ => {
                return Err(format!("unknown authentication protocol `{s}` (MD5|SHA|SHA-224|SHA-256|SHA-384|SHA-512)"));
            }
        })
    }
}

/// How a short localized key is extended for AES-192/256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyExtension {
    Blumenthal,
    Reeder,
}

/// Privacy protocols (RFC 3414 DES, RFC 3826 AES-128, and the AES-192/256 drafts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
    /// AES-192 with the Reeder ("Cisco") key extension.
    Aes192C,
    /// AES-256 with the Reeder ("Cisco") key extension.
    Aes256C,
}

impl PrivProtocol {
    pub const ALL: [PrivProtocol; 6] = [
        PrivProtocol::Des,
        PrivProtocol::Aes128,
        PrivProtocol::Aes192,
        PrivProtocol::Aes256,
        PrivProtocol::Aes192C,
        PrivProtocol::Aes256C,
    ];

    /// Key bytes the cipher needs (DES: 8 key + 8 pre-IV).
    pub fn key_len(self) -> usize {
        match self {
            PrivProtocol::Des | PrivProtocol::Aes128 => 16,
            PrivProtocol::Aes192 | PrivProtocol::Aes192C => 24,
            PrivProtocol::Aes256 | PrivProtocol::Aes256C => 32,
        }
    }

    pub fn extension(self) -> KeyExtension {
        match self {
            PrivProtocol::Aes192C | PrivProtocol::Aes256C => KeyExtension::Reeder,
            _ => KeyExtension::Blumenthal,
        }
    }

    /// The net-snmp name (`-x`).
    pub fn name(self) -> &'static str {
        match self {
            PrivProtocol::Des => "DES",
            PrivProtocol::Aes128 => "AES",
            PrivProtocol::Aes192 => "AES-192",
            PrivProtocol::Aes256 => "AES-256",
            PrivProtocol::Aes192C => "AES-192-C",
            PrivProtocol::Aes256C => "AES-256-C",
        }
    }

    /// The localized privacy key: the password's Ku (hashed with the user's
    /// authentication protocol) localized to `engine_id`, extended if too short, cut
    /// to [`PrivProtocol::key_len`].
    pub fn localize(self, auth: AuthProtocol, ku: &SecretKey, engine_id: &[u8]) -> Result<SecretKey, KeyError> {
        let need = self.key_len();
        let mut key = auth.localize(ku, engine_id).0.clone();
        while key.len() < need {
            let more = match self.extension() {
                KeyExtension::Blumenthal => auth.hash(&[&key]),
                KeyExtension::Reeder => {
                    let ku2 = auth.password_to_key(&key)?;
                    auth.localize(&ku2, engine_id).0.clone()
                }
            };
            key.extend_from_slice(&more);
        }
        key.truncate(need);
        Ok(SecretKey(key))
    }

    /// Length of msgPrivacyParameters (the salt).
    pub const SALT_LEN: usize = 8;

    /// Encrypts a scoped PDU. `salt` is the 64-bit per-message value (DES uses its low 32
    /// bits with the engine boots as the high half, per RFC 3414 8.1.1.1). Returns the
    /// ciphertext and msgPrivacyParameters.
    pub fn encrypt(
        self,
        key: &SecretKey,
        boots: u32,
        time: u32,
        salt: u64,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, [u8; 8]), KeyError> {
        let k = key.as_bytes();
        if k.len() < self.key_len() {
            return Err(KeyError::KeyTooShort);
        }
        match self {
            PrivProtocol::Des => {
                let mut params = [0u8; 8];
                params[..4].copy_from_slice(&boots.to_be_bytes());
                params[4..].copy_from_slice(&(salt as u32).to_be_bytes());
                let mut iv = [0u8; 8];
                for i in 0..8 {
                    iv[i] = k[8 + i] ^ params[i];
                }
                let cipher = des::Des::new_from_slice(&k[..8]).map_err(|_| KeyError::KeyTooShort)?;
                let mut data = plaintext.to_vec();
                data.resize(plaintext.len().div_ceil(8) * 8, 0);
                let mut prev = iv;
                for chunk in data.chunks_exact_mut(8) {
                    let mut block = des::cipher::Block::<des::Des>::default();
                    for i in 0..8 {
                        block[i] = chunk[i] ^ prev[i];
                    }
                    cipher.encrypt_block(&mut block);
                    chunk.copy_from_slice(&block);
                    prev.copy_from_slice(&block);
                }
                Ok((data, params))
            }
            _ => {
                let params = salt.to_be_bytes();
                let iv = aes_iv(boots, time, &params);
                let mut data = plaintext.to_vec();
                Aes::new(self, k)?.cfb(iv, &mut data, true);
                Ok((data, params))
            }
        }
    }

    /// Decrypts msgData with the sender's boots/time and msgPrivacyParameters.
    pub fn decrypt(
        self,
        key: &SecretKey,
        boots: u32,
        time: u32,
        priv_params: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let k = key.as_bytes();
        if k.len() < self.key_len() {
            return Err(KeyError::KeyTooShort);
        }
        let params: [u8; 8] = priv_params.try_into().map_err(|_| KeyError::BadPrivParams)?;
        match self {
            PrivProtocol::Des => {
                if !ciphertext.len().is_multiple_of(8) {
                    return Err(KeyError::BadCiphertext);
                }
                let mut prev = [0u8; 8];
                for i in 0..8 {
                    prev[i] = k[8 + i] ^ params[i];
                }
                let cipher = des::Des::new_from_slice(&k[..8]).map_err(|_| KeyError::KeyTooShort)?;
                let mut data = ciphertext.to_vec();
                for chunk in data.chunks_exact_mut(8) {
                    let mut block = des::cipher::Block::<des::Des>::default();
                    block.copy_from_slice(chunk);
                    let saved: [u8; 8] = block.into();
                    cipher.decrypt_block(&mut block);
                    for i in 0..8 {
                        chunk[i] = block[i] ^ prev[i];
                    }
                    prev = saved;
                }
                Ok(data)
            }
            _ => {
                let iv = aes_iv(boots, time, &params);
                let mut data = ciphertext.to_vec();
                Aes::new(self, k)?.cfb(iv, &mut data, false);
                Ok(data)
            }
        }
    }
}

fn aes_iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl Aes {
    fn new(proto: PrivProtocol, key: &[u8]) -> Result<Aes, KeyError> {
        let key = &key[..proto.key_len()];
        let bad = |_| KeyError::KeyTooShort;
        Ok(match proto.key_len() {
            16 => Aes::A128(aes::Aes128::new_from_slice(key).map_err(bad)?),
            24 => Aes::A192(aes::Aes192::new_from_slice(key).map_err(bad)?),
            _ => Aes::A256(aes::Aes256::new_from_slice(key).map_err(bad)?),
        })
    }

    fn encrypt_block(&self, block: &mut aes::Block) {
        match self {
            Aes::A128(c) => c.encrypt_block(block),
            Aes::A192(c) => c.encrypt_block(block),
            Aes::A256(c) => c.encrypt_block(block),
        }
    }

    /// CFB128 (RFC 3826 3.1.3): the feedback register is the previous ciphertext block.
    fn cfb(&self, iv: [u8; 16], data: &mut [u8], encrypt: bool) {
        let mut register = aes::Block::from(iv);
        for chunk in data.chunks_mut(16) {
            let mut keystream = register;
            self.encrypt_block(&mut keystream);
            let mut next = aes::Block::default();
            for (i, byte) in chunk.iter_mut().enumerate() {
                let cipher_byte = if encrypt { *byte ^ keystream[i] } else { *byte };
                *byte ^= keystream[i];
                next[i] = cipher_byte;
            }
            register = next;
        }
    }
}

impl fmt::Display for PrivProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrivProtocol {
    type Err = String;

    /// net-snmp's names (`DES`, `AES`, `AES-128`, `AES-192`, `AES-256`), and `AES-192-C`
    /// / `AES192C` / `AES-256-C` / `AES256C` for the Reeder ("Cisco") variants.
    fn from_str(s: &str) -> Result<PrivProtocol, String> {
        let norm = s.to_ascii_uppercase().replace(['-', '_'], "");
        Ok(match norm.as_str() {
            "DES" => PrivProtocol::Des,
            "AES" | "AES128" => PrivProtocol::Aes128,
            "AES192" => PrivProtocol::Aes192,
            "AES256" => PrivProtocol::Aes256,
            "AES192C" => PrivProtocol::Aes192C,
            "AES256C" => PrivProtocol::Aes256C,
            _ => {
                return Err(format!("unknown privacy protocol `{s}` (DES|AES|AES-192|AES-256|AES-192-C|AES-256-C)"));
            }
        })
    }
}

/// Key set-up and cipher failures. None carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// RFC 3414 requires at least 8 characters; net-snmp agents refuse shorter ones.
    PasswordTooShort,
    KeyTooShort,
    /// msgPrivacyParameters is not 8 bytes.
    BadPrivParams,
    /// DES ciphertext not a multiple of 8 bytes.
    BadCiphertext,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::PasswordTooShort => "pass phrase shorter than 8 characters (RFC 3414 requires at least 8)",
            KeyError::KeyTooShort => "localized key too short for the privacy protocol",
            KeyError::BadPrivParams => "privacy parameters are not 8 bytes",
            KeyError::BadCiphertext => "encrypted data is not a multiple of the cipher block",
        })
    }
}

impl std::error::Error for KeyError {}

/// Constant-time comparison of two digests.
pub fn digest_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
