//! Signing in with a phone number: codes by SMS, sessions of an access
//! token and a rotating refresh token, guests who verify a number, and
//! signing out. The rules are `domain::sign_in`'s; this module reads,
//! decides and writes by version.

use tracing::{error, info, warn};

use super::{MAX_WRITE_ATTEMPTS, Unavailable, count_in_window, kept_changing, unavailable_from_ports};
use crate::auth::{TOKEN_LIFETIME_S, TokenIssuer};
use crate::domain::account::{Account, Role};
use crate::domain::clock::Millis;
use crate::domain::customer::PhoneNumber;
use crate::domain::ids::{Caller, CustomerId};
use crate::domain::limits::{LimitReached, Rate};
use crate::domain::sign_in::{
    CODE_LIFETIME_MS, CodeHasher, CodeRefused, OneTimeCode, RandomUnavailable, RefreshFamily, RefreshRefused,
    RefreshToken, SessionCutoff, SignInLimits,
};
use crate::ports::{AccountRepo, CustomerRepo, LimitRepo, SignInRepo, StoreRepo, TextMessages};

/// Phone sign-in and sessions.
pub struct SignIn<'a, R> {
    pub(super) repo: &'a R,
    pub(super) issuer: Option<&'a TokenIssuer>,
    pub(super) texts: &'a dyn TextMessages,
    pub(super) hasher: &'a CodeHasher,
    pub(super) now: Millis,
}

/// A signed-in session as the client gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub caller: Caller,
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    pub refresh_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong, expired, used, dead or never sent: one answer for all.
    #[error("the code is not valid")]
    CodeInvalid,
    /// The verified number does not hold the role asked for.
    #[error("this number may not sign in as that role")]
    RoleNotHeld,
    /// A guest's upgrade to a number that already has a customer.
    #[error("this number already has an account")]
    PhoneHasAccount,
    /// The customer already verified another number.
    #[error("this customer already has a verified number")]
    AlreadyVerified,
    /// Too many codes or attempts for this number or source address.
    #[error(transparent)]
    Limited(LimitReached),
    /// This process signs no tokens.
    #[error("this deployment issues no tokens")]
    NoIssuer,
    #[error("could not sign a token: {0}")]
    Signing(String),
    /// The SMS provider did not take the text.
    #[error("the code could not be sent")]
    NotSent,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(SignInError);

impl From<RandomUnavailable> for SignInError {
    fn from(e: RandomUnavailable) -> Self {
        SignInError::Signing(e.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked or reused: one answer for all.
    #[error("the refresh token is not valid")]
    Invalid,
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

unavailable_from_ports!(RefreshError);

/// The text that carries a code.
#[must_use]
pub fn code_text(code: &OneTimeCode) -> String {
    format!(
        "Your sign-in code is {}. It expires in {} minutes. Never share it: we will never ask for it.",
        code.as_str(),
        CODE_LIFETIME_MS / 60_000
    )
}

impl<R: SignInRepo + AccountRepo + CustomerRepo + StoreRepo + LimitRepo> SignIn<'_, R> {
    /// Sends a fresh code to `phone`, within the limits per number and per
    /// source address. Answers the same whether or not the number has an
    /// account: the code's lifetime in seconds.
    pub async fn request_code(&self, phone: &PhoneNumber, address: &str) -> Result<i64, SignInError> {
        let limits = SignInLimits::default();
        self.count(
            &format!("SEND#ADDRESS#{address}"),
            limits.sends_per_address,
            |retry_after_ms| LimitReached::SignInCodes { retry_after_ms },
        )
        .await?;
        let code = OneTimeCode::generate()?;
        let pending = self.hasher.pending(phone, &code, self.now)?;
        let mut written = false;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let record = self.repo.code_record(phone).await?;
            let next = record
                .value
                .send(pending.clone(), self.now, limits)
                .map_err(SignInError::Limited)?;
            let forget = next.forget_after_ms(self.now, limits);
            if self
                .repo
                .replace_code_record(phone, record.version, &next, forget)
                .await?
            {
                written = true;
                break;
            }
        }
        if !written {
            return Err(kept_changing().into());
        }
        if let Err(e) = self.texts.send_text(phone, &code_text(&code)).await {
            error!(error = %e, to = %phone.masked(), "sign-in code not sent");
            return Err(SignInError::NotSent);
        }
        info!(to = %phone.masked(), "sign-in code sent");
        Ok(CODE_LIFETIME_MS / 1000)
    }

    /// Signs `phone` in as `role` with the code it was sent. A customer
    /// signing in for the first time gets a new customer; a store or an
    /// operator signs in only if the number holds that role (the refusal
    /// comes after the code was checked, so only the number's owner learns
    /// it).
    pub async fn sign_in(
        &self,
        phone: &PhoneNumber,
        code: &str,
        role: Role,
        address: &str,
    ) -> Result<Session, SignInError> {
        self.verify(phone, code, address).await?;
        let caller = match role {
            Role::Customer => Caller::Customer(self.customer_of(phone).await?),
            Role::Store | Role::Operator => self
                .repo
                .account(phone)
                .await?
                .value
                .caller(role)
                .ok_or(SignInError::RoleNotHeld)?,
        };
        if !self.may_still_sign_in(&caller).await? {
            return Err(SignInError::RoleNotHeld);
        }
        info!(caller = %caller.key(), role = ?role, "signed in");
        self.start_session(caller, Some(role)).await
    }

    /// A guest verifies `phone`: if the number has no customer yet, the
    /// guest becomes its customer (same id, so orders, home and history
    /// stay). A number that already has another customer is refused
    /// ([`SignInError::PhoneHasAccount`]: sign in to it instead).
    pub async fn verify_phone(
        &self,
        customer: &CustomerId,
        phone: &PhoneNumber,
        code: &str,
        address: &str,
    ) -> Result<Session, SignInError> {
        if let Some(verified) = self.repo.phone_of(customer).await?
            && &verified != phone
        {
            return Err(SignInError::AlreadyVerified);
        }
        self.verify(phone, code, address).await?;
        let mut linked = false;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let account = self.repo.account(phone).await?;
            match &account.value.customer {
                Some(holder) if holder == customer => {
                    linked = true;
                    break;
                }
                Some(_) => return Err(SignInError::PhoneHasAccount),
                None => {}
            }
            let next = Account {
                customer: Some(customer.clone()),
                ..account.value.clone()
            };
            if self.repo.replace_account(phone, account.version, &next).await? {
                info!(customer = %customer, "guest verified a number");
                linked = true;
                break;
            }
        }
        if !linked {
            return Err(kept_changing().into());
        }
        // The verified number is the customer's number from now on: stores
        // that win their orders see it, and guest limits no longer apply.
        self.repo.set_phone(customer, phone).await?;
        self.start_session(Caller::Customer(customer.clone()), Some(Role::Customer))
            .await
    }

