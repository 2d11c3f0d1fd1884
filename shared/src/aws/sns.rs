//! Text messages through Amazon SNS: one `Publish` to a phone number, as a
//! transactional SMS (delivered ahead of promotional traffic, and not
//! dropped for cost), with an optional sender id where the country allows
//! one.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::domain::customer::PhoneNumber;
use crate::domain::notification::{Device, DeviceToken};
use crate::ports::{Notifications, NotifyError, NotifyFuture, TextError, TextFuture, TextMessages};

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

/// Notifications through SNS: SMS with [`SnsTexts`] (the same `Publish`),
/// and mobile pushes to platform endpoints of the platform application
/// `PUSH_PLATFORM_APPLICATION_ARN` (FCM or APNs credentials live there,
/// not here): `CreatePlatformEndpoint` registers a device's token (SNS
/// answers the same ARN for the same token), `Publish` with `TargetArn`
/// pushes to it.
#[derive(Debug, Clone)]
pub struct SnsNotifications {
    texts: SnsTexts,
    platform_application_arn: Option<String>,
}

impl SnsNotifications {
    /// Without a platform application, registering a device fails (and
    /// the HTTP answer says pushes are not available).
    #[must_use]
    pub fn new(texts: SnsTexts, platform_application_arn: Option<String>) -> Self {
        SnsNotifications {
            texts,
            platform_application_arn: platform_application_arn.filter(|arn| !arn.is_empty()),
        }
    }
}

fn notify_error(e: impl std::error::Error + Send + Sync + 'static) -> NotifyError {
    NotifyError(Box::new(e))
}

impl Notifications for SnsNotifications {
    fn send_sms<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> NotifyFuture<'a, ()> {
        Box::pin(async move {
            self.texts
                .send_text(to, text)
                .await
                .map_err(|e| NotifyError(Box::new(e)))
        })
    }

    fn register_device<'a>(&'a self, token: &'a DeviceToken) -> NotifyFuture<'a, Device> {
        Box::pin(async move {
            let application = self
                .platform_application_arn
                .as_deref()
                .ok_or_else(|| NotifyError("no push platform application is configured".into()))?;
            let created = self
                .texts
                .client
                .create_platform_endpoint()
                .platform_application_arn(application)
                .token(token.as_str())
                .send()
                .await
                .map_err(notify_error)?;
            let endpoint = created
                .endpoint_arn
                .ok_or_else(|| NotifyError("SNS returned no endpoint ARN".into()))?;
            Ok(Device { endpoint })
        })
    }

    fn push_to_device<'a>(&'a self, device: &'a Device, payload: &'a str) -> NotifyFuture<'a, ()> {
        Box::pin(async move {
            self.texts
                .client
                .publish()
                .target_arn(&device.endpoint)
                .message(payload)
                .send()
                .await
                .map_err(notify_error)?;
            Ok(())
        })
    }
}
