//! Constants both sides of the crate need (adapters, documents, configuration), kept in a leaf
//! so that nobody climbs to import them.

/// Where the REST API is mounted.
pub const API_PREFIX: &str = "/api/v1";

/// Google's JSON Web Key Set, the default for `CLARA_GOOGLE_JWKS_URL`.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Largest JSON body the REST API reads.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// Default for `CLARA_MAX_UPLOAD_BYTES`: the largest multipart body (all files together).
pub const UPLOAD_LIMIT: usize = 50 * 1024 * 1024;

/// The MCP tool groups (`CLARA_TOOLSETS`, `X-MCP-Toolsets`).
pub const TOOLSETS: [&str; 7] = [
    "auth", "users", "api_keys", "credits", "billing", "agent", "misc",
];
