//! The authorization endpoint's logic (RFC 6749 §3.1, §4.1, §4.2; RFC 7636; RFC 9207),
//! as public functions over which the HTTP handlers are thin. One module per step:
//!
//! * [`request`]: the parameters and their validation. The client and
//!   `redirect_uri` come first: if either is bad the answer is [`Refusal::Page`]
//!   and the browser is **not** redirected (§4.1.2.1). Later errors redirect with
//!   `error`, `state` and `iss`.
//! * [`begin`](begin()): a validated request either answers at once or is stored
//!   as an interaction bound to the browser by a secret for its cookie.
//! * [`interaction`]: the stored, pending request and who decides it (Tessera's
//!   pages or the external login application).
//! * [`resume`]: [`resume_with_login`] records the subject a login named,
//!   [`resume_with_consent`] applies the user's decision.
//! * [`external`]: the external login application drives the same steps.
//! * [`consent`]: whether a grant needs asking, and remembering the answer.
//! * [`answer`]: the front-channel answer — a code, or for `response_type=token`
//!   a token in the fragment — delivered to the client's `redirect_uri`.

mod answer;
mod begin;
mod consent;
mod external;
mod interaction;
mod request;
mod resume;

pub use begin::begin;
pub(crate) use consent::needs_consent;
pub use external::{Continued, NewBrowserSession, continue_external};
pub(crate) use interaction::save;
pub use interaction::{
    Interaction, Pending, application_for, application_of, application_with_home_page,
    begin_external_login, bind, lookup, pages_decide,
};
pub use request::{
    AuthorizationRequest, External, ExternalConsent, ExternalLogin, ExternalRejection,
    MAX_ECHOED_CHARS, PROMPT_VALUES, registration,
};
pub use resume::{resume_with_consent, resume_with_login};

use crate::error::Error;
use crate::oauth::authorization_response::Delivery;
use crate::oauth::error::OAuthError;

/// The user of the browser's live session and when they authenticated.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The user's row id.
    pub user_id: i64,
    /// The user's subject (to compare with an `id_token_hint`).
    pub subject: String,
    /// When they authenticated.
    pub at: entity::Timestamp,
    /// Who signed the session in ([`LoginAuthority::session_key`]): it counts only
    /// where that authority decides.
    pub authority: String,
}

/// Where the browser goes next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Leave for this page of the tenant.
    Redirect(String),
    /// Deliver the answer to the client.
    Answer(Delivery),
    /// Show the login page of interaction `key`.
    Login {
        /// The interaction's key.
        key: String,
    },
    /// Send the browser to the external login and consent application (the
    /// client's, else the tenant's) with interaction `key`.
    External {
        /// The interaction's key.
        key: String,
        /// The application's URL.
        login_url: String,
    },
    /// Show the sign-up page of interaction `key` (Prompt Create 1.0).
    SignUp {
        /// The interaction's key.
        key: String,
    },
    /// Show the consent page of interaction `key`.
    Consent {
        /// The interaction's key.
        key: String,
    },
}

/// What [`begin`] decided; `secret` is set when it stored an interaction, for the
/// cookie that binds it to this browser.
#[derive(Debug)]
pub struct Begun {
    /// Next step.
    pub step: Step,
    /// The interaction's browser secret, for its cookie.
    pub secret: Option<String>,
}

/// Why an authorization request got no code.
#[derive(Debug)]
pub enum Refusal {
    /// The client or the redirect URI cannot be trusted: show this on a page and
    /// never redirect (RFC 6749 §4.1.2.1).
    Page {
        /// One-line title.
        title: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// Send the browser back to the client with this error.
    Answer(Delivery),
    /// An external login application decides this sign-in: Tessera's pages do not
    /// (a 403 page; nothing changes).
    Elsewhere,
    /// A database or another part failed.
    Failed(OAuthError),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Refusal::Failed(error.into())
    }
}

pub(super) fn page(title: &str, message: impl Into<String>) -> Refusal {
    Refusal::Page {
        title: title.to_owned(),
        message: message.into(),
    }
}
