//! The campaign's progress bar on stderr: seeds done, seeds/s, failures so far, time left.
//! Drawn only where someone watches (stderr a terminal, no `--json`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn new(total: u64, enabled: bool) -> Bar {
        Bar::with_unit(total, enabled, "seeds")
    }

    /// A bar counting `unit` (seeds, trials).
    pub fn with_unit(total: u64, enabled: bool, unit: &str) -> Bar {
        if !enabled {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{per_sec}}  {{msg}}  ETA {{eta}}"
        ))
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message("0 failures");
        Bar(Some(bar))
    }

    pub fn tick(&self, failures: usize) {
        if let Some(b) = &self.0 {
            b.inc(1);
            b.set_message(match failures {
                1 => "1 failure".to_string(),
                n => format!("{n} failures"),
            });
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
