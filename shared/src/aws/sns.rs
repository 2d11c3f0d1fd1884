//! Text messages through Amazon SNS: one `Publish` to a phone number, as a
//! transactional SMS (delivered ahead of promotional traffic, and not
//! dropped for cost), with an optional sender id where the country allows
//! one.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::domain::customer::PhoneNumber;
use crate::ports::{TextError, TextFuture, TextMessages};

/// Sends texts with SNS `Publish` (`PhoneNumber`).
#[derive(Debug, Clone)]
pub struct SnsTexts {
    client: Client,
    sender_id: Option<String>,
}

impl SnsTexts {
    /// `sender_id`: the name shown as the sender (`SMS_SENDER_ID`), where
    /// the destination country supports one.
    #[must_use]
    pub fn new(sdk: &aws_config::SdkConfig, sender_id: Option<String>) -> Self {
        SnsTexts {
            client: Client::new(sdk),
            sender_id: sender_id.filter(|id| !id.is_empty()),
        }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, TextError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| TextError(Box::new(e)))
}

impl TextMessages for SnsTexts {
    fn send_text<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> TextFuture<'a> {
        Box::pin(async move {
            let mut publish = self
                .client
                .publish()
                .phone_number(to.as_e164())
                .message(text)
                .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
            if let Some(sender) = &self.sender_id {
                publish = publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender)?);
            }
            publish.send().await.map_err(|e| TextError(Box::new(e)))?;
            Ok(())
        })
    }
}
