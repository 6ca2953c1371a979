//! Transitional names for `tests/cli.rs`, which still imports the sandbox from here.
//!
//! The sandbox is [`testkit::Sandbox`] (both fakes, the demo config, the demo secrets); this
//! module only keeps the options shape that file builds (`looker: Some(..)`). Everything else
//! uses `testkit::{Sandbox, SandboxOptions}` directly; once `tests/cli.rs` does too, this
//! module goes.

use testkit::acumatica::AcumaticaOptions;
use testkit::looker::LookerConfig;

pub use testkit::Sandbox;

/// The sandbox settings `tests/cli.rs` gives, converted into [`testkit::SandboxOptions`]
/// (free ports on 127.0.0.1 unless the Acumatica options say otherwise).
///
/// ```no_run
/// # async fn demo() -> Result<(), testkit::sandbox::SandboxError> {
/// use connector_examples::sandbox::{Sandbox, SandboxOptions};
///
/// let sandbox = Sandbox::start(SandboxOptions::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Settings of the Looker fake (`None`: demo credentials, clean data).
    pub looker: Option<LookerConfig>,
    /// Settings of the Acumatica fake (`None`: the demo site).
    pub acumatica: Option<AcumaticaOptions>,
}

impl From<SandboxOptions> for testkit::SandboxOptions {
    fn from(options: SandboxOptions) -> Self {
        testkit::SandboxOptions {
            acumatica: options.acumatica.unwrap_or_default(),
            looker: options.looker.unwrap_or_default(),
            looker_addr: None,
        }
    }
}