    /// A session for a new guest (no number).
    pub async fn guest_session(&self, customer: &CustomerId) -> Result<Session, SignInError> {
        self.start_session(Caller::Customer(customer.clone()), None).await
    }

    /// Exchanges a refresh token for a new access token and a new refresh
    /// token. A token that was already exchanged revokes its whole family.
    pub async fn refresh(&self, raw: &str) -> Result<Session, RefreshError> {
        let presented = RefreshToken::parse(raw).map_err(|_| RefreshError::Invalid)?;
        let next = presented.next().map_err(SignInError::from)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let read = self.repo.refresh_family(presented.family()).await?;
            let Some(family) = read.value else {
                return Err(RefreshError::Invalid);
            };
            let cutoff = self.repo.session_cutoff(&family.caller).await?.value.before_ms;
            match family.rotate(&presented, &next, self.now, cutoff) {
                Ok(rotated) => {
                    if !self.may_still_sign_in(&rotated.caller).await? {
                        self.write_family(presented.family(), read.version, &rotated.revoke())
                            .await?;
                        return Err(RefreshError::Invalid);
                    }
                    if self
                        .repo
                        .replace_refresh_family(presented.family(), read.version, &rotated)
                        .await?
                    {
                        let access_token = self.access_token(&rotated.caller)?;
                        return Ok(Session {
                            caller: rotated.caller,
                            access_token,
                            expires_in: TOKEN_LIFETIME_S,
                            refresh_token: next.expose(),
                        });
                    }
                }
                Err((RefreshRefused::Reused, Some(revoked))) => {
                    warn!(caller = %revoked.caller.key(), "a used refresh token came back: its family is revoked");
                    self.write_family(presented.family(), read.version, &revoked).await?;
                    return Err(RefreshError::Invalid);
                }
                Err(_) => return Err(RefreshError::Invalid),
            }
        }
        Err(kept_changing().into())
    }

    /// Signs out: the refresh token's family is revoked; `everywhere` also
    /// ends every other session of its caller (a lost phone). Signing out
    /// again with the same token answers the same. Access tokens already
    /// issued live out their few minutes.
    pub async fn sign_out(&self, raw: &str, everywhere: bool) -> Result<(), RefreshError> {
        let presented = RefreshToken::parse(raw).map_err(|_| RefreshError::Invalid)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let read = self.repo.refresh_family(presented.family()).await?;
            let Some(family) = read.value else {
                return Err(RefreshError::Invalid);
            };
            if !family.revoked
                && !self
                    .repo
                    .replace_refresh_family(presented.family(), read.version, &family.revoke())
                    .await?
            {
                continue;
            }
            // An older token of the family was revoked with it above (it
            // was copied); only the latest may end the caller's sessions.
            if !family.is_latest(&presented) {
                return Err(RefreshError::Invalid);
            }
            if everywhere {
                self.cut_off(&family.caller).await?;
            }
            info!(caller = %family.caller.key(), everywhere, "signed out");
            return Ok(());
        }
        Err(kept_changing().into())
    }

    /// Ends every session of `caller` begun until now: their refresh tokens
    /// stop working (their access tokens live out their few minutes). For
    /// sign-out everywhere, and for operators: removing a number from a
    /// store, suspending a store.
    pub async fn end_sessions(&self, caller: &Caller) -> Result<(), Unavailable> {
        self.cut_off(caller).await
    }

    /// Whether `caller` may still sign in and refresh: the one place that
    /// decides it, at sign-in and at every refresh. A store's staff may
    /// only while the store is active: a suspended store's refresh is
    /// refused (and its token family revoked), so its sessions end within
    /// one access token's lifetime. Customers and operators always may.
    async fn may_still_sign_in(&self, caller: &Caller) -> Result<bool, Unavailable> {
        match caller {
            Caller::Customer(_) | Caller::Operator(_) => Ok(true),
            Caller::Store(id) => Ok(self.repo.get_store(id).await?.is_some_and(|store| store.is_active())),
        }
    }

    /// Checks the code typed for `phone`, counting the attempt against the
    /// source address, and uses it up if right.
    async fn verify(&self, phone: &PhoneNumber, code: &str, address: &str) -> Result<(), SignInError> {
        let limits = SignInLimits::default();
        self.count(
            &format!("CHECK#ADDRESS#{address}"),
            limits.checks_per_address,
            |retry_after_ms| LimitReached::SignInChecks { retry_after_ms },
        )
        .await?;
        // A malformed code is refused like a wrong one (it guesses nothing,
        // so the code keeps its attempts).
        let typed = OneTimeCode::parse(code).map_err(|_| SignInError::CodeInvalid)?;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let record = self.repo.code_record(phone).await?;
            let (next, result) = record.value.check(self.hasher, phone, &typed, self.now);
            if next == record.value {
                return result.map_err(|CodeRefused| SignInError::CodeInvalid);
            }
            let forget = next.forget_after_ms(self.now, limits);
            if self
                .repo
                .replace_code_record(phone, record.version, &next, forget)
                .await?
            {
                return result.map_err(|CodeRefused| SignInError::CodeInvalid);
            }
        }
        Err(kept_changing().into())
    }

    /// The number's customer, made on its first customer sign-in.
    async fn customer_of(&self, phone: &PhoneNumber) -> Result<CustomerId, SignInError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let account = self.repo.account(phone).await?;
            if let Some(customer) = account.value.customer {
                return Ok(customer);
            }
            let customer = CustomerId::new_account();
            let next = Account {
                customer: Some(customer.clone()),
                ..account.value
            };
            if self.repo.replace_account(phone, account.version, &next).await? {
                self.repo.set_phone(&customer, phone).await?;
                info!(customer = %customer, "new customer signed in");
                return Ok(customer);
            }
        }
        Err(kept_changing().into())
    }

    async fn start_session(&self, caller: Caller, role: Option<Role>) -> Result<Session, SignInError> {
        let access_token = self.access_token(&caller)?;
        let token = RefreshToken::new_family()?;
        let family = RefreshFamily::start(&token, caller.clone(), role, self.now);
        if !self.repo.replace_refresh_family(token.family(), 0, &family).await? {
            // 128 random bits collided: never expected.
            return Err(kept_changing().into());
        }
        Ok(Session {
            caller,
            access_token,
            expires_in: TOKEN_LIFETIME_S,
            refresh_token: token.expose(),
        })
    }

    fn access_token(&self, caller: &Caller) -> Result<String, SignInError> {
        self.issuer
            .ok_or(SignInError::NoIssuer)?
            .issue(caller, self.now)
            .map_err(|e| SignInError::Signing(e.to_string()))
    }

    async fn write_family(&self, id: &str, version: u64, family: &RefreshFamily) -> Result<(), Unavailable> {
        // Losing this race is fine: whoever won read the same family.
        self.repo.replace_refresh_family(id, version, family).await?;
        Ok(())
    }

    /// Every session of `caller` begun until now is over.
    async fn cut_off(&self, caller: &Caller) -> Result<(), Unavailable> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let read = self.repo.session_cutoff(caller).await?;
            let next = SessionCutoff {
                before_ms: read.value.before_ms.max(self.now + 1),
            };
            if self.repo.replace_session_cutoff(caller, read.version, &next).await? {
                return Ok(());
            }
        }
        Err(kept_changing().into())
    }

    /// Counts one event under `key`, or refuses when `rate` is spent.
    async fn count(&self, key: &str, rate: Rate, limited: fn(Millis) -> LimitReached) -> Result<(), SignInError> {
        count_in_window(self.repo, &format!("SIGNIN#{key}"), rate, self.now)
            .await?
            .map_err(|retry_after_ms| SignInError::Limited(limited(retry_after_ms)))
    }
}
