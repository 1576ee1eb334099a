//! Any KeyGen2 message: dispatch on `@qualifier`, strict parse, write.

use crate::messages::*;
use serde::{Deserialize, Serialize};

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object with `@context` and `@qualifier`.
    #[error("not a KeyGen2 message: {0}")]
    NotKeyGen2(String),
    /// `@qualifier` names no KeyGen2 message.
    #[error("unknown @qualifier \"{0}\"")]
    UnknownQualifier(String),
    /// The message named by its qualifier is malformed (serde's precise reason, with line and
    /// column).
    #[error("{qualifier}: {reason}")]
    Invalid {
        qualifier: &'static str,
        reason: String,
    },
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Message {
    InvocationRequest(InvocationRequest),
    InvocationResponse(InvocationResponse),
    ProvisioningInitializationRequest(ProvisioningInitializationRequest),
    ProvisioningInitializationResponse(ProvisioningInitializationResponse),
    CredentialDiscoveryRequest(CredentialDiscoveryRequest),
    CredentialDiscoveryResponse(CredentialDiscoveryResponse),
    KeyCreationRequest(KeyCreationRequest),
    KeyCreationResponse(KeyCreationResponse),
    ProvisioningFinalizationRequest(ProvisioningFinalizationRequest),
    ProvisioningFinalizationResponse(ProvisioningFinalizationResponse),
}

#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "@qualifier")]
    qualifier: String,
}

fn strict<'a, T: Deserialize<'a>>(qualifier: &'static str, text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::Invalid {
        qualifier,
        reason: e.to_string(),
    })
}

fn checked(qualifier: &'static str, r: Result<(), String>) -> Result<(), ParseError> {
    r.map_err(|reason| ParseError::Invalid { qualifier, reason })
}

impl Message {
    /// Parses any message.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let peek: Peek =
            serde_json::from_str(text).map_err(|e| ParseError::NotKeyGen2(e.to_string()))?;
        let m = match peek.qualifier.as_str() {
            InvocationRequestQ::NAME => {
                Message::InvocationRequest(strict(InvocationRequestQ::NAME, text)?)
            }
            InvocationResponseQ::NAME => {
                let m: InvocationResponse = strict(InvocationResponseQ::NAME, text)?;
                checked(InvocationResponseQ::NAME, check_capabilities(&m))?;
                Message::InvocationResponse(m)
            }
            ProvisioningInitializationRequestQ::NAME => Message::ProvisioningInitializationRequest(
                strict(ProvisioningInitializationRequestQ::NAME, text)?,
            ),
            ProvisioningInitializationResponseQ::NAME => {
                Message::ProvisioningInitializationResponse(strict(
                    ProvisioningInitializationResponseQ::NAME,
                    text,
                )?)
            }
            CredentialDiscoveryRequestQ::NAME => Message::CredentialDiscoveryRequest(strict(
                CredentialDiscoveryRequestQ::NAME,
                text,
            )?),
            CredentialDiscoveryResponseQ::NAME => Message::CredentialDiscoveryResponse(strict(
                CredentialDiscoveryResponseQ::NAME,
                text,
            )?),
            KeyCreationRequestQ::NAME => {
                let m: KeyCreationRequest = strict(KeyCreationRequestQ::NAME, text)?;
                checked(KeyCreationRequestQ::NAME, m.check())?;
                Message::KeyCreationRequest(m)
            }
            KeyCreationResponseQ::NAME => {
                Message::KeyCreationResponse(strict(KeyCreationResponseQ::NAME, text)?)
            }
            ProvisioningFinalizationRequestQ::NAME => {
                let m: ProvisioningFinalizationRequest =
                    strict(ProvisioningFinalizationRequestQ::NAME, text)?;
                checked(ProvisioningFinalizationRequestQ::NAME, m.check())?;
                Message::ProvisioningFinalizationRequest(m)
            }
            ProvisioningFinalizationResponseQ::NAME => Message::ProvisioningFinalizationResponse(
                strict(ProvisioningFinalizationResponseQ::NAME, text)?,
            ),
            other => return Err(ParseError::UnknownQualifier(other.to_string())),
        };
        Ok(m)
    }

    /// The `@qualifier`.
    pub fn qualifier(&self) -> &'static str {
        match self {
            Message::InvocationRequest(_) => InvocationRequestQ::NAME,
            Message::InvocationResponse(_) => InvocationResponseQ::NAME,
            Message::ProvisioningInitializationRequest(_) => {
                ProvisioningInitializationRequestQ::NAME
            }
            Message::ProvisioningInitializationResponse(_) => {
                ProvisioningInitializationResponseQ::NAME
            }
            Message::CredentialDiscoveryRequest(_) => CredentialDiscoveryRequestQ::NAME,
            Message::CredentialDiscoveryResponse(_) => CredentialDiscoveryResponseQ::NAME,
            Message::KeyCreationRequest(_) => KeyCreationRequestQ::NAME,
            Message::KeyCreationResponse(_) => KeyCreationResponseQ::NAME,
            Message::ProvisioningFinalizationRequest(_) => ProvisioningFinalizationRequestQ::NAME,
            Message::ProvisioningFinalizationResponse(_) => ProvisioningFinalizationResponseQ::NAME,
        }
    }

    /// The message as compact JSON, properties in the reference's order.
    pub fn to_json(&self) -> String {
        fn w<T: Serialize>(m: &T) -> String {
            // Only strings, integers, booleans, arrays and objects: cannot fail.
            serde_json::to_string(m).unwrap_or_default()
        }
        match self {
            Message::InvocationRequest(m) => w(m),
            Message::InvocationResponse(m) => w(m),
            Message::ProvisioningInitializationRequest(m) => w(m),
            Message::ProvisioningInitializationResponse(m) => w(m),
            Message::CredentialDiscoveryRequest(m) => w(m),
            Message::CredentialDiscoveryResponse(m) => w(m),
            Message::KeyCreationRequest(m) => w(m),
            Message::KeyCreationResponse(m) => w(m),
            Message::ProvisioningFinalizationRequest(m) => w(m),
            Message::ProvisioningFinalizationResponse(m) => w(m),
        }
    }

    /// Whether this is an issuer → proxy request.
    pub fn is_request(&self) -> bool {
        self.qualifier().ends_with("Request")
    }
}

fn check_capabilities(m: &InvocationResponse) -> Result<(), String> {
    for c in each(&m.client_capabilities) {
        let kinds = usize::from(c.supported.is_some())
            + usize::from(c.values.is_some())
            + usize::from(c.image_attributes.is_some());
        if kinds != 1 {
            return Err(format!(
                "capability {}: exactly one of supported, values, imageAttributes expected",
                c.type_
            ));
        }
    }
    Ok(())
}

macro_rules! into_message {
    ($($t:ident),*) => {$(
        impl From<$t> for Message {
            fn from(m: $t) -> Self {
                Message::$t(m)
            }
        }
    )*};
}

into_message!(
    InvocationRequest,
    InvocationResponse,
    ProvisioningInitializationRequest,
    ProvisioningInitializationResponse,
    CredentialDiscoveryRequest,
    CredentialDiscoveryResponse,
    KeyCreationRequest,
    KeyCreationResponse,
    ProvisioningFinalizationRequest,
    ProvisioningFinalizationResponse
);
