//! What request-based sinks share, so each sink only says how to encode and where to send:
//! batching, splitting what is too large, retries with backoff, and acknowledgements
//! ([`request`]); the HTTP sinks' common keys, client and service, and how an answer is
//! read ([`http`]); persistent TCP/TLS connections that reconnect on their own terms
//! ([`tcp`]); JSON written straight into a buffer ([`json`]).

pub mod http;
pub mod json;
pub mod request;
pub mod retry;
pub mod tcp;
